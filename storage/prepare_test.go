package storage

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice"
)

// writeParquet writes the result of query to a Parquet file at path.
func writeParquet(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("COPY (" + query + ") TO " + quoteLiteral(path) + " (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
}

func testDataset(location string) *sluice.Dataset {
	lo, hi := 0.0, 1000.0
	return &sluice.Dataset{
		ID: "tax_monthly", Title: "t", Owner: "o", Level: 3, Open: sluice.Conditional,
		UpdateFrequency: "monthly", Location: location, Unit: "credit_code", Population: "enterprise",
		Columns: []sluice.Column{
			{Name: "credit_code", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "month", Type: "DATE", Role: sluice.RoleDimension},
			{Name: "tax_paid", Type: "DECIMAL(18,2)", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi, Scale: 2},
		},
	}
}

const testRows = `SELECT 'c' || (i % 7) AS credit_code, DATE '2025-01-01' + INTERVAL (i % 12) MONTH AS month,
	i * 1.005 AS tax_paid, 'extra' AS ignored FROM range(100) t(i)`

// readPrepared returns the row count and the column types of a prepared file.
func readPrepared(t *testing.T, path string) (int, map[string]string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("ATTACH " + quoteLiteral(path) + " AS p (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM p.data").Scan(&n); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE p.data)")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		types[name] = typ
	}
	return n, types
}

func TestPrepareBuildsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, testRows)
	cache := filepath.Join(dir, "cache")
	d := testDataset(src)

	p1, err := Prepare(ctx, d, cache)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p1) != cache || !strings.HasPrefix(filepath.Base(p1), "tax_monthly-") || !strings.HasSuffix(p1, ".duckdb") {
		t.Errorf("path = %s", p1)
	}
	n, types := readPrepared(t, p1)
	if n != 100 {
		t.Errorf("rows = %d, want 100", n)
	}
	want := map[string]string{"credit_code": "VARCHAR", "month": "DATE", "tax_paid": "DECIMAL(18,2)", sluice.UnitIDColumn: "INTEGER", sluice.UnitHashColumn: "UBIGINT"}
	if len(types) != len(want) {
		t.Errorf("columns = %v, want %v", types, want)
	}
	for c, typ := range want {
		if types[c] != typ {
			t.Errorf("column %s has type %q, want %q", c, types[c], typ)
		}
	}
	info1, err := os.Stat(p1)
	if err != nil {
		t.Fatal(err)
	}

	time.Sleep(20 * time.Millisecond)
	p2, err := Prepare(ctx, d, cache)
	if err != nil {
		t.Fatal(err)
	}
	info2, err := os.Stat(p2)
	if err != nil {
		t.Fatal(err)
	}
	if p2 != p1 || !info2.ModTime().Equal(info1.ModTime()) {
		t.Errorf("second call rebuilt: %s %v, then %s %v", p1, info1.ModTime(), p2, info2.ModTime())
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary files left)", len(entries))
	}

	// A different column list is a different file.
	d.Columns = d.Columns[:2]
	p3, err := Prepare(ctx, d, cache)
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 {
		t.Error("a different column list reused the file")
	}
}

func TestPrepareChangedParquet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, testRows)
	cache := filepath.Join(dir, "cache")
	d := testDataset(src)
	p1, err := Prepare(ctx, d, cache)
	if err != nil {
		t.Fatal(err)
	}
	writeParquet(t, src, strings.Replace(testRows, "range(100)", "range(40)", 1))
	// Make sure the modification time moves even on a coarse clock.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	p2, err := Prepare(ctx, d, cache)
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p1 {
		t.Fatal("changed Parquet file reused the old prepared file")
	}
	if n, _ := readPrepared(t, p2); n != 40 {
		t.Errorf("rows = %d, want 40", n)
	}
}

func TestPrepareMissingColumn(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, "SELECT 'c' AS credit_code, DATE '2025-01-01' AS month")
	d := testDataset(src)
	lo, hi := 0.0, 1.0
	d.Columns = append(d.Columns, sluice.Column{Name: "tax_arrears", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi})
	_, err := Prepare(context.Background(), d, filepath.Join(dir, "cache"))
	if err == nil {
		t.Fatal("missing columns accepted")
	}
	for _, w := range []string{`column "tax_paid" is not in`, `column "tax_arrears" is not in`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("code = %s", sluice.ErrorCode(err))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "cache"))
	if len(entries) != 0 {
		t.Errorf("a failed build left %d entries in the cache", len(entries))
	}
}

func TestPrepareBadCast(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, "SELECT 'c' AS credit_code, 'not a date' AS month, 1.5 AS tax_paid")
	if _, err := Prepare(context.Background(), testDataset(src), filepath.Join(dir, "cache")); err == nil {
		t.Error("uncastable value accepted")
	}
}

func TestPrepareConcurrent(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, testRows)
	cache := filepath.Join(dir, "cache")
	const n = 6
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = Prepare(context.Background(), testDataset(src), cache) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if paths[i] != paths[0] {
			t.Errorf("paths differ: %s, %s", paths[0], paths[i])
		}
	}
	if rows, _ := readPrepared(t, paths[0]); rows != 100 {
		t.Errorf("rows = %d", rows)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1", len(entries))
	}
	if len(buildLocks.m) != 0 {
		t.Errorf("%d build locks left", len(buildLocks.m))
	}
}

func TestPrepareRejects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, loc := range []string{"s3://bucket/x.parquet", "", filepath.Join(dir, "missing.parquet"), dir} {
		if _, err := Prepare(ctx, testDataset(loc), filepath.Join(dir, "cache")); err == nil {
			t.Errorf("location %q accepted", loc)
		}
	}
	d := testDataset(filepath.Join(dir, "x.parquet"))
	d.ID = "../escape"
	if _, err := Prepare(ctx, d, filepath.Join(dir, "cache")); err == nil {
		t.Error("id with a path accepted")
	}
}

func TestPrepareCanceledWhileWaiting(t *testing.T) {
	unlock, err := lockBuild(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := lockBuild(ctx, "k"); err == nil {
		t.Error("took a held lock")
	}
	unlock()
	if len(buildLocks.m) != 0 {
		t.Errorf("%d build locks left", len(buildLocks.m))
	}
}

// A declared key is checked when the file is built: a key two rows share
// is refused without naming the rows' values, a unique one is accepted,
// and the file built for one key is not reused for another.
func TestPrepareChecksKey(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, testRows) // credit_code i % 7, month i % 12: i and i + 84 share both
	cache := filepath.Join(dir, "cache")
	d := testDataset(src)
	d.Key = []string{"credit_code", "month"}
	_, err := Prepare(context.Background(), d, cache)
	if err == nil {
		t.Fatal("a key shared by rows accepted")
	}
	if sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), "key (credit_code, month): 16 values are shared by more than one row") {
		t.Errorf("error %q (%s)", err, sluice.ErrorCode(err))
	}
	if strings.Contains(err.Error(), "'c") || strings.Contains(err.Error(), "c1") {
		t.Errorf("error names a key value: %q", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("a failed build left %d entries in the cache", len(entries))
	}
	d.Key = []string{"credit_code", "month", "tax_paid"}
	withKey, err := Prepare(context.Background(), d, cache)
	if err != nil {
		t.Fatal(err)
	}
	d.Key = nil
	withoutKey, err := Prepare(context.Background(), d, cache)
	if err != nil {
		t.Fatal(err)
	}
	if withKey == withoutKey {
		t.Error("the file built for a key is reused without it")
	}
}

// The unit ids number the unit's values densely, in their order, one number
// a value; the unit hash is the hash of the value alone; a NULL unit has
// neither; no row is lost or repeated by the join.
func TestPrepareNumbersUnits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "tax_monthly.parquet")
	writeParquet(t, src, `SELECT CASE WHEN i % 10 = 3 THEN NULL ELSE 'c' || (i * 7 % 13) END AS credit_code,
		DATE '2025-01-01' + INTERVAL (i % 12) MONTH AS month, i * 1.005 AS tax_paid FROM range(200) t(i)`)
	p, err := Prepare(ctx, testDataset(src), filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("ATTACH " + quoteLiteral(p) + " AS p (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	var rows, nullIDs, units, ids, idsPerUnit, lo, hi, misordered int64
	q := `SELECT count(*), count(*) FILTER (WHERE __unit_id IS NULL), count(DISTINCT credit_code), count(DISTINCT __unit_id),
		(SELECT max(n) FROM (SELECT count(DISTINCT __unit_id) AS n FROM p.data GROUP BY credit_code)),
		min(__unit_id), max(__unit_id),
		(SELECT count(*) FROM p.data a JOIN p.data b ON a.credit_code < b.credit_code WHERE a.__unit_id >= b.__unit_id)
		FROM p.data`
	if err := db.QueryRow(q).Scan(&rows, &nullIDs, &units, &ids, &idsPerUnit, &lo, &hi, &misordered); err != nil {
		t.Fatal(err)
	}
	if rows != 200 || nullIDs != 20 {
		t.Errorf("%d rows, %d without a unit id; want 200 and the 20 with a NULL unit", rows, nullIDs)
	}
	var badHashes int64
	if err := db.QueryRow(`SELECT count(*) FROM p.data WHERE __unit_hash IS DISTINCT FROM CASE WHEN credit_code IS NOT NULL THEN hash(credit_code) END`).Scan(&badHashes); err != nil {
		t.Fatal(err)
	}
	if badHashes != 0 {
		t.Errorf("%d rows whose unit hash is not the hash of their unit's value (NULL for a NULL unit)", badHashes)
	}
	if units != 13 || ids != units || idsPerUnit != 1 || lo != 1 || hi != units || misordered != 0 {
		t.Errorf("%d units got %d ids (at most %d a unit) from %d to %d, %d pairs out of order; want one each, 1 to %d, in order",
			units, ids, idsPerUnit, lo, hi, misordered, units)
	}
}
