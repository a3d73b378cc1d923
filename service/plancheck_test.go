package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sluice"
	"sluice/privacy"
	"sluice/query"
	"sluice/sandbox"
	"sluice/storage"
)

// The bound-plan check is the last line before execution: even SQL that
// got past the analyser may read only the authorised columns of the
// authorised tables, and nothing else.
func TestBoundPlanCheckRefusesWhatTheAnalyserWouldNot(t *testing.T) {
	svc := newService(t)
	ctx := context.Background()
	d, err := svc.catalog.Get("enterprise")
	if err != nil {
		t.Fatal(err)
	}
	file, err := storage.Prepare(ctx, d, svc.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Open(ctx, sandbox.Config{}, []sandbox.Table{{Name: "enterprise", File: file, Columns: []string{"credit_code", "district"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	alias, _ := sb.Source("enterprise")
	src := []query.Source{{Catalog: alias, Columns: []string{"credit_code", "district"}}}
	for _, tc := range []struct {
		sql string
		ok  bool
	}{
		{"SELECT district, count(*) FROM enterprise GROUP BY district", true},
		{"SELECT count(name) FROM " + alias + ".main.data", false},                   // the attached file behind the view
		{"SELECT count(*) FROM " + alias + ".main.data WHERE name LIKE 'A%'", false}, // a filter on an identifier
		{"SELECT district, count(*) FROM enterprise, range(3) GROUP BY district", false},
		// A constant that reads like a scan is not one.
		{`SELECT district, count(*) FROM enterprise WHERE district <> '{"type":"LOGICAL_GET","name":"read_csv"}' GROUP BY district`, true},
	} {
		// The unoptimized plan: the optimizer may drop a scan whose filter
		// the statistics rule out, hiding the column it named.
		js, err := sb.SerializePlan(ctx, tc.sql)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		err = query.CheckBoundPlan(js, src)
		if (err == nil) != tc.ok {
			t.Errorf("%s: check %v, want ok=%v", tc.sql, err, tc.ok)
		}
	}
}

// The remembered plan checks are keyed by everything the checks read: a
// change to any input names a different check.
func TestPlanCheckKeyCoversItsInputs(t *testing.T) {
	src := func(cat string, cols ...string) []query.Source {
		return []query.Source{{Catalog: cat, Columns: cols}}
	}
	base := planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "")
	for name, k := range map[string][32]byte{
		"pool key":        planCheckKey("2|t=g:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", ""),
		"alias":           planCheckKey("2|t=f:a,b", src("ds1", "a", "b"), src("ds0", "a"), "SELECT 1", ""),
		"exposed columns": planCheckKey("2|t=f:a,b", src("ds0", "a"), src("ds0", "a"), "SELECT 1", ""),
		"read columns":    planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "b"), "SELECT 1", ""),
		"statement":       planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 2", ""),
		"quantile SQL":    planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "SELECT 3"),
		"split point":     planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "", "SELECT 1"),
		"column split":    planCheckKey("2|t=f:a,b", src("ds0", "a,b"), src("ds0", "a"), "SELECT 1", ""),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	if planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "") != base {
		t.Error("the same inputs give another key")
	}
}

// The optimized plan is checked only when the sandbox exposes more than the
// query reads; sameSources decides that, in any order, ignoring case.
func TestSameSources(t *testing.T) {
	a := []query.Source{{Catalog: "ds0", Columns: []string{"a", "b"}}, {Catalog: "ds1", Columns: []string{"c"}}}
	for _, tc := range []struct {
		b    []query.Source
		want bool
	}{
		{[]query.Source{{Catalog: "ds1", Columns: []string{"C"}}, {Catalog: "ds0", Columns: []string{"b", "a"}}}, true},
		{[]query.Source{{Catalog: "ds0", Columns: []string{"a"}}, {Catalog: "ds1", Columns: []string{"c"}}}, false},
		{[]query.Source{{Catalog: "ds0", Columns: []string{"a", "b"}}, {Catalog: "ds2", Columns: []string{"c"}}}, false},
		{[]query.Source{{Catalog: "ds0", Columns: []string{"a", "b", "c"}}}, false},
	} {
		if got := sameSources(a, tc.b); got != tc.want {
			t.Errorf("sameSources(%v, %v) = %v, want %v", a, tc.b, got, tc.want)
		}
	}
}

// In server mode the sandbox exposes every column an authorization grants;
// the optimized plans of the row stages must then read only the query's
// columns. The check is not vacuous: without one of the columns the query
// reads, it fails.
func TestOptimizedRowStagesInServerMode(t *testing.T) {
	svc := newService(t)
	ctx := context.Background()
	explain := func(q string) *Explanation {
		ex, err := svc.Explain(ctx, QueryRequest{SQL: q, Obligations: sluice.Obligations{Epsilon: 1, Delta: 1e-6, L0: 2, Linf: 5, Noise: sluice.NoiseLaplace}})
		if err != nil {
			t.Fatal(err)
		}
		ex.exposed = map[string][]string{}
		for _, id := range ex.Plan.Datasets {
			d, err := svc.catalog.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range d.Columns {
				if c.Role != sluice.RoleIdentifier {
					ex.exposed[id] = append(ex.exposed[id], c.Name)
				}
			}
		}
		return ex
	}
	join := explain("SELECT e.size_class, avg(s.headcount) FROM enterprise e JOIN tax_monthly t ON t.credit_code = e.credit_code JOIN social_insurance s ON s.credit_code = t.credit_code AND s.month = t.month GROUP BY e.size_class")
	if err := svc.CheckPlans(ctx, join); err != nil {
		t.Errorf("server-mode plan checks of a join: %v", err)
	}
	// The join's optimized row stage, which DuckDB 1.5.6 cannot serialize
	// with its sides swapped, serializes in the plan checks' instance, and
	// its check is not vacuous either.
	func() {
		sb, key, _, read, err := svc.sandboxFor(ctx, join)
		if err != nil {
			t.Fatal(err)
		}
		defer svc.pool.put(key, sb, true)
		js, err := sb.SerializeOptimizedPlan(ctx, join.bounded.RowStages()[0])
		if err != nil {
			t.Fatalf("optimized join plan: %v (%v)", err, sandbox.Cause(err))
		}
		if err := query.CheckBoundPlan(js, read); err != nil {
			t.Errorf("the join's row stage reads more than the query: %v", err)
		}
		for i, src := range read {
			fewer := append([]query.Source(nil), read...)
			fewer[i].Columns = src.Columns[1:]
			if err := query.CheckBoundPlan(js, fewer); err == nil {
				t.Errorf("the join's row stage passed without %s.%s", src.Catalog, src.Columns[0])
			}
		}
	}()

	ex := explain("SELECT filing_status, sum(tax_paid), median(tax_paid) FROM tax_monthly GROUP BY ALL")
	if err := svc.CheckPlans(ctx, ex); err != nil {
		t.Fatalf("server-mode plan checks: %v", err)
	}
	sb, key, exposed, read, err := svc.sandboxFor(ctx, ex)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.pool.put(key, sb, true)
	if sameSources(exposed, read) {
		t.Fatal("the sandbox exposes only what the query reads: not server mode")
	}
	stages := ex.bounded.RowStages()
	if len(stages) != 2 {
		t.Fatalf("%d row stages, want 2 (main and quantile)", len(stages))
	}
	for _, q := range stages {
		js, err := sb.SerializeOptimizedPlan(ctx, q)
		if err != nil {
			t.Fatalf("optimized plan of %s: %v (%v)", q, err, sandbox.Cause(err))
		}
		if err := query.CheckBoundPlan(js, read); err != nil {
			t.Errorf("the row stage's plan reads more than the query: %v", err)
		}
		for i, src := range read {
			for j := range src.Columns {
				fewer := append([]query.Source(nil), read...)
				fewer[i].Columns = append(append([]string(nil), src.Columns[:j]...), src.Columns[j+1:]...)
				if err := query.CheckBoundPlan(js, fewer); err == nil {
					t.Errorf("the row stage's plan passed without %s.%s", src.Catalog, src.Columns[j])
				}
			}
		}
	}
}

// Queries that differ only in analyst constants share a shape and so the
// remembered bound-plan check, yet each runs with its own constants.
func TestPlanChecksRememberedByShape(t *testing.T) {
	svc := newService(t)
	dir := exampleData(t)
	ctx := context.Background()
	run := func(district string) {
		t.Helper()
		res, err := svc.Query(ctx, QueryRequest{
			SQL:         "SELECT industry, count(*) AS firms FROM enterprise WHERE district = '" + district + "' GROUP BY industry",
			Obligations: sluice.Obligations{Epsilon: 50, Delta: 1e-6, L0: 1, Linf: 1, MinUnits: 5, Noise: sluice.NoiseLaplace},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := trueCounts(t, "SELECT industry, count(*)::DOUBLE FROM '"+filepath.Join(dir, "enterprise.parquet")+"' WHERE district = '"+district+"' GROUP BY 1")
		// Industries with few firms in a district are suppressed.
		if len(res.Release.Rows) < 5 {
			t.Fatalf("%s: released %d industries, want at least 5", district, len(res.Release.Rows))
		}
		for _, row := range res.Release.Rows {
			k := row[0].Key.(string)
			// Laplace scale 1/25 (ε 50 split in two): |noise| > 2 has
			// probability e^-50.
			if n := *row[1].Number; math.Abs(n-want[k]) > 2 {
				t.Errorf("%s, industry %s: %v firms, true %v", district, k, n, want[k])
			}
		}
	}
	run("pudong")
	checked := svc.planChecked.Len()
	run("xuhui")
	run("chongming")
	if n := svc.planChecked.Len(); n != checked {
		t.Errorf("queries differing in a district took %d plan checks, want none", n-checked)
	}
	if _, err := svc.Query(ctx, QueryRequest{SQL: "SELECT industry, count(*) AS firms FROM enterprise WHERE district <> 'xuhui' GROUP BY industry", Obligations: ob(1)}); err != nil {
		t.Fatal(err)
	}
	if n := svc.planChecked.Len(); n != checked+1 {
		t.Errorf("a query of another shape took %d plan checks, want 1", n-checked)
	}
	// A new clamp bound changes only numbers of the row stage (the bound and
	// what the renderer derives from it): no new check. A new group key does.
	checked = svc.planChecked.Len()
	for _, q := range []string{
		"SELECT industry, sum(least(registered_capital, 1000)) FROM enterprise GROUP BY industry",
		"SELECT industry, sum(least(registered_capital, 2500)) FROM enterprise GROUP BY industry",
		"SELECT industry, sum(least(registered_capital, 99999)) FROM enterprise GROUP BY industry",
	} {
		if _, err := svc.Check(ctx, QueryRequest{SQL: q, Obligations: ob(1)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.planChecked.Len(); n != checked+1 {
		t.Errorf("three clamp bounds took %d plan checks, want 1", n-checked)
	}
	if _, err := svc.Check(ctx, QueryRequest{SQL: "SELECT district, sum(least(registered_capital, 1000)) FROM enterprise GROUP BY district", Obligations: ob(1)}); err != nil {
		t.Fatal(err)
	}
	if n := svc.planChecked.Len(); n != checked+2 {
		t.Errorf("another group key took %d plan checks, want 1", n-checked-1)
	}
}

// Some constants only DuckDB's binder rejects (a strftime format, a
// regular expression), so a query can fail to bind although its shape was
// checked with another constant. It then fails before reading anything,
// and is not charged.
func TestBindFailureOfARememberedShapeReadsNothing(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	const q = "SELECT filing_status, count(*) FROM tax_monthly WHERE strftime(month, %s) = '2022' GROUP BY filing_status"
	if _, err := svc.Query(ctx, QueryRequest{SQL: strings.Replace(q, "%s", "'%Y'", 1), Obligations: ob(1)}); err != nil {
		t.Fatal(err)
	}
	checked := svc.planChecked.Len()
	ex, err := svc.Explain(ctx, QueryRequest{SQL: strings.Replace(q, "%s", "'%Q'", 1), Obligations: ob(1)})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := privacy.NewSelection(ex.Plan, ob(1))
	if err != nil {
		t.Fatal(err)
	}
	touched, err := svc.execute(ctx, ex, sel)
	var se *sluice.Error
	if !errors.As(err, &se) || se.Rule != sandbox.RuleBind || se.Code != sluice.EINVALID {
		t.Fatalf("a format DuckDB's binder rejects: %v, want rule %s", err, sandbox.RuleBind)
	}
	if touched {
		t.Error("a statement that did not bind counts as having read data")
	}
	if svc.planChecked.Len() != checked {
		t.Error("the shape was checked again")
	}
}

// In server mode the optimizer may remove a scan whose filter the data's
// statistics rule out, for the constants of one query: its check of what
// the row stage reads then inspected less than other queries of its shape
// read, and is not remembered for them.
func TestOptimizedCheckWithoutScansIsNotRemembered(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	explain := func(month string) *Explanation {
		ex := explainSince(t, svc, month)
		ex.exposed = map[string][]string{"tax_monthly": {"credit_code", "month", "tax_paid", "tax_arrears", "filing_status"}}
		return ex
	}
	empty := explain("2099-01-01")
	sb, key, exposed, read, err := svc.sandboxFor(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	if sameSources(exposed, read) {
		t.Fatal("the sandbox exposes only what the query reads: not server mode")
	}
	js, err := sb.SerializeOptimizedPlan(ctx, empty.bounded.RowStages()[0])
	svc.pool.put(key, sb, true)
	if err != nil {
		t.Fatal(err)
	}
	if query.PlanScans(js) != 0 {
		t.Fatal("the optimizer kept the scan of a filter no row can pass: the test shows nothing")
	}
	checked := svc.planChecked.Len()
	if err := svc.CheckPlans(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if svc.planChecked.Len() != checked {
		t.Error("a check that saw no scan was remembered for its shape")
	}
	if err := svc.CheckPlans(ctx, explain("2022-01-01")); err != nil {
		t.Fatal(err)
	}
	if svc.planChecked.Len() != checked+1 {
		t.Error("a complete check was not remembered")
	}
}

// The rewrite's verification runs beside the bound-plan checks; a query
// whose verification fails reads nothing, however far the checks got, and
// is not charged.
func TestFailedVerificationReadsNothing(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	ex, err := svc.explainSQL(ctx, QueryRequest{SQL: "SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status", Obligations: ob(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.verified.wait(); err != nil {
		t.Fatal(err)
	}
	wrong := errors.New("the rewrite does not verify")
	ex.verified = &verification{done: make(chan struct{}), err: wrong}
	close(ex.verified.done)
	sel, err := privacy.NewSelection(ex.Plan, ob(1))
	if err != nil {
		t.Fatal(err)
	}
	touched, err := svc.execute(ctx, ex, sel)
	if !errors.Is(err, wrong) {
		t.Fatalf("got %v, want the verification's error", err)
	}
	if touched {
		t.Error("a query that failed verification counts as having read data")
	}
	groups, err := sel.Groups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		// The keys of a public domain are there without data; their units
		// only if the query ran.
		if g.Units != 0 {
			t.Errorf("the sandbox ran the query: group %v has %d units", g.Keys, g.Units)
		}
	}
	if err := svc.CheckPlans(ctx, ex); !errors.Is(err, wrong) {
		t.Errorf("CheckPlans: got %v, want the verification's error", err)
	}
}

// Query returns only once the verification it started has ended, even when
// the plan checks refused the query first; Close could otherwise close the
// parser under it.
func TestQueryWaitsForItsVerification(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	if _, err := svc.Query(ctx, QueryRequest{SQL: "SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status", Obligations: ob(1)}); err != nil {
		t.Fatal(err) // the sandbox of tax_monthly is now pooled
	}
	for i := 0; i < 10; i++ {
		// A new shape each round (another number of conjuncts, a long
		// re-parse), whose strftime format only DuckDB's binder rejects.
		q := "SELECT filing_status, count(*) FROM tax_monthly WHERE strftime(month, '%Q') = '2022'" +
			strings.Repeat(" AND filing_status <> 'x'", 1000+i) + " GROUP BY filing_status"
		if _, err := svc.Query(ctx, QueryRequest{SQL: q, Obligations: ob(1)}); err == nil {
			t.Fatal("a format the binder rejects ran")
		}
		buf := make([]byte, 1<<20)
		if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "service.(*Service).verify.func") || strings.Contains(stacks, "service.(*verification).start.func") {
			t.Fatalf("round %d: a verification outlived its Query", i)
		}
	}
}

// The plan checks bind the rewrite beside its verification, but what they
// find is remembered for the shape only once the verification passed.
func TestPlanCheckRememberedOnlyAfterVerification(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	ex := explainSince(t, svc, "2023-01-01")
	pending := &verification{done: make(chan struct{})}
	ex.verified = pending
	before := svc.planChecked.Len()
	res := make(chan error, 1)
	go func() { res <- svc.CheckPlans(ctx, ex) }()
	time.Sleep(300 * time.Millisecond) // the bind takes about a millisecond
	if svc.planChecked.Len() != before {
		t.Error("a plan check was remembered before its verification answered")
	}
	pending.err = errors.New("does not verify")
	close(pending.done)
	if err := <-res; !errors.Is(err, pending.err) {
		t.Fatalf("CheckPlans: got %v, want the verification's error", err)
	}
	if svc.planChecked.Len() != before {
		t.Error("the plan check of a statement that failed verification was remembered")
	}
	// The same shape, verified: now it is remembered.
	if err := svc.CheckPlans(ctx, explainSince(t, svc, "2023-02-01")); err != nil {
		t.Fatal(err)
	}
	if svc.planChecked.Len() != before+1 {
		t.Errorf("%d plan checks remembered, want %d", svc.planChecked.Len(), before+1)
	}
}

// The verification runs in a goroutine of its own only beside plan checks
// that run; when they are remembered it runs in the request's.
func TestVerificationBesideChecksOnly(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	check := func(bound int) *Explanation {
		t.Helper()
		ex, err := svc.Check(ctx, QueryRequest{SQL: fmt.Sprintf("SELECT industry, sum(least(registered_capital, %d)) FROM enterprise GROUP BY industry", bound), Obligations: ob(1)})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	if ex := check(1000); !ex.verified.started {
		t.Error("a new shape's verification did not run beside its plan checks")
	}
	if ex := check(2000); ex.verified.started {
		t.Error("the verification of a query whose plan checks are remembered ran in a goroutine")
	}
	// Forgotten checks run again, beside each other.
	svc.ForgetChecks()
	before := svc.planChecked.Len()
	if ex := check(2000); !ex.verified.started || svc.planChecked.Len() != before+1 {
		t.Errorf("after ForgetChecks: verification beside the checks %v, %d plan checks remembered, want 1", ex.verified.started, svc.planChecked.Len()-before)
	}
	// Explain runs no plan check: the verification runs where it is waited.
	ex, err := svc.Explain(ctx, QueryRequest{SQL: "SELECT industry, sum(least(registered_capital, 3000)) FROM enterprise GROUP BY industry", Obligations: ob(1)})
	if err != nil || ex.verified.started {
		t.Errorf("Explain: %v, verification started in a goroutine %v", err, ex != nil && ex.verified.started)
	}
}

// explainSince explains (and verifies) a count by filing status of the
// tax months since month: one shape for every month.
func explainSince(t *testing.T, svc *Service, month string) *Explanation {
	t.Helper()
	ex, err := svc.Explain(context.Background(), QueryRequest{SQL: "SELECT filing_status, count(*) FROM tax_monthly WHERE month >= '" + month + "' GROUP BY filing_status", Obligations: ob(1)})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}
