package query

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"sluice"
)

var update = flag.Bool("update", false, "rewrite golden files")

type corpusCase struct {
	comment string
	sql     string
	line    int
}

// readCorpus reads "-- comment" / SQL pairs.
func readCorpus(t *testing.T, path string) []corpusCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "-- ") {
			out = append(out, corpusCase{comment: strings.TrimPrefix(text, "-- "), line: line})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s:%d: SQL before a comment", path, line)
		}
		c := &out[len(out)-1]
		if c.sql != "" {
			c.sql += "\n"
		}
		c.sql += text
	}
	return out
}

// shape summarises a Plan for golden comparison.
func shape(p *sluice.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "datasets=%s population=%s public=%t\n", strings.Join(p.Datasets, ","), p.Population, p.PublicGroups)
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s = %s domain=%d\n", g.Name, g.SQL, len(g.Domain))
	}
	for _, a := range p.Aggregates {
		fmt.Fprintf(&b, "agg %s = %s %s arg=%s bounds=[%g,%g] scale=%d q=%g pop=%t\n", a.Name, a.Original, a.Func, a.Arg, a.Lower, a.Upper, a.Scale, a.Quantile, a.Pop)
	}
	for _, o := range p.Outputs {
		fmt.Fprintf(&b, "out %s group=%d agg=%d\n", o.Name, o.Group, o.Agg)
	}
	var cols []string
	for _, c := range p.Columns {
		cols = append(cols, c.Dataset+"."+c.Column+":"+c.Usage)
	}
	fmt.Fprintf(&b, "reads %s\n", strings.Join(cols, " "))
	for _, f := range p.Filters {
		fmt.Fprintf(&b, "filter %s\n", f)
	}
	if p.Having != nil {
		h, _ := json.Marshal(p.Having)
		fmt.Fprintf(&b, "having %s\n", h)
	}
	for _, o := range p.OrderBy {
		fmt.Fprintf(&b, "order %d desc=%t\n", o.Out, o.Desc)
	}
	if p.Limit > 0 {
		fmt.Fprintf(&b, "limit %d\n", p.Limit)
	}
	return b.String()
}

// emptyTables creates each example dataset as an empty table of its
// declared types, so bounded SQL can be bound and run.
func emptyTables(t *testing.T, cat exampleCatalog) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	var ids []string
	for id := range cat {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := cat[id]
		var cols []string
		for _, c := range d.Columns {
			cols = append(cols, quoteIdent(c.Name)+" "+c.Type)
		}
		cols = append(cols, quoteIdent(sluice.UnitIDColumn)+" INTEGER", quoteIdent(sluice.UnitHashColumn)+" UBIGINT")
		if _, err := db.Exec("CREATE TABLE " + quoteIdent(d.ID) + " (" + strings.Join(cols, ", ") + ")"); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestAcceptedCorpus(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	db := emptyTables(t, cat)
	cases := readCorpus(t, "testdata/accepted.sql")
	if len(cases) < 40 {
		t.Fatalf("only %d accepted cases", len(cases))
	}
	var golden strings.Builder
	digests := map[string]string{}
	for _, c := range cases {
		an, err := p.Analyze(context.Background(), c.sql, cat)
		if err != nil {
			t.Errorf("line %d (%s): refused: %v", c.line, c.comment, err)
			continue
		}
		if prev, ok := digests[an.Plan.Digest]; ok && !strings.Contains(c.comment, "[equivalent]") {
			t.Errorf("line %d (%s): same digest as %q", c.line, c.comment, prev)
		}
		digests[an.Plan.Digest] = c.comment
		b, err := an.Rewrite(sluice.Obligations{L0: 3, Linf: 5}, 99)
		if err != nil {
			t.Errorf("line %d (%s): rewrite: %v", c.line, c.comment, err)
			continue
		}
		if err := p.Verify(context.Background(), an, b, cat); err != nil {
			t.Errorf("line %d (%s): verify: %v", c.line, c.comment, err)
			continue
		}
		// Another L∞ changes only numbers in the renderer's stages: the
		// statement is verified again from its row stage alone.
		if err := verifiesFromRowStage(p, an, sluice.Obligations{L0: 3, Linf: 7}, cat); err != nil {
			t.Errorf("line %d (%s): %v", c.line, c.comment, err)
		}
		for _, q := range []string{b.SQL, b.QuantileSQL} {
			if q == "" {
				continue
			}
			rows, err := db.Query(q)
			if err != nil {
				t.Errorf("line %d (%s): bounded SQL does not run: %v\n%s", c.line, c.comment, err, q)
				continue
			}
			cols, _ := rows.Columns()
			rows.Close()
			want := len(an.Plan.Groups) + 1 + 3*len(an.Plan.Aggregates)
			if q == b.QuantileSQL {
				want = len(an.Plan.Groups) + 3
			}
			if len(cols) != want {
				t.Errorf("line %d (%s): bounded SQL returns %d columns, want %d", c.line, c.comment, len(cols), want)
			}
		}
		fmt.Fprintf(&golden, "-- %s\n%s", c.comment, shape(an.Plan))
	}
	compareGolden(t, "testdata/accepted.golden", golden.String())
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs in length (%d vs %d lines)", path, len(gl), len(wl))
	}
}

func TestRefusedCorpus(t *testing.T) {
	p := testParser(t)
	cat := loadExamples(t)
	cases := readCorpus(t, "testdata/refused.sql")
	if len(cases) < 80 {
		t.Fatalf("only %d refused cases", len(cases))
	}
	for _, c := range cases {
		rule := strings.TrimPrefix(c.comment, "rule: ")
		q := strings.ReplaceAll(c.sql, "@@LONG@@", strings.Repeat("x", MaxSQLBytes))
		_, err := p.Analyze(context.Background(), q, cat)
		if err == nil {
			t.Errorf("line %d: accepted, want %s: %s", c.line, rule, c.sql)
			continue
		}
		var se *sluice.Error
		if !errors.As(err, &se) {
			t.Errorf("line %d: %v is not a *sluice.Error", c.line, err)
			continue
		}
		if se.Rule != rule {
			t.Errorf("line %d: rule %s (%s), want %s: %s", c.line, se.Rule, se.Message, rule, c.sql)
		}
		if se.Step != sluice.StepAnalysis || se.Message == "" {
			t.Errorf("line %d: step %q message %q", c.line, se.Step, se.Message)
		}
		if se.Pos > len(q)+1 {
			t.Errorf("line %d: position %d beyond the query", c.line, se.Pos)
		}
	}
}
