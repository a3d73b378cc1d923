package gen

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestScratchExplain(t *testing.T) {
	if os.Getenv("EXPLAIN") == "" {
		t.Skip()
	}
	ctx := context.Background()
	o := Scale(10)
	o.Months = 80
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	conn, _ := db.Conn(ctx)
	r := replacer(o)
	n := -1
	for i, st := range setupSQL() {
		if strings.Contains(st, os.Getenv("EXPLAIN")) {
			n = i
		}
	}
	_ = strconv.Itoa
	stmts := setupSQL()
	for i, stmt := range stmts {
		q := r.Replace(stmt)
		if i == n {
			q = "EXPLAIN ANALYZE " + q
			if strings.HasPrefix(os.Getenv("DS"), "") && os.Getenv("DS") != "" {
				continue
			}
			var a, b string
			if err := conn.QueryRowContext(ctx, q).Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			fmt.Println(b)
			continue
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if ds := os.Getenv("DS"); ds != "" {
		var a, b string
		if err := conn.QueryRowContext(ctx, "EXPLAIN ANALYZE "+r.Replace(datasetSQL[ds])).Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		fmt.Println(b)
	}
}
