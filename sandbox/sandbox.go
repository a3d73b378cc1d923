// Package sandbox runs already-rewritten SQL in a locked-down DuckDB
// instance.
//
// Each Sandbox is one fresh DuckDB instance. Open writes, in a private
// directory, a catalog file holding one view per authorised dataset that
// selects only the authorised columns, opens the instance on it read-only,
// attaches the dataset files read-only, and then locks the instance:
// external access is switched off (enable_external_access=false), extension
// auto-install/auto-load, community and unsigned extensions and persistent
// secrets are off, and the configuration is frozen (lock_configuration=true).
// Open reads the settings back and fails closed if any differs. Query runs
// one SELECT statement and nothing else. The plan checks (SerializePlan)
// bind in a second instance of the same catalog file and dataset files,
// locked and verified the same way but on one thread, through DuckDB's C
// API.
//
// The lock is defence in depth, not a sandbox. DuckDB's own security model
// treats SQL as code; several things survive the lock and the SELECT-only
// rule (dynamic SQL through query(), reading the raw bytes of the attached
// dataset files with read_blob, the attached catalogs being reachable by
// name, setseed, row values in error messages), and more survive the lock
// alone (SET VARIABLE, temporary tables and views, writes into the private
// temp directory). Query analysis must refuse all of those before SQL
// reaches a Sandbox, and the bound-plan check (SerializePlan, Source)
// should confirm it; the tests named *KnownGap* pin down exactly what the
// lock does and does not stop. Config.DisableFileSystem closes the
// local-file gaps at the price of spilling. What the Sandbox guarantees on
// its own is that errors it returns never carry DuckDB's text, and that
// Query never runs more than one statement, nor one that is not a SELECT.
package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	bindings "github.com/duckdb/duckdb-go-bindings"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"sluice/duckc"
)

// Defaults for the zero fields of a Config.
const (
	DefaultThreads       = 2
	DefaultMemoryLimit   = "2GB"
	DefaultMaxTempSize   = "4GB"
	DefaultTimeout       = 30 * time.Second
	DefaultMaxResultRows = 100000
)

// maxExpressionDepth caps the parser's expression nesting (DuckDB's default
// is 1000; deep nesting is outside DuckDB's security scope).
const maxExpressionDepth = 250

// Config limits one sandbox instance. Zero fields take the defaults.
type Config struct {
	Threads     int    // worker threads; default 2
	MemoryLimit string // buffer-manager limit, e.g. "2GB" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB); default "2GB"
	MaxTempSize string // cap on spilled data in the temp directory; default "4GB"
	// TempDir is the parent directory: Open creates a private 0700 directory
	// inside it (spill, extension and secret directories) and Close removes
	// it. Default os.TempDir().
	TempDir string
	// Timeout bounds each Query and SerializePlan; the running statement is
	// interrupted when it expires. Default 30s.
	Timeout time.Duration
	// MaxResultRows bounds a result; a query returning more rows fails with
	// no partial result. Default 100000.
	MaxResultRows int
	// DisableFileSystem additionally disables DuckDB's LocalFileSystem after
	// the datasets are attached. This closes what enable_external_access=false
	// leaves open on the local disk: reading the raw bytes of the attached
	// dataset files (read_blob, read_text), writing beside them (the .wal
	// paths DuckDB allows), re-attaching them under another name, and reading
	// and writing the private temp directory. The price is that DuckDB can no
	// longer spill: an operator that exceeds MemoryLimit fails instead of
	// spilling to disk. Already attached datasets stay readable.
	DisableFileSystem bool
	// DisabledOptimizers switches DuckDB optimizers off (names as in
	// duckdb_optimizers()), for an instance used only to check plans: the
	// service checks optimized join plans in one without
	// build_side_probe_side, whose swapped sides DuckDB 1.5.6 cannot
	// serialize.
	DisabledOptimizers []string
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Threads == 0 {
		c.Threads = DefaultThreads
	}
	if c.MemoryLimit == "" {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxTempSize == "" {
		c.MaxTempSize = DefaultMaxTempSize
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResultRows == 0 {
		c.MaxResultRows = DefaultMaxResultRows
	}
	return c
}

// validate checks a defaulted Config.
func (c Config) validate() error {
	if c.Threads < 1 {
		return fmt.Errorf("sandbox: threads must be positive, got %d", c.Threads)
	}
	if _, err := parseBytes(c.MemoryLimit); err != nil {
		return fmt.Errorf("sandbox: memory limit: %w", err)
	}
	if _, err := parseBytes(c.MaxTempSize); err != nil {
		return fmt.Errorf("sandbox: max temp size: %w", err)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("sandbox: timeout must be positive, got %v", c.Timeout)
	}
	if c.MaxResultRows < 0 {
		return fmt.Errorf("sandbox: max result rows must be positive, got %d", c.MaxResultRows)
	}
	// The catalog file's path travels in duckdb-go's DSN, a URL.
	if strings.ContainsAny(c.TempDir, "?#%") {
		return fmt.Errorf("sandbox: temp dir %q: may not contain '?', '#' or '%%'", c.TempDir)
	}
	for _, o := range c.DisabledOptimizers {
		if !optimizerName.MatchString(o) {
			return fmt.Errorf("sandbox: optimizer name %q is not lower-case letters and underscores", o)
		}
	}
	return nil
}

var optimizerName = regexp.MustCompile(`^[a-z_]+$`)

// Table is one authorised dataset. Name is the view name analysts' SQL uses;
// File is a DuckDB database file holding one table named "data"; Columns are
// the authorised columns, the only ones the view exposes, in this order.
type Table struct {
	Name    string
	File    string
	Columns []string
}

// Sandbox is one locked-down DuckDB instance with one connection. Its
// methods are safe for concurrent use; they run one at a time, and Close
// waits for a running method to return.
//
// State persists between queries on one Sandbox (variables, views, tables a
// statement creates); use a fresh Sandbox where that matters.
type Sandbox struct {
	cfg     Config
	root    string // private directory; removed by Close
	tables  []Table
	sources map[string]string

	mu     sync.Mutex // serialises use of conn and guards closed
	closed bool
	db     *sql.DB
	conn   *sql.Conn
	// planner is the instance the plan checks bind in (see openPlanner);
	// planStmts are planSQL's statements on it, prepared on first use.
	planner     bindings.Database
	plannerOpen bool
	planStmts   [2]*duckc.Stmt
}

// ScratchDB opens a locked-down sandbox with default limits and no tables,
// for tests and for parse-only or plan-only use.
func ScratchDB(ctx context.Context) (*Sandbox, error) {
	return Open(ctx, Config{}, nil)
}

// Open starts a fresh DuckDB instance limited by cfg on a read-only catalog
// of one view per table exposing only its authorised columns, attaches the
// tables' files read-only, locks the instance down and verifies the lock.
// On any failure it releases everything it created and returns an error.
func Open(ctx context.Context, cfg Config, tables []Table) (*Sandbox, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	plan, err := planTables(tables)
	if err != nil {
		return nil, err
	}

	root, err := os.MkdirTemp(cfg.TempDir, "sluice-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: create private directory: %w", err)
	}
	s := &Sandbox{cfg: cfg, root: root, tables: tables, sources: make(map[string]string, len(tables))}
	if err := s.start(ctx, plan); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// Private subdirectories of a sandbox's root.
func (s *Sandbox) tempDir() string      { return filepath.Join(s.root, "tmp") }
func (s *Sandbox) extensionDir() string { return filepath.Join(s.root, "extensions") }
func (s *Sandbox) secretDir() string    { return filepath.Join(s.root, "secrets") }

// start writes the catalog file, opens the instance, attaches the tables'
// files and locks down.
//
// The instance's main database is a file in the private directory holding
// only the views, opened read-only: a statement can create nothing in it
// (only temporary objects, in memory and spilled under the temp limit), and
// the plan checks' instance opens the same file (see openPlanner).
func (s *Sandbox) start(ctx context.Context, plan *tablePlan) error {
	// The spill directory must not contain the extension and secret
	// directories: DuckDB adds it to allowed_directories when external access
	// is switched off.
	for _, dir := range []string{s.tempDir(), s.extensionDir(), s.secretDir()} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("sandbox: create private directory: %w", err)
		}
	}
	if err := s.writeCatalog(plan); err != nil {
		return err
	}

	// Startup options. enable_external_access and lock_configuration are not
	// here: duckdb-go applies DSN options in map order, so external access
	// could go off before temp_directory is set, and a locked configuration
	// would refuse the steps below.
	v := url.Values{}
	v.Set("access_mode", "READ_ONLY")
	v.Set("threads", strconv.Itoa(s.cfg.Threads))
	v.Set("memory_limit", s.cfg.MemoryLimit)
	v.Set("max_temp_directory_size", s.cfg.MaxTempSize)
	v.Set("temp_directory", s.tempDir())
	v.Set("autoinstall_known_extensions", "false")
	v.Set("autoload_known_extensions", "false")
	v.Set("allow_community_extensions", "false")
	v.Set("allow_unsigned_extensions", "false")
	v.Set("allow_persistent_secrets", "false")
	v.Set("extension_directory", s.extensionDir())
	v.Set("secret_directory", s.secretDir())
	v.Set("max_expression_depth", strconv.Itoa(maxExpressionDepth))
	if len(s.cfg.DisabledOptimizers) > 0 {
		v.Set("disabled_optimizers", strings.Join(s.cfg.DisabledOptimizers, ","))
	}
	connector, err := duckdb.NewConnector(s.catalogFile()+"?"+v.Encode(), nil)
	if err != nil {
		return fmt.Errorf("sandbox: open duckdb: %w", err)
	}
	s.db = sql.OpenDB(connector) // the DB closes the connector
	s.db.SetMaxOpenConns(1)
	if s.conn, err = s.db.Conn(ctx); err != nil {
		return fmt.Errorf("sandbox: connect: %w", err)
	}
	if err := s.attach(ctx, plan); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	want, err := s.verify(ctx)
	if err != nil {
		return err
	}
	return s.openPlanner(v, plan, want)
}

// catalogFile is the instance's main database: the views, nothing else.
func (s *Sandbox) catalogFile() string { return filepath.Join(s.root, "catalog.duckdb") }

// writeCatalog creates the catalog file in an instance of its own: it
// attaches each dataset file read-only under the alias the sandbox will
// give it, checks the authorised columns are there, and creates one view
// per table exposing only them. This is trusted host SQL.
func (s *Sandbox) writeCatalog(plan *tablePlan) error {
	db, err := duckc.Open(s.catalogFile(), map[string]string{
		"threads":                      "1",
		"autoinstall_known_extensions": "false",
		"autoload_known_extensions":    "false",
		"allow_community_extensions":   "false",
		"extension_directory":          s.extensionDir(),
		"temp_directory":               s.tempDir(),
	})
	if err != nil {
		return fmt.Errorf("sandbox: write catalog: %w", err)
	}
	defer bindings.Close(&db)
	var conn bindings.Connection
	if bindings.Connect(db, &conn) == bindings.StateError {
		return errors.New("sandbox: write catalog: cannot connect")
	}
	defer bindings.Disconnect(&conn)
	for _, f := range plan.files {
		if err := duckc.Exec(conn, f.attachSQL()); err != nil {
			return fmt.Errorf("sandbox: attach %s: %w", f.path, err)
		}
	}
	for _, t := range plan.tables {
		have, err := fileColumns(conn, t.alias)
		if err != nil {
			return fmt.Errorf("sandbox: table %q: %s: %w", t.Name, t.File, err)
		}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			if !have[c] {
				return fmt.Errorf("sandbox: table %q: column %q is not in %s", t.Name, c, t.File)
			}
			cols[i] = quoteIdent(c)
		}
		q := fmt.Sprintf("CREATE VIEW main.%s AS SELECT %s FROM %s.main.data",
			quoteIdent(t.Name), strings.Join(cols, ", "), t.alias)
		if err := duckc.Exec(conn, q); err != nil {
			return fmt.Errorf("sandbox: create view %q: %w", t.Name, err)
		}
		s.sources[t.Name] = t.alias
	}
	for _, f := range plan.files {
		if err := duckc.Exec(conn, "DETACH "+f.alias); err != nil {
			return fmt.Errorf("sandbox: detach %s: %w", f.path, err)
		}
	}
	if err := duckc.Exec(conn, "CHECKPOINT"); err != nil {
		return fmt.Errorf("sandbox: write catalog: %w", err)
	}
	return nil
}

// fileColumns returns the column names of main.data in the attached catalog.
func fileColumns(conn bindings.Connection, alias string) (map[string]bool, error) {
	var res bindings.Result
	defer bindings.DestroyResult(&res)
	if bindings.Query(conn, "SELECT * FROM "+alias+".main.data LIMIT 0", &res) == bindings.StateError {
		return nil, fmt.Errorf("read table main.data: %s", bindings.ResultError(&res))
	}
	n := int(bindings.ColumnCount(&res))
	have := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		have[bindings.ColumnName(&res, bindings.IdxT(i))] = true
	}
	return have, nil
}

// attach attaches the tables' files under the aliases the catalog's views
// name. This is trusted host SQL.
func (s *Sandbox) attach(ctx context.Context, plan *tablePlan) error {
	for _, f := range plan.files {
		if _, err := s.conn.ExecContext(ctx, f.attachSQL()); err != nil {
			return fmt.Errorf("sandbox: attach %s: %w", f.path, err)
		}
	}
	return nil
}

// openPlanner opens the instance the plan checks bind in: the same catalog
// file, opened read-only with the options of the sandbox's instance but one
// thread, the same dataset files under the same aliases, locked the same
// way and verified against the same settings (want, but for threads). It
// binds what the sandbox's instance would bind: the same views over the
// same files, and Query lets no statement change what a name means there
// (SELECT only).
//
// Why not a second handle on the sandbox's own instance: every statement
// DuckDB executes wakes the instance's worker threads, even one that
// binds a plan and reads no row, and on this machine's virtual CPUs the
// wake-ups cost more than the binding (json_serialize_plan of a row stage:
// 270 µs at 1 thread, 370 at 2, 460 at 4). The planner also runs without
// build_side_probe_side, whose swapped join sides DuckDB 1.5.6 cannot
// serialize after optimization; swapping sides changes no scan.
func (s *Sandbox) openPlanner(opts url.Values, plan *tablePlan, want map[string]string) error {
	set := make(map[string]string, len(opts)+1)
	for k := range opts {
		set[k] = opts.Get(k)
	}
	set["threads"] = "1"
	off := s.cfg.DisabledOptimizers
	if !slices.Contains(off, planNoSwap) {
		off = append(slices.Clip(off), planNoSwap)
	}
	set["disabled_optimizers"] = strings.Join(off, ",")
	db, err := duckc.Open(s.catalogFile(), set)
	if err != nil {
		return fmt.Errorf("sandbox: open the plan checks' instance: %w", err)
	}
	s.planner, s.plannerOpen = db, true
	var conn bindings.Connection
	if bindings.Connect(s.planner, &conn) == bindings.StateError {
		return errors.New("sandbox: connect to the plan checks' instance")
	}
	defer bindings.Disconnect(&conn)
	for _, f := range plan.files {
		if err := duckc.Exec(conn, f.attachSQL()); err != nil {
			return fmt.Errorf("sandbox: plan checks' instance: attach %s: %w", f.path, err)
		}
	}
	for _, q := range s.lockStatements() {
		if err := duckc.Exec(conn, q); err != nil {
			return fmt.Errorf("sandbox: plan checks' instance: lockdown %q: %w", q, err)
		}
	}
	row, err := duckc.Query(conn, settingsSQL(), len(securitySettings))
	if err != nil {
		return fmt.Errorf("sandbox: plan checks' instance: read settings: %w", err)
	}
	got := make(map[string]string, len(row))
	for i, n := range securitySettings {
		got[n] = string(row[i])
	}
	want = maps.Clone(want)
	want["threads"] = "1"
	if err := checkSettings(got, want); err != nil {
		return fmt.Errorf("sandbox: plan checks' instance: %w", err)
	}
	if s.cfg.DisableFileSystem {
		if _, err := duckc.Query(conn, s.globSQL(), 1); !fileSystemRefused(err) {
			return fmt.Errorf("sandbox: plan checks' instance: not locked down: the local file system is still reachable (%v)", err)
		}
	}
	return nil
}

// planNoSwap is the optimizer the plan checks' instance runs without.
const planNoSwap = "build_side_probe_side"

// lock switches external access off and freezes the configuration. Order
// matters: enable_external_access=false is one-way and adds the temp
// directory and the attached files to the allowed paths; lock_configuration
// must come last.
func (s *Sandbox) lock(ctx context.Context) error {
	for _, q := range s.lockStatements() {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sandbox: lockdown %q: %w", q, err)
		}
	}
	return nil
}

// lockStatements are lock's statements, in order.
func (s *Sandbox) lockStatements() []string {
	stmts := []string{"SET enable_external_access = false"}
	if s.cfg.DisableFileSystem {
		stmts = append(stmts, "SET disabled_filesystems = 'LocalFileSystem'")
	}
	return append(stmts, "SET lock_configuration = true")
}

// verify reads the security settings back and fails closed if any differs
// from what Open configured. It returns the settings it wanted.
func (s *Sandbox) verify(ctx context.Context) (map[string]string, error) {
	got, err := s.settings(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]string{
		"enable_external_access":       "false",
		"lock_configuration":           "true",
		"autoload_known_extensions":    "false",
		"autoinstall_known_extensions": "false",
		"allow_community_extensions":   "false",
		"allow_unsigned_extensions":    "false",
		"allow_persistent_secrets":     "false",
		"threads":                      strconv.Itoa(s.cfg.Threads),
		"max_expression_depth":         strconv.Itoa(maxExpressionDepth),
		"temp_directory":               s.tempDir(),
		"extension_directory":          s.extensionDir(),
		"secret_directory":             s.secretDir(),
	}
	// DuckDB reports sizes in binary units ("1.8 GiB" for "2GB"); let it
	// format the configured byte counts the same way.
	mem, err := parseBytes(s.cfg.MemoryLimit)
	if err != nil {
		return nil, fmt.Errorf("sandbox: memory limit: %w", err)
	}
	tmp, err := parseBytes(s.cfg.MaxTempSize)
	if err != nil {
		return nil, fmt.Errorf("sandbox: max temp size: %w", err)
	}
	var memText, tmpText string
	if err := s.conn.QueryRowContext(ctx, "SELECT format_bytes(?::BIGINT), format_bytes(?::BIGINT)", mem, tmp).Scan(&memText, &tmpText); err != nil {
		return nil, fmt.Errorf("sandbox: format sizes: %w", err)
	}
	want["memory_limit"], want["max_temp_directory_size"] = memText, tmpText
	if err := checkSettings(got, want); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if s.cfg.DisableFileSystem {
		// disabled_filesystems reads back as '' even when set, so check the
		// effect: listing the (allowed) temp directory must fail.
		var n string
		if err := s.conn.QueryRowContext(ctx, s.globSQL()).Scan(&n); !fileSystemRefused(err) {
			return nil, fmt.Errorf("sandbox: not locked down: the local file system is still reachable (%v)", err)
		}
	}
	return want, nil
}

// checkSettings fails if a setting in want reads back otherwise in got.
func checkSettings(got, want map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[name]; !ok || g != want[name] {
			return fmt.Errorf("not locked down: %s = %q, want %q", name, g, want[name])
		}
	}
	return nil
}

// globSQL counts the files in the private temp directory (one VARCHAR),
// which only a disabled local file system refuses.
func (s *Sandbox) globSQL() string {
	return fmt.Sprintf("SELECT count(*)::VARCHAR FROM glob(%s)", quoteString(filepath.Join(s.tempDir(), "*")))
}

// fileSystemRefused reports whether err is DuckDB refusing globSQL because
// the local file system is disabled: any other error (a typo in the
// statement, for one) proves nothing.
func fileSystemRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "File system LocalFileSystem has been disabled by configuration")
}

// securitySettings are the settings Settings reports.
var securitySettings = []string{
	"enable_external_access",
	"lock_configuration",
	"autoload_known_extensions",
	"autoinstall_known_extensions",
	"allow_community_extensions",
	"allow_unsigned_extensions",
	"allow_persistent_secrets",
	"allow_unredacted_secrets",
	"allowed_directories",
	"allowed_paths",
	"disabled_filesystems",
	"threads",
	"memory_limit",
	"max_temp_directory_size",
	"temp_directory",
	"extension_directory",
	"secret_directory",
	"max_expression_depth",
}

// Settings returns the current values of the security-relevant settings
// (external access, configuration lock, extension and secret settings,
// allowed paths, resource limits, private directories), as DuckDB prints
// them. DuckDB 1.5 prints disabled_filesystems as an empty string even
// when it is set.
func (s *Sandbox) Settings(ctx context.Context) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return s.settings(ctx)
}

// settingsSQL reads securitySettings, in order, as text (an empty string for NULL).
func settingsSQL() string {
	exprs := make([]string, len(securitySettings))
	for i, n := range securitySettings {
		exprs[i] = "coalesce(current_setting(" + quoteString(n) + ")::VARCHAR, '')"
	}
	return "SELECT " + strings.Join(exprs, ", ")
}

func (s *Sandbox) settings(ctx context.Context) (map[string]string, error) {
	vals := make([]string, len(securitySettings))
	dst := make([]any, len(vals))
	for i := range vals {
		dst[i] = &vals[i]
	}
	if err := s.conn.QueryRowContext(ctx, settingsSQL()).Scan(dst...); err != nil {
		return nil, fmt.Errorf("sandbox: read settings: %w", err)
	}
	out := make(map[string]string, len(securitySettings))
	for i, n := range securitySettings {
		out[n] = vals[i]
	}
	return out, nil
}

// Source returns the catalog alias the table's file is attached as, so that
// a bound plan's scans can be checked: a scan of the table is a LOGICAL_GET
// seq_scan whose function_data is {catalog: alias, schema: "main", table:
// "data"}. Tables sharing a file share an alias.
func (s *Sandbox) Source(table string) (alias string, ok bool) {
	alias, ok = s.sources[table]
	return alias, ok
}

// Tables returns the tables the sandbox was opened with.
func (s *Sandbox) Tables() []Table {
	out := make([]Table, len(s.tables))
	for i, t := range s.tables {
		out[i] = Table{Name: t.Name, File: t.File, Columns: append([]string(nil), t.Columns...)}
	}
	return out
}

// Close closes the connection and the instance and removes the private
// directory. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, st := range s.planStmts {
		if st != nil {
			st.Close()
		}
	}
	if s.plannerOpen {
		bindings.Close(&s.planner)
	}
	if s.conn != nil {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: close connection: %w", err))
		}
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: close database: %w", err))
		}
	}
	if err := os.RemoveAll(s.root); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: remove private directory: %w", err))
	}
	return errors.Join(errs...)
}

// tablePlan is the validated input of Open: distinct files with their
// catalog aliases, and the tables.
type tablePlan struct {
	files  []attachedFile
	tables []plannedTable
}

type attachedFile struct {
	path  string // absolute
	alias string // ds0, ds1, …
}

// attachSQL attaches the file read-only under its alias (trusted host SQL).
func (f attachedFile) attachSQL() string {
	return fmt.Sprintf("ATTACH %s AS %s (TYPE DUCKDB, READ_ONLY)", quoteString(f.path), f.alias)
}

type plannedTable struct {
	Table
	alias string
}

// planTables validates the tables and assigns one catalog alias per distinct
// file.
func planTables(tables []Table) (*tablePlan, error) {
	p := &tablePlan{}
	aliases := make(map[string]string) // absolute path -> alias
	names := make(map[string]bool)     // lower-cased view names
	for _, t := range tables {
		if err := checkName(t.Name); err != nil {
			return nil, fmt.Errorf("sandbox: table name %q: %w", t.Name, err)
		}
		// DuckDB identifiers are case-insensitive.
		key := strings.ToLower(t.Name)
		if names[key] {
			return nil, fmt.Errorf("sandbox: table %q listed twice", t.Name)
		}
		names[key] = true
		if len(t.Columns) == 0 {
			return nil, fmt.Errorf("sandbox: table %q: no authorised columns", t.Name)
		}
		cols := make(map[string]bool, len(t.Columns))
		for _, c := range t.Columns {
			if err := checkName(c); err != nil {
				return nil, fmt.Errorf("sandbox: table %q: column name %q: %w", t.Name, c, err)
			}
			if cols[strings.ToLower(c)] {
				return nil, fmt.Errorf("sandbox: table %q: column %q listed twice", t.Name, c)
			}
			cols[strings.ToLower(c)] = true
		}
		path, err := checkFile(t.File)
		if err != nil {
			return nil, fmt.Errorf("sandbox: table %q: %w", t.Name, err)
		}
		alias, ok := aliases[path]
		if !ok {
			alias = "ds" + strconv.Itoa(len(p.files))
			aliases[path] = alias
			p.files = append(p.files, attachedFile{path: path, alias: alias})
		}
		t.File = path
		t.Columns = append([]string(nil), t.Columns...)
		p.tables = append(p.tables, plannedTable{Table: t, alias: alias})
	}
	return p, nil
}

// maxNameLen bounds table and column names.
const maxNameLen = 255

// checkName accepts a non-empty, valid UTF-8 identifier of printable
// characters without surrounding spaces. Names are always quoted, so any
// such name is safe in SQL.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return errors.New("not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("leading or trailing space")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("contains the non-printable character %U", r)
		}
	}
	return nil
}

// checkFile returns the absolute path of a dataset file after checking that
// it is a regular file.
func checkFile(file string) (string, error) {
	if file == "" {
		return "", errors.New("no file")
	}
	if strings.ContainsRune(file, 0) || !utf8.ValidString(file) {
		return "", fmt.Errorf("file %q: invalid path", file)
	}
	path, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("file %q: %w", file, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("file %s: not a regular file", path)
	}
	return path, nil
}

// quoteIdent quotes a SQL identifier, doubling embedded double quotes.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteString quotes a SQL string literal, doubling embedded single quotes.
// DuckDB string literals have no backslash escapes.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// sizePattern is the subset of DuckDB's size syntax that Config accepts.
var sizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$`)

// sizeUnits maps lower-cased units to their multipliers, as DuckDB reads them.
var sizeUnits = map[string]float64{
	"b": 1, "bytes": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseBytes reads a size such as "2GB" or "512 MiB" into bytes.
func parseBytes(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	unit := strings.ToLower(m[2])
	if unit == "" {
		unit = "b"
	}
	mul, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	n := f * mul
	if n < 1 || n > 1<<60 {
		return 0, fmt.Errorf("size %q out of range", s)
	}
	return int64(n), nil
}
