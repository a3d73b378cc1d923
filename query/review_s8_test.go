package query

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sluice"
)

// A unit's choice of its at most L0 groups must not depend on the other
// units (found by review). DuckDB's hash(…, seed) is the unseeded hash XOR
// a mask of the seed: hash(u, k, s) = G(u, k) XOR H(s), so the draws of
// distinct units are not independent, and when the choice hashed the
// prepared file's unit number, a rank among all units, one unit more that
// no query row reads renumbered every unit after it and changed the
// distribution of every count. Here 40 units whose numbers made them pick
// the same group for every seed (count of "a" 0 or 40 in D) split evenly in
// D' (D plus one filtered-out unit with the smallest code: count 20). The
// choice now hashes a hash of the unit's own value, so D and D' give the
// same counts seed by seed.
func TestL0ChoiceIgnoresOtherUnits(t *testing.T) {
	ctx := context.Background()
	conn := plainDB(t)
	// XOR structure of the seed.
	var same bool
	if err := conn.QueryRowContext(ctx, `SELECT count(DISTINCT xor(hash(i::INTEGER, k, 7::UBIGINT), hash(i::INTEGER, k, 99::UBIGINT))) = 1
		FROM range(1, 200) a(i), (VALUES ('a'), ('b'), ('zz')) b(k)`).Scan(&same); err != nil || !same {
		t.Fatalf("seed not an XOR mask (%v)", err)
	}
	// For id i: top63 = hash(i,'a',s) and hash(i,'b',s) differ in the top
	// bit (then the seed's top bit alone decides, for every unit alike);
	// c = whether 'a' wins for seed 0.
	type info struct{ top63, c bool }
	const m = 4000
	ids := make([]info, m+2)
	rows, err := conn.QueryContext(ctx, `SELECT i,
		(xor(hash(i::INTEGER, 'a'::VARCHAR, 0::UBIGINT), hash(i::INTEGER, 'b'::VARCHAR, 0::UBIGINT)) >> 63) = 1,
		(hash(i::INTEGER, 'a'::VARCHAR, 0::UBIGINT) >> 1) < (hash(i::INTEGER, 'b'::VARCHAR, 0::UBIGINT) >> 1)
		FROM range(1, `+fmt.Sprint(m+2)+`) r(i)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var i int
		var x info
		if err := rows.Scan(&i, &x.top63, &x.c); err != nil {
			t.Fatal(err)
		}
		ids[i] = x
	}
	rows.Close()
	const k = 40
	var chosen []int
	n1, n0 := 0, 0
	for i := 1; i <= m && len(chosen) < k; i++ {
		if !ids[i].top63 || !ids[i].c || !ids[i+1].top63 {
			continue
		}
		if ids[i+1].c && n1 < k/2 {
			n1++
			chosen = append(chosen, i)
		} else if !ids[i+1].c && n0 < k/2 {
			n0++
			chosen = append(chosen, i)
		}
	}
	if len(chosen) < k {
		t.Fatalf("found only %d units", len(chosen))
	}
	in := map[int]bool{}
	for _, i := range chosen {
		in[i] = true
	}
	var vals []string
	for i := 1; i <= m; i++ {
		if in[i] {
			vals = append(vals, fmt.Sprintf("(%d, 'a', 'y'), (%d, 'b', 'y')", i, i))
		} else {
			vals = append(vals, fmt.Sprintf("(%d, 'a', 'n')", i))
		}
	}
	cat := exampleCatalog{"reg": &sluice.Dataset{ID: "reg", Open: sluice.Conditional, Unit: "pid", Population: "person", Location: "reg.parquet",
		Columns: []sluice.Column{
			{Name: "pid", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "grp", Type: "VARCHAR", Role: sluice.RoleDimension},
			{Name: "keep", Type: "VARCHAR", Role: sluice.RoleDimension},
		}}}
	p := testParser(t)
	an, err := p.Analyze(ctx, "SELECT grp, count(*) FROM reg WHERE keep = 'y' GROUP BY grp", cat)
	if err != nil {
		t.Fatal(err)
	}
	countA := func(extra bool, seed uint64) float64 {
		c := plainDB(t)
		v := strings.Join(vals, ", ")
		if extra {
			v += ", (0, 'a', 'n')" // a unit no row of the query reads
		}
		if _, err := c.ExecContext(ctx, `CREATE TABLE reg AS SELECT 'U' || lpad(i::VARCHAR, 6, '0') AS pid, g AS grp, kp AS keep FROM (VALUES `+v+`) x(i, g, kp)`); err != nil {
			t.Fatal(err)
		}
		numberUnits(t, c, "reg", "pid")
		b, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 1}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(ctx, an, b, cat); err != nil {
			t.Fatal(err)
		}
		run, _ := b.Executable()
		for _, v := range queryAll(t, c, run) {
			if v[0] == "a" {
				return num(v[2])
			}
		}
		return 0
	}
	var d, dp []float64
	bad := 0
	for seed := uint64(1); seed <= 12; seed++ {
		a, b := countA(false, seed*0x9E3779B97F4A7C15), countA(true, seed*0x9E3779B97F4A7C15)
		d, dp = append(d, a), append(dp, b)
		if a-b > 1 || b-a > 1 {
			bad++
		}
	}
	t.Logf("count of group a over 12 seeds\n  D : %v\n  D': %v", d, dp)
	if bad > 0 {
		t.Errorf("a unit no query row reads changed the count of group a by more than its sensitivity 1 for %d of 12 seeds; D gives only 0 or %d, D' only %d", bad, k, k/2)
	}
}
