package query

import (
	"context"
	"strings"
	"testing"

	"sluice"
)

// runOutcome analyses, rewrites and verifies q (all must succeed: the
// analyser accepts it), then runs the bounded SQL on plainDB and reports
// whether the engine failed.
func zzRun(t *testing.T, q string) (accepted bool, runErr error) {
	t.Helper()
	p := testParser(t)
	cat := loadExamples(t)
	an, err := p.Analyze(context.Background(), q, cat)
	if err != nil {
		t.Logf("refused by analyser: %v", err)
		return false, nil
	}
	b, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 3}, 7)
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if err := p.Verify(context.Background(), an, b, cat); err != nil {
		t.Fatalf("verify: %v", err)
	}
	conn := plainDB(t)
	rows, err := conn.QueryContext(context.Background(), b.SQL)
	if err != nil {
		return true, err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return true, rows.Err()
}

// Zz: an accepted query whose failure in the sandbox depends on one firm's
// row. Firm F7 has tax_paid > 9,000,000; firm F8 does not. The same query
// shape fails for F7 and succeeds for F8: the occurrence of the
// "query failed in the sandbox" error is a 1-bit exact (non-DP) release.
func TestRuntimeErrorsDoNotDependOnData(t *testing.T) {
	probes := map[string]string{
		"ln":        "SELECT count(*) FROM tax_monthly WHERE ln(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN -1 ELSE 1 END) >= 0",
		"sqrt":      "SELECT count(*) FROM tax_monthly WHERE sqrt(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN -1 ELSE 1 END) >= 0",
		"implicit":  "SELECT count(*) FROM tax_monthly WHERE month >= CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 'x' ELSE '2000-01-01' END",
		"datetrunc": "SELECT count(*) FROM tax_monthly WHERE date_trunc(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 'bogus' ELSE 'month' END, month) IS NOT NULL",
		"regexp":    "SELECT count(*) FROM tax_monthly WHERE regexp_matches(filing_status, CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN '(' ELSE 'a' END)",
		"makedate":  "SELECT count(*) FROM tax_monthly WHERE make_date(2024, CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 13 ELSE 1 END, 1) IS NOT NULL",
		"overflow":  "SELECT count(*) FROM tax_monthly WHERE (CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 9223372036854775807 ELSE 1 END) + 1 > 0",
		"pow":       "SELECT count(*) FROM tax_monthly WHERE pow(10, CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 400 ELSE 1 END) > 0",
		"exp":       "SELECT count(*) FROM tax_monthly WHERE exp(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 1000 ELSE 1 END) > 0",
		"todays":    "SELECT count(*) FROM tax_monthly WHERE month + to_days(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN 2147483647 ELSE 1 END) IS NOT NULL",
		"inkey":     "SELECT round(ln(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN -1 ELSE 1 END)) AS k, count(*) FROM tax_monthly GROUP BY 1",
		"inagg":     "SELECT sum(CASE WHEN ln(CASE WHEN credit_code = '%s' AND tax_paid > 9000000 THEN -1 ELSE 1 END) >= 0 THEN tax_paid END) FROM tax_monthly",
	}
	leaks := 0
	for name, tmpl := range probes {
		t.Run(name, func(t *testing.T) {
			acc7, err7 := zzRun(t, strings.Replace(tmpl, "%s", "F7", 1))
			acc8, err8 := zzRun(t, strings.Replace(tmpl, "%s", "F8", 1))
			t.Logf("accepted=%v/%v  F7 err=%v  |  F8 err=%v", acc7, acc8, err7, err8)
			if acc7 && acc8 && (err7 != nil) != (err8 != nil) {
				leaks++
				t.Errorf("LEAK: whether the sandbox query fails depends on firm F7's tax_paid")
			}
		})
	}
}
