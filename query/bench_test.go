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

// BenchmarkAnalyzeRewriteVerifyNewConstants is the same for queries that
// differ only in a string constant: Verify remembers their shape.
func BenchmarkAnalyzeRewriteVerifyNewConstants(b *testing.B) {
	benchVerify(b, func(i int) string {
		return fmt.Sprintf("SELECT date_trunc('year', month) AS year, filing_status, count(*) AS n, sum(tax_paid) AS paid, avg(tax_arrears) AS arrears FROM tax_monthly WHERE filing_status <> 'x%d' GROUP BY ALL", i)
	})
}

// BenchmarkAnalyzeRewriteVerifyNewShape is the same for a query shape
// never seen before (a clamp bound the rewrite renders): Verify re-parses.
func BenchmarkAnalyzeRewriteVerifyNewShape(b *testing.B) {
	benchVerify(b, func(i int) string {
		return fmt.Sprintf("SELECT date_trunc('year', month) AS year, filing_status, count(*) AS n, sum(least(tax_paid, %d)) AS paid, avg(tax_arrears) AS arrears FROM tax_monthly GROUP BY ALL", 100000+i)
	})
}

func benchVerify(b *testing.B, sqlOf func(int) string) {
	p := testParser(b)
	cat := loadExamples(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		an, err := p.Analyze(ctx, sqlOf(i), cat)
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
