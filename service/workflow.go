package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"sluice"
)

// ReviewDays is the number of working days within which an application
// must be decided.
const ReviewDays = 10

// Calendar says which days are working days: Monday to Friday, minus
// holidays, plus weekend days declared working days (as China's adjusted
// working days are).
type Calendar struct {
	Holidays []string // YYYY-MM-DD
	Workdays []string // YYYY-MM-DD weekend days that are working days
}

// IsWorkday reports whether t's date is a working day.
func (c Calendar) IsWorkday(t time.Time) bool {
	d := t.Format("2006-01-02")
	if slices.Contains(c.Workdays, d) {
		return true
	}
	if slices.Contains(c.Holidays, d) {
		return false
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkdays returns the end of the n-th working day after t.
func (c Calendar) AddWorkdays(t time.Time, n int) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if c.IsWorkday(day) {
			n--
		}
	}
	return day.AddDate(0, 0, 1).Add(-time.Nanosecond)
}

func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + hex.EncodeToString(b[:])
}

func forbidden(rule, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.EFORBIDDEN, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

func invalid(rule, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.EINVALID, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

func conflict(rule, format string, args ...any) *sluice.Error {
	return &sluice.Error{Code: sluice.ECONFLICT, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

func requireRole(p *sluice.Principal, roles ...string) error {
	for _, r := range roles {
		if p.Has(r) {
			return nil
		}
	}
	return forbidden("role", "this needs the role %v", roles)
}

// validTerms checks an application's terms against the catalog.
func (s *Service) validTerms(t *sluice.Terms) error {
	if t.Purpose == "" {
		return invalid("terms.purpose", "the purpose (application scenario) is required")
	}
	if len(t.Grants) == 0 {
		return invalid("terms.grants", "at least one dataset must be requested")
	}
	seen := map[string]bool{}
	for i, g := range t.Grants {
		d, err := s.catalog.Get(g.Dataset)
		if err != nil {
			return invalid("terms.dataset", "grants[%d]: unknown dataset %q", i, g.Dataset)
		}
		if seen[g.Dataset] {
			return invalid("terms.dataset", "grants[%d]: dataset %s requested twice", i, g.Dataset)
		}
		seen[g.Dataset] = true
		if d.Open == sluice.Closed {
			return forbidden("dataset.closed", "grants[%d]: dataset %s is closed", i, d.ID)
		}
		if len(g.Columns) == 0 {
			return invalid("terms.columns", "grants[%d]: name the columns of %s", i, d.ID)
		}
		for _, c := range g.Columns {
			col := d.Column(c)
			if col == nil {
				return invalid("terms.columns", "grants[%d]: dataset %s has no column %q", i, d.ID, c)
			}
			if col.Role == sluice.RoleIdentifier {
				return invalid("terms.columns", "grants[%d]: column %s.%s is a direct identifier and cannot be granted", i, d.ID, c)
			}
		}
	}
	if t.ValidFrom.IsZero() || t.ValidUntil.IsZero() || !t.ValidFrom.Before(t.ValidUntil) {
		return invalid("terms.period", "valid_from must be before valid_until")
	}
	b := t.Budget
	for _, v := range []struct {
		name string
		x    float64
		max  float64
	}{{"budget.epsilon", b.Epsilon, 100}, {"budget.epsilon_per_query", b.EpsilonPerQuery, b.Epsilon}} {
		if math.IsNaN(v.x) || v.x <= 0 || v.x > v.max {
			return invalid("terms.budget", "%s must be in (0, %g], got %g", v.name, v.max, v.x)
		}
	}
	if math.IsNaN(b.Delta) || b.Delta < 0 || b.Delta >= 1e-3 || math.IsNaN(b.DeltaPerQuery) || b.DeltaPerQuery < 0 || b.DeltaPerQuery > b.Delta {
		return invalid("terms.budget", "delta must be in [0, 0.001) and delta_per_query in [0, delta]")
	}
	if t.MinUnits < 0 {
		return invalid("terms.min_units", "min_units must not be negative")
	}
	for _, a := range t.Aggregates {
		switch a {
		case sluice.AggCount, sluice.AggCountUnits, sluice.AggSum, sluice.AggAvg, sluice.AggVar, sluice.AggStddev, sluice.AggQuantile:
		default:
			return invalid("terms.aggregates", "unknown aggregate %q", a)
		}
	}
	if t.L0 < 0 || t.L0 > 1000 || t.Linf < 0 || t.Linf > 1000 {
		return invalid("terms.bounds", "l0 and linf must be between 0 (policy default) and 1000")
	}
	return nil
}

// Apply submits an application for access.
func (s *Service) Apply(ctx context.Context, p *sluice.Principal, terms sluice.Terms, principals []string) (*sluice.Application, error) {
	if err := requireRole(p, sluice.RoleAnalyst); err != nil {
		return nil, err
	}
	if p.Organisation == "" {
		return nil, invalid("principal.organisation", "the applicant has no organisation")
	}
	if err := s.validTerms(&terms); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	app := &sluice.Application{
		ID: newID("app_"), Applicant: p.Subject, Organisation: p.Organisation, Principals: principals,
		Terms: terms, State: sluice.AppSubmitted, SubmittedAt: now, DueAt: s.calendar.AddWorkdays(now, ReviewDays),
		History: []sluice.Transition{{From: "", To: sluice.AppSubmitted, By: p.Subject, Org: p.Organisation, At: now}},
	}
	err := s.store.Update(ctx, func(tx sluice.Tx) error { return tx.PutApplication(app) })
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "application.submitted", p, map[string]any{"application": app.ID, "purpose": terms.Purpose}); err != nil {
		return nil, err
	}
	return app, nil
}

// transitionApp moves an application from one of the allowed states to to.
func (s *Service) transitionApp(ctx context.Context, p *sluice.Principal, id string, from []string, to, reason string, check func(*sluice.Application) error, also func(tx sluice.Tx, a *sluice.Application) error) (*sluice.Application, error) {
	var out *sluice.Application
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		a, err := tx.Application(id)
		if err != nil {
			return err
		}
		if !slices.Contains(from, a.State) {
			return conflict("application.state", "application %s is %s; it cannot become %s", id, a.State, to)
		}
		if check != nil {
			if err := check(a); err != nil {
				return err
			}
		}
		now := s.now().UTC()
		a.History = append(a.History, sluice.Transition{From: a.State, To: to, By: p.Subject, Org: p.Organisation, At: now, Reason: reason})
		a.State = to
		if also != nil {
			if err := also(tx, a); err != nil {
				return err
			}
		}
		out = a
		return tx.PutApplication(a)
	})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "application."+to, p, map[string]any{"application": id, "reason": reason}); err != nil {
		return nil, err
	}
	return out, nil
}

// separate enforces the separation of duties: nobody reviews an
// application from their own organisation, or their own.
func separate(p *sluice.Principal, a *sluice.Application) error {
	if p.Organisation == a.Organisation {
		return forbidden("review.own_organisation", "reviewers may not review applications from their own organisation (%s)", a.Organisation)
	}
	if p.Subject == a.Applicant {
		return forbidden("review.own_application", "nobody may review their own application")
	}
	return nil
}

// Accept takes an application into review.
func (s *Service) Accept(ctx context.Context, p *sluice.Principal, id string) (*sluice.Application, error) {
	if err := requireRole(p, sluice.RoleReviewer); err != nil {
		return nil, err
	}
	return s.transitionApp(ctx, p, id, []string{sluice.AppSubmitted}, sluice.AppUnderReview, "",
		func(a *sluice.Application) error { return separate(p, a) },
		func(tx sluice.Tx, a *sluice.Application) error { a.Reviewer = p.Subject; return nil })
}

// Approval is what a reviewer grants: the application's terms, optionally
// narrowed. Zero fields keep the requested value.
type Approval struct {
	Grants     []sluice.Grant   `json:"grants,omitempty"`
	ValidUntil time.Time        `json:"valid_until,omitempty"`
	Budget     *sluice.Budget   `json:"budget,omitempty"`
	MinUnits   int64            `json:"min_units,omitempty"`
	Aggregates []sluice.AggFunc `json:"aggregates,omitempty"`
	L0         int64            `json:"l0,omitempty"`
	Linf       int64            `json:"linf,omitempty"`
	Reason     string           `json:"reason,omitempty"`
}

// narrow applies an approval to requested terms; it may only narrow.
func narrow(req sluice.Terms, ap Approval) (sluice.Terms, error) {
	t := req
	if ap.Grants != nil {
		want := map[string][]string{}
		for _, g := range req.Grants {
			want[g.Dataset] = g.Columns
		}
		for _, g := range ap.Grants {
			cols, ok := want[g.Dataset]
			if !ok {
				return t, invalid("approval.grants", "dataset %s was not requested", g.Dataset)
			}
			for _, c := range g.Columns {
				if !slices.Contains(cols, c) {
					return t, invalid("approval.grants", "column %s.%s was not requested", g.Dataset, c)
				}
			}
		}
		t.Grants = ap.Grants
	}
	if !ap.ValidUntil.IsZero() {
		if ap.ValidUntil.After(req.ValidUntil) || !ap.ValidUntil.After(req.ValidFrom) {
			return t, invalid("approval.period", "valid_until must lie within the requested period")
		}
		t.ValidUntil = ap.ValidUntil
	}
	if ap.Budget != nil {
		b := *ap.Budget
		if b.Epsilon > req.Budget.Epsilon || b.EpsilonPerQuery > req.Budget.EpsilonPerQuery || b.Delta > req.Budget.Delta || b.DeltaPerQuery > req.Budget.DeltaPerQuery ||
			b.Epsilon <= 0 || b.EpsilonPerQuery <= 0 || b.EpsilonPerQuery > b.Epsilon || b.DeltaPerQuery > b.Delta || b.Delta < 0 || b.DeltaPerQuery < 0 {
			return t, invalid("approval.budget", "an approved budget may only be lower than the requested one, with per-query caps within the total")
		}
		t.Budget = b
	}
	if ap.MinUnits != 0 {
		if ap.MinUnits < req.MinUnits {
			return t, invalid("approval.min_units", "min_units may only be raised (requested %d)", req.MinUnits)
		}
		t.MinUnits = ap.MinUnits
	}
	if ap.Aggregates != nil {
		for _, a := range ap.Aggregates {
			if len(req.Aggregates) > 0 && !slices.Contains(req.Aggregates, a) {
				return t, invalid("approval.aggregates", "aggregate %s was not requested", a)
			}
		}
		t.Aggregates = ap.Aggregates
	}
	if ap.L0 != 0 {
		if req.L0 != 0 && ap.L0 > req.L0 {
			return t, invalid("approval.bounds", "l0 may only be lowered")
		}
		t.L0 = ap.L0
	}
	if ap.Linf != 0 {
		if req.Linf != 0 && ap.Linf > req.Linf {
			return t, invalid("approval.bounds", "linf may only be lowered")
		}
		t.Linf = ap.Linf
	}
	return t, nil
}

// Approve approves an application under review, with the terms narrowed as
// the approval says, and creates its authorization in the same
// transaction.
func (s *Service) Approve(ctx context.Context, p *sluice.Principal, id string, ap Approval) (*sluice.Authorization, error) {
	if err := requireRole(p, sluice.RoleReviewer); err != nil {
		return nil, err
	}
	var auth *sluice.Authorization
	_, err := s.transitionApp(ctx, p, id, []string{sluice.AppUnderReview}, sluice.AppApproved, ap.Reason,
		func(a *sluice.Application) error { return separate(p, a) },
		func(tx sluice.Tx, a *sluice.Application) error {
			terms, err := narrow(a.Terms, ap)
			if err != nil {
				return err
			}
			if err := s.validTerms(&terms); err != nil {
				return err
			}
			now := s.now().UTC()
			auth = &sluice.Authorization{
				ID: newID("auth_"), Application: a.ID, Organisation: a.Organisation, Principals: a.Principals,
				Terms: terms, State: sluice.AuthActive, ApprovedBy: p.Subject, ApprovedAt: now,
				History: []sluice.Transition{{To: sluice.AuthActive, By: p.Subject, Org: p.Organisation, At: now, Reason: ap.Reason}},
			}
			a.Authorization = auth.ID
			return tx.PutAuthorization(auth)
		})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "authorization.created", p, map[string]any{"authorization": auth.ID, "application": id}); err != nil {
		return nil, err
	}
	return auth, nil
}

// Reject rejects an application, with a reason.
func (s *Service) Reject(ctx context.Context, p *sluice.Principal, id, reason string) (*sluice.Application, error) {
	if err := requireRole(p, sluice.RoleReviewer); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, invalid("review.reason", "a rejection needs a reason")
	}
	return s.transitionApp(ctx, p, id, []string{sluice.AppSubmitted, sluice.AppUnderReview}, sluice.AppRejected, reason,
		func(a *sluice.Application) error { return separate(p, a) }, nil)
}

// Withdraw withdraws an application that is not decided yet.
func (s *Service) Withdraw(ctx context.Context, p *sluice.Principal, id, reason string) (*sluice.Application, error) {
	return s.transitionApp(ctx, p, id, []string{sluice.AppSubmitted, sluice.AppUnderReview}, sluice.AppWithdrawn, reason,
		func(a *sluice.Application) error {
			if a.Applicant != p.Subject && !(a.Organisation == p.Organisation && p.Has(sluice.RoleAnalyst)) {
				return forbidden("application.withdraw", "only the applicant's organisation may withdraw an application")
			}
			return nil
		}, nil)
}

// authTransition moves an authorization between states.
func (s *Service) authTransition(ctx context.Context, p *sluice.Principal, id string, from []string, to, reason string) (*sluice.Authorization, error) {
	if err := requireRole(p, sluice.RoleReviewer); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, invalid("review.reason", "this change needs a reason")
	}
	var out *sluice.Authorization
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		a, err := tx.Authorization(id)
		if err != nil {
			return err
		}
		if p.Organisation == a.Organisation {
			return forbidden("review.own_organisation", "reviewers may not change authorizations of their own organisation (%s)", a.Organisation)
		}
		if !slices.Contains(from, a.State) {
			return conflict("authorization.state", "authorization %s is %s; it cannot become %s", id, a.State, to)
		}
		now := s.now().UTC()
		a.History = append(a.History, sluice.Transition{From: a.State, To: to, By: p.Subject, Org: p.Organisation, At: now, Reason: reason})
		a.State = to
		out = a
		return tx.PutAuthorization(a)
	})
	if err != nil {
		return nil, err
	}
	if err := s.event(ctx, "authorization."+to, p, map[string]any{"authorization": id, "reason": reason}); err != nil {
		return nil, err
	}
	return out, nil
}

// Suspend suspends an active authorization.
func (s *Service) Suspend(ctx context.Context, p *sluice.Principal, id, reason string) (*sluice.Authorization, error) {
	return s.authTransition(ctx, p, id, []string{sluice.AuthActive}, sluice.AuthSuspended, reason)
}

// Reinstate makes a suspended authorization active again, and re-arms the
// circuit breaker's rules for it.
func (s *Service) Reinstate(ctx context.Context, p *sluice.Principal, id, reason string) (*sluice.Authorization, error) {
	a, err := s.authTransition(ctx, p, id, []string{sluice.AuthSuspended}, sluice.AuthActive, reason)
	if err == nil && s.breaker != nil {
		s.breaker.Reset(id)
	}
	if err == nil {
		s.closeAlerts(ctx, id)
	}
	return a, err
}

// Revoke ends an authorization for good.
func (s *Service) Revoke(ctx context.Context, p *sluice.Principal, id, reason string) (*sluice.Authorization, error) {
	return s.authTransition(ctx, p, id, []string{sluice.AuthActive, sluice.AuthSuspended}, sluice.AuthRevoked, reason)
}

// DueApplication is an undecided application with its deadline.
type DueApplication struct {
	*sluice.Application
	Overdue bool `json:"overdue"`
}

// Due lists undecided applications by deadline, marking the overdue ones.
func (s *Service) Due(ctx context.Context, p *sluice.Principal) ([]DueApplication, error) {
	if err := requireRole(p, sluice.RoleReviewer); err != nil {
		return nil, err
	}
	now := s.now()
	var out []DueApplication
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		apps, err := tx.Applications()
		for _, a := range apps {
			if a.State == sluice.AppSubmitted || a.State == sluice.AppUnderReview {
				out = append(out, DueApplication{Application: a, Overdue: now.After(a.DueAt)})
			}
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
	return out, err
}

// Application returns an application its reader may see: the applicant's
// organisation, reviewers and auditors.
func (s *Service) Application(ctx context.Context, p *sluice.Principal, id string) (*sluice.Application, error) {
	var out *sluice.Application
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		a, err := tx.Application(id)
		out = a
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.Organisation != p.Organisation && !p.Has(sluice.RoleReviewer) && !p.Has(sluice.RoleAuditor) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "application %q not found", id)
	}
	return out, nil
}

// Applications lists what p may see: their organisation's applications, or
// all of them for reviewers and auditors.
func (s *Service) Applications(ctx context.Context, p *sluice.Principal) ([]*sluice.Application, error) {
	var out []*sluice.Application
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		apps, err := tx.Applications()
		for _, a := range apps {
			if a.Organisation == p.Organisation || p.Has(sluice.RoleReviewer) || p.Has(sluice.RoleAuditor) {
				out = append(out, a)
			}
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].SubmittedAt.Before(out[j].SubmittedAt) })
	return out, err
}

// Authorization returns an authorization its reader may see, with its
// effective state (expired by date).
func (s *Service) Authorization(ctx context.Context, p *sluice.Principal, id string) (*sluice.Authorization, error) {
	var out *sluice.Authorization
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		a, err := tx.Authorization(id)
		out = a
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.Organisation != p.Organisation && !p.Has(sluice.RoleReviewer) && !p.Has(sluice.RoleAuditor) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "authorization %q not found", id)
	}
	out.State = out.StateAt(s.now())
	return out, nil
}

// Authorizations lists what p may see.
func (s *Service) Authorizations(ctx context.Context, p *sluice.Principal) ([]*sluice.Authorization, error) {
	var out []*sluice.Authorization
	now := s.now()
	err := s.store.View(ctx, func(tx sluice.Tx) error {
		all, err := tx.Authorizations()
		for _, a := range all {
			if a.Organisation == p.Organisation || p.Has(sluice.RoleReviewer) || p.Has(sluice.RoleAuditor) {
				a.State = a.StateAt(now)
				out = append(out, a)
			}
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ApprovedAt.Before(out[j].ApprovedAt) })
	return out, err
}
