package service

import (
	"context"
	"errors"
	"strings"

	"sluice"
	"sluice/policy"
)

// Run is an analyst's query under an authorization.
type Run struct {
	Authorization string  `json:"authorization"`
	SQL           string  `json:"sql"`
	Epsilon       float64 `json:"epsilon,omitempty"` // 0 = the authorization's per-query cap
	Delta         float64 `json:"delta,omitempty"`
}

// decide analyses the query and asks the policy. A refusal names the step
// and the rule.
func (s *Service) decide(ctx context.Context, p *sluice.Principal, r Run) (*sluice.Decision, *sluice.Plan, error) {
	if s.policy == nil || s.store == nil {
		return nil, nil, errors.New("service: no policy or store configured")
	}
	an, err := s.parser.Analyze(ctx, r.SQL, s.catalog)
	if err != nil {
		return nil, nil, err
	}
	in := policy.Input{Principal: *p, Plan: an.Plan, Datasets: map[string]*sluice.Dataset{}, Request: policy.Request{Epsilon: r.Epsilon, Delta: r.Delta}, Time: s.now()}
	for _, id := range an.Plan.Datasets {
		d, err := s.catalog.Get(id)
		if err != nil {
			return nil, nil, err
		}
		in.Datasets[id] = d
	}
	if r.Authorization != "" {
		err := s.store.View(ctx, func(tx sluice.Tx) error {
			a, err := tx.Authorization(r.Authorization)
			in.Authorization = a
			return err
		})
		if err != nil {
			if sluice.ErrorCode(err) == sluice.ENOTFOUND {
				return nil, nil, &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepPolicy, Rule: "authorization.missing", Message: "authorization " + r.Authorization + " not found"}
			}
			return nil, nil, err
		}
	}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	if !d.Allow {
		return d, an.Plan, denial(d)
	}
	return d, an.Plan, nil
}

// denial turns a policy refusal into an error naming every reason.
func denial(d *sluice.Decision) error {
	e := &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepPolicy, Rule: "policy.default_deny", Message: "no policy rule allows this query"}
	if len(d.Deny) > 0 {
		e.Rule = d.Deny[0].Rule
		var msgs []string
		for _, r := range d.Deny {
			msgs = append(msgs, r.Message)
		}
		e.Message = strings.Join(msgs, "; ")
	}
	return e
}

// ExplainAs explains a query as the policy would run it, without running
// it or spending budget.
func (s *Service) ExplainAs(ctx context.Context, p *sluice.Principal, r Run) (*Explanation, *sluice.Decision, error) {
	d, _, err := s.decide(ctx, p, r)
	if err != nil {
		return nil, d, err
	}
	ex, err := s.Explain(ctx, QueryRequest{SQL: r.SQL, Obligations: d.Obligations})
	return ex, d, err
}

// RunAs runs a query under an authorization: analysis, policy, then the
// query path with the policy's obligations.
func (s *Service) RunAs(ctx context.Context, p *sluice.Principal, r Run) (*Result, *sluice.Decision, error) {
	d, _, err := s.decide(ctx, p, r)
	if err != nil {
		return nil, d, err
	}
	res, err := s.Query(ctx, QueryRequest{SQL: r.SQL, Obligations: d.Obligations})
	return res, d, err
}

// event records a control-plane event. The audit trail replaces the log.
func (s *Service) event(ctx context.Context, kind string, p *sluice.Principal, fields map[string]any) {
	args := []any{"event", kind, "subject", p.Subject, "organisation", p.Organisation}
	for k, v := range fields {
		args = append(args, k, v)
	}
	s.log.InfoContext(ctx, "control-plane event", args...)
}
