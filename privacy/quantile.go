package privacy

import (
	"math"

	"github.com/google/differential-privacy/go/v3/noise"

	"sluice"
)

// Quantiles.
//
// A quantile is released from a noisy quantile tree: the hierarchical
// histogram of dpagg.BoundedQuantiles (root 0, the children of node i are
// i·b+1 … (i+1)·b, leaves in order), with the same noise on every node's
// count: the library's AddNoiseFloat64 for L0 = height·L0 and L∞ = L∞, as
// each of a unit's ≤ L∞ sampled rows in a group adds 1 to one node per
// level. Nodes are noised lazily, once each, when first read, as the
// library does. The estimate walks the tree as the library's Result does
// (children below 0.75 % of their siblings' mass are treated as empty, the
// rank is clamped to [0.005, 0.995], the leaf is interpolated linearly).
// The library's tree keeps its noisy nodes to itself, and an interval
// needs them; this is why the tree is ours, on the library's noise.
//
// The interval. Let C(t) be the number of sampled values in leaves [0, t)
// and N the total; the q-quantile lies in leaf t−1 for the smallest t with
// C(t) ≥ q·N, and D(t) = C(t) − q·N is non-decreasing in t. D(t) =
// (1−q)·ΣL − q·ΣR, where L and R are the canonical node decompositions of
// leaves [0, t) and [t, leaves). Its noisy version D̃(t) adds (1−q)·Σ_L η −
// q·Σ_R η of independent node noises η, whose tails are bounded from the
// noise parameters alone (tailBounds).
//
// Runs, level by level (probability ≤ α/2 of failing on each side, α/(2h)
// per level for a tree of height h). Let T_ℓ be the boundaries of the
// nodes of level ℓ (level 1 below the root, level h the leaves); a test at
// t ∈ T_ℓ reads nodes down to level ℓ only. The upper end starts at b₀ =
// leaves; at level ℓ the boundaries of T_ℓ inside the level-(ℓ−1) node
// below b_{ℓ−1} are tested from the top down, and b_ℓ is the lowest of the
// run of those where D̃ ≥ z (b_{ℓ−1} when the first fails). The lower end
// mirrors it with runs of D̃ ≤ −z from the bottom up.
//
// The upper end fails only if D(b_h) < 0. Take the first level ℓ with
// D(b_ℓ) < 0; then D(b_{ℓ−1}) ≥ 0 (at ℓ = 1 because D(leaves) ≥ 0), so
// t_ℓ, the last boundary of T_ℓ with D < 0 (fixed by the data, not the
// noise), lies in [b_ℓ, b_{ℓ−1}). Every boundary of T_ℓ in that range was
// tested (b_{ℓ−1} is in T_ℓ and the run is contiguous) and passed, t_ℓ
// among them, which happens with probability ≤ α/(2h): each node's noise
// is drawn once (node), so D̃(t_ℓ) is D(t_ℓ) plus a fixed combination of
// independent noises, bounded by tailBounds. The lower end's base case is
// D(0) = −q·N < 0, which holds whenever there is a sample (q ≥ 0.005 after
// clamping). No union bound over the boundaries tested is needed, however
// they were chosen, because each level's failure is pinned on one boundary
// fixed in advance; the levels add up.
// Each side reads at most b nodes per level: the interval costs at most
// 2·b·h noise draws (96 for the rewriter's tree), most of them shared
// with the estimate's walk.
//
// The interval [lo + a_h·w, lo + b_h·w] (w the leaf width) covers the
// quantile with probability ≥ 1 − α; it is widened to contain the
// estimate, which keeps the guarantee. It covers the quantile of the
// sampled, clamped values (as the other intervals cover the bounded
// statistic), to the leaf width.

// treeHeight and branching shape the quantile tree; the rewriter sends
// sampled values at its leaves' midpoints.
const (
	treeHeight = sluice.QuantileTreeHeight
	branching  = sluice.QuantileBranching
	// libraryAlpha and libraryTolerance are dpagg.BoundedQuantiles'
	// constants for skipping near-empty children and comparing ranks.
	libraryAlpha     = 0.0075
	libraryTolerance = 1e-6
	// levelAlpha is each side's α at each level of the runs.
	levelAlpha = ciAlpha / 2 / treeHeight
)

// quantileTree is one group's noisy tree for one quantile aggregate.
type quantileTree struct {
	leaves    int
	firstLeaf int // index of the leftmost leaf
	lo, hi    float64
	counts    []int64   // true count per node
	noisy     []float64 // noisy count per node, NaN until drawn
	noise     func(count int64) (float64, error)
	tail      *tailBounds
}

// quantileLeaves returns the number of leaves of the tree.
func quantileLeaves() int {
	n := 1
	for range treeHeight {
		n *= branching
	}
	return n
}

// newQuantileTree builds the true counts of the tree from sampled values.
// Values are clamped to [lo, hi] and mapped to leaves as the library maps
// them.
func newQuantileTree(lo, hi float64, buckets []Bucket, noise func(int64) (float64, error), tail *tailBounds) *quantileTree {
	leaves := quantileLeaves()
	nodes := (leaves*branching - 1) / (branching - 1)
	t := &quantileTree{
		leaves:    leaves,
		firstLeaf: (leaves - 1) / (branching - 1),
		lo:        lo, hi: hi,
		counts: make([]int64, nodes),
		noisy:  make([]float64, nodes),
		noise:  noise,
		tail:   tail,
	}
	for i := range t.noisy {
		t.noisy[i] = math.NaN()
	}
	for _, b := range buckets {
		if b.Count <= 0 || math.IsNaN(b.Value) {
			continue
		}
		for i := t.firstLeaf + t.leafOf(b.Value); i != 0; i = (i - 1) / branching {
			t.counts[i] += b.Count
		}
	}
	return t
}

// leafOf returns the leaf (0 … leaves−1) of a value.
func (t *quantileTree) leafOf(v float64) int {
	v = clamp(v, t.lo, t.hi)
	i := int((v - t.lo) / (t.hi - t.lo) * float64(t.leaves))
	return min(max(i, 0), t.leaves-1)
}

// value returns the left edge of leaf i (i = leaves gives hi).
func (t *quantileTree) value(i int) float64 {
	return t.lo + (t.hi-t.lo)*float64(i)/float64(t.leaves)
}

// node returns the noisy count of a node, noising it on first use.
func (t *quantileTree) node(i int) (float64, error) {
	if v := t.noisy[i]; !math.IsNaN(v) {
		return v, nil
	}
	v, err := t.noise(t.counts[i])
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// Never drawn twice: NaN marks "not drawn".
		return 0, internal("release.quantile", "noisy count is not finite")
	}
	t.noisy[i] = v
	return v, nil
}

// estimate returns the library's estimate of the rank-q quantile (q
// already clamped to [0.005, 0.995]).
func (t *quantileTree) estimate(q float64) (float64, error) {
	index := 0
	for index < t.firstLeaf {
		first, last := index*branching+1, (index+1)*branching
		total := 0.0
		for i := first; i <= last; i++ {
			c, err := t.node(i)
			if err != nil {
				return 0, err
			}
			total += math.Max(0, c)
		}
		corrected := 0.0
		for i := first; i <= last; i++ {
			if c := t.noisy[i]; c >= total*libraryAlpha {
				corrected += c
			}
		}
		if corrected == 0 {
			break
		}
		partial := 0.0
		next := last
		for i := first; i <= last; i++ {
			c := t.noisy[i]
			if c < total*libraryAlpha {
				continue
			}
			partial += c
			if partial/corrected >= q-libraryTolerance {
				q = clamp((q-(partial-c)/corrected)/(c/corrected), 0, 1)
				next = i
				break
			}
		}
		index = next
	}
	// The leaves under index: the walk may stop above the leaf level.
	left, right := index, index
	for left < t.firstLeaf {
		left, right = left*branching+1, (right+1)*branching
	}
	l, r := left-t.firstLeaf, right-t.firstLeaf+1
	return (1-q)*t.value(l) + q*t.value(r), nil
}

// split returns D̃(t) for boundary t (1 ≤ t < leaves) and the number of
// nodes on each side: the canonical decompositions of leaves [0, t) and
// [t, leaves), descending only while t cuts through a node.
func (t *quantileTree) split(q float64, boundary int) (d float64, nl, nr int, err error) {
	var left, right float64
	index, start, span := 0, 0, t.leaves
	for index < t.firstLeaf {
		span /= branching
		first, last := index*branching+1, (index+1)*branching
		c := first + (boundary-start)/span
		cStart := start + (c-first)*span
		aligned := boundary == cStart
		for i := first; i <= last; i++ {
			if i == c && !aligned {
				continue // cut by the boundary: descend into it
			}
			v, err := t.node(i)
			if err != nil {
				return 0, 0, 0, err
			}
			if i < c {
				left += v
				nl++
			} else {
				right += v
				nr++
			}
		}
		if aligned {
			break
		}
		index, start = c, cStart
	}
	return (1-q)*left - q*right, nl, nr, nil
}

// interval returns the 1 − α interval for the rank-q quantile around the
// estimate est (see the comment on quantiles at the top of this file).
func (t *quantileTree) interval(q, est float64) (lo, hi float64, err error) {
	test := func(boundary int, alpha float64) (int8, error) {
		d, nl, nr, err := t.split(q, boundary)
		if err != nil {
			return 0, err
		}
		switch z := t.tail.z(q, nl, nr, alpha); {
		case d >= z:
			return 1, nil
		case d <= -z:
			return -1, nil
		}
		return 0, nil
	}
	a, b := 0, t.leaves
	for step := t.leaves / branching; step >= 1; step /= branching {
		top, bottom := b, a
		for l := top - step; l > top-branching*step; l -= step {
			p, err := test(l, levelAlpha)
			if err != nil {
				return 0, 0, err
			}
			if p != 1 {
				break
			}
			b = l
		}
		for l := bottom + step; l < bottom+branching*step; l += step {
			p, err := test(l, levelAlpha)
			if err != nil {
				return 0, 0, err
			}
			if p != -1 {
				break
			}
			a = l
		}
	}
	// The two ends cross only when a test failed; keep the interval an
	// interval.
	a, b = min(a, b), max(a, b)
	return math.Min(t.value(a), est), math.Max(t.value(b), est), nil
}

// tailBounds gives, for one mechanism's node noise, the bound z with
// P(S ≥ z) ≤ α₁ for S = (1−q)·Σ of nl node noises − q·Σ of nr others.
// Bounds are memoised by (q, nl, nr, α₁).
type tailBounds struct {
	gaussian bool
	// scale is the Laplace scale (L0·L∞ + g)/ε of the library's discrete
	// sampler, or the Gaussian σ, inflated by a relative 2^-30 for the
	// discretisation.
	scale float64
	memo  map[[4]float64]float64
}

func newTailBounds(gaussian bool, l0 int64, linf, eps, delta float64) (*tailBounds, error) {
	tb := &tailBounds{gaussian: gaussian, memo: map[[4]float64]float64{}}
	if gaussian {
		tb.scale = noise.SigmaForGaussian(l0, linf, eps, delta)
	} else {
		// The library samples a two-sided geometric on a grid g (the
		// power of two at or above λ·2^-40), whose scale is (l1 + g)/ε.
		l1 := float64(l0) * linf
		g := math.Exp2(math.Ceil(math.Log2(l1 / eps / math.Exp2(40))))
		tb.scale = (l1 + g) / eps
	}
	if math.IsNaN(tb.scale) || math.IsInf(tb.scale, 0) || tb.scale <= 0 {
		return nil, internal("release.quantile", "noise scale %g", tb.scale)
	}
	tb.scale *= 1 + math.Exp2(-30)
	return tb, nil
}

// z returns the bound for one tail at α₁ (the other is the same by
// symmetry).
func (tb *tailBounds) z(q float64, nl, nr int, alpha1 float64) float64 {
	k := [4]float64{q, float64(nl), float64(nr), alpha1}
	if v, ok := tb.memo[k]; ok {
		return v
	}
	a, b := 1-q, q // coefficients of the nl and nr noises
	var z float64
	if tb.gaussian {
		// The library's Gaussian is a symmetric binomial, sub-Gaussian with
		// its variance: P(S ≥ z) ≤ exp(−z²/(2·Var S)).
		v := tb.scale * tb.scale * (float64(nl)*a*a + float64(nr)*b*b)
		z = math.Sqrt(2 * v * math.Log(1/alpha1))
	} else {
		z = laplaceSumTail(tb.scale, a, nl, b, nr, alpha1)
	}
	tb.memo[k] = z
	return z
}

// laplaceSumTail returns a z with P(S ≥ z) ≤ α for S = a·ΣX_i (n1 terms) +
// b·ΣY_j (n2 terms) of independent Laplace(λ) variables, by the Chernoff
// bound P(S ≥ z) ≤ exp(−sz)·E[e^{sS}] with E[e^{sX}] = 1/(1 − s²λ²), so
// z(s) = (ln(1/α) − n1·ln(1 − s²λ²a²) − n2·ln(1 − s²λ²b²))/s for
// 0 < s < 1/(λ·max(a, b)). Any s gives a valid bound; the smallest found by
// a search over s is returned.
func laplaceSumTail(lambda, a float64, n1 int, b float64, n2 int, alpha float64) float64 {
	cmax := 0.0
	if n1 > 0 {
		cmax = math.Max(cmax, math.Abs(a))
	}
	if n2 > 0 {
		cmax = math.Max(cmax, math.Abs(b))
	}
	if cmax == 0 {
		return 0
	}
	limit := 1 / (lambda * cmax)
	zOf := func(s float64) float64 {
		v := math.Log(1 / alpha)
		if n1 > 0 {
			v -= float64(n1) * math.Log1p(-s*s*lambda*lambda*a*a)
		}
		if n2 > 0 {
			v -= float64(n2) * math.Log1p(-s*s*lambda*lambda*b*b)
		}
		return v / s
	}
	// z(s) is convex on (0, limit): golden-section search on s = u·limit.
	const phi = 0.6180339887498949
	l, r := 1e-9, 1-1e-9
	x1, x2 := r-phi*(r-l), l+phi*(r-l)
	f1, f2 := zOf(x1*limit), zOf(x2*limit)
	for range 100 {
		if f1 < f2 {
			r, x2, f2 = x2, x1, f1
			x1 = r - phi*(r-l)
			f1 = zOf(x1 * limit)
		} else {
			l, x1, f1 = x1, x2, f2
			x2 = l + phi*(r-l)
			f2 = zOf(x2 * limit)
		}
	}
	return math.Min(f1, f2)
}
