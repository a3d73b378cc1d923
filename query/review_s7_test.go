package query

import (
	"context"
	"strings"
	"testing"
)

// Plan.Isolating feeds the differencing breaker. Found by review: only a
// bare unit column against a bare constant was recognised, so tests that
// select exactly one firm written another way went unmarked.
func TestIsolatingEquivalentForms(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	for q, want := range map[string]bool{
		"SELECT count(*) FROM tax_monthly WHERE credit_code = 'F7'":                                true,
		"SELECT count(*) FROM tax_monthly WHERE credit_code IS NOT DISTINCT FROM 'F7'":             true,
		"SELECT count(*) FROM tax_monthly WHERE credit_code = 'F' || '7'":                          true,
		"SELECT count(*) FROM tax_monthly WHERE credit_code = CAST('F7' AS VARCHAR)":               true,
		"SELECT count(*) FROM tax_monthly WHERE lower(credit_code) = 'f7'":                         true,
		"SELECT count(*) FROM tax_monthly WHERE credit_code >= 'F7' AND credit_code <= 'F7'":       true,
		"SELECT count(*) FROM tax_monthly WHERE 'F7' <= credit_code AND credit_code < 'F8'":        true,
		"SELECT count(*) FROM tax_monthly WHERE credit_code > 'F7'":                                false,
		"SELECT count(*) FROM tax_monthly WHERE filing_status = 'late'":                            false,
		"SELECT count(*) FROM tax_monthly WHERE credit_code > 'F7' AND filing_status <= 'on_time'": false,
		// Found by a second review: any expression of the unit alone, a
		// regular expression, and no range made of an OR.
		"SELECT count(*) FROM tax_monthly WHERE credit_code || '' = 'F7'":                                   true,
		"SELECT count(*) FROM tax_monthly WHERE coalesce(credit_code, '') = 'F7'":                           true,
		"SELECT count(*) FROM tax_monthly WHERE regexp_matches(credit_code, '^F7$')":                        true,
		"SELECT count(*) FROM enterprise WHERE founded < DATE '2000-01-01' OR founded > DATE '2020-01-01'":  false,
		"SELECT count(*) FROM enterprise WHERE founded > DATE '2000-01-01' AND founded < DATE '2000-01-03'": true,
	} {
		an, err := p.Analyze(context.Background(), q, cat)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if an.Plan.Isolating != want {
			t.Errorf("Isolating = %v, want %v: %s", an.Plan.Isolating, want, q)
		}
	}
}

// Joins that cannot multiply a unit's rows pass the fan-out rule (see
// noFanOut; the refused forms are in refused.sql, rule sql.join_fanout):
// each dataset after the first is joined on its whole declared key, to
// columns of the others or to constants, in any order of writing.
func TestJoinWithoutFanOut(t *testing.T) {
	acceptsAll(t,
		"SELECT sum(t.tax_paid), sum(s.headcount) FROM tax_monthly t JOIN social_insurance s ON s.credit_code = t.credit_code AND s.month = t.month",
		"SELECT sum(b.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code AND a.month = b.month WHERE a.filing_status = 'late'",
		"SELECT sum(u.usage) FROM tax_monthly t JOIN utilities u ON u.credit_code = t.credit_code AND u.month = t.month AND u.utility = 'electricity'",
		"SELECT count(*) FROM court_records c JOIN enterprise e ON e.credit_code = c.credit_code JOIN enterprise f ON f.credit_code = e.credit_code",
		"SELECT e.industry, sum(s.headcount) FROM social_insurance s JOIN housing_fund h ON h.month = s.month AND h.credit_code = s.credit_code JOIN enterprise e ON e.credit_code = h.credit_code GROUP BY e.industry",
		"SELECT sum(t.tax_paid) FROM tax_monthly t JOIN social_insurance s ON s.credit_code = t.credit_code WHERE s.month = t.month",
		"SELECT sum(u.usage) FROM tax_monthly t JOIN utilities u ON u.credit_code = t.credit_code AND u.month = t.month",
		// Month on month (found by review: a constant of another kind
		// than the column, or an expression of the first dataset, pins
		// the key as well).
		"SELECT sum(b.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code WHERE a.month = DATE '2024-01-01' AND b.month = DATE '2024-02-01'",
		"SELECT sum(b.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code WHERE a.month = '2024-01-01' AND b.month = '2024-02-01'",
		"SELECT sum(b.tax_paid - a.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code AND b.month = a.month + INTERVAL 1 MONTH",
	)
}

// Counted in bytes, text padded with four-byte characters is four times
// its length in characters (found by review: padding the empty string
// to 1000 characters of '😀' gives 4000 bytes, and a replace() of it
// reached 256 000 under a 64 KiB bound).
func TestTextBoundCountsBytes(t *testing.T) {
	a := strings.Repeat("a", 64)
	accepted := "replace(lpad('', 100, '😀'), '😀', '" + a + "')" // 6 400 bytes at most: refused
	q := "SELECT count(*) FROM clinic_visits WHERE length(" + accepted + ") > 0"
	if _, err := testParser(t).Analyze(context.Background(), q, loadExamples(t)); err == nil {
		t.Errorf("accepted an expression of up to 6 400 bytes reading no column; the bound is %d\n%s", maxTextExtra, q)
	}
	q = "SELECT count(*) FROM clinic_visits WHERE length(lpad('', 1000, '😀')) > 0" // 4 000 bytes
	if _, err := testParser(t).Analyze(context.Background(), q, loadExamples(t)); err != nil {
		t.Errorf("refused %s: %v", q, err)
	}
}
