package query

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"sluice"
)

// exampleCatalog reads the example manifests straight from YAML (the
// storage package validates them; here they are only vocabulary).
type exampleCatalog map[string]*sluice.Dataset

func (c exampleCatalog) Get(id string) (*sluice.Dataset, error) {
	if d, ok := c[strings.ToLower(id)]; ok {
		return d, nil
	}
	return nil, sluice.Errorf(sluice.ENOTFOUND, "unknown dataset %s", id)
}

func loadExamples(t testing.TB) exampleCatalog {
	t.Helper()
	files, err := filepath.Glob("../examples/catalog/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example manifests: %v", err)
	}
	cat := exampleCatalog{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d sluice.Dataset
		if err := yaml.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cat[d.ID] = &d
	}
	return cat
}

var (
	parserOnce sync.Once
	sharedP    *Parser
	parserErr  error
)

func testParser(t testing.TB) *Parser {
	t.Helper()
	parserOnce.Do(func() { sharedP, parserErr = NewParser(context.Background()) })
	if parserErr != nil {
		t.Fatal(parserErr)
	}
	return sharedP
}

// acceptsAll fails t for each query of qs the analyser refuses over the
// example catalog.
func acceptsAll(t *testing.T, qs ...string) {
	t.Helper()
	p := testParser(t)
	cat := loadExamples(t)
	for _, q := range qs {
		if _, err := p.Analyze(context.Background(), q, cat); err != nil {
			t.Errorf("refused: %v\n%s", err, q[:min(len(q), 200)])
		}
	}
}

// numberUnits adds sluice.UnitIDColumn and sluice.UnitHashColumn to a
// table made by a test, as storage.Prepare adds them to a prepared file:
// the unit's distinct values numbered in their order from 1, and hashed;
// NULL for a NULL unit.
func numberUnits(t testing.TB, conn *sql.Conn, table, unit string) {
	t.Helper()
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS SELECT t.*, CAST(ids.id AS INTEGER) AS %[3]s, ids.h AS %[4]s FROM %[1]s AS t LEFT JOIN
		(SELECT u, row_number() OVER (ORDER BY u) AS id, hash(u) AS h FROM (SELECT DISTINCT %[2]s AS u FROM %[1]s) WHERE u IS NOT NULL) AS ids
		ON t.%[2]s = ids.u`, quoteIdent(table), quoteIdent(unit), quoteIdent(sluice.UnitIDColumn), quoteIdent(sluice.UnitHashColumn))
	if _, err := conn.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("number the units of %s: %v", table, err)
	}
}
