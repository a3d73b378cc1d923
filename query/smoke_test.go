package query

import (
	"context"
	"testing"

	"sluice"
)

func TestSmoke(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	for _, q := range []string{
		"SELECT district, count(*) AS n, sum(tax_paid), avg(tax_paid), stddev(tax_paid), median(tax_paid) FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code WHERE t.month >= DATE '2024-01-01' GROUP BY district ORDER BY n DESC LIMIT 5",
		"SELECT count(DISTINCT credit_code) FROM tax_monthly",
	} {
		an, err := p.Analyze(context.Background(), q, cat)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		b, err := an.Rewrite(sluice.Obligations{L0: 2, Linf: 3}, 42)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s\n%s\n%s", q, b.SQL, b.QuantileSQL)
		if err := p.Verify(context.Background(), an, b, cat); err != nil {
			t.Fatal(err)
		}
	}
}
