package privacy

// Group is one group of a bounded query's raw result, as the sandbox computes
// it from the rewritten SQL. It never leaves the process: only Release's
// output does.
//
// Contribution bounding has already happened in DuckDB: each privacy unit
// contributes to at most L0 groups, and within a group its contribution is the
// expectation of a uniform sample of at most Linf of its rows (count
// min(n, Linf); sums scaled by min(1, Linf/n), rounded, and clamped to the
// bound). Values are in fixed point: x' = round(x·10^Scale) clamped to
// [lo', hi'] = [Lower·10^Scale, Upper·10^Scale].
//
// Release computes lo' and hi' as math.Round(Lower·10^Scale) and
// math.Round(Upper·10^Scale) (halves away from zero, like DuckDB's ROUND)
// and calibrates noise to them, so the sandbox must clamp to exactly these
// integers. Sum and SumSq are integers by construction.
type Group struct {
	Keys  []any // one per plan group key
	Units int64 // distinct units contributing to this group (each to ≤ L0 groups)
	Aggs  []Partial
}

// Partial is the pre-noise state of one aggregate of one group, in the same
// order as Plan.Aggregates.
type Partial struct {
	// Count is Σ over units of min(n_u, Linf) (count, avg, var, stddev).
	Count int64
	// Sum is, for sum, Σ_u clamp(round(Σx'·f_u), min(0, Linf·lo'),
	// max(0, Linf·hi')) where f_u = min(1, Linf/n_u) (a unit without values
	// adds 0, so 0 is inside the clamp; the sensitivity Linf·max(|lo'|, |hi'|)
	// covers it). For avg, var and stddev it is the doubled normalised sum:
	// Σ_u clamp(round(Σd·f_u), ±Linf·W) with d = 2x' − (lo'+hi') and
	// W = hi' − lo'. Each unit's term is an exact integer; the group's total
	// leaves DuckDB as DOUBLE, exact up to 2^53 (beyond, rounding moves it by
	// at most one unit in the last place, far below the noise).
	Sum float64
	// SumSq is, for var and stddev, Σ_u clamp(round(Σd²·f_u), 0, Linf·W²).
	SumSq float64
	// Buckets is, for quantiles, the sampled rows (≤ Linf per unit per group)
	// as (value, count) pairs, values already clamped to [Lower, Upper].
	Buckets []Bucket
}

// Bucket is a value and how many sampled rows had it.
type Bucket struct {
	Value float64
	Count int64
}
