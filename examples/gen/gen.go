// Package gen generates the example datasets of Sluice's demo catalog:
// an enterprise registry and the monthly tax, social-insurance, housing-fund
// and utility records, court records and mortgages a bank would use to score
// small firms, a sealed (closed) dataset, and a researcher's clinic-visit
// extract.
//
// The data is synthetic and deterministic: every value derives from DuckDB's
// hash() of a row number, the seed and a tag, turned into uniform, normal,
// log-normal and Pareto draws, so the same options always give the same
// files. Firms and people share latent traits across datasets (size, growth,
// distress, chronic illness), so the datasets correlate as real ones do:
// larger firms pay more tax and contributions, distressed firms file late,
// run arrears and collect court records; a few people visit clinics often,
// most rarely, and costs are heavy-tailed. Every measure has a small share of
// values outside its declared bounds, so clamping matters.
package gen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"sluice/examples"
)

// Options sizes a generated data set.
type Options struct {
	Firms  int    // firms in the enterprise registry
	People int    // people in the clinic-visit population
	Months int    // months of monthly records, ending December 2025
	Seed   uint64 // the same seed gives the same files
	// Only, if not empty, names the datasets to write (with their
	// manifests); the others are skipped. A benchmark that needs only
	// tax_monthly saves most of the time.
	Only []string
}

// Scale returns the options of scale f: at scale 1 there are 20 000 firms and
// 50 000 people over 24 months (about 340 000 rows of tax_monthly), and the
// numbers of firms and people grow with f.
func Scale(f float64) Options {
	return Options{
		Firms:  max(1, int(20000*f+0.5)),
		People: max(1, int(50000*f+0.5)),
		Months: 24,
		Seed:   1,
	}
}

// Bench returns the benchmark options: scale 10 (200 000 firms) over 120
// months, about 10.4 million rows of tax_monthly. Add Only = enterprise,
// tax_monthly to skip the other datasets.
func Bench() Options {
	o := Scale(10)
	o.Months = 120
	return o
}

// LastMonth is the last month of the monthly datasets; EndDate is the last
// day any generated date falls on.
var (
	LastMonth = time.Date(2025, time.December, 1, 0, 0, 0, 0, time.UTC)
	EndDate   = time.Date(2025, time.December, 31, 0, 0, 0, 0, time.UTC)
)

// Datasets lists the ids of the generated datasets.
var Datasets = []string{
	"enterprise", "tax_monthly", "social_insurance", "housing_fund", "utilities",
	"court_records", "mortgages", "sealed_investigations", "clinic_visits",
}

// Validate reports what is wrong with o, or nil.
func (o Options) Validate() error {
	var errs []error
	if o.Firms < 1 || o.Firms > 100_000_000 {
		errs = append(errs, fmt.Errorf("firms (%d) must be between 1 and 100 000 000", o.Firms))
	}
	if o.People < 1 || o.People > 1_000_000_000 {
		errs = append(errs, fmt.Errorf("people (%d) must be between 1 and 1 000 000 000", o.People))
	}
	if o.Months < 1 || o.Months > 600 {
		errs = append(errs, fmt.Errorf("months (%d) must be between 1 and 600", o.Months))
	}
	for _, id := range o.Only {
		if !slices.Contains(Datasets, id) {
			errs = append(errs, fmt.Errorf("unknown dataset %q (known: %s)", id, strings.Join(Datasets, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Generate writes every example dataset as dir/<id>.parquet, with its
// manifest as dir/<id>.yaml, creating dir if needed; dir can then be opened
// as a catalog. Each file is written under a temporary name and renamed into
// place, so a failed run leaves no half-written file behind.
//
// Datasets are written in parallel, one per CPU at a time, each by its own
// single-threaded in-memory DuckDB: one thread per query keeps the row order,
// and so the files, identical from run to run, and is cheaper than DuckDB's
// order-preserving parallel COPY.
func Generate(ctx context.Context, dir string, opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	var todo []string
	for _, id := range byCost {
		if opts.wants(id) {
			todo = append(todo, id)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan string)
	// The first failure cancels the rest; their errors are its echoes.
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			w, err := newWorker(ctx, opts)
			if err != nil {
				fail(err)
				return
			}
			defer w.close()
			for id := range jobs {
				if err := w.write(ctx, dir, id); err != nil {
					fail(err)
					return
				}
			}
		})
	}
feed:
	for _, id := range todo {
		select {
		case jobs <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return writeManifests(dir, opts)
}

// byCost lists the datasets, the most expensive to generate first, so
// parallel workers finish at about the same time.
var byCost = []string{
	"clinic_visits", "tax_monthly", "utilities", "social_insurance", "housing_fund",
	"enterprise", "court_records", "mortgages", "sealed_investigations",
}

// worker writes datasets with its own single-threaded in-memory DuckDB,
// creating the latent tables a dataset needs the first time it needs them.
type worker struct {
	db     *sql.DB
	conn   *sql.Conn
	r      *strings.Replacer
	firms  bool // the firm tables exist
	people bool // the people table exists
}

func newWorker(ctx context.Context, opts Options) (*worker, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("generate: %w", err)
	}
	w := &worker{db: db, conn: conn, r: replacer(opts)}
	if err := w.exec(ctx, append([]string{"SET threads = 1"}, macroSQL()...)); err != nil {
		w.close()
		return nil, fmt.Errorf("generate: set up: %w", err)
	}
	return w, nil
}

func (w *worker) close() {
	w.conn.Close()
	w.db.Close()
}

// sql fills the placeholders of a statement and makes its decimal literals
// DOUBLE.
func (w *worker) sql(stmt string) string { return doubleLiterals(w.r.Replace(stmt)) }

// exec runs statements, filling their placeholders.
func (w *worker) exec(ctx context.Context, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := w.conn.ExecContext(ctx, w.sql(stmt)); err != nil {
			return err
		}
	}
	return nil
}

// write writes dataset id to dir/<id>.parquet.
func (w *worker) write(ctx context.Context, dir, id string) error {
	if id == "clinic_visits" {
		if !w.people {
			if err := w.exec(ctx, peopleSQL); err != nil {
				return fmt.Errorf("generate: people: %w", err)
			}
			w.people = true
		}
	} else if !w.firms {
		if err := w.exec(ctx, firmSQL); err != nil {
			return fmt.Errorf("generate: firms: %w", err)
		}
		w.firms = true
	}
	final := filepath.Join(dir, id+".parquet")
	tmp := filepath.Join(dir, "."+id+".parquet.tmp")
	q := fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", w.sql(datasetSQL[id]), quote(tmp))
	if _, err := w.conn.ExecContext(ctx, q); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("generate %s: %w", id, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("generate %s: %w", id, err)
	}
	return nil
}

// wants reports whether dataset id is to be written.
func (o Options) wants(id string) bool { return len(o.Only) == 0 || slices.Contains(o.Only, id) }

// writeManifests copies the embedded manifests of the datasets o writes into
// dir.
func writeManifests(dir string, o Options) error {
	names, err := fs.Glob(examples.Manifests, "catalog/*.yaml")
	if err != nil {
		return fmt.Errorf("generate: manifests: %w", err)
	}
	for _, name := range names {
		if !o.wants(strings.TrimSuffix(path.Base(name), ".yaml")) {
			continue
		}
		b, err := examples.Manifests.ReadFile(name)
		if err != nil {
			return fmt.Errorf("generate: manifests: %w", err)
		}
		final := filepath.Join(dir, path.Base(name))
		tmp := filepath.Join(dir, "."+path.Base(name)+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("generate: manifests: %w", err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("generate: manifests: %w", err)
		}
	}
	return nil
}

// RowCounts returns the number of rows of every <id>.parquet file in dir, by
// id, read from the Parquet footers.
func RowCounts(ctx context.Context, dir string) (map[string]int64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		return nil, fmt.Errorf("row counts: %w", err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("row counts: %w", err)
	}
	defer db.Close()
	counts := map[string]int64{}
	for _, f := range files {
		var n int64
		q := "SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(" + quote(f) + ")"
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("row counts of %s: %w", f, err)
		}
		counts[strings.TrimSuffix(filepath.Base(f), ".parquet")] = n
	}
	return counts, nil
}

// doubleLiterals appends e0 to every number with a decimal point outside
// string literals and comments in sql, so DuckDB reads it as a DOUBLE, not a
// DECIMAL.
func doubleLiterals(sql string) string {
	var b strings.Builder
	b.Grow(len(sql) + len(sql)/8)
	inString := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '\'':
			inString = !inString // '' inside a string toggles twice
		case !inString && c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			b.WriteString(sql[i : i+end])
			i += end - 1
			continue
		case !inString && isDigit(c) && (i == 0 || !isWord(sql[i-1])):
			j := i
			for j < len(sql) && isDigit(sql[j]) {
				j++
			}
			if j+1 < len(sql) && sql[j] == '.' && isDigit(sql[j+1]) {
				j++
				for j < len(sql) && isDigit(sql[j]) {
					j++
				}
				if j == len(sql) || (!isWord(sql[j]) && sql[j] != '.') {
					b.WriteString(sql[i:j])
					b.WriteString("e0")
					i = j - 1
					continue
				}
			}
			b.WriteString(sql[i:j])
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWord(c byte) bool {
	return c == '_' || isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// quote quotes s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// replacer fills the placeholders of the generator's SQL.
func replacer(o Options) *strings.Replacer {
	start := LastMonth.AddDate(0, -(o.Months - 1), 0)
	windowDays := int(EndDate.Sub(start).Hours()/24) + 1
	date := func(t time.Time) string { return "DATE '" + t.Format("2006-01-02") + "'" }
	months := make([]string, o.Months)
	for m := range months {
		months[m] = date(start.AddDate(0, m, 0))
	}
	return strings.NewReplacer(
		"@MONTH_DATES@", "["+strings.Join(months, ", ")+"]",
		"@START_MONTH0@", strconv.Itoa(int(start.Month())-1),
		"@SEED@", strconv.FormatUint(o.Seed, 10)+"::UBIGINT",
		"@FIRMS@", strconv.Itoa(o.Firms),
		"@PEOPLE@", strconv.Itoa(o.People),
		"@MONTHS@", strconv.Itoa(o.Months),
		"@MID@", strconv.FormatFloat(float64(o.Months-1)/2, 'f', -1, 64),
		"@START@", date(start),
		"@END@", date(EndDate),
		"@WINDOW_DAYS@", strconv.Itoa(windowDays),

		"@DISTRICTS@", strList(names(districts)),
		"@DISTRICT_CODES@", strList(column(districts, func(d district) string { return d.code })),
		"@DISTRICT_ABBR@", strList(column(districts, func(d district) string { return d.abbr })),
		"@INDUSTRIES@", strList(column(industries, func(i industry) string { return i.section })),
		"@INDUSTRY_WORDS@", strList(column(industries, func(i industry) string { return i.word })),
		"@INDUSTRY_TAX@", numList(column(industries, func(i industry) float64 { return i.tax })),
		"@INDUSTRY_ELEC@", numList(column(industries, func(i industry) float64 { return i.elec })),
		"@NAME_WORDS@", strList(nameWords),
		"@NAME_WORDS_N@", strconv.Itoa(len(nameWords)),
		"@GIVEN@", strList(givenNames),
		"@GIVEN_N@", strconv.Itoa(len(givenNames)),
	)
}

func names(ds []district) []string {
	return column(ds, func(d district) string { return d.name })
}

func column[T, V any](xs []T, f func(T) V) []V {
	out := make([]V, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

type weighted struct {
	name   string
	weight float64
}

func weightedNames(ws []weighted) []string {
	return column(ws, func(w weighted) string { return w.name })
}

func weightedValues(ws []weighted) []float64 {
	return column(ws, func(w weighted) float64 { return w.weight })
}

// strList renders a DuckDB list literal of strings.
func strList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// numList renders a DuckDB list literal of doubles.
func numList(xs []float64) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return "([" + strings.Join(q, ", ") + "]::DOUBLE[])"
}

// macroSQL returns the statements that define the generator's macros.
func macroSQL() []string {
	stmts := slices.Clone(baseMacroSQL)
	stmts = append(stmts,
		indexMacro("firm_district", column(districts, func(d district) float64 { return d.firms })),
		valueMacro("person_district", names(districts), column(districts, func(d district) float64 { return d.people })),
		indexMacro("industry", column(industries, func(i industry) float64 { return i.weight })),
		indexMacro("age_decade", ageDecades),
		weightedMacro("surname", surnames),
		weightedMacro("chronic_old", chronicOld),
		weightedMacro("chronic_young", chronicYoung),
		weightedMacro("diag_child", diagChild),
		weightedMacro("diag_young_f", diagYoungF),
		weightedMacro("diag_young_m", diagYoungM),
		weightedMacro("diag_mid", diagMid),
		weightedMacro("diag_senior", diagSenior),
	)
	stmts = append(stmts, checksumMacros()...)
	return append(stmts, derivedMacroSQL...)
}

// cumulative returns the cumulative distribution of weights; its last
// element is exactly 1.
func cumulative(weights []float64) []float64 {
	var total float64
	for _, w := range weights {
		total += w
	}
	cum := make([]float64, len(weights))
	var run float64
	for i, w := range weights {
		run += w
		cum[i] = run / total
	}
	cum[len(cum)-1] = 1
	return cum
}

// pickMacro defines a macro name(x) that maps a uniform x in (0, 1) to the
// i-th of results with probability proportional to weights[i]. Its argument
// should be a column: the macro names it once per branch. (A CASE is much
// faster in DuckDB than a lambda over the cumulative list.)
func pickMacro(name string, results []string, weights []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE MACRO %s(x) AS CASE", name)
	cum := cumulative(weights)
	for i := range len(cum) - 1 {
		fmt.Fprintf(&b, " WHEN x < %s THEN %s", strconv.FormatFloat(cum[i], 'g', -1, 64), results[i])
	}
	fmt.Fprintf(&b, " ELSE %s END", results[len(results)-1])
	return b.String()
}

// indexMacro defines a pick macro returning a 1-based index.
func indexMacro(name string, weights []float64) string {
	results := make([]string, len(weights))
	for i := range results {
		results[i] = strconv.Itoa(i + 1)
	}
	return pickMacro(name, results, weights)
}

// valueMacro defines a pick macro returning one of values.
func valueMacro(name string, values []string, weights []float64) string {
	results := make([]string, len(values))
	for i, v := range values {
		results[i] = quote(v)
	}
	return pickMacro(name, results, weights)
}

func weightedMacro(name string, ws []weighted) string {
	return valueMacro(name, weightedNames(ws), weightedValues(ws))
}

// uscc is the alphabet of unified social credit codes (GB 32100-2015).
const uscc = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// checksumMacros defines, unrolled (lambdas are slow in DuckDB):
// orgsum(body), the weighted sum of an 8-character organisation code body
// (GB 11714); usccsum(c), the weighted sum of the first 17 characters of a
// unified social credit code; and base31(n), six characters of the credit
// code alphabet spelling n.
func checksumMacros() []string {
	var org, cc, b31 []string
	for k, w := range []int{3, 7, 9, 10, 5, 8, 4, 2} {
		org = append(org, fmt.Sprintf("orgval(body[%d]) * %d", k+1, w))
	}
	for k, w := range []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28} {
		cc = append(cc, fmt.Sprintf("(instr('%s', c[%d]) - 1) * %d", uscc, k+1, w))
	}
	for k := range 6 {
		b31 = append(b31, fmt.Sprintf("'%s'[((n // %d) %% 31 + 1)::INTEGER]", uscc, int(math.Pow(31, float64(k)))))
	}
	return []string{
		"CREATE MACRO orgsum(body) AS " + strings.Join(org, " + "),
		"CREATE MACRO usccsum(c) AS " + strings.Join(cc, " + "),
		"CREATE MACRO base31(n) AS " + strings.Join(b31, " || "),
	}
}
