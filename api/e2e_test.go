package api

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"sluice"
	"sluice/auth"
	"sluice/examples/gen"
	"sluice/policy"
	"sluice/sandbox"
	"sluice/service"
	"sluice/storage"
	"sluice/storage/audit"
	"sluice/storage/bolt"
)

// clock is a settable time for the whole stack.
type clock struct{ t atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.t.Add(int64(d)) }

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

func exampleData(t testing.TB) string {
	t.Helper()
	genOnce.Do(func() {
		genDir, genErr = os.MkdirTemp("", "sluice-api-test-")
		if genErr == nil {
			genErr = gen.Generate(context.Background(), genDir, gen.Scale(0.05))
		}
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genDir != "" {
		os.RemoveAll(genDir)
	}
	os.Exit(code)
}

// stack is a real server: bolt store, embedded OPA policy, DuckDB sandbox,
// JWT verification, over real HTTP.
type stack struct {
	url    string
	clock  *clock
	minter *auth.Minter
	api    *Server
	data   string
	audit  *audit.Log
	store  *bolt.Store
	dir    string // the server's data directory
}

// stackOptions vary the stack.
type stackOptions struct {
	breaker   service.Breaker
	objects   service.ObjectStore
	retention int
}

func newStack(t testing.TB, opts ...stackOptions) *stack {
	t.Helper()
	var o stackOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	src := exampleData(t)
	data := t.TempDir()
	// Copy the Parquet files (not the manifests: owners register those).
	files, _ := filepath.Glob(filepath.Join(src, "*.parquet"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(data, filepath.Base(f)), b, 0o644)
	}
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) // a Monday
	store, err := bolt.Open(filepath.Join(data, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	pol, err := policy.New(ctx, policy.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	akey, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	alog, err := audit.Open(filepath.Join(data, "audit.log"), akey, audit.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	svc, err := service.New(ctx, service.Config{
		Catalog: &service.StoreCatalog{Store: store, Dir: data}, CacheDir: filepath.Join(data, "cache"),
		Sandbox: sandbox.Config{DisableFileSystem: true}, Store: store, Policy: pol, Now: clk.Now,
		Audit: alog, Breaker: o.breaker, DataDir: data, Objects: o.objects, VersionRetention: o.retention,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	key, err := auth.GenerateKey(auth.ES256)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(auth.Config{Issuer: "test", Audience: "sluice", PublicKeys: map[string]crypto.PublicKey{"k1": key.Public()}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	minter, err := auth.NewMinter(auth.ES256, key, "k1", "test", "sluice")
	if err != nil {
		t.Fatal(err)
	}
	minter.Now = clk.Now
	a := NewServer(svc, verifier, Options{})
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	return &stack{url: ts.URL, clock: clk, minter: minter, api: a, data: src, audit: alog, store: store, dir: data}
}

func (s *stack) token(t testing.TB, sub, org string, roles ...string) string {
	t.Helper()
	tok, err := s.minter.Mint(sluice.Principal{Subject: sub, Organisation: org, Roles: roles}, 24*time.Hour*400)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r reply) errBody(t testing.TB) *sluice.Error {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	if e.Error == nil {
		t.Fatalf("no error in %s", r.body)
	}
	return e.Error
}

func (s *stack) do(t testing.TB, method, path, token string, body any, accept string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: b, header: resp.Header}
}

func (s *stack) must(t testing.TB, want int, r reply) reply {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// registerExamples has each owner register its datasets' manifests.
func (s *stack) registerExamples(t testing.TB) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.data, "*.yaml"))
	for _, f := range files {
		d, err := storage.LoadManifest(f)
		if err != nil {
			t.Fatal(err)
		}
		d.Location = d.ID + ".parquet"
		tok := s.token(t, "owner-"+d.Owner, d.Owner, sluice.RoleOwner)
		s.must(t, 200, s.do(t, "PUT", "/v1/datasets/"+d.ID, tok, d, ""))
	}
}

func TestEndToEndAuthorizedOperation(t *testing.T) {
	s := newStack(t)
	s.registerExamples(t)
	bank := s.token(t, "li.wei", "bank-of-pudong", sluice.RoleAnalyst)
	reviewer := s.token(t, "zhang.min", "data-ops-center", sluice.RoleReviewer)
	ownReviewer := s.token(t, "chen.jie", "bank-of-pudong", sluice.RoleReviewer)

	// Everyone authenticated reads the catalog; the closed dataset is hidden.
	var cat struct{ Datasets []sluice.Dataset }
	s.must(t, 200, s.do(t, "GET", "/v1/datasets", bank, nil, "")).decode(t, &cat)
	for _, d := range cat.Datasets {
		if d.Open == sluice.Closed {
			t.Errorf("closed dataset %s listed to an analyst", d.ID)
		}
	}
	if len(cat.Datasets) < 8 {
		t.Errorf("catalog lists %d datasets", len(cat.Datasets))
	}

	// The bank applies.
	now := s.clock.Now()
	terms := sluice.Terms{
		Purpose:   "inclusive-finance-sme-credit",
		Grants:    []sluice.Grant{{Dataset: "tax_monthly", Columns: []string{"credit_code", "month", "tax_paid", "tax_arrears", "filing_status"}}, {Dataset: "enterprise", Columns: []string{"credit_code", "district", "industry", "size_class"}}},
		ValidFrom: now, ValidUntil: now.AddDate(0, 6, 0),
		Budget:   sluice.Budget{Epsilon: 10, Delta: 1e-5, EpsilonPerQuery: 1, DeltaPerQuery: 1e-6},
		MinUnits: 10,
	}
	var app sluice.Application
	s.must(t, 201, s.do(t, "POST", "/v1/applications", bank, map[string]any{"terms": terms}, "")).decode(t, &app)
	if app.State != sluice.AppSubmitted || app.DueAt.Weekday() != time.Monday {
		t.Errorf("application %s due %s (%s)", app.State, app.DueAt, app.DueAt.Weekday())
	}
	// Separation of duties: a reviewer of the bank's own organisation may not.
	if e := s.must(t, 403, s.do(t, "POST", "/v1/applications/"+app.ID+"/accept", ownReviewer, nil, "")).errBody(t); e.Rule != "review.own_organisation" {
		t.Errorf("own-organisation review: %+v", e)
	}
	s.must(t, 200, s.do(t, "POST", "/v1/applications/"+app.ID+"/accept", reviewer, nil, ""))
	// The reviewer approves with fewer columns (no tax_arrears) and a lower budget.
	approval := service.Approval{
		Grants: []sluice.Grant{{Dataset: "tax_monthly", Columns: []string{"credit_code", "month", "tax_paid", "filing_status"}}, {Dataset: "enterprise", Columns: []string{"credit_code", "district", "industry", "size_class"}}},
		Budget: &sluice.Budget{Epsilon: 5, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6},
		Reason: "arrears are not needed for the stated scoring model",
	}
	var authz sluice.Authorization
	s.must(t, 200, s.do(t, "POST", "/v1/applications/"+app.ID+"/approve", reviewer, approval, "")).decode(t, &authz)
	if authz.State != sluice.AuthActive || authz.Terms.Budget.Epsilon != 5 {
		t.Fatalf("authorization %+v", authz)
	}

	okSQL := "SELECT e.district, count(DISTINCT t.credit_code) AS firms, sum(t.tax_paid) AS paid FROM tax_monthly t JOIN enterprise e USING (credit_code) GROUP BY e.district"
	run := service.Run{Authorization: authz.ID, SQL: okSQL}
	var qr QueryResponse
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, "")).decode(t, &qr)
	if qr.Release == nil || len(qr.Release.Rows) == 0 || qr.Release.Epsilon != 0.5 {
		t.Fatalf("release: %+v", qr.Release)
	}
	// CSV and Arrow by content negotiation.
	csvR := s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, "text/csv"))
	if !strings.HasPrefix(string(csvR.body), "district,firms,firms_ci95_lower") || csvR.header.Get("Sluice-Epsilon") != "0.5" {
		t.Errorf("csv: %s %v", csvR.body[:min(80, len(csvR.body))], csvR.header)
	}
	arrowR := s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, "application/vnd.apache.arrow.stream"))
	rdr, err := ipc.NewReader(bytes.NewReader(arrowR.body))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for rdr.Next() {
		rows += int(rdr.RecordBatch().NumRows())
	}
	rdr.Release()
	if rows == 0 || rdr.Schema().NumFields() != 7 {
		t.Errorf("arrow: %d rows, %d fields", rows, rdr.Schema().NumFields())
	}
	// A query over the removed column is refused with the policy's reason.
	bad := service.Run{Authorization: authz.ID, SQL: "SELECT sum(tax_arrears) FROM tax_monthly"}
	e := s.must(t, 403, s.do(t, "POST", "/v1/queries", bank, bad, "")).errBody(t)
	if e.Step != sluice.StepPolicy || e.Rule != "authorization.column" || !strings.Contains(e.Message, "tax_arrears") {
		t.Errorf("removed column: %+v", e)
	}
	// Explain runs nothing and shows the decision.
	var ex QueryResponse
	s.must(t, 200, s.do(t, "POST", "/v1/queries:explain", bank, run, "")).decode(t, &ex)
	if ex.Explain == nil || ex.Explain.SQL == "" || ex.Decision == nil || !ex.Decision.Allow {
		t.Errorf("explain: %+v", ex.Explain)
	}
	// Suspended: refused; reinstated: allowed.
	s.must(t, 200, s.do(t, "POST", "/v1/authorizations/"+authz.ID+"/suspend", reviewer, actionBody{Reason: "investigating a burst of queries"}, ""))
	if e := s.must(t, 403, s.do(t, "POST", "/v1/queries", bank, run, "")).errBody(t); e.Rule != "authorization.inactive" || !strings.Contains(e.Message, "suspended") {
		t.Errorf("suspended: %+v", e)
	}
	s.must(t, 200, s.do(t, "POST", "/v1/authorizations/"+authz.ID+"/reinstate", reviewer, actionBody{Reason: "cleared"}, ""))
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, ""))
	// Expired by date.
	s.clock.Add(7 * 30 * 24 * time.Hour)
	if e := s.must(t, 403, s.do(t, "POST", "/v1/queries", bank, run, "")).errBody(t); e.Rule != "authorization.inactive" || !strings.Contains(e.Message, "expired") {
		t.Errorf("expired: %+v", e)
	}
	var got sluice.Authorization
	s.must(t, 200, s.do(t, "GET", "/v1/authorizations/"+authz.ID, bank, nil, "")).decode(t, &got)
	if got.State != sluice.AuthExpired || len(got.History) != 3 {
		t.Errorf("authorization after expiry: %s, %d transitions", got.State, len(got.History))
	}
}

// Every route, every role: the role gate allows exactly the roles the
// route names, and no route but the public ones answers without a token.
func TestRoleEndpointMatrix(t *testing.T) {
	s := newStack(t)
	roles := []string{sluice.RoleOwner, sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor, sluice.RoleAdmin}
	want := map[string][]string{
		"GET /healthz": nil, "GET /readyz": nil, "GET /metrics": nil, "GET /openapi.json": nil,
		"GET /v1/datasets": roles, "GET /v1/datasets/{id}": roles, "PUT /v1/datasets/{id}": {sluice.RoleOwner},
		"POST /v1/datasets/{id}/status": {sluice.RoleOwner}, "GET /v1/datasets/{id}/versions": roles, "POST /v1/datasets/{id}/versions": {sluice.RoleOwner},
		"POST /v1/corrections": roles, "GET /v1/corrections": roles, "POST /v1/corrections/{id}/answer": {sluice.RoleOwner},
		"POST /v1/applications": {sluice.RoleAnalyst}, "GET /v1/applications": {sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor},
		"GET /v1/applications/{id}":              {sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor},
		"POST /v1/applications/{id}/accept":      {sluice.RoleReviewer},
		"POST /v1/applications/{id}/approve":     {sluice.RoleReviewer},
		"POST /v1/applications/{id}/reject":      {sluice.RoleReviewer},
		"POST /v1/applications/{id}/withdraw":    {sluice.RoleAnalyst},
		"GET /v1/reviews/due":                    {sluice.RoleReviewer},
		"GET /v1/authorizations":                 {sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor},
		"GET /v1/authorizations/{id}":            {sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor},
		"POST /v1/authorizations/{id}/suspend":   {sluice.RoleReviewer},
		"POST /v1/authorizations/{id}/reinstate": {sluice.RoleReviewer},
		"POST /v1/authorizations/{id}/revoke":    {sluice.RoleReviewer},
		"GET /v1/authorizations/{id}/budget":     {sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor},
		"GET /v1/alerts":                         {sluice.RoleReviewer, sluice.RoleAuditor},
		"GET /v1/audit":                          {sluice.RoleAuditor, sluice.RoleAnalyst, sluice.RoleOwner},
		"POST /v1/queries":                       {sluice.RoleAnalyst},
		"POST /v1/queries:explain":               {sluice.RoleAnalyst},
	}
	for _, rt := range s.api.Routes() {
		allowed, ok := want[rt]
		if !ok {
			t.Errorf("route %s has no expectation in the matrix", rt)
			continue
		}
		method, path, _ := strings.Cut(rt, " ")
		path = strings.ReplaceAll(path, "{id}", "x1")
		if allowed == nil {
			if r := s.do(t, method, path, "", nil, ""); r.status == 401 || r.status == 403 {
				t.Errorf("%s public but answered %d", rt, r.status)
			}
			continue
		}
		if r := s.do(t, method, path, "", nil, ""); r.status != 401 {
			t.Errorf("%s without a token: %d", rt, r.status)
		}
		for _, role := range roles {
			r := s.do(t, method, path, s.token(t, "u-"+role, "org-"+role, role), map[string]any{}, "")
			roleRefused := r.status == 403 && r.errBody(t).Rule == "role"
			should := false
			for _, a := range allowed {
				should = should || a == role
			}
			if roleRefused == should {
				t.Errorf("%s as %s: status %d %s (allowed: %v)", rt, role, r.status, r.body, should)
			}
		}
	}
	for rt := range want {
		found := false
		for _, r := range s.api.Routes() {
			found = found || r == rt
		}
		if !found {
			t.Errorf("matrix names %s, which is not a route", rt)
		}
	}
}

// The OpenAPI document describes exactly the server's routes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newStack(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	s.must(t, 200, s.do(t, "GET", "/openapi.json", "", nil, "")).decode(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			documented[strings.ToUpper(m)+" "+path] = true
		}
	}
	for _, rt := range s.api.Routes() {
		if !documented[rt] {
			t.Errorf("route %s is not in the OpenAPI document", rt)
		}
		delete(documented, rt)
	}
	for rt := range documented {
		t.Errorf("OpenAPI documents %s, which is not a route", rt)
	}
}

func TestBadTokensRefused(t *testing.T) {
	s := newStack(t)
	for _, h := range []string{"Bearer nonsense", "Basic abc", "Bearer " + strings.Repeat("a", 10)} {
		req, _ := http.NewRequest("GET", s.url+"/v1/datasets", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q: %d", h, resp.StatusCode)
		}
	}
	_ = fmt.Sprint
}
