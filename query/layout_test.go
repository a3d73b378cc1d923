package query

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sluice"
)

// verifiesFromRowStage rewrites an under ob, whose layout (see layoutKey)
// passed Verify before with other numbers, and checks that Verify passes
// it while parsing no more than its row stages.
func verifiesFromRowStage(p *Parser, an *Analysis, ob sluice.Obligations, cat Catalog) error {
	b, err := an.Rewrite(ob, 5)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	limit := int64(0)
	for _, q := range []bool{false, true} {
		if q && b.QuantileSQL == "" {
			continue
		}
		limit += int64(len(rowStagePrefix((&renderer{an: an}).rows(q)) + rowStageQuery))
	}
	before := p.parsed.Load()
	if err := p.Verify(context.Background(), an, b, cat); err != nil {
		return fmt.Errorf("verify with other bounds: %w", err)
	}
	// Other tests share the parser: a concurrent parse could add to the
	// count, never take from it, so the test can only fail wrongly if it
	// runs beside parallel tests (it does not).
	if got := p.parsed.Load() - before; got > limit {
		return fmt.Errorf("verify with other bounds parsed %d bytes, more than the row stages' %d", got, limit)
	}
	return nil
}

// A statement whose renderer stages differ from a verified one only in
// numbers re-parses its row stage alone; one with other stages is parsed
// whole.
func TestVerifyKnownLayout(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	cat := loadExamples(t)
	q := func(bound int, extra string) *Analysis {
		an, err := p.Analyze(ctx, fmt.Sprintf("SELECT district, count(*) AS n, sum(least(tax_paid, %d)) AS paid%s FROM tax_monthly JOIN enterprise USING (credit_code) GROUP BY district", bound, extra), cat)
		if err != nil {
			t.Fatal(err)
		}
		return an
	}
	ob := sluice.Obligations{L0: 2, Linf: 3}
	first := q(7001, "")
	b, err := first.Rewrite(ob, 1)
	if err != nil {
		t.Fatal(err)
	}
	before := p.parsed.Load()
	if err := p.Verify(ctx, first, b, cat); err != nil {
		t.Fatal(err)
	}
	if got := p.parsed.Load() - before; got < int64(len(b.SQL)) {
		t.Fatalf("the first statement of its layout parsed %d bytes, less than its %d", got, len(b.SQL))
	}
	// Another bound: new numbers in the row stage and after it.
	if err := verifiesFromRowStage(p, q(9002, ""), ob, cat); err != nil {
		t.Error(err)
	}
	// Forgotten, the layout is parsed in full again.
	p.Forget()
	before = p.parsed.Load()
	if err := p.Verify(ctx, first, b, cat); err != nil {
		t.Fatal(err)
	}
	if got := p.parsed.Load() - before; got < int64(len(b.SQL)) {
		t.Errorf("after Forget the statement parsed %d bytes, less than its %d", got, len(b.SQL))
	}
	// Another aggregate: another layout, parsed whole.
	third := q(7001, ", avg(tax_arrears) AS arrears")
	b, err = third.Rewrite(ob, 1)
	if err != nil {
		t.Fatal(err)
	}
	before = p.parsed.Load()
	if err := p.Verify(ctx, third, b, cat); err != nil {
		t.Fatal(err)
	}
	if got := p.parsed.Load() - before; got < int64(len(b.SQL)) {
		t.Errorf("a new layout parsed %d bytes, less than its %d", got, len(b.SQL))
	}
}

// The key of a layout masks numbers, not digits that are part of a name,
// and there is none for text holding a quote.
func TestLayoutKey(t *testing.T) {
	ds := map[string]bool{"tax_monthly": true}
	key := func(rest string) string {
		k, ok := layoutKey(ds, rest)
		if !ok {
			return "none"
		}
		return fmt.Sprintf("%x", k)
	}
	base := ", __units AS (SELECT least(__n1, 12), 1.5 AS x FROM __rows)"
	for _, c := range []struct {
		rest string
		same bool
	}{
		{", __units AS (SELECT least(__n1, 999), 10.25 AS x FROM __rows)", true},
		{", __units AS (SELECT least(__n2, 12), 1.5 AS x FROM __rows)", false},
		{", __units AS (SELECT least(__n1, 12), 15 AS x FROM __rows)", false},
		{", __units AS (SELECT least(__n1, -12), 1.5 AS x FROM __rows)", false},
		{", __units AS (SELECT log10(__n1), 1.5 AS x FROM __rows)", false},
	} {
		if got := key(c.rest) == key(base); got != c.same {
			t.Errorf("%q and %q: same key %v, want %v", base, c.rest, got, c.same)
		}
	}
	if k1, k2 := key(base), key(base+`, "x1"`); k2 != "none" || k1 == "none" {
		t.Errorf("keys %s, %s: want one for %q and none with a quote", k1, k2, base)
	}
	other, _ := layoutKey(map[string]bool{"enterprise": true}, base)
	if fmt.Sprintf("%x", other) == key(base) {
		t.Error("the key does not depend on the datasets")
	}
}

// A row stage parsed alone must end where it is written to end: text that
// closes it early, or leaves it open, is refused.
func TestRowStageEndsWhereWritten(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	good := `SELECT t1."__unit_id" AS __u FROM "tax_monthly" AS t1`
	if _, _, _, err := p.rowStage(ctx, good); err != nil {
		t.Fatalf("a row stage: %v", err)
	}
	for _, bad := range []string{
		good + `), __more AS (SELECT 1 AS x`,
		good + `) SELECT 1 AS x FROM (SELECT 1`,
		good + ` --`,
		good + ` /*`,
		good + ` WHERE (1 = 1`,
	} {
		if _, _, _, err := p.rowStage(ctx, bad); err == nil {
			t.Errorf("accepted row stage %q", bad)
		} else if !strings.Contains(err.Error(), "row stage") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
