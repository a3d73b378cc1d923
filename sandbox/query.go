package sandbox

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"sluice"
	"sluice/duckc"
)

// Rules of the errors Query and SerializePlan return.
const (
	RuleExecution  = "sandbox.execution"   // DuckDB refused or failed the statement
	RuleTimeout    = "sandbox.timeout"     // the statement ran past Config.Timeout
	RuleCanceled   = "sandbox.canceled"    // the caller's context was canceled
	RuleResultRows = "sandbox.result_rows" // more than Config.MaxResultRows rows
	RuleResultType = "sandbox.result_type" // a value of a type Result does not carry
	RulePlan       = "sandbox.plan"        // json_serialize_plan could not plan the SQL
	RuleBind       = "sandbox.bind"        // DuckDB could not bind or plan the statement: nothing was read
	RuleClosed     = "sandbox.closed"      // the Sandbox is closed
	RuleStatement  = "sandbox.statement"   // a statement other than SELECT
)

// errClosed is returned by the methods of a closed Sandbox.
var errClosed = &sluice.Error{Code: sluice.EUNAVAILABLE, Step: sluice.StepSandbox, Rule: RuleClosed, Message: "the sandbox is closed"}

// Result is the materialised result of a query.
type Result struct {
	Columns []string
	// Types are DuckDB's type names of the columns, e.g. BIGINT, HUGEINT,
	// DECIMAL(18,2), VARCHAR.
	Types []string
	// Rows hold plain Go values: nil, bool, int64, float64, string, []byte,
	// time.Time, *big.Int (HUGEINT, UHUGEINT, and UBIGINT above MaxInt64),
	// and []any / map[string]any of these for LIST, ARRAY, STRUCT and JSON.
	// DECIMAL becomes float64 where that float's shortest text is the
	// decimal's exact text, and a sluice.Decimal of that text where it is not;
	// UUID becomes its canonical string.
	Rows [][]any
}

// failure is an error of Query or SerializePlan: a user-facing *sluice.Error
// and, for server-side logs only, the engine error behind it. Error and
// Unwrap expose only the public part, because DuckDB's messages can carry
// row values (error((SELECT secret …)), failing casts).
type failure struct {
	public *sluice.Error
	cause  error
}

var _ error = (*failure)(nil)

func (f *failure) Error() string { return f.public.Error() }
func (f *failure) Unwrap() error { return f.public }

// Cause returns the engine error behind an error returned by Query or
// SerializePlan, for server-side logs; it may contain row values and must
// never be shown to analysts. For any other error Cause returns err.
func Cause(err error) error {
	var f *failure
	if errors.As(err, &f) && f.cause != nil {
		return f.cause
	}
	return err
}

// fail builds a failure.
func fail(code, rule, msg string, cause error) error {
	return &failure{
		public: &sluice.Error{Code: code, Step: sluice.StepSandbox, Rule: rule, Message: msg},
		cause:  cause,
	}
}

// classify maps an engine error of a statement run under ctx.
func classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fail(sluice.EUNAVAILABLE, RuleTimeout, "query exceeded its time limit", err)
	case ctx.Err() != nil:
		return fail(sluice.EUNAVAILABLE, RuleCanceled, "query was canceled", err)
	}
	return fail(sluice.EINTERNAL, RuleExecution, "query failed in the sandbox", err)
}

// Query runs one SQL statement and returns its whole result. It is meant for
// SQL rendered by the query rewriter, never for an analyst's raw text.
//
// The statement is prepared through DuckDB's single-statement path: a string
// with more than one statement is refused before any of it runs (the
// database/sql path of duckdb-go would run every statement but the last).
// Preparing (parse, bind, optimise) is not interruptible; the deadline
// interrupts execution.
//
// Errors are *sluice.Error values (use errors.As) with Step sandbox and Rule
// RuleTimeout, RuleCanceled, RuleResultRows, RuleResultType or RuleExecution.
// They never contain DuckDB's message; Cause returns it for logs.
func (s *Sandbox) Query(ctx context.Context, sql string) (*Result, error) {
	return s.query(ctx, sql, true)
}

func (s *Sandbox) query(ctx context.Context, sql string, selectOnly bool) (*Result, error) {
	res := &Result{}
	err := s.each(ctx, sql, selectOnly, func(cols, types []string) {
		res.Columns, res.Types = cols, types
	}, func(row []any) error {
		if len(res.Rows) == s.cfg.MaxResultRows {
			return fail(sluice.EINVALID, RuleResultRows,
				fmt.Sprintf("result too large: more than %d rows", s.cfg.MaxResultRows), nil)
		}
		res.Rows = append(res.Rows, append([]any(nil), row...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Each runs one statement as Query does and passes its rows to fn as they
// come, converted as in Result.Rows, instead of keeping them: no
// MaxResultRows applies, so a caller that bounds its own memory can read a
// result of any size without the refusal depending on how many rows there
// are. columns, if not nil, is called once with the column names and types
// before the first row. fn must not keep row, which is reused; an error from
// fn stops the query and is returned as it is. Errors are otherwise Query's.
// The deadline interrupts DuckDB's execution, which completes before the
// first row is read (duckdb-go materialises the result); reading the rows
// and fn are not interrupted by it.
func (s *Sandbox) Each(ctx context.Context, sql string, columns func(names, types []string), fn func(row []any) error) error {
	return s.each(ctx, sql, true, columns, fn)
}

// each is Each; selectOnly false lets a statement of any type run (for
// the tests of what the lock alone stops).
func (s *Sandbox) each(ctx context.Context, sql string, selectOnly bool, columns func(names, types []string), fn func(row []any) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return classify(ctx, err)
	}
	return s.conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fail(sluice.EINTERNAL, RuleExecution, "query failed in the sandbox", fmt.Errorf("sandbox: unexpected driver connection %T", dc))
		}
		return s.run(ctx, c, sql, selectOnly, columns, fn)
	})
}

// run prepares and executes one statement on the driver connection and
// passes its converted rows to fn.
func (s *Sandbox) run(ctx context.Context, c driver.Conn, sql string, selectOnly bool, columns func(names, types []string), fn func(row []any) error) error {
	// driver.Conn.Prepare (unlike PrepareContext) refuses multi-statement
	// strings without executing any of them.
	stmt, err := c.Prepare(sql)
	if err != nil {
		if ctx.Err() == nil {
			// Binding and planning read no rows, only the catalog: such a
			// failure (a constant DuckDB's binder rejects, say) tells
			// nothing about the data.
			return fail(sluice.EINVALID, RuleBind, "query could not be bound", err)
		}
		return classify(ctx, err)
	}
	defer stmt.Close()
	if selectOnly {
		// Only a SELECT runs: no DDL, SET, ATTACH, COPY, PRAGMA or the
		// like, which could change what later statements on this
		// connection bind to (a temporary view hiding a table, a search
		// path) beyond what the plan checks, on another connection of the
		// instance, can see.
		typed, ok := stmt.(interface {
			StatementType() (duckdb.StmtType, error)
		})
		if !ok {
			return fail(sluice.EINTERNAL, RuleExecution, "query failed in the sandbox", fmt.Errorf("sandbox: statement %T has no type", stmt))
		}
		if t, err := typed.StatementType(); err != nil || t != duckdb.STATEMENT_TYPE_SELECT {
			return fail(sluice.EINVALID, RuleStatement, "only a SELECT statement runs in the sandbox", fmt.Errorf("statement type %v (%v)", t, err))
		}
	}
	qs, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		return fail(sluice.EINTERNAL, RuleExecution, "query failed in the sandbox", fmt.Errorf("sandbox: statement %T cannot query with a context", stmt))
	}
	rows, err := qs.QueryContext(ctx, nil)
	if err != nil {
		return classify(ctx, err)
	}
	defer rows.Close()

	names := append([]string(nil), rows.Columns()...)
	types := make([]string, len(names))
	if tn, ok := rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		for i := range types {
			types[i] = tn.ColumnTypeDatabaseTypeName(i)
		}
	}
	if columns != nil {
		columns(names, types)
	}
	dst := make([]driver.Value, len(names))
	row := make([]any, len(names))
	for {
		err := rows.Next(dst)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return classify(ctx, err)
		}
		for i, v := range dst {
			if row[i], err = plain(v, types[i]); err != nil {
				return fail(sluice.EINTERNAL, RuleResultType,
					"result has a value of an unsupported type", fmt.Errorf("column %d (%s): %w", i, types[i], err))
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// plain converts a driver value to a plain Go value; dbType is DuckDB's
// name of the column's type.
func plain(v any, dbType string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64, float64, time.Time:
		return x, nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return new(big.Int).SetUint64(x), nil
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	case *big.Int:
		return x, nil
	case duckdb.Decimal:
		return decimal(x), nil
	case []byte:
		if dbType == "UUID" && len(x) == 16 {
			return formatUUID(x), nil
		}
		return append([]byte(nil), x...), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = plain(e, ""); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			var err error
			if out[k], err = plain(e, ""); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// decimal returns a DECIMAL as float64 when the float's shortest text is
// the decimal's exact text, and as a sluice.Decimal of that text
// otherwise: two distinct decimals never become one value (they would
// merge two groups' keys).
func decimal(d duckdb.Decimal) any {
	f := d.Float64()
	if s := d.String(); strconv.FormatFloat(f, 'f', -1, 64) != s {
		return sluice.Decimal(s)
	}
	return f
}

// formatUUID renders 16 bytes as a canonical UUID string.
func formatUUID(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], b[10:16])
	return string(buf[:])
}

// SerializePlan binds sql in the sandbox's plan checks' instance (the same
// catalog and files, locked the same way, on one thread; see openPlanner)
// and returns DuckDB's bound logical plan as JSON text
// (json_serialize_plan, with sql as a bound parameter), before
// optimization: every scan lists every column of the table or view it
// binds to, whatever the data's statistics. The JSON has one entry in
// "plans" per statement in sql.
// Binding has side effects for some table functions (file globbing,
// query() parsing), so call it only with SQL that passed analysis.
//
// If DuckDB cannot plan the SQL ({"error":true}) the error is a
// *sluice.Error with Code EINVALID and Rule RulePlan; Cause returns
// DuckDB's error type and message.
func (s *Sandbox) SerializePlan(ctx context.Context, sql string) ([]byte, error) {
	return s.serializePlan(ctx, sql, false)
}

// SerializeOptimizedPlan is SerializePlan after DuckDB's optimizer: column
// pruning makes each scan list exactly the columns the query reads, even
// through a view exposing more; but the optimizer may also drop scans whose
// filters the data's statistics cannot satisfy, so check the unoptimized
// plan too. The optimizer runs without build_side_probe_side, whose swapped
// join sides DuckDB 1.5.6 cannot serialize (and which moves no scan).
func (s *Sandbox) SerializeOptimizedPlan(ctx context.Context, sql string) ([]byte, error) {
	return s.serializePlan(ctx, sql, true)
}

// planSQL serializes a statement's plan, unoptimized and optimized (the
// JSON type scans as decoded Go values; the cast gives the text).
var planSQL = [2]string{
	"SELECT json_serialize_plan(?::VARCHAR)::VARCHAR",
	"SELECT json_serialize_plan(?::VARCHAR, optimize := true)::VARCHAR",
}

func (s *Sandbox) serializePlan(ctx context.Context, sql string, optimize bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	i := 0
	if optimize {
		i = 1
	}
	if s.planStmts[i] == nil {
		st, err := duckc.Prepare(s.planner, planSQL[i])
		if err != nil {
			return nil, classify(ctx, err)
		}
		s.planStmts[i] = st
	}
	out, err := s.planStmts[i].Call(ctx, sql)
	if err != nil {
		return nil, classify(ctx, err)
	}
	// A plan runs to tens of kilobytes: only a failure is decoded, for its
	// message (the caller checks a plan's layout; see query.CheckBoundPlan).
	if bytes.HasPrefix(out, []byte(`{"error":false,`)) {
		return out, nil
	}
	var head struct {
		Error        bool   `json:"error"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
	}
	if err := json.Unmarshal(out, &head); err != nil {
		return nil, fail(sluice.EINTERNAL, RulePlan, "query could not be planned", fmt.Errorf("decode plan: %w", err))
	}
	if head.Error {
		return nil, fail(sluice.EINVALID, RulePlan, "query could not be planned",
			fmt.Errorf("json_serialize_plan: %s: %s", head.ErrorType, head.ErrorMessage))
	}
	return out, nil
}
