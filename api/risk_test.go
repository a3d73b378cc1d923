package api

import (
	"fmt"
	"strings"
	"testing"

	"sluice"
	"sluice/risk"
	"sluice/service"
	"sluice/storage/audit"
)

// If the audit trail cannot be written, queries are refused: fail closed.
func TestAuditUnavailableRefusesQueries(t *testing.T) {
	s := newStack(t)
	bank, authID := s.approved(t, sluice.Budget{Epsilon: 5, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6})
	run := service.Run{Authorization: authID, SQL: "SELECT count(*) FROM tax_monthly"}
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, ""))
	// Every query so far is in the trail.
	evs, err := s.audit.Query(t.Context(), audit.Filter{Kind: "query"})
	if err != nil || len(evs) != 1 || evs[0].Outcome != "released" || evs[0].ReleaseDigest == "" || evs[0].Epsilon != 0.5 {
		t.Fatalf("audit events %+v %v", evs, err)
	}
	s.audit.Close() // the trail is gone
	run.SQL = "SELECT count(*) FROM enterprise"
	e := s.must(t, 503, s.do(t, "POST", "/v1/queries", bank, run, "")).errBody(t)
	if e.Step != sluice.StepAudit || e.Rule != "audit.unavailable" {
		t.Errorf("with the audit trail closed: %+v", e)
	}
}

// Probing one firm after another trips the differencing rule: the
// authorization is suspended, reviewers see the alert, the trip is audited,
// and a reinstatement re-arms the rule.
func TestBreakerTripsOnDifferencing(t *testing.T) {
	b := risk.New(risk.DefaultRules(), nil)
	s := newStack(t, stackOptions{breaker: b})
	bank, authID := s.approved(t, sluice.Budget{Epsilon: 50, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6})
	reviewer := s.token(t, "zhang.min", "data-ops-center", sluice.RoleReviewer)
	suspended := false
	for i := 0; i < 8 && !suspended; i++ {
		run := service.Run{Authorization: authID, SQL: fmt.Sprintf("SELECT sum(tax_paid) FROM tax_monthly WHERE credit_code = '91310000MA1K%06d'", i)}
		r := s.do(t, "POST", "/v1/queries", bank, run, "")
		if r.status == 403 {
			suspended = strings.Contains(string(r.body), "suspended")
		}
	}
	if !suspended {
		t.Fatal("isolating probes did not suspend the authorization")
	}
	var alerts struct{ Alerts []service.Alert }
	s.must(t, 200, s.do(t, "GET", "/v1/alerts", reviewer, nil, "")).decode(t, &alerts)
	if len(alerts.Alerts) != 1 || alerts.Alerts[0].Rule != risk.RuleDifferencing || !alerts.Alerts[0].Open {
		t.Fatalf("alerts %+v", alerts)
	}
	evs, _ := s.audit.Query(t.Context(), audit.Filter{Kind: "breaker.tripped"})
	if len(evs) != 1 || evs[0].Authorization != authID {
		t.Errorf("breaker audit events %+v", evs)
	}
	s.must(t, 200, s.do(t, "POST", "/v1/authorizations/"+authID+"/reinstate", reviewer, actionBody{Reason: "the bank explained its test script"}, ""))
	s.must(t, 200, s.do(t, "GET", "/v1/alerts", reviewer, nil, "")).decode(t, &alerts)
	if alerts.Alerts[0].Open {
		t.Error("alert still open after reinstatement")
	}
	// Ordinary use after reinstatement does not trip.
	for _, q := range []string{
		"SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status",
		"SELECT e.district, avg(t.tax_paid) FROM tax_monthly t JOIN enterprise e USING (credit_code) GROUP BY e.district",
		"SELECT date_trunc('quarter', month) AS q, sum(tax_paid) FROM tax_monthly GROUP BY q",
	} {
		s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, service.Run{Authorization: authID, SQL: q}, ""))
	}
}
