package importer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sluice"
)

// testDataset is a monthly dataset of n/12 firms over twelve months.
func testDataset() *sluice.Dataset {
	lo, hi := 0.0, 1000.0
	hlo, hhi := 0.0, 500.0
	return &sluice.Dataset{
		ID: "tax_monthly", Title: "Monthly tax", Owner: "tax-bureau", Level: 3, Open: sluice.Conditional,
		UpdateFrequency: "monthly", Location: "tax_monthly.parquet", Unit: "credit_code", Population: "enterprise",
		Columns: []sluice.Column{
			{Name: "credit_code", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "name", Type: "VARCHAR", Role: sluice.RoleIdentifier},
			{Name: "month", Type: "DATE", Role: sluice.RoleDimension},
			{Name: "tax_paid", Type: "DECIMAL(18,2)", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi, Scale: 2},
			{Name: "filing_status", Type: "VARCHAR", Role: sluice.RoleDimension, Domain: []string{"on_time", "late", "missing"}},
			{Name: "headcount", Type: "INTEGER", Role: sluice.RoleMeasure, Lower: &hlo, Upper: &hhi},
		},
	}
}

// baseColumns are the expressions generating testDataset's columns from
// range(n) t(i); row i+1 of the file holds i.
var baseColumns = [][2]string{
	{"credit_code", "'c' || (i // 12)"},
	{"name", "'Firm ' || (i // 12)"},
	{"month", "CAST(DATE '2025-01-01' + INTERVAL (i % 12) MONTH AS DATE)"},
	{"tax_paid", "CAST((i % 1000) + 0.25 AS DECIMAL(18,2))"},
	{"filing_status", "['on_time', 'late', 'missing'][i % 3 + 1]"},
	{"headcount", "CAST(i % 500 AS INTEGER)"},
}

// rowsQuery returns a query of n rows of testDataset's columns. An override
// replaces a column's expression, or drops the column when empty; extra
// columns ("expr AS name") are appended.
func rowsQuery(n int, override map[string]string, extra ...string) string {
	var sel []string
	for _, c := range baseColumns {
		expr := c[1]
		if o, ok := override[c[0]]; ok {
			if o == "" {
				continue
			}
			expr = o
		}
		sel = append(sel, expr+" AS "+quoteIdent(c[0]))
	}
	sel = append(sel, extra...)
	return fmt.Sprintf("SELECT %s FROM range(%d) t(i)", strings.Join(sel, ", "), n)
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeSource writes the result of query to path as CSV (with a header) or
// Parquet, by path's extension.
func writeSource(t testing.TB, path, query string) {
	t.Helper()
	format := "(FORMAT csv, HEADER)"
	if strings.HasSuffix(path, ".parquet") {
		format = "(FORMAT parquet)"
	}
	if _, err := openDB(t).Exec("COPY (" + query + ") TO " + quoteLiteral(path) + " " + format); err != nil {
		t.Fatal(err)
	}
}

// source writes query to a new file named name and returns its path and a
// destination path next to it.
func source(t testing.TB, name, query string) (src, dst string) {
	t.Helper()
	dir := t.TempDir()
	src = filepath.Join(dir, name)
	writeSource(t, src, query)
	return src, filepath.Join(dir, "out", "tax_monthly.parquet")
}

// run imports src to dst, creating dst's directory.
func run(t testing.TB, src, dst string, d *sluice.Dataset, opts Options) (*Report, error) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Import(context.Background(), src, d, dst, opts)
	if r == nil && err != nil {
		t.Fatalf("Import failed without a report: %v", err)
	}
	return r, err
}

// mustImport imports src and fails unless the import succeeds.
func mustImport(t testing.TB, src, dst string, d *sluice.Dataset, opts Options) *Report {
	t.Helper()
	r, err := run(t, src, dst, d, opts)
	if err != nil {
		t.Fatalf("Import: %v\n%s", err, r.Text())
	}
	if r.Refused || r.Output != dst {
		t.Fatalf("Import: refused %v, output %q\n%s", r.Refused, r.Output, r.Text())
	}
	return r
}

// mustRefuse imports src and fails unless the import is refused with the
// import.refused error, without writing anything. It returns the report and
// the error's message.
func mustRefuse(t testing.TB, src, dst string, d *sluice.Dataset, opts Options) (*Report, string) {
	t.Helper()
	r, err := run(t, src, dst, d, opts)
	var se *sluice.Error
	if !errors.As(err, &se) || se.Code != sluice.EINVALID || se.Rule != "import.refused" {
		t.Fatalf("Import error = %v, want an EINVALID import.refused *sluice.Error\n%s", err, r.Text())
	}
	if !r.Refused || r.Output != "" || r.OutputChecksum != "" {
		t.Fatalf("report: refused %v, output %q, checksum %q", r.Refused, r.Output, r.OutputChecksum)
	}
	assertNoOutput(t, dst)
	return r, se.Message
}

// assertNoOutput fails if dst or its temporary file exists.
func assertNoOutput(t testing.TB, dst string) {
	t.Helper()
	for _, p := range []string{dst, dst + ".tmp"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a refused import (stat: %v)", p, err)
		}
	}
}

// problem returns the report's only problem of kind on column, failing if
// there is none or several.
func problem(t testing.TB, r *Report, column, kind string) Problem {
	t.Helper()
	var found []Problem
	for _, p := range r.Problems {
		if p.Column == column && p.Kind == kind {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("found %d %s problems on %s, want 1; problems: %+v", len(found), kind, column, r.Problems)
	}
	return found[0]
}

// columnReport returns the report of column name.
func columnReport(t testing.TB, r *Report, name string) ColumnReport {
	t.Helper()
	for _, c := range r.Columns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no report of column %s", name)
	return ColumnReport{}
}

func rowsOf(examples []Example) []int64 {
	rows := make([]int64, len(examples))
	for i, e := range examples {
		rows[i] = e.Row
	}
	return rows
}

func valuesOf(examples []Example) []string {
	var values []string
	for _, e := range examples {
		if e.Value != nil {
			values = append(values, *e.Value)
		}
	}
	return values
}

// outputSummary returns the row count and sum of tax_paid of a Parquet file,
// and its columns as "name TYPE".
func outputSummary(t testing.TB, path string) (rows int64, sum string, columns []string) {
	t.Helper()
	db := openDB(t)
	lit := quoteLiteral(path)
	if err := db.QueryRow("SELECT count(*), coalesce(CAST(sum(tax_paid) AS VARCHAR), '') FROM read_parquet("+lit+")").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	rs, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(" + lit + "))")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var name, typ string
		if err := rs.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, name+" "+typ)
	}
	return rows, sum, columns
}

// expectedSum returns the sum of tax_paid of query, as text.
func expectedSum(t testing.TB, query string) string {
	t.Helper()
	var sum string
	if err := openDB(t).QueryRow("SELECT CAST(sum(CAST(tax_paid AS DECIMAL(18,2))) AS VARCHAR) FROM (" + query + ")").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

var wantColumns = []string{
	"credit_code VARCHAR", "name VARCHAR", "month DATE", "tax_paid DECIMAL(18,2)",
	"filing_status VARCHAR", "headcount INTEGER",
}

func TestImportCSV(t *testing.T) {
	q := rowsQuery(1200, nil)
	src, dst := source(t, "tax.csv", q)
	r := mustImport(t, src, dst, testDataset(), Options{})

	if len(r.Problems) != 0 {
		t.Errorf("problems: %+v", r.Problems)
	}
	if r.Rows != 1200 || r.Format != "csv" || r.DatasetID != "tax_monthly" {
		t.Errorf("rows %d, format %s, id %s", r.Rows, r.Format, r.DatasetID)
	}
	rows, sum, cols := outputSummary(t, dst)
	if want := expectedSum(t, q); rows != 1200 || sum != want {
		t.Errorf("output: %d rows, sum %s; want 1200 rows, sum %s", rows, sum, want)
	}
	if !slices.Equal(cols, wantColumns) {
		t.Errorf("output columns %v, want %v", cols, wantColumns)
	}
	if got, err := Checksum(dst); err != nil || got != r.OutputChecksum {
		t.Errorf("Checksum(dst) = %s, %v; report says %s", got, err, r.OutputChecksum)
	}
	if got, _ := Checksum(src); got != r.SourceChecksum {
		t.Errorf("source checksum %s, want %s", r.SourceChecksum, got)
	}
	if _, err := os.Stat(dst + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}

	tax := columnReport(t, r, "tax_paid")
	if tax.Min == nil || *tax.Min != 0.25 || tax.Max == nil || *tax.Max != 999.25 ||
		*tax.BelowLower != 0 || *tax.AboveUpper != 0 || tax.SourceType != "VARCHAR" {
		t.Errorf("tax_paid report: %+v", tax)
	}
	if st := columnReport(t, r, "filing_status"); *st.Distinct != 3 || *st.OutsideDomain != 0 {
		t.Errorf("filing_status report: %+v", st)
	}
	if m := columnReport(t, r, "month"); *m.Distinct != 12 || m.Min != nil {
		t.Errorf("month report: %+v", m)
	}
	if u := columnReport(t, r, "credit_code"); u.Min != nil || u.Distinct != nil || u.MaxNullRate != 0 {
		t.Errorf("credit_code report: %+v", u)
	}
	if r.Duplicates == nil || r.Duplicates.Period != "month" || r.Duplicates.Rows != 0 {
		t.Errorf("duplicates: %+v", r.Duplicates)
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"dataset_id":"tax_monthly"`, `"rows":1200`, `"null_rate":0`, `"cast_failures":0`,
		`"below_lower":0`, `"above_upper":0`, `"distinct":3`, `"problems":[]`, `"refused":false`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON report lacks %s: %s", key, b)
		}
	}
	if text := r.Text(); !strings.Contains(text, "No problems found") || !strings.Contains(text, "written to "+dst) {
		t.Errorf("text report:\n%s", text)
	}
}

func TestImportGzippedCSV(t *testing.T) {
	q := rowsQuery(120, nil)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "tax.csv.gz"), filepath.Join(dir, "tax.parquet")
	if _, err := openDB(t).Exec("COPY (" + q + ") TO " + quoteLiteral(src) + " (FORMAT csv, HEADER, COMPRESSION gzip)"); err != nil {
		t.Fatal(err)
	}
	r := mustImport(t, src, dst, testDataset(), Options{})
	if r.Format != "csv" || r.Rows != 120 || len(r.Problems) != 0 {
		t.Errorf("format %s, rows %d, problems %+v", r.Format, r.Rows, r.Problems)
	}
	if rows, sum, _ := outputSummary(t, dst); rows != 120 || sum != expectedSum(t, q) {
		t.Errorf("output: %d rows, sum %s", rows, sum)
	}
}

func TestImportParquet(t *testing.T) {
	// Types that differ from the manifest's but cast: DOUBLE to DECIMAL,
	// TIMESTAMP to DATE, BIGINT to INTEGER.
	q := rowsQuery(1200, map[string]string{
		"month":     "DATE '2025-01-01' + INTERVAL (i % 12) MONTH",
		"tax_paid":  "CAST((i % 1000) + 0.25 AS DOUBLE)",
		"headcount": "CAST(i % 500 AS BIGINT)",
	})
	src, dst := source(t, "tax.parquet", q)
	r := mustImport(t, src, dst, testDataset(), Options{})
	if len(r.Problems) != 0 || r.Rows != 1200 || r.Format != "parquet" {
		t.Errorf("rows %d, format %s, problems %+v", r.Rows, r.Format, r.Problems)
	}
	if st := columnReport(t, r, "month").SourceType; st != "TIMESTAMP" {
		t.Errorf("month source type %s, want TIMESTAMP", st)
	}
	rows, sum, cols := outputSummary(t, dst)
	if want := expectedSum(t, q); rows != 1200 || sum != want {
		t.Errorf("output: %d rows, sum %s; want 1200 rows, sum %s", rows, sum, want)
	}
	if !slices.Equal(cols, wantColumns) {
		t.Errorf("output columns %v, want %v", cols, wantColumns)
	}
}

func TestImportMissingColumn(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(120, map[string]string{"headcount": ""}))
	r, msg := mustRefuse(t, src, dst, testDataset(), Options{})
	p := problem(t, r, "headcount", KindMissingColumn)
	if !p.Refuses || !strings.Contains(p.Message, "headcount") {
		t.Errorf("problem: %+v", p)
	}
	if !strings.Contains(msg, "headcount: missing") {
		t.Errorf("error message %q does not name the column", msg)
	}
	if !columnReport(t, r, "headcount").Missing {
		t.Error("headcount is not marked missing")
	}
	// The other columns are still checked.
	if r.Rows != 120 || *columnReport(t, r, "filing_status").Distinct != 3 {
		t.Errorf("rows %d, columns %+v", r.Rows, r.Columns)
	}
	if !strings.Contains(r.Text(), "REFUSED") || !strings.Contains(r.Text(), "MISSING") {
		t.Errorf("text report:\n%s", r.Text())
	}
}

func TestImportCastFailure(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(120, map[string]string{
		"tax_paid": `CASE i WHEN 3 THEN 'abc' WHEN 7 THEN 'n/a' WHEN 100 THEN '12,5' ELSE CAST(i + 0.5 AS VARCHAR) END`,
		"month":    `CASE WHEN i = 5 THEN 'March 2025' ELSE CAST(DATE '2025-01-01' + INTERVAL (i % 12) MONTH AS DATE)::VARCHAR END`,
	}))
	r, msg := mustRefuse(t, src, dst, testDataset(), Options{})

	p := problem(t, r, "tax_paid", KindCastFailure)
	if p.Count != 3 || !p.Refuses {
		t.Errorf("problem: %+v", p)
	}
	if got, want := rowsOf(p.Examples), []int64{4, 8, 101}; !slices.Equal(got, want) {
		t.Errorf("example rows %v, want %v", got, want)
	}
	if got, want := valuesOf(p.Examples), []string{"abc", "n/a", "12,5"}; !slices.Equal(got, want) {
		t.Errorf("example values %v, want %v", got, want)
	}
	tax := columnReport(t, r, "tax_paid")
	if tax.CastFailures != 3 || tax.Nulls != 0 || len(tax.Examples) != 3 {
		t.Errorf("tax_paid report: %+v", tax)
	}
	if m := problem(t, r, "month", KindCastFailure); m.Count != 1 || !slices.Equal(rowsOf(m.Examples), []int64{6}) {
		t.Errorf("month problem: %+v", m)
	}
	if !strings.Contains(msg, "tax_paid: 3 values") || !strings.Contains(msg, "month: 1 value that") {
		t.Errorf("error message %q does not name each column and count", msg)
	}
	if text := r.Text(); !strings.Contains(text, `row 4 "abc"`) {
		t.Errorf("text report lacks the example:\n%s", text)
	}
}

func TestImportOutOfBounds(t *testing.T) {
	q := rowsQuery(120, map[string]string{
		"tax_paid": `CASE i WHEN 1 THEN -5 WHEN 2 THEN 2000 WHEN 10 THEN 5000.5 ELSE 10 END::DECIMAL(18,2)`,
	})
	check := func(t *testing.T, r *Report, refuses bool) {
		p := problem(t, r, "tax_paid", KindOutOfBounds)
		if p.Count != 3 || p.Refuses != refuses {
			t.Errorf("problem: %+v", p)
		}
		if got, want := valuesOf(p.Examples), []string{"-5.00", "2000.00", "5000.50"}; !slices.Equal(got, want) {
			t.Errorf("example values %v, want %v", got, want)
		}
		tax := columnReport(t, r, "tax_paid")
		if *tax.BelowLower != 1 || *tax.AboveUpper != 2 || *tax.Min != -5 || *tax.Max != 5000.5 {
			t.Errorf("tax_paid report: %+v", tax)
		}
	}
	t.Run("clamp", func(t *testing.T) {
		src, dst := source(t, "tax.csv", q)
		r := mustImport(t, src, dst, testDataset(), Options{})
		check(t, r, false)
		if columnReport(t, r, "tax_paid").OutOfBound != Clamp {
			t.Error("the default policy is not clamp")
		}
		// The rows are kept, their values unchanged.
		rows, sum, _ := outputSummary(t, dst)
		if want := expectedSum(t, q); rows != 120 || sum != want {
			t.Errorf("output: %d rows, sum %s; want 120, %s", rows, sum, want)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		src, dst := source(t, "tax.csv", q)
		r, msg := mustRefuse(t, src, dst, testDataset(), Options{OutOfBounds: map[string]string{"tax_paid": Refuse}})
		check(t, r, true)
		if !strings.Contains(msg, "tax_paid: 3 values out of bounds") {
			t.Errorf("error message %q", msg)
		}
	})
}

func TestImportOutsideDomain(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(120, map[string]string{
		"filing_status": `CASE WHEN i % 10 = 0 THEN 'LATE' WHEN i = 7 THEN 'unknown' ELSE ['on_time', 'late', 'missing'][i % 3 + 1] END`,
	}))
	r, msg := mustRefuse(t, src, dst, testDataset(), Options{})
	p := problem(t, r, "filing_status", KindOutsideDomain)
	if p.Count != 13 || !p.Refuses {
		t.Errorf("problem: %+v", p)
	}
	st := columnReport(t, r, "filing_status")
	if *st.OutsideDomain != 13 || !slices.Equal(st.OutsideValues, []string{"LATE", "unknown"}) || *st.Distinct != 5 {
		t.Errorf("filing_status report: %+v", st)
	}
	if !strings.Contains(msg, "filing_status: 13 values outside the domain") {
		t.Errorf("error message %q", msg)
	}
}

func TestImportNulls(t *testing.T) {
	t.Run("unit", func(t *testing.T) {
		src, dst := source(t, "tax.csv", rowsQuery(120, map[string]string{
			"credit_code": `CASE WHEN i IN (0, 50) THEN NULL ELSE 'c' || (i // 12) END`,
		}))
		r, msg := mustRefuse(t, src, dst, testDataset(), Options{})
		p := problem(t, r, "credit_code", KindNullRate)
		if p.Count != 2 || !slices.Equal(rowsOf(p.Examples), []int64{1, 51}) {
			t.Errorf("problem: %+v", p)
		}
		if u := columnReport(t, r, "credit_code"); u.Nulls != 2 || u.NullRate != 2.0/120 {
			t.Errorf("credit_code report: %+v", u)
		}
		if !strings.Contains(msg, "credit_code: 2 nulls") {
			t.Errorf("error message %q", msg)
		}
	})
	t.Run("max rate", func(t *testing.T) {
		q := rowsQuery(100, map[string]string{"tax_paid": `CASE WHEN i < 10 THEN NULL ELSE i END`})
		src, dst := source(t, "tax.csv", q)
		// 10% of empty values is accepted by default…
		r := mustImport(t, src, dst, testDataset(), Options{})
		if c := columnReport(t, r, "tax_paid"); c.Nulls != 10 || c.NullRate != 0.1 || c.CastFailures != 0 {
			t.Errorf("tax_paid report: %+v", c)
		}
		// …and refused above the owner's maximum.
		os.Remove(dst)
		r, _ = mustRefuse(t, src, dst, testDataset(), Options{MaxNullRate: map[string]float64{"tax_paid": 0.05}})
		if p := problem(t, r, "tax_paid", KindNullRate); p.Count != 10 {
			t.Errorf("problem: %+v", p)
		}
	})
}

func TestImportDuplicates(t *testing.T) {
	// Row 14 (i = 13) repeats firm c0's second month, row 2 (i = 1).
	q := rowsQuery(120, map[string]string{"credit_code": `CASE WHEN i = 13 THEN 'c0' ELSE 'c' || (i // 12) END`})
	t.Run("refused", func(t *testing.T) {
		src, dst := source(t, "tax.csv", q)
		r, msg := mustRefuse(t, src, dst, testDataset(), Options{RefuseDuplicates: true})
		p := problem(t, r, "credit_code,month", KindDuplicates)
		if p.Count != 1 || !p.Refuses {
			t.Errorf("problem: %+v", p)
		}
		d := r.Duplicates
		if d == nil || d.Rows != 1 || d.Pairs != 1 || len(d.Examples) != 1 ||
			d.Examples[0] != (Example{Row: 14, DuplicateOf: 2}) {
			t.Errorf("duplicates: %+v", d)
		}
		if !strings.Contains(msg, "credit_code,month: 1 duplicate row") {
			t.Errorf("error message %q", msg)
		}
	})
	t.Run("accepted", func(t *testing.T) {
		src, dst := source(t, "tax.csv", q)
		r := mustImport(t, src, dst, testDataset(), Options{})
		if p := problem(t, r, "credit_code,month", KindDuplicates); p.Count != 1 || p.Refuses {
			t.Errorf("problem: %+v", p)
		}
	})
	t.Run("declared key", func(t *testing.T) {
		// A declared key is unique or the import fails, whatever the
		// options: the analyser joins on it as unique.
		d := testDataset()
		d.Key = []string{"credit_code", "month"}
		src, dst := source(t, "tax.csv", q)
		r, msg := mustRefuse(t, src, dst, d, Options{})
		p := problem(t, r, "credit_code,month", KindDuplicates)
		if p.Count != 1 || !p.Refuses || !strings.Contains(p.Message, "the same key (credit_code, month) as an earlier row") {
			t.Errorf("problem: %+v", p)
		}
		if r.Duplicates == nil || !slices.Equal(r.Duplicates.Key, d.Key) || r.Duplicates.Period != "" {
			t.Errorf("duplicates: %+v", r.Duplicates)
		}
		if !strings.Contains(msg, "credit_code,month: 1 duplicate row") {
			t.Errorf("error message %q", msg)
		}
	})
	t.Run("period attribute", func(t *testing.T) {
		d := testDataset()
		d.Columns[2].Name, d.Columns[2].Role = "tax_period", sluice.RoleAttribute
		src, dst := source(t, "tax.parquet", strings.Replace(q, `AS "month"`, `AS "tax_period"`, 1))
		r, _ := mustRefuse(t, src, dst, d, Options{RefuseDuplicates: true})
		if p := problem(t, r, "credit_code,tax_period", KindDuplicates); p.Count != 1 {
			t.Errorf("problem: %+v", p)
		}
	})
}

func TestImportExtraColumn(t *testing.T) {
	q := rowsQuery(120, nil, "'free text ' || i AS notes", "i AS \"Row Id\"")
	src, dst := source(t, "tax.csv", q)
	r := mustImport(t, src, dst, testDataset(), Options{})
	if !slices.Equal(r.ExtraColumns, []string{"notes", "Row Id"}) {
		t.Errorf("extra columns %v", r.ExtraColumns)
	}
	for _, name := range []string{"notes", "Row Id"} {
		if p := problem(t, r, name, KindExtraColumn); p.Refuses {
			t.Errorf("problem refuses: %+v", p)
		}
	}
	if _, _, cols := outputSummary(t, dst); !slices.Equal(cols, wantColumns) {
		t.Errorf("output columns %v, want %v", cols, wantColumns)
	}
	if strings.Contains(r.Text(), "free text") {
		t.Error("the report shows values of a dropped column")
	}
}

func TestImportCaseInsensitiveColumns(t *testing.T) {
	q := strings.Replace(rowsQuery(12, nil), `AS "tax_paid"`, `AS "Tax_Paid"`, 1)
	src, dst := source(t, "tax.csv", q)
	r := mustImport(t, src, dst, testDataset(), Options{})
	if c := columnReport(t, r, "tax_paid"); c.SourceName != "Tax_Paid" {
		t.Errorf("tax_paid report: %+v", c)
	}
	if _, _, cols := outputSummary(t, dst); !slices.Equal(cols, wantColumns) {
		t.Errorf("output columns %v, want %v", cols, wantColumns)
	}
}

// TestImportHidesIdentifierValues checks that values of unit and identifier
// columns appear nowhere in a report, even where they are the problem.
func TestImportHidesIdentifierValues(t *testing.T) {
	d := testDataset()
	d.Columns = append(d.Columns, sluice.Column{Name: "phone", Type: "BIGINT", Role: sluice.RoleIdentifier})
	q := rowsQuery(120, map[string]string{
		"credit_code": `CASE WHEN i = 4 THEN NULL WHEN i = 13 THEN 'SECRET-UNIT-0' ELSE 'SECRET-UNIT-' || (i // 12) END`,
		"name":        `'SECRET-NAME-' || i`,
	}, `CASE WHEN i IN (2, 9) THEN 'SECRET-PHONE-' || i ELSE CAST(13800000000 + i AS VARCHAR) END AS phone`)
	for _, name := range []string{"tax.csv", "tax.parquet"} {
		t.Run(name, func(t *testing.T) {
			src, dst := source(t, name, q)
			r, msg := mustRefuse(t, src, dst, d, Options{RefuseDuplicates: true})

			p := problem(t, r, "phone", KindCastFailure)
			if p.Count != 2 || !slices.Equal(rowsOf(p.Examples), []int64{3, 10}) || len(valuesOf(p.Examples)) != 0 {
				t.Errorf("phone problem: %+v", p)
			}
			problem(t, r, "credit_code", KindNullRate)
			problem(t, r, "credit_code,month", KindDuplicates)

			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for what, s := range map[string]string{"JSON": string(b), "text": r.Text(), "error": msg} {
				if strings.Contains(s, "SECRET") || strings.Contains(s, "138000000") {
					t.Errorf("the %s report shows an identifier or unit value:\n%s", what, s)
				}
			}
		})
	}
}

func TestImportRefusalKeepsExistingOutput(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(12, map[string]string{"headcount": ""}))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("previous version"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), src, testDataset(), dst, Options{}); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Fatalf("Import error = %v, want a refusal", err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "previous version" {
		t.Errorf("the previous output changed: %q, %v", b, err)
	}
	if _, err := os.Stat(dst + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestImportInvalidInput(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(12, nil))
	ctx := context.Background()
	for name, tc := range map[string]struct {
		src  string
		opts Options
		d    func(*sluice.Dataset)
	}{
		"unknown policy":        {src: src, opts: Options{OutOfBounds: map[string]string{"tax_paid": "drop"}}},
		"policy on a dimension": {src: src, opts: Options{OutOfBounds: map[string]string{"filing_status": Refuse}}},
		"unknown column":        {src: src, opts: Options{MaxNullRate: map[string]float64{"nope": 0.5}}},
		"rate above 1":          {src: src, opts: Options{MaxNullRate: map[string]float64{"tax_paid": 1.5}}},
		"invalid manifest":      {src: src, d: func(d *sluice.Dataset) { d.Unit = "" }},
		"unknown extension":     {src: strings.TrimSuffix(src, ".csv") + ".xlsx"},
	} {
		t.Run(name, func(t *testing.T) {
			d := testDataset()
			if tc.d != nil {
				tc.d(d)
			}
			r, err := Import(ctx, tc.src, d, dst, tc.opts)
			if r != nil || sluice.ErrorCode(err) != sluice.EINVALID {
				t.Errorf("Import = %v, %v; want no report and an EINVALID error", r, err)
			}
			assertNoOutput(t, dst)
		})
	}
	if _, err := Import(ctx, filepath.Join(t.TempDir(), "absent.csv"), testDataset(), dst, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Import of a missing file: %v", err)
	}
}

func TestChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Checksum(path)
	if want := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; err != nil || got != want {
		t.Errorf("Checksum = %s, %v; want %s", got, err, want)
	}
	if _, err := Checksum(path + ".absent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Checksum of a missing file: %v", err)
	}
}

// TestImportMillionRows imports a 1 000 000-row CSV file. Values planted out
// of bounds near the end check that row numbers stay right in a large file
// read in parallel.
func TestImportMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("large import")
	}
	const n = 1_000_000
	start := time.Now()
	q := rowsQuery(n, map[string]string{
		"tax_paid": `CASE WHEN i IN (500000, 999998) THEN 1000000 ELSE (i % 1000) + 0.25 END::DECIMAL(18,2)`,
	})
	src, dst := source(t, "tax.csv", q)
	info, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote a %d-row CSV file of %.1f MB in %v", n, float64(info.Size())/1e6, time.Since(start))

	start = time.Now()
	r := mustImport(t, src, dst, testDataset(), Options{})
	t.Logf("imported it in %v", time.Since(start))

	if r.Rows != n {
		t.Errorf("rows %d, want %d", r.Rows, n)
	}
	p := problem(t, r, "tax_paid", KindOutOfBounds)
	if p.Count != 2 || !slices.Equal(rowsOf(p.Examples), []int64{500001, 999999}) {
		t.Errorf("problem: %+v", p)
	}
	if len(r.Problems) != 1 {
		t.Errorf("problems: %+v", r.Problems)
	}
	rows, sum, _ := outputSummary(t, dst)
	if want := expectedSum(t, q); rows != n || sum != want {
		t.Errorf("output: %d rows, sum %s; want %d, %s", rows, sum, n, want)
	}
}

func TestImportMalformedCSV(t *testing.T) {
	header := "credit_code,name,month,tax_paid,filing_status,headcount\n"
	good := "c1,Firm one,2025-01-01,1.5,late,3\n"
	for name, tc := range map[string]struct {
		content, want string
	}{
		"too many columns": {
			content: header + strings.Repeat(good, 30000) + "c2,SECRET-NAME,2025-01-01,1,late,3,SECRET-EXTRA\n" + good,
			want:    "1 malformed line, e.g. line 30002: too many columns",
		},
		"missing columns": {
			content: header + good + "c2,SECRET-NAME,2025-01-01\n" + good + "c3,SECRET-NAME\n",
			want:    "2 malformed lines, e.g. line 3: missing columns (tax_paid, filing_status, headcount); line 5: missing columns (month, tax_paid, filing_status, headcount)",
		},
		"unterminated quote": {
			content: header + good + "c2,\"SECRET-NAME,2025-01-01,1,late,3\n",
			want:    "cannot be read as CSV",
		},
		"invalid UTF-8": {
			content: header + good + "c2,SECRET-\xff\xfe,2025-01-01,1,late,3\n",
			want:    "at line 3: the file is not UTF-8 text",
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "tax.csv"), filepath.Join(dir, "tax.parquet")
			if err := os.WriteFile(src, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Import(context.Background(), src, testDataset(), dst, Options{})
			var se *sluice.Error
			if r != nil || !errors.As(err, &se) || se.Code != sluice.EINVALID || se.Rule != "import.malformed" {
				t.Fatalf("Import = %v, %v; want an EINVALID import.malformed error", r, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the content of a line", err)
			}
			assertNoOutput(t, dst)
		})
	}
}

func TestImportHeaderOnlyCSV(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(0, nil))
	r := mustImport(t, src, dst, testDataset(), Options{})
	if r.Rows != 0 || len(r.Problems) != 0 {
		t.Errorf("rows %d, problems %+v", r.Rows, r.Problems)
	}
	if rows, _, cols := outputSummary(t, dst); rows != 0 || !slices.Equal(cols, wantColumns) {
		t.Errorf("output: %d rows, columns %v", rows, cols)
	}
}

// TestImportHeaderlessCSV checks that a CSV file without a header line, whose
// first line is taken as one, does not show that line's values.
func TestImportHeaderlessCSV(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "tax.csv"), filepath.Join(dir, "tax.parquet")
	content := "SECRET-UNIT-1,SECRET-NAME-1,2025-01-01,1.5,late,3\nc2,Firm two,2025-01-01,1.5,late,3\n"
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	r, msg := mustRefuse(t, src, dst, testDataset(), Options{})
	for _, c := range testDataset().Columns {
		problem(t, r, c.Name, KindMissingColumn)
	}
	if p := problem(t, r, "column 2", KindExtraColumn); !strings.Contains(p.Message, "may be data") {
		t.Errorf("problem: %+v", p)
	}
	if r.Rows != 1 {
		t.Errorf("rows %d, want 1", r.Rows)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"JSON": string(b), "text": r.Text(), "error": msg} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("the %s report shows the first line:\n%s", what, s)
		}
	}
}

func TestImportCorruptParquet(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "tax.parquet"), filepath.Join(dir, "out.parquet")
	if err := os.WriteFile(src, []byte("not a parquet file"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Import(context.Background(), src, testDataset(), dst, Options{})
	var se *sluice.Error
	if r != nil || !errors.As(err, &se) || se.Code != sluice.EINVALID || se.Rule != "import.malformed" {
		t.Fatalf("Import = %v, %v; want an EINVALID import.malformed error", r, err)
	}
	assertNoOutput(t, dst)
}

func TestImportCanceled(t *testing.T) {
	src, dst := source(t, "tax.csv", rowsQuery(1200, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, src, testDataset(), dst, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Import with a canceled context: %v", err)
	}
	assertNoOutput(t, dst)
}
