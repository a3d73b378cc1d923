package query

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"sluice"
)

// Checks are remembered by shape (Bounded.Shapes), which is sound only if
// constants of one class render to texts DuckDB parses alike: the same
// tree and types, the values apart, each value coming back as rendered.
// This holds DuckDB's parser to that for boundary and random constants of
// every class.
func TestConstantClasses(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	lits := []string{
		"0", "7", "-7", "2147483646", "2147483647", "2147483648", "-2147483647", "-2147483648", "-2147483649",
		"9223372036854775806", "9223372036854775807", "9223372036854775808", "-9223372036854775807", "-9223372036854775808", "-9223372036854775809",
		"170141183460469231731687303715884105727", "170141183460469231731687303715884105728", "-170141183460469231731687303715884105728",
		"0.5", "0.05", "-0.5", "1.5", "12.50", "10.05", "99.99", "-99.99", "123456789012345.678", "1234567890123456.78", "12345678901234567.8", "0.000000000000000001",
		"1e10", "1.5e-3", "-2.5e300", "1e308",
		"''", "'a'", "'it''s'", `'\'`, "'漢字'", "'a\nb'", "'; SELECT 1 --'", "'\"'", "'$1'",
		"true", "false", "NULL",
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for range 300 {
		digits := func(n int) string {
			var b strings.Builder
			b.WriteByte(byte('1' + rng.IntN(9)))
			for range n - 1 {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			return b.String()
		}
		sign := []string{"", "-"}[rng.IntN(2)]
		lits = append(lits,
			sign+digits(1+rng.IntN(40)),
			sign+[]string{"0", digits(1 + rng.IntN(10))}[rng.IntN(2)]+"."+digits(1+rng.IntN(8)),
			fmt.Sprintf("%se%d", digits(1+rng.IntN(5)), rng.IntN(40)-20),
			"'"+strings.ReplaceAll(string(rune(0x20+rng.IntN(0x3000))), "'", "''")+"'",
		)
	}
	// constantOf parses SELECT <text> and decodes its single constant, the
	// way the analyser decodes an analyst's; shape is the parse tree with
	// values and positions dropped.
	selectItem := func(text string) (node, error) {
		n, err := p.parse(ctx, "SELECT "+text)
		if err != nil {
			return nil, err
		}
		items := n.list("select_list")
		if len(items) != 1 {
			return nil, fmt.Errorf("%d items", len(items))
		}
		return items[0], nil
	}
	var strip func(v any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if k == "query_location" {
					continue
				}
				if k == "value" {
					if m, ok := e.(map[string]any); ok && m["is_null"] != nil {
						m2 := map[string]any{"type": m["type"], "is_null": m["is_null"]}
						out[k] = m2
						continue
					}
				}
				out[k] = strip(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = strip(e)
			}
			return out
		}
		return v
	}
	shapeOf := func(n node) string {
		b, err := json.Marshal(strip(map[string]any(n)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	classes := map[string]string{} // class → shape of its first rendering
	first := map[string]string{}
	for _, lit := range lits {
		item, err := selectItem(lit)
		if err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		var c *constant
		switch {
		case lit == "true" || lit == "false":
			c = &constant{typ: "BOOLEAN", isBool: true, b: lit == "true"}
		case item.str("class") == "CONSTANT":
			if c, err = decodeConstant(item); err != nil {
				if strings.Contains(err.Error(), "not supported") {
					continue // a type the analyser refuses (UHUGEINT, wide DECIMAL as DOUBLE…)
				}
				t.Fatalf("%s: %v", lit, err)
			}
		default:
			t.Fatalf("%s parses to %s", lit, item.str("class"))
		}
		text, class := c.sql(), c.class()
		again, err := selectItem(text)
		if err != nil {
			t.Fatalf("%s renders %s, which does not parse: %v", lit, text, err)
		}
		// The value comes back as rendered (what Verify's fix-point needs).
		var back *constant
		switch {
		case again.str("class") == "CONSTANT":
			back, err = decodeConstant(again)
		case again.str("class") == "CAST" && again.child("child").str("class") == "CONSTANT":
			// TRY_CAST('…' AS DOUBLE), and true/false as CAST('t' AS BOOLEAN)
			back, err = decodeConstant(again.child("child"))
			if err == nil && c.isBool {
				back = &constant{typ: "BOOLEAN", isBool: true, b: back.str == "t"}
			} else if err == nil {
				r, ok := new(big.Rat).SetString(back.str)
				if !ok {
					if back.str != "NaN" && !strings.HasSuffix(back.str, "Inf") {
						t.Fatalf("%s renders %s: %q is not a number", lit, text, back.str)
					}
					continue
				}
				f, _ := r.Float64()
				back = &constant{typ: "DOUBLE", num: new(big.Rat).SetFloat64(f)}
			}
		default:
			t.Fatalf("%s renders %s, which parses to %s", lit, text, again.str("class"))
		}
		if err != nil {
			t.Fatalf("%s renders %s: %v", lit, text, err)
		}
		if back.sql() != text {
			t.Errorf("%s renders %s, which re-renders %s", lit, text, back.sql())
		}
		shape := shapeOf(again)
		if strings.HasPrefix(class, "=") {
			continue // its own class: nothing to share
		}
		if want, ok := classes[class]; !ok {
			classes[class], first[class] = shape, lit
		} else if shape != want {
			t.Errorf("class %s: %s and %s render to trees that differ beyond their values:\n%s\n%s", class, first[class], lit, want, shape)
		}
	}
	// The classes share: integers and decimals by sign and size, strings.
	for _, want := range []string{"INTEGER+", "INTEGER-", "BIGINT+", "HUGEINT-", "DECIMAL+1.1", "DECIMAL-2.2", "VARCHAR", "DOUBLE", "true", "NULL"} {
		if _, ok := classes[want]; !ok {
			t.Errorf("no constant of class %s among %d classes", want, len(classes))
		}
	}
}

// Statements that differ only in analyst constants of one class share a
// shape, and so the checks Verify remembers; any other difference (a bound
// derived from a constant's value, the constant's class) makes another.
func TestShapesShareOnlyConstants(t *testing.T) {
	ctx := context.Background()
	p := testParser(t)
	cat := loadExamples(t)
	shapeOf := func(sql string) (string, *Bounded) {
		t.Helper()
		an, b := rewriteFor(t, p, cat, sql)
		if err := p.Verify(ctx, an, b, cat); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		shape, _ := b.Shapes()
		if shape == b.SQL {
			t.Fatalf("%s: nothing masked in %s", sql, b.SQL)
		}
		return shape, b
	}
	const q = "SELECT filing_status, count(*), sum(least(tax_paid, %s)) FROM tax_monthly WHERE month >= %s AND filing_status <> %s GROUP BY ALL"
	base, b := shapeOf(fmt.Sprintf(q, "1000", "'2022-01-01'", "'late'"))
	if !strings.Contains(b.SQL, "'late'") || strings.Contains(base, "'late'") {
		t.Fatalf("the constant should be in the SQL and not in the shape:\n%s\n%s", b.SQL, base)
	}
	for _, tc := range []struct {
		bound, month, status string
		same                 bool
	}{
		{"1000", "'2023-06-01'", "'ok'", true},
		{"1000", "'2022-01-01'", "'it''s'", true},
		{"2000", "'2022-01-01'", "'late'", false}, // the clamp of the sum is 2000
		{"1000", "'2022-01-01'", "NULL", false},
		{"1000", "'2022-01-01'", "'late' OR true", false},
	} {
		shape, b := shapeOf(fmt.Sprintf(q, tc.bound, tc.month, tc.status))
		if (shape == base) != tc.same {
			t.Errorf("%v: same shape %v, want %v:\n%s\n%s", tc, shape == base, tc.same, base, shape)
		}
		if !strings.Contains(b.SQL, strings.ReplaceAll(tc.month, "'", "'")) {
			t.Errorf("%v: the SQL lacks its own constant: %s", tc, b.SQL)
		}
	}
	// A statement altered after Rewrite is its own shape.
	_, good := rewriteFor(t, p, cat, fmt.Sprintf(q, "1000", "'2022-01-01'", "'late'"))
	bad := *good
	bad.SQL = strings.Replace(good.SQL, "'late'", "'early'", 1)
	if shape, _ := bad.Shapes(); shape != bad.SQL {
		t.Errorf("an altered statement was masked: %s", shape)
	}
}

// rewriteFor analyses sql and rewrites it under L0 2, L∞ 3 and seed 1.
func rewriteFor(t *testing.T, p *Parser, cat Catalog, sql string) (*Analysis, *Bounded) {
	t.Helper()
	an, err := p.Analyze(context.Background(), sql, cat)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	b, err := an.Rewrite(sluice.Obligations{L0: 2, Linf: 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return an, b
}

// The plan shape of a row stage masks the analyst's constants as Shapes
// does and the renderer's numbers too, so a new clamp bound shares it; a
// different column, function, constant class or text does not.
func TestPlanShapesMaskNumbers(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	planShapes := func(sql string) ([]string, *Bounded) {
		t.Helper()
		_, b := rewriteFor(t, p, cat, sql)
		return b.PlanShapes(), b
	}
	const q = "SELECT filing_status, count(*), sum(least(%s, %s)), median(tax_paid) FROM tax_monthly WHERE filing_status <> %s GROUP BY ALL"
	base, b := planShapes(fmt.Sprintf(q, "tax_paid", "1000", "'late'"))
	if len(base) != 2 {
		t.Fatalf("%d plan shapes, want 2 (main and quantile row stages)", len(base))
	}
	stages := b.RowStages()
	for i, s := range base {
		if strings.Contains(s, "1000") || strings.Contains(s, "'late'") || !strings.Contains(s, `"tax_paid"`) {
			t.Errorf("plan shape %d keeps a number or constant, or lost a column: %s\nof %s", i, s, stages[i])
		}
	}
	for _, tc := range []struct {
		col, bound, status string
		same               bool
	}{
		{"tax_paid", "2000", "'ok'", true},      // a new clamp: new numbers only
		{"tax_paid", "1000.5", "'late'", false}, // a number of another form
		{"tax_arrears", "1000", "'late'", false},
		{"tax_paid", "1000", "NULL", false},
	} {
		got, _ := planShapes(fmt.Sprintf(q, tc.col, tc.bound, tc.status))
		if (got[0] == base[0]) != tc.same {
			t.Errorf("%+v: same plan shape %v, want %v:\n%s\n%s", tc, got[0] == base[0], tc.same, base[0], got[0])
		}
	}
	// A statement altered after Rewrite is its own plan shape.
	bad := *b
	bad.SQL = strings.Replace(b.SQL, "'late'", "'early'", 1)
	if got := bad.PlanShapes()[0]; got != rowsOf(bad.SQL, bad.rowStage) {
		t.Errorf("an altered statement was masked: %s", got)
	}
}

// maskNumbers masks number tokens, keeps digits of names and quoted text,
// and refuses text where a digit could be something else.
func TestMaskNumbers(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`least(t1."x", 12) > 1.5e+06`, `least(t1."x", #) > #.#e+#`, true},
		{`__x12 AS "col 7" FROM "a""9"`, `__x12 AS "col 7" FROM "a""9"`, true},
		{`CAST(3 AS DECIMAL(18,2))`, `CAST(# AS DECIMAL(#,#))`, true},
		{`x = 'it''s 5'`, `x = 'it''s 5'`, true},
		{`7 AS x`, "", false},      // follows a constant
		{`#1`, "", false},          // positional reference
		{`$1`, "", false},          // parameter
		{`$$ 5 $$`, "", false},     // dollar-quoted string
		{`E'\' 5'`, "", false},     // escape in a string
		{`x -- 5`, "", false},      // comment
		{`x /* 5 */`, "", false},   // comment
		{`"unclosed 5`, "", false}, // quote left open
		{`'unclosed 5`, "", false}, // quote left open
		{`x = ?`, "", false},       // parameter
	} {
		got, ok := maskNumbers(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("maskNumbers(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A constant written right after a name byte would glue its digits to the
// name: such a template's numbers are not masked.
func TestConstantAfterName(t *testing.T) {
	c := &constant{typ: "INTEGER", num: big.NewRat(5, 1)}
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"least(t1.\"x\", \x000\x00) > 12", false},
		{"x\x000\x00", true},
		{"(\x000\x00) AND y_\x001\x00", true},
		{"\x000\x00, \x001\x00", false},
	} {
		tm := template{text: tc.text, consts: []*constant{c, c}}
		if got := tm.constantAfterName(); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.text, got, tc.want)
		}
	}
}
