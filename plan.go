package sluice

// AggFunc is an aggregate Sluice can release privately.
type AggFunc string

// Aggregates of the supported subset.
const (
	AggCount      AggFunc = "count"       // COUNT(*) or COUNT(col): bounded rows
	AggCountUnits AggFunc = "count_units" // COUNT(DISTINCT unit): privacy units
	AggSum        AggFunc = "sum"
	AggAvg        AggFunc = "avg"
	AggVar        AggFunc = "var"      // sample variance (VAR_SAMP, VARIANCE); population with Pop
	AggStddev     AggFunc = "stddev"   // sqrt of the private variance
	AggQuantile   AggFunc = "quantile" // MEDIAN, QUANTILE_CONT/DISC, and MIN (q=0) / MAX (q=1)
)

// Aggregate is one aggregate output of a query.
type Aggregate struct {
	Name string  `json:"name"`          // output column name
	Func AggFunc `json:"func"`          // what is released
	SQL  string  `json:"sql"`           // the analyst's expression, as DuckDB printed it
	Arg  string  `json:"arg,omitempty"` // the argument, rendered; empty for COUNT(*)
	// Lower and Upper are the clamping bounds of the argument (in its own
	// units); Scale is its fixed-point digits.
	Lower float64 `json:"lower,omitempty"`
	Upper float64 `json:"upper,omitempty"`
	Scale int     `json:"scale,omitempty"`
	// Quantile is the rank of a quantile aggregate, in [0, 1].
	Quantile float64 `json:"quantile,omitempty"`
	// Pop marks a population (not sample) variance or deviation.
	Pop bool `json:"pop,omitempty"`
	// Original is the analyst's function name (min, max, median, …).
	Original string `json:"original"`
}

// GroupKey is one GROUP BY key.
type GroupKey struct {
	Name string `json:"name"` // output column name
	SQL  string `json:"sql"`  // the expression, rendered
	// Domain is the declared public domain of the key, when the key is a
	// dimension column whose manifest declares one. Keys without a domain come
	// from the data and go through partition selection.
	Domain []string `json:"domain,omitempty"`
}

// ColumnUse records that a query reads a dataset column, and how.
type ColumnUse struct {
	Dataset string     `json:"dataset"`
	Column  string     `json:"column"`
	Role    ColumnRole `json:"role"`
	Usage   string     `json:"usage"` // filter, group, aggregate, join
}

// Output is one column of the released table, in SELECT order.
type Output struct {
	Name  string `json:"name"`
	Group int    `json:"group"`     // index into Plan.Groups, or -1
	Agg   int    `json:"aggregate"` // index into Plan.Aggregates, or -1
}

// Condition is a HAVING predicate evaluated on released (noisy) values.
type Condition struct {
	Op    string       `json:"op"` // and, or, not, =, <>, <, <=, >, >=, is_null, is_not_null
	Args  []*Condition `json:"args,omitempty"`
	Out   int          `json:"output"`          // an output column for comparisons; -1 for a literal
	Value any          `json:"value,omitempty"` // the literal of a comparison
}

// OrderTerm orders the released rows.
type OrderTerm struct {
	Out  int  `json:"output"`
	Desc bool `json:"desc,omitempty"`
}

// Plan describes what a query reads and computes. It is built from the
// analyst's SQL by query.Analyze, judged by the policy, and carried out by
// the rewriter, the sandbox and the release.
type Plan struct {
	SQL        string      `json:"sql"`
	Digest     string      `json:"digest"` // hash of the canonical (normalised) plan
	Datasets   []string    `json:"datasets"`
	Population string      `json:"population"`
	Columns    []ColumnUse `json:"columns"`
	Groups     []GroupKey  `json:"groups"`
	Aggregates []Aggregate `json:"aggregates"`
	Outputs    []Output    `json:"outputs"`
	Filters    []string    `json:"filters,omitempty"` // WHERE and JOIN conditions, rendered
	Having     *Condition  `json:"having,omitempty"`
	OrderBy    []OrderTerm `json:"order_by,omitempty"`
	Limit      int64       `json:"limit,omitempty"` // 0 = none
	// PublicGroups is true when every group key has a declared domain: every
	// combination is released (after the noisy minimum-unit threshold).
	PublicGroups bool `json:"public_groups"`
	// Shape is the digest with the filters' constants masked: queries that
	// differ only in filter values share it (a differencing signal).
	Shape string `json:"shape"`
	// Isolating is set when a filter compares the privacy unit or an
	// attribute with a constant (WHERE credit_code = '…').
	Isolating bool `json:"isolating,omitempty"`
}

// Noise kinds.
const (
	NoiseLaplace  = "laplace"
	NoiseGaussian = "gaussian"
)

// Obligations are what the policy requires of a query it allows; Go enforces
// them.
type Obligations struct {
	Epsilon    float64   `json:"epsilon"`    // ε charged for this query
	Delta      float64   `json:"delta"`      // δ charged for this query
	MinUnits   int64     `json:"min_units"`  // minimum noisy units per released group
	L0         int64     `json:"l0"`         // groups per unit
	Linf       int64     `json:"linf"`       // rows per unit per group
	Noise      string    `json:"noise"`      // laplace or gaussian
	Aggregates []AggFunc `json:"aggregates"` // allowed aggregate kinds; empty = all
	MaxGroups  int       `json:"max_groups"` // cap on released groups; 0 = default
}

// The quantile tree: the rewriter sends sampled values at the midpoints of
// QuantileBranching^QuantileTreeHeight equal leaves between a measure's
// bounds, and the release builds its noisy tree over the same leaves.
const (
	QuantileTreeHeight = 3
	QuantileBranching  = 16
	QuantileLeaves     = QuantileBranching * QuantileBranching * QuantileBranching // Branching^Height
)
