package query

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sluice"
)

func zzAnalyse(t *testing.T, q string) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("PANIC on %q: %v", q, r)
		}
	}()
	p := testParser(t)
	cat := loadExamples(t)
	an, err := p.Analyze(context.Background(), q, cat)
	if err != nil {
		return err
	}
	b, err := an.Rewrite(sluice.Obligations{L0: 2, Linf: 3}, 7)
	if err != nil {
		return err
	}
	return p.Verify(context.Background(), an, b, cat)
}

func TestHostileInputsDoNotPanic(t *testing.T) {
	for _, q := range []string{
		"SELECT count(*) FROM tax_monthly GROUP BY ()",
		"SELECT count(*) FROM tax_monthly ORDER BY 18446744073709551617",
		"SELECT count(*) FROM tax_monthly HAVING 1 = count(*)",
		"SELECT quantile(tax_paid, NULL) FROM tax_monthly",
		"SELECT sum(tax_paid / 1e-300) FROM tax_monthly",
		"SELECT sum(tax_paid * 1e308 * 10) FROM tax_monthly",
		"SELECT avg(CAST(tax_paid AS DECIMAL)) FROM tax_monthly",
		"SELECT sum(CAST(tax_paid AS VARCHAR)) FROM tax_monthly",
		"SELECT count(*) FROM tax_monthly WHERE CASE WHEN true THEN 1 END",
		"SELECT count(*) FROM tax_monthly GROUP BY month ORDER BY month NULLS FIRST",
		"SELECT count(*) FROM tax_monthly ORDER BY ALL",
		"SELECT tax_paid + 0 AS k, count(*) FROM tax_monthly GROUP BY 1",
		"SELECT CAST(tax_paid AS VARCHAR) AS k, count(*) FROM tax_monthly GROUP BY 1",
		"SELECT count(*) FILTER (WHERE true) FROM tax_monthly",
		"SELECT sum(tax_paid) FILTER (WHERE credit_code = 'F7') FROM tax_monthly",
		"SELECT count(*) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code OR true",
		"SELECT count(*) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code AND a.credit_code = b.credit_code",
		"SELECT count(*) FROM tax_monthly WHERE (month, tax_paid) = (month, tax_paid)",
		"SELECT count(*) FROM tax_monthly WHERE month IN ()",
		"SELECT count(*) FROM tax_monthly t GROUP BY ALL",
		"SELECT min(tax_paid), max(tax_paid) FROM tax_monthly GROUP BY ALL",
		"SELECT count(*) FROM tax_monthly GROUP BY GROUPING SETS ((month), (month))",
		"SELECT count(*) FROM tax_monthly LIMIT 9223372036854775807",
		"SELECT count(*) FROM tax_monthly WHERE #1 = 'x'",
		"SELECT sum(round(tax_paid, -3)) FROM tax_monthly",
		"SELECT sum(tax_paid) AS s FROM tax_monthly HAVING s > 1 AND s < 2 OR NOT s IS NULL",
		"SELECT count(*) FROM tax_monthly WHERE credit_code COLLATE nocase = 'f7'",
		"SELECT count(*) FROM tax_monthly WHERE credit_code::BLOB = 'x'",
		"SELECT count(*) FROM tax_monthly WHERE [credit_code][1] = 'x'",
		"SELECT count(*) FROM tax_monthly WHERE {'a': credit_code}.a = 'x'",
		"SELECT count(*) FROM tax_monthly WHERE credit_code SIMILAR TO 'F7.*'",
		"SELECT count(*) FROM tax_monthly WHERE credit_code GLOB 'F7*'",
	} {
		err := zzAnalyse(t, q)
		t.Logf("%-90s -> %v", q, err)
	}
}

// Each reference to a CTE is flattened separately, so k nested CTEs that
// self-join their predecessor yield 2^k base relations: an analysis-time
// CPU/memory blow-up from a few hundred bytes of SQL, before any budget or
// policy check.
func TestCTEFlatteningIsCapped(t *testing.T) {
	for _, k := range []int{8, 10, 12, 15} {
		var b strings.Builder
		b.WriteString("WITH c0 AS (SELECT * FROM tax_monthly)")
		for i := 1; i <= k; i++ {
			fmt.Fprintf(&b, ", c%d AS (SELECT x.* FROM c%d x JOIN c%d y ON x.credit_code = y.credit_code)", i, i-1, i-1)
		}
		fmt.Fprintf(&b, " SELECT count(*) FROM c%d", k)
		q := b.String()
		p := testParser(t)
		start := time.Now()
		an, err := p.Analyze(context.Background(), q, loadExamples(t))
		el := time.Since(start)
		rels := 0
		if an != nil {
			rels = len(an.rels)
		}
		t.Logf("k=%d: %d bytes of SQL, analyse %v, %d relations, err=%v", k, len(q), el, rels, err)
		if err == nil && rels > 1000 {
			t.Errorf("accepted a query flattening to %d relations (%d bytes of SQL)", rels, len(q))
		}
	}
}

// Functions whose work per row an argument sets are accepted with small
// constants: the refused corpus holds the data-dependent and large ones.
// Text-lengthening calls are bounded over the whole expression, not per
// call: one replace() with the longest replacement, a few concatenations
// and padding pass; nesting that multiplies (directly or through
// subqueries) is refused (rule sql.function_cost). Found by review: three
// nested replace() calls turned one byte of a row that met an analyst's
// condition into 16 MiB, making the run time a noise-free oracle for it.
func TestBoundedCostFunctionsAccepted(t *testing.T) {
	a := strings.Repeat("a", maxReplacement)
	acceptsAll(t,
		"SELECT lpad(filing_status, 12, '.') AS s, count(*) FROM tax_monthly GROUP BY s",
		"SELECT rpad(filing_status, 1000, ' ') AS s, count(*) FROM tax_monthly GROUP BY s",
		"SELECT replace(filing_status, '_', ' ') AS s, count(*) FROM tax_monthly GROUP BY s",
		"SELECT count(*) FROM clinic_visits WHERE length(replace(district, 'a', '"+a+"')) > 0",
		"SELECT count(*) FROM clinic_visits WHERE length(replace(district, '"+a[:16]+"', '"+a+"')) > 0",
		"SELECT count(*) FROM clinic_visits WHERE length(concat(district, '-', diagnosis_group, '-', age_band)) > 0",
		"SELECT count(*) FROM clinic_visits WHERE length(lpad(district, 500, 'x') || rpad(district, 500, 'y')) > 0",
		"SELECT count(*) FROM (SELECT district || district AS d FROM clinic_visits) WHERE length(d || d) > 3",
	)
}

// The differencing breaker sees through predicates moved out of WHERE:
// queries that differ only in a constant share a Shape wherever the
// constant sits (FILTER, CASE, a key), their constants differ, and a test
// of the unit against constants marks them isolating in every form (found
// by review: FILTER and CASE gave each query a shape of its own).
func TestShapeAndIsolationSeeThroughFilterAndCase(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	plan := func(q string) *sluice.Plan {
		t.Helper()
		an, err := p.Analyze(context.Background(), q, cat)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return an.Plan
	}
	for _, pair := range [][2]string{
		{"SELECT count(*) FILTER (WHERE person_id = 'SH1') FROM clinic_visits", "SELECT count(*) FILTER (WHERE person_id = 'SH2') FROM clinic_visits"},
		{"SELECT sum(CASE WHEN person_id = 'SH1' THEN cost END) FROM clinic_visits", "SELECT sum(CASE WHEN person_id = 'SH2' THEN cost END) FROM clinic_visits"},
		{"SELECT count(*) FROM clinic_visits WHERE person_id BETWEEN 'SH1' AND 'SH1'", "SELECT count(*) FROM clinic_visits WHERE person_id BETWEEN 'SH2' AND 'SH2'"},
		{"SELECT count(*) FROM clinic_visits WHERE person_id LIKE 'SH1'", "SELECT count(*) FROM clinic_visits WHERE person_id LIKE 'SH2'"},
		{"SELECT count(*) FROM clinic_visits WHERE 'SH1' IN (person_id)", "SELECT count(*) FROM clinic_visits WHERE 'SH2' IN (person_id)"},
	} {
		a, b := plan(pair[0]), plan(pair[1])
		if a.Shape != b.Shape {
			t.Errorf("different shapes:\n%s\n%s", pair[0], pair[1])
		}
		if FilterConstants(a) == FilterConstants(b) {
			t.Errorf("same constants %q:\n%s\n%s", FilterConstants(a), pair[0], pair[1])
		}
		if !a.Isolating {
			t.Errorf("not isolating: %s", pair[0])
		}
	}
	if plan("SELECT count(*) FILTER (WHERE cost > 100) FROM clinic_visits").Isolating {
		t.Error("a test of a measure marked isolating")
	}
}
