package query

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sluice"
)

// Verify refuses bounded SQL that is not exactly what the plan renders:
// each tampered variant of a valid statement must fail.
func TestVerifyRefusesTamperedSQL(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	cat := loadExamples(t)
	an, err := p.Analyze(ctx, "SELECT filing_status, count(*), sum(tax_paid) FROM tax_monthly WHERE tax_paid > 100 GROUP BY filing_status", cat)
	if err != nil {
		t.Fatal(err)
	}
	good, err := an.Rewrite(sluice.Obligations{L0: 1, Linf: 3}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ctx, an, good, cat); err != nil {
		t.Fatalf("the untouched statement: %v", err)
	}
	rowsEnd := strings.Index(good.SQL, "), __units AS (")
	if rowsEnd < 0 {
		t.Fatalf("no __units stage in %s", good.SQL)
	}
	for name, tamper := range map[string]func(string) string{
		"another table": func(s string) string {
			return strings.Replace(s, `FROM "tax_monthly" AS t1`, `FROM "enterprise" AS t1`, 1)
		},
		// The same shape with another value: only the statement's own
		// re-parse can tell (checks are remembered by shape).
		"a constant changed": func(s string) string {
			return strings.Replace(s, "try((t1.\"tax_paid\" > 100))", "try((t1.\"tax_paid\" > 900))", 1)
		},
		"a filter dropped": func(s string) string {
			return strings.Replace(s, "try((t1.\"tax_paid\" > 100))", "true", 1)
		},
		"a function outside the allowlist": func(s string) string {
			return strings.Replace(s, "count(*) AS __units", "count(*) + length(current_setting('threads')) AS __units", 1)
		},
		"a second statement": func(s string) string { return s + "; SELECT 1" },
		"a second __rows": func(s string) string {
			return s[:rowsEnd] + "), __rows AS (SELECT 1 AS __u" + s[rowsEnd:]
		},
		"a table function": func(s string) string {
			return strings.Replace(s, "FROM __units", "FROM read_csv('/etc/passwd') AS __units", 1)
		},
		"a subquery": func(s string) string {
			return strings.Replace(s, "count(*) AS __units", "(SELECT count(*) FROM \"enterprise\") AS __units", 1)
		},
	} {
		bad := *good
		bad.SQL = tamper(good.SQL)
		if bad.SQL == good.SQL {
			t.Errorf("%s: the tamper did not apply to %s", name, good.SQL)
			continue
		}
		if err := p.Verify(ctx, an, &bad, cat); err == nil {
			t.Errorf("%s: accepted %s", name, bad.SQL)
		}
	}
}

// The checked SQL carries a placeholder for the secret seed; Executable
// puts the seed in the renderer's own stages only. An analyst string that
// spells the placeholder is left as it is.
func TestExecutableSeedsOnlyTheRenderersStages(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	cat := loadExamples(t)
	q := "SELECT filing_status, count(*), median(tax_paid) FROM tax_monthly WHERE credit_code <> '" + seedPlaceholder + "' GROUP BY filing_status"
	an, err := p.Analyze(ctx, q, cat)
	if err != nil {
		t.Fatal(err)
	}
	ob := sluice.Obligations{L0: 1, Linf: 3}
	b1, err := an.Rewrite(ob, 12345)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := an.Rewrite(ob, 67890)
	if err != nil {
		t.Fatal(err)
	}
	if b1.SQL != b2.SQL || b1.QuantileSQL != b2.QuantileSQL {
		t.Fatal("the checked SQL depends on the seed")
	}
	if err := p.Verify(ctx, an, b1, cat); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Bounded{b1, b2} {
		sql, qsql := b.Executable()
		seed := fmt.Sprintf("%d::UBIGINT", b.seed)
		for _, c := range []struct{ checked, run string }{{b.SQL, sql}, {b.QuantileSQL, qsql}} {
			if c.checked == "" {
				t.Fatal("no quantile SQL")
			}
			if n := strings.Count(c.run, seed); n != 1 {
				t.Errorf("seed %s appears %d times in %s, want 1 (__h)", seed, n, c.run)
			}
			// The analyst's constant is still there, once.
			if n := strings.Count(c.run, "'"+seedPlaceholder+"'"); n != 1 {
				t.Errorf("the analyst's constant appears %d times in %s", n, c.run)
			}
			if strings.ReplaceAll(c.run, seed, seedPlaceholder) != c.checked {
				t.Errorf("executable differs from the checked SQL beyond the seed:\n%s\n%s", c.checked, c.run)
			}
		}
	}
}
