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
