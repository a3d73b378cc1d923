// Package risk is Sluice's risk circuit breaker: it watches the stream of
// queries run under each authorization and reports, as they happen, the
// patterns that abuse looks like, so that the service can suspend the
// authorization before a human notices.
//
// The package is pure logic: it performs no I/O, keeps its state in memory and
// takes its clock from the caller. The service feeds one Observation per query
// (answered or refused) to Breaker.Observe and acts on the Trips it returns;
// a reviewer's reinstatement calls Breaker.Reset.
//
// Four rules are watched:
//
//   - risk.refusal_rate: one principal's queries under one authorization are
//     mostly refused (probing the analyser or the policy);
//   - risk.query_rate: one principal runs too many queries under one
//     authorization in a short time;
//   - risk.burn_rate: the authorization's ε is spent too fast;
//   - risk.differencing: a burst of answered queries of one shape that differ
//     only in their filter constants (a differencing attack), with a lower
//     threshold when the filter isolates one privacy unit or attribute value.
package risk

import "time"

// Rule identifiers, as carried by Trip.Rule.
const (
	RuleRefusalRate  = "risk.refusal_rate"
	RuleQueryRate    = "risk.query_rate"
	RuleBurnRate     = "risk.burn_rate"
	RuleDifferencing = "risk.differencing"
)

// DefaultMaxObservations is the number of observations kept per authorization
// when Rules.MaxObservations is not positive.
const DefaultMaxObservations = 10000

// RefusalRate trips when more than MaxFraction of one principal's queries
// under one authorization in Window were refused, once there are at least
// MinQueries of them. The rule is off when Disabled is set or Window or
// MaxFraction is not positive.
type RefusalRate struct {
	Disabled    bool          `json:"disabled,omitempty"`
	Window      time.Duration `json:"window"`
	MinQueries  int           `json:"min_queries"`
	MaxFraction float64       `json:"max_fraction"`
}

// QueryRate trips when one principal runs more than Max queries (answered or
// refused) under one authorization in Window. The rule is off when Disabled is
// set or Window or Max is not positive.
type QueryRate struct {
	Disabled bool          `json:"disabled,omitempty"`
	Window   time.Duration `json:"window"`
	Max      int           `json:"max"`
}

// BurnRate trips when the ε spent under one authorization in Window, by all
// its principals, exceeds MaxFraction of the authorization's total ε. The rule
// is off when Disabled is set or Window or MaxFraction is not positive.
type BurnRate struct {
	Disabled    bool          `json:"disabled,omitempty"`
	Window      time.Duration `json:"window"`
	MaxFraction float64       `json:"max_fraction"`
}

// Differencing trips when, under one authorization in Window, answered
// queries of one Shape come in more than Max distinct Filters, or more than
// MaxIsolating distinct Filters among those marked Isolating. The rule is off
// when Disabled is set or Window is not positive; either threshold is off
// when it is not positive.
type Differencing struct {
	Disabled     bool          `json:"disabled,omitempty"`
	Window       time.Duration `json:"window"`
	Max          int           `json:"max"`
	MaxIsolating int           `json:"max_isolating"`
}

// Rules are the breaker's settings. The zero Rules turns every rule off.
type Rules struct {
	RefusalRate  RefusalRate  `json:"refusal_rate"`
	QueryRate    QueryRate    `json:"query_rate"`
	BurnRate     BurnRate     `json:"burn_rate"`
	Differencing Differencing `json:"differencing"`
	// MaxObservations caps the observations kept per authorization; the
	// oldest go first. Not positive means DefaultMaxObservations.
	MaxObservations int `json:"max_observations,omitempty"`
}

// DefaultRules returns the default settings: more than half of at least 10
// queries refused in 10 minutes; more than 60 queries in a minute; more than
// half of the authorization's ε spent in an hour; more than 8 filter variants
// of one query shape, or more than 3 isolating ones, in 10 minutes.
func DefaultRules() Rules {
	return Rules{
		RefusalRate:     RefusalRate{Window: 10 * time.Minute, MinQueries: 10, MaxFraction: 0.5},
		QueryRate:       QueryRate{Window: time.Minute, Max: 60},
		BurnRate:        BurnRate{Window: time.Hour, MaxFraction: 0.5},
		Differencing:    Differencing{Window: 10 * time.Minute, Max: 8, MaxIsolating: 3},
		MaxObservations: DefaultMaxObservations,
	}
}

func (r RefusalRate) on() bool { return !r.Disabled && r.Window > 0 && r.MaxFraction > 0 }
func (r QueryRate) on() bool   { return !r.Disabled && r.Window > 0 && r.Max > 0 }
func (r BurnRate) on() bool    { return !r.Disabled && r.Window > 0 && r.MaxFraction > 0 }
func (r Differencing) on() bool {
	return !r.Disabled && r.Window > 0 && (r.Max > 0 || r.MaxIsolating > 0)
}

// horizon is the longest window of the rules that are on: older observations
// count for nothing.
func (r Rules) horizon() time.Duration {
	var h time.Duration
	if r.RefusalRate.on() {
		h = max(h, r.RefusalRate.Window)
	}
	if r.QueryRate.on() {
		h = max(h, r.QueryRate.Window)
	}
	if r.BurnRate.on() {
		h = max(h, r.BurnRate.Window)
	}
	if r.Differencing.on() {
		h = max(h, r.Differencing.Window)
	}
	return h
}

// Observation is one query as the breaker sees it: who ran it under which
// authorization, whether it was refused, the ε it spent and its shape.
type Observation struct {
	// Time is when the query ran; zero means the breaker's clock.
	Time          time.Time
	Principal     string // the subject
	Organisation  string
	Authorization string
	// Refused marks a query refused at analysis, policy or budget.
	Refused bool
	// RefusalRule is the refusing rule's id, e.g. "sql.table_function".
	RefusalRule string
	// Epsilon is the ε this query spent. NaN or negative counts as 0, more
	// than a million (+Inf included) as a million.
	Epsilon float64
	// BudgetEpsilon is the authorization's total ε.
	BudgetEpsilon float64
	// Shape is the plan with its filter constants masked; empty when there is
	// no plan (a query refused at analysis).
	Shape string
	// Filter is the filter constants, rendered.
	Filter string
	// Isolating marks a filter that isolates one privacy unit or one
	// attribute value, e.g. credit_code = '…'.
	Isolating bool
}

// Trip is one rule tripping under one authorization.
type Trip struct {
	Rule          string    `json:"rule"`
	Principal     string    `json:"principal"`
	Organisation  string    `json:"organisation"`
	Authorization string    `json:"authorization"`
	At            time.Time `json:"at"`
	Reason        string    `json:"reason"` // human-readable, with the numbers
}
