package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"sluice"
)

// prepareFormat names the layout of prepared files. Changing how Prepare
// builds a file changes this, so files built the old way are not reused.
const prepareFormat = "sluice-prepared-v3"

// PreparedTable is the name of the one table of a prepared file.
const PreparedTable = "data"

// Prepare returns the path of a DuckDB database file holding dataset d in one
// table named "data", building it if needed. The sandbox attaches that file
// READ_ONLY instead of reading Parquet on every query.
//
// d.Location must be a local Parquet file. The file is named
// cacheDir/<id>-<key>.duckdb, where key is the first 16 hex digits of the
// SHA-256 of the Parquet file's absolute path, size and modification time and
// of the manifest's columns and types, so a changed Parquet file or manifest
// yields a new file and an unchanged one is built only once. The table holds
// the manifest's columns, cast to the manifest's types (a manifest column
// missing from the Parquet file is an EINVALID error naming it), and
// sluice.UnitIDColumn, a dense number for each unit value, on which the
// bounded SQL groups, and sluice.UnitHashColumn, the value's hash, from
// which it draws each unit's groups.
//
// The file is built under a temporary name in cacheDir and renamed into place,
// so a half-written file is never visible. Concurrent calls for the same file
// in one process wait for one build; separate processes may each build, and
// the last rename wins with the same content.
func Prepare(ctx context.Context, d *sluice.Dataset, cacheDir string) (string, error) {
	if d == nil {
		return "", sluice.Errorf(sluice.EINVALID, "prepare: no dataset")
	}
	if !idPattern.MatchString(d.ID) {
		return "", sluice.Errorf(sluice.EINVALID, "prepare: invalid dataset id %q", d.ID)
	}
	if d.Location == "" || strings.Contains(d.Location, "://") {
		return "", sluice.Errorf(sluice.EINVALID, "prepare %s: location %q is not a local Parquet file", d.ID, d.Location)
	}
	if len(d.Columns) == 0 {
		return "", sluice.Errorf(sluice.EINVALID, "prepare %s: the dataset declares no columns", d.ID)
	}
	src, err := filepath.Abs(d.Location)
	if err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	info, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	if !info.Mode().IsRegular() {
		return "", sluice.Errorf(sluice.EINVALID, "prepare %s: %s is not a regular file", d.ID, src)
	}
	key := prepareKey(src, info, d.Columns, d.Key, d.Checksum)
	if err := os.MkdirAll(cacheDir, 0o750); err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	final := filepath.Join(cacheDir, d.ID+"-"+key+".duckdb")
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}

	unlock, err := lockBuild(ctx, final)
	if err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil // built by a call we waited for
	}

	tmpDir, err := os.MkdirTemp(cacheDir, ".prepare-"+d.ID+"-")
	if err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "data.duckdb")
	if err := build(ctx, d, src, tmp); err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	// The Parquet file must not have changed while it was read: the key
	// would describe other content.
	after, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	if prepareKey(src, after, d.Columns, d.Key, d.Checksum) != key {
		return "", sluice.Errorf(sluice.EUNAVAILABLE, "prepare %s: %s changed while it was being read", d.ID, src)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("prepare %s: %w", d.ID, err)
	}
	return final, nil
}

// prepareKey returns the cache key of a Parquet file read with columns. A
// file whose content checksum is known (a dataset version, an object read
// through the object cache, which touches files for its LRU) is keyed by
// it; others by path, size and modification time.
func prepareKey(path string, info os.FileInfo, columns []sluice.Column, key []string, checksum string) string {
	h := sha256.New()
	if checksum != "" {
		fmt.Fprintf(h, "%s\x00sha256:%s\x00%d\x00", prepareFormat, checksum, info.Size())
	} else {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00", prepareFormat, path, info.Size(), info.ModTime().UnixNano())
	}
	for _, c := range columns {
		fmt.Fprintf(h, "%s\x00%s\x00", c.Name, c.Type)
	}
	// A declared key is checked when the file is built, so a file built
	// without the check (or for another key) is not reused.
	for _, k := range key {
		fmt.Fprintf(h, "key\x00%s\x00", k)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// build writes dataset d, read from the Parquet file src, to a new DuckDB
// database file at dst.
func build(ctx context.Context, d *sluice.Dataset, src, dst string) (err error) {
	db, err := sql.Open("duckdb", dst)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", dst, cerr)
		}
	}()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer conn.Close()

	read := "read_parquet(" + quoteLiteral(src) + ")"
	have, err := parquetColumns(ctx, conn, read)
	if err != nil {
		return fmt.Errorf("read the columns of %s: %w", src, err)
	}
	var missing []error
	selects := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		if _, ok := have[strings.ToLower(c.Name)]; !ok {
			missing = append(missing, sluice.Errorf(sluice.EINVALID, "column %q is not in %s", c.Name, src))
		}
		if checkType(c.Type) != "" {
			return sluice.Errorf(sluice.EINVALID, "column %q: unsupported type %q", c.Name, c.Type)
		}
		selects[i] = fmt.Sprintf("CAST(s.%s AS %s) AS %s", quoteIdent(c.Name), c.Type, quoteIdent(c.Name))
	}
	if len(missing) > 0 {
		return errors.Join(missing...)
	}
	unit := d.Column(d.Unit)
	if unit == nil {
		return sluice.Errorf(sluice.EINVALID, "unit column %q is not declared", d.Unit)
	}
	idType, err := unitIDs(ctx, conn, read, unit)
	if err != nil {
		return err
	}
	q := fmt.Sprintf("CREATE TABLE %s AS SELECT %s, CAST(__ids.id AS %s) AS %s, __ids.h AS %s FROM %s AS s LEFT JOIN temp.__ids ON CAST(s.%s AS %s) = __ids.u",
		PreparedTable, strings.Join(selects, ", "), idType, quoteIdent(sluice.UnitIDColumn), quoteIdent(sluice.UnitHashColumn), read, quoteIdent(unit.Name), unit.Type)
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := conn.ExecContext(ctx, "DROP TABLE temp.__ids"); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := checkKey(ctx, conn, d); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dst, err)
	}
	return nil
}

// unitIDs numbers the distinct non-NULL values of the unit column of
// relation read, in their order, from 1, and hashes them, into the
// temporary table __ids (u, id, h), and returns the SQL type that holds the numbers: INTEGER, or BIGINT
// past 2^31 - 1 units. The numbering is a function of the file alone, so an
// unchanged file is rebuilt to the same content.
func unitIDs(ctx context.Context, conn *sql.Conn, read string, unit *sluice.Column) (string, error) {
	q := fmt.Sprintf("CREATE TEMP TABLE __ids AS SELECT u, row_number() OVER (ORDER BY u) AS id, hash(u) AS h FROM (SELECT DISTINCT CAST(%s AS %s) AS u FROM %s) WHERE u IS NOT NULL",
		quoteIdent(unit.Name), unit.Type, read)
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("number the units: %w", err)
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM temp.__ids").Scan(&n); err != nil {
		return "", fmt.Errorf("number the units: %w", err)
	}
	if n > math.MaxInt32 {
		return "BIGINT", nil
	}
	return "INTEGER", nil
}

// checkKey refuses a prepared table in which two rows share d's declared
// key: the analyser lets a join add the dataset on its whole key only,
// trusting it unique. Rows with a NULL in the key are left out, as the
// import leaves them out: the analyser's joins equate keys with =, which a
// NULL never meets. The values are not named: the error can reach an
// analyst.
func checkKey(ctx context.Context, conn *sql.Conn, d *sluice.Dataset) error {
	if len(d.Key) == 0 {
		return nil
	}
	keys := make([]string, len(d.Key))
	notNull := make([]string, len(d.Key))
	for i, k := range d.Key {
		keys[i] = quoteIdent(k)
		notNull[i] = keys[i] + " IS NOT NULL"
	}
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1)",
		PreparedTable, strings.Join(notNull, " AND "), strings.Join(keys, ", "))
	var dups int64
	if err := conn.QueryRowContext(ctx, q).Scan(&dups); err != nil {
		return fmt.Errorf("check the key: %w", err)
	}
	if dups == 0 {
		return nil
	}
	values := "values are"
	if dups == 1 {
		values = "value is"
	}
	return sluice.Errorf(sluice.EINVALID, "dataset %s: key (%s): %d %s shared by more than one row", d.ID, strings.Join(d.Key, ", "), dups, values)
}

// parquetColumns returns the lower-cased column names of a relation.
func parquetColumns(ctx context.Context, conn *sql.Conn, relation string) (map[string]struct{}, error) {
	rows, err := conn.QueryContext(ctx, "SELECT column_name FROM (DESCRIBE SELECT * FROM "+relation+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]struct{}{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[strings.ToLower(name)] = struct{}{}
	}
	return have, rows.Err()
}

// quoteLiteral quotes s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent quotes s as a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// buildLocks serialises builds of the same file within the process. Each
// entry is a one-slot semaphore, so a waiter can give up when its context
// ends; entries are dropped when no call holds or awaits them.
var buildLocks = struct {
	sync.Mutex
	m map[string]*buildLock
}{m: map[string]*buildLock{}}

type buildLock struct {
	sem   chan struct{}
	users int
}

// lockBuild takes the build lock of key, waiting until it is free or ctx ends.
func lockBuild(ctx context.Context, key string) (unlock func(), err error) {
	buildLocks.Lock()
	l := buildLocks.m[key]
	if l == nil {
		l = &buildLock{sem: make(chan struct{}, 1)}
		buildLocks.m[key] = l
	}
	l.users++
	buildLocks.Unlock()

	release := func() {
		buildLocks.Lock()
		l.users--
		if l.users == 0 {
			delete(buildLocks.m, key)
		}
		buildLocks.Unlock()
	}
	select {
	case l.sem <- struct{}{}:
		return func() { <-l.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
