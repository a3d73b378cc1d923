package privacy

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sluice"
)

func TestNoMathRand(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if strings.Contains(string(src), "math/rand") {
			t.Errorf("%s mentions math/rand: all noise must come from the DP library", f)
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

func TestColumnsRowsAndNotes(t *testing.T) {
	plan := derivedPlan(aggCount, aggSum(0, 10, 1))
	// Outputs in a different order from the plan: sum, key, count.
	plan.Outputs = []sluice.Output{{Name: "total", Group: -1, Agg: 1}, {Name: "k", Group: 0, Agg: -1}, {Name: "n", Group: -1, Agg: 0}}
	ob := obl(sluice.NoiseLaplace, 2, 1e-6, 1, 1)
	groups := []Group{
		{Keys: []any{"b"}, Units: 5000, Aggs: []Partial{{Count: 5000}, {Sum: 250000}}},
		{Keys: []any{"a"}, Units: 5000, Aggs: []Partial{{Count: 5000}, {Sum: 250000}}},
	}
	rel := mustRelease(t, plan, ob, groups)
	want := []sluice.ReleaseColumn{{Name: "total", Kind: "aggregate", Func: sluice.AggSum}, {Name: "k", Kind: "group"}, {Name: "n", Kind: "aggregate", Func: sluice.AggCount}}
	if fmt.Sprint(rel.Columns) != fmt.Sprint(want) {
		t.Errorf("columns %+v", rel.Columns)
	}
	if len(rel.Rows) != 2 || rel.Rows[0][1].Key != "a" || rel.Rows[1][1].Key != "b" {
		t.Fatalf("rows %+v", rel.Rows)
	}
	for _, row := range rel.Rows {
		// Sum of 250000 tenths = 25000, noise scale 100/(2/3) = 150 tenths.
		if s := num(t, row[0]); math.Abs(s-25000) > 1000 || row[0].CI == nil || row[0].CI.Lower > s || row[0].CI.Upper < s {
			t.Errorf("sum %v CI %+v", s, row[0].CI)
		}
		if n := num(t, row[2]); math.Abs(n-5000) > 100 || n != math.Trunc(n) {
			t.Errorf("count %v", n)
		}
	}
	if len(rel.Suppressed) != 1 || rel.Suppressed[0].Rule != "release.partition_selection" ||
		rel.Suppressed[0].Keys != nil || rel.Suppressed[0].Count != 0 || !strings.Contains(rel.Suppressed[0].Reason, "τ = ") {
		t.Errorf("suppressed %+v", rel.Suppressed)
	}
	if len(rel.Notes) == 0 {
		t.Error("no notes")
	}
}

func TestPartitionSelectionRecordedWithoutGroups(t *testing.T) {
	// Data-derived keys: the suppression is recorded even when nothing was
	// withheld, so its presence says nothing about the data.
	rel := mustRelease(t, derivedPlan(aggCount), obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1), nil)
	if len(rel.Rows) != 0 || len(rel.Suppressed) != 1 || rel.Suppressed[0].Rule != "release.partition_selection" {
		t.Errorf("release %+v", rel)
	}
}

func TestPublicGroupWithoutData(t *testing.T) {
	aggs := []sluice.Aggregate{aggCount, aggCountUnits, aggSum(0, 100, 0), aggOf(sluice.AggAvg, 0, 100), aggOf(sluice.AggVar, 0, 100)}
	plan := publicPlan(3, aggs...)
	data := []Partial{{Count: 5000}, {}, {Sum: 250000}, {Count: 5000, Sum: 0}, {Count: 5000, Sum: 0, SumSq: 5000 * 400}}
	// Only k0 is in the data; k1 and k2 come with zero partials. A key outside
	// the domain is dropped.
	groups := []Group{
		{Keys: []any{"k2"}, Aggs: make([]Partial, len(aggs))},
		{Keys: []any{"k0"}, Units: 5000, Aggs: data},
		{Keys: []any{"k1"}, Aggs: make([]Partial, len(aggs))},
		{Keys: []any{"secret"}, Units: 5000, Aggs: data},
	}
	// Without a minimum every domain value has a row, in domain order.
	ob := obl(sluice.NoiseLaplace, 1, 0, 1, 1)
	rel := mustRelease(t, plan, ob, groups)
	if len(rel.Rows) != 3 || len(rel.Suppressed) != 0 {
		t.Fatalf("rows %d suppressed %+v", len(rel.Rows), rel.Suppressed)
	}
	for i, row := range rel.Rows {
		if row[0].Key != fmt.Sprintf("k%d", i) {
			t.Errorf("row %d key %v", i, row[0].Key)
		}
		for j := 1; j < len(row); j++ {
			if row[j].Number == nil || row[j].CI == nil {
				t.Errorf("row %d col %d has no number or interval", i, j)
			}
		}
		if avg := num(t, row[4]); avg < 0 || avg > 100 {
			t.Errorf("avg %v out of bounds", avg)
		}
	}
	if rel.Delta != 0 {
		t.Errorf("Laplace with public groups charged δ %v", rel.Delta)
	}
	// With a minimum of 1000 units, empty domain values are suppressed and
	// named. The units noise has scale λ = 1/(ε/8) = 8 (8 shares), so an
	// empty group passes with probability ½e^{−1000/8} ≈ 1e-55 and k0 (5000
	// units) fails with ½e^{−4000/8}.
	ob.MinUnits = 1000
	rel = mustRelease(t, plan, ob, groups)
	if len(rel.Rows) != 1 || rel.Rows[0][0].Key != "k0" {
		t.Fatalf("rows %+v", rel.Rows)
	}
	if len(rel.Suppressed) != 1 || rel.Suppressed[0].Rule != "release.min_units" ||
		fmt.Sprint(rel.Suppressed[0].Keys) != "[[k1] [k2]]" || rel.Suppressed[0].Count != 2 {
		t.Errorf("suppressed %+v", rel.Suppressed)
	}
}

func TestGlobalAggregateWithoutGroups(t *testing.T) {
	aggs := []sluice.Aggregate{aggCount, aggOf(sluice.AggAvg, 0, 10)}
	plan := &sluice.Plan{Aggregates: aggs, Outputs: outputs(0, aggs)}
	rel := mustRelease(t, plan, obl(sluice.NoiseLaplace, 1, 0, 1, 1), nil)
	if len(rel.Rows) != 1 || len(rel.Rows[0]) != 2 || len(rel.Suppressed) != 0 {
		t.Fatalf("release %+v", rel)
	}
	if a := num(t, rel.Rows[0][1]); a < 0 || a > 10 {
		t.Errorf("avg of nothing %v out of bounds", a)
	}
}

func TestMaxGroupsTruncatesByKey(t *testing.T) {
	plan := derivedPlan(aggCount)
	ob := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
	ob.MaxGroups = 3
	var groups []Group
	for _, k := range []int64{9, 4, 7, 1, 8} {
		groups = append(groups, Group{Keys: []any{k}, Units: 100000, Aggs: []Partial{{Count: 100000}}})
	}
	rel := mustRelease(t, plan, ob, groups)
	if len(rel.Rows) != 3 || rel.Rows[0][0].Key != int64(1) || rel.Rows[1][0].Key != int64(4) || rel.Rows[2][0].Key != int64(7) {
		t.Fatalf("rows %+v", rel.Rows)
	}
	found := false
	for _, n := range rel.Notes {
		found = found || strings.Contains(n, "cap of 3")
	}
	if !found {
		t.Errorf("no truncation note in %q", rel.Notes)
	}
}

func TestCompareKeys(t *testing.T) {
	ordered := [][]any{{nil}, {false}, {true}, {int64(-3)}, {2.5}, {int64(3)}, {sluice.Decimal("12345678901234567.89")}, {sluice.Decimal("12345678901234567.9")},
		{uint64(1 << 63)}, {new(big.Int).Lsh(big.NewInt(1), 70)}, {"a"}, {"b"}, {"b", 1}}
	for i := range ordered {
		for j := range ordered {
			got := compareKeys(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compare %v %v = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestAvgVarStayInBounds(t *testing.T) {
	// Tiny groups with extreme partials and small ε: noise dominates, and
	// every output must still respect its bounds.
	aggs := []sluice.Aggregate{aggOf(sluice.AggAvg, -3, 7), aggOf(sluice.AggVar, -3, 7), aggOf(sluice.AggStddev, -3, 7), aggOf(sluice.AggVar, -3, 7)}
	aggs[3].Pop = true
	const n = 2000
	plan := publicPlan(n, aggs...)
	ob := obl(sluice.NoiseLaplace, 0.05, 0, 1, 2)
	var groups []Group
	for i := range n {
		// W = 10; per unit |Sum| ≤ L∞·W = 20, SumSq ≤ L∞·W² = 200.
		c := int64(i % 3)
		p := Partial{Count: c, Sum: float64(20 * c * int64(1-2*(i%2))), SumSq: float64(200 * c)}
		groups = append(groups, Group{Keys: []any{fmt.Sprintf("k%d", i)}, Units: c, Aggs: []Partial{p, p, p, p}})
	}
	for _, kind := range []string{sluice.NoiseLaplace, sluice.NoiseGaussian} {
		ob.Noise = kind
		if kind == sluice.NoiseGaussian {
			ob.Delta = 1e-6
		}
		rel := mustRelease(t, plan, ob, groups)
		if len(rel.Rows) != n {
			t.Fatalf("%d rows", len(rel.Rows))
		}
		maxVar := 25.0 // ((7 − −3)/2)²
		for _, row := range rel.Rows {
			checks := []struct {
				v      sluice.Value
				lo, hi float64
			}{{row[1], -3, 7}, {row[2], 0, 2 * maxVar}, {row[3], 0, math.Sqrt(2 * maxVar)}, {row[4], 0, maxVar}}
			for j, c := range checks {
				x := num(t, c.v)
				if x < c.lo || x > c.hi || math.IsNaN(x) {
					t.Fatalf("%s: %s = %v outside [%v, %v]", kind, aggs[j].Name, x, c.lo, c.hi)
				}
				if ci := c.v.CI; ci == nil || ci.Lower < c.lo || ci.Upper > c.hi || ci.Lower > ci.Upper {
					t.Fatalf("%s: %s interval %+v outside [%v, %v]", kind, aggs[j].Name, ci, c.lo, c.hi)
				}
			}
		}
	}
}

func TestGaussianReleaseSmoke(t *testing.T) {
	plan := derivedPlan(allAggs()...)
	ob := obl(sluice.NoiseGaussian, 20, 1e-5, 2, 2)
	ob.MinUnits = 10
	q := Partial{Buckets: []Bucket{{Value: 30, Count: 1000}, {Value: 70, Count: 1000}}}
	p := []Partial{{Count: 2000}, {}, {Sum: 2000 * 1000}, {Count: 2000, Sum: 0}, {Count: 2000, Sum: 0, SumSq: 2000 * 1600}, {Count: 2000, Sum: 0, SumSq: 2000 * 16}, q}
	rel := mustRelease(t, plan, ob, []Group{{Keys: []any{"a"}, Units: 2000, Aggs: p}})
	if len(rel.Rows) != 1 {
		t.Fatalf("rows %+v", rel.Rows)
	}
	row := rel.Rows[0]
	// True values: count 2000, units 2000, sum 2000·1000 hundredths = 20000,
	// avg 50 (normalised sum 0), var 1600/4 = 400, stddev √(16/4) = 2, median
	// between the buckets 30 and 70. Tolerances are loose sanity bounds, over
	// 10 noise standard deviations each (σ ≈ 7.5 for counts, 151 for the sum,
	// 0.19 for avg, 9.4 for var at ε = 20/12 and δ = 1e-5/13 per mechanism).
	for j, w := range []struct{ v, tol float64 }{{2000, 200}, {2000, 200}, {20000, 5000}, {50, 5}, {400, 100}, {2, 0.5}, {50, 21}} {
		if x := num(t, row[1+j]); math.Abs(x-w.v) > w.tol {
			t.Errorf("output %d = %v, want %v ± %v", j, x, w.v, w.tol)
		}
	}
}

func TestQuantileOfUniformNearMedian(t *testing.T) {
	// 100,000 values spread evenly over [0, 100]: the median is 50. The
	// tree's noise is Laplace with scale TreeHeight·L0·L∞/ε ≤ 9 per node; a
	// decision at a level can err by the sum of ≤ 16 such noises (sd 51)
	// against per-node counts of 100000/16^level; an error of 1 in value is
	// 1000 counts at level 1, over 19 sd, so P(|median − 50| > 1) is far
	// below 1e-6 in each of the 5 runs. The 95 % intervals are not asked to
	// cover in every run (they may not, 5 % of the time: exactly half the
	// values lie at or below 49.95, so every leaf boundary up to 50.05 has
	// D = 0, and a test there errs with probability α/6); they must come
	// within 0.5 (500 counts, over 10 sd of the sums of node noises they
	// test) of the quantile as the tree resolves it, and be narrow.
	q := sluice.Aggregate{Name: "median", Func: sluice.AggQuantile, Arg: "x", Lower: 0, Upper: 100, Quantile: 0.5, Original: "median"}
	q90 := q
	q90.Quantile = 0.9
	aggs := []sluice.Aggregate{q, q90}
	plan := &sluice.Plan{Aggregates: aggs, Outputs: outputs(0, aggs)}
	var buckets []Bucket
	for i := range 1000 {
		buckets = append(buckets, Bucket{Value: 0.05 + float64(i)/10, Count: 100})
	}
	for range 5 {
		rel := mustRelease(t, plan, obl(sluice.NoiseLaplace, 1, 0, 1, 1), []Group{{Units: 100000, Aggs: []Partial{{Buckets: buckets}, {Buckets: buckets}}}})
		if m := num(t, rel.Rows[0][0]); math.Abs(m-50) > 1 {
			t.Errorf("median %v, want 50 ± 1", m)
		}
		if m := num(t, rel.Rows[0][1]); math.Abs(m-90) > 1 {
			t.Errorf("0.9 quantile %v, want 90 ± 1", m)
		}
		for j, a := range aggs {
			want := trueQuantile(a.Lower, a.Upper, buckets, a.Quantile)
			ci := rel.Rows[0][j].CI
			if ci == nil || ci.Lower > want+0.5 || ci.Upper < want-0.5 || ci.Upper-ci.Lower > 2 {
				t.Errorf("quantile %d: interval %+v, want one within 0.5 of %v, narrower than 2", j, ci, want)
			}
		}
	}
}

func BenchmarkRelease(b *testing.B) {
	aggs := []sluice.Aggregate{aggCount, aggSum(0, 1000, 2), aggOf(sluice.AggAvg, 0, 100)}
	plan := derivedPlan(aggs...)
	ob := obl(sluice.NoiseLaplace, 1, 1e-6, 2, 3)
	groups := make([]Group, 1000)
	for i := range groups {
		groups[i] = Group{Keys: []any{fmt.Sprintf("g%04d", i)}, Units: 200,
			Aggs: []Partial{{Count: 500}, {Sum: 500 * 50000}, {Count: 500, Sum: 500 * 10}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Release(plan, ob, groups); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReleaseQuantiles: 100 groups, a median and a 0.9 quantile each.
func BenchmarkReleaseQuantiles(b *testing.B) {
	q := sluice.Aggregate{Name: "median", Func: sluice.AggQuantile, Arg: "x", Lower: 0, Upper: 1000, Quantile: 0.5, Original: "median"}
	q90 := q
	q90.Name, q90.Quantile = "p90", 0.9
	plan := derivedPlan(q, q90)
	ob := obl(sluice.NoiseLaplace, 1, 1e-6, 2, 3)
	var bs []Bucket
	for i := range 4096 {
		bs = append(bs, Bucket{Value: (float64(i) + 0.5) * 1000 / 4096, Count: int64(1 + i%7)})
	}
	groups := make([]Group, 100)
	for i := range groups {
		groups[i] = Group{Keys: []any{fmt.Sprintf("g%04d", i)}, Units: 2000, Aggs: []Partial{{Buckets: bs}, {Buckets: bs}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Release(plan, ob, groups); err != nil {
			b.Fatal(err)
		}
	}
}
