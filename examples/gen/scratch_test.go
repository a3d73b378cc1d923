package gen

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestScratchProfile(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	ctx := context.Background()
	scale, _ := strconv.ParseFloat(os.Getenv("SCRATCH"), 64)
	o := Scale(scale)
	o.Months, _ = strconv.Atoi(os.Getenv("MONTHS"))
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	conn, _ := db.Conn(ctx)
	for _, s := range extraSettings() {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	r := replacer(o)
	t0 := time.Now()
	for _, stmt := range setupSQL() {
		s := time.Now()
		if _, err := conn.ExecContext(ctx, r.Replace(stmt)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(s); d > 50*time.Millisecond {
			fmt.Printf("setup %.40q %v\n", stmt, d)
		}
	}
	fmt.Println("setup", time.Since(t0))
	dir := t.TempDir()
	only := os.Getenv("ONLY")
	for _, id := range Datasets {
		if only != "" && only != id {
			continue
		}
		s := time.Now()
		c0 := cpu()
		target := os.Getenv("TARGET")
		if qq := os.Getenv("QUERY"); qq != "" {
			datasetSQL[id] = qq
		}
		var q string
		if target == "agg" {
			q = fmt.Sprintf("SELECT count(*), max(COLUMNS(*)) FROM (%s)", r.Replace(datasetSQL[id]))
		} else if target == "table" {
			q = fmt.Sprintf("CREATE TABLE t_%s AS %s", id, r.Replace(datasetSQL[id]))
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
			fmt.Println(id, "table", time.Since(s))
			s = time.Now()
			q = fmt.Sprintf("COPY t_%s TO %s (FORMAT parquet)", id, quote(filepath.Join(dir, id+".parquet")))
		} else if target == "count" {
			q = fmt.Sprintf("SELECT count(*) FROM (%s)", r.Replace(datasetSQL[id]))
		} else {
			q = fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", r.Replace(datasetSQL[id]), quote(filepath.Join(dir, id+".parquet")))
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		fmt.Println(id, time.Since(s), "cpu", cpu()-c0)
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func extraSettings() []string {
	if s := os.Getenv("SETTINGS"); s != "" {
		return []string{s}
	}
	return nil
}
