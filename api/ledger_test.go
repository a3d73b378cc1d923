package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"sluice"
	"sluice/service"
	"sluice/storage/audit"
)

// approved registers the example datasets and sets up a bank's
// authorization with the given budget.
func (s *stack) approved(t testing.TB, budget sluice.Budget) (bank, authID string) {
	t.Helper()
	s.registerExamples(t)
	return s.authorize(t, []sluice.Grant{{Dataset: "tax_monthly", Columns: []string{"credit_code", "month", "tax_paid", "filing_status"}}, {Dataset: "enterprise", Columns: []string{"credit_code", "district", "size_class"}}}, budget, 5)
}

// authorize has the bank apply for grants and a reviewer of another
// organisation accept and approve the application as it is.
func (s *stack) authorize(t testing.TB, grants []sluice.Grant, budget sluice.Budget, minUnits int64) (bank, authID string) {
	t.Helper()
	bank = s.token(t, "li.wei", "bank-of-pudong", sluice.RoleAnalyst)
	reviewer := s.token(t, "zhang.min", "data-ops-center", sluice.RoleReviewer)
	now := s.clock.Now()
	terms := sluice.Terms{Purpose: "inclusive-finance-sme-credit", Grants: grants, ValidFrom: now, ValidUntil: now.AddDate(1, 0, 0), Budget: budget, MinUnits: minUnits}
	var app sluice.Application
	s.must(t, 201, s.do(t, "POST", "/v1/applications", bank, map[string]any{"terms": terms}, "")).decode(t, &app)
	s.must(t, 200, s.do(t, "POST", "/v1/applications/"+app.ID+"/accept", reviewer, nil, ""))
	var a sluice.Authorization
	s.must(t, 200, s.do(t, "POST", "/v1/applications/"+app.ID+"/approve", reviewer, service.Approval{Reason: "ok"}, "")).decode(t, &a)
	return bank, a.ID
}

// 1000 concurrent releases against a budget that allows exactly 100: at
// most 100 succeed, every refusal names the budget, and the ledger never
// shows more than the budget spent.
func TestConcurrentReleasesNeverOverspend(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 queries")
	}
	s := newStack(t)
	bank, authID := s.approved(t, sluice.Budget{Epsilon: 10, Delta: 1e-5, EpsilonPerQuery: 0.1, DeltaPerQuery: 1e-7})
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Distinct queries, so that the release cache does not answer.
			run := service.Run{Authorization: authID, SQL: fmt.Sprintf("SELECT count(*) FROM tax_monthly WHERE tax_paid > %d", i)}
			r := s.do(t, "POST", "/v1/queries", bank, run, "")
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
			if r.status != 200 {
				if e := r.errBody(t); e.Code != sluice.EBUDGET || e.Step != sluice.StepBudget {
					t.Errorf("refusal that is not about the budget: %d %+v", r.status, e)
				}
			}
		}(i)
	}
	wg.Wait()
	if codes[200] != 100 || codes[429] != 900 {
		t.Errorf("statuses %v, want 100 × 200 and 900 × 429", codes)
	}
	var b struct {
		Scopes []struct {
			Scope struct{ Key string }
			Spent float64 `json:"epsilon_spent"`
			Left  float64 `json:"epsilon_left"`
		}
	}
	s.must(t, 200, s.do(t, "GET", "/v1/authorizations/"+authID+"/budget", bank, nil, "")).decode(t, &b)
	if len(b.Scopes) == 0 || b.Scopes[0].Spent > 10+1e-9 || b.Scopes[0].Spent < 10-1e-9 {
		t.Errorf("budget after the run: %+v", b)
	}
}

// The same canonical query costs nothing the second time and returns the
// same numbers; a retry with the same request id returns the stored
// release; a new dataset version is charged again.
func TestReleaseCacheAndRetries(t *testing.T) {
	s := newStack(t)
	bank, authID := s.approved(t, sluice.Budget{Epsilon: 2, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6})
	spent := func() float64 {
		var b struct {
			Scopes []struct {
				Spent float64 `json:"epsilon_spent"`
			}
		}
		s.must(t, 200, s.do(t, "GET", "/v1/authorizations/"+authID+"/budget", bank, nil, "")).decode(t, &b)
		return b.Scopes[0].Spent
	}
	q1 := service.Run{Authorization: authID, SQL: "SELECT filing_status, count(*) AS n FROM tax_monthly GROUP BY filing_status"}
	// The same query, written differently: same canonical plan.
	q2 := service.Run{Authorization: authID, SQL: "select  filing_status , COUNT(*) as n from tax_monthly t group by 1"}
	var a, b QueryResponse
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, q1, "")).decode(t, &a)
	if spent() != 0.5 {
		t.Fatalf("spent %v after one query", spent())
	}
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, q2, "")).decode(t, &b)
	if !b.Release.Cached || spent() != 0.5 {
		t.Errorf("second query: cached %v, spent %v", b.Release.Cached, spent())
	}
	for i := range a.Release.Rows {
		if *a.Release.Rows[i][1].Number != *b.Release.Rows[i][1].Number {
			t.Errorf("cached numbers differ: %v vs %v", *a.Release.Rows[i][1].Number, *b.Release.Rows[i][1].Number)
		}
	}
	// Retries with a request id.
	q3 := service.Run{Authorization: authID, RequestID: "r-1", SQL: "SELECT size_class, count(*) FROM enterprise GROUP BY size_class"}
	var c, d QueryResponse
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, q3, "")).decode(t, &c)
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, q3, "")).decode(t, &d)
	if spent() != 1.0 || *c.Release.Rows[0][1].Number != *d.Release.Rows[0][1].Number {
		t.Errorf("retry: spent %v; %v vs %v", spent(), *c.Release.Rows[0][1].Number, *d.Release.Rows[0][1].Number)
	}
	// The retry is audited as what it was: the stored release again, no
	// budget spent.
	evs, err := s.audit.Query(t.Context(), audit.Filter{Kind: "query"})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range evs {
		if e.RequestID == "r-1" {
			outcomes = append(outcomes, fmt.Sprintf("%s ε=%v", e.Outcome, e.Epsilon))
		}
	}
	if got := strings.Join(outcomes, ", "); got != "released ε=0.5, replayed ε=0" {
		t.Errorf("audit of the request and its retry: %s", got)
	}
	q3.SQL = "SELECT count(*) FROM enterprise"
	if e := s.must(t, 409, s.do(t, "POST", "/v1/queries", bank, q3, "")).errBody(t); e.Rule != "request.id" {
		t.Errorf("reused request id: %+v", e)
	}
	// A new version of tax_monthly: the owner re-registers it.
	var ds sluice.Dataset
	owner := s.token(t, "owner", "shanghai-tax-bureau", sluice.RoleOwner)
	s.must(t, 200, s.do(t, "GET", "/v1/datasets/tax_monthly", owner, nil, "")).decode(t, &ds)
	ds.Version = "2026.01"
	ds.Location = "tax_monthly.parquet"
	s.must(t, 200, s.do(t, "PUT", "/v1/datasets/tax_monthly", owner, ds, ""))
	var e QueryResponse
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, q1, "")).decode(t, &e)
	if e.Release.Cached || spent() != 1.5 {
		t.Errorf("after a new version: cached %v, spent %v", e.Release.Cached, spent())
	}
}
