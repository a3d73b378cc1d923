package sluice

// Interval is a confidence interval around a released value.
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Value is one released cell: a group key (Key) or a noisy aggregate (Number
// with its 95 % confidence interval).
type Value struct {
	Key    any       `json:"key,omitempty"`
	Number *float64  `json:"value,omitempty"`
	CI     *Interval `json:"ci95,omitempty"`
}

// Suppression records why groups were withheld. For keys from a public
// domain the key is named; for keys derived from the data it is not, and
// neither is their number (that number would itself leak).
type Suppression struct {
	Rule   string  `json:"rule"` // e.g. release.min_units, release.partition_selection
	Reason string  `json:"reason"`
	Keys   [][]any `json:"keys,omitempty"`
	Count  int     `json:"count,omitempty"`
}

// Charge is the part of a query's budget one mechanism used.
type Charge struct {
	What      string  `json:"what"`      // "units (selection + threshold)", "sum(tax_paid)", …
	Mechanism string  `json:"mechanism"` // laplace, gaussian
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	L0        int64   `json:"l0"`
	Linf      float64 `json:"linf"` // L∞ sensitivity in the value's own units
}

// ReleaseColumn describes one column of a release.
type ReleaseColumn struct {
	Name string  `json:"name"`
	Kind string  `json:"kind"` // group, aggregate
	Func AggFunc `json:"func,omitempty"`
}

// Release is what leaves Sluice: noisy values, suppressed groups, and the
// budget the release cost.
type Release struct {
	Columns    []ReleaseColumn `json:"columns"`
	Rows       [][]Value       `json:"rows"`
	Suppressed []Suppression   `json:"suppressed,omitempty"`
	Epsilon    float64         `json:"epsilon"`
	Delta      float64         `json:"delta"`
	Charges    []Charge        `json:"charges"`
	Notes      []string        `json:"notes,omitempty"`
	// Cached is set when the release is a stored answer to the same
	// canonical query: it cost nothing now.
	Cached bool `json:"cached,omitempty"`
}
