// Package privacy turns the bounded, pre-noise result of a query (see Group
// and Partial) into a differentially private sluice.Release.
//
// All noise comes from github.com/google/differential-privacy/go/v3 (packages
// noise and dpagg), whose samplers draw from crypto/rand and protect against
// floating-point attacks. Every parameter is validated here before the
// library sees it, because the library hangs on some overflowing inputs and
// silently defaults others.
//
// Split divides a query's ε and δ over its mechanisms; it depends only on the
// plan and the obligations, never on the data. Release draws the noise,
// selects the groups that may be released and attaches a 95 % confidence
// interval to every number.
package privacy

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"

	"sluice"
)

const (
	// maxL1 bounds L0·L∞ of every mechanism, in the units the noise is added
	// in. Above it the library's int64 sensitivity arithmetic can overflow
	// and its sampler spin forever.
	maxL1 = 1 << 53
	// maxScale bounds the fixed-point digits of an aggregate's argument.
	maxScale = 18
	// defaultMaxGroups caps released groups when Obligations.MaxGroups is 0.
	defaultMaxGroups = 10000
	// ciAlpha is one minus the confidence level of released intervals.
	ciAlpha = 0.05
)

// minEpsilon is the smallest ε the library accepts (2^-50).
var minEpsilon = math.Exp2(-50)

// mechanism is one noisy quantity of a query and its parameters. sens is the
// L∞ sensitivity in the units the noise is added in (fixed point for sums).
type mechanism struct {
	charge         int // index into budget.charges
	eps            float64
	noiseDelta     float64 // δ passed to the noise (0 for Laplace)
	thresholdDelta float64 // δ of partition selection (units only)
	l0             int64
	sens           float64
	valueLinf      float64 // sens in the value's own units (Charge.Linf)
}

// aggPlan is how one aggregate is computed. mechs holds, in order: count:
// [count]; sum: [sum]; avg: [count, sum]; var and stddev: [count, sum, sum of
// squares]; quantile: [tree]; count_units: none.
type aggPlan struct {
	agg   sluice.Aggregate
	lo    float64 // round(Lower·10^Scale)
	hi    float64 // round(Upper·10^Scale)
	scale float64 // 10^Scale
	mechs []mechanism
}

// budget is the data-independent plan of a release: which noise, which
// mechanisms, and what each is charged.
type budget struct {
	kind    string
	nz      noise.Noise
	public  bool       // group keys are public: no partition selection
	units   *mechanism // nil when no output or decision needs the unit count
	aggs    []aggPlan
	charges []sluice.Charge
	epsilon float64 // Σ charges' ε, summed in order
	delta   float64 // Σ charges' δ, summed in order
}

// Split returns the explicit, data-independent division of ob.Epsilon and
// ob.Delta across the mechanisms of one query, in the order Release uses
// them: the noisy unit count first ("units"), then each aggregate's
// mechanisms in plan order.
//
// ε is divided into equal shares: one for the units count (partition
// selection, the minimum-unit threshold and every COUNT(DISTINCT unit)
// output share it), one per count, sum and quantile, two per avg (count and
// normalised sum) and three per var or stddev (count, normalised sum,
// normalised sum of squares). The units share is omitted when nothing needs
// it: public groups, MinUnits ≤ 0, no COUNT(DISTINCT unit) and at least one
// other aggregate.
//
// Group keys are public when plan.PublicGroups is set or the query has no
// group key (one global group); otherwise they are data-derived.
//
// With Laplace noise, δ goes entirely to partition selection when the group
// keys are data-derived, and Split refuses δ = 0 then; with public keys δ is
// not used and every charge's δ is 0 (so the total δ is 0, not ob.Delta).
// With Gaussian noise, δ is divided into equal slots, one per ε share plus
// one for partition selection when the keys are data-derived; the units
// charge carries both its noise slot and the selection slot.
//
// The last charge absorbs the rounding remainder, so that adding the
// charges' ε (and δ) in order gives exactly ob.Epsilon (and ob.Delta, or 0
// as above). All parameters are validated; a refusal is a *sluice.Error with
// Code EINVALID (or EFORBIDDEN for an aggregate the obligations do not
// allow) and Step StepRelease.
func Split(plan *sluice.Plan, ob sluice.Obligations) ([]sluice.Charge, error) {
	b, err := newBudget(plan, ob)
	if err != nil {
		return nil, err
	}
	return b.charges, nil
}

// invalid returns a release-step EINVALID refusal.
func invalid(rule, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.EINVALID, Step: sluice.StepRelease, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// internal returns a release-step EINTERNAL error for broken inputs.
func internal(rule, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.EINTERNAL, Step: sluice.StepRelease, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// checkDomains refuses public group keys whose declared domains have more
// than maxDomainGroups distinct combinations, or a public key without one.
func checkDomains(plan *sluice.Plan) error {
	if !plan.PublicGroups {
		return nil
	}
	product := 1
	for _, gk := range plan.Groups {
		values, _ := distinct(gk.Domain)
		if len(values) == 0 {
			return internal("release.public_groups", "group key %q has no declared domain", gk.Name)
		}
		product *= len(values)
		if product > maxDomainGroups {
			return invalid("release.public_groups", "the declared domains of the group keys have more than %d combinations: group by fewer or coarser keys", maxDomainGroups)
		}
	}
	return nil
}

// isPublic reports whether the plan's groups need no partition selection:
// every key has a declared domain, or there is no key (one global group).
func isPublic(plan *sluice.Plan) bool {
	return plan.PublicGroups || len(plan.Groups) == 0
}

// label names an aggregate in charges, e.g. "sum(tax_paid)".
func label(a sluice.Aggregate) string {
	arg := a.Arg
	if arg == "" {
		arg = "*"
	}
	name := string(a.Func)
	switch a.Func {
	case sluice.AggQuantile:
		return fmt.Sprintf("quantile(%s, %g)", arg, a.Quantile)
	case sluice.AggVar, sluice.AggStddev:
		if a.Pop {
			name += "_pop"
		}
	}
	return name + "(" + arg + ")"
}

// components lists the mechanisms of an aggregate by name suffix.
func components(f sluice.AggFunc) []string {
	switch f {
	case sluice.AggCount, sluice.AggSum, sluice.AggQuantile:
		return []string{""}
	case sluice.AggAvg:
		return []string{"count", "sum"}
	case sluice.AggVar, sluice.AggStddev:
		return []string{"count", "sum", "sum of squares"}
	}
	return nil // count_units
}

// checkL1 refuses a mechanism whose L0·L∞ could overflow the library.
func checkL1(what string, l0 int64, sens float64) error {
	if math.IsNaN(sens) || math.IsInf(sens, 0) || sens < 1 {
		return invalid("release.bounds", "%s: sensitivity %g must be finite and at least 1 (in fixed-point units)", what, sens)
	}
	if sens*float64(l0) > maxL1 {
		return invalid("release.bounds", "%s: bound × contributions (%g × %d) exceeds 2^53; narrow the bounds or the contribution limits", what, sens, l0)
	}
	return nil
}

// newBudget validates the plan and obligations and splits the budget.
func newBudget(plan *sluice.Plan, ob sluice.Obligations) (*budget, error) {
	if plan == nil {
		return nil, internal("release.plan", "no plan")
	}
	b := &budget{kind: ob.Noise, public: isPublic(plan)}
	switch ob.Noise {
	case sluice.NoiseLaplace:
		b.nz = noise.Laplace()
	case sluice.NoiseGaussian:
		b.nz = noise.Gaussian()
	default:
		return nil, invalid("release.noise", "noise %q is not %q or %q", ob.Noise, sluice.NoiseLaplace, sluice.NoiseGaussian)
	}
	if noise.ToKind(b.nz) == noise.Unrecognised {
		return nil, internal("release.noise", "unrecognised noise")
	}
	if math.IsNaN(ob.Epsilon) || math.IsInf(ob.Epsilon, 0) || ob.Epsilon < minEpsilon {
		return nil, invalid("release.epsilon", "ε = %g must be finite and at least 2^-50", ob.Epsilon)
	}
	if math.IsNaN(ob.Delta) || ob.Delta < 0 || ob.Delta >= 1 {
		return nil, invalid("release.delta", "δ = %g must be in [0, 1)", ob.Delta)
	}
	if ob.L0 < 1 {
		return nil, invalid("release.l0", "L0 (groups per unit) = %d must be at least 1", ob.L0)
	}
	if ob.Linf < 1 {
		return nil, invalid("release.linf", "L∞ (rows per unit per group) = %d must be at least 1", ob.Linf)
	}
	if err := checkL1("units", ob.L0, 1); err != nil {
		return nil, err
	}
	if err := checkDomains(plan); err != nil {
		return nil, err
	}
	allowed := map[sluice.AggFunc]bool{}
	for _, f := range ob.Aggregates {
		allowed[f] = true
	}

	// Validate each aggregate and lay out its mechanisms (without ε yet).
	shares := 0
	needUnits := !b.public || ob.MinUnits > 0
	for i, a := range plan.Aggregates {
		if len(allowed) > 0 && !allowed[a.Func] {
			return nil, &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepRelease, Rule: "release.aggregate",
				Message: fmt.Sprintf("aggregate %s (%s) is not allowed by the policy", a.Name, a.Func)}
		}
		ap := aggPlan{agg: a, scale: 1}
		what := label(a)
		switch a.Func {
		case sluice.AggCountUnits:
			needUnits = true
		case sluice.AggCount:
			if err := checkL1(what, ob.L0, float64(ob.Linf)); err != nil {
				return nil, err
			}
			ap.mechs = []mechanism{{l0: ob.L0, sens: float64(ob.Linf), valueLinf: float64(ob.Linf)}}
		case sluice.AggSum, sluice.AggAvg, sluice.AggVar, sluice.AggStddev, sluice.AggQuantile:
			if err := checkBounds(what, a); err != nil {
				return nil, err
			}
			ap.scale = math.Pow10(a.Scale)
			ap.lo = math.Round(a.Lower * ap.scale)
			ap.hi = math.Round(a.Upper * ap.scale)
			linf := float64(ob.Linf)
			w := ap.hi - ap.lo
			// sens is in the units the noise is added in; value is the same
			// sensitivity in the value's own units, for the charge.
			var sens, value []float64
			sc := ap.scale
			switch a.Func {
			case sluice.AggSum:
				m := math.Max(math.Abs(ap.lo), math.Abs(ap.hi))
				sens = []float64{linf * m}
				value = []float64{linf * m / sc}
			case sluice.AggAvg:
				// The doubled normalised sum Σ(2x'−lo'−hi') moves by at most L∞·W.
				sens = []float64{linf, linf * w}
				value = []float64{linf, linf * w / 2 / sc}
			case sluice.AggVar, sluice.AggStddev:
				// The quadrupled normalised sum of squares moves by at most L∞·W².
				sens = []float64{linf, linf * w, linf * w * w}
				value = []float64{linf, linf * w / 2 / sc, linf * w * w / 4 / (sc * sc)}
			case sluice.AggQuantile:
				if math.IsNaN(a.Quantile) || a.Quantile < 0 || a.Quantile > 1 {
					return nil, invalid("release.quantile", "%s: rank %g must be in [0, 1]", what, a.Quantile)
				}
				sens = []float64{linf}
				value = []float64{linf}
			}
			if a.Func != sluice.AggQuantile && a.Func != sluice.AggSum && w < 1 {
				return nil, invalid("release.bounds", "%s: bounds [%g, %g] collapse at scale %d", what, a.Lower, a.Upper, a.Scale)
			}
			l0 := ob.L0
			if a.Func == sluice.AggQuantile {
				l0 = ob.L0 * treeHeight
				if l0/treeHeight != ob.L0 {
					return nil, invalid("release.l0", "L0 = %d is too large", ob.L0)
				}
			}
			for j, s := range sens {
				if err := checkL1(what, l0, s); err != nil {
					return nil, err
				}
				ap.mechs = append(ap.mechs, mechanism{l0: l0, sens: s, valueLinf: value[j]})
			}
		default:
			return nil, invalid("release.aggregate", "aggregate %d (%s): unknown function %q", i, a.Name, a.Func)
		}
		shares += len(ap.mechs)
		b.aggs = append(b.aggs, ap)
	}
	if shares == 0 {
		needUnits = true // something must be charged; the units count is the cheapest
	}
	if needUnits {
		shares++
	}

	// δ slots: Laplace uses δ only to select data-derived groups; Gaussian
	// needs δ for every noisy quantity, plus one slot for selection.
	slots := 0
	switch {
	case b.kind == sluice.NoiseGaussian:
		slots = shares
		if !b.public {
			slots++
		}
		if ob.Delta == 0 {
			return nil, invalid("release.delta", "Gaussian noise needs δ > 0")
		}
	case !b.public:
		slots = 1
		if ob.Delta == 0 {
			return nil, invalid("release.delta", "group keys come from the data: partition selection needs δ > 0")
		}
	}
	epsShare := ob.Epsilon / float64(shares)
	if epsShare < minEpsilon {
		return nil, invalid("release.epsilon", "ε = %g is too small for %d mechanisms", ob.Epsilon, shares)
	}
	var deltaSlot float64
	if slots > 0 {
		deltaSlot = ob.Delta / float64(slots)
		if deltaSlot <= 0 {
			return nil, invalid("release.delta", "δ = %g is too small for %d mechanisms", ob.Delta, slots)
		}
	}
	gauss := b.kind == sluice.NoiseGaussian

	// Charges, in order; the last one takes the remainder.
	add := func(what string, m *mechanism, chargeLinf float64, deltaSlots int) {
		m.charge = len(b.charges)
		m.eps = epsShare
		d := 0.0
		if slots > 0 {
			d = deltaSlot * float64(deltaSlots)
		}
		b.charges = append(b.charges, sluice.Charge{What: what, Mechanism: b.kind, Epsilon: epsShare, Delta: d, L0: m.l0, Linf: chargeLinf})
	}
	if needUnits {
		b.units = &mechanism{l0: ob.L0, sens: 1}
		ds := 0
		if gauss {
			ds++
		}
		if !b.public {
			ds++
		}
		add("units", b.units, 1, ds)
	}
	for i := range b.aggs {
		ap := &b.aggs[i]
		names := components(ap.agg.Func)
		what := label(ap.agg)
		for j := range ap.mechs {
			m := &ap.mechs[j]
			w := what
			if names[j] != "" {
				w += ": " + names[j]
			}
			ds := 0
			if gauss {
				ds = 1
			}
			add(w, m, m.valueLinf, ds)
		}
	}
	var se, sd float64
	for i := range b.charges[:len(b.charges)-1] {
		se += b.charges[i].Epsilon
		sd += b.charges[i].Delta
	}
	last := &b.charges[len(b.charges)-1]
	last.Epsilon = ob.Epsilon - se
	if slots > 0 {
		last.Delta = ob.Delta - sd
	}
	for i := range b.charges {
		b.epsilon += b.charges[i].Epsilon
		b.delta += b.charges[i].Delta
	}
	if b.epsilon != ob.Epsilon || (slots > 0 && b.delta != ob.Delta) {
		return nil, internal("release.split", "budget split does not add up")
	}

	// Mechanism parameters follow their charges exactly.
	set := func(m *mechanism) {
		c := b.charges[m.charge]
		m.eps = c.Epsilon
		switch {
		case m == b.units && gauss && !b.public:
			m.noiseDelta = c.Delta / 2
			m.thresholdDelta = c.Delta - m.noiseDelta
		case m == b.units && !b.public:
			m.thresholdDelta = c.Delta
		case gauss:
			m.noiseDelta = c.Delta
		}
	}
	if b.units != nil {
		set(b.units)
	}
	for i := range b.aggs {
		for j := range b.aggs[i].mechs {
			set(&b.aggs[i].mechs[j])
		}
	}
	if b.units != nil && !b.public {
		if _, err := b.threshold(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkBounds validates an aggregate's clamping bounds and scale.
func checkBounds(what string, a sluice.Aggregate) error {
	if math.IsNaN(a.Lower) || math.IsNaN(a.Upper) || math.IsInf(a.Lower, 0) || math.IsInf(a.Upper, 0) {
		return invalid("release.bounds", "%s: bounds [%g, %g] must be finite", what, a.Lower, a.Upper)
	}
	if !(a.Lower < a.Upper) {
		return invalid("release.bounds", "%s: lower bound %g must be below upper bound %g", what, a.Lower, a.Upper)
	}
	if a.Scale < 0 || a.Scale > maxScale {
		return invalid("release.bounds", "%s: scale %d must be in [0, %d]", what, a.Scale, maxScale)
	}
	s := math.Pow10(a.Scale)
	if math.Abs(a.Lower)*s > maxL1 || math.Abs(a.Upper)*s > maxL1 {
		return invalid("release.bounds", "%s: bounds [%g, %g] at scale %d exceed 2^53", what, a.Lower, a.Upper, a.Scale)
	}
	return nil
}

// threshold returns τ, the partition-selection threshold on the noisy unit
// count: the library's Threshold for L0 groups per unit, L∞ = 1, the units
// ε, the units noise δ and the selection δ.
func (b *budget) threshold() (float64, error) {
	m := b.units
	tau, err := b.nz.Threshold(m.l0, 1, m.eps, m.noiseDelta, m.thresholdDelta)
	if err != nil {
		return 0, fmt.Errorf("privacy: partition selection threshold: %w", err)
	}
	if math.IsNaN(tau) || math.IsInf(tau, 0) {
		return 0, invalid("release.delta", "partition selection threshold is not finite; raise ε or δ")
	}
	return tau, nil
}
