package service

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sluice"
	"sluice/examples/gen"
	"sluice/sandbox"
	"sluice/storage"
)

var (
	dataOnce sync.Once
	dataDir  string
	dataErr  error
)

// exampleData generates a small example data set once per test binary.
func exampleData(t testing.TB) string {
	t.Helper()
	dataOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-service-test-")
		if err != nil {
			dataErr = err
			return
		}
		dataDir = dir
		opts := gen.Scale(0.1)
		dataErr = gen.Generate(context.Background(), dir, opts)
	})
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	return dataDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
	os.Exit(code)
}

func newService(t *testing.T) *Service {
	t.Helper()
	dir := exampleData(t)
	cat, err := storage.OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), Config{Catalog: cat, CacheDir: filepath.Join(t.TempDir(), "cache"), Sandbox: sandbox.Config{DisableFileSystem: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func ob(eps float64) sluice.Obligations {
	return sluice.Obligations{Epsilon: eps, Delta: 1e-6, L0: 1, Linf: 1000, MinUnits: 5, Noise: sluice.NoiseLaplace}
}

// trueCounts runs plain SQL over the Parquet files.
func trueCounts(t *testing.T, q string) map[string]float64 {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var k string
		var v float64
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// End to end: with a large ε the release is close to the truth, every
// public group is present, and the budget spent is what was asked.
func TestQueryEndToEnd(t *testing.T) {
	svc := newService(t)
	dir := exampleData(t)
	res, err := svc.Query(context.Background(), QueryRequest{
		SQL:         "SELECT district, count(*) AS firms, sum(registered_capital) AS capital FROM enterprise GROUP BY district ORDER BY district",
		Obligations: sluice.Obligations{Epsilon: 50, Delta: 1e-6, L0: 1, Linf: 1, MinUnits: 5, Noise: sluice.NoiseLaplace},
	})
	if err != nil {
		t.Fatal(err)
	}
	rel := res.Release
	if rel.Epsilon != 50 {
		t.Errorf("spent ε %v, want 50", rel.Epsilon)
	}
	want := trueCounts(t, "SELECT district, count(*)::DOUBLE FROM '"+filepath.Join(dir, "enterprise.parquet")+"' GROUP BY 1")
	capital := trueCounts(t, "SELECT district, sum(least(greatest(registered_capital, 0), 100000))::DOUBLE FROM '"+filepath.Join(dir, "enterprise.parquet")+"' GROUP BY 1")
	if len(rel.Rows) != 16 {
		t.Fatalf("released %d districts, want 16", len(rel.Rows))
	}
	prev := ""
	for _, row := range rel.Rows {
		d := row[0].Key.(string)
		if d < prev {
			t.Errorf("ORDER BY district not applied: %s after %s", d, prev)
		}
		prev = d
		n := *row[1].Number
		// Laplace scale L0·Linf/ε_share = 3/50; |noise| > 5 has probability e^-83.
		if math.Abs(n-want[d]) > 5 {
			t.Errorf("%s: %v firms, true %v", d, n, want[d])
		}
		if row[1].CI == nil || row[1].CI.Lower > n || row[1].CI.Upper < n {
			t.Errorf("%s: CI %v does not contain %v", d, row[1].CI, n)
		}
		// capital: one row per firm, so the sum is exact up to Laplace noise of
		// scale Linf·100000/(50/3) = 6000; |noise| > 20 scales has probability 2e-9.
		if c := *row[2].Number; math.Abs(c-capital[d]) > 6000*20 {
			t.Errorf("%s: capital %v, true %v", d, c, capital[d])
		}
	}
}

func TestQueryRefusals(t *testing.T) {
	svc := newService(t)
	for _, tc := range []struct {
		sql  string
		code string
		step string
	}{
		{"SELECT credit_code FROM tax_monthly", sluice.EINVALID, sluice.StepAnalysis},
		{"SELECT count(*) FROM sealed_investigations", sluice.EFORBIDDEN, sluice.StepPolicy},
		{"SELECT count(*) FROM read_csv('/etc/passwd')", sluice.EINVALID, sluice.StepAnalysis},
	} {
		_, err := svc.Query(context.Background(), QueryRequest{SQL: tc.sql, Obligations: ob(1)})
		var se *sluice.Error
		if !errors.As(err, &se) || se.Code != tc.code || se.Step != tc.step {
			t.Errorf("%s: %v, want %s at %s", tc.sql, err, tc.code, tc.step)
		}
	}
	// Bad obligations are refused before anything runs.
	bad := ob(math.NaN())
	if _, err := svc.Query(context.Background(), QueryRequest{SQL: "SELECT count(*) FROM enterprise", Obligations: bad}); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("NaN ε: %v", err)
	}
}

// Quantiles, data-derived keys, HAVING and LIMIT go through the whole path.
func TestQueryShapes(t *testing.T) {
	svc := newService(t)
	for _, q := range []string{
		"SELECT date_trunc('year', month) AS y, median(tax_paid) AS m, count(*) AS n FROM tax_monthly GROUP BY y HAVING n > 10 ORDER BY y LIMIT 1",
		"SELECT age_band, sex, avg(cost), stddev(cost), max(cost) FROM clinic_visits GROUP BY ALL",
		"WITH a AS (SELECT * FROM tax_monthly WHERE tax_arrears > 0) SELECT e.size_class, count(DISTINCT a.credit_code) FROM a JOIN enterprise e USING (credit_code) GROUP BY 1",
		// A three-way join whose optimized plan DuckDB cannot serialize.
		"SELECT e.size_class, avg(s.headcount), sum(t.tax_arrears) FROM enterprise e JOIN tax_monthly t ON t.credit_code = e.credit_code JOIN social_insurance s ON s.credit_code = t.credit_code AND s.month = t.month GROUP BY e.size_class",
	} {
		res, err := svc.Query(context.Background(), QueryRequest{SQL: q, Obligations: sluice.Obligations{Epsilon: 1, Delta: 1e-6, L0: 2, Linf: 5, MinUnits: 5, Noise: sluice.NoiseLaplace}})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if len(res.Release.Columns) != len(res.Plan.Outputs) {
			t.Errorf("%s: %d columns for %d outputs", q, len(res.Release.Columns), len(res.Plan.Outputs))
		}
		for _, row := range res.Release.Rows {
			if len(row) != len(res.Release.Columns) {
				t.Fatalf("%s: row of %d cells", q, len(row))
			}
		}
		if res.Plan.Limit > 0 && int64(len(res.Release.Rows)) > res.Plan.Limit {
			t.Errorf("%s: LIMIT not applied", q)
		}
	}
}

// The sandbox's result-row cap never refuses a release: the bounded result
// streams into the selection, so the number of pre-noise groups (which
// depends on groups partition selection withholds) cannot decide whether a
// query runs. Here the cap is 5 and the query has hundreds of groups.
func TestManyGroupsStreamPastTheResultCap(t *testing.T) {
	dir := exampleData(t)
	cat, err := storage.OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), Config{Catalog: cat, CacheDir: filepath.Join(t.TempDir(), "cache"), Sandbox: sandbox.Config{DisableFileSystem: true, MaxResultRows: 5}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	res, err := svc.Query(context.Background(), QueryRequest{
		SQL:         "SELECT month, district, count(*) AS n, median(tax_paid) AS m FROM tax_monthly JOIN enterprise USING (credit_code) GROUP BY month, district",
		Obligations: sluice.Obligations{Epsilon: 20, Delta: 1e-6, L0: 48, Linf: 1, Noise: sluice.NoiseLaplace, MaxGroups: 100000},
	})
	if err != nil {
		t.Fatal(err)
	}
	truth := trueCounts(t, "SELECT 'x', count(*)::DOUBLE FROM (SELECT DISTINCT month, district FROM '"+filepath.Join(dir, "tax_monthly.parquet")+"' JOIN '"+filepath.Join(dir, "enterprise.parquet")+"' USING (credit_code))")["x"]
	if truth <= 5 || len(res.Release.Rows) <= 5 {
		t.Fatalf("released %d of %v groups: the test needs more than the cap of 5", len(res.Release.Rows), truth)
	}
	for _, row := range res.Release.Rows {
		if row[3].Number == nil {
			t.Fatalf("group %v %v has no median", row[0].Key, row[1].Key)
		}
	}
}
