package query

import (
	"context"
	"fmt"
	"testing"

	"sluice"
)

const benchSQL = `SELECT date_trunc('year', month) AS year, filing_status, count(*) AS n, sum(tax_paid) AS paid, avg(tax_arrears) AS arrears
FROM tax_monthly GROUP BY ALL`

func BenchmarkParse(b *testing.B) {
	p := testParser(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.parse(ctx, benchSQL); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	p := testParser(b)
	cat := loadExamples(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Analyze(ctx, benchSQL, cat); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyzeRewriteVerify is the fixed cost of a query before it
// reaches the sandbox: parse, analyse, rewrite, re-parse and check.
func BenchmarkAnalyzeRewriteVerify(b *testing.B) {
	p := testParser(b)
	cat := loadExamples(b)
	ctx := context.Background()
	for b.Loop() {
		an, err := p.Analyze(ctx, benchSQL, cat)
		if err != nil {
			b.Fatal(err)
		}
		bd, err := an.Rewrite(sluice.Obligations{L0: 4, Linf: 12}, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(ctx, an, bd, cat); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyzeRewriteVerifyCold is the same for a query shape never
// seen before: Verify cannot use what it remembers.
func BenchmarkAnalyzeRewriteVerifyCold(b *testing.B) {
	p := testParser(b)
	cat := loadExamples(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		q := fmt.Sprintf("SELECT date_trunc('year', month) AS year, filing_status, count(*) AS n, sum(tax_paid) AS paid, avg(tax_arrears) AS arrears FROM tax_monthly WHERE filing_status <> 'x%d' GROUP BY ALL", i)
		an, err := p.Analyze(ctx, q, cat)
		if err != nil {
			b.Fatal(err)
		}
		bd, err := an.Rewrite(sluice.Obligations{L0: 4, Linf: 12}, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(ctx, an, bd, cat); err != nil {
			b.Fatal(err)
		}
	}
}
