package gen

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestScratchQuery(t *testing.T) {
	if os.Getenv("Q") == "" {
		t.Skip()
	}
	db, _ := sql.Open("duckdb", "")
	defer db.Close()
	for _, q := range strings.Split(os.Getenv("Q"), ";;") {
		rows, err := db.Query(q)
		if err != nil {
			fmt.Println("ERR", err)
			continue
		}
		cols, _ := rows.Columns()
		fmt.Println(strings.Join(cols, " | "))
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			var s []string
			for _, v := range vals {
				s = append(s, fmt.Sprint(v))
			}
			fmt.Println(strings.Join(s, " | "))
		}
		rows.Close()
	}
}
