package sandbox

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkOpen measures the fixed cost of a sandbox: open, attach one
// table, lock, verify and close.
func BenchmarkOpen(b *testing.B) {
	file := newFixture(b, filepath.Join(b.TempDir(), "data.duckdb"))
	tables := []Table{{Name: "t", File: file, Columns: authorised}}
	cfg := Config{TempDir: b.TempDir()}
	ctx := context.Background()
	for b.Loop() {
		s, err := Open(ctx, cfg, tables)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery measures a small aggregate on an open sandbox.
func BenchmarkQuery(b *testing.B) {
	s, _ := openFixture(b, Config{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Query(ctx, "SELECT dim, count(*), sum(amount) FROM t GROUP BY dim"); err != nil {
			b.Fatal(err)
		}
	}
}

// rowStageSQL is like the row stage of a rewrite: the unit, a key and two
// clamped measures.
const rowStageSQL = `SELECT t1."unit" AS __u, try(t1."dim") AS __k0, CASE WHEN (t1."amount" < 0) THEN TRY_CAST(0 AS DECIMAL(18,2)) WHEN (t1."amount" > 5000000) THEN TRY_CAST(5000000 AS DECIMAL(18,2)) ELSE TRY_CAST(t1."amount" AS DECIMAL(18,2)) END AS __x1, CASE WHEN (t1."amount" < 0) THEN TRY_CAST(0 AS DECIMAL(18,2)) WHEN (t1."amount" > 1000000) THEN TRY_CAST(1000000 AS DECIMAL(18,2)) ELSE TRY_CAST(t1."amount" AS DECIMAL(18,2)) END AS __x2 FROM "t" AS t1 WHERE try((t1."unit" IS NOT NULL))`

// BenchmarkSerializePlan measures the bound-plan serialization a new query
// shape pays for each row stage.
func BenchmarkSerializePlan(b *testing.B) {
	s, _ := openFixture(b, Config{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.SerializePlan(ctx, rowStageSQL); err != nil {
			b.Fatal(err)
		}
	}
}
