package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bindings "github.com/duckdb/duckdb-go-bindings"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"sluice"
	"sluice/duckc"
)

// fixtureRows is the number of rows in a fixture's table data.
const fixtureRows = 1000

// authorised are the columns fixture views expose; secret_name is not one.
var authorised = []string{"unit", "dim", "amount"}

// plainExec runs host SQL on a fresh, unlocked in-memory DuckDB instance.
func plainExec(t testing.TB, stmts ...string) {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// newFixture writes a DuckDB file at path holding table data(unit, dim,
// amount, secret_name) with fixtureRows rows; secret_name of unit i is
// "secret_<i>".
func newFixture(t testing.TB, path string) string {
	t.Helper()
	plainExec(t,
		fmt.Sprintf("ATTACH %s AS f", quoteString(path)),
		fmt.Sprintf(`CREATE TABLE f.data AS SELECT i AS unit, 'd' || (i %% 5) AS dim, i * 1.5 AS amount,
			'secret_' || i AS secret_name FROM range(%d) r(i)`, fixtureRows),
		"DETACH f")
	return path
}

// openFixture opens a sandbox over one fixture table named t.
func openFixture(t testing.TB, cfg Config) (*Sandbox, string) {
	t.Helper()
	file := newFixture(t, filepath.Join(t.TempDir(), "data.duckdb"))
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	s, err := Open(context.Background(), cfg, []Table{{Name: "t", File: file, Columns: authorised}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, file
}

// queryAny runs a statement of any type, where Query runs only SELECT:
// for the tests of what the lock alone stops.
func (s *Sandbox) queryAny(ctx context.Context, sql string) (*Result, error) {
	return s.query(ctx, sql, false)
}

// mustQueryAny is mustQuery through queryAny.
func mustQueryAny(t testing.TB, s *Sandbox, sql string) *Result {
	t.Helper()
	return mustRun(t, "queryAny", s.queryAny, sql)
}

// mustQuery runs sql and fails the test on error.
func mustQuery(t testing.TB, s *Sandbox, sql string) *Result {
	t.Helper()
	return mustRun(t, "Query", s.Query, sql)
}

// mustRun runs sql with run, named name, and fails the test on error.
func mustRun(t testing.TB, name string, run func(context.Context, string) (*Result, error), sql string) *Result {
	t.Helper()
	res, err := run(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s(%q): %v; cause: %v", name, sql, err, Cause(err))
	}
	return res
}

// single returns the only value of a one-row, one-column result.
func single(t testing.TB, res *Result) any {
	t.Helper()
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("want one value, got %v", res.Rows)
	}
	return res.Rows[0][0]
}

// sandboxError returns err's *sluice.Error after checking it is a sandbox
// error whose text does not contain the engine's message.
func sandboxError(t testing.TB, err error) *sluice.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	var e *sluice.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *sluice.Error, got %T: %v", err, err)
	}
	if e.Step != sluice.StepSandbox {
		t.Errorf("step = %q, want %q", e.Step, sluice.StepSandbox)
	}
	if cause := Cause(err); cause != err && cause != nil && strings.Contains(err.Error(), cause.Error()) {
		t.Errorf("error text %q contains the engine message %q", err.Error(), cause.Error())
	}
	return e
}

// wantRule checks err is a sandbox error with the code and rule.
func wantRule(t testing.TB, err error, code, rule string) {
	t.Helper()
	e := sandboxError(t, err)
	if e.Code != code || e.Rule != rule {
		t.Fatalf("got code %q rule %q (%v; cause %v), want code %q rule %q", e.Code, e.Rule, err, Cause(err), code, rule)
	}
}

// wantEngineRefusal checks that DuckDB itself refused a statement, when
// binding it (nothing read) or running it.
func wantEngineRefusal(t testing.TB, err error) {
	t.Helper()
	e := sandboxError(t, err)
	if (e.Code != sluice.EINVALID || e.Rule != RuleBind) && (e.Code != sluice.EINTERNAL || e.Rule != RuleExecution) {
		t.Fatalf("got code %q rule %q (%v; cause %v), want DuckDB's refusal (%s or %s)", e.Code, e.Rule, err, Cause(err), RuleBind, RuleExecution)
	}
}

func TestLockdownReadBack(t *testing.T) {
	for _, tc := range []struct {
		cfg                        Config
		threads, memory, tempLimit string
	}{
		{Config{}, "2", "1.8 GiB", "3.7 GiB"},
		{Config{Threads: 1, MemoryLimit: "512MiB", MaxTempSize: "1 GB"}, "1", "512.0 MiB", "953.6 MiB"},
	} {
		t.Run(tc.memory, func(t *testing.T) {
			s, file := openFixture(t, tc.cfg)
			got, err := s.Settings(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"enable_external_access":       "false",
				"lock_configuration":           "true",
				"autoload_known_extensions":    "false",
				"autoinstall_known_extensions": "false",
				"allow_community_extensions":   "false",
				"allow_unsigned_extensions":    "false",
				"allow_persistent_secrets":     "false",
				"allow_unredacted_secrets":     "false",
				"threads":                      tc.threads,
				"memory_limit":                 tc.memory,
				"max_temp_directory_size":      tc.tempLimit,
				"max_expression_depth":         "250",
				"temp_directory":               s.tempDir(),
				"extension_directory":          s.extensionDir(),
				"secret_directory":             s.secretDir(),
				// Switching external access off allowed the temp directory …
				"allowed_directories": "[" + s.tempDir() + "/]",
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			// … and the attached file and the catalog file, each with its
			// WAL paths (a set: the order varies).
			paths := strings.Split(strings.Trim(got["allowed_paths"], "[]"), ", ")
			slices.Sort(paths)
			var wantPaths []string
			for _, f := range []string{file, s.catalogFile()} {
				wantPaths = append(wantPaths, f, f+".wal", f+".wal.checkpoint", f+".wal.recovery")
			}
			slices.Sort(wantPaths)
			if !slices.Equal(paths, wantPaths) {
				t.Errorf("allowed_paths = %v, want %v", paths, wantPaths)
			}
			if len(got) != len(securitySettings) {
				t.Errorf("Settings returned %d settings, want %d: %v", len(got), len(securitySettings), got)
			}
		})
	}
}

// TestVerifyFailsClosed checks that the read-back notices a setting that
// differs from the configuration.
func TestVerifyFailsClosed(t *testing.T) {
	s, _ := openFixture(t, Config{})
	ctx := context.Background()
	if _, err := s.verify(ctx); err != nil {
		t.Fatalf("verify on a good sandbox: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"threads":      func(c *Config) { c.Threads = 3 },
		"memory_limit": func(c *Config) { c.MemoryLimit = "3GB" },
		"temp size":    func(c *Config) { c.MaxTempSize = "5GB" },
	} {
		saved := s.cfg
		mutate(&s.cfg)
		_, err := s.verify(ctx)
		s.cfg = saved
		if err == nil || !strings.Contains(err.Error(), "not locked down") {
			t.Errorf("%s: verify = %v, want a not-locked-down error", name, err)
		}
	}
}

func TestViewExposesOnlyAuthorisedColumns(t *testing.T) {
	s, _ := openFixture(t, Config{})
	res := mustQuery(t, s, "SELECT * FROM t ORDER BY unit LIMIT 2")
	if !slices.Equal(res.Columns, authorised) {
		t.Fatalf("columns = %v, want %v", res.Columns, authorised)
	}
	if !slices.Equal(res.Types, []string{"BIGINT", "VARCHAR", "DECIMAL(21,1)"}) {
		t.Errorf("types = %v", res.Types)
	}
	if want := []any{int64(1), "d1", 1.5}; !slices.Equal(res.Rows[1], want) {
		t.Errorf("row 1 = %#v, want %#v", res.Rows[1], want)
	}
	_, err := s.Query(context.Background(), "SELECT secret_name FROM t")
	wantRule(t, err, sluice.EINVALID, RuleBind)
	if !strings.Contains(Cause(err).Error(), `Referenced column "secret_name" not found`) {
		t.Errorf("cause = %v", Cause(err))
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	file := newFixture(t, filepath.Join(dir, "data.duckdb"))
	empty := filepath.Join(dir, "empty.duckdb")
	plainExec(t, fmt.Sprintf("ATTACH %s AS f", quoteString(empty)), "CREATE TABLE f.other(x INT)", "DETACH f")
	for _, tc := range []struct {
		name   string
		cfg    Config
		tables []Table
		want   string
	}{
		{"unknown column", Config{}, []Table{{Name: "t", File: file, Columns: []string{"unit", "salary"}}}, `table "t": column "salary" is not in ` + file},
		{"no data table", Config{}, []Table{{Name: "t", File: empty, Columns: []string{"x"}}}, "read table main.data"},
		{"missing file", Config{}, []Table{{Name: "t", File: filepath.Join(dir, "nope.duckdb"), Columns: []string{"unit"}}}, "no such file"},
		{"directory", Config{}, []Table{{Name: "t", File: dir, Columns: []string{"unit"}}}, "not a regular file"},
		{"NUL in path", Config{}, []Table{{Name: "t", File: file + "\x00x", Columns: []string{"unit"}}}, "invalid path"},
		{"empty name", Config{}, []Table{{Name: "", File: file, Columns: []string{"unit"}}}, "empty"},
		{"control character", Config{}, []Table{{Name: "t\x01x", File: file, Columns: []string{"unit"}}}, "non-printable"},
		{"duplicate table", Config{}, []Table{{Name: "t", File: file, Columns: []string{"unit"}}, {Name: "T", File: file, Columns: []string{"dim"}}}, "listed twice"},
		{"duplicate column", Config{}, []Table{{Name: "t", File: file, Columns: []string{"unit", "UNIT"}}}, "listed twice"},
		{"no columns", Config{}, []Table{{Name: "t", File: file}}, "no authorised columns"},
		{"bad memory", Config{MemoryLimit: "lots"}, nil, "memory limit"},
		{"bad unit", Config{MaxTempSize: "4 parsecs"}, nil, "unknown unit"},
		{"negative threads", Config{Threads: -1}, nil, "threads"},
		{"bad optimizer name", Config{DisabledOptimizers: []string{"join_order'; SET x=1"}}, nil, "optimizer name"},
		{"unknown optimizer", Config{DisabledOptimizers: []string{"no_such_optimizer"}}, nil, "no_such_optimizer"},
		{"URL character in temp dir", Config{TempDir: "x?memory_limit=1TB"}, nil, "temp dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.cfg.TempDir != "" {
				dir = filepath.Join(dir, tc.cfg.TempDir)
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			tc.cfg.TempDir = dir
			s, err := Open(context.Background(), tc.cfg, tc.tables)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if left, _ := os.ReadDir(tc.cfg.TempDir); len(left) != 0 {
				t.Errorf("Open left %v behind", left)
			}
		})
	}
}

// TestOpenQuoting opens a file whose path contains quotes, under a view name
// that contains quotes, next to a second view over the same file.
func TestOpenQuoting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `it's a "dir"`)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := newFixture(t, filepath.Join(dir, "o'data.duckdb"))
	other := newFixture(t, filepath.Join(dir, "other.duckdb"))
	s, err := Open(context.Background(), Config{TempDir: t.TempDir()}, []Table{
		{Name: `my "view"`, File: file, Columns: []string{"unit"}},
		{Name: "dims", File: file, Columns: []string{"dim"}},
		{Name: "other", File: other, Columns: []string{"amount"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := single(t, mustQuery(t, s, `SELECT count(*) FROM "my ""view"""`)); got != int64(fixtureRows) {
		t.Errorf("count = %v", got)
	}
	if got := single(t, mustQuery(t, s, `SELECT count(DISTINCT dim) FROM dims`)); got != int64(5) {
		t.Errorf("distinct dims = %v", got)
	}
	a1, ok1 := s.Source(`my "view"`)
	a2, ok2 := s.Source("dims")
	if !ok1 || !ok2 || a1 != "ds0" || a2 != "ds0" {
		t.Errorf("sources = %q %v, %q %v; want ds0 for both (one file)", a1, ok1, a2, ok2)
	}
	if a, ok := s.Source("other"); !ok || a != "ds1" {
		t.Errorf("Source(other) = %q, %v; want ds1", a, ok)
	}
	if got := single(t, mustQuery(t, s, "SELECT sum(amount) FROM other")); got != 749250.0 {
		t.Errorf("sum = %v", got)
	}
	if _, ok := s.Source("nope"); ok {
		t.Error("Source of an unknown table reported ok")
	}
}

func TestCloseRemovesPrivateDir(t *testing.T) {
	parent := t.TempDir()
	s, err := Open(context.Background(), Config{TempDir: parent}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustQuery(t, s, "SELECT 1")
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("parent holds %v, want one private dir", entries)
	}
	fi, err := os.Stat(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("private dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("private dir still there after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = s.Query(context.Background(), "SELECT 1")
	wantRule(t, err, sluice.EUNAVAILABLE, RuleClosed)
	_, err = s.Settings(context.Background())
	wantRule(t, err, sluice.EUNAVAILABLE, RuleClosed)
}

func TestScratchDB(t *testing.T) {
	s, err := ScratchDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SerializePlan(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("SerializePlan: %v (%v)", err, Cause(err))
	}
	if got := single(t, mustQuery(t, s, "SELECT current_setting('lock_configuration')")); got != true {
		t.Errorf("lock_configuration = %v", got)
	}
}

// scan is one LOGICAL_GET of a bound plan.
type scan struct {
	Function, Catalog, Schema, Table string
	Columns                          []string
}

// planScans returns the LOGICAL_GETs of a json_serialize_plan document.
func planScans(t testing.TB, doc []byte) []scan {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var out []scan
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if x["type"] == "LOGICAL_GET" {
				sc := scan{Function: fmt.Sprint(x["name"])}
				if fd, ok := x["function_data"].(map[string]any); ok {
					sc.Catalog, sc.Schema, sc.Table = fmt.Sprint(fd["catalog"]), fmt.Sprint(fd["schema"]), fmt.Sprint(fd["table"])
				}
				names, _ := x["names"].([]any)
				idx, _ := x["column_indexes"].([]any)
				for _, i := range idx {
					n := int(i.(map[string]any)["index"].(float64))
					sc.Columns = append(sc.Columns, fmt.Sprint(names[n]))
				}
				out = append(out, sc)
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func TestSerializePlanShowsSource(t *testing.T) {
	s, _ := openFixture(t, Config{})
	ctx := context.Background()
	alias, ok := s.Source("t")
	if !ok || alias != "ds0" {
		t.Fatalf("Source(t) = %q, %v", alias, ok)
	}
	doc, err := s.SerializePlan(ctx, "SELECT dim, sum(amount) FROM t WHERE unit > 3 GROUP BY dim")
	if err != nil {
		t.Fatalf("SerializePlan: %v (%v)", err, Cause(err))
	}
	scans := planScans(t, doc)
	want := []scan{{"seq_scan", alias, "main", "data", []string{"dim", "amount", "unit"}}}
	if len(scans) != 1 || scans[0].Function != "seq_scan" || scans[0].Catalog != alias ||
		scans[0].Schema != "main" || scans[0].Table != "data" {
		t.Fatalf("scans = %+v, want %+v", scans, want)
	}
	if got := slices.Sorted(slices.Values(scans[0].Columns)); !slices.Equal(got, []string{"amount", "dim", "unit"}) {
		t.Errorf("scanned columns = %v", scans[0].Columns)
	}

	// Reading the attached catalog directly binds to the same source; only
	// the scanned columns tell it apart from the view.
	doc, err = s.SerializePlan(ctx, "SELECT secret_name FROM ds0.main.data")
	if err != nil {
		t.Fatalf("SerializePlan: %v (%v)", err, Cause(err))
	}
	if scans := planScans(t, doc); len(scans) != 1 || scans[0].Catalog != alias || !slices.Equal(scans[0].Columns, []string{"secret_name"}) {
		t.Errorf("direct scan = %+v", scans)
	}

	// Planning does not execute: a SET VARIABLE is planned, not run.
	if _, err := s.SerializePlan(ctx, "SET VARIABLE planned = 1"); err != nil {
		t.Fatalf("SerializePlan(SET VARIABLE): %v (%v)", err, Cause(err))
	}
	if got := single(t, mustQuery(t, s, "SELECT getvariable('planned')")); got != nil {
		t.Errorf("planning set a variable: %v", got)
	}
}

func TestSerializePlanError(t *testing.T) {
	s, _ := openFixture(t, Config{})
	_, err := s.SerializePlan(context.Background(), "SELECT secret_name FROM t")
	wantRule(t, err, sluice.EINVALID, RulePlan)
	if !strings.Contains(Cause(err).Error(), "secret_name") {
		t.Errorf("cause = %v", Cause(err))
	}
	if strings.Contains(err.Error(), "secret_name") {
		t.Errorf("error text leaks the engine message: %v", err)
	}
}

// An instance for plan checks can switch optimizers off; the setting is
// applied before the configuration is locked.
func TestDisabledOptimizers(t *testing.T) {
	s, _ := openFixture(t, Config{DisabledOptimizers: []string{"build_side_probe_side"}})
	res, err := s.Query(context.Background(), "SELECT current_setting('disabled_optimizers')")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows[0][0]); got != "build_side_probe_side" {
		t.Errorf("disabled_optimizers = %q", got)
	}
	if got := s.Tables(); len(got) != 1 || got[0].Name == "" {
		t.Errorf("Tables() = %+v", got)
	}
}

// The plan checks' instance is locked like the sandbox's (same settings
// read back, but one thread), binds the same views over the same files,
// and runs without build_side_probe_side.
func TestPlannerLockedLikeTheSandbox(t *testing.T) {
	for _, cfg := range []Config{{}, {DisableFileSystem: true, Threads: 3}} {
		s, _ := openFixture(t, cfg)
		ctx := context.Background()
		want, err := s.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want["threads"] = "1"
		var conn bindings.Connection
		if bindings.Connect(s.planner, &conn) == bindings.StateError {
			t.Fatal("connect to the planner")
		}
		row, err := duckc.Query(conn, settingsSQL(), len(securitySettings))
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range securitySettings {
			if got := string(row[i]); got != want[n] && sortedList(got) != sortedList(want[n]) {
				t.Errorf("%+v: planner %s = %q, sandbox's (threads 1) %q", cfg, n, row[i], want[n])
			}
		}
		if _, err := duckc.Query(conn, s.globSQL(), 1); fileSystemRefused(err) != cfg.DisableFileSystem {
			t.Errorf("%+v: listing the temp directory in the planner: %v", cfg, err)
		}
		if row, err := duckc.Query(conn, "SELECT current_setting('disabled_optimizers')::VARCHAR", 1); err != nil || string(row[0]) != planNoSwap {
			t.Errorf("%+v: planner disabled_optimizers = %q, %v", cfg, row, err)
		}
		for _, q := range []string{"SET threads = 4", "SET enable_external_access = true", "SET lock_configuration = false"} {
			if err := duckc.Exec(conn, q); err == nil {
				t.Errorf("%+v: the planner ran %q", cfg, q)
			}
		}
		bindings.Disconnect(&conn)

		// Binding a file reader outside the allowed paths fails there.
		_, err = s.SerializePlan(ctx, "SELECT * FROM read_csv('/etc/passwd')")
		wantRule(t, err, sluice.EINVALID, RulePlan)
		// The same view, on the same file, under the same alias.
		doc, err := s.SerializePlan(ctx, "SELECT dim FROM t")
		if err != nil {
			t.Fatalf("SerializePlan: %v (%v)", err, Cause(err))
		}
		if scans := planScans(t, doc); len(scans) != 1 || scans[0].Catalog != "ds0" || !slices.Equal(scans[0].Columns, authorised) {
			t.Errorf("%+v: planner scans %+v, want ds0 with %v", cfg, scans, authorised)
		}
	}
}

// sortedList sorts the items of a list setting as DuckDB prints it ("[a,
// b]"), whose order is a set's.
func sortedList(v string) string {
	items := strings.Split(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"), ", ")
	slices.Sort(items)
	return strings.Join(items, ", ")
}
