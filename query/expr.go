package query

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"sluice"
)

// exprKind is the shape of a row-level expression.
type exprKind int

const (
	eCol exprKind = iota
	eConst
	eFunc
	eCmp
	eAnd
	eOr
	eNot
	eIn
	eNotIn
	eIsNull
	eIsNotNull
	eBetween
	eCase
	eCast
	eTry // try(x): NULL instead of a runtime error
)

// guard wraps an analyst expression in try(): a runtime error that depends
// on some row's values (ln of a negative number, an invalid date part
// chosen by the data) becomes NULL instead of failing the query, so whether
// a query fails cannot tell the analyst anything about a row.
func guard(e *expr) *expr {
	if e.kind == eCol || e.kind == eConst || e.kind == eTry {
		return e
	}
	return &expr{kind: eTry, args: []*expr{e}, pos: e.pos}
}

// untried returns e without the try() wrappers around it.
func (e *expr) untried() *expr {
	for e.kind == eTry {
		e = e.args[0]
	}
	return e
}

// text reports whether the column holds text (VARCHAR).
func (c *colRef) text() bool {
	return strings.HasPrefix(strings.ToUpper(c.col.Type), "VARCHAR")
}

// expr is a resolved row-level expression: every column reference points at
// a column of a base dataset.
type expr struct {
	kind exprKind
	pos  int
	col  *colRef
	c    *constant
	name string // function name, comparison operator or cast type
	op   bool   // an infix/prefix operator function
	args []*expr
	try  bool // TRY_CAST
}

// colRef is a column of a dataset read under an alias of the flattened FROM.
type colRef struct {
	rel *baseRel
	col *sluice.Column
}

// baseRel is one dataset in the flattened FROM clause.
type baseRel struct {
	ds    *sluice.Dataset
	alias string // t1, t2, … in the rendered SQL
	pos   int
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var infix = map[string]bool{
	"+": true, "-": true, "*": true, "/": true, "//": true, "%": true, "||": true,
	"~~": true, "!~~": true, "~~*": true, "!~~*": true,
}

var infixSQL = map[string]string{"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE"}

var cmpSQL = map[string]string{
	"COMPARE_EQUAL": "=", "COMPARE_NOTEQUAL": "<>", "COMPARE_LESSTHAN": "<", "COMPARE_GREATERTHAN": ">",
	"COMPARE_LESSTHANOREQUALTO": "<=", "COMPARE_GREATERTHANOREQUALTO": ">=",
	"COMPARE_DISTINCT_FROM": "IS DISTINCT FROM", "COMPARE_NOT_DISTINCT_FROM": "IS NOT DISTINCT FROM",
}

// sql renders e as DuckDB SQL. Every sub-expression is parenthesised, so
// the rendering never depends on operator precedence.
func (e *expr) sql() string {
	var b sqlWriter
	e.render(&b)
	return b.String()
}

// sqlWriter collects a rendering. With consts set, each constant is
// written as a placeholder "\x00<n>\x00" for (*consts)[n] instead: a
// template, whose expansions (see expand) are the SQL and its shape.
type sqlWriter struct {
	strings.Builder
	consts *[]*constant
}

func (e *expr) render(b *sqlWriter) {
	switch e.kind {
	case eCol:
		b.WriteString(e.col.rel.alias)
		b.WriteByte('.')
		b.WriteString(quoteIdent(e.col.col.Name))
	case eConst:
		if b.consts != nil {
			*b.consts = append(*b.consts, e.c)
			fmt.Fprintf(b, "\x00%d\x00", len(*b.consts)-1)
			return
		}
		b.WriteString(e.c.sql())
	case eFunc:
		if e.op && len(e.args) == 2 && infix[e.name] {
			b.WriteByte('(')
			e.args[0].render(b)
			b.WriteByte(' ')
			if s, ok := infixSQL[e.name]; ok {
				b.WriteString(s)
			} else {
				b.WriteString(e.name)
			}
			b.WriteByte(' ')
			e.args[1].render(b)
			b.WriteByte(')')
			return
		}
		if e.op && len(e.args) == 1 && (e.name == "-" || e.name == "+") {
			b.WriteString("(")
			b.WriteString(e.name)
			b.WriteByte('(')
			e.args[0].render(b)
			b.WriteString("))")
			return
		}
		b.WriteString(e.name)
		b.WriteByte('(')
		for i, a := range e.args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.render(b)
		}
		b.WriteByte(')')
	case eCmp:
		b.WriteByte('(')
		e.args[0].render(b)
		b.WriteByte(' ')
		b.WriteString(cmpSQL[e.name])
		b.WriteByte(' ')
		e.args[1].render(b)
		b.WriteByte(')')
	case eAnd, eOr:
		sep := " AND "
		if e.kind == eOr {
			sep = " OR "
		}
		b.WriteByte('(')
		for i, a := range e.args {
			if i > 0 {
				b.WriteString(sep)
			}
			a.render(b)
		}
		b.WriteByte(')')
	case eNot:
		b.WriteString("(NOT ")
		e.args[0].render(b)
		b.WriteByte(')')
	case eIn, eNotIn:
		b.WriteByte('(')
		e.args[0].render(b)
		if e.kind == eIn {
			b.WriteString(" IN (")
		} else {
			b.WriteString(" NOT IN (")
		}
		for i, a := range e.args[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			a.render(b)
		}
		b.WriteString("))")
	case eIsNull, eIsNotNull:
		b.WriteByte('(')
		e.args[0].render(b)
		if e.kind == eIsNull {
			b.WriteString(" IS NULL)")
		} else {
			b.WriteString(" IS NOT NULL)")
		}
	case eBetween:
		b.WriteByte('(')
		e.args[0].render(b)
		b.WriteString(" BETWEEN ")
		e.args[1].render(b)
		b.WriteString(" AND ")
		e.args[2].render(b)
		b.WriteByte(')')
	case eCase:
		b.WriteString("CASE")
		n := len(e.args)
		for i := 0; i+1 < n; i += 2 {
			b.WriteString(" WHEN ")
			e.args[i].render(b)
			b.WriteString(" THEN ")
			e.args[i+1].render(b)
		}
		if n%2 == 1 {
			b.WriteString(" ELSE ")
			e.args[n-1].render(b)
		}
		b.WriteString(" END")
	case eTry:
		b.WriteString("try(")
		e.args[0].render(b)
		b.WriteByte(')')
	case eCast:
		// Casts always render as TRY_CAST: a failing cast must not become
		// an error that depends on whether some row exists.
		b.WriteString("TRY_CAST(")
		e.args[0].render(b)
		b.WriteString(" AS ")
		b.WriteString(e.name)
		b.WriteByte(')')
	}
}

// sql renders a literal.
func (c *constant) sql() string {
	switch {
	case c.null:
		return "NULL"
	case c.isBool:
		if c.b {
			return "true"
		}
		return "false"
	case c.typ == "VARCHAR":
		return quoteString(c.str)
	case c.num != nil:
		return ratSQL(c.num, c.typ == "DOUBLE" || c.typ == "FLOAT")
	}
	return "NULL"
}

// class names what DuckDB's parser makes of c.sql() apart from c's value:
// two constants of one class render to texts that DuckDB parses to trees
// equal but for the constants' values (and text positions), of the same
// type, each value round-tripping (TestConstantClasses holds DuckDB to
// this). Within a class, a statement rendered with one constant therefore
// passes the re-parse exactly when it does with another, and binds to
// the same scans: constants name no table, column or function. DuckDB's
// binder does reject some values of a class (a strftime format, a regular
// expression); such a statement then fails before reading anything (see
// sandbox.RuleBind). Where the parse is not certain, the class is the
// rendering itself.
func (c *constant) class() string {
	text := c.sql()
	switch {
	case c.null, c.isBool:
		return text // NULL; true and false both parse to CAST('t'/'f' AS BOOLEAN)
	case c.typ == "VARCHAR":
		// One string token whatever it holds, with ' doubled. A NUL byte
		// or invalid UTF-8 might end or change the text DuckDB sees.
		if utf8.ValidString(c.str) && !strings.ContainsRune(c.str, 0) {
			return "VARCHAR"
		}
	case strings.HasPrefix(text, "TRY_CAST('"):
		return "DOUBLE" // TRY_CAST('<digits, sign, e, NaN or Inf>' AS DOUBLE)
	default:
		// An integer or decimal in digits, "(-…)" when negative: DuckDB
		// types digits by magnitude (INTEGER, BIGINT, HUGEINT) and a
		// decimal by its digits before and after the point.
		digits := strings.TrimSuffix(strings.TrimPrefix(text, "(-"), ")")
		sign := "+"
		if digits != text {
			sign = "-"
		}
		if strings.Trim(digits, "0123456789.") != "" || digits == "" {
			break
		}
		if i := strings.IndexByte(digits, '.'); i >= 0 {
			if len(digits)-1 <= 18 {
				return fmt.Sprintf("DECIMAL%s%d.%d", sign, i, len(digits)-i-1)
			}
			break
		}
		abs, ok := new(big.Int).SetString(digits, 10)
		if !ok {
			break
		}
		// DuckDB types by magnitude (−2^31 is a BIGINT, as 2^31 is) but
		// for −2^63, a BIGINT where 2^63 is a HUGEINT: the magnitudes
		// 2^31, 2^63 and 2^127 are each their own class.
		if n := abs.BitLen(); n > 1 && abs.TrailingZeroBits() == uint(n-1) && (n == 32 || n == 64 || n == 128) {
			break
		}
		for _, b := range []struct {
			name string
			bits uint
		}{{"INTEGER", 31}, {"BIGINT", 63}, {"HUGEINT", 127}} {
			if abs.BitLen() <= int(b.bits) {
				return b.name + sign
			}
		}
	}
	return "=" + text
}

// ratSQL renders an exact number; doubles keep their type.
//
// Doubles render as TRY_CAST('…' AS DOUBLE), which re-parses to the same
// text (a fix-point); every other number renders exactly.
func ratSQL(r *big.Rat, double bool) string {
	if double {
		f, _ := r.Float64()
		return doubleSQL(f)
	}
	if r.IsInt() {
		s := r.Num().String()
		if r.Sign() < 0 {
			return "(" + s + ")"
		}
		return s
	}
	// Exact decimal: the denominator of a parsed DECIMAL is a power of ten.
	for digits := 1; digits <= 38; digits++ {
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)))
		if scaled.IsInt() {
			s := r.FloatString(digits)
			if r.Sign() < 0 {
				return "(" + s + ")"
			}
			return s
		}
	}
	f, _ := r.Float64()
	return doubleSQL(f)
}

// doubleSQL renders a DOUBLE literal that re-parses to itself.
func doubleSQL(f float64) string {
	return "TRY_CAST('" + strconv.FormatFloat(f, 'g', -1, 64) + "' AS DOUBLE)"
}

// walk calls fn for e and every sub-expression.
func (e *expr) walk(fn func(*expr)) {
	fn(e)
	for _, a := range e.args {
		a.walk(fn)
	}
}

// columns returns the dataset columns e reads.
func (e *expr) columns() []*colRef {
	var out []*colRef
	e.walk(func(x *expr) {
		if x.kind == eCol {
			out = append(out, x.col)
		}
	})
	return out
}

// interval is a closed range of values an expression can take.
type interval struct {
	lo, hi float64
	scale  int // fixed-point digits the values need
}

// bounds derives the range of a numeric expression from the declared bounds
// of the measures it reads (interval arithmetic). It fails for anything it
// cannot bound, naming the culprit.
func (e *expr) bounds() (interval, error) {
	switch e.kind {
	case eCol:
		c := e.col.col
		if c.Role != sluice.RoleMeasure || c.Lower == nil || c.Upper == nil {
			return interval{}, refuse("sql.unbounded", e.pos, "column %s is a %s, not a measure with declared bounds; only measures can be summed, averaged or ranked", c.Name, c.Role)
		}
		return interval{*c.Lower, *c.Upper, c.Scale}, nil
	case eConst:
		if e.c.num == nil {
			if e.c.null {
				return interval{0, 0, 0}, nil
			}
			return interval{}, refuse("sql.unbounded", e.pos, "a non-numeric constant cannot be aggregated")
		}
		f, _ := e.c.num.Float64()
		return interval{f, f, 0}, nil
	case eTry:
		return e.args[0].bounds()
	case eCast:
		switch {
		case e.name == "DOUBLE" || e.name == "FLOAT" || strings.HasPrefix(e.name, "DECIMAL") || strings.HasSuffix(e.name, "INT"):
			return e.args[0].bounds()
		}
		return interval{}, refuse("sql.unbounded", e.pos, "a value cast to %s cannot be aggregated", e.name)
	case eCase:
		var out *interval
		n := len(e.args)
		for i := 1; i < n; i += 2 {
			iv, err := e.args[i].bounds()
			if err != nil {
				return interval{}, err
			}
			out = hull(out, iv)
		}
		if n%2 == 1 {
			iv, err := e.args[n-1].bounds()
			if err != nil {
				return interval{}, err
			}
			out = hull(out, iv)
		}
		return *out, nil
	case eFunc:
		var ivs []interval
		for _, a := range e.args {
			iv, err := a.bounds()
			if err != nil {
				return interval{}, err
			}
			ivs = append(ivs, iv)
		}
		scale := 0
		for _, iv := range ivs {
			scale = max(scale, iv.scale)
		}
		switch {
		case e.name == "+" && len(ivs) == 2:
			return interval{ivs[0].lo + ivs[1].lo, ivs[0].hi + ivs[1].hi, scale}, nil
		case e.name == "-" && len(ivs) == 2:
			return interval{ivs[0].lo - ivs[1].hi, ivs[0].hi - ivs[1].lo, scale}, nil
		case e.name == "-" && len(ivs) == 1:
			return interval{-ivs[0].hi, -ivs[0].lo, scale}, nil
		case e.name == "*" && len(ivs) == 2:
			a, b := ivs[0], ivs[1]
			p := []float64{a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi}
			return interval{minf(p), maxf(p), scale}, nil
		case e.name == "/" && len(ivs) == 2 && ivs[1].lo == ivs[1].hi && ivs[1].lo != 0:
			d := ivs[1].lo
			p := []float64{ivs[0].lo / d, ivs[0].hi / d}
			return interval{minf(p), maxf(p), max(scale, 2)}, nil
		case e.name == "abs" && len(ivs) == 1:
			a := ivs[0]
			lo := 0.0
			if a.lo > 0 {
				lo = a.lo
			} else if a.hi < 0 {
				lo = -a.hi
			}
			return interval{lo, math.Max(math.Abs(a.lo), math.Abs(a.hi)), scale}, nil
		case (e.name == "least" || e.name == "greatest") && len(ivs) > 0:
			lo, hi := ivs[0].lo, ivs[0].hi
			for _, iv := range ivs[1:] {
				if e.name == "least" {
					lo, hi = math.Min(lo, iv.lo), math.Min(hi, iv.hi)
				} else {
					lo, hi = math.Max(lo, iv.lo), math.Max(hi, iv.hi)
				}
			}
			return interval{lo, hi, scale}, nil
		case (e.name == "coalesce" || e.name == "ifnull") && len(ivs) > 0:
			var out *interval
			for _, iv := range ivs {
				out = hull(out, iv)
			}
			return *out, nil
		case (e.name == "round" || e.name == "floor" || e.name == "ceil" || e.name == "ceiling" || e.name == "trunc") && len(ivs) >= 1:
			return interval{math.Floor(ivs[0].lo), math.Ceil(ivs[0].hi), ivs[0].scale}, nil
		}
		return interval{}, refuse("sql.unbounded", e.pos, "cannot bound the value of %s(…) from declared bounds; aggregate a measure, or a CASE, +, −, ×, ÷ constant, abs, least or greatest of measures", e.name)
	}
	return interval{}, refuse("sql.unbounded", e.pos, "cannot bound this expression from declared bounds")
}

func hull(a *interval, b interval) *interval {
	if a == nil {
		return &b
	}
	return &interval{math.Min(a.lo, b.lo), math.Max(a.hi, b.hi), max(a.scale, b.scale)}
}

func minf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Min(m, x)
	}
	return m
}

func maxf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Max(m, x)
	}
	return m
}

// floatSQL renders a float literal exactly enough for bounds.
//
// Short decimals render as DuckDB DECIMAL or integer literals, so clamping a
// DECIMAL column stays in exact decimal arithmetic; others as DOUBLE.
func floatSQL(f float64) string {
	if s := strconv.FormatFloat(f, 'f', -1, 64); !math.IsInf(f, 0) && !math.IsNaN(f) && len(s) <= 20 {
		if f < 0 {
			return "(" + s + ")"
		}
		return s
	}
	return doubleSQL(f)
}
