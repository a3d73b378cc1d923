package policy

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/open-policy-agent/opa/v1/rego"

	"sluice"
)

// parseDecision reads data.sluice.decision strictly: anything missing or of
// the wrong type is an error, and the query does not run (fail closed).
func parseDecision(rs rego.ResultSet) (*sluice.Decision, error) {
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s is undefined", decisionQuery)
	}
	if len(rs) > 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%s has %d results", decisionQuery, len(rs))
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is %T, not an object", decisionQuery, rs[0].Expressions[0].Value)
	}
	d := &sluice.Decision{}
	if d.Allow, ok = obj["allow"].(bool); !ok {
		return nil, fmt.Errorf("allow is %s, not a boolean", describe(obj["allow"]))
	}
	deny, ok := obj["deny"].([]any)
	if !ok {
		return nil, fmt.Errorf("deny is %s, not an array", describe(obj["deny"]))
	}
	for i, v := range deny {
		r, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("deny[%d] is %s, not an object", i, describe(v))
		}
		rule, _ := r["rule"].(string)
		message, _ := r["message"].(string)
		if rule == "" || message == "" {
			return nil, fmt.Errorf("deny[%d] needs a rule and a message", i)
		}
		d.Deny = append(d.Deny, sluice.Reason{Rule: rule, Message: message})
	}
	switch {
	case d.Allow && len(d.Deny) > 0:
		return nil, fmt.Errorf("allow is true with %d deny reasons", len(d.Deny))
	case !d.Allow && len(d.Deny) == 0:
		return nil, fmt.Errorf("allow is false without a deny reason")
	case !d.Allow:
		return d, nil // a refused query has no obligations
	}
	o, ok := obj["obligations"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("obligations is %s, not an object", describe(obj["obligations"]))
	}
	p := obligationParser{o: o}
	d.Obligations = sluice.Obligations{
		Epsilon:   p.number("epsilon", func(x float64) bool { return x > 0 }),
		Delta:     p.number("delta", func(x float64) bool { return x >= 0 && x < 1 }),
		MinUnits:  p.integer("min_units", 1),
		L0:        p.integer("l0", 1),
		Linf:      p.integer("linf", 1),
		Noise:     p.noise(),
		MaxGroups: int(p.integer("max_groups", 1)),
	}
	d.Obligations.Aggregates = p.aggregates()
	if p.err != nil {
		return nil, p.err
	}
	return d, nil
}

// obligationParser reads obligations, keeping the first error.
type obligationParser struct {
	o   map[string]any
	err error
}

func (p *obligationParser) fail(key string, v any, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("obligations.%s is %s, not %s", key, describe(v), want)
	}
}

func (p *obligationParser) number(key string, valid func(float64) bool) float64 {
	n, ok := p.o[key].(json.Number)
	if ok {
		if x, err := n.Float64(); err == nil && valid(x) && !math.IsInf(x, 0) {
			return x
		}
	}
	p.fail(key, p.o[key], "a number in range")
	return 0
}

func (p *obligationParser) integer(key string, least int64) int64 {
	n, ok := p.o[key].(json.Number)
	if ok {
		if x, err := n.Int64(); err == nil && x >= least && x <= math.MaxInt32 {
			return x
		}
	}
	p.fail(key, p.o[key], fmt.Sprintf("an integer ≥ %d", least))
	return 0
}

func (p *obligationParser) noise() string {
	s, _ := p.o["noise"].(string)
	if s != sluice.NoiseLaplace && s != sluice.NoiseGaussian {
		p.fail("noise", p.o["noise"], "laplace or gaussian")
	}
	return s
}

func (p *obligationParser) aggregates() []sluice.AggFunc {
	vs, ok := p.o["aggregates"].([]any)
	if !ok {
		p.fail("aggregates", p.o["aggregates"], "an array")
		return nil
	}
	out := make([]sluice.AggFunc, 0, len(vs))
	for _, v := range vs {
		s, ok := v.(string)
		if !ok || s == "" {
			p.fail("aggregates", v, "an array of aggregate names")
			return nil
		}
		out = append(out, sluice.AggFunc(s))
	}
	return out
}

// describe names a JSON value's type for an error message, without its content.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "missing or null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
