// Package importer checks a data owner's CSV or Parquet file against the
// dataset's manifest and, when nothing refuses it, writes it as the Parquet
// file the catalog serves. It runs on the host, in a trusted in-memory DuckDB,
// not in the sandbox.
//
// Every problem is reported at once, so an owner can fix a file in one pass:
// missing and extra columns, values that cannot be read as the manifest's
// type, measures outside their bounds, dimensions outside their domain, too
// many empty values, and several rows for one unit and period. The report
// never holds a value of a unit or identifier column: such problems are shown
// by row number only.
package importer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/duckdb/duckdb-go/v2" // also registers the "duckdb" driver

	"sluice"
	"sluice/storage"
)

// Out-of-bounds policies of a measure.
const (
	// Clamp counts values outside a measure's bounds and keeps the rows: the
	// sandbox clamps values to the bounds before aggregating anyway.
	Clamp = "clamp"
	// Refuse fails the import if any value is outside the measure's bounds.
	Refuse = "refuse"
)

// maxExamples is the number of offending rows a problem shows.
const maxExamples = 5

// maxOutsideValues is the number of values outside a domain a column shows.
const maxOutsideValues = 10

// Options are the owner's import rules, beyond the manifest.
type Options struct {
	// OutOfBounds maps a measure column to its policy for values outside its
	// bounds: Clamp (the default) or Refuse.
	OutOfBounds map[string]string
	// MaxNullRate maps a column to the largest fraction of empty values the
	// import accepts, between 0 and 1. The default is 1 (any), except for
	// the unit column: 0.
	MaxNullRate map[string]float64
	// RefuseDuplicates fails the import if two rows have the same unit and
	// period. They are reported either way.
	RefuseDuplicates bool
}

// validate checks the options against dataset d.
func (o Options) validate(d *sluice.Dataset) error {
	var errs []error
	for _, name := range sortedKeys(o.OutOfBounds) {
		c := d.Column(name)
		switch policy := o.OutOfBounds[name]; {
		case c == nil:
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "import options: out_of_bounds: %s has no column %q", d.ID, name))
		case c.Role != sluice.RoleMeasure:
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "import options: out_of_bounds: column %q is a %s, not a measure", name, c.Role))
		case policy != "" && policy != Clamp && policy != Refuse:
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "import options: out_of_bounds: column %q: policy %q must be %s or %s", name, policy, Clamp, Refuse))
		}
	}
	for _, name := range sortedKeys(o.MaxNullRate) {
		rate := o.MaxNullRate[name]
		switch {
		case d.Column(name) == nil:
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "import options: max_null_rate: %s has no column %q", d.ID, name))
		case !(rate >= 0 && rate <= 1):
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "import options: max_null_rate: column %q: %v must be between 0 and 1", name, rate))
		}
	}
	return errors.Join(errs...)
}

// policy returns the out-of-bounds policy of measure name.
func (o Options) policy(name string) string {
	if p := o.OutOfBounds[name]; p != "" {
		return p
	}
	return Clamp
}

// maxNullRate returns the largest null rate column c of d may have.
func (o Options) maxNullRate(d *sluice.Dataset, c *sluice.Column) float64 {
	if rate, ok := o.MaxNullRate[c.Name]; ok {
		return rate
	}
	if c.Role == sluice.RoleUnit || c.Name == d.Unit {
		return 0
	}
	return 1
}

// Import checks the local CSV or Parquet file src against dataset d's manifest
// and, unless a problem refuses it, writes it to dst as Parquet with exactly
// the manifest's columns, in manifest order, cast to the manifest's types.
//
// The format is chosen by src's extension: .csv (or .csv.gz) or .parquet. A
// CSV file must have a header line; its values are read as text and cast to
// the manifest's types, and a non-empty value that does not cast is a
// cast_failure, never a silent null. Columns of the file the manifest does not
// declare are reported and dropped.
//
// An import is refused when a manifest column is missing, a value does not
// cast, a value lies outside a dimension's declared domain, a column has more
// empty values than opts allows, a measure under the refuse policy has a value
// outside its bounds, or, with opts.RefuseDuplicates, two rows share a unit
// and period. A refused import writes nothing and returns the full report with
// an EINVALID *sluice.Error (rule "import.refused") naming each refusing
// column and count. Otherwise dst is written under dst+".tmp" and renamed into
// place, so a half-written file is never visible at dst.
//
// A CSV file is read as UTF-8, comma-separated, with double quotes; its
// dialect is not guessed. A file that cannot be read (a malformed CSV line, an
// unterminated quote, a corrupt Parquet file) is an EINVALID *sluice.Error
// (rule "import.malformed") with a nil report; for CSV it names the first
// malformed lines (1-based file lines, the header being line 1) and what is
// wrong with them, never their content. An invalid dataset or options, and
// failures to read or write, also return a nil report and the error.
func Import(ctx context.Context, src string, d *sluice.Dataset, dst string, opts Options) (*Report, error) {
	if d == nil {
		return nil, sluice.Errorf(sluice.EINVALID, "import: no dataset")
	}
	if err := storage.ValidateDataset(d); err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	if err := opts.validate(d); err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	format, err := sourceFormat(src)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	if strings.TrimSpace(dst) == "" {
		return nil, sluice.Errorf(sluice.EINVALID, "import %s: no destination", d.ID)
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	if absSrc == absDst {
		return nil, sluice.Errorf(sluice.EINVALID, "import %s: the destination is the source file %s", d.ID, src)
	}
	info, err := os.Stat(absSrc)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	if !info.Mode().IsRegular() {
		return nil, sluice.Errorf(sluice.EINVALID, "import %s: %s is not a regular file", d.ID, src)
	}
	if info.Size() == 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "import %s: %s is empty", d.ID, src)
	}
	if strings.ContainsAny(absSrc, "*?[]{}") {
		// DuckDB would read these as a glob pattern.
		return nil, sluice.Errorf(sluice.EINVALID, "import %s: the source path %s must not contain any of * ? [ ] { }", d.ID, src)
	}

	r := &Report{DatasetID: d.ID, Source: src, Format: format, Columns: []ColumnReport{}, Problems: []Problem{}}
	if r.SourceChecksum, err = Checksum(absSrc); err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	im, err := open(ctx, d, opts, r)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", d.ID, err)
	}
	defer im.close()
	if err := im.check(ctx, format, absSrc); err != nil {
		return nil, fmt.Errorf("import %s: check %s: %w", d.ID, src, err)
	}
	// The report and the checksum describe the file as it was read.
	if after, err := os.Stat(absSrc); err != nil || after.Size() != info.Size() || !after.ModTime().Equal(info.ModTime()) {
		return nil, sluice.Errorf(sluice.EUNAVAILABLE, "import %s: %s changed while it was being read", d.ID, src)
	}
	for _, p := range r.Problems {
		if p.Refuses {
			r.Refused = true
		}
	}
	if r.Refused {
		return r, r.refusal()
	}
	if err := im.write(ctx, absDst); err != nil {
		return nil, fmt.Errorf("import %s: write %s: %w", d.ID, dst, err)
	}
	r.Output = dst
	return r, nil
}

// Checksum returns the SHA-256 of the file at path, in hex.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sourceFormat returns "csv" or "parquet" from a file name's extension.
func sourceFormat(src string) (string, error) {
	lower := strings.ToLower(src)
	switch {
	case strings.HasSuffix(lower, ".csv"), strings.HasSuffix(lower, ".csv.gz"):
		return "csv", nil
	case strings.HasSuffix(lower, ".parquet"):
		return "parquet", nil
	}
	return "", sluice.Errorf(sluice.EINVALID, "%s: the source must be a .csv, .csv.gz or .parquet file", filepath.Base(src))
}

// csvOptions are the read_csv options of a source CSV file. The dialect is
// fixed rather than sniffed: a sniffer faced with a malformed file may pick
// another delimiter, no quote, or a data line as the header, and read the file
// wrongly without an error. Every value is read as text, to be cast to the
// manifest's type.
const csvOptions = `header = true, all_varchar = true, delim = ',', quote = '"', escape = '"', comment = '',
	skip = 0, strict_mode = true, null_padding = false`

// readExpr returns the DuckDB table function reading the source file path.
func readExpr(format, path string) string {
	if format == "csv" {
		return "read_csv(" + quoteLiteral(path) + ", " + csvOptions + ")"
	}
	return "read_parquet(" + quoteLiteral(path) + ")"
}

// column is a manifest column being imported.
type column struct {
	*sluice.Column
	rep     int    // index in Report.Columns
	source  string // name in the file, "" when missing
	srcType string // type in the file
	// Names in the raw table and the typed view: the value as read, the
	// value cast to the manifest's type, and whether the cast failed.
	raw, typed, bad string
	hidden          bool // unit or identifier: values are never reported
}

// importer holds one import's DuckDB connection and state.
type importer struct {
	d       *sluice.Dataset
	opts    Options
	r       *Report
	tmpDir  string
	db      *sql.DB
	conn    *sql.Conn
	cols    []*column // the manifest's columns present in the file
	present map[string]*column
}

// open starts an in-memory DuckDB whose spill files go to a new temporary
// directory.
func open(ctx context.Context, d *sluice.Dataset, opts Options, r *Report) (*importer, error) {
	im := &importer{d: d, opts: opts, r: r, present: map[string]*column{}}
	if err := im.start(ctx); err != nil {
		im.close()
		return nil, err
	}
	return im, nil
}

// start creates the temporary directory and the DuckDB connection.
func (im *importer) start(ctx context.Context) error {
	var err error
	if im.tmpDir, err = os.MkdirTemp("", "sluice-import-"); err != nil {
		return err
	}
	if im.db, err = sql.Open("duckdb", ""); err != nil {
		return fmt.Errorf("open duckdb: %w", err)
	}
	if im.conn, err = im.db.Conn(ctx); err != nil {
		return fmt.Errorf("open duckdb: %w", err)
	}
	for _, q := range []string{
		"SET temp_directory = " + quoteLiteral(im.tmpDir),
		// Row numbers are positions in the table the file is loaded into.
		"SET preserve_insertion_order = true",
	} {
		if _, err := im.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("configure duckdb: %w", err)
		}
	}
	return nil
}

// close releases the connection and removes the temporary directory.
func (im *importer) close() {
	if im.conn != nil {
		im.conn.Close()
	}
	if im.db != nil {
		im.db.Close()
	}
	if im.tmpDir != "" {
		os.RemoveAll(im.tmpDir)
	}
}

// check loads the source file path and fills the report.
func (im *importer) check(ctx context.Context, format, path string) error {
	read := readExpr(format, path)
	fileCols, err := im.describe(ctx, read)
	if err != nil {
		return im.unreadable(ctx, format, path, err)
	}
	im.match(fileCols, format == "csv")
	if len(im.cols) == 0 {
		if err := im.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+read).Scan(&im.r.Rows); err != nil {
			return im.unreadable(ctx, format, path, err)
		}
		return nil
	}
	if err := im.load(ctx, read); err != nil {
		return im.unreadable(ctx, format, path, err)
	}
	if err := im.stats(ctx); err != nil {
		return err
	}
	if err := im.columnProblems(ctx); err != nil {
		return err
	}
	if err := im.duplicates(ctx); err != nil {
		return err
	}
	return nil
}

// maxMalformed is the number of malformed CSV lines an error names.
const maxMalformed = 5

// unreadable returns the error of a source file DuckDB failed to read with
// err: an EINVALID *sluice.Error (rule import.malformed) when the file is
// at fault. DuckDB's message about a CSV file may quote a line of it, so it
// is not passed on; instead the file is read again, setting malformed lines
// aside, to name the first ones and what is wrong with them.
func (im *importer) unreadable(ctx context.Context, format, path string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeInvalidInput {
		return fmt.Errorf("read: %w", err) // not the file's fault: out of memory, I/O…
	}
	file := filepath.Base(path)
	if format != "csv" {
		return fmt.Errorf("%w: %w", &sluice.Error{Code: sluice.EINVALID, Rule: "import.malformed",
			Message: fmt.Sprintf("%s cannot be read as Parquet", file)}, err)
	}
	generic := &sluice.Error{Code: sluice.EINVALID, Rule: "import.malformed", Message: fmt.Sprintf(
		"%s cannot be read as CSV: it must be UTF-8 text with a header line, values separated by commas, and "+
			"double quotes around values holding commas, quotes or line breaks (look for an unterminated quote)", file)}
	if m := csvErrorLine.FindStringSubmatch(err.Error()); m != nil {
		// Keep the line number and what is wrong, never "Original Line: …".
		what := "the line is malformed"
		if strings.Contains(err.Error(), "Invalid unicode") {
			what = "the file is not UTF-8 text"
		}
		generic.Message = fmt.Sprintf("%s cannot be read as CSV at line %s: %s", file, m[1], what)
	}
	q := "SELECT count(*) FROM read_csv(" + quoteLiteral(path) + ", " + csvOptions +
		", ignore_errors = true, store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_reject_scans')"
	var rows, malformed int64
	if err := im.conn.QueryRowContext(ctx, q).Scan(&rows); err != nil {
		return generic
	}
	if err := im.conn.QueryRowContext(ctx, "SELECT count(DISTINCT line) FROM csv_rejects").Scan(&malformed); err != nil || malformed == 0 {
		return generic
	}
	lines, err := im.conn.QueryContext(ctx, fmt.Sprintf(`SELECT line, lower(error_type),
		coalesce(string_agg(column_name, ', ' ORDER BY column_idx), '')
		FROM csv_rejects GROUP BY line, error_type ORDER BY line, error_type LIMIT %d`, maxMalformed))
	if err != nil {
		return generic
	}
	defer lines.Close()
	var parts []string
	for lines.Next() {
		var line int64
		var kind, columns string
		if err := lines.Scan(&line, &kind, &columns); err != nil {
			return generic
		}
		s := fmt.Sprintf("line %d: %s", line, kind)
		if columns != "" {
			s += " (" + columns + ")"
		}
		parts = append(parts, s)
	}
	if lines.Err() != nil {
		return generic
	}
	return &sluice.Error{Code: sluice.EINVALID, Rule: "import.malformed", Message: fmt.Sprintf(
		"%s is not well-formed CSV: %d malformed %s, e.g. %s", file, malformed, plural(malformed, "line"), strings.Join(parts, "; "))}
}

// csvErrorLine finds the line number in DuckDB's error about a CSV file.
var csvErrorLine = regexp.MustCompile(`CSV Error on Line: (\d+)`)

// fileColumn is a column of the source file.
type fileColumn struct{ name, typ string }

// describe returns the source's columns, in file order.
func (im *importer) describe(ctx context.Context, read string) ([]fileColumn, error) {
	rows, err := im.conn.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+read+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []fileColumn
	for rows.Next() {
		var c fileColumn
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// match pairs the manifest's columns with the file's, by name and, failing
// that, by name ignoring case. It reports missing and extra columns. When
// csv is set and no column matches, the first line is likely data rather
// than a header, so extra columns are named by position, not by that line.
func (im *importer) match(fileCols []fileColumn, csv bool) {
	used := make([]bool, len(fileCols))
	find := func(name string) int {
		for i, fc := range fileCols {
			if !used[i] && fc.name == name {
				return i
			}
		}
		for i, fc := range fileCols {
			if !used[i] && strings.EqualFold(fc.name, name) {
				return i
			}
		}
		return -1
	}
	for i := range im.d.Columns {
		mc := &im.d.Columns[i]
		rep := ColumnReport{Name: mc.Name, Role: mc.Role, Type: mc.Type, MaxNullRate: im.opts.maxNullRate(im.d, mc)}
		if mc.Role == sluice.RoleMeasure {
			rep.Lower, rep.Upper, rep.OutOfBound = mc.Lower, mc.Upper, im.opts.policy(mc.Name)
		}
		j := find(mc.Name)
		if j < 0 {
			rep.Missing = true
			im.r.Columns = append(im.r.Columns, rep)
			im.r.Problems = append(im.r.Problems, Problem{
				Column: mc.Name, Kind: KindMissingColumn, Refuses: true,
				Message: fmt.Sprintf("column %q of the manifest is not in the file", mc.Name),
			})
			continue
		}
		used[j] = true
		fc := fileCols[j]
		if fc.name != mc.Name {
			rep.SourceName = fc.name
		}
		rep.SourceType = fc.typ
		k := len(im.cols)
		c := &column{
			Column: mc, rep: len(im.r.Columns), source: fc.name, srcType: fc.typ,
			raw: fmt.Sprintf("c%d", k), typed: fmt.Sprintf("t%d", k), bad: fmt.Sprintf("b%d", k),
			hidden: mc.Role == sluice.RoleUnit || mc.Role == sluice.RoleIdentifier || mc.Name == im.d.Unit,
		}
		im.r.Columns = append(im.r.Columns, rep)
		im.cols = append(im.cols, c)
		im.present[mc.Name] = c
	}
	headerless := csv && len(im.cols) == 0
	for i, fc := range fileCols {
		if used[i] {
			continue
		}
		name, msg := fc.name, fmt.Sprintf("column %q is not in the manifest; it was dropped", fc.name)
		if headerless {
			name = fmt.Sprintf("column %d", i+1)
			msg = fmt.Sprintf("%s of the file is not in the manifest; no column of the first line names a manifest "+
				"column, so that line may be data instead of a header, and is not shown", name)
		}
		im.r.ExtraColumns = append(im.r.ExtraColumns, name)
		im.r.Problems = append(im.r.Problems, Problem{Column: name, Kind: KindExtraColumn, Message: msg})
	}
}

// load reads the manifest's columns of the source into table raw, and defines
// view typed over it: each row's number n, and for each column its value as
// read, cast to the manifest's type, and whether that cast failed.
func (im *importer) load(ctx context.Context, read string) error {
	sel := make([]string, len(im.cols))
	for i, c := range im.cols {
		sel[i] = quoteIdent(c.source) + " AS " + c.raw
	}
	if _, err := im.conn.ExecContext(ctx, "CREATE TABLE raw AS SELECT "+strings.Join(sel, ", ")+" FROM "+read); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := im.conn.QueryRowContext(ctx, "SELECT count(*) FROM raw").Scan(&im.r.Rows); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	view := []string{"rowid + 1 AS n"}
	for _, c := range im.cols {
		typed := "TRY_CAST(" + c.raw + " AS " + c.Type + ")"
		if c.srcType == c.Type {
			typed = c.raw
		}
		bad := c.raw + " IS NOT NULL AND " + typed + " IS NULL"
		if c.Type == "DOUBLE" {
			bad = c.raw + " IS NOT NULL AND (" + typed + " IS NULL OR NOT isfinite(" + typed + "))"
		}
		view = append(view, c.raw, typed+" AS "+c.typed, "("+bad+") AS "+c.bad)
	}
	if _, err := im.conn.ExecContext(ctx, "CREATE TEMP VIEW typed AS SELECT "+strings.Join(view, ", ")+" FROM raw"); err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	return nil
}

// stats computes every column's counts in one pass over the data.
func (im *importer) stats(ctx context.Context) error {
	var exprs []string
	var dests []any
	add := func(expr string, dest any) {
		exprs = append(exprs, expr)
		dests = append(dests, dest)
	}
	type measure struct{ min, max sql.NullFloat64 }
	measures := map[*column]*measure{}
	for _, c := range im.cols {
		rep := &im.r.Columns[c.rep]
		add(countIf(c.raw+" IS NULL"), &rep.Nulls)
		add(countIf(c.bad), &rep.CastFailures)
		switch c.Role {
		case sluice.RoleMeasure:
			m := &measure{}
			measures[c] = m
			rep.BelowLower, rep.AboveUpper = new(int64), new(int64)
			v, ok := asDouble(c.typed), "NOT "+c.bad
			add("min("+v+") FILTER (WHERE "+ok+")", &m.min)
			add("max("+v+") FILTER (WHERE "+ok+")", &m.max)
			add(countIf(ok+" AND "+v+" < "+doubleLiteral(*c.Lower)), rep.BelowLower)
			add(countIf(ok+" AND "+v+" > "+doubleLiteral(*c.Upper)), rep.AboveUpper)
		case sluice.RoleDimension:
			rep.Distinct = new(int64)
			add("count(DISTINCT "+c.typed+")", rep.Distinct)
			if len(c.Domain) > 0 {
				rep.OutsideDomain = new(int64)
				add(countIf(outsideDomain(c)), rep.OutsideDomain)
			}
		}
	}
	if err := im.conn.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM typed").Scan(dests...); err != nil {
		return fmt.Errorf("compute statistics: %w", err)
	}
	for _, c := range im.cols {
		rep := &im.r.Columns[c.rep]
		if im.r.Rows > 0 {
			rep.NullRate = float64(rep.Nulls) / float64(im.r.Rows)
		}
		if m := measures[c]; m != nil {
			if m.min.Valid {
				rep.Min = &m.min.Float64
			}
			if m.max.Valid {
				rep.Max = &m.max.Float64
			}
		}
	}
	return nil
}

// columnProblems reports each column's cast failures, null rate, values out
// of bounds and values outside the domain, with examples.
func (im *importer) columnProblems(ctx context.Context) error {
	for _, c := range im.cols {
		rep := &im.r.Columns[c.rep]
		if rep.CastFailures > 0 {
			ex, err := im.examples(ctx, c.bad, c.raw, c.hidden)
			if err != nil {
				return err
			}
			rep.Examples = ex
			im.r.Problems = append(im.r.Problems, Problem{
				Column: c.Name, Kind: KindCastFailure, Count: rep.CastFailures, Refuses: true, Examples: ex,
				Message: fmt.Sprintf("%d %s of %s cannot be read as %s%s", rep.CastFailures,
					plural(rep.CastFailures, "value"), c.Name, c.Type, castHint(c)) + " (" + exampleText(ex) + ")",
			})
		}
		if rep.NullRate > rep.MaxNullRate {
			ex, err := im.examples(ctx, c.raw+" IS NULL", "", true)
			if err != nil {
				return err
			}
			im.r.Problems = append(im.r.Problems, Problem{
				Column: c.Name, Kind: KindNullRate, Count: rep.Nulls, Refuses: true, Examples: ex,
				Message: fmt.Sprintf("%d of %d rows empty (%s), above the maximum of %s (%s)",
					rep.Nulls, im.r.Rows, percent(rep.NullRate), percent(rep.MaxNullRate), exampleText(ex)),
			})
		}
		if c.Role == sluice.RoleMeasure {
			n := *rep.BelowLower + *rep.AboveUpper
			if n > 0 {
				v := asDouble(c.typed)
				where := "NOT " + c.bad + " AND (" + v + " < " + doubleLiteral(*c.Lower) + " OR " + v + " > " + doubleLiteral(*c.Upper) + ")"
				ex, err := im.examples(ctx, where, c.typed, c.hidden)
				if err != nil {
					return err
				}
				policy := rep.OutOfBound
				msg := fmt.Sprintf("%d %s outside the bounds [%s, %s]: %d below, %d above (%s)",
					n, plural(n, "value"), num(*c.Lower), num(*c.Upper), *rep.BelowLower, *rep.AboveUpper, exampleText(ex))
				if policy == Refuse {
					msg += "; the policy is to refuse them"
				} else {
					msg += "; they are kept and will be clamped to the bounds when aggregated"
				}
				im.r.Problems = append(im.r.Problems, Problem{
					Column: c.Name, Kind: KindOutOfBounds, Count: n, Refuses: policy == Refuse, Examples: ex, Message: msg,
				})
			}
		}
		if rep.OutsideDomain != nil && *rep.OutsideDomain > 0 {
			values, err := im.outsideValues(ctx, c)
			if err != nil {
				return err
			}
			rep.OutsideValues = values
			n := *rep.OutsideDomain
			im.r.Problems = append(im.r.Problems, Problem{
				Column: c.Name, Kind: KindOutsideDomain, Count: n, Refuses: true,
				Message: fmt.Sprintf("%d %s outside the declared domain of %d values: %s",
					n, plural(n, "row has a value", "rows have values"), len(c.Domain), quoteAll(values)),
			})
		}
	}
	return nil
}

// examples returns up to maxExamples rows of view typed matching where, the
// first ones first, with the value of column value unless it is empty or
// hidden.
func (im *importer) examples(ctx context.Context, where, value string, hidden bool) ([]Example, error) {
	sel := "n, NULL::VARCHAR"
	if value != "" && !hidden {
		sel = "n, CAST(" + value + " AS VARCHAR)"
	}
	q := fmt.Sprintf("SELECT %s FROM typed WHERE %s ORDER BY n LIMIT %d", sel, where, maxExamples)
	rows, err := im.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("find examples: %w", err)
	}
	defer rows.Close()
	var ex []Example
	for rows.Next() {
		var e Example
		var v sql.NullString
		if err := rows.Scan(&e.Row, &v); err != nil {
			return nil, fmt.Errorf("find examples: %w", err)
		}
		if v.Valid && !hidden {
			s := clip(v.String)
			e.Value = &s
		}
		ex = append(ex, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find examples: %w", err)
	}
	return ex, nil
}

// outsideValues returns up to maxOutsideValues values of dimension c outside
// its domain, the most frequent first.
func (im *importer) outsideValues(ctx context.Context, c *column) ([]string, error) {
	q := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) AS v, count(*) AS k FROM typed WHERE %s GROUP BY v ORDER BY k DESC, v LIMIT %d",
		c.typed, outsideDomain(c), maxOutsideValues)
	rows, err := im.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("find values outside the domain of %s: %w", c.Name, err)
	}
	defer rows.Close()
	var values []string
	for rows.Next() {
		var v string
		var k int64
		if err := rows.Scan(&v, &k); err != nil {
			return nil, fmt.Errorf("find values outside the domain of %s: %w", c.Name, err)
		}
		values = append(values, clip(v))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find values outside the domain of %s: %w", c.Name, err)
	}
	return values, nil
}

// periodColumn returns the dataset's period column: a DATE dimension or
// attribute named month or period, or else whose name contains one of them;
// or nil.
func periodColumn(d *sluice.Dataset) *sluice.Column {
	candidates := func(match func(string) bool) *sluice.Column {
		for i := range d.Columns {
			c := &d.Columns[i]
			if c.Type == "DATE" && (c.Role == sluice.RoleDimension || c.Role == sluice.RoleAttribute) && match(c.Name) {
				return c
			}
		}
		return nil
	}
	if c := candidates(func(n string) bool { return n == "month" || n == "period" }); c != nil {
		return c
	}
	return candidates(func(n string) bool { return strings.Contains(n, "month") || strings.Contains(n, "period") })
}

// duplicates counts rows sharing the dataset's declared key, or else the
// same unit and period, when the dataset has a period column. Rows sharing
// a declared key always refuse the import: the analyser joins on the key
// as unique, and preparing the file would refuse it anyway.
func (im *importer) duplicates(ctx context.Context) error {
	declared := len(im.d.Key) > 0
	names, refuses := im.d.Key, true
	if !declared {
		pc := periodColumn(im.d)
		if pc == nil {
			return nil
		}
		names, refuses = []string{im.d.Unit, pc.Name}, im.opts.RefuseDuplicates
	}
	typed := make([]string, len(names))
	notNull := make([]string, len(names))
	for i, n := range names {
		c := im.present[n]
		if c == nil {
			return nil // reported as missing
		}
		typed[i], notNull[i] = c.typed, c.typed+" IS NOT NULL"
	}
	dup := &DuplicateReport{Unit: im.d.Unit}
	if declared {
		dup.Key = names
	} else {
		dup.Period = names[1]
	}
	im.r.Duplicates = dup
	keys, where := strings.Join(typed, ", "), strings.Join(notNull, " AND ")
	q := "SELECT count(*), CAST(coalesce(sum(k - 1), 0) AS BIGINT) FROM (SELECT count(*) AS k FROM typed WHERE " +
		where + " GROUP BY " + keys + " HAVING count(*) > 1)"
	if err := im.conn.QueryRowContext(ctx, q).Scan(&dup.Pairs, &dup.Rows); err != nil {
		return fmt.Errorf("count duplicates: %w", err)
	}
	if dup.Rows == 0 {
		return nil
	}
	q = fmt.Sprintf(`SELECT n, f FROM (SELECT n, min(n) OVER (PARTITION BY %s) AS f FROM typed WHERE %s)
		WHERE n > f ORDER BY n LIMIT %d`, keys, where, maxExamples)
	rows, err := im.conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Example
		if err := rows.Scan(&e.Row, &e.DuplicateOf); err != nil {
			return fmt.Errorf("find duplicates: %w", err)
		}
		dup.Examples = append(dup.Examples, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	same := strings.Join(names, " and ")
	if declared {
		same = "key (" + strings.Join(names, ", ") + ")"
	}
	msg := fmt.Sprintf("%d %s the same %s as an earlier row, over %d %s (%s)",
		dup.Rows, plural(dup.Rows, "row has", "rows have"), same,
		dup.Pairs, plural(dup.Pairs, "pair", "pairs"), exampleText(dup.Examples))
	if !refuses {
		msg += "; duplicates are accepted"
	}
	im.r.Problems = append(im.r.Problems, Problem{
		Column: strings.Join(names, ","), Kind: KindDuplicates, Count: dup.Rows,
		Refuses: refuses, Examples: dup.Examples, Message: msg,
	})
	return nil
}

// write copies the manifest's columns, cast, to a Parquet file at dst, via
// dst+".tmp".
func (im *importer) write(ctx context.Context, dst string) (err error) {
	tmp := dst + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	sel := make([]string, len(im.cols))
	for i, c := range im.cols {
		sel[i] = c.typed + " AS " + quoteIdent(c.Name)
	}
	q := "COPY (SELECT " + strings.Join(sel, ", ") + " FROM typed) TO " + quoteLiteral(tmp) + " (FORMAT parquet, COMPRESSION zstd)"
	if _, err := im.conn.ExecContext(ctx, q); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if im.r.OutputChecksum, err = Checksum(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// syncFile flushes a file to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// outsideDomain returns the condition that dimension c's value is set and not
// in its domain, comparing values as text.
func outsideDomain(c *column) string {
	lits := make([]string, len(c.Domain))
	for i, v := range c.Domain {
		lits[i] = quoteLiteral(v)
	}
	return c.typed + " IS NOT NULL AND CAST(" + c.typed + " AS VARCHAR) NOT IN (" + strings.Join(lits, ", ") + ")"
}

// castHint explains what a value of c's type must look like.
func castHint(c *column) string {
	switch {
	case c.Type == "DATE":
		return " (a date must be written YYYY-MM-DD)"
	case c.Type == "DOUBLE":
		return " (a finite number)"
	}
	return ""
}

// countIf returns the number of rows where cond holds, as a BIGINT that is 0,
// not NULL, over no rows.
func countIf(cond string) string { return "CAST(coalesce(count_if(" + cond + "), 0) AS BIGINT)" }

// asDouble returns expr cast to DOUBLE.
func asDouble(expr string) string { return "CAST(" + expr + " AS DOUBLE)" }

// doubleLiteral returns v as a DuckDB DOUBLE literal.
func doubleLiteral(v float64) string {
	return "CAST(" + quoteLiteral(strconv.FormatFloat(v, 'g', -1, 64)) + " AS DOUBLE)"
}

// plural returns forms[0] when n is 1, and otherwise forms[1] or, without
// one, forms[0] with an s.
func plural(n int64, forms ...string) string {
	if n == 1 {
		return forms[0]
	}
	if len(forms) > 1 {
		return forms[1]
	}
	return forms[0] + "s"
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quoteLiteral quotes s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent quotes s as a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
