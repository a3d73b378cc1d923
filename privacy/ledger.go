package privacy

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/google/differential-privacy/go/v3/noise"

	"sluice"
)

// Accounting modes of a budget scope, fixed when the scope is created.
const (
	// Pure composes (ε, δ) by addition: best for a few releases.
	Pure = "pure"
	// ZCDP composes zero-concentrated DP: ρ adds up (a Laplace ε-release
	// costs ε²/2, a Gaussian one Δ²/2σ²) and is converted to (ε, δ) with
	// the tighter of Bun–Steinke 2016 and Canonne–Kamath–Steinke 2020:
	// more answers for the same (ε, δ) once a scope holds many releases.
	ZCDP = "zcdp"
)

// Fixed-point units of the ledger: costs are rounded up, limits down, and
// nothing is accumulated in floating point.
const (
	EpsilonUnit = 1e-9  // ε and ρ in nano-units
	DeltaUnit   = 1e-18 // δ in atto-units
)

// Ledger buckets in the control-plane store.
const (
	bucketScopes   = "ledger.scopes"
	bucketBalances = "ledger.balances"
	bucketEvents   = "ledger.events"
	bucketOpen     = "ledger.reservations"
)

// Scope is one budget the ledger enforces: an authorization, an
// organisation, a dataset across all authorizations, or a population (the
// people or firms behind a privacy unit, shared by every dataset keyed by
// it).
type Scope struct {
	Key     string  `json:"key"` // authorization/…, organisation/…, dataset/…, population/…
	Mode    string  `json:"mode"`
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// Cost is what one release costs, derived from its charges (never from
// the data), in fixed-point units rounded up.
type Cost struct {
	Epsilon int64 `json:"epsilon_n"` // Σε (pure composition)
	Delta   int64 `json:"delta_a"`   // Σδ
	Rho     int64 `json:"rho_n"`     // Σρ (zCDP composition)
}

// CostOf converts a release's charges to a cost.
func CostOf(charges []sluice.Charge) (Cost, error) {
	var c Cost
	var rho float64
	for _, ch := range charges {
		if math.IsNaN(ch.Epsilon) || ch.Epsilon < 0 || math.IsNaN(ch.Delta) || ch.Delta < 0 {
			return Cost{}, fmt.Errorf("charge %q: bad ε %g or δ %g", ch.What, ch.Epsilon, ch.Delta)
		}
		c.Epsilon += up(ch.Epsilon / EpsilonUnit)
		c.Delta += up(ch.Delta / DeltaUnit)
		switch ch.Mechanism {
		case sluice.NoiseGaussian:
			// ρ = Δ₂²/(2σ²) with Δ₂² = L0·L∞² and the σ the library uses,
			// computed with the whole charge δ (a smaller σ: conservative).
			sigma := noise.SigmaForGaussian(ch.L0, ch.Linf, ch.Epsilon, ch.Delta)
			if !(sigma > 0) {
				return Cost{}, fmt.Errorf("charge %q: no Gaussian σ for ε %g δ %g", ch.What, ch.Epsilon, ch.Delta)
			}
			rho += float64(ch.L0) * ch.Linf * ch.Linf / (2 * sigma * sigma)
			c.Delta += up(math.Exp2(-40) / DeltaUnit) // the sampler's slack
		default:
			rho += ch.Epsilon * ch.Epsilon / 2 // ε-DP ⇒ (ε²/2)-zCDP
		}
	}
	c.Rho = up(rho / EpsilonUnit)
	return c, nil
}

// up rounds a cost up to whole units, and down a limit down. A value within
// 1e-6 units of an integer is that integer: 0.05 ε is 5·10⁷ nano-ε, though
// its float64 is not exactly that.
func up(x float64) int64 {
	if r := math.Round(x); math.Abs(x-r) < 1e-6 {
		return int64(r)
	}
	return int64(math.Ceil(x))
}

func down(x float64) int64 {
	if r := math.Round(x); math.Abs(x-r) < 1e-6 {
		return int64(r)
	}
	return int64(math.Floor(x))
}

// Balance is a scope's spend, in fixed-point units.
type Balance struct {
	Committed Cost `json:"committed"`
	Reserved  Cost `json:"reserved"`
}

// Remaining is a scope's budget in the user's terms.
type Remaining struct {
	Scope     Scope   `json:"scope"`
	Spent     float64 `json:"epsilon_spent"` // ε spent, as (ε, δ)-DP under the scope's mode (reserved included)
	Left      float64 `json:"epsilon_left"`
	DeltaUsed float64 `json:"delta_spent"`
	Releases  int64   `json:"releases,omitempty"`
}

// EpsilonForRho converts ρ-zCDP to (ε, δ)-DP: the smaller of
// ρ + 2√(ρ ln 1/δ) (Bun–Steinke 2016) and the Canonne–Kamath–Steinke 2020
// bound minimised over the Rényi order α.
func EpsilonForRho(rho, delta float64) float64 {
	if rho <= 0 {
		return 0
	}
	if !(delta > 0) || delta >= 1 {
		return math.Inf(1)
	}
	best := rho + 2*math.Sqrt(rho*math.Log(1/delta))
	cks := func(a float64) float64 {
		return a*rho - (math.Log(delta*(a-1))-a*math.Log(1-1/a))/(a-1)
	}
	// The CKS bound is unimodal in log α; golden-section search.
	lo, hi := math.Log(1+1e-6), math.Log(1e6)
	g := (math.Sqrt(5) - 1) / 2
	for i := 0; i < 200; i++ {
		m1, m2 := hi-g*(hi-lo), lo+g*(hi-lo)
		if cks(math.Exp(m1)) < cks(math.Exp(m2)) {
			hi = m2
		} else {
			lo = m1
		}
	}
	if e := cks(math.Exp((lo + hi) / 2)); e > 0 && e < best {
		best = e
	}
	return best
}

// spent is the ε a balance represents in a scope's mode, and whether a
// further cost fits.
func (s Scope) spent(total Cost) (eps float64, ok bool) {
	limitE := down(s.Epsilon / EpsilonUnit)
	limitD := down(s.Delta / DeltaUnit)
	if total.Delta > limitD {
		return math.Inf(1), false
	}
	if s.Mode == ZCDP {
		left := float64(limitD-total.Delta) * DeltaUnit
		if left <= 0 {
			// No δ left to convert ρ with: only ρ = 0 fits.
			return 0, total.Rho == 0
		}
		eps = EpsilonForRho(float64(total.Rho)*EpsilonUnit, left)
		return eps, up(eps/EpsilonUnit) <= limitE
	}
	return float64(total.Epsilon) * EpsilonUnit, total.Epsilon <= limitE
}

func add(a, b Cost) Cost {
	return Cost{a.Epsilon + b.Epsilon, a.Delta + b.Delta, a.Rho + b.Rho}
}

func sub(a, b Cost) Cost {
	return Cost{a.Epsilon - b.Epsilon, a.Delta - b.Delta, a.Rho - b.Rho}
}

// Reservation is budget held for one query until it is committed or
// given back.
type Reservation struct {
	QueryID string `json:"query_id"`
	// Datasets are the dataset versions (id@version) the query read.
	Datasets []string        `json:"datasets,omitempty"`
	Scopes   []string        `json:"scopes"`
	Cost     Cost            `json:"cost"`
	Charges  []sluice.Charge `json:"charges,omitempty"`
	At       time.Time       `json:"at"`
	State    string          `json:"state"` // reserved, committed, released
}

// ledgerEvent is one line of the append-only ledger record.
type ledgerEvent struct {
	Reservation
	Seq uint64 `json:"seq"`
}

func budgetError(scope Scope, spent float64, cost Cost) error {
	return &sluice.Error{Code: sluice.EBUDGET, Step: sluice.StepBudget, Rule: "budget.exhausted",
		Message: fmt.Sprintf("budget: %s would be overspent (ε limit %g, spent %.4g in %s accounting; this query costs ε %.4g)",
			scope.Key, scope.Epsilon, spent, scope.Mode, float64(cost.Epsilon)*EpsilonUnit)}
}

// scope loads a scope's stored definition, creating it on first use: the
// mode and limits are fixed then.
func scope(tx sluice.Tx, s Scope) (Scope, error) {
	b, err := tx.Get(bucketScopes, s.Key)
	if err != nil {
		return Scope{}, err
	}
	if b != nil {
		var stored Scope
		if err := json.Unmarshal(b, &stored); err != nil {
			return Scope{}, fmt.Errorf("scope %s: %w", s.Key, err)
		}
		return stored, nil
	}
	if s.Mode != Pure && s.Mode != ZCDP {
		return Scope{}, fmt.Errorf("scope %s: unknown accounting mode %q", s.Key, s.Mode)
	}
	if !(s.Epsilon > 0) || math.IsInf(s.Epsilon, 0) || s.Delta < 0 || s.Delta >= 1 || math.IsNaN(s.Delta) {
		return Scope{}, fmt.Errorf("scope %s: bad limits ε %g δ %g", s.Key, s.Epsilon, s.Delta)
	}
	b, _ = json.Marshal(s)
	return s, tx.Put(bucketScopes, s.Key, b)
}

func balance(tx sluice.Tx, key string) (Balance, error) {
	var bal Balance
	b, err := tx.Get(bucketBalances, key)
	if err != nil || b == nil {
		return bal, err
	}
	return bal, json.Unmarshal(b, &bal)
}

func putBalance(tx sluice.Tx, key string, bal Balance) error {
	b, _ := json.Marshal(bal)
	return tx.Put(bucketBalances, key, b)
}

func appendEvent(tx sluice.Tx, r Reservation) error {
	var seq uint64
	if b, err := tx.Get(bucketEvents, "seq"); err != nil {
		return err
	} else if b != nil {
		json.Unmarshal(b, &seq)
	}
	seq++
	b, _ := json.Marshal(ledgerEvent{Reservation: r, Seq: seq})
	if err := tx.Put(bucketEvents, fmt.Sprintf("e%020d", seq), b); err != nil {
		return err
	}
	s, _ := json.Marshal(seq)
	return tx.Put(bucketEvents, "seq", s)
}

// Reserve checks that cost fits every scope and holds it, in the caller's
// transaction: all scopes are charged or none is. A query id can be
// reserved once.
func Reserve(tx sluice.Tx, queryID string, datasets []string, scopes []Scope, charges []sluice.Charge, now time.Time) (*Reservation, error) {
	cost, err := CostOf(charges)
	if err != nil {
		return nil, err
	}
	if old, err := tx.Get(bucketOpen, queryID); err != nil {
		return nil, err
	} else if old != nil {
		return nil, &sluice.Error{Code: sluice.ECONFLICT, Step: sluice.StepBudget, Rule: "budget.duplicate", Message: "query " + queryID + " was already charged"}
	}
	keys := make([]string, 0, len(scopes))
	for _, s := range scopes {
		st, err := scope(tx, s)
		if err != nil {
			return nil, err
		}
		bal, err := balance(tx, st.Key)
		if err != nil {
			return nil, err
		}
		total := add(add(bal.Committed, bal.Reserved), cost)
		if _, ok := st.spent(total); !ok {
			spent, _ := st.spent(add(bal.Committed, bal.Reserved))
			return nil, budgetError(st, spent, cost)
		}
		bal.Reserved = add(bal.Reserved, cost)
		if err := putBalance(tx, st.Key, bal); err != nil {
			return nil, err
		}
		keys = append(keys, st.Key)
	}
	sort.Strings(keys)
	r := &Reservation{QueryID: queryID, Datasets: datasets, Scopes: keys, Cost: cost, Charges: charges, At: now.UTC(), State: "reserved"}
	b, _ := json.Marshal(r)
	if err := tx.Put(bucketOpen, queryID, b); err != nil {
		return nil, err
	}
	return r, appendEvent(tx, *r)
}

// settle moves a reservation to committed (charged) or released (given
// back), in the caller's transaction.
func settle(tx sluice.Tx, queryID, state string, now time.Time) error {
	b, err := tx.Get(bucketOpen, queryID)
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("no reservation for query %s", queryID)
	}
	var r Reservation
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.State != "reserved" {
		return fmt.Errorf("reservation %s is already %s", queryID, r.State)
	}
	for _, k := range r.Scopes {
		bal, err := balance(tx, k)
		if err != nil {
			return err
		}
		bal.Reserved = sub(bal.Reserved, r.Cost)
		if state == "committed" {
			bal.Committed = add(bal.Committed, r.Cost)
		}
		if err := putBalance(tx, k, bal); err != nil {
			return err
		}
	}
	r.State, r.At = state, now.UTC()
	b, _ = json.Marshal(r)
	if err := tx.Put(bucketOpen, queryID, b); err != nil {
		return err
	}
	return appendEvent(tx, r)
}

// Commit charges a reservation for good.
func Commit(tx sluice.Tx, queryID string, now time.Time) error {
	return settle(tx, queryID, "committed", now)
}

// GiveBack returns a reservation's budget. Only for queries that failed
// before touching data: a failure after that is charged.
func GiveBack(tx sluice.Tx, queryID string, now time.Time) error {
	return settle(tx, queryID, "released", now)
}

// Recover commits every open reservation: after a crash, a query that may
// have run counts as spent. It returns how many it committed.
func Recover(tx sluice.Tx, now time.Time) (int, error) {
	var open []string
	err := tx.Scan(bucketOpen, "", func(k string, v []byte) bool {
		var r Reservation
		if json.Unmarshal(v, &r) == nil && r.State == "reserved" {
			open = append(open, k)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, id := range open {
		if err := Commit(tx, id, now); err != nil {
			return 0, err
		}
	}
	return len(open), nil
}

// RemainingIn reports a scope's budget in the user's terms.
func RemainingIn(tx sluice.Tx, s Scope) (Remaining, error) {
	st, err := scope(tx, s)
	if err != nil {
		return Remaining{}, err
	}
	bal, err := balance(tx, st.Key)
	if err != nil {
		return Remaining{}, err
	}
	total := add(bal.Committed, bal.Reserved)
	spent, _ := st.spent(total)
	left := math.Max(0, st.Epsilon-spent)
	return Remaining{Scope: st, Spent: spent, Left: left, DeltaUsed: float64(total.Delta) * DeltaUnit}, nil
}

// Replay re-adds the append-only ledger record and returns each scope's
// committed and reserved cost, so the balances can be checked against it.
func Replay(tx sluice.Tx) (map[string]Balance, error) {
	state := map[string]Reservation{}
	err := tx.Scan(bucketEvents, "e", func(k string, v []byte) bool {
		var e ledgerEvent
		if json.Unmarshal(v, &e) == nil {
			state[e.QueryID] = e.Reservation
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := map[string]Balance{}
	for _, r := range state {
		for _, k := range r.Scopes {
			b := out[k]
			switch r.State {
			case "committed":
				b.Committed = add(b.Committed, r.Cost)
			case "reserved":
				b.Reserved = add(b.Reserved, r.Cost)
			}
			out[k] = b
		}
	}
	return out, nil
}

// Balances returns the stored balance of every scope with the prefix.
func Balances(tx sluice.Tx, prefix string) (map[string]Balance, error) {
	out := map[string]Balance{}
	err := tx.Scan(bucketBalances, prefix, func(k string, v []byte) bool {
		var b Balance
		if json.Unmarshal(v, &b) == nil {
			out[k] = b
		}
		return true
	})
	return out, err
}

// ScopeKey builds a scope key.
func ScopeKey(kind, id string) string { return kind + "/" + strings.ToLower(id) }
