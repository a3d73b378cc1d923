package privacy

import "math"

// Confidence intervals.
//
// count, sum: the library's ComputeConfidenceIntervalInt64 at α = 0.05 for
// the mechanism's noise (computed around 0 and shifted, which is what the
// library does internally). The count of units uses
// ComputeConfidenceIntervalFloat64, narrowed to integers.
//
// avg, var, stddev: derived from the library's intervals of their noisy
// components, which have independent noise. With a per-component level 1−a
// such that the product of the levels is 0.95, the true components lie in
// the box of their intervals with probability at least 0.95; the interval
// released is the range of the statistic over that box (then clamped as the
// estimate is). It is conservative: it covers the true statistic whenever
// the box covers the true components. The library's BoundedMean instead
// picks the narrowest of 999 splits of α after seeing the noisy values, which
// makes the choice data-dependent; a fixed split keeps the guarantee exact.
//
// quantile: from the noisy quantile tree the estimate comes from, by a
// union bound over every leaf boundary (see quantile.go). It covers the
// quantile of the sampled, clamped values to the leaf width, and is
// conservative.

// meanInterval returns a 95 % interval, in fixed point, for the mean of the
// bounded values, mid' + (Sum/2)/max(Count, 1), given the noisy count c and
// the noisy doubled normalised sum s2. Each component's interval is at level
// √0.95; the mean's bounds are the extreme ratios over the box (as in
// dpagg.BoundedMean), shifted by mid' and clamped to [lo', hi'].
func (r *releaser) meanInterval(ap *aggPlan, c, s2 int64) (lo, hi float64, err error) {
	a := 1 - math.Sqrt(1-ciAlpha)
	cl, ch, err := r.interval(&ap.mechs[0], c, a)
	if err != nil {
		return 0, 0, err
	}
	sl, sh, err := r.interval(&ap.mechs[1], s2, a)
	if err != nil {
		return 0, 0, err
	}
	cl, ch = math.Max(cl, 1), math.Max(ch, 1)
	sl, sh = sl/2, sh/2
	if sl >= 0 {
		lo = sl / ch
	} else {
		lo = sl / cl
	}
	if sh >= 0 {
		hi = sh / cl
	} else {
		hi = sh / ch
	}
	mid := (ap.lo + ap.hi) / 2
	return clamp(lo+mid, ap.lo, ap.hi), clamp(hi+mid, ap.lo, ap.hi), nil
}

// varianceInterval returns a 95 % interval, in squared fixed point, for the
// variance of the bounded values, given the noisy count c, doubled
// normalised sum s2 and quadrupled normalised sum of squares q4. Each
// component's interval is at level 0.95^(1/3). The population variance
// f = q/n − (s/n)² is bounded over the box n ∈ [cL, cH] (≥ 1), s ∈ [sL, sH],
// q ∈ [qL, qH] (≥ 0): with u = 1/n, f = q·u − s²·u² is concave in u, so its
// minimum (at q = qL, the largest s²) is at an end of [1/cH, 1/cL] and its
// maximum (at q = qH, the smallest s²) at the vertex q/(2s²) clamped to that
// range. Both ends are clamped to [0, (W/2)²]. For a sample variance they are
// multiplied by n/(n−1), which decreases in n: the lower end by its value at
// the largest integer n in the box, the upper end by its value at the
// smallest (n ≥ 2 either way, the smallest n for which a sample variance is
// defined).
func (r *releaser) varianceInterval(ap *aggPlan, c, s2, q4 int64) (lo, hi float64, err error) {
	a := 1 - math.Pow(1-ciAlpha, 1.0/3)
	cl, ch, err := r.interval(&ap.mechs[0], c, a)
	if err != nil {
		return 0, 0, err
	}
	sl, sh, err := r.interval(&ap.mechs[1], s2, a)
	if err != nil {
		return 0, 0, err
	}
	ql, qh, err := r.interval(&ap.mechs[2], q4, a)
	if err != nil {
		return 0, 0, err
	}
	cl, ch = math.Max(cl, 1), math.Max(ch, 1)
	sl, sh = sl/2, sh/2
	ql, qh = math.Max(ql/4, 0), math.Max(qh/4, 0)

	s2min := math.Min(sl*sl, sh*sh)
	if sl <= 0 && sh >= 0 {
		s2min = 0
	}
	s2max := math.Max(sl*sl, sh*sh)
	f := func(q, ss, u float64) float64 { return q*u - ss*u*u }
	uLo, uHi := 1/ch, 1/cl
	u := uHi
	if s2min > 0 {
		u = clamp(qh/(2*s2min), uLo, uHi)
	}
	fmax := f(qh, s2min, u)
	fmin := math.Min(f(ql, s2max, uLo), f(ql, s2max, uHi))
	maxV := maxVariance(ap)
	lo, hi = clamp(fmin, 0, maxV), clamp(fmax, 0, maxV)
	if !ap.agg.Pop {
		nLo := math.Max(math.Ceil(cl), 2)
		nHi := math.Max(math.Floor(ch), 2)
		if nLo > nHi { // no integer in the box: its coverage failed anyway
			nLo, nHi = nHi, nLo
		}
		lo *= nHi / (nHi - 1)
		hi *= nLo / (nLo - 1)
	}
	return lo, hi, nil
}
