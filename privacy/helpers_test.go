package privacy

import (
	"fmt"
	"math"
	"testing"

	"sluice"
)

// Statistical tests in this package run the real library with crypto-secure
// noise and no seeds. Each is sized so that a correct implementation fails
// with probability below 1e-6; the computation is in a comment next to it.
// z-values used: a two-sided normal tail of 1e-6 needs z = 4.89, a one-sided
// tail z = 4.75.

// Aggregates used by tests.
var (
	aggCount      = sluice.Aggregate{Name: "n", Func: sluice.AggCount, Original: "count"}
	aggCountUnits = sluice.Aggregate{Name: "units", Func: sluice.AggCountUnits, Arg: "DISTINCT unit", Original: "count"}
)

// aggSum returns a sum over [lo, hi] at scale.
func aggSum(lo, hi float64, scale int) sluice.Aggregate {
	return sluice.Aggregate{Name: "total", Func: sluice.AggSum, Arg: "x", Lower: lo, Upper: hi, Scale: scale, Original: "sum"}
}

// aggOf returns an aggregate f over [lo, hi] at scale 0.
func aggOf(f sluice.AggFunc, lo, hi float64) sluice.Aggregate {
	return sluice.Aggregate{Name: string(f), Func: f, Arg: "x", Lower: lo, Upper: hi, Original: string(f)}
}

// outputs lists the plan's keys then its aggregates.
func outputs(nkeys int, aggs []sluice.Aggregate) []sluice.Output {
	var out []sluice.Output
	for i := range nkeys {
		out = append(out, sluice.Output{Name: fmt.Sprintf("k%d", i), Group: i, Agg: -1})
	}
	for i, a := range aggs {
		out = append(out, sluice.Output{Name: a.Name, Group: -1, Agg: i})
	}
	return out
}

// derivedPlan groups by one data-derived key.
func derivedPlan(aggs ...sluice.Aggregate) *sluice.Plan {
	return &sluice.Plan{
		Groups:     []sluice.GroupKey{{Name: "k0", SQL: "k"}},
		Aggregates: aggs,
		Outputs:    outputs(1, aggs),
	}
}

// publicPlan groups by one key whose public domain is k0 … k(n−1).
func publicPlan(n int, aggs ...sluice.Aggregate) *sluice.Plan {
	dom := make([]string, n)
	for i := range dom {
		dom[i] = fmt.Sprintf("k%d", i)
	}
	return &sluice.Plan{
		Groups:       []sluice.GroupKey{{Name: "k0", SQL: "k", Domain: dom}},
		Aggregates:   aggs,
		Outputs:      outputs(1, aggs),
		PublicGroups: true,
	}
}

// obl returns obligations without a minimum and with a high group cap.
func obl(kind string, eps, delta float64, l0, linf int64) sluice.Obligations {
	return sluice.Obligations{Epsilon: eps, Delta: delta, L0: l0, Linf: linf, Noise: kind, MaxGroups: 1 << 30}
}

// publicGroupsOf returns n public groups k0 … k(n−1), each with the given
// units and partials.
func publicGroupsOf(n int, units int64, p ...Partial) []Group {
	gs := make([]Group, n)
	for i := range gs {
		gs[i] = Group{Keys: []any{fmt.Sprintf("k%d", i)}, Units: units, Aggs: append([]Partial(nil), p...)}
	}
	return gs
}

// mustRelease releases or fails the test.
func mustRelease(t testing.TB, plan *sluice.Plan, ob sluice.Obligations, groups []Group) *sluice.Release {
	t.Helper()
	rel, err := Release(plan, ob, groups)
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	return rel
}

// binomialTol is the half-width of a 1e-6 (two-sided) acceptance band for a
// proportion p estimated from n trials, by the normal approximation, which
// is accurate here because n·min(p, 1−p) ≥ 1000 in every use.
func binomialTol(p float64, n int) float64 {
	return 4.89 * math.Sqrt(p*(1-p)/float64(n))
}

// num returns a released number.
func num(t testing.TB, v sluice.Value) float64 {
	t.Helper()
	if v.Number == nil {
		t.Fatalf("value %+v has no number", v)
	}
	return *v.Number
}
