package query

import (
	"context"
	"strings"
	"testing"
)

// The tree scan of rendered SQL refuses what must never run, including
// keys smuggled inside string literals (which must not be mistaken for,
// or hide, real keys).
func TestScanTree(t *testing.T) {
	p := testParser(t)
	for _, tc := range []struct {
		sql string
		ok  bool
	}{
		{`SELECT count(*) FROM tax_monthly WHERE filing_status = 'x","function_name":"read_csv'`, true},
		{`SELECT count(*) FROM tax_monthly WHERE filing_status = '"table_name":"secret"'`, true},
		{`SELECT count(*) FROM tax_monthly WHERE filing_status = 'x\' AND credit_code = '","function_name":"read_csv'`, true},
		{`SELECT count(*) FROM tax_monthly WHERE filing_status = 'x\' AND md5(credit_code) = '\'`, false},
		{`SELECT count(*) FROM tax_monthly WHERE filing_status = '\":\"' AND md5(credit_code) = 'y'`, false},
		{"SELECT count(*) FROM read_csv('x')", false},
		{"SELECT count(*) FROM enterprise", false},
		{"SELECT count(*) FROM main.tax_monthly", false},
		{"SELECT count(*) FROM tax_monthly WHERE month > (SELECT 1)", false},
		{"SELECT count(*) FROM tax_monthly WHERE md5(credit_code) = 'x'", false},
		{"SELECT 1 FROM tax_monthly UNION SELECT 2 FROM tax_monthly", false},
		{"SELECT 1 FROM tax_monthly UNION ALL SELECT 2 FROM tax_monthly", true},
	} {
		checkScanTree(t, p, tc.sql, tc.ok, false)
	}
	if _, err := p.serialize(context.Background(), "SELECT 1; SELECT 2"); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("two statements: %v", err)
	}
}

// Datasets may be read only inside the row stage (__rows): what follows it
// reads the renderer's own stages.
func TestScanTreeDatasetsOnlyInRowStage(t *testing.T) {
	p := testParser(t)
	for _, tc := range []struct {
		sql string
		ok  bool
	}{
		{"WITH __rows AS (SELECT credit_code AS __u FROM tax_monthly) SELECT count(*) FROM __rows", true},
		{"WITH __rows AS (SELECT credit_code AS __u FROM tax_monthly), __units AS (SELECT __u FROM __rows) SELECT count(*) FROM __units", true},
		{"WITH __rows AS (SELECT credit_code AS __u FROM tax_monthly) SELECT count(*) FROM __rows JOIN tax_monthly ON (true)", false},
		{"WITH __rows AS (SELECT 1 AS __u), __units AS (SELECT * FROM tax_monthly) SELECT count(*) FROM __units", false},
	} {
		checkScanTree(t, p, tc.sql, tc.ok, true)
	}
}

// checkScanTree serializes sql and runs scanTree over it with tax_monthly
// allowed, in the whole statement or (rowStage) only inside __rows.
func checkScanTree(t *testing.T, p *Parser, sql string, ok, rowStage bool) {
	t.Helper()
	raw, err := p.serialize(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	start, end := 0, len(raw)
	if rowStage {
		if start, end, err = cteSpan(raw, "__rows"); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := scanTree(raw, map[string]bool{"tax_monthly": true}, start, end); (err == nil) != ok {
		t.Errorf("%s: %v, want ok=%v", sql, err, ok)
	}
}

func TestTopLevelItems(t *testing.T) {
	for in, want := range map[string]int{`[]`: 0, `[{}]`: 1, `[{"a":[1,2]},{"b":"x,]"}]`: 2, `[1,2,3]`: 3, `["\"]"]`: 1, `[{`: -1, `{}`: -1} {
		if got := topLevelItems([]byte(in)); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
}
