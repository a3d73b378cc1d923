package query

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"sluice"
)

// plainDB is an unlocked DuckDB with the example schemas as tables, for
// checking what bounded SQL computes. (The sandbox package tests lockdown.)
func plainDB(t *testing.T) *sql.Conn {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, q := range []string{
		// 300 firms; firm i files months 1..(i%30+1); firm district by i%16.
		`CREATE TABLE enterprise AS SELECT 'F' || i AS credit_code, 'name' || i AS name, '' AS legal_rep_phone,
			chr(65 + (i % 5)::INT) AS industry, (['huangpu','xuhui','changning','jingan'])[1 + i % 4] AS district,
			DATE '2010-01-01' AS founded, (i * 10.5)::DECIMAL(18,2) AS registered_capital, 'micro' AS size_class
			FROM range(300) t(i)`,
		`CREATE TABLE tax_monthly AS SELECT 'F' || i AS credit_code, (DATE '2024-01-01' + to_months(m::INT)) AS month,
			CASE WHEN (i + m) % 7 = 3 THEN NULL ELSE ((i * 37 + m * 11) % 1000 * 1.25 + CASE WHEN i = 7 THEN 9000000 ELSE 0 END)::DECIMAL(18,2) END AS tax_paid,
			0::DECIMAL(18,2) AS tax_arrears, 'on_time' AS filing_status
			FROM range(300) t(i), range(30) s(m) WHERE m <= i % 30`,
	} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	numberUnits(t, conn, "enterprise", "credit_code")
	numberUnits(t, conn, "tax_monthly", "credit_code")
	return conn
}

func runBounded(t *testing.T, conn *sql.Conn, q string, ob sluice.Obligations) (*Analysis, [][]any) {
	t.Helper()
	p := testParser(t)
	cat := loadExamples(t)
	an, err := p.Analyze(context.Background(), q, cat)
	if err != nil {
		t.Fatalf("analyze %s: %v", q, err)
	}
	b, err := an.Rewrite(ob, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(context.Background(), an, b, cat); err != nil {
		t.Fatal(err)
	}
	return an, queryAll(t, conn, b.SQL)
}

// queryAll runs q and returns its rows.
func queryAll(t *testing.T, conn *sql.Conn, q string) [][]any {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("run %s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		v := make([]any, len(cols))
		ptr := make([]any, len(cols))
		for i := range v {
			ptr[i] = &v[i]
		}
		if err := rows.Scan(ptr...); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func num(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case float64:
		return x
	}
	panic(fmt.Sprintf("not a number: %T %v", v, v))
}

// With bounds that never bind, the bounded aggregates equal plain SQL.
func TestRewriteExactWhenBoundsDoNotBind(t *testing.T) {
	conn := plainDB(t)
	_, got := runBounded(t, conn, "SELECT district, count(*), sum(tax_paid), count(DISTINCT credit_code) FROM tax_monthly t JOIN enterprise e USING (credit_code) WHERE tax_paid < 5000000 GROUP BY district", sluice.Obligations{L0: 1, Linf: 1000})
	want := map[string][3]float64{}
	rows, err := conn.QueryContext(context.Background(), `SELECT district, count(*), sum(tax_paid * 100)::DOUBLE, count(DISTINCT credit_code) FROM tax_monthly JOIN enterprise USING (credit_code) WHERE tax_paid < 5000000 GROUP BY district`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var c, s, u float64
		if err := rows.Scan(&d, &c, &s, &u); err != nil {
			t.Fatal(err)
		}
		want[d] = [3]float64{c, s, u}
	}
	rows.Close()
	if len(got) != len(want) || len(got) != 4 {
		t.Fatalf("got %d groups, want %d", len(got), len(want))
	}
	for _, r := range got {
		d := r[0].(string)
		w := want[d]
		// keys, __units, then (c, s, q) for count, sum, count_units.
		if num(r[1]) != w[2] || num(r[2]) != w[0] || num(r[6]) != w[1] {
			t.Errorf("%s: units %v count %v sum %v, want %v", d, r[1], r[2], r[6], w)
		}
	}
}

// Linf caps each unit's rows per group, and sums are scaled to Linf rows
// and clamped to the declared bound.
func TestRewriteBoundsContributions(t *testing.T) {
	conn := plainDB(t)
	const linf = 3
	_, got := runBounded(t, conn, "SELECT count(*), sum(tax_paid) FROM tax_monthly", sluice.Obligations{L0: 1, Linf: linf})
	if len(got) != 1 {
		t.Fatalf("got %d rows", len(got))
	}
	// Expected: per firm min(n, 3) rows; sum = Σx·min(1, 3/m) with x clamped
	// to 5e6 and m the firm's non-NULL values. (Not least(x, 5e6): DuckDB's
	// least ignores a NULL argument.)
	rows, err := conn.QueryContext(context.Background(), `SELECT count(*), count(tax_paid), coalesce(sum(CASE WHEN tax_paid > 5000000 THEN 5000000 ELSE tax_paid END * 100), 0)::DOUBLE FROM tax_monthly GROUP BY credit_code`)
	if err != nil {
		t.Fatal(err)
	}
	var wantC, wantS float64
	for rows.Next() {
		var n, m, s float64
		if err := rows.Scan(&n, &m, &s); err != nil {
			t.Fatal(err)
		}
		f := math.Min(1, linf/math.Max(m, 1))
		wantC += math.Min(n, linf)
		wantS += math.Round(s * f)
	}
	rows.Close()
	if c := num(got[0][1]); c != wantC {
		t.Errorf("count %v, want %v", c, wantC)
	}
	if s := num(got[0][5]); math.Abs(s-wantS) > 300 { // per-unit rounding may differ by ≤ 1 per unit
		t.Errorf("sum %v, want %v", s, wantS)
	}
	// No unit can contribute more than Linf·upper.
	if s := num(got[0][5]); s > 300*linf*5000000*100 {
		t.Errorf("sum %v exceeds the bound", s)
	}
}

// NULL values are not counted and not clamped into the bounds: count(x),
// avg(x) and quantiles see only the non-NULL values, as in plain SQL.
// (DuckDB's least and greatest ignore NULL arguments, so clamping with them
// turned a NULL into the lower bound.)
func TestRewriteLeavesNullsOut(t *testing.T) {
	conn := plainDB(t)
	var nulls, values float64
	if err := conn.QueryRowContext(context.Background(), `SELECT count(*) FILTER (WHERE tax_paid IS NULL)::DOUBLE, count(tax_paid)::DOUBLE FROM tax_monthly`).Scan(&nulls, &values); err != nil {
		t.Fatal(err)
	}
	if nulls == 0 {
		t.Fatal("the test data has no NULL tax_paid")
	}
	_, got := runBounded(t, conn, "SELECT count(tax_paid), avg(tax_paid), sum(tax_paid), var_samp(tax_paid) FROM tax_monthly", sluice.Obligations{L0: 1, Linf: 1000})
	if len(got) != 1 {
		t.Fatalf("got %d rows", len(got))
	}
	// Columns: __units, then (c, s, q) per aggregate (a sum has no count).
	for i, name := range []string{"count", "avg", "sum", "var_samp"} {
		if name == "sum" {
			continue
		}
		if c := num(got[0][1+3*i]); c != values {
			t.Errorf("%s(tax_paid) counted %v values, want the %v non-NULL ones (%v NULLs)", name, c, values, nulls)
		}
	}
	// Sums in units of 0.01 over the clamped non-NULL values: plain for
	// sum, centred on (lower + upper) = 5e6 for avg. Firm 150's only row
	// is NULL: it must add nothing, not a bound.
	var all int
	conn.QueryRowContext(context.Background(), `SELECT count(*) FILTER (WHERE tax_paid IS NULL) FROM tax_monthly WHERE credit_code = 'F150'`).Scan(&all)
	if all != 1 {
		t.Fatalf("F150 has %d NULL rows, want its one row NULL", all)
	}
	var wantSum, wantCentred float64
	if err := conn.QueryRowContext(context.Background(), `SELECT sum(x)::DOUBLE, sum(2 * x - 500000000)::DOUBLE FROM (
		SELECT (CASE WHEN tax_paid > 5000000 THEN 5000000 ELSE tax_paid END * 100)::BIGINT AS x FROM tax_monthly WHERE tax_paid IS NOT NULL)`).Scan(&wantSum, &wantCentred); err != nil {
		t.Fatal(err)
	}
	if s := num(got[0][2+3*2]); s != wantSum {
		t.Errorf("sum: %v, want %v", s, wantSum)
	}
	if s := num(got[0][2+3*1]); s != wantCentred {
		t.Errorf("avg: centred sum %v, want %v", s, wantCentred)
	}

	// Quantiles sample only non-NULL values.
	an, _ := runBounded(t, conn, "SELECT median(tax_paid) FROM tax_monthly", sluice.Obligations{L0: 1, Linf: 1000})
	b, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 1000}, 7)
	if err != nil {
		t.Fatal(err)
	}
	var sampled float64
	if err := conn.QueryRowContext(context.Background(), "SELECT sum(__n)::DOUBLE FROM ("+b.QuantileSQL+")").Scan(&sampled); err != nil {
		t.Fatal(err)
	}
	if sampled != values {
		t.Errorf("median sampled %v values, want the %v non-NULL ones", sampled, values)
	}
}

// L0 keeps at most L0 groups per unit.
func TestRewriteBoundsGroupsPerUnit(t *testing.T) {
	conn := plainDB(t)
	_, got := runBounded(t, conn, "SELECT month, count(DISTINCT credit_code) AS firms FROM tax_monthly GROUP BY month", sluice.Obligations{L0: 2, Linf: 1})
	total := 0.0
	for _, r := range got {
		total += num(r[1])
	}
	// 300 firms, each present in ≥ 1 month, contribute at most 2 groups each.
	var want float64
	conn.QueryRowContext(context.Background(), `SELECT sum(least(c, 2))::DOUBLE FROM (SELECT count(DISTINCT month) c FROM tax_monthly GROUP BY credit_code)`).Scan(&want)
	if total != want {
		t.Errorf("units over groups = %v, want %v", total, want)
	}
}

// The L0 stage is left out exactly when declared domains already keep
// every unit within L0 released groups; a unit's contributions to groups
// outside the domains are never released.
func TestRewriteSkipsL0WhenDomainsFit(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	for _, tc := range []struct {
		sql  string
		l0   int64
		want bool
	}{
		{"SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status", 3, false}, // 3 values ≤ 3
		{"SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status", 2, true},
		{"SELECT date_trunc('year', month) AS y, count(*) FROM tax_monthly GROUP BY y", 100, true}, // data-derived keys
		{"SELECT district, size_class, count(*) FROM enterprise GROUP BY ALL", 64, false},          // 16 × 4
		{"SELECT district, size_class, count(*) FROM enterprise GROUP BY ALL", 63, true},
	} {
		an, err := p.Analyze(context.Background(), tc.sql, cat)
		if err != nil {
			t.Fatal(err)
		}
		b, err := an.Rewrite(sluice.Obligations{L0: tc.l0, Linf: 3}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(context.Background(), an, b, cat); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.SQL, "__th"); got != tc.want {
			t.Errorf("%s with L0 %d: L0 stage %v, want %v", tc.sql, tc.l0, got, tc.want)
		}
	}
	// Without the stage every unit counts in each of its (≤ L0) groups.
	conn := plainDB(t)
	_, got := runBounded(t, conn, "SELECT filing_status, count(DISTINCT credit_code) FROM tax_monthly GROUP BY filing_status", sluice.Obligations{L0: 3, Linf: 1})
	var want float64
	conn.QueryRowContext(context.Background(), "SELECT count(DISTINCT credit_code)::DOUBLE FROM tax_monthly").Scan(&want)
	if len(got) != 1 || num(got[0][1]) != want {
		t.Errorf("units %v, want %v", got, want)
	}
}

// Per-unit sums reach the final stage as DOUBLE and are turned back into
// integers there: exact up to the largest per-unit sum the limits allow
// (Linf = 1000 values of |bound|·10^scale ≤ 2^40, so |v| ≤ 2^50).
func TestRewriteSumsExactAtLimits(t *testing.T) {
	ctx := context.Background()
	conn := plainDB(t)
	const bound = "10995116277" // ·100 ≤ 2^40
	cat := exampleCatalog{"ledger": &sluice.Dataset{
		ID: "ledger", Open: sluice.Conditional, Unit: "unit", Location: "ledger.parquet",
		Columns: []sluice.Column{
			{Name: "unit", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "d", Type: "VARCHAR", Role: sluice.RoleDimension},
			{Name: "amount", Type: "DECIMAL(18,2)", Role: sluice.RoleMeasure, Lower: ptr(-10995116277.0), Upper: ptr(10995116277.0), Scale: 2},
		},
	}}
	// Each unit is alone in its group, with 1000 values close to a bound
	// and odd cents, so its sum needs all 50 bits.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE ledger AS
		SELECT 'U' || u AS unit, 'd' || u AS d,
			(CASE WHEN u % 2 = 0 THEN 1 ELSE -1 END * (`+bound+` - ((i * 7919 + u * 104729) % 100000) / 100.0))::DECIMAL(18,2) AS amount
		FROM range(6) a(u), range(1000) b(i)`); err != nil {
		t.Fatal(err)
	}
	numberUnits(t, conn, "ledger", "unit")
	p := testParser(t)
	an, err := p.Analyze(ctx, "SELECT d, sum(amount), avg(amount) FROM ledger GROUP BY d", cat)
	if err != nil {
		t.Fatal(err)
	}
	b, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 1000}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ctx, an, b, cat); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{}
	rows, err := conn.QueryContext(ctx, `SELECT d, sum(amount * 100)::BIGINT, count(*) FROM ledger GROUP BY d`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var s, n int64
		if err := rows.Scan(&d, &s, &n); err != nil {
			t.Fatal(err)
		}
		want[d] = [2]int64{s, n}
	}
	rows.Close()
	rows, err = conn.QueryContext(ctx, b.SQL)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var d string
		var units, c0, q0, c1, q1 int64
		var s0, s1 float64
		if err := rows.Scan(&d, &units, &c0, &s0, &q0, &c1, &s1, &q1); err != nil {
			t.Fatal(err)
		}
		got++
		w := want[d]
		if math.Abs(float64(w[0])) < 1<<49 {
			t.Fatalf("%s: sum %d does not exercise the limit", d, w[0])
		}
		if int64(s0) != w[0] {
			t.Errorf("%s: sum %d, want %d (off by %d)", d, int64(s0), w[0], int64(s0)-w[0])
		}
		// avg's sum is centred on lower + upper = 0: 2·v.
		if int64(s1) != 2*w[0] {
			t.Errorf("%s: centred sum %d, want %d", d, int64(s1), 2*w[0])
		}
	}
	if got != len(want) {
		t.Errorf("got %d groups, want %d", got, len(want))
	}
}

func ptr[T any](v T) *T { return &v }
