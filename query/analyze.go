package query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strings"

	"sluice"
)

// Catalog resolves the dataset ids an analyst's SQL names.
type Catalog interface {
	Get(id string) (*sluice.Dataset, error)
}

// maxPublicGroups caps the cross product of declared domains released as
// public groups; beyond it keys go through partition selection.
const maxPublicGroups = 10000

// Analysis is an analysed query: the Plan everyone sees, and the resolved
// form the rewriter renders.
type Analysis struct {
	Plan *sluice.Plan

	rels    []*baseRel
	filters []*expr
	groups  []*expr
	aggs    []*aggSpec
}

// aggSpec is one resolved aggregate.
type aggSpec struct {
	fn   sluice.AggFunc
	arg  *expr // nil for COUNT(*)
	iv   interval
	q    float64
	pop  bool
	orig string
	pos  int
}

func (a *aggSpec) key() string {
	arg := ""
	if a.arg != nil {
		arg = a.arg.sql()
	}
	return fmt.Sprintf("%s|%s|%g|%t", a.fn, arg, a.q, a.pop)
}

// Analyze parses text with DuckDB's parser, checks it against the allowlist
// and the catalog, and describes it as a Plan. It never executes text.
func (p *Parser) Analyze(ctx context.Context, text string, cat Catalog) (*Analysis, error) {
	root, err := p.parse(ctx, text)
	if err != nil {
		return nil, err
	}
	a := &analyzer{cat: cat}
	an, err := a.top(root)
	if err != nil {
		return nil, err
	}
	an.Plan.SQL = text
	return an, nil
}

type analyzer struct {
	cat     Catalog
	rels    []*baseRel
	filters []*expr
}

// scopeRel is a relation visible in a FROM clause.
type scopeRel struct {
	name  string
	cols  []scopeCol
	using map[string]bool // columns merged by JOIN … USING (resolved on the left)
}

type scopeCol struct {
	name string
	e    *expr
}

type scope struct {
	rels []*scopeRel
}

// MaxRelations caps the dataset references of a flattened query: each
// reference to a CTE is flattened on its own, so nested self-joining CTEs
// would otherwise grow exponentially.
const MaxRelations = 16

func (a *analyzer) addRel(ds *sluice.Dataset, pos int) (*baseRel, error) {
	if len(a.rels) >= MaxRelations {
		return nil, refuse("sql.too_many_relations", pos, "the query reads datasets more than %d times (counting each reference to a CTE)", MaxRelations)
	}
	r := &baseRel{ds: ds, alias: fmt.Sprintf("t%d", len(a.rels)+1), pos: pos}
	a.rels = append(a.rels, r)
	return r, nil
}

// ctes maps a visible CTE name to its definition.
type ctes map[string]node

func (c ctes) with(n node) (ctes, error) {
	m := n.child("cte_map")
	if m == nil {
		return c, nil
	}
	out := ctes{}
	for k, v := range c {
		out[k] = v
	}
	for _, e := range m.list("map") {
		name := e.str("key")
		v := e.child("value")
		if v == nil {
			return nil, refuse("sql.cte", n.pos(), "malformed WITH clause")
		}
		if err := v.only("WITH clause", n.pos(), "query", "materialized", "aliases", "key_targets"); err != nil {
			return nil, err
		}
		if len(v.list("aliases")) > 0 || len(v.strings("aliases")) > 0 {
			return nil, refuse("sql.cte", n.pos(), "column aliases on CTE %s are not supported; alias the columns inside it", name)
		}
		q := v.child("query")
		if q == nil || q.child("node") == nil {
			return nil, refuse("sql.cte", n.pos(), "malformed CTE %s", name)
		}
		out[strings.ToLower(name)] = q.child("node")
	}
	return out, nil
}

// from resolves a FROM clause, flattening subqueries and CTEs into the
// analyser's list of datasets and filters.
func (a *analyzer) from(n node, defs ctes) (*scope, error) {
	if n == nil {
		return nil, refuse("sql.no_from", 0, "the query must read a dataset (FROM is missing)")
	}
	pos := n.pos()
	switch n.str("type") {
	case "BASE_TABLE":
		if n.str("schema_name") != "" || n.str("catalog_name") != "" {
			return nil, refuse("sql.qualified_table", pos, "qualified table names (%s.%s) are not allowed; name the dataset alone", n.str("schema_name"), n.str("table_name"))
		}
		if err := n.only("table reference", pos, "table_name", "sample", "column_name_alias"); err != nil {
			return nil, err
		}
		if n.child("sample") != nil {
			return nil, refuse("sql.sample", pos, "TABLESAMPLE is not allowed")
		}
		if len(n.strings("column_name_alias")) > 0 {
			return nil, refuse("sql.column_alias", pos, "column aliases on a table are not supported")
		}
		name := n.str("table_name")
		alias := n.str("alias")
		if def, ok := defs[strings.ToLower(name)]; ok {
			// Each reference to a CTE is flattened on its own, like a view.
			inner := ctes{}
			for k, v := range defs {
				if k != strings.ToLower(name) {
					inner[k] = v
				}
			}
			rel, err := a.rowLevel(def, inner, pos)
			if err != nil {
				return nil, err
			}
			rel.name = name
			if alias != "" {
				rel.name = alias
			}
			return &scope{rels: []*scopeRel{rel}}, nil
		}
		ds, err := a.cat.Get(name)
		if err != nil {
			var se *sluice.Error
			if errors.As(err, &se) && se.Code == sluice.ENOTFOUND {
				return nil, &sluice.Error{Code: sluice.ENOTFOUND, Step: sluice.StepAnalysis, Rule: "sql.unknown_table", Pos: pos, Message: fmt.Sprintf("unknown dataset %q", name)}
			}
			return nil, err
		}
		br, err := a.addRel(ds, pos)
		if err != nil {
			return nil, err
		}
		rel := &scopeRel{name: ds.ID}
		if alias != "" {
			rel.name = alias
		}
		for i := range ds.Columns {
			c := &ds.Columns[i]
			rel.cols = append(rel.cols, scopeCol{name: c.Name, e: &expr{kind: eCol, col: &colRef{rel: br, col: c}, pos: pos}})
		}
		return &scope{rels: []*scopeRel{rel}}, nil
	case "SUBQUERY":
		if err := n.only("subquery", pos, "subquery", "column_name_alias"); err != nil {
			return nil, err
		}
		sub := n.child("subquery")
		if sub == nil || sub.child("node") == nil {
			return nil, refuse("sql.subquery", pos, "malformed subquery")
		}
		rel, err := a.rowLevel(sub.child("node"), defs, pos)
		if err != nil {
			return nil, err
		}
		if len(n.strings("column_name_alias")) > 0 {
			return nil, refuse("sql.column_alias", pos, "column aliases on a subquery are not supported; alias the columns inside it")
		}
		rel.name = n.str("alias")
		return &scope{rels: []*scopeRel{rel}}, nil
	case "JOIN":
		return a.join(n, defs)
	case "TABLE_FUNCTION":
		fn := n.child("function")
		name := ""
		if fn != nil {
			name = fn.str("function_name")
		}
		return nil, refuse("sql.table_function", pos, "table function %s(…) is not allowed; read datasets by name", name)
	case "SHOW_REF":
		return nil, refuse("sql.show", pos, "SUMMARIZE, DESCRIBE and SHOW are not allowed: they reveal exact statistics")
	case "PIVOT":
		return nil, refuse("sql.pivot", pos, "PIVOT is not supported; use GROUP BY")
	case "EXPRESSION_LIST":
		return nil, refuse("sql.values", pos, "VALUES lists are not allowed; read datasets by name")
	case "EMPTY", "EMPTY_FROM":
		return nil, refuse("sql.no_from", pos, "the query must read a dataset (FROM is missing)")
	}
	return nil, refuse("sql.from", pos, "unsupported FROM item %s", n.str("type"))
}

func (a *analyzer) join(n node, defs ctes) (*scope, error) {
	pos := n.pos()
	if err := n.only("JOIN", pos, "left", "right", "condition", "join_type", "ref_type", "using_columns"); err != nil {
		return nil, err
	}
	switch rt := n.str("ref_type"); rt {
	case "", "REGULAR":
	case "CROSS":
		return nil, refuse("sql.cross_join", pos, "cross joins (and comma-separated FROM lists) are not allowed; JOIN … ON the privacy unit")
	case "NATURAL":
		return nil, refuse("sql.natural_join", pos, "NATURAL joins are not allowed; JOIN … ON the privacy unit")
	default:
		return nil, refuse("sql.join", pos, "%s joins are not allowed; JOIN … ON the privacy unit", strings.ToLower(rt))
	}
	if jt := n.str("join_type"); jt != "" && jt != "INNER" {
		return nil, refuse("sql.outer_join", pos, "%s joins are not supported; use an inner JOIN … ON the privacy unit", strings.ToLower(jt))
	}
	firstLeft := len(a.rels)
	left, err := a.from(n.child("left"), defs)
	if err != nil {
		return nil, err
	}
	firstRight := len(a.rels)
	right, err := a.from(n.child("right"), defs)
	if err != nil {
		return nil, err
	}
	leftRels, rightRels := a.rels[firstLeft:firstRight], a.rels[firstRight:]
	sc := &scope{rels: append(append([]*scopeRel{}, left.rels...), right.rels...)}
	linked := false
	if using := n.strings("using_columns"); len(using) > 0 {
		for _, name := range using {
			l, err := left.lookup(nil, name, pos)
			if err != nil {
				return nil, err
			}
			r, err := right.lookup(nil, name, pos)
			if err != nil {
				return nil, err
			}
			if !isUnit(l) || !isUnit(r) {
				return nil, refuse("sql.join_not_on_unit", pos, "JOIN … USING (%s) must name the privacy unit of both sides", name)
			}
			linked = true
			for _, rel := range right.rels {
				if rel.using == nil {
					rel.using = map[string]bool{}
				}
				rel.using[strings.ToLower(name)] = true
			}
		}
	} else {
		cn := n.child("condition")
		if cn == nil {
			return nil, refuse("sql.join_not_on_unit", pos, "a JOIN needs ON <left unit> = <right unit>")
		}
		cond, err := a.rowExpr(cn, sc)
		if err != nil {
			return nil, err
		}
		for _, c := range conjuncts(cond) {
			if c.kind == eCmp && c.name == "COMPARE_EQUAL" && isUnit(c.args[0]) && isUnit(c.args[1]) {
				l, r := c.args[0].col.rel, c.args[1].col.rel
				if (containsRel(leftRels, l) && containsRel(rightRels, r)) || (containsRel(leftRels, r) && containsRel(rightRels, l)) {
					linked = true
				}
			}
		}
		if !linked {
			return nil, refuse("sql.join_not_on_unit", pos, "joins must equate the privacy units of both sides (e.g. ON a.credit_code = b.credit_code)")
		}
		a.filters = append(a.filters, cond)
	}
	return sc, nil
}

// noFanOut refuses a join that could give a unit more rows than one of its
// datasets holds for it. Joined on the unit alone, k datasets give a unit
// with n rows in each n^k rows before any bound applies, and the run time,
// which carries no noise, then measures that one unit's rows (found by
// review: a five-way self-join ran 240 ms for a firm with 30 rows against
// 4 ms for a firm with one). A join is accepted when its datasets can be
// ordered so that each after the first is equated, on every column of its
// declared key (Dataset.Key, checked when the file is prepared), to
// columns of datasets before it or to constants: each row of the first
// then meets at most one row of each other. Units are equal across the
// join by construction (see join).
func (a *analyzer) noFanOut() error {
	if len(a.rels) < 2 {
		return nil
	}
	type end struct {
		rel *baseRel
		col string
	}
	// ties lists, per column, each top-level equality's other side as the
	// relations it reads (none for a constant). Only = counts: NULL keys
	// match nothing, and Prepare checks the key over the rows without
	// NULLs. The other side must compare as the column's own type, or
	// DuckDB would cast the key and '1', '01' and ' 1' would all equal 1.
	ties := map[end][][]*baseRel{}
	for _, f := range a.filters {
		for _, c := range conjuncts(f.untried()) {
			c = c.untried()
			if c.kind != eCmp || c.name != "COMPARE_EQUAL" {
				continue
			}
			l, r := c.args[0].untried(), c.args[1].untried()
			for _, pair := range [2][2]*expr{{l, r}, {r, l}} {
				x, y := pair[0], pair[1]
				if x.kind != eCol {
					continue
				}
				var reads []*baseRel
				self := false
				for _, cr := range y.columns() {
					self = self || cr.rel == x.col.rel
					reads = append(reads, cr.rel)
				}
				switch {
				case self:
					continue // ties the keyed relation to itself
				case y.kind == eCol && !strings.EqualFold(x.col.col.Type, y.col.col.Type):
					continue
				case x.col.text() && !isText(y):
					continue
				}
				k := end{x.col.rel, x.col.col.Name}
				ties[k] = append(ties[k], reads)
			}
		}
	}
	keyed := func(r *baseRel, in map[*baseRel]bool) bool {
		if len(r.ds.Key) == 0 {
			return false
		}
		for _, k := range r.ds.Key {
			if k == r.ds.Unit {
				continue
			}
			tied := false
			for _, reads := range ties[end{r, k}] {
				all := true
				for _, o := range reads {
					all = all && in[o]
				}
				tied = tied || all
			}
			if !tied {
				return false
			}
		}
		return true
	}
	var stuck *baseRel
	for _, root := range a.rels {
		in := map[*baseRel]bool{root: true}
		for grew := true; grew; {
			grew = false
			for _, r := range a.rels {
				if !in[r] && keyed(r, in) {
					in[r], grew = true, true
				}
			}
		}
		if len(in) == len(a.rels) {
			return nil
		}
		if stuck == nil {
			for _, r := range a.rels {
				if !in[r] {
					stuck = r
					break
				}
			}
		}
	}
	how := "it declares no key, so it can only be the dataset the others join to"
	if len(stuck.ds.Key) > 0 {
		how = fmt.Sprintf("equate each column of its key (%s) with = to a column of the same type of a dataset joined before it, or to a constant", strings.Join(stuck.ds.Key, ", "))
	}
	return refuse("sql.join_fanout", stuck.pos, "joining dataset %s can multiply a unit's rows (on the unit alone, each of its rows meets every row of the unit in the other datasets); %s", stuck.ds.ID, how)
}

// isText reports whether e is text for certain, so that comparing it with
// a VARCHAR column compares text.
func isText(e *expr) bool {
	switch e.kind {
	case eConst:
		return e.c != nil && e.c.typ == "VARCHAR"
	case eCol:
		return e.col.text()
	case eCast:
		return strings.EqualFold(e.name, "VARCHAR")
	case eTry:
		return isText(e.untried())
	case eFunc:
		switch e.name {
		case "||", "concat", "lower", "upper", "trim", "ltrim", "rtrim", "substr", "substring", "left", "right", "replace", "lpad", "rpad", "strftime":
			return true
		}
	}
	return false
}

func containsRel(rels []*baseRel, r *baseRel) bool {
	for _, x := range rels {
		if x == r {
			return true
		}
	}
	return false
}

func isUnit(e *expr) bool {
	return e != nil && e.kind == eCol && e.col.col.Role == sluice.RoleUnit
}

func conjuncts(e *expr) []*expr {
	if e.kind == eAnd {
		var out []*expr
		for _, a := range e.args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*expr{e}
}

// lookup resolves a column name, optionally qualified by a relation name.
func (s *scope) lookup(qual []string, name string, pos int) (*expr, error) {
	var found *expr
	count := 0
	for _, rel := range s.rels {
		if len(qual) == 1 && !strings.EqualFold(rel.name, qual[0]) {
			continue
		}
		for _, c := range rel.cols {
			if strings.EqualFold(c.name, name) {
				if len(qual) == 0 && rel.using[strings.ToLower(name)] && found != nil {
					continue // merged by USING: the left side's column stands
				}
				if found == nil {
					found = c.e
				}
				count++
				break
			}
		}
	}
	full := name
	if len(qual) == 1 {
		full = qual[0] + "." + name
	}
	switch {
	case count == 0:
		return nil, &sluice.Error{Code: sluice.ENOTFOUND, Step: sluice.StepAnalysis, Rule: "sql.unknown_column", Pos: pos, Message: fmt.Sprintf("unknown column %s", full)}
	case count > 1:
		return nil, refuse("sql.ambiguous_column", pos, "column %s is ambiguous; qualify it", full)
	}
	return found, nil
}

// rowLevel resolves a subquery or CTE that must stay row-level: SELECT …
// FROM … WHERE … with no aggregation, ordering or limits.
func (a *analyzer) rowLevel(n node, defs ctes, pos int) (*scopeRel, error) {
	if err := selectNode(n, pos); err != nil {
		return nil, err
	}
	if err := n.only("subquery", n.pos(), "select_list", "from_table", "where_clause", "cte_map", "aggregate_handling"); err != nil {
		var se *sluice.Error
		if errors.As(err, &se) {
			se.Rule = "sql.subquery_not_row_level"
			se.Message = "inside a subquery or CTE only row-level SELECT … FROM … WHERE is allowed: " + se.Message
		}
		return nil, err
	}
	if h := n.str("aggregate_handling"); h != "" && h != "STANDARD_HANDLING" {
		return nil, refuse("sql.subquery_not_row_level", pos, "GROUP BY ALL inside a subquery is not allowed; aggregate only in the outermost query")
	}
	sc, err := a.fromWhere(n, defs)
	if err != nil {
		return nil, err
	}
	rel := &scopeRel{}
	for _, item := range n.list("select_list") {
		if item.str("class") == "STAR" {
			cols, err := expandStar(item, sc)
			if err != nil {
				return nil, err
			}
			rel.cols = append(rel.cols, cols...)
			continue
		}
		e, err := a.rowExpr(item, sc)
		if err != nil {
			return nil, err
		}
		name := item.str("alias")
		if name == "" && e.kind == eCol {
			if cn := item.strings("column_names"); len(cn) > 0 {
				name = cn[len(cn)-1]
			}
		}
		rel.cols = append(rel.cols, scopeCol{name: name, e: e})
	}
	return rel, nil
}

// fromWhere resolves a SELECT node's WITH, FROM and WHERE clauses: the
// CTEs become visible, the FROM is flattened, and the WHERE joins the
// filters.
func (a *analyzer) fromWhere(n node, defs ctes) (*scope, error) {
	defs, err := defs.with(n)
	if err != nil {
		return nil, err
	}
	sc, err := a.from(n.child("from_table"), defs)
	if err != nil {
		return nil, err
	}
	if w := n.child("where_clause"); w != nil {
		f, err := a.rowExpr(w, sc)
		if err != nil {
			return nil, err
		}
		a.filters = append(a.filters, f)
	}
	return sc, nil
}

func selectNode(n node, pos int) error {
	switch t := n.str("type"); t {
	case "SELECT_NODE":
		return nil
	case "SET_OPERATION_NODE":
		return refuse("sql.set_operation", pos, "UNION, INTERSECT and EXCEPT are not allowed")
	case "RECURSIVE_CTE_NODE":
		return refuse("sql.recursive_cte", pos, "recursive CTEs are not allowed")
	default:
		return refuse("sql.unsupported", pos, "unsupported query node %s", t)
	}
}

func expandStar(item node, sc *scope) ([]scopeCol, error) {
	pos := item.pos()
	if err := item.only("*", pos, "exclude_list", "relation_name"); err != nil {
		return nil, err
	}
	excl := map[string]bool{}
	for _, x := range item.strings("exclude_list") {
		excl[strings.ToLower(x)] = true
	}
	for _, x := range item.list("exclude_list") {
		// Newer serialisations list qualified names as objects.
		for _, s := range x.strings("column_names") {
			excl[strings.ToLower(s)] = true
		}
	}
	rel := item.str("relation_name")
	var out []scopeCol
	found := rel == ""
	for _, r := range sc.rels {
		if rel != "" && !strings.EqualFold(r.name, rel) {
			continue
		}
		found = true
		for _, c := range r.cols {
			if excl[strings.ToLower(c.name)] || (rel == "" && r.using[strings.ToLower(c.name)]) {
				continue
			}
			out = append(out, c)
		}
	}
	if !found {
		return nil, &sluice.Error{Code: sluice.ENOTFOUND, Step: sluice.StepAnalysis, Rule: "sql.unknown_table", Pos: pos, Message: fmt.Sprintf("unknown relation %s in %s.*", rel, rel)}
	}
	return out, nil
}

// rowExpr resolves a row-level expression (no aggregates).
func (a *analyzer) rowExpr(n node, sc *scope) (*expr, error) {
	return a.expr(n, sc, nil)
}

// aggHook, when set, handles aggregate calls met while resolving.
type aggHook func(n node) (*expr, error)

func (a *analyzer) expr(n node, sc *scope, hook aggHook) (*expr, error) {
	if n == nil {
		return nil, refuse("sql.malformed", 0, "malformed expression")
	}
	pos := n.pos()
	sub := func(c node) (*expr, error) { return a.expr(c, sc, hook) }
	subs := func(cs []node) ([]*expr, error) {
		out := make([]*expr, 0, len(cs))
		for _, c := range cs {
			e, err := sub(c)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	switch n.str("class") {
	case "COLUMN_REF":
		if err := n.only("column reference", pos, "column_names"); err != nil {
			return nil, err
		}
		names := n.strings("column_names")
		if len(names) == 0 || len(names) > 2 {
			return nil, refuse("sql.qualified_column", pos, "column %s: use column or relation.column", strings.Join(names, "."))
		}
		e, err := sc.lookup(names[:len(names)-1], names[len(names)-1], pos)
		if err != nil {
			return nil, err
		}
		if err := readable(e, pos); err != nil {
			return nil, err
		}
		return e, nil
	case "CONSTANT":
		c, err := decodeConstant(n)
		if err != nil {
			return nil, err
		}
		return &expr{kind: eConst, c: c, pos: pos}, nil
	case "FUNCTION":
		name := strings.ToLower(n.str("function_name"))
		if _, ok := aggregateFuncs[name]; ok {
			if hook == nil {
				return nil, refuse("sql.aggregate_position", pos, "aggregate %s(…) is only allowed at the top of the outermost SELECT list, HAVING or ORDER BY", name)
			}
			return hook(n)
		}
		if why, ok := refusedFuncs[name]; ok {
			return nil, refuse("sql.function", pos, "function %s is not allowed: %s", name, why)
		}
		ar, ok := scalarFuncs[name]
		if !ok {
			return nil, refuse("sql.function", pos, "function %s is not allowed", name)
		}
		if err := n.only("function "+name, pos, "function_name", "children", "is_operator", "order_bys", "schema"); err != nil {
			return nil, err
		}
		if s := n.str("schema"); s != "" && s != "main" {
			return nil, refuse("sql.function", pos, "function %s.%s is not allowed", s, name)
		}
		if ob := n.child("order_bys"); ob != nil && len(ob.list("orders")) > 0 {
			return nil, refuse("sql.unsupported", pos, "ORDER BY inside %s(…) is not supported", name)
		}
		args, err := subs(n.list("children"))
		if err != nil {
			return nil, err
		}
		if len(args) < ar[0] || (ar[1] >= 0 && len(args) > ar[1]) {
			return nil, refuse("sql.arity", pos, "function %s takes %s arguments, got %d", name, arity(ar), len(args))
		}
		if err := boundedCost(name, args, pos); err != nil {
			return nil, err
		}
		return &expr{kind: eFunc, name: name, op: n.flag("is_operator"), args: args, pos: pos}, nil
	case "COMPARISON":
		if err := n.only("comparison", pos, "left", "right"); err != nil {
			return nil, err
		}
		t := n.str("type")
		if _, ok := cmpSQL[t]; !ok {
			return nil, refuse("sql.operator", pos, "comparison %s is not supported", t)
		}
		l, err := sub(n.child("left"))
		if err != nil {
			return nil, err
		}
		r, err := sub(n.child("right"))
		if err != nil {
			return nil, err
		}
		return &expr{kind: eCmp, name: t, args: []*expr{l, r}, pos: pos}, nil
	case "CONJUNCTION":
		if err := n.only("AND/OR", pos, "children"); err != nil {
			return nil, err
		}
		args, err := subs(n.list("children"))
		if err != nil {
			return nil, err
		}
		if len(args) < 2 {
			return nil, refuse("sql.malformed", pos, "malformed AND/OR")
		}
		k := eAnd
		if n.str("type") == "CONJUNCTION_OR" {
			k = eOr
		} else if n.str("type") != "CONJUNCTION_AND" {
			return nil, refuse("sql.operator", pos, "unsupported conjunction %s", n.str("type"))
		}
		return &expr{kind: k, args: args, pos: pos}, nil
	case "OPERATOR":
		if err := n.only("operator", pos, "children"); err != nil {
			return nil, err
		}
		args, err := subs(n.list("children"))
		if err != nil {
			return nil, err
		}
		t := n.str("type")
		kinds := map[string]exprKind{"OPERATOR_NOT": eNot, "COMPARE_IN": eIn, "COMPARE_NOT_IN": eNotIn, "OPERATOR_IS_NULL": eIsNull, "OPERATOR_IS_NOT_NULL": eIsNotNull}
		if t == "OPERATOR_TRY" {
			if len(args) != 1 {
				return nil, refuse("sql.malformed", pos, "malformed TRY")
			}
			return &expr{kind: eTry, args: args, pos: pos}, nil
		}
		if t == "OPERATOR_COALESCE" {
			return &expr{kind: eFunc, name: "coalesce", args: args, pos: pos}, nil
		}
		k, ok := kinds[t]
		if !ok {
			return nil, refuse("sql.operator", pos, "operator %s is not supported", strings.TrimPrefix(t, "OPERATOR_"))
		}
		want := 1
		if k == eIn || k == eNotIn {
			want = 2
		}
		if len(args) < want || (want == 1 && len(args) != 1) {
			return nil, refuse("sql.malformed", pos, "malformed %s", t)
		}
		return &expr{kind: k, args: args, pos: pos}, nil
	case "BETWEEN":
		if err := n.only("BETWEEN", pos, "input", "lower", "upper"); err != nil {
			return nil, err
		}
		args, err := subs([]node{n.child("input"), n.child("lower"), n.child("upper")})
		if err != nil {
			return nil, err
		}
		return &expr{kind: eBetween, args: args, pos: pos}, nil
	case "CASE":
		if err := n.only("CASE", pos, "case_checks", "else_expr"); err != nil {
			return nil, err
		}
		var args []*expr
		for _, chk := range n.list("case_checks") {
			w, err := sub(chk.child("when_expr"))
			if err != nil {
				return nil, err
			}
			t, err := sub(chk.child("then_expr"))
			if err != nil {
				return nil, err
			}
			args = append(args, w, t)
		}
		if len(args) == 0 {
			return nil, refuse("sql.malformed", pos, "CASE without WHEN")
		}
		if el := n.child("else_expr"); el != nil {
			e, err := sub(el)
			if err != nil {
				return nil, err
			}
			args = append(args, e)
		}
		return &expr{kind: eCase, args: args, pos: pos}, nil
	case "CAST":
		if err := n.only("CAST", pos, "child", "cast_type", "try_cast"); err != nil {
			return nil, err
		}
		t, err := castType(n.child("cast_type"), pos)
		if err != nil {
			return nil, err
		}
		x, err := sub(n.child("child"))
		if err != nil {
			return nil, err
		}
		return &expr{kind: eCast, name: t, args: []*expr{x}, try: n.flag("try_cast"), pos: pos}, nil
	case "SUBQUERY":
		return nil, refuse("sql.subquery_expression", pos, "subqueries inside expressions are not allowed: they make one row's value depend on other rows")
	case "WINDOW":
		return nil, refuse("sql.window", pos, "window functions over private rows are not allowed")
	case "STAR":
		return nil, refuse("sql.star", pos, "* is not allowed here")
	case "PARAMETER":
		return nil, refuse("sql.parameter", pos, "query parameters are not supported")
	case "LAMBDA", "LAMBDA_REF":
		return nil, refuse("sql.lambda", pos, "lambda functions are not allowed")
	case "COLLATE":
		return nil, refuse("sql.collate", pos, "COLLATE is not supported")
	case "POSITIONAL_REFERENCE":
		return nil, refuse("sql.positional", pos, "positional column references (#1) are not supported")
	}
	return nil, refuse("sql.unsupported", pos, "expression %s is not supported", strings.ToLower(n.str("class")))
}

func arity(ar [2]int) string {
	switch {
	case ar[1] < 0:
		return fmt.Sprintf("at least %d", ar[0])
	case ar[0] == ar[1]:
		return fmt.Sprint(ar[0])
	}
	return fmt.Sprintf("%d to %d", ar[0], ar[1])
}

func castType(t node, pos int) (string, error) {
	if t == nil {
		return "", refuse("sql.cast", pos, "malformed CAST")
	}
	id := t.str("id")
	if !castTypes[id] {
		return "", refuse("sql.cast", pos, "CAST to %s is not supported", id)
	}
	if id == "DECIMAL" {
		ti := t.child("type_info")
		if ti == nil {
			return "DECIMAL(18,3)", nil
		}
		w, _ := ti["width"].(json.Number)
		s, _ := ti["scale"].(json.Number)
		return fmt.Sprintf("DECIMAL(%s,%s)", w, s), nil
	}
	return id, nil
}

// readable refuses columns no query may read.
func readable(e *expr, pos int) error {
	for _, c := range e.columns() {
		if c.col.Role == sluice.RoleIdentifier {
			return refuse("sql.identifier", pos, "column %s.%s is a direct identifier and cannot be read", c.rel.ds.ID, c.col.Name)
		}
	}
	return nil
}

// top analyses the outermost SELECT.
func (a *analyzer) top(n node) (*Analysis, error) {
	pos := n.pos()
	if err := selectNode(n, pos); err != nil {
		return nil, err
	}
	if err := n.only("SELECT", pos, "select_list", "from_table", "where_clause", "group_expressions", "group_sets", "aggregate_handling", "having", "modifiers", "cte_map"); err != nil {
		return nil, err
	}
	sc, err := a.fromWhere(n, ctes{})
	if err != nil {
		return nil, err
	}
	t := &topQuery{a: a, sc: sc}
	items := n.list("select_list")
	// The select list: aggregates, and expressions that must be group keys.
	type item struct {
		agg  *aggSpec
		e    *expr
		name string
		pos  int
	}
	var sel []item
	for _, it := range items {
		ip := it.pos()
		if it.str("class") == "STAR" {
			return nil, refuse("sql.row_output", ip, "SELECT * would output rows; select group keys and aggregates")
		}
		name := it.str("alias")
		if isAggregateCall(it) {
			ag, err := t.aggregate(it)
			if err != nil {
				return nil, err
			}
			if name == "" {
				name = ag.defaultName()
			}
			sel = append(sel, item{agg: ag, name: name, pos: ip})
			continue
		}
		e, err := a.expr(it, sc, func(fn node) (*expr, error) {
			return nil, refuse("sql.aggregate_arithmetic", fn.pos(), "arithmetic on aggregates is not supported; select the aggregate %s(…) itself", strings.ToLower(fn.str("function_name")))
		})
		if err != nil {
			return nil, err
		}
		if name == "" {
			if cn := it.strings("column_names"); len(cn) > 0 {
				name = cn[len(cn)-1]
			} else {
				name = e.sql()
			}
		}
		sel = append(sel, item{e: e, name: name, pos: ip})
	}
	// GROUP BY.
	var groups []*expr
	gpos := map[int]int{}
	switch h := n.str("aggregate_handling"); h {
	case "", "STANDARD_HANDLING":
		for _, g := range n.list("group_expressions") {
			gp := g.pos()
			var e *expr
			if g.str("class") == "CONSTANT" {
				c, err := decodeConstant(g)
				if err != nil {
					return nil, err
				}
				if c.num == nil || !c.num.IsInt() || !c.num.Num().IsInt64() {
					return nil, refuse("sql.group_by", gp, "GROUP BY a constant is not supported")
				}
				i := int(c.num.Num().Int64())
				if i < 1 || i > len(sel) {
					return nil, refuse("sql.group_by", gp, "GROUP BY %d: the SELECT list has %d items", i, len(sel))
				}
				if sel[i-1].agg != nil {
					return nil, refuse("sql.group_by", gp, "GROUP BY %d refers to an aggregate", i)
				}
				e = sel[i-1].e
			} else {
				var err error
				e, err = a.rowExpr(g, sc)
				if err != nil {
					names := g.strings("column_names")
					if sluice.ErrorRule(err) == "sql.unknown_column" && g.str("class") == "COLUMN_REF" && len(names) == 1 {
						// GROUP BY a SELECT alias.
						for _, s := range sel {
							if s.agg == nil && strings.EqualFold(s.name, names[0]) {
								e = s.e
							}
						}
					}
					if e == nil {
						return nil, err
					}
				}
			}
			groups = append(groups, e)
			gpos[len(groups)-1] = gp
		}
		if err := singleGroupingSet(n["group_sets"], len(groups), pos); err != nil {
			return nil, err
		}
	case "FORCE_AGGREGATES":
		for i, s := range sel {
			if s.agg == nil {
				groups = append(groups, s.e)
				gpos[len(groups)-1] = sel[i].pos
			}
		}
	default:
		return nil, refuse("sql.group_by", pos, "unsupported aggregate handling %s", h)
	}
	// Deduplicate group keys and check their roles.
	var keys []*expr
	seen := map[string]bool{}
	for i, g := range groups {
		if err := groupable(g, gpos[i]); err != nil {
			return nil, err
		}
		if s := g.sql(); !seen[s] {
			seen[s] = true
			keys = append(keys, g)
		}
	}
	an := &Analysis{rels: a.rels, filters: a.filters, groups: keys}
	plan := &sluice.Plan{}
	an.Plan = plan
	hasAgg := false
	for _, s := range sel {
		if s.agg != nil {
			hasAgg = true
			continue
		}
		found := -1
		for j, k := range keys {
			if k.sql() == s.e.sql() {
				found = j
			}
		}
		if found < 0 {
			if len(keys) == 0 {
				return nil, refuse("sql.row_output", s.pos, "%s would be output row by row; aggregate it or GROUP BY it", s.name)
			}
			return nil, refuse("sql.not_grouped", s.pos, "%s is neither an aggregate nor a GROUP BY key", s.name)
		}
	}
	if !hasAgg && len(keys) == 0 {
		return nil, refuse("sql.row_output", pos, "the query must aggregate")
	}
	// Group keys in the plan.
	for j, k := range keys {
		name := ""
		for _, s := range sel {
			if s.agg == nil && s.e.sql() == k.sql() {
				name = s.name
				break
			}
		}
		if name == "" {
			name = fmt.Sprintf("group_%d", j+1)
		}
		gk := sluice.GroupKey{Name: name, SQL: k.sql()}
		if k.kind == eCol && k.col.col.Role == sluice.RoleDimension && len(k.col.col.Domain) > 0 {
			gk.Domain = append([]string(nil), k.col.col.Domain...)
		}
		plan.Groups = append(plan.Groups, gk)
	}
	// Aggregates and outputs, in SELECT order.
	aggIndex := map[string]int{}
	for _, s := range sel {
		if s.agg == nil {
			for j, k := range keys {
				if k.sql() == s.e.sql() {
					plan.Outputs = append(plan.Outputs, sluice.Output{Name: s.name, Group: j, Agg: -1})
				}
			}
			continue
		}
		k := s.agg.key()
		idx, ok := aggIndex[k]
		if !ok {
			idx = len(an.aggs)
			aggIndex[k] = idx
			an.aggs = append(an.aggs, s.agg)
			plan.Aggregates = append(plan.Aggregates, s.agg.plan(s.name))
		}
		plan.Outputs = append(plan.Outputs, sluice.Output{Name: s.name, Group: -1, Agg: idx})
	}
	// Post-processing on released values.
	if h := n.child("having"); h != nil {
		c, err := t.condition(h, plan, an)
		if err != nil {
			return nil, err
		}
		plan.Having = c
	}
	for _, m := range n.list("modifiers") {
		switch m.str("type") {
		case "ORDER_MODIFIER":
			for _, o := range m.list("orders") {
				out, err := t.outputRef(o.child("expression"), plan, an)
				if err != nil {
					return nil, err
				}
				plan.OrderBy = append(plan.OrderBy, sluice.OrderTerm{Out: out, Desc: o.str("type") == "DESCENDING"})
			}
		case "LIMIT_MODIFIER":
			if m.child("offset") != nil {
				return nil, refuse("sql.offset", pos, "OFFSET is not supported")
			}
			l := m.child("limit")
			if l == nil || l.str("class") != "CONSTANT" {
				return nil, refuse("sql.limit", pos, "LIMIT must be a constant")
			}
			c, err := decodeConstant(l)
			if err != nil {
				return nil, err
			}
			if c.num == nil || !c.num.IsInt() || c.num.Sign() < 0 || !c.num.Num().IsInt64() {
				return nil, refuse("sql.limit", l.pos(), "LIMIT must be a non-negative integer")
			}
			plan.Limit = c.num.Num().Int64()
			if plan.Limit == 0 {
				return nil, refuse("sql.limit", l.pos(), "LIMIT 0 releases nothing")
			}
		case "DISTINCT_MODIFIER":
			return nil, refuse("sql.distinct", pos, "SELECT DISTINCT is not allowed; use GROUP BY")
		default:
			return nil, refuse("sql.unsupported", pos, "unsupported modifier %s", m.str("type"))
		}
	}
	// Datasets, population, unit, columns.
	pop := ""
	for i, r := range a.rels {
		if i == 0 {
			pop = r.ds.Population
			continue
		}
		if r.ds.Population != pop {
			return nil, refuse("sql.population", r.pos, "datasets %s (%s) and %s (%s) have different privacy units and cannot be joined", a.rels[0].ds.ID, pop, r.ds.ID, r.ds.Population)
		}
		// Equal units must be equal values: between types DuckDB casts,
		// and '01', ' 1' and '1' all equal 1, so one unit would count as
		// several (or several as one) and escape its bounds.
		if t0, t := a.rels[0].ds.UnitType(), r.ds.UnitType(); t0 != t {
			return nil, refuse("sql.unit_type", r.pos, "datasets %s and %s key their privacy units with different types (%s and %s) and cannot be joined", a.rels[0].ds.ID, r.ds.ID, t0, t)
		}
	}
	if err := a.noFanOut(); err != nil {
		return nil, err
	}
	if first := a.rels[0]; first.ds.Column(first.ds.Unit) == nil {
		return nil, fmt.Errorf("dataset %s: unit column %s missing", first.ds.ID, first.ds.Unit)
	}
	plan.Population = pop
	dsSeen := map[string]bool{}
	for _, r := range a.rels {
		if !dsSeen[r.ds.ID] {
			dsSeen[r.ds.ID] = true
			plan.Datasets = append(plan.Datasets, r.ds.ID)
		}
	}
	sort.Strings(plan.Datasets)
	plan.Columns = an.columnUses()
	for _, f := range a.filters {
		plan.Filters = append(plan.Filters, f.sql())
	}
	plan.PublicGroups = len(keys) > 0
	combos := 1
	for _, g := range plan.Groups {
		if len(g.Domain) == 0 {
			plan.PublicGroups = false
			break
		}
		combos *= len(g.Domain)
		if combos > maxPublicGroups {
			plan.PublicGroups = false
			break
		}
	}
	if len(keys) == 0 {
		plan.PublicGroups = true // one group, the whole population: nothing to select
	}
	plan.Digest = an.digest(false)
	plan.Shape = an.digest(true)
	plan.Isolating = an.isolating()
	return an, nil
}

var (
	stringLiteral = regexp.MustCompile(`'(?:[^']|'')*'`)
	numberLiteral = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
)

// maskConstants replaces the literals of rendered SQL with ?.
func maskConstants(sql string) string {
	return numberLiteral.ReplaceAllString(stringLiteral.ReplaceAllString(sql, "?"), "?")
}

// FilterConstants lists the literals of what a plan's Shape masks — its
// filters, group keys and aggregate arguments (where FILTER and CASE
// predicates land) — in order.
func FilterConstants(p *sluice.Plan) string {
	var out []string
	add := func(sql string) {
		out = append(out, stringLiteral.FindAllString(sql, -1)...)
		out = append(out, numberLiteral.FindAllString(stringLiteral.ReplaceAllString(sql, ""), -1)...)
	}
	for _, f := range p.Filters {
		add(f)
	}
	for _, g := range p.Groups {
		add(g.SQL)
	}
	for _, a := range p.Aggregates {
		add(a.Arg)
	}
	return strings.Join(out, ",")
}

// isolating reports whether a predicate anywhere in the query — its
// filters, group keys or aggregate arguments (FILTER, CASE) — tests the
// unit or an attribute against constants: =, IS NOT DISTINCT FROM, IN
// (either way round), BETWEEN, LIKE or regexp_matches, or a lower and an
// upper bound in the same conjunction of filters. On the unit's side any
// expression of the unit alone counts (the unit concatenated with an
// empty string, say); an attribute
// may be cast, trimmed or case-folded. A constant may be any expression
// that reads no column ('F' || '7'). It is a heuristic for the
// differencing breaker: the noise, not this flag, protects each release.
func (an *Analysis) isolating() bool {
	roots := append([]*expr(nil), an.filters...)
	roots = append(roots, an.groups...)
	for _, a := range an.aggs {
		if a.arg != nil {
			roots = append(roots, a.arg)
		}
	}
	// pinned returns the unit or attribute column e tests.
	var pinned func(e *expr) *colRef
	pinned = func(e *expr) *colRef {
		if cols := e.columns(); len(cols) > 0 {
			unit := true
			for _, c := range cols {
				unit = unit && c.col.Role == sluice.RoleUnit
			}
			if unit {
				return cols[0]
			}
		}
		switch {
		case e.kind == eCol:
			if r := e.col.col.Role; r == sluice.RoleUnit || r == sluice.RoleAttribute {
				return e.col
			}
		case e.kind == eCast || e.kind == eTry,
			e.kind == eFunc && len(e.args) == 1 && (e.name == "lower" || e.name == "upper" || e.name == "trim" || e.name == "ltrim" || e.name == "rtrim"):
			return pinned(e.args[0])
		}
		return nil
	}
	consts := func(es []*expr) bool {
		for _, o := range es {
			if len(o.columns()) > 0 {
				return false
			}
		}
		return len(es) > 0
	}
	found := false
	for _, f := range roots {
		f.walk(func(e *expr) {
			switch {
			case e.kind == eCmp && (e.name == "COMPARE_EQUAL" || e.name == "COMPARE_NOT_DISTINCT_FROM"),
				e.kind == eFunc && (e.name == "~~" || e.name == "~~*" || e.name == "regexp_matches") && len(e.args) == 2:
				l, r := e.args[0], e.args[1]
				found = found || (pinned(l) != nil && consts([]*expr{r})) || (pinned(r) != nil && consts([]*expr{l}))
			case e.kind == eIn, e.kind == eBetween:
				// x IN (c, …), x BETWEEN c AND d; and c IN (x, …).
				found = found || (pinned(e.args[0]) != nil && consts(e.args[1:]))
				if e.kind == eIn && consts(e.args[:1]) {
					for _, o := range e.args[1:] {
						found = found || pinned(o) != nil
					}
				}
			}
		})
	}
	// c ≤ x and x ≤ d, both conjuncts of the filters, pin x like BETWEEN.
	type bounds struct{ lower, upper bool }
	ranges := map[colRef]*bounds{}
	for _, f := range an.filters {
		for _, e := range conjuncts(f.untried()) {
			e = e.untried()
			if e.kind != eCmp {
				continue
			}
			for _, side := range [2]bool{false, true} {
				x, y := e.args[0], e.args[1]
				lower := e.name == "COMPARE_GREATERTHAN" || e.name == "COMPARE_GREATERTHANOREQUALTO"
				upper := e.name == "COMPARE_LESSTHAN" || e.name == "COMPARE_LESSTHANOREQUALTO"
				if side {
					x, y, lower, upper = y, x, upper, lower
				}
				c := pinned(x)
				if c == nil || !consts([]*expr{y}) || !(lower || upper) {
					continue
				}
				b := ranges[*c]
				if b == nil {
					b = &bounds{}
					ranges[*c] = b
				}
				b.lower, b.upper = b.lower || lower, b.upper || upper
				found = found || (b.lower && b.upper)
			}
		}
	}
	return found
}

// singleGroupingSet accepts only the plain grouping set {0, …, n−1}.
func singleGroupingSet(v any, n int, pos int) error {
	bad := refuse("sql.grouping_sets", pos, "GROUPING SETS, ROLLUP and CUBE are not supported")
	arr, _ := v.([]any)
	if v != nil && arr == nil {
		return bad
	}
	if len(arr) == 0 {
		if n == 0 {
			return nil
		}
		return bad
	}
	if len(arr) != 1 {
		return bad
	}
	inner, _ := arr[0].([]any)
	if len(inner) != n {
		return bad
	}
	seen := map[string]bool{}
	for _, x := range inner {
		s := fmt.Sprint(x)
		if seen[s] {
			return bad
		}
		seen[s] = true
	}
	return nil
}

func isAggregateCall(n node) bool {
	if n.str("class") != "FUNCTION" {
		return false
	}
	_, ok := aggregateFuncs[strings.ToLower(n.str("function_name"))]
	return ok
}

// groupable refuses group keys that would expose a unit or an attribute.
func groupable(e *expr, pos int) error {
	if p := e.pos; p > 0 && pos == 0 {
		pos = p
	}
	for _, c := range e.columns() {
		switch c.col.Role {
		case sluice.RoleUnit:
			return refuse("sql.group_by_unit", pos, "column %s is the privacy unit and cannot be grouped by or output", c.col.Name)
		case sluice.RoleAttribute:
			return refuse("sql.group_by_attribute", pos, "column %s is an attribute: it may be used in filters only", c.col.Name)
		case sluice.RoleMeasure:
			if !buckets(e) {
				return refuse("sql.group_by_measure", pos, "grouping by the measure %s needs a bucket: floor, ceil, round, trunc or CASE, e.g. floor(%s / 1000) * 1000", c.col.Name, c.col.Name)
			}
		}
	}
	return nil
}

// buckets reports whether a group key over a measure coarsens it: it
// contains a CASE or a rounding function.
func buckets(e *expr) bool {
	found := false
	e.walk(func(x *expr) {
		switch {
		case x.kind == eCase:
			found = true
		case x.kind == eFunc && (x.name == "floor" || x.name == "ceil" || x.name == "ceiling" || x.name == "round" || x.name == "trunc"):
			found = true
		}
	})
	return found
}

// topQuery resolves aggregates and post-processing of the outermost SELECT.
type topQuery struct {
	a  *analyzer
	sc *scope
}

func (t *topQuery) aggregate(n node) (*aggSpec, error) {
	pos := n.pos()
	name := strings.ToLower(n.str("function_name"))
	if err := n.only(name+"(…)", pos, "function_name", "children", "distinct", "filter", "order_bys", "is_operator"); err != nil {
		return nil, err
	}
	if ob := n.child("order_bys"); ob != nil && len(ob.list("orders")) > 0 {
		return nil, refuse("sql.unsupported", pos, "ORDER BY inside %s(…) is not supported", name)
	}
	children := n.list("children")
	args := make([]*expr, 0, len(children))
	for _, c := range children {
		e, err := t.a.expr(c, t.sc, func(fn node) (*expr, error) {
			return nil, refuse("sql.nested_aggregate", fn.pos(), "aggregates cannot be nested")
		})
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	var filter *expr
	if f := n.child("filter"); f != nil {
		e, err := t.a.rowExpr(f, t.sc)
		if err != nil {
			return nil, err
		}
		filter = e
	}
	wrap := func(x *expr) *expr {
		if filter == nil {
			return x
		}
		null := &expr{kind: eConst, c: &constant{typ: "NULL", null: true}}
		return &expr{kind: eCase, args: []*expr{filter, x, null}, pos: x.pos}
	}
	distinct := n.flag("distinct")
	ag := &aggSpec{orig: name, pos: pos}
	want := func(k int) error {
		if len(args) != k {
			return refuse("sql.arity", pos, "%s takes %d argument(s), got %d", name, k, len(args))
		}
		return nil
	}
	switch kind := aggregateFuncs[name]; kind {
	case "count":
		if name == "count_star" {
			ag.fn = sluice.AggCount
			if filter != nil {
				ag.arg = wrap(&expr{kind: eConst, c: &constant{typ: "INTEGER", num: big.NewRat(1, 1)}})
			}
			ag.orig = "count"
			return ag, nil
		}
		if err := want(1); err != nil {
			return nil, err
		}
		if distinct {
			if !isUnit(args[0]) {
				return nil, refuse("sql.count_distinct", pos, "COUNT(DISTINCT …) is supported only for the privacy unit")
			}
			if filter != nil {
				return nil, refuse("sql.count_distinct", pos, "COUNT(DISTINCT unit) FILTER (…) is not supported; filter in WHERE")
			}
			ag.fn = sluice.AggCountUnits
			return ag, nil
		}
		ag.fn = sluice.AggCount
		ag.arg = wrap(args[0])
		return ag, nil
	case "sum", "avg", "var", "stddev":
		if distinct {
			return nil, refuse("sql.distinct_aggregate", pos, "%s(DISTINCT …) is not supported", name)
		}
		if err := want(1); err != nil {
			return nil, err
		}
		ag.fn = sluice.AggFunc(kind)
		ag.pop = strings.HasSuffix(name, "_pop")
		ag.arg = wrap(args[0])
	case "quantile":
		if distinct {
			return nil, refuse("sql.distinct_aggregate", pos, "%s(DISTINCT …) is not supported", name)
		}
		ag.fn = sluice.AggQuantile
		switch name {
		case "median", "min", "max":
			if err := want(1); err != nil {
				return nil, err
			}
			ag.q = map[string]float64{"median": 0.5, "min": 0, "max": 1}[name]
		default:
			if err := want(2); err != nil {
				return nil, err
			}
			q := args[1]
			if q.kind != eConst || q.c.num == nil {
				return nil, refuse("sql.quantile", q.pos, "the rank of %s must be a number between 0 and 1", name)
			}
			f, _ := q.c.num.Float64()
			if f < 0 || f > 1 {
				return nil, refuse("sql.quantile", q.pos, "the rank of %s must be between 0 and 1, got %g", name, f)
			}
			ag.q = f
		}
		ag.arg = wrap(args[0])
	}
	iv, err := ag.arg.bounds()
	if err != nil {
		return nil, err
	}
	if !(iv.lo < iv.hi) {
		return nil, refuse("sql.unbounded", pos, "the argument of %s has an empty range [%g, %g]", name, iv.lo, iv.hi)
	}
	ag.iv = iv
	return ag, nil
}

func (a *aggSpec) defaultName() string {
	if a.fn == sluice.AggCountUnits {
		return "count_units"
	}
	if a.arg == nil {
		return "count"
	}
	cols := a.arg.columns()
	if a.arg.kind == eCol && len(cols) == 1 {
		return a.orig + "_" + cols[0].col.Name
	}
	return a.orig
}

func (a *aggSpec) plan(name string) sluice.Aggregate {
	p := sluice.Aggregate{Name: name, Func: a.fn, Original: a.orig, Quantile: a.q, Pop: a.pop}
	if a.arg != nil {
		p.Arg = a.arg.sql()
		p.SQL = a.orig + "(" + p.Arg + ")"
	} else if a.fn == sluice.AggCountUnits {
		p.SQL = "count(DISTINCT unit)"
	} else {
		p.SQL = "count(*)"
	}
	if a.fn != sluice.AggCount && a.fn != sluice.AggCountUnits {
		p.Lower, p.Upper, p.Scale = a.iv.lo, a.iv.hi, a.iv.scale
	}
	return p
}

// outputRef resolves an ORDER BY or HAVING operand to a released column.
func (t *topQuery) outputRef(n node, plan *sluice.Plan, an *Analysis) (int, error) {
	if n == nil {
		return 0, refuse("sql.malformed", 0, "malformed ORDER BY")
	}
	pos := n.pos()
	switch {
	case n.str("class") == "CONSTANT":
		c, err := decodeConstant(n)
		if err != nil {
			return 0, err
		}
		if c.num == nil || !c.num.IsInt() || !c.num.Num().IsInt64() {
			return 0, refuse("sql.order_by", pos, "ORDER BY a constant is not supported")
		}
		i := int(c.num.Num().Int64())
		if i < 1 || i > len(plan.Outputs) {
			return 0, refuse("sql.order_by", pos, "ORDER BY %d: the SELECT list has %d items", i, len(plan.Outputs))
		}
		return i - 1, nil
	case n.str("class") == "COLUMN_REF" && len(n.strings("column_names")) == 1:
		name := n.strings("column_names")[0]
		for i, o := range plan.Outputs {
			if strings.EqualFold(o.Name, name) {
				return i, nil
			}
		}
	case isAggregateCall(n):
		ag, err := t.aggregate(n)
		if err != nil {
			return 0, err
		}
		for i, o := range plan.Outputs {
			if o.Agg >= 0 && an.aggs[o.Agg].key() == ag.key() {
				return i, nil
			}
		}
		return 0, refuse("sql.post_processing", pos, "%s is not in the SELECT list; HAVING and ORDER BY may only use released columns (selecting it costs budget)", ag.orig)
	}
	e, err := t.a.rowExpr(n, t.sc)
	if err != nil {
		return 0, err
	}
	for i, o := range plan.Outputs {
		if o.Group >= 0 && an.groups[o.Group].sql() == e.sql() {
			return i, nil
		}
	}
	return 0, refuse("sql.post_processing", pos, "HAVING and ORDER BY may only use released columns")
}

// condition resolves HAVING into a predicate over released values.
func (t *topQuery) condition(n node, plan *sluice.Plan, an *Analysis) (*sluice.Condition, error) {
	pos := n.pos()
	switch n.str("class") {
	case "CONJUNCTION":
		op := "and"
		if n.str("type") == "CONJUNCTION_OR" {
			op = "or"
		}
		c := &sluice.Condition{Op: op, Out: -1}
		for _, ch := range n.list("children") {
			x, err := t.condition(ch, plan, an)
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, x)
		}
		return c, nil
	case "OPERATOR":
		ch := n.list("children")
		switch n.str("type") {
		case "OPERATOR_NOT":
			if len(ch) != 1 {
				return nil, refuse("sql.malformed", pos, "malformed NOT")
			}
			x, err := t.condition(ch[0], plan, an)
			if err != nil {
				return nil, err
			}
			return &sluice.Condition{Op: "not", Out: -1, Args: []*sluice.Condition{x}}, nil
		case "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL":
			if len(ch) != 1 {
				return nil, refuse("sql.malformed", pos, "malformed IS NULL")
			}
			out, err := t.outputRef(ch[0], plan, an)
			if err != nil {
				return nil, err
			}
			op := "is_null"
			if n.str("type") == "OPERATOR_IS_NOT_NULL" {
				op = "is_not_null"
			}
			return &sluice.Condition{Op: op, Out: out}, nil
		}
	case "COMPARISON":
		ops := map[string]string{"COMPARE_EQUAL": "=", "COMPARE_NOTEQUAL": "<>", "COMPARE_LESSTHAN": "<", "COMPARE_GREATERTHAN": ">", "COMPARE_LESSTHANOREQUALTO": "<=", "COMPARE_GREATERTHANOREQUALTO": ">="}
		flip := map[string]string{"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
		op, ok := ops[n.str("type")]
		if !ok {
			break
		}
		l, r := n.child("left"), n.child("right")
		if l != nil && l.str("class") == "CONSTANT" {
			l, r = r, l
			op = flip[op]
		}
		if r == nil || r.str("class") != "CONSTANT" {
			return nil, refuse("sql.having", pos, "HAVING compares a released column with a constant")
		}
		out, err := t.outputRef(l, plan, an)
		if err != nil {
			return nil, err
		}
		c, err := decodeConstant(r)
		if err != nil {
			return nil, err
		}
		var v any
		switch {
		case c.num != nil:
			f, _ := c.num.Float64()
			v = f
		case c.isBool:
			v = c.b
		case c.null:
			v = nil
		default:
			v = c.str
		}
		return &sluice.Condition{Op: op, Out: out, Value: v}, nil
	}
	return nil, refuse("sql.having", pos, "HAVING supports AND, OR, NOT, IS [NOT] NULL and comparisons of released columns with constants")
}

// columnUses lists the dataset columns the query reads, and how.
func (an *Analysis) columnUses() []sluice.ColumnUse {
	seen := map[string]bool{}
	var out []sluice.ColumnUse
	add := func(e *expr, usage string) {
		if e == nil {
			return
		}
		for _, c := range e.columns() {
			k := c.rel.ds.ID + "." + c.col.Name + "." + usage
			if !seen[k] {
				seen[k] = true
				out = append(out, sluice.ColumnUse{Dataset: c.rel.ds.ID, Column: c.col.Name, Role: c.col.Role, Usage: usage})
			}
		}
	}
	for _, r := range an.rels {
		add(&expr{kind: eCol, col: &colRef{rel: r, col: r.ds.Column(r.ds.Unit)}}, "unit")
	}
	for _, f := range an.filters {
		add(f, "filter")
	}
	for _, g := range an.groups {
		add(g, "group")
	}
	for _, a := range an.aggs {
		add(a.arg, "aggregate")
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dataset != out[j].Dataset {
			return out[i].Dataset < out[j].Dataset
		}
		if out[i].Column != out[j].Column {
			return out[i].Column < out[j].Column
		}
		return out[i].Usage < out[j].Usage
	})
	return out
}

// digest hashes the canonical form of the query: the flattened FROM, the
// filters, keys, aggregates and post-processing. Aliases, whitespace,
// subquery nesting and select-list naming do not change it.
func (an *Analysis) digest(mask bool) string {
	m := func(s string) string {
		if mask {
			return maskConstants(s)
		}
		return s
	}
	var b strings.Builder
	for _, r := range an.rels {
		fmt.Fprintf(&b, "from %s %s@%s\n", r.alias, r.ds.ID, r.ds.Version)
	}
	fs := make([]string, 0, len(an.filters))
	for _, f := range an.filters {
		for _, c := range conjuncts(f) {
			fs = append(fs, m(c.sql()))
		}
	}
	sort.Strings(fs)
	for _, f := range fs {
		fmt.Fprintf(&b, "where %s\n", f)
	}
	// Keys and aggregate arguments are masked too: a predicate moved into
	// FILTER (WHERE …) or a CASE must not make each differencing query a
	// shape of its own (found by review).
	for _, g := range an.groups {
		fmt.Fprintf(&b, "group %s\n", m(g.sql()))
	}
	for _, a := range an.aggs {
		fmt.Fprintf(&b, "agg %s\n", m(a.key()))
	}
	p := an.Plan
	for _, o := range p.Outputs {
		fmt.Fprintf(&b, "out %d %d\n", o.Group, o.Agg)
	}
	if p.Having != nil {
		h, _ := json.Marshal(p.Having)
		fmt.Fprintf(&b, "having %s\n", h)
	}
	for _, o := range p.OrderBy {
		fmt.Fprintf(&b, "order %d %t\n", o.Out, o.Desc)
	}
	fmt.Fprintf(&b, "limit %d\n", p.Limit)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Limits on the arguments that set how much work a function does per row.
const (
	maxPadLength   = 1000 // lpad, rpad: the result's length
	maxReplacement = 256  // replace: the replacement's length
)

// boundedCost refuses calls whose work per row an analyst could make large
// and data-dependent: lpad(x, CASE WHEN <row fact> THEN 2e7 ELSE 1 END, …)
// takes seconds on one row and none on the others, so the run time (or a
// timeout) would reveal the fact, with no noise. The length of lpad and
// rpad must be a constant of at most maxPadLength, and replace's
// replacement a constant string of at most maxReplacement bytes, so one
// row costs at most a small constant factor more than its input.
func boundedCost(name string, args []*expr, pos int) error {
	at := func(e *expr) int {
		if e.pos > 0 {
			return e.pos
		}
		return pos
	}
	switch name {
	case "lpad", "rpad":
		c := args[1].c
		if args[1].kind != eConst || c == nil || c.null || c.num == nil || !c.num.IsInt() || c.num.Sign() < 0 || c.num.Cmp(big.NewRat(maxPadLength, 1)) > 0 {
			return refuse("sql.function_cost", at(args[1]), "the length of %s must be a constant integer from 0 to %d", name, maxPadLength)
		}
	case "replace":
		c := args[2].c
		if args[2].kind != eConst || c == nil || c.null || c.typ != "VARCHAR" || len(c.str) > maxReplacement {
			return refuse("sql.function_cost", at(args[2]), "the replacement of replace must be a constant string of at most %d bytes", maxReplacement)
		}
	}
	// Calls that lengthen text compound when nested, directly or through
	// subqueries: three replace() levels turn one byte into 16 MiB. Bound
	// the whole expression, not each call.
	switch name {
	case "replace", "||", "concat", "lpad", "rpad", "strftime":
		tb := textBound(&expr{kind: eFunc, name: name, args: args})
		if tb.perByte > maxTextGrowth || tb.extra > maxTextExtra {
			return refuse("sql.function_cost", pos, "%s(…) could make a row's text up to %.0f times its longest value plus %.0f bytes; at most %d times plus %d bytes are allowed (nested replace, concat or padding multiply)",
				name, tb.perByte, tb.extra, maxTextGrowth, maxTextExtra)
		}
	case "regexp_matches", "contains", "strpos", "instr", "~~", "!~~", "~~*", "!~~*":
		// Their work grows with the text times the pattern (a regular
		// expression's states, a needle tried at every position): both
		// must stay short, or one row could take seconds.
		text, pattern := textBound(args[0]), textBound(args[1])
		if pattern.perByte > 1 || pattern.extra > maxPattern {
			return refuse("sql.function_cost", at(args[1]), "the pattern of %s must be a column or at most %d bytes of text", name, maxPattern)
		}
		if text.perByte > maxSearchedGrowth || text.extra > maxSearchedExtra {
			return refuse("sql.function_cost", at(args[0]), "%s searches text that could reach %.0f times its longest value plus %.0f bytes; at most %d times plus %d bytes are allowed",
				name, text.perByte, text.extra, maxSearchedGrowth, maxSearchedExtra)
		}
	}
	return nil
}

// Limits on how long an expression's text can grow against the longest
// value it reads: one replace() with the longest replacement, or a few
// hundred concatenations, but no nesting that multiplies.
const (
	maxTextGrowth = maxReplacement
	maxTextExtra  = 4 << 10
	// Searches (regexp_matches, LIKE, contains, strpos) multiply their
	// text's length by their pattern's: both are held shorter.
	maxPattern        = 64
	maxSearchedGrowth = 4
	maxSearchedExtra  = 1 << 10
)

// lengthBound bounds the length in bytes of an expression's text value:
// at most perByte × L + extra, where L is the length of the longest value
// of any column it reads. Values of other types count as short constants.
type lengthBound struct{ perByte, extra float64 }

// textBound returns a bound on the length of e's value as text. It is an
// over-estimate: what it cannot bound better it takes as the longest of
// its arguments.
func textBound(e *expr) lengthBound {
	const short = 64 // numbers, dates, booleans as text
	most := func(es []*expr) lengthBound {
		b := lengthBound{extra: short}
		for _, a := range es {
			x := textBound(a)
			b.perByte, b.extra = max(b.perByte, x.perByte), max(b.extra, x.extra)
		}
		return b
	}
	switch e.kind {
	case eCol:
		if e.col.text() {
			return lengthBound{perByte: 1}
		}
		return lengthBound{extra: short}
	case eConst:
		if e.c != nil && e.c.typ == "VARCHAR" {
			return lengthBound{extra: float64(len(e.c.str))}
		}
		return lengthBound{extra: short}
	case eFunc:
		switch e.name {
		case "||", "concat":
			var b lengthBound
			for _, a := range e.args {
				x := textBound(a)
				b.perByte, b.extra = b.perByte+x.perByte, b.extra+x.extra
			}
			return b
		case "replace":
			// Each occurrence of the search string (of at least one byte,
			// or of its constant length) becomes the replacement.
			x, r := textBound(e.args[0]), textBound(e.args[2])
			search := 1.0
			if c := e.args[1].c; e.args[1].kind == eConst && c != nil && c.typ == "VARCHAR" && len(c.str) > 0 {
				search = float64(len(c.str))
			}
			k := max(1, math.Ceil((r.perByte+r.extra)/search))
			return lengthBound{perByte: x.perByte * k, extra: x.extra * k}
		case "lpad", "rpad":
			// The length counts characters, of up to four bytes each.
			if c := e.args[1].c; e.args[1].kind == eConst && c != nil && c.num != nil {
				n, _ := c.num.Float64()
				return lengthBound{extra: 4 * max(n, 0)}
			}
			return most(e.args)
		case "strftime":
			// A format specifier of two bytes prints at most a month's or a
			// weekday's name, or a whole date and time (%c: 19 bytes).
			f := textBound(e.args[1])
			return lengthBound{perByte: f.perByte * 16, extra: f.extra*16 + short}
		}
		return most(e.args)
	case eCmp, eAnd, eOr, eNot, eIn, eNotIn, eIsNull, eIsNotNull, eBetween:
		return lengthBound{extra: short}
	}
	return most(e.args) // CASE, casts, try
}
