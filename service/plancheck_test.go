package service

import (
	"testing"

	"sluice/query"
)

// The remembered plan checks are keyed by everything the checks read: a
// change to any input names a different check.
func TestPlanCheckKeyCoversItsInputs(t *testing.T) {
	src := func(cat string, cols ...string) []query.Source {
		return []query.Source{{Catalog: cat, Columns: cols}}
	}
	base := planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "")
	for name, k := range map[string][32]byte{
		"pool key":        planCheckKey("2|t=g:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", ""),
		"alias":           planCheckKey("2|t=f:a,b", src("ds1", "a", "b"), src("ds0", "a"), "SELECT 1", ""),
		"exposed columns": planCheckKey("2|t=f:a,b", src("ds0", "a"), src("ds0", "a"), "SELECT 1", ""),
		"read columns":    planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "b"), "SELECT 1", ""),
		"statement":       planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 2", ""),
		"quantile SQL":    planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "SELECT 3"),
		"split point":     planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "", "SELECT 1"),
		"column split":    planCheckKey("2|t=f:a,b", src("ds0", "a,b"), src("ds0", "a"), "SELECT 1", ""),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	if planCheckKey("2|t=f:a,b", src("ds0", "a", "b"), src("ds0", "a"), "SELECT 1", "") != base {
		t.Error("the same inputs give another key")
	}
}
