package gen

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sluice"
	"sluice/storage"
)

// testOptions are small enough for a quick test and large enough that every
// measure has values outside its bounds.
var testOptions = Options{Firms: 5000, People: 4000, Months: 12, Seed: 7}

// generated holds a directory generated with testOptions, shared by the tests.
var generated struct {
	dir string
	err error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-gen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	generated.dir = dir
	generated.err = Generate(context.Background(), dir, testOptions)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testDir(t *testing.T) string {
	t.Helper()
	if generated.err != nil {
		t.Fatal(generated.err)
	}
	return generated.dir
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

func parquet(dir, id string) string {
	return quote(filepath.Join(dir, id+".parquet"))
}

func TestGenerateIsDeterministic(t *testing.T) {
	dir := testDir(t)
	again := t.TempDir()
	if err := Generate(context.Background(), again, testOptions); err != nil {
		t.Fatal(err)
	}
	for _, id := range Datasets {
		a, err := os.ReadFile(filepath.Join(dir, id+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(again, id+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs with the same seed differ", id)
		}
	}

	other := t.TempDir()
	opts := testOptions
	opts.Seed++
	opts.Only = []string{"enterprise", "tax_monthly"}
	if err := Generate(context.Background(), other, opts); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "tax_monthly.parquet"))
	b, _ := os.ReadFile(filepath.Join(other, "tax_monthly.parquet"))
	if bytes.Equal(a, b) {
		t.Error("another seed gives the same tax_monthly")
	}
	entries, _ := os.ReadDir(other)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"enterprise.parquet", "enterprise.yaml", "tax_monthly.parquet", "tax_monthly.yaml"}; !slices.Equal(names, want) {
		t.Errorf("Only wrote %v, want %v", names, want)
	}
}

// TestGenerateMatchesManifests opens the generated directory as a catalog and
// checks each file against its manifest: the columns and their types, the
// domains, the bounds (mostly within, a few values outside) and the units.
func TestGenerateMatchesManifests(t *testing.T) {
	dir := testDir(t)
	cat, err := storage.OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cat.List()); got != len(Datasets) {
		t.Fatalf("catalog holds %d datasets, want %d", got, len(Datasets))
	}
	db := openDB(t)
	counts, err := RowCounts(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cat.List() {
		t.Run(d.ID, func(t *testing.T) {
			src := quote(d.Location)
			rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(" + src + "))")
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for rows.Next() {
				var name, typ string
				if err := rows.Scan(&name, &typ); err != nil {
					t.Fatal(err)
				}
				got = append(got, name+" "+typ)
			}
			rows.Close()
			for _, c := range d.Columns {
				want = append(want, c.Name+" "+c.Type)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("columns\n got %v\nwant %v", got, want)
			}
			if n := counts[d.ID]; n == 0 {
				t.Fatal("no rows")
			}

			unit := d.Column(d.Unit)
			if n := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE %s IS NULL", src, unit.Name)); n != 0 {
				t.Errorf("%d rows without a unit", n)
			}
			if d.Population == "enterprise" && d.ID != "enterprise" {
				q := fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE credit_code NOT IN (SELECT credit_code FROM read_parquet(%s))",
					src, parquet(dir, "enterprise"))
				if n := queryInt(t, db, q); n != 0 {
					t.Errorf("%d rows whose unit is not in the enterprise registry", n)
				}
			}

			for _, c := range d.Columns {
				switch {
				case len(c.Domain) > 0:
					q := fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE %s::VARCHAR NOT IN (SELECT unnest(%s))", src, c.Name, listLiteral(c.Domain))
					if n := queryInt(t, db, q); n != 0 {
						t.Errorf("%s: %d values outside the domain", c.Name, n)
					}
				case c.Role == sluice.RoleMeasure:
					var total, outside int64
					q := fmt.Sprintf("SELECT count(%[2]s), count(*) FILTER (WHERE %[2]s < %[3]g OR %[2]s > %[4]g) FROM read_parquet(%[1]s)",
						src, c.Name, *c.Lower, *c.Upper)
					if err := db.QueryRow(q).Scan(&total, &outside); err != nil {
						t.Fatal(err)
					}
					share := float64(outside) / float64(total)
					t.Logf("%s: %d of %d values (%.2f%%) outside [%g, %g]", c.Name, outside, total, 100*share, *c.Lower, *c.Upper)
					if share > 0.06 {
						t.Errorf("%s: %.1f%% of values outside the bounds, want a few", c.Name, 100*share)
					}
					if outside == 0 && total >= 400 {
						t.Errorf("%s: no value outside the bounds; clamping would never matter", c.Name)
					}
				}
			}
		})
	}
}

func listLiteral(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestGenerateShapes checks the shapes the demos rely on.
func TestGenerateShapes(t *testing.T) {
	dir := testDir(t)
	db := openDB(t)
	ent, tax := parquet(dir, "enterprise"), parquet(dir, "tax_monthly")

	if n := queryInt(t, db, "SELECT count(*) FROM read_parquet("+ent+")"); n != int64(testOptions.Firms) {
		t.Errorf("%d firms, want %d", n, testOptions.Firms)
	}
	if n := queryInt(t, db, "SELECT count(*) - count(DISTINCT credit_code) FROM read_parquet("+ent+")"); n != 0 {
		t.Errorf("%d duplicate credit codes", n)
	}
	codes, err := db.Query("SELECT credit_code FROM read_parquet(" + ent + ")")
	if err != nil {
		t.Fatal(err)
	}
	for codes.Next() {
		var c string
		if err := codes.Scan(&c); err != nil {
			t.Fatal(err)
		}
		if err := checkCreditCode(c); err != nil {
			t.Error(err)
			break
		}
	}
	codes.Close()

	// Some firms file every month, some never.
	full := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM (SELECT credit_code FROM read_parquet(%s) GROUP BY 1 HAVING count(*) = %d)", tax, testOptions.Months))
	none := queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM read_parquet(%s) WHERE credit_code NOT IN (SELECT credit_code FROM read_parquet(%s))", ent, tax))
	if full < int64(testOptions.Firms)/5 || none < int64(testOptions.Firms)/20 {
		t.Errorf("%d firms file every month and %d never, want many of both", full, none)
	}
	// Larger firms pay more tax.
	var corr float64
	q := fmt.Sprintf(`SELECT corr(ln(h + 1), ln(greatest(p, 1))) FROM (
		SELECT s.credit_code, avg(headcount) h, avg(tax_paid) p
		FROM read_parquet(%s) s JOIN read_parquet(%s) t USING (credit_code, month) GROUP BY 1)`, parquet(dir, "social_insurance"), tax)
	if err := db.QueryRow(q).Scan(&corr); err != nil {
		t.Fatal(err)
	}
	if corr < 0.5 {
		t.Errorf("correlation of headcount and tax = %.2f, want strong", corr)
	}
	// Firms with court records run tax arrears more often.
	var with, without float64
	q = fmt.Sprintf(`SELECT avg(a) FILTER (WHERE c), avg(a) FILTER (WHERE NOT c) FROM (
		SELECT credit_code, avg((tax_arrears > 0)::INTEGER) a, credit_code IN (SELECT credit_code FROM read_parquet(%s)) c
		FROM read_parquet(%s) GROUP BY 1)`, parquet(dir, "court_records"), tax)
	if err := db.QueryRow(q).Scan(&with, &without); err != nil {
		t.Fatal(err)
	}
	if with < 2*without {
		t.Errorf("arrears rate with court records %.3f, without %.3f: want clearly higher", with, without)
	}
	// Missing returns have no tax.
	if n := queryInt(t, db, "SELECT count(*) FROM read_parquet("+tax+") WHERE (filing_status = 'missing') <> (tax_paid IS NULL)"); n != 0 {
		t.Errorf("%d rows where a missing return and an empty tax_paid disagree", n)
	}
	// A few people visit often, most rarely.
	var median, top float64
	q = "SELECT median(n), max(n) FROM (SELECT count(*) n FROM read_parquet(" + parquet(dir, "clinic_visits") + ") GROUP BY person_id)"
	if err := db.QueryRow(q).Scan(&median, &top); err != nil {
		t.Fatal(err)
	}
	if median > 3 || top < 20 {
		t.Errorf("visits per person: median %g, max %g; want a few and a long tail", median, top)
	}
}

// checkCreditCode verifies both check characters of a unified social
// credit code (GB 32100-2015, and GB 11714 for the organisation code in it).
func checkCreditCode(c string) error {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	if len(c) != 18 {
		return fmt.Errorf("credit code %q: %d characters", c, len(c))
	}
	weights := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for k := range 17 {
		v := strings.IndexByte(alphabet, c[k])
		if v < 0 {
			return fmt.Errorf("credit code %q: bad character %q", c, c[k])
		}
		sum += v * weights[k]
	}
	if want := alphabet[(31-sum%31)%31]; c[17] != want {
		return fmt.Errorf("credit code %q: check character %c, want %c", c, c[17], want)
	}
	org := c[8:17]
	sum = 0
	for k, w := range []int{3, 7, 9, 10, 5, 8, 4, 2} {
		ch := org[k]
		v := int(ch - '0')
		if ch >= 'A' {
			v = int(ch-'A') + 10
		}
		sum += v * w
	}
	want := byte('0' + (11-sum%11)%11)
	if (11-sum%11)%11 == 10 {
		want = 'X'
	}
	if org[8] != want {
		return fmt.Errorf("credit code %q: organisation check character %c, want %c", c, org[8], want)
	}
	return nil
}

func TestCheckCreditCode(t *testing.T) {
	// Published examples.
	for _, c := range []string{"91350100M000100Y43", "91110108551385082Q"} {
		if err := checkCreditCode(c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if checkCreditCode("91350100M000100Y44") == nil {
		t.Error("bad check character accepted")
	}
}

func TestOptions(t *testing.T) {
	if err := Scale(1).Validate(); err != nil {
		t.Error(err)
	}
	if o := Scale(1); o.Firms != 20000 || o.People != 50000 || o.Months != 24 {
		t.Errorf("Scale(1) = %+v", o)
	}
	bad := Options{Firms: 0, People: 1, Months: 601, Only: []string{"nope"}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, w := range []string{"firms (0)", "months (601)", `unknown dataset "nope"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v does not mention %q", err, w)
		}
	}
	if Generate(context.Background(), t.TempDir(), bad) == nil {
		t.Error("Generate accepted bad options")
	}
}

func TestDoubleLiterals(t *testing.T) {
	for in, want := range map[string]string{
		"0.35 * z":                       "0.35e0 * z",
		"x < 0.04 THEN 1":                "x < 0.04e0 THEN 1",
		"[0.10, 0.12]":                   "[0.10e0, 0.12e0]",
		"DATE '2015-10-01' + 1.5":        "DATE '2015-10-01' + 1.5e0",
		"'it''s 1.5' || 2.5":             "'it''s 1.5' || 2.5e0",
		"DECIMAL(18,2) round(x, 2) t1.5": "DECIMAL(18,2) round(x, 2) t1.5",
		"1e5 + 2.5e3 + 12":               "1e5 + 2.5e3 + 12",
		"9007199254740992.0":             "9007199254740992.0e0",
		"ln(1.3) + 0.9 * zr":             "ln(1.3e0) + 0.9e0 * zr",
		"1.5 -- it's 2.5\n3.5":           "1.5e0 -- it's 2.5\n3.5e0",
		"x - -1.5":                       "x - -1.5e0",
	} {
		if got := doubleLiterals(in); got != want {
			t.Errorf("doubleLiterals(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGeneratedDataPrepares runs every generated dataset through
// storage.Prepare, as the sandbox will.
func TestGeneratedDataPrepares(t *testing.T) {
	dir := testDir(t)
	cat, err := storage.OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := RowCounts(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	cache := t.TempDir()
	for _, d := range cat.List() {
		p, err := storage.Prepare(context.Background(), d, cache)
		if err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		alias := "p_" + d.ID
		if _, err := db.Exec("ATTACH " + quote(p) + " AS " + alias + " (READ_ONLY)"); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, db, "SELECT count(*) FROM "+alias+"."+storage.PreparedTable); n != counts[d.ID] {
			t.Errorf("%s: prepared %d rows, want %d", d.ID, n, counts[d.ID])
		}
	}
}
