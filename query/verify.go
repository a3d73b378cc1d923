package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"sluice"
)

// internalFuncs are the functions the rewriter itself emits, beyond the
// analysts' scalar allowlist.
var internalFuncs = map[string]bool{
	"count_star": true, "count": true, "sum": true, "hash": true, "row_number": true, "random": true, "xor": true, "any_value": true,
	"list_max": true, "min": true, ">>": true, "len": true,
}

var internalTables = map[string]bool{"__rows": true, "__units": true, "__bounded": true, "__tm": true, "__th": true}

// Verify re-parses the bounded SQL with DuckDB's parser and checks the
// tree: one SELECT, reading only the plan's datasets, calling only allowed
// functions; and the row-level stage must re-analyse to exactly what was
// rendered (a fix-point), so the printer cannot have changed the meaning.
//
// A statement that passed is remembered by its shape (see verifiedKey), so
// a query of a shape seen before costs a hash instead of a re-parse.
func (p *Parser) Verify(ctx context.Context, an *Analysis, b *Bounded, cat Catalog) error {
	run, err := p.Verification(an, b)
	if err != nil || run == nil {
		return err
	}
	return run(ctx)
}

// Verification is Verify in two steps, for a caller that runs the second
// beside other work: run is nil when a statement of b's shape passed
// before (the first step costs a hash); otherwise run re-parses and checks
// b, and remembers its shape if it passed. Neither an nor b may change in
// between.
func (p *Parser) Verification(an *Analysis, b *Bounded) (run func(context.Context) error, err error) {
	key, err := verifiedKey(an, b)
	if err != nil {
		return nil, err
	}
	if _, ok := p.verified.Get(key); ok {
		return nil, nil
	}
	return func(ctx context.Context) error {
		if err := p.verify(ctx, an, b); err != nil {
			return err
		}
		p.verified.Add(key, struct{}{})
		return nil
	}, nil
}

// verifiedKey names everything verify reads, up to the values of analyst
// constants: the shapes of the two statements (Bounded.Shapes) and of the
// row stages the analysis renders (which carry its unit, keys, aggregate
// arguments and filters), and the definitions of the datasets it reads.
func verifiedKey(an *Analysis, b *Bounded) ([sha256.Size]byte, error) {
	h := sha256.New()
	sql, quantileSQL := b.Shapes()
	texts := []string{sql, quantileSQL, rowsTemplate(an, false).masked()}
	if b.QuantileSQL != "" { // verify reads the quantile row stage only then
		texts = append(texts, rowsTemplate(an, true).masked())
	}
	for _, s := range texts {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	enc := json.NewEncoder(h)
	for _, rel := range an.rels {
		if err := enc.Encode(rel.ds); err != nil {
			return [sha256.Size]byte{}, internal("fingerprint dataset %s: %v", rel.ds.ID, err)
		}
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key, nil
}

func (p *Parser) verify(ctx context.Context, an *Analysis, b *Bounded) error {
	allowed := map[string]bool{}
	for _, d := range an.Plan.Datasets {
		allowed[strings.ToLower(d)] = true
	}
	r := &renderer{an: an}
	for _, text := range []string{b.SQL, b.QuantileSQL} {
		if text == "" {
			continue
		}
		quantiles := text == b.QuantileSQL
		rows := r.rows(quantiles)
		prefix := rowStagePrefix(rows)
		if !strings.HasPrefix(text, prefix) {
			return internal("bounded SQL does not begin with its row stage")
		}
		// The row stage is parsed alone, and must end where it is written
		// to (see rowStage): then what follows it parses as it does after
		// any row stage. So the renderer's stages after it are parsed after
		// a row stage of their own (checkRest), and only where a statement
		// with the same stages, up to their numbers, did not pass before
		// (see layoutKey). Together: DuckDB parses the statement as one
		// SELECT whose tree names only allowed tables and functions, and
		// datasets only in the row stage (the optimized-plan check of
		// server mode looks at the row stages alone).
		rest := text[len(prefix):]
		layout, cacheable := layoutKey(allowed, rest)
		raw, rowsStart, rowsEnd, err := p.rowStage(ctx, rows)
		if err != nil {
			return err
		}
		if err := scanTree(raw, allowed, rowsStart, rowsEnd); err != nil {
			return err
		}
		if !cacheable || !p.layouts.Contains(layout) {
			if err := p.checkRest(ctx, allowed, rest); err != nil {
				return err
			}
		}
		// The row stage, where everything from the analyst lives, must
		// re-analyse to what was rendered (a fix-point). It is taken from
		// DuckDB's parse of the row stage, whose end is pinned, so what is
		// checked is what runs.
		rowsTree, err := cteQuery(raw[rowsStart:rowsEnd], "__rows")
		if err != nil {
			return err
		}
		a := &analyzer{cat: catalogOf(an)}
		rel, err := a.rowLevel(rowsTree, ctes{}, 0)
		if err != nil {
			return internal("bounded SQL does not re-analyse: %v", err)
		}
		if err := fixPoint(an, rel, quantiles); err != nil {
			return err
		}
		if !sameConjuncts(a.filters, rowFilters(an), an.rels) {
			return internal("bounded SQL filters differ from the plan")
		}
		if cacheable {
			p.layouts.Add(layout, struct{}{})
		}
	}
	return nil
}

// probeRowStage is the row stage DuckDB parses the renderer's other
// stages after (checkRest), and the tail after (rowStageTail).
const probeRowStage = "SELECT 1"

// checkRest parses rowStagePrefix(probeRowStage) + rest, rest being the
// renderer's stages after a statement's row stage: DuckDB must parse it as
// one SELECT whose first CTE is the row stage, and its tree may name only
// allowed functions and no dataset (scanTree: datasets only in the row
// stage, which holds none here).
func (p *Parser) checkRest(ctx context.Context, allowed map[string]bool, rest string) error {
	raw, err := p.serialize(ctx, rowStagePrefix(probeRowStage)+rest)
	if err != nil {
		return internal("re-parse of bounded SQL failed: %v", err)
	}
	start, end, err := cteSpan(raw, "__rows")
	if err != nil {
		return err
	}
	return scanTree(raw, allowed, start, end)
}

// rowStageQuery follows a row stage in the statement that re-parses it
// alone: rowStagePrefix(rows) + rowStageQuery.
const rowStageQuery = " SELECT * FROM __rows"

// rowStage parses rows alone as rowStagePrefix(rows) + rowStageQuery and
// returns the tree and where, in it, the row stage lies. DuckDB must have
// parsed the query after the row stage exactly as it parses it after any
// row stage (tailTemplate): then the row stage is one closed piece of the
// grammar, as it is before the renderer's other stages, which begin right
// after the same ")".
func (p *Parser) rowStage(ctx context.Context, rows string) (raw []byte, start, end int, err error) {
	prefix := rowStagePrefix(rows)
	raw, err = p.serialize(ctx, prefix+rowStageQuery)
	if err != nil {
		return nil, 0, 0, internal("re-parse of bounded SQL's row stage failed: %v", err)
	}
	if start, end, err = cteSpan(raw, "__rows"); err != nil {
		return nil, 0, 0, err
	}
	if !bytes.Equal(raw[end:], p.tail.at(len(prefix))) {
		return nil, 0, 0, internal("bounded SQL's row stage does not end where it is written to")
	}
	return raw, start, end, nil
}

// tailTemplate is what json_serialize_sql writes after the row stage's
// value for a statement rowStagePrefix(rows) + rowStageQuery: fixed text
// but for the positions of rowStageQuery's nodes, which follow the row
// stage's length.
type tailTemplate struct {
	parts []string // text between the positions
	offs  []int    // each position, relative to where rowStageQuery begins
}

const queryLocation = `"query_location":`

// rowStageTail learns the tail from DuckDB's parse of a row stage.
func (p *Parser) rowStageTail(ctx context.Context) (tailTemplate, error) {
	prefix := rowStagePrefix(probeRowStage)
	raw, err := p.serialize(ctx, prefix+rowStageQuery)
	if err != nil {
		return tailTemplate{}, fmt.Errorf("open parser: parse a row stage: %w", err)
	}
	_, end, err := cteSpan(raw, "__rows")
	if err != nil {
		return tailTemplate{}, fmt.Errorf("open parser: parse a row stage: %w", err)
	}
	var t tailTemplate
	rest := string(raw[end:])
	for {
		i := strings.Index(rest, queryLocation)
		if i < 0 {
			t.parts = append(t.parts, rest)
			return t, nil
		}
		i += len(queryLocation)
		j := i
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(rest[i:j])
		if err != nil {
			return tailTemplate{}, fmt.Errorf("open parser: unknown layout of a row stage's parse: %.200s", raw[end:])
		}
		t.parts = append(t.parts, rest[:i])
		t.offs = append(t.offs, n-len(prefix))
		rest = rest[j:]
	}
}

// at returns the tail after a row stage prefix of n bytes.
func (t tailTemplate) at(n int) []byte {
	var b []byte
	for i, part := range t.parts {
		b = append(b, part...)
		if i < len(t.offs) {
			b = strconv.AppendInt(b, int64(n+t.offs[i]), 10)
		}
	}
	return b
}

// layoutKey names the renderer's stages after a row stage, rest, with each
// number in it masked, and the datasets the statement may read; ok is
// false if rest holds a quote, which could make a digit part of a name.
//
// Verify checks of those stages that the statement is one SELECT, that
// they read only the renderer's own tables (no dataset: those only in the
// row stage) and call only allowed functions. Neither the value of a
// number nor the row stage changes that: a number stays a number token of
// its kind (a digit run glued to a letter or '_' is part of a name and is
// kept), and a row stage that DuckDB parses, alone, as a closed piece
// ending at the same ")" (Parser.rowStage) leaves the parser in the same
// state for what follows. So a statement whose rest has the key of one
// that passed needs only its row stage checked.
func layoutKey(datasets map[string]bool, rest string) (key [sha256.Size]byte, ok bool) {
	if strings.ContainsAny(rest, "'\"\x00") {
		return key, false
	}
	h := sha256.New()
	names := make([]string, 0, len(datasets))
	for d := range datasets {
		names = append(names, d)
	}
	slices.Sort(names)
	for _, d := range names {
		fmt.Fprintf(h, "%d:%s|", len(d), d)
	}
	masked := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c < '0' || c > '9' {
			masked = append(masked, c)
			continue
		}
		if i > 0 && isNameByte(rest[i-1]) {
			masked = append(masked, c)
			continue
		}
		masked = append(masked, '#')
		for i+1 < len(rest) && rest[i+1] >= '0' && rest[i+1] <= '9' {
			i++
		}
	}
	h.Write(masked)
	h.Sum(key[:0])
	return key, true
}

// isNameByte reports whether c can continue an unquoted name (letters,
// digits, '_', '$' and any byte of a non-ASCII character).
func isNameByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// cteQuery decodes the query node of a CTE whose serialized value (as
// cteSpan locates it) is value. Only that CTE is decoded into a tree; the
// rest of the statement is checked by scanTree.
func cteQuery(value []byte, name string) (node, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, internal("re-parse of bounded SQL failed: %v", err)
	}
	q := node(v).child("query").child("node")
	if q == nil {
		return nil, internal("bounded SQL's %s stage has no query", name)
	}
	return q, nil
}

// cteSpan returns where, in raw, the value of the statement's first CTE
// lies, which must be named name and be the only CTE of that name anywhere
// in the statement. It is located by the serializer's fixed layout, so a
// different layout fails closed.
func cteSpan(raw []byte, name string) (start, end int, err error) {
	var head []byte
	for _, typ := range []string{"SELECT_NODE", "SET_OPERATION_NODE"} { // UNION ALL of quantiles
		h := []byte(`{"error":false,"statements":[{"node":{"type":"` + typ + `","cte_map":{"map":[{"key":"` + name + `","value":`)
		if bytes.HasPrefix(raw, h) {
			head = h
		}
	}
	if head == nil {
		return 0, 0, internal("bounded SQL does not begin with its %s stage", name)
	}
	if n := bytes.Count(raw, []byte(`"key":"`+name+`"`)); n != 1 {
		return 0, 0, internal("bounded SQL defines %s %d times", name, n)
	}
	n := valueEnd(raw[len(head):])
	if n < 0 {
		return 0, 0, internal("re-parse of bounded SQL failed: malformed %s stage", name)
	}
	return len(head), len(head) + n, nil
}

// valueEnd returns the length of the JSON object or array raw begins with,
// skipping strings; -1 if it does not end.
func valueEnd(raw []byte) int {
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') {
		return -1
	}
	depth, inString := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// stringPairs calls fn for each "key":"value" pair of serialized JSON
// whose value is a string, in one pass. Inside a JSON string every quote
// is escaped, so an unescaped `":"` only separates a real key from its
// string value; keys of DuckDB's trees hold no escapes.
//
// at is the offset of the key's opening quote. key and value share raw's
// memory instead of copying it (a tree has thousands of pairs): raw must
// not change while they are in use.
func stringPairs(raw []byte, fn func(key, value string, at int) error) error {
	view := func(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
	sep := []byte(`":"`)
	for i := 0; ; {
		j := bytes.Index(raw[i:], sep)
		if j < 0 {
			return nil
		}
		at := i + j
		if at == 0 || raw[at-1] == '\\' {
			i = at + 1
			continue
		}
		ks := bytes.LastIndexByte(raw[:at], '"')
		start := at + len(sep)
		end := start
		for end < len(raw) && raw[end] != '"' {
			if raw[end] == '\\' {
				end++
			}
			end++
		}
		if end > len(raw) {
			end = len(raw)
		}
		if ks >= 0 {
			if err := fn(view(raw[ks+1:at]), view(raw[start:end]), ks); err != nil {
				return err
			}
		}
		i = end
	}
}

// scanTree checks a serialized tree of rendered SQL: only allowed tables
// and functions, no table functions, subquery expressions, parameters or
// qualified table names, no set operation but UNION ALL.
func scanTree(raw []byte, datasets map[string]bool, rowsStart, rowsEnd int) error {
	err := stringPairs(raw, func(key, v string, at int) error {
		switch key {
		case "table_name":
			name := strings.ToLower(v)
			switch {
			case datasets[name]:
				if at < rowsStart || at >= rowsEnd {
					return internal("bounded SQL reads %s outside its row stage", name)
				}
			case !internalTables[name] && !strings.HasPrefix(name, "__sample"):
				return internal("bounded SQL reads %s, which the plan does not", name)
			}
		case "function_name":
			name := strings.ToLower(v)
			if _, ok := scalarFuncs[name]; !ok && !internalFuncs[name] {
				return internal("bounded SQL calls %s", name)
			}
		case "class":
			switch v {
			case "SUBQUERY", "PARAMETER", "LAMBDA", "LAMBDA_REF", "POSITIONAL_REFERENCE", "COLLATE":
				return internal("bounded SQL contains %s", v)
			}
		case "type":
			switch v {
			case "TABLE_FUNCTION", "SHOW_REF", "PIVOT", "EXPRESSION_LIST", "RECURSIVE_CTE_NODE", "COLUMN_DATA":
				return internal("bounded SQL contains %s", v)
			}
		case "schema_name", "catalog_name":
			if v != "" {
				return internal("bounded SQL names a qualified table")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if bytes.Contains(raw, []byte(`"setop_all":false`)) {
		return internal("bounded SQL uses a set operation other than UNION ALL")
	}
	return nil
}

// fixPoint compares the re-analysed row stage with the analysis: the unit
// and the keys must render identically, and every aggregate argument must
// survive verbatim inside its clamped column.
func fixPoint(an *Analysis, rel *scopeRel, quantiles bool) error {
	cols := map[string]string{}
	for _, c := range rel.cols {
		cols[c.name] = c.e.sql()
	}
	if want := unitID(an).sql(); cols["__u"] != want {
		return internal("bounded SQL unit %s, want %s", cols["__u"], want)
	}
	if want := unitHash(an).sql(); cols["__uh"] != want {
		return internal("bounded SQL unit hash %s, want %s", cols["__uh"], want)
	}
	for i, g := range an.groups {
		if got, want := cols[fmt.Sprintf("__k%d", i)], guard(g).sql(); got != want {
			return internal("bounded SQL key %d is %s, want %s", i, got, want)
		}
	}
	for i, a := range an.aggs {
		if a.arg == nil || quantiles != (a.fn == sluice.AggQuantile) {
			continue
		}
		name := fmt.Sprintf("__x%d", i)
		if quantiles {
			name = fmt.Sprintf("__v%d", i)
		}
		got, ok := cols[name]
		if !ok {
			return internal("bounded SQL lacks %s", name)
		}
		if !strings.Contains(got, a.arg.sql()) {
			return internal("bounded SQL aggregate %d is %s, which does not contain %s", i, got, a.arg.sql())
		}
	}
	return nil
}

func sameConjuncts(got, want []*expr, rels []*baseRel) bool {
	set := func(es []*expr) map[string]int {
		m := map[string]int{}
		for _, e := range es {
			for _, c := range conjuncts(e) {
				m[c.sql()]++
			}
		}
		return m
	}
	g, w := set(got), set(want)
	// The rendered joins add t1.unit = tN.unit conditions.
	for _, r := range rels[1:] {
		k := fmt.Sprintf("(%s.%s = %s.%s)", rels[0].alias, quoteIdent(rels[0].ds.Unit), r.alias, quoteIdent(r.ds.Unit))
		if g[k] > 0 {
			g[k]--
			if g[k] == 0 {
				delete(g, k)
			}
		}
	}
	if len(g) != len(w) {
		return false
	}
	for k, v := range w {
		if g[k] != v {
			return false
		}
	}
	return true
}

// catalogOf serves the datasets an analysis already resolved.
type relCatalog map[string]*sluice.Dataset

func (c relCatalog) Get(id string) (*sluice.Dataset, error) {
	if d, ok := c[strings.ToLower(id)]; ok {
		return d, nil
	}
	return nil, sluice.Errorf(sluice.ENOTFOUND, "unknown dataset %s", id)
}

// catalogOf is the catalog the bounded SQL's row stage re-analyses under:
// the analysis's datasets, with the unit number and hash of their prepared
// files as unit columns (see unitID and unitHash).
func catalogOf(an *Analysis) Catalog {
	c := relCatalog{}
	for _, r := range an.rels {
		d := *r.ds
		d.Columns = append(slices.Clip(d.Columns), unitIDColumn, unitHashColumn)
		c[strings.ToLower(r.ds.ID)] = &d
	}
	return c
}

func internal(format string, args ...any) error {
	return &sluice.Error{Code: sluice.EINTERNAL, Step: sluice.StepAnalysis, Rule: "rewrite.verify", Message: fmt.Sprintf(format, args...)}
}

// Source is what a bound plan may scan for one dataset: the attached
// catalog it lives in and the columns it may read.
type Source struct {
	Catalog string
	Columns []string
}

// boundOperators are the logical operators a bound plan of bounded SQL may
// contain.
var boundOperators = map[string]bool{
	"LOGICAL_PROJECTION": true, "LOGICAL_FILTER": true, "LOGICAL_AGGREGATE_AND_GROUP_BY": true,
	"LOGICAL_WINDOW": true, "LOGICAL_COMPARISON_JOIN": true, "LOGICAL_GET": true, "LOGICAL_ORDER_BY": true,
	"LOGICAL_LIMIT": true, "LOGICAL_CTE_REF": true, "LOGICAL_MATERIALIZED_CTE": true, "LOGICAL_UNION": true,
	"LOGICAL_SET_OPERATION": true, "LOGICAL_EMPTY_RESULT": true, "LOGICAL_DUMMY_SCAN": true, "LOGICAL_DELIM_JOIN": true,
	"LOGICAL_DELIM_GET": true, "LOGICAL_ANY_JOIN": true, "LOGICAL_CROSS_PRODUCT": true, "LOGICAL_TOP_N": true,
	"LOGICAL_CHUNK_GET": true, "LOGICAL_EXPRESSION_GET": true, "LOGICAL_DEPENDENT_JOIN": true,
	"LOGICAL_UNNEST": true,
}

// CheckBoundPlan checks DuckDB's bound plan of bounded SQL
// (json_serialize_plan): every scan is a seq_scan of an allowed source,
// reading only its allowed columns, and no operator outside a small
// allowlist appears.
//
// The plan of a query runs to tens of kilobytes; decoding it whole into Go
// values cost a millisecond, and even validating it with encoding/json
// 0.4 ms. Instead every operator type is read in one pass
// over the text, and only the scans are decoded: the serializer writes an
// operator's type first, so a scan's object begins just before it (another
// layout fails closed), and the scans decoded must be every scan the text
// names.
func CheckBoundPlan(planJSON []byte, sources []Source) error {
	if !bytes.HasPrefix(planJSON, []byte(`{"error":false,"plans":[`)) {
		// Only a failure is decoded whole, for its message.
		var head struct {
			Error        bool   `json:"error"`
			ErrorMessage string `json:"error_message"`
		}
		if err := json.Unmarshal(planJSON, &head); err != nil {
			return internal("bound plan is not JSON: %v", err)
		}
		if head.Error {
			return internal("bound plan: %s", head.ErrorMessage)
		}
		return internal("bound plan has an unknown layout")
	}
	// The text must be one balanced object (strings skipped), so the pass
	// below sees every key where the serializer wrote it.
	if valueEnd(planJSON) != len(planJSON) {
		return internal("bound plan is not one JSON object")
	}
	allowed := map[string]map[string]bool{}
	for _, s := range sources {
		cols := map[string]bool{}
		for _, c := range s.Columns {
			cols[strings.ToLower(c)] = true
		}
		allowed[strings.ToLower(s.Catalog)] = cols
	}
	scans := 0
	err := stringPairs(planJSON, func(key, t string, at int) error {
		if key != "type" || !strings.HasPrefix(t, "LOGICAL_") {
			return nil
		}
		if !boundOperators[t] {
			return internal("bound plan contains %s", t)
		}
		if t != "LOGICAL_GET" {
			return nil
		}
		scans++
		if at < 1 || planJSON[at-1] != '{' {
			return internal("bound plan has a scan of an unknown layout")
		}
		obj := planJSON[at-1:]
		end := valueEnd(obj)
		if end < 0 {
			return internal("bound plan has a scan of an unknown layout")
		}
		dec := json.NewDecoder(bytes.NewReader(obj[:end]))
		dec.UseNumber()
		var scan map[string]any
		if err := dec.Decode(&scan); err != nil {
			return internal("bound plan scan is not JSON: %v", err)
		}
		return checkScan(node(scan), allowed)
	})
	if err != nil {
		return err
	}
	// A plan may scan nothing: the optimizer replaces a filter that no
	// row's statistics can satisfy with an empty result.
	if n := PlanScans(planJSON); n != scans {
		return internal("bound plan names %d scans, %d checked", n, scans)
	}
	return nil
}

// PlanScans counts the scans of a bound plan that CheckBoundPlan passed.
func PlanScans(planJSON []byte) int {
	return bytes.Count(planJSON, []byte(`"type":"LOGICAL_GET"`))
}

func checkScan(n node, allowed map[string]map[string]bool) error {
	if n.str("name") != "seq_scan" {
		return internal("bound plan scans %s", n.str("name"))
	}
	fd := n.child("function_data")
	if fd == nil {
		return internal("bound plan scan without table")
	}
	cols, ok := allowed[strings.ToLower(fd.str("catalog"))]
	if !ok || fd.str("table") != "data" || fd.str("schema") != "main" {
		return internal("bound plan scans %s.%s.%s, which is not authorised", fd.str("catalog"), fd.str("schema"), fd.str("table"))
	}
	names := n.strings("names")
	for _, ci := range n.list("column_indexes") {
		num, _ := ci["index"].(json.Number)
		idx, err := num.Int64()
		if err != nil || idx < 0 || idx >= int64(len(names)) {
			return internal("bound plan reads column index %v of %s", ci["index"], fd.str("catalog"))
		}
		if !cols[strings.ToLower(names[idx])] {
			return internal("bound plan reads column %s of %s, which is not authorised", names[idx], fd.str("catalog"))
		}
	}
	return nil
}
