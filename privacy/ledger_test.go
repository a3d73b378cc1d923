package privacy

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sluice"
	"sluice/storage/bolt"
)

func openStore(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func laplace(eps ...float64) []sluice.Charge {
	var out []sluice.Charge
	for _, e := range eps {
		out = append(out, sluice.Charge{What: "x", Mechanism: sluice.NoiseLaplace, Epsilon: e, L0: 1, Linf: 1})
	}
	return out
}

// The conversion matches the figures of the research notes (dp.md §2.1):
// 100 Laplace releases of ε0 = 0.1 at δ = 1e-6 give ρ = 0.5, i.e. ε ≈ 5.76
// by Bun–Steinke and ≈ 5.22 by Canonne–Kamath–Steinke.
func TestEpsilonForRho(t *testing.T) {
	got := EpsilonForRho(0.5, 1e-6)
	bs := 0.5 + 2*math.Sqrt(0.5*math.Log(1e6))
	if got > bs || math.Abs(got-5.22) > 0.02 {
		t.Errorf("ε(ρ=0.5, δ=1e-6) = %.4f, want ≈ 5.22 (≤ %.4f)", got, bs)
	}
	if EpsilonForRho(0, 1e-6) != 0 || !math.IsInf(EpsilonForRho(1, 0), 1) {
		t.Error("edge cases")
	}
	// Monotone in ρ.
	prev := 0.0
	for rho := 0.01; rho < 10; rho *= 1.5 {
		e := EpsilonForRho(rho, 1e-6)
		if e <= prev {
			t.Fatalf("not monotone at ρ=%g", rho)
		}
		prev = e
	}
}

// Many concurrent reservations against a budget that allows exactly k:
// exactly k succeed and the ledger's record re-adds to the balances.
func TestReserveConcurrentNeverOverspends(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	scope := Scope{Key: "authorization/a1", Mode: Pure, Epsilon: 1, Delta: 1e-6}
	pop := Scope{Key: "population/enterprise", Mode: Pure, Epsilon: 100, Delta: 1e-5}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("q%03d", i)
			err := store.Update(ctx, func(tx sluice.Tx) error {
				_, err := Reserve(tx, id, nil, []Scope{scope, pop}, laplace(0.05, 0.05), time.Now())
				return err
			})
			if sluice.ErrorCode(err) == sluice.EBUDGET {
				refused.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if err := store.Update(ctx, func(tx sluice.Tx) error { return Commit(tx, id, time.Now()) }); err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
		}(i)
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 190 {
		t.Errorf("%d committed, %d refused; want 10 and 190", ok.Load(), refused.Load())
	}
	store.View(ctx, func(tx sluice.Tx) error {
		r, err := RemainingIn(tx, scope)
		if err != nil || math.Abs(r.Spent-1) > 1e-9 || r.Left != 0 {
			t.Errorf("remaining %+v %v", r, err)
		}
		replay, err := Replay(tx)
		if err != nil {
			t.Fatal(err)
		}
		bals, _ := Balances(tx, "")
		for k, b := range bals {
			if replay[k] != b {
				t.Errorf("scope %s: balance %+v, replay %+v", k, b, replay[k])
			}
		}
		return nil
	})
}

func TestGiveBackAndRecover(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	scope := Scope{Key: "authorization/a1", Mode: Pure, Epsilon: 1}
	reserve := func(id string) error {
		return store.Update(ctx, func(tx sluice.Tx) error {
			_, err := Reserve(tx, id, nil, []Scope{scope}, laplace(0.4), time.Now())
			return err
		})
	}
	if err := reserve("q1"); err != nil {
		t.Fatal(err)
	}
	if err := reserve("q2"); err != nil {
		t.Fatal(err)
	}
	if err := reserve("q3"); sluice.ErrorCode(err) != sluice.EBUDGET {
		t.Fatalf("third reservation: %v", err)
	}
	// q1 failed before touching data: given back; q3 now fits.
	if err := store.Update(ctx, func(tx sluice.Tx) error { return GiveBack(tx, "q1", time.Now()) }); err != nil {
		t.Fatal(err)
	}
	if err := reserve("q3"); err != nil {
		t.Fatal(err)
	}
	// A query id is charged once.
	if err := reserve("q2"); sluice.ErrorCode(err) != sluice.ECONFLICT {
		t.Errorf("duplicate query id: %v", err)
	}
	// Crash: q2 and q3 are still reserved; recovery commits them.
	var n int
	store.Update(ctx, func(tx sluice.Tx) error {
		var err error
		n, err = Recover(tx, time.Now())
		return err
	})
	if n != 2 {
		t.Errorf("recovered %d, want 2", n)
	}
	store.View(ctx, func(tx sluice.Tx) error {
		bals, _ := Balances(tx, "authorization/")
		b := bals["authorization/a1"]
		if b.Reserved != (Cost{}) || b.Committed.Epsilon != up(0.8/EpsilonUnit) {
			t.Errorf("after recovery: %+v", b)
		}
		return nil
	})
}

// Gaussian charges cost ρ = L0·L∞²/(2σ²) with the library's σ.
func TestCostOfGaussian(t *testing.T) {
	c, err := CostOf([]sluice.Charge{{What: "count", Mechanism: sluice.NoiseGaussian, Epsilon: 0.5, Delta: 1e-6, L0: 2, Linf: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rho <= 0 || c.Delta < up(1e-6/DeltaUnit) {
		t.Errorf("cost %+v", c)
	}
	if _, err := CostOf([]sluice.Charge{{Epsilon: math.NaN()}}); err == nil {
		t.Error("NaN ε accepted")
	}
}

// Workload: how many queries of a typical shape (three Laplace mechanisms
// of ε 0.05 each, data-derived keys with δ 1e-8) fit in the same
// authorization budget (ε 5, δ 1e-6) under each accounting mode.
func TestZCDPFitsMoreQueries(t *testing.T) {
	fit := func(mode string) int {
		store := openStore(t)
		scope := Scope{Key: "authorization/w", Mode: mode, Epsilon: 5, Delta: 1e-6}
		charges := laplace(0.05, 0.05, 0.05)
		charges[0].Delta = 1e-8
		n := 0
		for ; n < 100000; n++ {
			err := store.Update(context.Background(), func(tx sluice.Tx) error {
				_, err := Reserve(tx, fmt.Sprint(n), nil, []Scope{scope}, charges, time.Now())
				return err
			})
			if err != nil {
				break
			}
		}
		return n
	}
	pure, zcdp := fit(Pure), fit(ZCDP)
	t.Logf("queries of ε 0.15 that fit in (ε 5, δ 1e-6): pure %d, zCDP %d", pure, zcdp)
	if pure != 33 || zcdp <= pure {
		t.Errorf("pure %d (want 33), zCDP %d (want more)", pure, zcdp)
	}
}
