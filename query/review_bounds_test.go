package query

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"sluice"
)

// A unit's sum leaves the per-unit stage as DOUBLE and is recovered
// exactly below 2^50 units of 10^-scale. The catalog holds declared bounds
// to 2^40, but a derived argument (amount·8) can reach further, and the
// privacy layer accepts up to 2^53 (found by review): such a sum is refused
// when L∞ rows of it could pass 2^50, and exact up to that limit.
func TestDerivedSumsExactOrRefused(t *testing.T) {
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
	p := testParser(t)
	const q = "SELECT d, sum(amount * 8) FROM ledger GROUP BY d"
	an, err := p.Analyze(ctx, q, cat)
	if err != nil {
		t.Fatal(err)
	}
	// 8·2^40·1000 > 2^50: refused, naming the rule.
	var se *sluice.Error
	if _, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 1000}, 7); !errors.As(err, &se) || se.Rule != "rewrite.bounds" {
		t.Fatalf("L∞ 1000: %v, want a rewrite.bounds refusal", err)
	}
	// 8·(2^40 − 76)·128 ≤ 2^50: each unit (alone in its group) has 127 rows
	// at the bound and one of c cents, so its sum is within 2^27 of 2^50.
	const linf = 128
	var cs []string
	for c := int64(100000007); len(cs) < 8; c += 99991 {
		cs = append(cs, fmt.Sprintf("(%d, %d)", len(cs), c))
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE ledger AS
		SELECT 'U' || u AS unit, 'd' || u AS d, CASE WHEN i < 127 THEN `+bound+` ELSE c / 100 END::DECIMAL(18,2) AS amount
		FROM (VALUES `+strings.Join(cs, ", ")+`) v(u, c), range(128) b(i)`); err != nil {
		t.Fatal(err)
	}
	numberUnits(t, conn, "ledger", "unit")
	ob := sluice.Obligations{L0: 1, Linf: linf}
	b, err := an.Rewrite(ob, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ctx, an, b, cat); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	rows, err := conn.QueryContext(ctx, `SELECT d, sum(amount * 8 * 100)::HUGEINT::VARCHAR FROM ledger GROUP BY d`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d, s string
		if err := rows.Scan(&d, &s); err != nil {
			t.Fatal(err)
		}
		want[d] = s
	}
	rows.Close()
	sqlText, _ := b.Executable()
	rows, err = conn.QueryContext(ctx, sqlText)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var d string
		var units, c0, q0 int64
		var s0 float64
		if err := rows.Scan(&d, &units, &c0, &s0, &q0); err != nil {
			t.Fatal(err)
		}
		n++
		w, _ := new(big.Int).SetString(want[d], 10)
		if w.CmpAbs(big.NewInt(1<<49)) < 0 {
			t.Fatalf("%s: sum %s does not come near the limit", d, w)
		}
		if g, _ := new(big.Float).SetFloat64(s0).Int(nil); g.Cmp(w) != 0 {
			t.Errorf("%s: pre-noise sum %s, exact %s", d, g, w)
		}
	}
	if n != len(want) {
		t.Errorf("%d groups, want %d", n, len(want))
	}
}

// Rows without a unit are left out of both statements (found by review:
// when the L0 stage grouped and joined on
// __hu = hash(__u, seed), rows whose unit is NULL survived it in the main
// statement (hash(NULL, seed) is not NULL, so they form one pseudo-unit),
// while the quantile statement's SEMI JOIN still matches __r.__u = __b.__u,
// which is never true for NULL: the same rows are counted, summed and
// averaged but never sampled for the quantiles of the same query. Before
// 139701a both statements joined on __u and dropped them alike. Here the
// group "dn" holds only NULL-unit rows: the main statement releases it
// with 5 rows, the quantile statement samples none of them.
func TestNullUnitsLeftOut(t *testing.T) {
	ctx := context.Background()
	conn := plainDB(t)
	cat := exampleCatalog{"ledger": &sluice.Dataset{
		ID: "ledger", Open: sluice.Conditional, Unit: "unit", Location: "ledger.parquet",
		Columns: []sluice.Column{
			{Name: "unit", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "d", Type: "VARCHAR", Role: sluice.RoleDimension},
			{Name: "amount", Type: "DECIMAL(18,2)", Role: sluice.RoleMeasure, Lower: ptr(0.0), Upper: ptr(100.0), Scale: 2},
		},
	}}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE ledger AS
		SELECT CASE WHEN u = 0 THEN NULL ELSE 'U' || u END AS unit, 'd' || CASE WHEN u = 0 THEN 'n' ELSE u::VARCHAR END AS d,
			(i + 1)::DECIMAL(18,2) AS amount
		FROM range(3) a(u), range(5) b(i)`); err != nil {
		t.Fatal(err)
	}
	numberUnits(t, conn, "ledger", "unit")
	p := testParser(t)
	an, err := p.Analyze(ctx, "SELECT d, count(amount), median(amount) FROM ledger GROUP BY d", cat)
	if err != nil {
		t.Fatal(err)
	}
	b, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 10}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ctx, an, b, cat); err != nil {
		t.Fatal(err)
	}
	main, quant := b.Executable()
	counted := map[string]int64{}
	rows, err := conn.QueryContext(ctx, "SELECT __k0, __c0 FROM ("+main+")")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var c int64
		if err := rows.Scan(&d, &c); err != nil {
			t.Fatal(err)
		}
		counted[d] = c
	}
	rows.Close()
	sampled := map[string]int64{}
	rows, err = conn.QueryContext(ctx, "SELECT __k0, sum(__n)::BIGINT FROM ("+quant+") GROUP BY __k0")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var c int64
		if err := rows.Scan(&d, &c); err != nil {
			t.Fatal(err)
		}
		sampled[d] = c
	}
	rows.Close()
	if c, ok := counted["dn"]; ok {
		t.Errorf("group dn, whose rows have no unit, counts %d rows", c)
	}
	for d, c := range counted {
		if sampled[d] != c {
			t.Errorf("group %s: main statement counts %d rows, quantile statement samples %d (Linf 10 ≥ rows per unit)", d, c, sampled[d])
		}
	}
}

// Keys whose hashes tie for every seed never let a unit keep more than L0
// groups (found by review). DuckDB's hash combines unseeded hashes of its
// arguments, and its hash of a HUGEINT is symmetric in the two 64-bit
// halves: hash(1::HUGEINT) = hash(2^64). Grouping by a CASE between 1 and
// 18446744073709551616 gives every unit two groups with the same __h for
// every seed; a threshold "__h ≤ L0-th smallest" kept both under L0 = 1.
// With L0 = 1 and L∞ = 1 the per-group counts must add up to at most the
// number of units.
func TestL0HashTiesKeepAtMostL0(t *testing.T) {
	conn := plainDB(t)
	q := "SELECT CASE WHEN month < DATE '2024-02-01' THEN 1 ELSE 18446744073709551616 END AS g, count(*) FROM tax_monthly GROUP BY g"
	_, got := runBounded(t, conn, q, sluice.Obligations{L0: 1, Linf: 1})
	var units float64
	conn.QueryRowContext(context.Background(), "SELECT count(DISTINCT credit_code)::DOUBLE FROM tax_monthly").Scan(&units)
	total := 0.0
	for _, row := range got {
		total += num(row[2])
	}
	if total > units {
		t.Errorf("L0 = 1, Linf = 1: groups count %v rows in total from %v units (%v): a unit kept more than L0 groups", total, units, got)
	}
}

// Two units whose hashes collide for every seed (DuckDB hashes a HUGEINT or
// wide DECIMAL by halves: hash(1) = hash(2^64)) are still bounded apart:
// adding one never changes the groups the other keeps, so neighbouring
// datasets differ in at most L0 groups (found by review, when the L0 stage
// grouped on a hash of the unit: adding B evicted A's groups).
func TestL0UnitsWithCollidingHashesStayApart(t *testing.T) {
	ctx := context.Background()
	lo, hi := 0.0, 10.0
	cat := exampleCatalog{"ids": &sluice.Dataset{ID: "ids", Open: sluice.Conditional, Unit: "pid", Population: "person", Location: "ids.parquet",
		Columns: []sluice.Column{
			{Name: "pid", Type: "DECIMAL(38,0)", Role: sluice.RoleUnit},
			{Name: "grp", Type: "VARCHAR", Role: sluice.RoleDimension},
			{Name: "v", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi},
		}}}
	p := testParser(t)
	an, err := p.Analyze(ctx, "SELECT grp, count(DISTINCT pid) FROM ids GROUP BY grp", cat)
	if err != nil {
		t.Fatal(err)
	}
	const l0 = 2
	units := func(withB bool, seed uint64) map[string]int64 {
		conn := plainDB(t)
		values := "(1::HUGEINT)"
		if withB {
			values += ", ((2::HUGEINT) ** 64)"
		}
		if _, err := conn.ExecContext(ctx, `CREATE TABLE ids AS SELECT u::DECIMAL(38,0) AS pid,
			CASE WHEN u = 1 THEN 'a' ELSE 'b' END || g AS grp, 1.0::DOUBLE AS v
			FROM (VALUES `+values+`) AS x(u), range(8) AS y(g)`); err != nil {
			t.Fatal(err)
		}
		numberUnits(t, conn, "ids", "pid")
		if withB {
			var same bool
			if err := conn.QueryRowContext(ctx, "SELECT hash(1::DECIMAL(38,0), 7::UBIGINT) = hash(((2::HUGEINT) ** 64)::DECIMAL(38,0), 7::UBIGINT)").Scan(&same); err != nil || !same {
				t.Fatalf("the two units' hashes no longer collide (%v): the test needs another pair", err)
			}
		}
		b, err := an.Rewrite(sluice.Obligations{L0: l0, Linf: 1}, seed)
		if err != nil {
			t.Fatal(err)
		}
		run, _ := b.Executable()
		rows, err := conn.QueryContext(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var k string
			var u int64
			var rest [3]any
			if err := rows.Scan(&k, &u, &rest[0], &rest[1], &rest[2]); err != nil {
				t.Fatal(err)
			}
			out[k] = u
		}
		return out
	}
	for seed := uint64(1); seed <= 20; seed++ {
		without, with := units(false, seed), units(true, seed)
		changed := 0
		for g := range 8 {
			for _, p := range []string{"a", "b"} {
				if k := fmt.Sprintf("%s%d", p, g); without[k] != with[k] {
					changed++
				}
			}
		}
		if changed > l0 {
			t.Fatalf("seed %d: adding one unit changed %d groups, more than L0 = %d\nwithout: %v\nwith:    %v", seed, changed, l0, without, with)
		}
	}
}

// Datasets of one population whose unit columns have different types are
// not joined: DuckDB would cast, and '1', '01' and ' 1' would all match the
// number 1, so one unit would be bounded as several (found by review: one
// unit's sum reached 4× its sensitivity).
func TestJoinRefusesUnitsOfDifferentTypes(t *testing.T) {
	lo, hi := 0.0, 100.0
	cat := exampleCatalog{
		"reg": &sluice.Dataset{ID: "reg", Open: sluice.Conditional, Unit: "pid", Population: "person", Location: "reg.parquet", Columns: []sluice.Column{
			{Name: "pid", Type: "VARCHAR", Role: sluice.RoleUnit}}},
		"pay": &sluice.Dataset{ID: "pay", Open: sluice.Conditional, Unit: "pid", Population: "person", Location: "pay.parquet", Columns: []sluice.Column{
			{Name: "pid", Type: "BIGINT", Role: sluice.RoleUnit},
			{Name: "v", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi}}},
		"pay2": &sluice.Dataset{ID: "pay2", Open: sluice.Conditional, Unit: "pid", Population: "person", Key: []string{"pid"}, Location: "pay2.parquet", Columns: []sluice.Column{
			{Name: "pid", Type: "bigint", Role: sluice.RoleUnit},
			{Name: "v", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi}}},
	}
	p := testParser(t)
	q := "SELECT sum(p.v) FROM reg r JOIN pay p ON r.pid = p.pid"
	_, err := p.Analyze(context.Background(), q, cat)
	var se *sluice.Error
	if !errors.As(err, &se) || se.Rule != "sql.unit_type" || !strings.Contains(se.Message, "VARCHAR and BIGINT") || se.Pos != strings.Index(q, "pay p")+1 {
		t.Errorf("join of VARCHAR and BIGINT units: %v", err)
	}
	if _, err := p.Analyze(context.Background(), "SELECT sum(p.v) FROM pay2 q JOIN pay p ON q.pid = p.pid", cat); err != nil {
		t.Errorf("join of BIGINT and bigint units: %v", err)
	}
}

// Bounds whose fixed point overflows int64 are refused by the rewriter
// itself (found by review: 5e24 wrapped negative and skipped the check).
func TestRewriteRefusesOverflowingBounds(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	an, err := p.Analyze(context.Background(), "SELECT sum(tax_paid * 100000000000000000000) FROM tax_monthly", cat)
	if err != nil {
		t.Skipf("the analyser refuses it already: %v", err)
	}
	var se *sluice.Error
	if _, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 1}, 7); !errors.As(err, &se) || se.Rule != "rewrite.bounds" {
		t.Errorf("overflowing bounds: %v", err)
	}
}
