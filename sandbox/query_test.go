package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sluice"
)

// heavyQuery runs for minutes on two cores.
const heavyQuery = "SELECT count(*) FROM range(100000000) a, range(1000) b WHERE a.range * b.range = 7"

func TestQueryTimeout(t *testing.T) {
	s, _ := openFixture(t, Config{Timeout: 300 * time.Millisecond})
	start := time.Now()
	res, err := s.Query(context.Background(), heavyQuery)
	elapsed := time.Since(start)
	if res != nil {
		t.Errorf("got a result: %v", res.Rows)
	}
	wantRule(t, err, sluice.EUNAVAILABLE, RuleTimeout)
	if e := sandboxError(t, err); e.Message != "query exceeded its time limit" {
		t.Errorf("message = %q", e.Message)
	}
	if elapsed > 5*time.Second {
		t.Errorf("timeout took %v", elapsed)
	}
	t.Logf("300ms timeout returned after %v; cause: %v", elapsed, Cause(err))
	if got := single(t, mustQuery(t, s, "SELECT count(*) FROM t")); got != int64(fixtureRows) {
		t.Errorf("next query: %v", got)
	}
}

func TestQueryCanceled(t *testing.T) {
	s, _ := openFixture(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Query(ctx, "SELECT 1")
	wantRule(t, err, sluice.EUNAVAILABLE, RuleCanceled)
	mustQuery(t, s, "SELECT 1")
}

func TestMaxResultRows(t *testing.T) {
	s, _ := openFixture(t, Config{MaxResultRows: 10})
	res, err := s.Query(context.Background(), "SELECT * FROM range(11)")
	if res != nil {
		t.Errorf("partial result returned: %d rows", len(res.Rows))
	}
	wantRule(t, err, sluice.EINVALID, RuleResultRows)
	if got := len(mustQuery(t, s, "SELECT * FROM range(10)").Rows); got != 10 {
		t.Errorf("10 rows: got %d", got)
	}
}

func TestMemoryLimit(t *testing.T) {
	s, _ := openFixture(t, Config{MemoryLimit: "64MB"})
	_, err := s.Query(context.Background(),
		"SELECT length(string_agg(r::VARCHAR || 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', ',')) FROM range(10000000) x(r)")
	wantRule(t, err, sluice.EINTERNAL, RuleExecution)
	if e := sandboxError(t, err); e.Message != "query failed in the sandbox" {
		t.Errorf("message = %q", e.Message)
	}
	if c := Cause(err).Error(); !strings.Contains(c, "Out of Memory Error") {
		t.Errorf("cause = %q", c)
	}
	if got := single(t, mustQuery(t, s, "SELECT count(*) FROM t")); got != int64(fixtureRows) {
		t.Errorf("next query: %v", got)
	}
}

// TestMultiStatement checks that a string with several statements is
// refused before any of them runs (duckdb-go's QueryContext would run all
// but the last).
func TestMultiStatement(t *testing.T) {
	s, _ := openFixture(t, Config{})
	for _, q := range []string{"SELECT 1; SELECT 2", "SET VARIABLE pwned = 'yes'; SELECT 1"} {
		_, err := s.Query(context.Background(), q)
		wantRule(t, err, sluice.EINVALID, RuleBind)
		if c := Cause(err).Error(); !strings.Contains(c, "multi-statement") {
			t.Errorf("%s: cause = %q", q, c)
		}
	}
	if got := single(t, mustQuery(t, s, "SELECT getvariable('pwned')")); got != nil {
		t.Errorf("the first statement ran: pwned = %v", got)
	}
	// One statement with a trailing semicolon is one statement.
	if got := single(t, mustQuery(t, s, "SELECT 3;")); got != int64(3) {
		t.Errorf("got %v", got)
	}
	_, err := s.Query(context.Background(), "")
	wantRule(t, err, sluice.EINVALID, RuleBind)
}

func TestValueConversion(t *testing.T) {
	s, _ := openFixture(t, Config{})
	res := mustQuery(t, s, `SELECT
		NULL, true, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UTINYINT, 6::UBIGINT,
		18446744073709551615::UBIGINT, 170141183460469231731687303715884105727::HUGEINT,
		sum(x), 1.25::FLOAT, 2.5::DOUBLE, 12.34::DECIMAL(10,2), 'text', 'Y'::BLOB,
		DATE '2024-02-29', TIMESTAMP '2024-02-29 12:34:56',
		'4ac7a9e9-607c-4c8a-84f3-843f0191e3fd'::UUID, [1, 2], {'a': 1}
		FROM (VALUES (1::BIGINT), (2)) v(x)`)
	maxHuge, _ := new(big.Int).SetString("170141183460469231731687303715884105727", 10)
	maxU64, _ := new(big.Int).SetString("18446744073709551615", 10)
	want := []any{
		nil, true, int64(1), int64(2), int64(3), int64(4), int64(5), int64(6),
		maxU64, maxHuge, big.NewInt(3), 1.25, 2.5, 12.34, "text", []byte("Y"),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC),
		"4ac7a9e9-607c-4c8a-84f3-843f0191e3fd", []any{int64(1), int64(2)}, map[string]any{"a": int64(1)},
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != len(want) {
		t.Fatalf("rows = %v", res.Rows)
	}
	for i, w := range want {
		g := res.Rows[0][i]
		if gb, ok := g.(*big.Int); ok {
			if wb, ok := w.(*big.Int); !ok || gb.Cmp(wb) != 0 {
				t.Errorf("column %d (%s) = %v, want %v", i, res.Types[i], g, w)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("column %d (%s) = %#v, want %#v", i, res.Types[i], g, w)
		}
	}

	_, err := s.Query(context.Background(), "SELECT INTERVAL 1 DAY")
	wantRule(t, err, sluice.EINTERNAL, RuleResultType)
}

// DECIMAL values come back as float64 only where no two decimals can share
// that float; wider ones keep their exact text, so distinct group keys stay
// distinct.
func TestDecimalsStayDistinct(t *testing.T) {
	s, _ := openFixture(t, Config{})
	res, err := s.Query(context.Background(), `SELECT * FROM (VALUES
		(1.25::DECIMAL(18,2)), (0.1::DECIMAL(18,1)), (-3::DECIMAL(18,0)),
		(123456789012345678::DECIMAL(18,0)), (123456789012345679::DECIMAL(18,0)),
		('12345678901234567890.123'::DECIMAL(38,3))) AS t(d)`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{1.25, 0.1, -3.0, sluice.Decimal("123456789012345678"), sluice.Decimal("123456789012345679"), sluice.Decimal("12345678901234567890.123")}
	for i, w := range want {
		if got := res.Rows[i][0]; got != w {
			t.Errorf("row %d: %#v, want %#v", i, got, w)
		}
	}
}

// Query runs only SELECT statements: anything else is refused before it
// runs, and changes nothing later statements see.
func TestQueryRunsOnlySelect(t *testing.T) {
	s, file := openFixture(t, Config{})
	ctx := context.Background()
	for _, q := range []string{
		"SET VARIABLE leak = 42",
		"CREATE TEMP VIEW t AS SELECT 1 AS unit",
		"CREATE OR REPLACE TEMP MACRO least(a, b) AS a",
		"SET search_path = 'temp'",
		"ATTACH ':memory:' AS scratch",
		fmt.Sprintf("ATTACH %s AS again (READ_ONLY)", quoteString(file)),
		"COPY (SELECT 1 AS x) TO '" + filepath.Join(s.tempDir(), "x.csv") + "'",
		"PRAGMA threads = 1",
		"EXPLAIN SELECT * FROM t",
		"INSTALL httpfs",
		"CALL pragma_version()",
		"USE ds0",
	} {
		_, err := s.Query(ctx, q)
		var e *sluice.Error
		if !errors.As(err, &e) || e.Rule != RuleStatement {
			t.Errorf("%s: got %v, want rule %s", q, err, RuleStatement)
		}
	}
	// The view is still the catalog's, and nothing was written.
	if got := mustQuery(t, s, "SELECT count(*) FROM t").Rows[0][0]; got != int64(fixtureRows) {
		t.Errorf("count = %v, want %d", got, fixtureRows)
	}
	if _, err := os.Stat(filepath.Join(s.tempDir(), "x.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("COPY wrote: %v", err)
	}
	for _, q := range []string{"FROM t LIMIT 1", "VALUES (1)", "WITH x AS (SELECT 1 AS a) SELECT a FROM x", "SELECT 1 UNION ALL SELECT 2"} {
		mustQuery(t, s, q)
	}
}
