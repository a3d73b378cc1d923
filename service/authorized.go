package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sluice"
	"sluice/policy"
	"sluice/privacy"
	"sluice/query"
)

// Run is an analyst's query under an authorization.
type Run struct {
	// RequestID makes retries safe: a repeated id returns the stored
	// release, never fresh noise.
	RequestID     string  `json:"request_id,omitempty"`
	Authorization string  `json:"authorization"`
	SQL           string  `json:"sql"`
	Epsilon       float64 `json:"epsilon,omitempty"` // 0 = the authorization's per-query cap
	Delta         float64 `json:"delta,omitempty"`
}

// decided is a query the policy has judged: its decision, the analysis,
// and what it was judged against (loaded once for the rest of the path).
type decided struct {
	d        *sluice.Decision
	an       *query.Analysis
	auth     *sluice.Authorization // nil when none was named
	datasets map[string]*sluice.Dataset
}

// decide analyses the query and asks the policy. A refusal names the step
// and the rule.
func (s *Service) decide(ctx context.Context, p *sluice.Principal, r Run) (*decided, error) {
	if s.policy == nil || s.store == nil {
		return nil, errors.New("service: no policy or store configured")
	}
	an, err := s.parser.Analyze(ctx, r.SQL, s.catalog)
	if err != nil {
		return nil, err
	}
	in := policy.Input{Principal: *p, Plan: an.Plan, Datasets: map[string]*sluice.Dataset{}, Request: policy.Request{Epsilon: r.Epsilon, Delta: r.Delta}, Time: s.now()}
	for _, id := range an.Plan.Datasets {
		d, err := s.catalog.Get(id)
		if err != nil {
			return nil, err
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
				return nil, &sluice.Error{Code: sluice.EFORBIDDEN, Step: sluice.StepPolicy, Rule: "authorization.missing", Message: "authorization " + r.Authorization + " not found"}
			}
			return nil, err
		}
	}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &decided{d: d, an: an, auth: in.Authorization, datasets: in.Datasets}
	if !d.Allow {
		return out, denial(d)
	}
	return out, nil
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
	dc, err := s.decide(ctx, p, r)
	if dc == nil {
		return nil, nil, err
	}
	if err != nil {
		return nil, dc.d, err
	}
	ex, err := s.explain(ctx, dc.an, dc.d.Obligations)
	if err != nil {
		return nil, dc.d, err
	}
	if err := ex.verified.wait(); err != nil {
		return nil, dc.d, err
	}
	return ex, dc.d, nil
}

// Store buckets of the query path.
const (
	bucketRequests = "releases.by_request" // authorization/request id → stored result
	bucketCache    = "releases.cache"      // canonical query key → stored result
)

// stored is a release kept for retries and the release cache.
type stored struct {
	SQL     string          `json:"sql"`
	Plan    *sluice.Plan    `json:"plan"`
	Release *sluice.Release `json:"release"`
	At      time.Time       `json:"at"`
}

// RunAs runs a query under an authorization: analysis, policy, ledger,
// sandbox, release, audit. Every query — released, cached, refused or
// failed — is audited; if the audit event cannot be written, nothing is
// returned (the budget stays spent).
func (s *Service) RunAs(ctx context.Context, p *sluice.Principal, r Run) (*Result, *sluice.Decision, error) {
	start := s.now()
	ev := &sluice.AuditEvent{Kind: "query", Principal: p.Subject, Organisation: p.Organisation, Authorization: r.Authorization, RequestID: r.RequestID, SQL: r.SQL}
	res, d, plan, err := s.runAs(ctx, p, r, ev)
	ev.Decision = d
	ev.DurationMS = s.now().Sub(start).Milliseconds()
	if plan != nil {
		ev.PlanDigest, ev.Datasets = plan.Digest, plan.Datasets
	}
	if err != nil {
		var se *sluice.Error
		if errors.As(err, &se) && se.Code != sluice.EINTERNAL {
			ev.Outcome, ev.Refusal = "refused", se
		} else {
			ev.Outcome = "failed"
			ev.Refusal = &sluice.Error{Code: sluice.EINTERNAL, Message: "internal error"}
		}
	}
	if res != nil {
		rel := res.Release
		ev.Groups, ev.Suppressed = len(rel.Rows), len(rel.Suppressed)
		ev.ReleaseDigest = digestOf(rel)
		if ev.Outcome == "" {
			// Only a fresh release spends budget; a cached answer or a
			// retry's stored release leaves again at no cost.
			switch {
			case ev.Details["replayed"] == true:
				ev.Outcome = "replayed"
			case rel.Cached:
				ev.Outcome = "cached"
			default:
				ev.Outcome = "released"
				ev.Epsilon, ev.Delta = rel.Epsilon, rel.Delta
			}
		}
	}
	if aerr := s.appendAudit(ctx, ev); aerr != nil {
		s.log.ErrorContext(ctx, "audit append failed: refusing the query", "err", aerr)
		return nil, d, &sluice.Error{Code: sluice.EUNAVAILABLE, Step: sluice.StepAudit, Rule: "audit.unavailable", Message: "the audit trail cannot be written; the query is refused"}
	}
	s.observe(ctx, p, r, ev, plan)
	return res, d, err
}

func (s *Service) runAs(ctx context.Context, p *sluice.Principal, r Run, ev *sluice.AuditEvent) (*Result, *sluice.Decision, *sluice.Plan, error) {
	start := s.now()
	if r.RequestID != "" {
		if r.Authorization == "" {
			return nil, nil, nil, invalid("request.id", "a request id needs an authorization")
		}
		var st *stored
		if err := s.store.View(ctx, func(tx sluice.Tx) error { return getJSON(tx, bucketRequests, r.Authorization+"/"+r.RequestID, &st) }); err != nil {
			return nil, nil, nil, err
		}
		if st != nil {
			if st.SQL != r.SQL {
				return nil, nil, st.Plan, conflict("request.id", "request id %s was used for another query", r.RequestID)
			}
			// A retry gets the stored release, never fresh noise.
			ev.Details = map[string]any{"replayed": true}
			return &Result{Plan: st.Plan, Release: st.Release, Duration: s.now().Sub(start)}, nil, st.Plan, nil
		}
	}
	dc, err := s.decide(ctx, p, r)
	if dc == nil {
		return nil, nil, nil, err
	}
	d, plan := dc.d, dc.an.Plan
	if err != nil {
		return nil, d, plan, err
	}
	ob := d.Obligations
	ex, err := s.explain(ctx, dc.an, ob)
	if err != nil {
		return nil, d, plan, err
	}
	defer ex.verified.stop() // a request never leaves its verification running
	ex.exposed = s.granted(dc.auth, plan)
	// The release cache: the same canonical query over the same dataset
	// versions under the same authorization and obligations returns the
	// same noisy release, at no cost.
	cacheKey := cacheKeyOf(r.Authorization, plan, ob)
	var hit *stored
	if err := s.store.View(ctx, func(tx sluice.Tx) error { return getJSON(tx, bucketCache, cacheKey, &hit) }); err != nil {
		return nil, d, plan, err
	}
	if hit != nil {
		// What was released for this query was verified when it ran; a
		// rewrite that no longer verifies still refuses it.
		if err := ex.verified.wait(); err != nil {
			return nil, d, plan, err
		}
		rel := *hit.Release
		rel.Cached = true
		res := &Result{Plan: plan, Release: &rel, Duration: s.now().Sub(start)}
		if r.RequestID != "" {
			err := s.store.Update(ctx, func(tx sluice.Tx) error {
				return putJSON(tx, bucketRequests, r.Authorization+"/"+r.RequestID, stored{SQL: r.SQL, Plan: plan, Release: &rel, At: s.now()})
			})
			if err != nil {
				return nil, d, plan, err
			}
		}
		return res, d, plan, nil
	}
	sel, err := privacy.NewSelection(plan, ob)
	if err != nil {
		return nil, d, plan, err
	}
	// Reserve against every scope, in one transaction.
	scopes, err := s.scopes(dc.auth, plan)
	if err != nil {
		return nil, d, plan, err
	}
	queryID := newID("q_")
	ev.Details = map[string]any{"query_id": queryID}
	var versions []string
	for _, id := range plan.Datasets {
		versions = append(versions, id+"@"+dc.datasets[id].Version)
	}
	err = s.store.Update(ctx, func(tx sluice.Tx) error {
		_, err := privacy.Reserve(tx, queryID, versions, scopes, ex.Charges, s.now())
		return err
	})
	if err != nil {
		return nil, d, plan, err
	}
	// Once reserved, the charge is settled whatever becomes of the request:
	// a client that leaves must not leave the reservation open (it would be
	// committed at the next start, for a query that may have read nothing).
	settleCtx := context.WithoutCancel(ctx)
	touched, err := s.execute(ctx, ex, sel)
	if err != nil {
		settle := privacy.Commit
		if !touched {
			settle = privacy.GiveBack
		}
		if serr := s.store.Update(settleCtx, func(tx sluice.Tx) error { return settle(tx, queryID, s.now()) }); serr != nil {
			return nil, d, plan, errors.Join(err, serr)
		}
		return nil, d, plan, err
	}
	rel, err := sel.Release()
	if err == nil {
		err = PostProcess(plan, rel)
	}
	if err != nil {
		if serr := s.store.Update(settleCtx, func(tx sluice.Tx) error { return privacy.Commit(tx, queryID, s.now()) }); serr != nil {
			return nil, d, plan, errors.Join(err, serr)
		}
		return nil, d, plan, err
	}
	// Commit the charge and keep the release, durably, before returning.
	rec := stored{SQL: r.SQL, Plan: plan, Release: rel, At: s.now()}
	err = s.store.Update(settleCtx, func(tx sluice.Tx) error {
		if err := privacy.Commit(tx, queryID, s.now()); err != nil {
			return err
		}
		if err := putJSON(tx, bucketCache, cacheKey, rec); err != nil {
			return err
		}
		if r.RequestID != "" {
			return putJSON(tx, bucketRequests, r.Authorization+"/"+r.RequestID, rec)
		}
		return nil
	})
	if err != nil {
		return nil, d, plan, err
	}
	return &Result{Plan: plan, Release: rel, Duration: s.now().Sub(start)}, d, plan, nil
}

// granted lists the non-identifier columns an authorization grants on each
// of the plan's datasets (with the unit), for sandbox reuse.
func (s *Service) granted(a *sluice.Authorization, plan *sluice.Plan) map[string][]string {
	if a == nil {
		return nil
	}
	out := map[string][]string{}
	for _, g := range a.Terms.Grants {
		d, err := s.catalog.Get(g.Dataset)
		if err != nil {
			continue
		}
		cols := []string{d.Unit}
		for _, c := range g.Columns {
			if col := d.Column(c); col != nil && col.Role != sluice.RoleIdentifier && c != d.Unit {
				cols = append(cols, c)
			}
		}
		out[d.ID] = cols
	}
	// Only datasets the plan reads, and only if the grant covers the query.
	for _, u := range plan.Columns {
		if !slices.Contains(out[u.Dataset], u.Column) {
			return nil
		}
	}
	return out
}

// capScope is the ledger scope of a budget cap.
func capScope(kind, id string, c sluice.Cap) privacy.Scope {
	mode := privacy.Pure
	if c.Accounting == privacy.ZCDP {
		mode = privacy.ZCDP
	}
	return privacy.Scope{Key: privacy.ScopeKey(kind, id), Mode: mode, Epsilon: c.Epsilon, Delta: c.Delta}
}

// scopes lists the ledger scopes a query is charged to: its authorization
// (a, if any), the organisation's and every dataset's cap where set, and
// the population's lifetime cap.
func (s *Service) scopes(a *sluice.Authorization, plan *sluice.Plan) ([]privacy.Scope, error) {
	var out []privacy.Scope
	if a != nil {
		b := a.Terms.Budget
		out = append(out, capScope("authorization", a.ID, sluice.Cap{Epsilon: b.Epsilon, Delta: b.Delta, Accounting: a.Terms.Accounting}))
		if c, ok := s.budgets.Organisations[a.Organisation]; ok {
			out = append(out, capScope("organisation", a.Organisation, c))
		}
	}
	for _, id := range plan.Datasets {
		d, err := s.catalog.Get(id)
		if err != nil {
			return nil, err
		}
		if c := d.BudgetCap; c != nil {
			out = append(out, capScope("dataset", d.ID, *c))
		}
	}
	if c, ok := s.budgets.Populations[plan.Population]; ok {
		out = append(out, capScope("population", plan.Population, c))
	}
	return out, nil
}

// Budget reports an authorization's remaining budget, and that of the
// scopes above it, in the user's terms.
func (s *Service) Budget(ctx context.Context, p *sluice.Principal, authID string) ([]privacy.Remaining, error) {
	a, err := s.Authorization(ctx, p, authID)
	if err != nil {
		return nil, err
	}
	scopes, err := s.scopes(a, &sluice.Plan{})
	if err != nil {
		return nil, err
	}
	var out []privacy.Remaining
	err = s.store.Update(ctx, func(tx sluice.Tx) error {
		for _, sc := range scopes {
			r, err := privacy.RemainingIn(tx, sc)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// RecoverLedger commits reservations a crash left open: a query that may
// have run counts as spent. Call it once at startup.
func (s *Service) RecoverLedger(ctx context.Context) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx sluice.Tx) error {
		var err error
		n, err = privacy.Recover(tx, s.now())
		return err
	})
	return n, err
}

func cacheKeyOf(authID string, plan *sluice.Plan, ob sluice.Obligations) string {
	b, _ := json.Marshal(struct {
		A  string
		D  string
		Ob sluice.Obligations
	}{authID, plan.Digest, ob})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func digestOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func getJSON[T any](tx sluice.Tx, bucket, key string, out **T) error {
	b, err := tx.Get(bucket, key)
	if err != nil || b == nil {
		return err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	*out = v
	return nil
}

func putJSON(tx sluice.Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

// appendAudit writes an event to the audit trail, if there is one.
func (s *Service) appendAudit(ctx context.Context, ev *sluice.AuditEvent) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Append(ctx, ev)
}

// event records a control-plane change in the audit trail (and the log).
func (s *Service) event(ctx context.Context, kind string, p *sluice.Principal, fields map[string]any) error {
	args := []any{"event", kind, "subject", p.Subject, "organisation", p.Organisation}
	for k, v := range fields {
		args = append(args, k, v)
	}
	s.log.InfoContext(ctx, "control-plane event", args...)
	ev := &sluice.AuditEvent{Kind: kind, Principal: p.Subject, Organisation: p.Organisation, Details: fields}
	if a, ok := fields["authorization"].(string); ok {
		ev.Authorization = a
	}
	if d, ok := fields["dataset"].(string); ok {
		ev.Datasets = []string{d}
	}
	return s.appendAudit(ctx, ev)
}
