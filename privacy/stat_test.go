package privacy

import (
	"fmt"
	"math"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"

	"sluice"
)

// skipShort skips a statistical test under -short.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
}

// noiseSquares releases a count for n public groups (true count 1000 + i%7)
// and returns the mean and the mean square of noisy − true.
func noiseSquares(t *testing.T, kind string, n int, eps, delta float64, l0, linf int64) (mean, meanSq float64) {
	t.Helper()
	plan := publicPlan(n, aggCount)
	groups := publicGroupsOf(n, 1, Partial{})
	for i := range groups {
		groups[i].Aggs[0].Count = 1000 + int64(i%7)
	}
	rel := mustRelease(t, plan, obl(kind, eps, delta, l0, linf), groups)
	if len(rel.Rows) != n {
		t.Fatalf("%d rows, want %d", len(rel.Rows), n)
	}
	for i, row := range rel.Rows {
		x := num(t, row[1]) - float64(groups[i].Aggs[0].Count) // rows are in domain order k0, k1, …
		mean += x
		meanSq += x * x
	}
	return mean / float64(n), meanSq / float64(n)
}

func TestLaplaceCountNoiseVariance(t *testing.T) {
	skipShort(t)
	// Public groups, no minimum, count only: the count gets all of ε, and its
	// noise is Laplace with b = L0·L∞/ε = 2·3/0.5 = 12, variance 2b² = 288
	// (plus ≈ 1/12 from rounding to an integer, 0.03 %, ignored).
	//
	// With X the noise, X²/b² = E² for E ~ Exp(1): mean 2, variance 20. The
	// mean square over N = 200,000 draws has relative sd √(5/N) = 0.5 %; the
	// tolerance of 3 % is 6 sd. Its skewness is 6.6/√N = 0.015, so the normal
	// tail applies (P ≈ 2e-9), and a single draw would need |X| > 109b to move
	// it by 3 %, probability N·e^{−109} ≈ 0. The mean has sd b·√(2/N) = 0.038;
	// its tolerance 0.25 is 6.6 sd.
	const n, b = 200000, 12.0
	mean, meanSq := noiseSquares(t, sluice.NoiseLaplace, n, 0.5, 0, 2, 3)
	if want := 2 * b * b; math.Abs(meanSq/want-1) > 0.03 {
		t.Errorf("noise variance %v, want %v ± 3 %%", meanSq, want)
	}
	if math.Abs(mean) > 0.25 {
		t.Errorf("noise mean %v, want 0 ± 0.25", mean)
	}
	t.Logf("Laplace: mean %.4f, variance %.2f (theory %.2f)", mean, meanSq, 2*b*b)
}

func TestGaussianCountNoiseVariance(t *testing.T) {
	skipShort(t)
	// Gaussian count with all of ε and δ: σ = SigmaForGaussian(2, 3, 0.5, 1e-5).
	// X²/σ² is χ²₁ (mean 1, variance 2): over N = 50,000 draws the mean
	// square has relative sd √(2/N) = 0.63 %; the tolerance of 4 % is 6.3 sd
	// (skewness √8/√N = 0.013, so the normal tail applies: P ≈ 3e-10).
	const n = 50000
	sigma := noise.SigmaForGaussian(2, 3, 0.5, 1e-5)
	mean, meanSq := noiseSquares(t, sluice.NoiseGaussian, n, 0.5, 1e-5, 2, 3)
	if want := sigma * sigma; math.Abs(meanSq/want-1) > 0.04 {
		t.Errorf("noise variance %v, want σ² = %v ± 4 %%", meanSq, want)
	}
	if tol := 6 * sigma / math.Sqrt(n); math.Abs(mean) > tol {
		t.Errorf("noise mean %v, want 0 ± %v", mean, tol)
	}
	t.Logf("Gaussian: mean %.4f, variance %.2f (σ² = %.2f)", mean, meanSq, sigma*sigma)
}

// coverage counts how often interval i of a row contains truth(i, row).
func coverage(t *testing.T, rel *sluice.Release, col int, truth func(i int) float64) float64 {
	t.Helper()
	in := 0
	for i, row := range rel.Rows {
		ci := row[col].CI
		if ci == nil {
			t.Fatalf("row %d col %d has no interval", i, col)
		}
		if x := truth(i); ci.Lower <= x && x <= ci.Upper {
			in++
		}
	}
	return float64(in) / float64(len(rel.Rows))
}

func TestCICoverageCountAndSum(t *testing.T) {
	skipShort(t)
	// The library's integer interval is noisy ± k with k = round(λ·ln(1/α))
	// and the integer noise is a rounded Laplace, so the exact coverage is
	// P(|X| < k + ½) = 1 − e^{−(k+½)/λ}, just above 95 %. Over N = 20,000
	// groups the observed rate must be within binomialTol (4.89 sd, two-sided
	// 1e-6) of it.
	const n = 20000
	for _, kind := range []string{sluice.NoiseLaplace, sluice.NoiseGaussian} {
		aggs := []sluice.Aggregate{aggCount, aggSum(-5, 20, 1)}
		plan := publicPlan(n, aggs...)
		ob := obl(kind, 1, 0, 2, 3)
		if kind == sluice.NoiseGaussian {
			ob.Delta = 1e-5
		}
		groups := publicGroupsOf(n, 1, Partial{}, Partial{})
		for i := range groups {
			groups[i].Aggs[0].Count = int64(100 + i%50)
			groups[i].Aggs[1].Sum = float64(-300 + 17*(i%100)) // tenths
		}
		rel := mustRelease(t, plan, ob, groups)
		// Each mechanism has ε = 0.5 (and δ = δ/2 for Gaussian).
		b, err := newBudget(plan, ob)
		if err != nil {
			t.Fatal(err)
		}
		for j, col := range []int{1, 2} {
			m := b.aggs[j].mechs[0]
			ci, err := b.nz.ComputeConfidenceIntervalInt64(0, m.l0, int64(m.sens), m.eps, m.noiseDelta, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			k := math.Round(ci.UpperBound)
			var want float64
			if kind == sluice.NoiseLaplace {
				lambda := float64(m.l0) * m.sens / m.eps
				want = 1 - math.Exp(-(k+0.5)/lambda)
			} else {
				sigma := noise.SigmaForGaussian(m.l0, m.sens, m.eps, m.noiseDelta)
				want = math.Erf((k + 0.5) / sigma / math.Sqrt2)
			}
			got := coverage(t, rel, col, func(i int) float64 {
				if j == 0 {
					return float64(groups[i].Aggs[0].Count)
				}
				return groups[i].Aggs[1].Sum / 10
			})
			if want < 0.95 || math.Abs(got-want) > binomialTol(want, n) {
				t.Errorf("%s %s: coverage %.4f, want %.4f ± %.4f (≥ 0.95)", kind, aggs[j].Name, got, want, binomialTol(want, n))
			}
			t.Logf("%s %s: coverage %.4f (exact %.4f)", kind, aggs[j].Name, got, want)
		}
	}
}

func TestCICoverageAvgVar(t *testing.T) {
	skipShort(t)
	// The avg and var intervals are conservative (they cover whenever the
	// box of component intervals does, probability ≥ 95 %): the observed
	// coverage over N = 20,000 groups must not fall below 0.95 by more than
	// 4.75 sd (one-sided 1e-6), i.e. 0.0073.
	const n, rows = 20000, 40
	vr := aggOf(sluice.AggVar, 0, 100)
	pop := vr
	pop.Pop = true
	aggs := []sluice.Aggregate{aggOf(sluice.AggAvg, 0, 100), vr, pop, aggOf(sluice.AggStddev, 0, 100)}
	plan := publicPlan(n, aggs...)
	var p Partial
	for j := range rows {
		d := float64(2*((j*37)%101) - 100) // 2x' − lo' − hi' for x' in [0, 100]
		p.Count++
		p.Sum += d
		p.SumSq += d * d
	}
	mean := 50 + p.Sum/2/rows
	popVar := p.SumSq/4/rows - (p.Sum/2/rows)*(p.Sum/2/rows)
	truth := []float64{mean, popVar * rows / (rows - 1), popVar, math.Sqrt(popVar * rows / (rows - 1))}
	for _, kind := range []string{sluice.NoiseLaplace, sluice.NoiseGaussian} {
		ob := obl(kind, 4, 0, 1, 1)
		if kind == sluice.NoiseGaussian {
			ob.Delta = 1e-5
		}
		rel := mustRelease(t, plan, ob, publicGroupsOf(n, rows, p, p, p, p))
		tol := 4.75 * math.Sqrt(0.95*0.05/n)
		for j := range aggs {
			got := coverage(t, rel, 1+j, func(int) float64 { return truth[j] })
			if got < 0.95-tol {
				t.Errorf("%s %s: coverage %.4f below 0.95 − %.4f", kind, label(aggs[j]), got, tol)
			}
			width := 0.0
			for _, row := range rel.Rows {
				width += row[1+j].CI.Upper - row[1+j].CI.Lower
			}
			t.Logf("%s %s (true %.2f): coverage %.4f, mean width %.2f", kind, label(aggs[j]), truth[j], got, width/n)
		}
	}
}

func TestPartitionSelectionSingleUnit(t *testing.T) {
	skipShort(t)
	// A group with one unit must be released with probability at most δ
	// (per group, 1 − (1 − δ)^{1/L0}); with the library's threshold the
	// probability is exactly that, so the observed rate over N groups must
	// be within binomialTol of it (4.89 sd, two-sided 1e-6). Groups with
	// 1000 units are always released: the noise would need to be below
	// −(1000 − τ), probability below e^{−900}.
	cases := []struct {
		kind  string
		l0    int64
		delta float64 // the query's δ
		sel   float64 // δ of selection
		n     int
	}{
		{sluice.NoiseLaplace, 1, 0.05, 0.05, 100000},
		{sluice.NoiseLaplace, 3, 0.05, 0.05, 100000},
		{sluice.NoiseGaussian, 1, 0.1, 0.05, 50000}, // half of δ to the units noise
	}
	for _, c := range cases {
		plan := derivedPlan(aggCountUnits)
		ob := obl(c.kind, 1, c.delta, c.l0, 1)
		var groups []Group
		for i := range c.n {
			groups = append(groups, Group{Keys: []any{int64(i)}, Units: 1, Aggs: make([]Partial, 1)})
		}
		const big = 1000
		for i := range big {
			groups = append(groups, Group{Keys: []any{int64(c.n + i)}, Units: 1000, Aggs: make([]Partial, 1)})
		}
		rel := mustRelease(t, plan, ob, groups)
		small, large := 0, 0
		for _, row := range rel.Rows {
			if row[0].Key.(int64) < int64(c.n) {
				small++
			} else {
				large++
			}
		}
		want := 1 - math.Pow(1-c.sel, 1/float64(c.l0))
		got := float64(small) / float64(c.n)
		tol := binomialTol(want, c.n)
		if got > want+tol || got < want-tol {
			t.Errorf("%s L0=%d: single-unit groups released at rate %.5f, want %.5f ± %.5f", c.kind, c.l0, got, want, tol)
		}
		if large != big {
			t.Errorf("%s L0=%d: %d of %d groups with 1000 units released", c.kind, c.l0, large, big)
		}
		t.Logf("%s L0=%d: single-unit release rate %.5f (bound %.5f); %s", c.kind, c.l0, got, want, rel.Suppressed[0].Reason)
	}
}

func TestMinUnitsDecidedOnNoisyCount(t *testing.T) {
	skipShort(t)
	// Groups whose true unit count equals MinUnits = 50 are released iff the
	// continuous units noise is ≥ 0: probability ½ exactly, never always. For
	// data-derived keys τ ≈ 11.8 < 50 does not bind. Over N = 20,000 groups
	// the rate must be within binomialTol(½, N) = 0.0173 of ½.
	const n, minUnits = 20000, 50
	for _, public := range []bool{true, false} {
		plan := publicPlan(n, aggCountUnits)
		ob := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
		if !public {
			plan = derivedPlan(aggCountUnits)
		}
		ob.MinUnits = minUnits
		rel := mustRelease(t, plan, ob, publicGroupsOf(n, minUnits, Partial{}))
		got := float64(len(rel.Rows)) / n
		if math.Abs(got-0.5) > binomialTol(0.5, n) {
			t.Errorf("public=%v: released %.4f of groups at the minimum, want 0.5 ± %.4f", public, got, binomialTol(0.5, n))
		}
		for _, row := range rel.Rows {
			if u := num(t, row[1]); u < minUnits {
				t.Fatalf("released a group with noisy units %v < %d", u, minUnits)
			}
		}
		if public {
			s := rel.Suppressed
			if len(s) != 1 || s[0].Rule != "release.min_units" || s[0].Count+len(rel.Rows) != n || len(s[0].Keys) != s[0].Count {
				t.Errorf("public suppression %+v", fmt.Sprint(len(s)))
			}
		}
		t.Logf("public=%v: released %.4f", public, got)
	}
}

// trueQuantile returns the midpoint of the leaf holding the rank-q quantile
// of the bucketed values (the smallest leaf boundary t with C(t) ≥ q·N).
func trueQuantile(lo, hi float64, buckets []Bucket, q float64) float64 {
	leaves := quantileLeaves()
	counts := make([]int64, leaves)
	var n int64
	w := (hi - lo) / float64(leaves)
	for _, b := range buckets {
		i := min(max(int((b.Value-lo)/w), 0), leaves-1)
		counts[i] += b.Count
		n += b.Count
	}
	var c int64
	for i, k := range counts {
		c += k
		if float64(c) >= q*float64(n) && c > 0 {
			return lo + (float64(i)+0.5)*w
		}
	}
	return hi
}

func TestCICoverageQuantiles(t *testing.T) {
	skipShort(t)
	// Groups of 5,000 to 100,000 sampled values, skewed towards the lower
	// bound (values (k/N)³ of the range), half of them on one leaf in every
	// third group. Node noise is Laplace with scale 3·2·3/ε ≈ 54 (ε ≈ 1/3 per
	// quantile), or the matching Gaussian. The interval is built to cover
	// with probability ≥ 95 % (conservatively: its tail bounds are Chernoff
	// bounds, so in fact more often); over N = 1,000 groups the observed
	// miss rate of each quantile must stay below 5 % + binomialTol (1e-6
	// one-sided). The intervals must also be informative (mean widths
	// measured: 16 and 102; with the tail bounds at 0.3× they miss 12–17 %
	// and 23–27 %, and the test fails).
	const n = 1000
	lo, hi := 0.0, 1000.0
	leaves := quantileLeaves()
	w := (hi - lo) / float64(leaves)
	for _, kind := range []string{sluice.NoiseLaplace, sluice.NoiseGaussian} {
		med := sluice.Aggregate{Name: "median", Func: sluice.AggQuantile, Arg: "x", Lower: lo, Upper: hi, Quantile: 0.5, Original: "median"}
		q90 := med
		q90.Name, q90.Quantile = "p90", 0.9
		aggs := []sluice.Aggregate{med, q90}
		plan := publicPlan(n, aggs...)
		ob := obl(kind, 1, 0, 2, 3)
		if kind == sluice.NoiseGaussian {
			ob.Delta = 1e-5
		}
		groups := publicGroupsOf(n, 1, Partial{}, Partial{})
		for i := range groups {
			size := 5000 + (i*9517)%95000
			counts := make([]int64, leaves)
			for k := range size {
				v := lo + (hi-lo)*math.Pow(float64(k)/float64(size), 3)
				if i%3 == 0 && k%2 == 0 {
					v = 400
				}
				counts[min(int((v-lo)/w), leaves-1)]++
			}
			var bs []Bucket
			for l, c := range counts {
				if c > 0 {
					bs = append(bs, Bucket{Value: lo + (float64(l)+0.5)*w, Count: c})
				}
			}
			groups[i].Aggs[0].Buckets = bs
			groups[i].Aggs[1].Buckets = bs
		}
		rel := mustRelease(t, plan, ob, groups)
		for j, a := range aggs {
			got := coverage(t, rel, 1+j, func(i int) float64 {
				return trueQuantile(lo, hi, groups[i].Aggs[j].Buckets, a.Quantile)
			})
			width := 0.0
			for _, row := range rel.Rows {
				width += row[1+j].CI.Upper - row[1+j].CI.Lower
			}
			width /= float64(len(rel.Rows))
			t.Logf("%s %s: coverage %.4f, mean width %.1f of %v", kind, a.Name, got, width, hi-lo)
			if limit := 0.95 - binomialTol(0.05, n); got < limit {
				t.Errorf("%s %s: coverage %.4f, want ≥ %.4f", kind, a.Name, got, limit)
			}
			// The top tenth of (k/N)³ spreads over a quarter of the range.
			if limit := []float64{30, 150}[j]; width > limit {
				t.Errorf("%s %s: mean interval width %.1f, want < %v", kind, a.Name, width, limit)
			}
		}
	}
}

// The Chernoff bound on sums of Laplace noises is valid (at least the
// exact tail quantile) and, at the α the quantile intervals use (about
// 6e-6), not loose (within 35 % of it; it is looser at large α, unused),
// checked against closed forms: one Laplace(λ), P(X ≥ z) = e^{−z/λ}/2; the
// sum of two, P(S ≥ z) = e^{−z/λ}·(2 + z/λ)/4.
func TestLaplaceSumTail(t *testing.T) {
	const lambda = 36.0
	for _, alpha := range []float64{0.025, 1e-3, 6e-6} {
		tight := alpha < 1e-5
		exact1 := lambda * math.Log(1/(2*alpha))
		z1 := laplaceSumTail(lambda, 1, 1, 0, 0, alpha)
		if z1 < exact1 || (tight && z1 > 1.35*exact1) {
			t.Errorf("α %g, one term: z %v, exact %v", alpha, z1, exact1)
		}
		z2 := laplaceSumTail(lambda, 1, 1, 1, 1, alpha)
		tail := func(z float64) float64 { return math.Exp(-z/lambda) * (2 + z/lambda) / 4 }
		if p := tail(z2); p > alpha {
			t.Errorf("α %g, two terms: z %v has tail %g", alpha, z2, p)
		}
		if p := tail(z2 / 1.35); tight && p < alpha {
			t.Errorf("α %g, two terms: z %v is loose (z/1.35 already has tail %g)", alpha, z2, p)
		}
	}
}
