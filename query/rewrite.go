package query

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"sluice"
)

// quantileLeaves is the resolution at which sampled values are sent to the
// quantile tree: (upper − lower) / quantileLeaves, the tree's leaves.
const quantileLeaves = sluice.QuantileLeaves

// Limits on contribution bounds, so that every per-unit partial fits the
// integer types used and the noise library's overflow checks hold
// (|bound|·10^scale ≤ 2^40 is enforced by the catalog).
const (
	MaxL0   = 1000
	MaxLinf = 1000
)

// Bounded is the SQL the sandbox runs for a query. Its result has one row
// per group: the group keys, then __units (distinct units after bounding),
// then three columns per plan aggregate (count, sum, sum of squares; see
// privacy.Partial for their meaning). QuantileSQL, when set, returns
// (keys…, __agg, __v, __n): sampled values per quantile aggregate, rounded
// to the quantile tree's resolution, with their counts.
//
// SQL and QuantileSQL are what Verify checks and Explain shows: the keyed
// hashes carry seedPlaceholder. Executable returns the statements to run,
// with the query's secret seed in its place. Keeping the seed out of the
// checked text lets the checks be remembered per query shape.
type Bounded struct {
	SQL         string
	QuantileSQL string
	// Tables lists, per dataset, the columns the sandbox must expose.
	Tables map[string][]string

	seed uint64
	// rowStage is the length of each statement's row stage prefix
	// ("WITH __rows AS (…)"), the only part holding analyst text.
	rowStage, quantileRowStage int
	// template and quantileTemplate are what Shapes masks by; rows and
	// quantileRows their row stages, what PlanShapes masks by.
	template, quantileTemplate template
	rows, quantileRows         template
}

// seedPlaceholder stands for the secret seed in the checked SQL. The
// renderer writes it only in keyed hashes, after the row stage.
const seedPlaceholder = "18446744073709551615::UBIGINT"

// Executable returns the statements the sandbox runs: SQL and QuantileSQL
// with the secret seed in place of seedPlaceholder. The row stage, which
// holds analyst text (string constants could spell anything), is kept
// byte for byte; only the renderer's own stages after it change.
func (b *Bounded) Executable() (sql, quantileSQL string) {
	seed := fmt.Sprintf("%d::UBIGINT", b.seed)
	put := func(text string, stage int) string {
		if text == "" {
			return ""
		}
		return text[:stage] + strings.ReplaceAll(text[stage:], seedPlaceholder, seed)
	}
	return put(b.SQL, b.rowStage), put(b.QuantileSQL, b.quantileRowStage)
}

// RowStages returns, for SQL and QuantileSQL (when set), a statement of its
// row stage alone: "WITH __rows AS (…) SELECT * FROM __rows". The row stage
// is the only part of a statement that reads the datasets, and the stages
// after it use no more of __rows than it has, so the columns the optimizer
// keeps for it bound what the whole statement reads. (DuckDB 1.5.6 cannot
// serialize the optimized plan of a join whose sides its optimizer swapped,
// such as the renderer's L0 join; the row stage has none unless the
// analyst's query joins, and the sandbox plans in an instance without
// that optimizer.)
func (b *Bounded) RowStages() []string {
	out := []string{"SELECT * FROM (" + rowsOf(b.SQL, b.rowStage) + ") AS __rows"}
	if b.QuantileSQL != "" {
		out = append(out, "SELECT * FROM ("+rowsOf(b.QuantileSQL, b.quantileRowStage)+") AS __rows")
	}
	return out
}

// rowsOf returns the row stage of a statement whose row stage prefix (see
// rowStagePrefix) ends at end.
func rowsOf(text string, end int) string {
	return text[len(rowStagePrefix(""))-1 : end-1]
}

// PlanShapes returns, for each statement of RowStages, what the bound-plan
// checks of it are remembered by: its row stage's shape (analyst constants
// masked by class, as in Shapes) with each number the renderer wrote
// masked as well, where every number token can be told apart (see
// maskNumbers); otherwise its shape. A bound plan's scans, and the columns
// the optimizer keeps for them, do not depend on a number's value: a
// number names no table, column or function (positional references, #n,
// are never masked). So a query whose new constants change only the
// numbers the renderer derives from them (a clamp bound) needs no new
// plan check. What the optimizer removes for some values is the caller's
// to notice (it compares the scans before and after optimization). The
// keys are never SQL to run.
func (b *Bounded) PlanShapes() []string {
	out := []string{b.rows.planShape(rowsOf(b.SQL, b.rowStage))}
	if b.QuantileSQL != "" {
		out = append(out, b.quantileRows.planShape(rowsOf(b.QuantileSQL, b.quantileRowStage)))
	}
	return out
}

// Rewrite renders the bounded SQL for an analysed query under the given
// contribution bounds. seed keys the per-unit choice of groups; it must be
// secret and fresh per query. It appears only in Executable's statements.
func (an *Analysis) Rewrite(ob sluice.Obligations, seed uint64) (*Bounded, error) {
	if ob.L0 < 1 || ob.L0 > MaxL0 {
		return nil, refuse("rewrite.l0", 0, "groups per unit (L0) must be between 1 and %d, got %d", MaxL0, ob.L0)
	}
	if ob.Linf < 1 || ob.Linf > MaxLinf {
		return nil, refuse("rewrite.linf", 0, "rows per unit per group (Linf) must be between 1 and %d, got %d", MaxLinf, ob.Linf)
	}
	// A unit's sum of at most L∞ values leaves the per-unit stage as DOUBLE
	// and is recovered exactly only below 2^50 in fixed point (see main).
	for _, a := range an.aggs {
		switch a.fn {
		case sluice.AggSum, sluice.AggAvg, sluice.AggVar, sluice.AggStddev:
			// In floating point: the fixed-point bounds of an argument
			// like x * 1e20 do not fit in int64 (found by review).
			f := pow10(a.iv.scale)
			m := math.Max(-math.Round(a.iv.lo*f), math.Round(a.iv.hi*f))
			if math.IsNaN(m) || math.IsInf(m, 0) || m*float64(ob.Linf) > 1<<50 {
				return nil, refuse("rewrite.bounds", a.pos, "%s(%s): %d rows of values up to %g exceed 2^50 units of 10^-%d, the most a unit's exact sum may reach; narrow the argument's bounds or lower L∞",
					a.orig, a.arg.sql(), ob.Linf, m/f, a.iv.scale)
			}
		}
	}
	r := &renderer{an: an, l0: ob.L0, linf: ob.Linf}
	b := &Bounded{Tables: an.tables(), seed: seed}
	var err error
	if b.SQL, err = r.main(); err != nil {
		return nil, err
	}
	b.rowStage = len(rowStagePrefix(r.rows(false)))
	// Templates of the statements: the row stage with placeholders for
	// its constants, then the renderer's own stages. Shapes expands them.
	b.rows = rowsTemplate(an, false)
	b.template = b.rows.then(b.SQL[b.rowStage:])
	for _, a := range an.aggs {
		if a.fn == sluice.AggQuantile {
			b.QuantileSQL = r.quantiles()
			b.quantileRowStage = len(rowStagePrefix(r.rows(true)))
			b.quantileRows = rowsTemplate(an, true)
			b.quantileTemplate = b.quantileRows.then(b.QuantileSQL[b.quantileRowStage:])
			break
		}
	}
	return b, nil
}

// Shapes returns SQL and QuantileSQL with every analyst constant replaced
// by a marker of its class (see constant.class): what the checks of the
// statements are remembered by. Analyst constants appear only in the row
// stage; what the renderer derives from their values (bounds, for one)
// stays in the text. Statements of one shape pass the re-parse alike and
// bind to the same scans, so a query that differs from one checked before
// only in such constants (another district, another date) is not checked
// again. The shapes are keys, never SQL to run.
//
// A statement is masked only where its template, expanded with the
// constants' own renderings, gives back exactly its text, so the shape
// determines the text but for those constants; any other statement
// (altered after Rewrite) is its own shape.
func (b *Bounded) Shapes() (sql, quantileSQL string) {
	return b.template.shape(b.SQL), b.quantileTemplate.shape(b.QuantileSQL)
}

// template is a statement with placeholders "\x00<n>\x00" for its
// constants (see sqlWriter).
type template struct {
	text   string
	consts []*constant
}

// rowsTemplate renders an analysis's row stage (see renderer.rows) as a
// template.
func rowsTemplate(an *Analysis, quantiles bool) template {
	var t template
	t.text = (&renderer{an: an, consts: &t.consts}).rows(quantiles)
	return t
}

// then returns the statement that begins with t as its row stage and goes
// on with rest, the renderer's own stages.
func (t template) then(rest string) template {
	return template{text: rowStagePrefix(t.text) + rest, consts: t.consts}
}

// shape returns the shape of stmt, the expansion of t: t expanded with each
// constant's class, or stmt itself if t does not expand to stmt.
func (t template) shape(stmt string) string {
	if !t.renders(stmt) {
		return stmt
	}
	return t.masked()
}

// planShape is shape with each number of t's own text masked too, where
// maskNumbers can.
func (t template) planShape(stmt string) string {
	if !t.renders(stmt) {
		return stmt
	}
	if !t.constantAfterName() {
		if s, ok := t.render(classMarker, maskNumbers); ok {
			return s
		}
	}
	return t.masked()
}

// constantAfterName reports whether a constant of t directly follows a
// byte that could end a name, so that a digit it begins with would be
// part of the name (the renderer writes no such text).
func (t template) constantAfterName() bool {
	text := t.text
	for {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			return false
		}
		if i > 0 && isNameByte(text[i-1]) {
			return true
		}
		j := strings.IndexByte(text[i+1:], 0) // the placeholder's end
		if j < 0 {
			return false
		}
		text = text[i+1+j+1:]
	}
}

// renders reports whether t, expanded with its constants' own renderings,
// is stmt.
func (t template) renders(stmt string) bool {
	if t.text == "" {
		return false
	}
	s, ok := t.expand(func(c *constant) string { return c.sql() })
	return ok && s == stmt
}

// masked returns t with each constant's class for its placeholder (see
// classMarker).
func (t template) masked() string {
	s, _ := t.expand(classMarker)
	return s
}

// classMarker is the marker of a constant's class, length-prefixed: no
// class can spell another's marker and what follows it.
func classMarker(c *constant) string {
	class := c.class()
	return fmt.Sprintf("\x00%d:%s", len(class), class)
}

// maskNumbers replaces each number token of seg, renderer text between two
// constants, by '#': a run of digits not glued to a name (t1, __x2 keep
// theirs). ok is false where a digit could be anything else or seg could
// hide where a token ends: seg begins with a digit (it follows a
// constant), holds a '#' (positional references), '$' (dollar quotes,
// parameters), '?', a backslash (escapes in E'…' strings), a comment, or a
// quote it does not close (quoted text is kept as it is, doubled quotes
// included).
func maskNumbers(seg string) (string, bool) {
	if seg != "" && seg[0] >= '0' && seg[0] <= '9' {
		return "", false
	}
	if strings.ContainsAny(seg, "#$?\\") || strings.Contains(seg, "--") || strings.Contains(seg, "/*") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for {
				k := strings.IndexByte(seg[j:], c)
				if k < 0 {
					return "", false
				}
				j += k + 1
				if j < len(seg) && seg[j] == c {
					j++
					continue
				}
				break
			}
			b.WriteString(seg[i:j])
			i = j - 1
		case c >= '0' && c <= '9' && (i == 0 || !isNameByte(seg[i-1])):
			b.WriteByte('#')
			for i+1 < len(seg) && seg[i+1] >= '0' && seg[i+1] <= '9' {
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// expand replaces each placeholder of t by lit of its constant; ok is false
// if a placeholder is malformed or names no constant.
func (t template) expand(lit func(*constant) string) (string, bool) {
	return t.render(lit, func(seg string) (string, bool) { return seg, true })
}

// render is expand with each piece of t's own text between placeholders
// passed through text, which may refuse it.
func (t template) render(lit func(*constant) string, text func(string) (string, bool)) (string, bool) {
	var b strings.Builder
	rest := t.text
	for {
		i := strings.IndexByte(rest, 0)
		if i < 0 {
			seg, ok := text(rest)
			if !ok {
				return "", false
			}
			b.WriteString(seg)
			return b.String(), true
		}
		seg, ok := text(rest[:i])
		if !ok {
			return "", false
		}
		b.WriteString(seg)
		j := strings.IndexByte(rest[i+1:], 0)
		if j < 0 {
			return "", false
		}
		n, err := strconv.Atoi(rest[i+1 : i+1+j])
		if err != nil || n < 0 || n >= len(t.consts) {
			return "", false
		}
		b.WriteString(lit(t.consts[n]))
		rest = rest[i+1+j+1:]
	}
}

// tables lists the columns of each dataset the bounded SQL reads.
func (an *Analysis) tables() map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	add := func(ds, col string) {
		if k := ds + "." + col; !seen[k] {
			seen[k] = true
			out[ds] = append(out[ds], col)
		}
	}
	// The row stage groups on the first dataset's unit id and joins the
	// others to it on their units.
	add(an.rels[0].ds.ID, sluice.UnitIDColumn)
	add(an.rels[0].ds.ID, sluice.UnitHashColumn)
	if len(an.rels) > 1 {
		for _, r := range an.rels {
			add(r.ds.ID, r.ds.Unit)
		}
	}
	for _, u := range an.Plan.Columns {
		if u.Usage != "unit" { // read as the unit id, or for the joins above
			add(u.Dataset, u.Column)
		}
	}
	return out
}

type renderer struct {
	an   *Analysis
	l0   int64
	linf int64
	// consts, when set, makes the row stage a template: constants become
	// placeholders for the constants collected here (see sqlWriter).
	consts *[]*constant
}

// sql renders an analyst expression of the row stage.
func (r *renderer) sql(e *expr) string {
	b := sqlWriter{consts: r.consts}
	e.render(&b)
	return b.String()
}

// rowStagePrefix is how every bounded statement begins.
func rowStagePrefix(rows string) string { return "WITH __rows AS (" + rows + ")" }

func pow10(s int) float64 { return math.Pow(10, float64(s)) }

// fixed returns the fixed-point bounds lo', hi' of an aggregate.
func fixed(a *aggSpec) (lo, hi int64) {
	f := pow10(a.iv.scale)
	return int64(math.Round(a.iv.lo * f)), int64(math.Round(a.iv.hi * f))
}

// rows renders the row-level stage: the unit, the keys and each
// aggregate's clamped argument, over the flattened FROM and WHERE.
func (r *renderer) rows(quantiles bool) string {
	an := r.an
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(r.sql(unitID(an)))
	b.WriteString(" AS __u, ")
	b.WriteString(r.sql(unitHash(an)))
	b.WriteString(" AS __uh")
	for i, g := range an.groups {
		fmt.Fprintf(&b, ", %s AS __k%d", r.sql(guard(g)), i)
	}
	for i, a := range an.aggs {
		if quantiles != (a.fn == sluice.AggQuantile) {
			continue
		}
		switch a.fn {
		case sluice.AggCount:
			if a.arg != nil {
				fmt.Fprintf(&b, ", %s AS __x%d", r.sql(guard(a.arg)), i)
			}
		case sluice.AggSum, sluice.AggAvg, sluice.AggVar, sluice.AggStddev:
			// Fixed point: the clamped value as DECIMAL(18, scale), whose
			// sums are exact integer arithmetic whatever the row order
			// (|x|·10^scale ≤ 2^40 by the catalog's limits). A DECIMAL
			// column of that scale needs no conversion at all, and DuckDB
			// sums it in 64-bit integers.
			v := r.sql(guard(a.arg))
			fmt.Fprintf(&b, ", %s AS __x%d", clampSQL(v, floatSQL(a.iv.lo), floatSQL(a.iv.hi),
				decimalSQL(floatSQL(a.iv.lo), a.iv.scale), decimalSQL(floatSQL(a.iv.hi), a.iv.scale), decimalSQL(v, a.iv.scale)), i)
		case sluice.AggQuantile:
			v := "TRY_CAST(" + r.sql(guard(a.arg)) + " AS DOUBLE)"
			lo, hi := floatSQL(a.iv.lo), floatSQL(a.iv.hi)
			fmt.Fprintf(&b, ", %s AS __v%d", clampSQL(v, lo, hi, lo, hi, v), i)
		}
	}
	b.WriteString(" FROM ")
	first := an.rels[0]
	b.WriteString(quoteIdent(first.ds.ID) + " AS " + first.alias)
	fu := first.alias + "." + quoteIdent(first.ds.Unit)
	for _, rel := range an.rels[1:] {
		fmt.Fprintf(&b, " JOIN %s AS %s ON (%s = %s.%s)", quoteIdent(rel.ds.ID), rel.alias, fu, rel.alias, quoteIdent(rel.ds.Unit))
	}
	if fs := rowFilters(an); len(fs) > 0 {
		b.WriteString(" WHERE ")
		if len(fs) == 1 {
			b.WriteString(r.sql(fs[0]))
		} else {
			b.WriteString(r.sql(&expr{kind: eAnd, args: fs}))
		}
	}
	return b.String()
}

// The columns a prepared file numbers and hashes its units in (the number
// is INTEGER up to 2^31 - 1 units, BIGINT past; nothing here depends on it).
var (
	unitIDColumn   = sluice.Column{Name: sluice.UnitIDColumn, Type: "INTEGER", Role: sluice.RoleUnit}
	unitHashColumn = sluice.Column{Name: sluice.UnitHashColumn, Type: "UBIGINT", Role: sluice.RoleUnit}
)

// unitID is the unit the bounded SQL groups on: the prepared file's number
// for the first dataset's unit (sluice.UnitIDColumn), one to one with the
// unit's values there and NULL where the unit is. Grouping and joining the
// per-unit stages on it is several times faster than on a credit code, and
// the row stage need not read the code at all.
//
// The number is a rank among all the units, so it never decides which
// groups a unit keeps: one unit more would renumber the units after it and
// change their choices (found by review: DuckDB's hash(…, seed) is the
// unseeded hash XOR a mask of the seed, so the choices of units are not
// independent draws). The choice hashes unitHash, a function of the unit's
// own value.
func unitID(an *Analysis) *expr {
	return &expr{kind: eCol, col: &colRef{rel: an.rels[0], col: &unitIDColumn}}
}

// unitHash is the prepared file's hash of the first dataset's unit value
// (sluice.UnitHashColumn), from which each unit's at most L0 groups are
// drawn (see hashKey).
func unitHash(an *Analysis) *expr {
	return &expr{kind: eCol, col: &colRef{rel: an.rels[0], col: &unitHashColumn}}
}

// clampSQL renders v clamped to [lo, hi]: loOut below lo, hiOut above hi,
// in otherwise (in renders v in the output's units), and NULL when v is
// NULL. Not least/greatest, which ignore a NULL argument and so would turn
// a missing value into a bound. NaN compares above every number in DuckDB
// and becomes hiOut.
func clampSQL(v, lo, hi, loOut, hiOut, in string) string {
	return fmt.Sprintf("CASE WHEN (%s < %s) THEN %s WHEN (%s > %s) THEN %s ELSE %s END", v, lo, loOut, v, hi, hiOut, in)
}

// decimalSQL renders v as the fixed-point type of a measure's values.
func decimalSQL(v string, scale int) string {
	return fmt.Sprintf("TRY_CAST(%s AS DECIMAL(18,%d))", v, scale)
}

// rowFilters are the row stage's conjuncts: the analyst's, guarded, and
// the unit's presence. A row without a unit belongs to no one the bounds
// could hold to, so it is left out of every statement.
func rowFilters(an *Analysis) []*expr {
	return append(guardedFilters(an.filters), guard(&expr{kind: eIsNotNull, args: []*expr{unitID(an)}}))
}

// guardedFilters splits the filters into conjuncts and guards each: a
// conjunct that fails at runtime is NULL, so the row is not counted.
func guardedFilters(filters []*expr) []*expr {
	var out []*expr
	for _, f := range filters {
		for _, c := range conjuncts(f) {
			out = append(out, guard(c))
		}
	}
	return out
}

func (r *renderer) keys(prefix string) string {
	var parts []string
	for i := range r.an.groups {
		parts = append(parts, fmt.Sprintf("%s__k%d", prefix, i))
	}
	return strings.Join(parts, ", ")
}

// bounded renders the L0 stage over the per-unit partials in from, which
// carry the unit __u and __h = hash(__u, keys, seed) >> 1: each unit keeps
// the L0 partials with the smallest keyed hashes — uniformly at random for
// a secret seed, independent of the data. The L0+1 smallest hashes of each
// unit are found with one aggregate (min(__h, L0+1), sorted, with repeats)
// and the partials are joined back to a threshold __t: cheaper than a
// window partitioned by unit. Both group and join on the unit itself, never
// on a hash of it: two units sharing a hash (DuckDB's hash(1::HUGEINT) =
// hash(2^64) for every seed) bounded as one would each keep at most L0
// groups, but adding one could evict the other's, so a neighbouring
// dataset would differ in 2·L0 groups (found by review; grouping on a
// 64-bit hash of the unit's text was about 8 % faster).
//
// Ties. DuckDB's hash combines unseeded hashes of its arguments, so two
// keys whose hashes collide (hash(1::HUGEINT) = hash(2^64), or crafted
// strings) tie for every seed. The threshold never lets a tie exceed L0: a
// unit with at most L0 groups keeps them all (__t is its largest hash);
// otherwise __t is the L0-th smallest hash, or one less when the (L0+1)-th
// equals it, so that no value at the threshold is shared with a group
// beyond the L0-th. Either way at most L0 groups have __h ≤ __t.
func (r *renderer) bounded(from string) string {
	m := func(i int64) string { return fmt.Sprintf("__tm.__m[%d]", i) }
	t := fmt.Sprintf("CASE WHEN (len(__tm.__m) <= %d) THEN list_max(__tm.__m) WHEN (%s = %s) THEN (%s - 1) ELSE %s END",
		r.l0, m(r.l0+1), m(r.l0), m(r.l0), m(r.l0))
	return fmt.Sprintf("__tm AS (SELECT __u, min(__h, %d) AS __m FROM %s GROUP BY __u), __th AS (SELECT __tm.__u, %s AS __t FROM __tm), __bounded AS (SELECT %s.* FROM %s JOIN __th ON (%s.__u = __th.__u) WHERE (%s.__h <= __th.__t))",
		r.l0+1, from, t, from, from, from, from)
}

// needsL0 reports whether the L0 stage can change anything. It cannot when
// every key has a declared domain whose combinations number at most L0: a
// unit then reaches at most L0 released groups whatever it holds (groups
// outside the domains are never released). The decision reads only the
// plan and the obligations, never the data.
func (r *renderer) needsL0() bool {
	if len(r.an.groups) == 0 {
		return false
	}
	if !r.an.Plan.PublicGroups {
		return true
	}
	combos := int64(1)
	for _, g := range r.an.Plan.Groups {
		combos *= int64(len(g.Domain))
		if combos > r.l0 {
			return true
		}
	}
	return false
}

// hashKey renders the keyed hash of a unit and its group (__h, 63 bits as
// BIGINT, for which DuckDB's min(x, n) is twice as fast as for UBIGINT),
// in a grouping by unit and keys. It is a function of the unit's own value
// (its hash __uh, the same in every row of the unit), the keys and the
// seed. The seed is mixed in by hashing the XOR of it and the unseeded
// hash, not passed to hash() as an argument, which would only XOR every
// unit's hashes with one mask.
func (r *renderer) hashKey() string {
	return fmt.Sprintf("TRY_CAST((hash(xor(hash(any_value(__uh), %s), %s)) >> 1) AS BIGINT) AS __h", r.keys(""), seedPlaceholder)
}

func (r *renderer) main() (string, error) {
	an := r.an
	var b strings.Builder
	b.WriteString(rowStagePrefix(r.rows(false)))
	// __units: one row per unit and group. The unit is carried on only for
	// the L0 stage; the final stage counts rows.
	b.WriteString(", __units AS (SELECT ")
	var cols []string
	if k := r.keys(""); k != "" {
		cols = append(cols, k)
	}
	for i, a := range an.aggs {
		switch a.fn {
		case sluice.AggCount:
			if a.arg == nil {
				cols = append(cols, fmt.Sprintf("count(*) AS __n%d", i))
			} else {
				cols = append(cols, fmt.Sprintf("count(__x%d) AS __n%d", i, i))
			}
		case sluice.AggSum, sluice.AggAvg:
			// The exact sum leaves as DOUBLE (a cheap conversion, where a
			// DECIMAL(38) to BIGINT cast divides in 128 bits); the final
			// stage recovers the integer exactly (see S below).
			cols = append(cols, fmt.Sprintf("count(__x%d) AS __n%d, TRY_CAST(sum(__x%d) AS DOUBLE) AS __s%d", i, i, i, i))
		case sluice.AggVar, sluice.AggStddev:
			y := fmt.Sprintf("TRY_CAST((__x%d * %s) AS BIGINT)", i, pow10SQL(a.iv.scale))
			cols = append(cols, fmt.Sprintf("count(__x%d) AS __n%d, TRY_CAST(sum(__x%d) AS DOUBLE) AS __s%d, sum((TRY_CAST(%s AS HUGEINT) * %s)) AS __q%d", i, i, i, i, y, y, i))
		}
	}
	if r.needsL0() {
		cols = append(cols, "__u", r.hashKey())
	}
	if len(cols) == 0 {
		cols = append(cols, "count(*) AS __n")
	}
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(" FROM __rows GROUP BY __u")
	if k := r.keys(""); k != "" {
		b.WriteString(", " + k)
	}
	b.WriteString(")")
	src := "__units"
	if r.needsL0() {
		b.WriteString(", " + r.bounded("__units"))
		src = "__bounded"
	}
	b.WriteString(" SELECT ")
	if k := r.keys(""); k != "" {
		b.WriteString(k + ", ")
	}
	b.WriteString("count(*) AS __units")
	L := r.linf
	for i, a := range an.aggs {
		n := fmt.Sprintf("__n%d", i)
		// scaled renders round(v · min(1, Linf/n)) per unit, clamped to
		// [lo, hi], summed exactly: v in integers when n ≤ Linf (v is then
		// small), in DOUBLE otherwise (rounded per unit, so the result is
		// still a function of each unit's own rows). A unit with no
		// non-NULL value (n = 0, v NULL) contributes 0, which lies in
		// [lo, hi]: coalesce before least/greatest, which would turn NULL
		// into a bound.
		scaled := func(vInt, vDouble string, lo, hi *big.Int) string {
			return fmt.Sprintf("coalesce(TRY_CAST(sum(least(greatest(coalesce(CASE WHEN %s <= %d THEN %s ELSE TRY_CAST(round(((%s * %d) / %s)) AS BIGINT) END, 0), %s), %s)) AS DOUBLE), 0)",
				n, L, vInt, vDouble, L, n, hugeSQL(lo), hugeSQL(hi))
		}
		zero := "0"
		c, s, q := zero, zero, zero
		// S: the unit's sum in integer units of 10^-scale. It left
		// the per-unit stage as DOUBLE v/10^scale of an integer v with
		// |v| ≤ Linf·max(|lo'|, |hi'|) ≤ 2^50 whenever n ≤ Linf (the only
		// case where the integer is used; Rewrite refuses larger bounds):
		// both roundings together err by less than |v|·2^-51 < 0.5, so
		// round() gives v back exactly.
		S := fmt.Sprintf("TRY_CAST(round((__s%d * %s)) AS BIGINT)", i, pow10SQL(a.iv.scale))
		Sd := fmt.Sprintf("(__s%d * %s)", i, pow10SQL(a.iv.scale))
		switch a.fn {
		case sluice.AggCount:
			c = fmt.Sprintf("CAST(coalesce(sum(least(%s, %d)), 0) AS BIGINT)", n, L)
		case sluice.AggSum:
			// A sum's release reads its sum only (privacy.Partial).
			lo, hi := fixed(a)
			s = scaled(S, Sd, big.NewInt(min(0, L*lo)), big.NewInt(max(0, L*hi)))
		case sluice.AggAvg, sluice.AggVar, sluice.AggStddev:
			lo, hi := fixed(a)
			C := big.NewInt(lo + hi)
			W := big.NewInt(hi - lo)
			LW := new(big.Int).Mul(big.NewInt(L), W)
			c = fmt.Sprintf("CAST(coalesce(sum(least(%s, %d)), 0) AS BIGINT)", n, L)
			d := fmt.Sprintf("((2 * %s) - (%s * %s))", S, n, hugeSQL(C))
			dd := fmt.Sprintf("((2 * %s) - (%s * %s))", Sd, n, floatSQL(float64(lo+hi)))
			s = scaled(d, dd, new(big.Int).Neg(LW), LW)
			if a.fn != sluice.AggAvg {
				C2 := new(big.Int).Mul(C, C)
				Q := fmt.Sprintf("__q%d", i)
				dq := fmt.Sprintf("(((4 * %s) - ((4 * %s) * TRY_CAST(%s AS HUGEINT))) + (%s * %s))", Q, hugeSQL(C), S, n, hugeSQL(C2))
				dqd := fmt.Sprintf("(((4 * TRY_CAST(%s AS DOUBLE)) - ((4 * %s) * %s)) + (%s * %s))", Q, floatSQL(float64(lo+hi)), Sd, n, floatSQL(float64(lo+hi)*float64(lo+hi)))
				q = scaled(dq, dqd, big.NewInt(0), new(big.Int).Mul(LW, W))
			}
		}
		fmt.Fprintf(&b, ", %s AS __c%d, %s AS __s%d, %s AS __q%d", c, i, s, i, q, i)
	}
	b.WriteString(" FROM " + src)
	if k := r.keys(""); k != "" {
		b.WriteString(" GROUP BY " + k)
	}
	return b.String(), nil
}

// pow10SQL renders 10^scale as an integer literal.
func pow10SQL(scale int) string {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil).String()
}

// hugeSQL renders an integer literal that may exceed BIGINT.
func hugeSQL(v *big.Int) string {
	if v.IsInt64() {
		if v.Sign() < 0 {
			return "(" + v.String() + ")"
		}
		return v.String()
	}
	return "TRY_CAST('" + v.String() + "' AS HUGEINT)"
}

// quantiles renders the sampling query for quantile aggregates: at most
// Linf rows per unit and group, from the same L0-bounded groups as the
// main query (same seed), rounded to the quantile tree's leaves.
func (r *renderer) quantiles() string {
	an := r.an
	var b strings.Builder
	b.WriteString(rowStagePrefix(r.rows(true)))
	keys := r.keys("")
	if r.needsL0() {
		b.WriteString(", __units AS (SELECT __u, " + keys + ", " + r.hashKey() + " FROM __rows GROUP BY __u, " + keys + ")")
		b.WriteString(", " + r.bounded("__units"))
	}
	var parts []string
	for i, a := range an.aggs {
		if a.fn != sluice.AggQuantile {
			continue
		}
		var s strings.Builder
		fmt.Fprintf(&s, ", __sample%d AS (SELECT ", i)
		if keys != "" {
			s.WriteString(r.keys("__r.") + ", ")
		}
		w := (a.iv.hi - a.iv.lo) / quantileLeaves
		fmt.Fprintf(&s, "least((%s + ((floor(((__r.__v%d - %s) / %s)) + 0.5) * %s)), %s) AS __v FROM __rows AS __r",
			floatSQL(a.iv.lo), i, floatSQL(a.iv.lo), floatSQL(w), floatSQL(w), floatSQL(a.iv.hi))
		if r.needsL0() {
			s.WriteString(" SEMI JOIN __bounded AS __b ON (__r.__u = __b.__u")
			for j := range an.groups {
				fmt.Fprintf(&s, " AND (__r.__k%d IS NOT DISTINCT FROM __b.__k%d)", j, j)
			}
			s.WriteString(")")
		}
		fmt.Fprintf(&s, " WHERE (__r.__v%d IS NOT NULL) QUALIFY row_number() OVER (PARTITION BY __r.__u", i)
		if keys != "" {
			s.WriteString(", " + r.keys("__r."))
		}
		fmt.Fprintf(&s, " ORDER BY random()) <= %d)", r.linf)
		b.WriteString(s.String())
		sel := "SELECT "
		if keys != "" {
			sel += keys + ", "
		}
		sel += fmt.Sprintf("%d AS __agg, __v, count(*) AS __n FROM __sample%d GROUP BY ", i, i)
		if keys != "" {
			sel += keys + ", "
		}
		sel += "__v"
		parts = append(parts, sel)
	}
	b.WriteString(" ")
	b.WriteString(strings.Join(parts, " UNION ALL "))
	return b.String()
}
