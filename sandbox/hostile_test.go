package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sluice"
)

// Engine messages of the refusals.
const (
	fsDisabled   = "file system operations are disabled by configuration"
	configLocked = "the configuration has been locked"
)

// TestLockRefusesHostileSQL runs hostile statements directly, as if query
// analysis had let them through and Query ran statements other than
// SELECT, and requires the locked instance to refuse each for the
// expected reason.
func TestLockRefusesHostileSQL(t *testing.T) {
	s, _ := openFixture(t, Config{})
	outside := t.TempDir()
	other := newFixture(t, filepath.Join(outside, "other.duckdb"))
	parquet := filepath.Join(outside, "outside.parquet")
	plainExec(t, fmt.Sprintf("COPY (SELECT 42 AS x) TO %s (FORMAT parquet)", quoteString(parquet)))
	copied := filepath.Join(outside, "x.csv")

	for _, tc := range []struct{ sql, cause string }{
		{"SELECT * FROM read_text('/etc/hostname')", fsDisabled},
		{"SELECT * FROM read_csv('/etc/passwd')", fsDisabled},
		{"SELECT * FROM glob('/etc/*')", fsDisabled},
		{fmt.Sprintf("SELECT * FROM read_parquet(%s)", quoteString(parquet)), fsDisabled},
		{fmt.Sprintf("SELECT * FROM %s", quoteString(parquet)), fsDisabled}, // replacement scan
		{"FROM '/etc/passwd'", "Table with name /etc/passwd does not exist"},
		{"FROM '/etc/passwd.csv'", fsDisabled},
		{fmt.Sprintf("COPY (SELECT 1) TO %s", quoteString(copied)), fsDisabled},
		{fmt.Sprintf("ATTACH %s AS other", quoteString(other)), fsDisabled},
		{"INSTALL httpfs", fsDisabled},
		{"LOAD httpfs", "Loading external extensions is disabled through configuration"},
		{"SET threads = 8", configLocked},
		{"RESET threads", configLocked},
		{"PRAGMA threads = 8", configLocked},
		{"SET enable_external_access = true", configLocked},
		{"SET lock_configuration = false", configLocked},
		{"SET memory_limit = '100GB'", configLocked},
		{"SET autoload_known_extensions = true", configLocked},
		{"SET allowed_directories = ['/']", configLocked},
		{"SET temp_directory = '/tmp'", configLocked},
		{"SELECT secret_name FROM t", `Referenced column "secret_name" not found`},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, err := s.queryAny(context.Background(), tc.sql)
			wantEngineRefusal(t, err)
			if cause := Cause(err).Error(); !strings.Contains(cause, tc.cause) {
				t.Errorf("cause %q does not contain %q", cause, tc.cause)
			}
		})
	}
	if _, err := os.Stat(copied); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("COPY wrote %s: %v", copied, err)
	}
	got, err := s.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got["threads"] != "2" || got["memory_limit"] != "1.8 GiB" || got["enable_external_access"] != "false" ||
		got["lock_configuration"] != "true" || got["autoload_known_extensions"] != "false" {
		t.Errorf("settings changed: %v", got)
	}
	// The sandbox still answers.
	if got := single(t, mustQueryAny(t, s, "SELECT count(*) FROM t")); got != int64(fixtureRows) {
		t.Errorf("count = %v", got)
	}
}

// TestLockKnownGaps asserts what the lock does NOT stop, as of DuckDB 1.5.6.
// Query analysis must refuse every one of these; if DuckDB starts refusing
// one, this test fails and the gap can be struck off the list.
func TestLockKnownGaps(t *testing.T) {
	s, file := openFixture(t, Config{})
	ctx := context.Background()

	t.Run("attached catalog reachable by name", func(t *testing.T) {
		// The view hides secret_name, but the attached file is a catalog
		// that any SQL can name. Neither search_path nor the lock changes
		// that (SET schema/search_path only changes the default for
		// unqualified names). The bound-plan check sees these scans: same
		// catalog as the view, but unauthorised columns.
		got := single(t, mustQueryAny(t, s, "SELECT secret_name FROM ds0.main.data WHERE unit = 7"))
		if got != "secret_7" {
			t.Errorf("got %v", got)
		}
		got = single(t, mustQueryAny(t, s, "SELECT secret_name FROM ds0.data WHERE unit = 7"))
		if got != "secret_7" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("dynamic SQL with query()", func(t *testing.T) {
		got := single(t, mustQueryAny(t, s, "SELECT * FROM query('SELECT secret_name FROM ds0.main.' || 'data WHERE unit = 8')"))
		if got != "secret_8" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("SET VARIABLE", func(t *testing.T) {
		mustQueryAny(t, s, "SET VARIABLE leak = 42")
		if got := single(t, mustQueryAny(t, s, "SELECT getvariable('leak')")); got != int64(42) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("temporary tables", func(t *testing.T) {
		// The catalog is read-only, and so is every database the instance
		// would create (ATTACH ':memory:' is refused), but a connection's
		// temporary objects live in memory, spilled under the temp limit.
		_, err := s.queryAny(ctx, "ATTACH ':memory:' AS scratch")
		wantEngineRefusal(t, err)
		mustQueryAny(t, s, "CREATE TEMP TABLE copy AS SELECT * FROM t")
	})
	t.Run("COPY into the private temp dir", func(t *testing.T) {
		leak := filepath.Join(s.tempDir(), "leak.csv")
		mustQueryAny(t, s, fmt.Sprintf("COPY (SELECT 42 AS x) TO %s", quoteString(leak)))
		if _, err := os.Stat(leak); err != nil {
			t.Fatalf("COPY into the temp dir did not write: %v", err)
		}
		if got := single(t, mustQueryAny(t, s, fmt.Sprintf("SELECT x FROM read_csv(%s)", quoteString(leak)))); got != int64(42) {
			t.Errorf("read back %v", got)
		}
	})
	t.Run("read raw bytes of the attached file", func(t *testing.T) {
		// enable_external_access=false adds attached files to allowed_paths,
		// so the dataset file, unauthorised columns included, is readable
		// byte for byte. Config.DisableFileSystem closes this.
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		got := single(t, mustQueryAny(t, s, fmt.Sprintf("SELECT size FROM read_blob(%s)", quoteString(file))))
		if got != fi.Size() {
			t.Errorf("read_blob size = %v, want %d", got, fi.Size())
		}
	})
	t.Run("re-ATTACH the dataset file", func(t *testing.T) {
		mustQueryAny(t, s, fmt.Sprintf("ATTACH %s AS again (READ_ONLY)", quoteString(file)))
		if got := single(t, mustQueryAny(t, s, "SELECT secret_name FROM again.main.data WHERE unit = 9")); got != "secret_9" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("write beside the dataset file", func(t *testing.T) {
		// The .wal paths of attached files are allowed paths too.
		mustQueryAny(t, s, fmt.Sprintf("COPY (SELECT 1 AS x) TO %s (FORMAT csv)", quoteString(file+".wal")))
		if _, err := os.Stat(file + ".wal"); err != nil {
			t.Errorf("no .wal written: %v", err)
		}
		// The file itself is not writable: COPY writes a temp file first.
		_, err := s.queryAny(ctx, fmt.Sprintf("COPY (SELECT 1 AS x) TO %s (FORMAT csv)", quoteString(file)))
		wantEngineRefusal(t, err)
	})
	t.Run("setseed", func(t *testing.T) {
		var draws []any
		for range 2 {
			mustQueryAny(t, s, "SELECT setseed(0.5)")
			draws = append(draws, single(t, mustQueryAny(t, s, "SELECT random()")))
		}
		if draws[0] != draws[1] {
			t.Errorf("random() after setseed differs: %v", draws)
		}
	})
	t.Run("error() carries row values, our error does not", func(t *testing.T) {
		_, err := s.queryAny(ctx, "SELECT error((SELECT secret_name FROM ds0.main.data WHERE unit = 7))")
		wantEngineRefusal(t, err)
		if strings.Contains(err.Error(), "secret_7") {
			t.Errorf("returned error leaks the row value: %v", err)
		}
		if msg := sluice.ErrorMessage(err); strings.Contains(msg, "secret_7") {
			t.Errorf("user-facing message leaks the row value: %v", msg)
		}
		if !strings.Contains(Cause(err).Error(), "secret_7") {
			t.Errorf("cause %v should carry the engine message for logs", Cause(err))
		}
	})
	t.Run("DDL persists across queries", func(t *testing.T) {
		// The catalog's views cannot be replaced, but a temporary view of
		// the same name hides one: later queries on the same Sandbox see
		// it.
		_, err := s.queryAny(ctx, "CREATE OR REPLACE VIEW t AS SELECT secret_name FROM ds0.main.data")
		wantEngineRefusal(t, err)
		mustQueryAny(t, s, "CREATE OR REPLACE TEMP VIEW t AS SELECT secret_name FROM ds0.main.data")
		res := mustQueryAny(t, s, "SELECT * FROM t LIMIT 1")
		if len(res.Columns) != 1 || res.Columns[0] != "secret_name" {
			t.Errorf("columns = %v", res.Columns)
		}
	})
}

// TestDisableFileSystem checks what Config.DisableFileSystem adds to the
// lock, and what it costs.
func TestDisableFileSystem(t *testing.T) {
	s, file := openFixture(t, Config{DisableFileSystem: true})
	ctx := context.Background()
	const disabled = "File system LocalFileSystem has been disabled by configuration"
	for _, q := range []string{
		fmt.Sprintf("SELECT size FROM read_blob(%s)", quoteString(file)),
		fmt.Sprintf("ATTACH %s AS again (READ_ONLY)", quoteString(file)),
		fmt.Sprintf("COPY (SELECT 1 AS x) TO %s (FORMAT csv)", quoteString(file+".wal")),
		fmt.Sprintf("COPY (SELECT 42 AS x) TO %s", quoteString(filepath.Join(s.tempDir(), "leak.csv"))),
		fmt.Sprintf("SELECT * FROM glob(%s)", quoteString(filepath.Join(s.tempDir(), "*"))),
		"SELECT * FROM read_text('/etc/hostname')",
		"SET disabled_filesystems = ''",
	} {
		_, err := s.queryAny(ctx, q)
		wantEngineRefusal(t, err)
		if c := Cause(err).Error(); !strings.Contains(c, disabled) && !strings.Contains(c, configLocked) {
			t.Errorf("%s: cause %q", q, c)
		}
	}
	if _, err := os.Stat(file + ".wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".wal written: %v", err)
	}
	// The attached data stays readable.
	if got := single(t, mustQueryAny(t, s, "SELECT sum(amount) FROM t")); got != 749250.0 {
		t.Errorf("sum = %v", got)
	}
	// The remaining gaps are unaffected, e.g. the attached catalog.
	if got := single(t, mustQueryAny(t, s, "SELECT secret_name FROM ds0.main.data WHERE unit = 3")); got != "secret_3" {
		t.Errorf("got %v", got)
	}
}

// spillQuery needs more than 32MB of memory unless its sort spills.
const spillQuery = "SELECT count(*) FROM (SELECT r, r::VARCHAR || 'xxxxxxxxxxxxxxxx' AS s FROM range(1500000) x(r) ORDER BY s DESC)"

// TestDisableFileSystemCostsSpilling shows the price of DisableFileSystem: a
// sort that spills under the default lock fails without the file system.
func TestDisableFileSystemCostsSpilling(t *testing.T) {
	if testing.Short() {
		t.Skip("spills to disk")
	}
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("disable=", disable), func(t *testing.T) {
			s, err := Open(context.Background(), Config{MemoryLimit: "32MB", TempDir: t.TempDir(), DisableFileSystem: disable}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			res, err := s.Query(context.Background(), spillQuery)
			if !disable {
				if err != nil {
					t.Fatalf("spilling sort failed: %v (%v)", err, Cause(err))
				}
				if single(t, res) != int64(1500000) {
					t.Errorf("count = %v", res.Rows)
				}
				return
			}
			wantEngineRefusal(t, err)
			if c := Cause(err).Error(); !strings.Contains(c, "LocalFileSystem has been disabled") {
				t.Errorf("cause %q", c)
			}
		})
	}
}
