package service

import (
	"context"
	"testing"

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
