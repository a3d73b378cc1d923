package service

import (
	"context"
	"encoding/json"
	"time"

	"sluice"
	"sluice/query"
	"sluice/risk"
	"sluice/storage/audit"
)

// Breaker is the risk circuit breaker.
type Breaker interface {
	Observe(o risk.Observation) []risk.Trip
	Reset(authorization string)
}

// Alert is a tripped circuit-breaker rule, in the reviewers' queue.
type Alert struct {
	ID            string    `json:"id"`
	Rule          string    `json:"rule"`
	Authorization string    `json:"authorization"`
	Principal     string    `json:"principal"`
	Organisation  string    `json:"organisation"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at"`
	Open          bool      `json:"open"`
}

const bucketAlerts = "alerts"

// breakerPrincipal is who suspends an authorization when a rule trips.
var breakerPrincipal = &sluice.Principal{Subject: "circuit-breaker", Organisation: "sluice", Roles: []string{sluice.RoleReviewer}}

// observe feeds a finished query to the breaker; a trip suspends the
// authorization, writes an audit event and raises an alert.
func (s *Service) observe(ctx context.Context, p *sluice.Principal, r Run, ev *sluice.AuditEvent, plan *sluice.Plan) {
	if s.breaker == nil || r.Authorization == "" || ev.Outcome == "cached" || ev.Outcome == "replayed" {
		return
	}
	o := risk.Observation{Time: s.now(), Principal: p.Subject, Organisation: p.Organisation, Authorization: r.Authorization,
		Refused: ev.Outcome == "refused" || ev.Outcome == "failed", Epsilon: ev.Epsilon}
	if ev.Refusal != nil {
		o.RefusalRule = ev.Refusal.Rule
	}
	if plan != nil {
		o.Shape, o.Filter, o.Isolating = plan.Shape, query.FilterConstants(plan), plan.Isolating
	}
	var total float64
	_ = s.store.View(ctx, func(tx sluice.Tx) error {
		if a, err := tx.Authorization(r.Authorization); err == nil {
			total = a.Terms.Budget.Epsilon
		}
		return nil
	})
	o.BudgetEpsilon = total
	for _, trip := range s.breaker.Observe(o) {
		s.trip(ctx, trip)
	}
}

func (s *Service) trip(ctx context.Context, t risk.Trip) {
	alert := Alert{ID: newID("alert_"), Rule: t.Rule, Authorization: t.Authorization, Principal: t.Principal, Organisation: t.Organisation, Reason: t.Reason, At: t.At, Open: true}
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		if err := putJSON(tx, bucketAlerts, alert.ID, alert); err != nil {
			return err
		}
		a, err := tx.Authorization(t.Authorization)
		if err != nil {
			return err
		}
		if a.State != sluice.AuthActive {
			return nil
		}
		a.History = append(a.History, sluice.Transition{From: a.State, To: sluice.AuthSuspended, By: breakerPrincipal.Subject, Org: breakerPrincipal.Organisation, At: s.now().UTC(), Reason: t.Rule + ": " + t.Reason})
		a.State = sluice.AuthSuspended
		return tx.PutAuthorization(a)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "circuit breaker could not suspend", "authorization", t.Authorization, "rule", t.Rule, "err", err)
		return
	}
	if err := s.event(ctx, "breaker.tripped", breakerPrincipal, map[string]any{"authorization": t.Authorization, "rule": t.Rule, "reason": t.Reason, "alert": alert.ID, "principal": t.Principal}); err != nil {
		s.log.ErrorContext(ctx, "audit of a circuit-breaker trip failed", "err", err)
	}
}

// Alerts lists circuit-breaker alerts for reviewers, newest first.
func (s *Service) Alerts(ctx context.Context, p *sluice.Principal) ([]Alert, error) {
	if err := requireRole(p, sluice.RoleReviewer, sluice.RoleAuditor); err != nil {
		return nil, err
	}
	var out []Alert
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		return tx.Scan(bucketAlerts, "", func(k string, v []byte) bool {
			var a Alert
			if getErr := jsonUnmarshal(v, &a); getErr == nil {
				out = append(out, a)
			}
			return true
		})
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// closeAlerts marks an authorization's alerts handled.
func (s *Service) closeAlerts(ctx context.Context, authID string) {
	_ = s.store.Update(ctx, func(tx sluice.Tx) error {
		var open []Alert
		tx.Scan(bucketAlerts, "", func(k string, v []byte) bool {
			var a Alert
			if json.Unmarshal(v, &a) == nil && a.Open && a.Authorization == authID {
				open = append(open, a)
			}
			return true
		})
		for _, a := range open {
			a.Open = false
			if err := putJSON(tx, bucketAlerts, a.ID, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditTrail returns audit events for auditors (everything), or for an
// organisation's analysts and owners (their own organisation's events).
func (s *Service) AuditTrail(ctx context.Context, p *sluice.Principal, f audit.Filter) ([]sluice.AuditEvent, error) {
	if s.audit == nil {
		return nil, sluice.Errorf(sluice.EUNAVAILABLE, "no audit trail configured")
	}
	if !p.Has(sluice.RoleAuditor) {
		f.Organisation = p.Organisation
	}
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 10000
	}
	return s.audit.Query(ctx, f)
}
