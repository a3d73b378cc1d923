package privacy

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"

	"sluice"
)

// Release adds noise to a bounded query result and returns what may leave
// Sluice. groups is the sandbox's pre-noise result (see Group and Partial);
// the budget is split as Split describes, and the release's Epsilon, Delta
// and Charges are Split's.
//
// Group selection uses only noisy unit counts, never true ones. Each group's
// unit count gets noise (L0 groups per unit, L∞ = 1, the units ε); the noise
// is continuous (AddNoiseFloat64), because the library's Threshold is
// defined for continuous noise, and rounding it to an integer before
// comparing would lower the effective threshold by up to ½.
//
//   - Data-derived keys (plan.PublicGroups false and at least one key): a
//     group is kept only if its noisy unit count is at least τ, the library's
//     Threshold for the units mechanism and the selection δ (DP partition
//     selection by thresholding, as dpagg.Count.ThresholdedResult), and at
//     least ob.MinUnits. Withheld groups are neither named nor counted; one
//     Suppression with rule release.partition_selection states τ.
//   - Public keys: groups must be exactly every combination of the declared
//     domains (zero partials for combinations absent from the data); keys
//     outside the domains are dropped. Each combination is released unless
//     its noisy unit count is below ob.MinUnits (MinUnits ≤ 0: never); the
//     suppressed keys are named under rule release.min_units. A query without
//     group keys has one public group.
//
// Groups are processed in key order (domain order for public keys) and at
// most ob.MaxGroups (default 10000) are released; if more pass, the rest are
// dropped and a note says so. Release is NewSelection, Add for each group
// and Selection.Release; a caller that streams the sandbox's result uses
// those directly (see Selection).
//
// Each aggregate gets its own noise with the library, in fixed point
// (lo' = round(Lower·10^Scale), hi' likewise, W = hi' − lo'):
//
//   - count: AddNoiseInt64 on Partial.Count with (L0, L∞).
//   - count_units: the unit count drawn for selection, rounded; no extra
//     noise and no extra charge.
//   - sum: AddNoiseInt64 on Partial.Sum with (L0, L∞·max(|lo'|, |hi'|)),
//     divided by 10^Scale.
//   - avg: dpagg.BoundedMean's algorithm: a noisy count c and a noisy
//     normalised sum s (noise on the doubled sum with sensitivity L∞·W, then
//     halved); mean = mid' + s/max(c, 1), clamped to [lo', hi'].
//   - var, stddev: dpagg.BoundedVariance's algorithm with a noisy count, a
//     noisy normalised sum and a noisy normalised sum of squares (noise on
//     the quadrupled sum with sensitivity L∞·W², then quartered); the
//     population variance is clamped to [0, (W/2)²]. Unless Pop, it is then
//     multiplied by c/(c−1) when the noisy count c exceeds 1 (Bessel's
//     correction), so a sample variance lies in [0, 2·((Upper−Lower)/2)²].
//     stddev is the square root of the variance.
//   - quantile: the quantile tree of dpagg.BoundedQuantiles (height 3,
//     branching 16, the rewriter's 4,096 leaves) over [Lower, Upper], its
//     nodes noised with the library's AddNoiseFloat64 for L0 = 3·L0 and
//     L∞ = L∞, and the library's walk for the estimate (see quantile.go).
//
// Every number carries a 95 % confidence interval for the value after
// contribution bounding and before noise (bounding bias is not included);
// count and sum use the library's intervals, avg, var and stddev intervals
// derived from them (see meanInterval and varianceInterval), quantiles an
// interval from their noisy tree (see quantile.go).
//
// Rows follow plan.Outputs: keys as Value{Key}, aggregates as
// Value{Number, CI}. HAVING, ORDER BY and LIMIT are applied elsewhere.
// Release is safe for concurrent use; refusals are *sluice.Error values as
// in Split, and inputs that break the Group contract (shapes, duplicate
// keys among the groups kept) are EINTERNAL errors whose messages carry no
// data.
func Release(plan *sluice.Plan, ob sluice.Obligations, groups []Group) (*sluice.Release, error) {
	s, err := NewSelection(plan, ob)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := s.Add(g); err != nil {
			return nil, err
		}
	}
	return s.Release()
}

// Release draws the noise for the selected groups and returns what may
// leave Sluice, as the package-level Release describes. Call it once, after
// the last Add.
func (s *Selection) Release() (*sluice.Release, error) {
	if s.released {
		// A second release would draw fresh noise under the same charge.
		return nil, internal("release.twice", "the selection was already released")
	}
	s.released = true
	if _, err := s.Groups(); err != nil {
		return nil, err
	}
	plan, ob, b := s.plan, s.ob, s.b
	r := &releaser{b: b, ob: ob, offsets: map[offsetKey][2]float64{}, tails: map[*mechanism]*tailBounds{}}
	rel := &sluice.Release{
		Rows:    [][]sluice.Value{},
		Epsilon: b.epsilon,
		Delta:   b.delta,
		Charges: append([]sluice.Charge(nil), b.charges...),
	}
	for _, o := range plan.Outputs {
		if o.Group >= 0 {
			rel.Columns = append(rel.Columns, sluice.ReleaseColumn{Name: o.Name, Kind: "group"})
		} else {
			rel.Columns = append(rel.Columns, sluice.ReleaseColumn{Name: o.Name, Kind: "aggregate", Func: plan.Aggregates[o.Agg].Func})
		}
	}

	all := s.entries()
	var suppressed [][]any
	truncated := !b.public && s.passed > s.max
	for i := range all {
		g, units := &all[i].g, all[i].units
		if u := b.units; b.public && u != nil {
			var err error
			units, err = b.nz.AddNoiseFloat64(float64(g.Units), u.l0, 1, u.eps, u.noiseDelta)
			if err != nil {
				return nil, fmt.Errorf("privacy: units noise: %w", err)
			}
			if ob.MinUnits > 0 && units < float64(ob.MinUnits) {
				suppressed = append(suppressed, append([]any(nil), g.Keys...))
				continue
			}
		}
		if len(rel.Rows) == s.max {
			truncated = true
			break
		}
		row, err := r.row(plan, *g, units)
		if err != nil {
			return nil, err
		}
		rel.Rows = append(rel.Rows, row)
	}

	if b.public && len(suppressed) > 0 {
		rel.Suppressed = append(rel.Suppressed, sluice.Suppression{
			Rule:   "release.min_units",
			Reason: fmt.Sprintf("the noisy number of privacy units is below the minimum of %d", ob.MinUnits),
			Keys:   suppressed,
			Count:  len(suppressed),
		})
	}
	if !b.public {
		minimum := ""
		if ob.MinUnits > 0 {
			minimum = fmt.Sprintf(" and the minimum of %d units", ob.MinUnits)
		}
		rel.Suppressed = append(rel.Suppressed, sluice.Suppression{
			Rule: "release.partition_selection",
			Reason: fmt.Sprintf("group keys come from the data: a group is released only if its noisy number of privacy units reaches τ = %.4g (partition selection at ε = %g, δ = %g)%s; groups below are withheld and neither named nor counted, because their number would itself leak",
				s.tau, b.units.eps, b.units.thresholdDelta, minimum),
		})
	}
	if truncated {
		rel.Notes = append(rel.Notes, fmt.Sprintf("More groups passed than the cap of %d: only the first %d in key order are released.", s.max, s.max))
	}
	rel.Notes = append(rel.Notes, notes(plan)...)
	return rel, nil
}

// notes explains the released intervals, once per kind of aggregate used.
func notes(plan *sluice.Plan) []string {
	var has = map[sluice.AggFunc]bool{}
	for _, a := range plan.Aggregates {
		has[a.Func] = true
	}
	var n []string
	if len(plan.Aggregates) > 0 {
		n = append(n, "Confidence intervals are 95 % intervals for the value after contribution bounding and clamping, before noise; they do not include the bias of bounding.")
	}
	if has[sluice.AggAvg] || has[sluice.AggVar] || has[sluice.AggStddev] {
		n = append(n, "avg, var and stddev are ratios of noisy sums to a noisy count (clamped to at least 1) and are clamped to their bounds, so they are biased for small groups; their intervals are derived conservatively from the intervals of the noisy count and sums.")
	}
	if has[sluice.AggQuantile] {
		n = append(n, "Quantiles (median, min, max, quantile) come from a noisy quantile tree over the sampled rows (at most L∞ per unit and group); min and max are its 0.5 % and 99.5 % quantiles. Their 95 % intervals cover the quantile of those rows, to 1/4096 of the bounds' range, and are conservative.")
	}
	return n
}

// offsetKey identifies a cached confidence-interval offset.
type offsetKey struct {
	m     *mechanism
	alpha float64
	float bool
}

// releaser holds one release's state.
type releaser struct {
	b       *budget
	ob      sluice.Obligations
	offsets map[offsetKey][2]float64
	tails   map[*mechanism]*tailBounds // quantile trees' noise bounds
}

// offset returns the library's (1−alpha) interval for a value of 0 with m's
// noise: the noise is symmetric and data-independent, so the interval of a
// noisy value v is v plus this offset.
func (r *releaser) offset(m *mechanism, alpha float64, float bool) ([2]float64, error) {
	k := offsetKey{m, alpha, float}
	if o, ok := r.offsets[k]; ok {
		return o, nil
	}
	var ci noise.ConfidenceInterval
	var err error
	if float {
		ci, err = r.b.nz.ComputeConfidenceIntervalFloat64(0, m.l0, m.sens, m.eps, m.noiseDelta, alpha)
	} else {
		ci, err = r.b.nz.ComputeConfidenceIntervalInt64(0, m.l0, int64(m.sens), m.eps, m.noiseDelta, alpha)
	}
	if err != nil {
		return [2]float64{}, fmt.Errorf("privacy: confidence interval: %w", err)
	}
	o := [2]float64{ci.LowerBound, ci.UpperBound}
	r.offsets[k] = o
	return o, nil
}

// interval returns the (1−alpha) interval of an integer noisy value.
func (r *releaser) interval(m *mechanism, v int64, alpha float64) (lo, hi float64, err error) {
	o, err := r.offset(m, alpha, false)
	if err != nil {
		return 0, 0, err
	}
	return float64(v) + o[0], float64(v) + o[1], nil
}

// noisy adds m's noise to an integral partial.
func (r *releaser) noisy(m *mechanism, x int64) (int64, error) {
	v, err := r.b.nz.AddNoiseInt64(x, m.l0, int64(m.sens), m.eps, m.noiseDelta)
	if err != nil {
		return 0, fmt.Errorf("privacy: noise: %w", err)
	}
	return v, nil
}

// integral returns a partial sum as int64. Partials are integers in fixed
// point by construction; the value is rounded and clamped to ±2^62, which
// never increases its sensitivity.
func integral(x float64) int64 {
	if math.IsNaN(x) {
		return 0
	}
	const lim = 1 << 62
	return int64(math.Round(math.Max(-lim, math.Min(lim, x))))
}

// row computes one released row.
func (r *releaser) row(plan *sluice.Plan, g Group, units float64) ([]sluice.Value, error) {
	vals := make([]*sluice.Value, len(plan.Aggregates))
	row := make([]sluice.Value, len(plan.Outputs))
	for i, o := range plan.Outputs {
		if o.Group >= 0 {
			row[i] = sluice.Value{Key: g.Keys[o.Group]}
			continue
		}
		if vals[o.Agg] == nil {
			v, err := r.aggregate(o.Agg, g.Aggs[o.Agg], units)
			if err != nil {
				return nil, err
			}
			vals[o.Agg] = &v
		}
		row[i] = *vals[o.Agg]
	}
	// An aggregate no output refers to is charged by Split but not computed.
	return row, nil
}

// number returns a released number and its interval.
func number(v, lo, hi float64) sluice.Value {
	return sluice.Value{Number: &v, CI: &sluice.Interval{Lower: lo, Upper: hi}}
}

// aggregate computes aggregate i of one group.
func (r *releaser) aggregate(i int, p Partial, units float64) (sluice.Value, error) {
	ap := &r.b.aggs[i]
	switch ap.agg.Func {
	case sluice.AggCountUnits:
		return r.units(units)
	case sluice.AggCount:
		m := &ap.mechs[0]
		c, err := r.noisy(m, p.Count)
		if err != nil {
			return sluice.Value{}, err
		}
		lo, hi, err := r.interval(m, c, ciAlpha)
		if err != nil {
			return sluice.Value{}, err
		}
		return number(float64(c), lo, hi), nil
	case sluice.AggSum:
		m := &ap.mechs[0]
		s, err := r.noisy(m, integral(p.Sum))
		if err != nil {
			return sluice.Value{}, err
		}
		lo, hi, err := r.interval(m, s, ciAlpha)
		if err != nil {
			return sluice.Value{}, err
		}
		return number(float64(s)/ap.scale, lo/ap.scale, hi/ap.scale), nil
	case sluice.AggAvg:
		return r.mean(ap, p)
	case sluice.AggVar, sluice.AggStddev:
		return r.variance(ap, p)
	case sluice.AggQuantile:
		return r.quantile(ap, p)
	}
	return sluice.Value{}, internal("release.aggregate", "unknown aggregate %q", ap.agg.Func)
}

// units releases the noisy unit count drawn for selection, rounded to an
// integer (post-processing). Its interval is the library's continuous
// interval, narrowed to integers since the true count is one.
func (r *releaser) units(v float64) (sluice.Value, error) {
	o, err := r.offset(r.b.units, ciAlpha, true)
	if err != nil {
		return sluice.Value{}, err
	}
	n := math.Round(v)
	lo := math.Min(math.Ceil(v+o[0]), n)
	hi := math.Max(math.Floor(v+o[1]), n)
	return number(n, lo, hi), nil
}

// mean releases an avg.
func (r *releaser) mean(ap *aggPlan, p Partial) (sluice.Value, error) {
	mc, ms := &ap.mechs[0], &ap.mechs[1]
	c, err := r.noisy(mc, p.Count)
	if err != nil {
		return sluice.Value{}, err
	}
	s2, err := r.noisy(ms, integral(p.Sum))
	if err != nil {
		return sluice.Value{}, err
	}
	mid := (ap.lo + ap.hi) / 2
	m := clamp(mid+float64(s2)/2/math.Max(1, float64(c)), ap.lo, ap.hi)
	lo, hi, err := r.meanInterval(ap, c, s2)
	if err != nil {
		return sluice.Value{}, err
	}
	return number(m/ap.scale, lo/ap.scale, hi/ap.scale), nil
}

// variance releases a var or stddev.
func (r *releaser) variance(ap *aggPlan, p Partial) (sluice.Value, error) {
	mc, ms, mq := &ap.mechs[0], &ap.mechs[1], &ap.mechs[2]
	c, err := r.noisy(mc, p.Count)
	if err != nil {
		return sluice.Value{}, err
	}
	s2, err := r.noisy(ms, integral(p.Sum))
	if err != nil {
		return sluice.Value{}, err
	}
	q4, err := r.noisy(mq, integral(p.SumSq))
	if err != nil {
		return sluice.Value{}, err
	}
	n := math.Max(1, float64(c))
	mean := float64(s2) / 2 / n
	v := clamp(float64(q4)/4/n-mean*mean, 0, maxVariance(ap))
	if !ap.agg.Pop && n > 1 {
		v *= n / (n - 1)
	}
	lo, hi, err := r.varianceInterval(ap, c, s2, q4)
	if err != nil {
		return sluice.Value{}, err
	}
	sc2 := ap.scale * ap.scale
	v, lo, hi = v/sc2, lo/sc2, hi/sc2
	if ap.agg.Func == sluice.AggStddev {
		v, lo, hi = math.Sqrt(v), math.Sqrt(lo), math.Sqrt(hi)
	}
	return number(v, lo, hi), nil
}

// maxVariance is the largest population variance in fixed point, (W/2)².
func maxVariance(ap *aggPlan) float64 {
	h := (ap.hi - ap.lo) / 2
	return h * h
}

// quantile releases a quantile and its interval from a noisy quantile
// tree (see quantile.go).
func (r *releaser) quantile(ap *aggPlan, p Partial) (sluice.Value, error) {
	m := &ap.mechs[0]
	tail, ok := r.tails[m]
	if !ok {
		var err error
		if tail, err = newTailBounds(r.b.kind == sluice.NoiseGaussian, m.l0, m.sens, m.eps, m.noiseDelta); err != nil {
			return sluice.Value{}, err
		}
		r.tails[m] = tail
	}
	t := newQuantileTree(ap.agg.Lower, ap.agg.Upper, p.Buckets, func(c int64) (float64, error) {
		v, err := r.b.nz.AddNoiseFloat64(float64(c), m.l0, m.sens, m.eps, m.noiseDelta)
		if err != nil {
			return 0, fmt.Errorf("privacy: quantile tree: %w", err)
		}
		return v, nil
	}, tail)
	q := clamp(ap.agg.Quantile, 0.005, 0.995) // as the library's adjustRank
	v, err := t.estimate(q)
	if err != nil {
		return sluice.Value{}, err
	}
	lo, hi, err := t.interval(q, v)
	if err != nil {
		return sluice.Value{}, err
	}
	return number(v, lo, hi), nil
}

// clamp limits x to [lo, hi].
func clamp(x, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, x))
}
