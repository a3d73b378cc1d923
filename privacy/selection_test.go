package privacy

import (
	"math/rand/v2"
	"testing"
	"time"

	"sluice"
)

// Streaming many more groups than MaxGroups keeps memory at 2·MaxGroups,
// drops the groups that fail selection as they arrive, and releases the
// first MaxGroups selected groups in key order whatever the arrival order.
func TestSelectionKeepsFirstSelectedByKey(t *testing.T) {
	ob := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
	ob.MaxGroups = 5
	s, err := NewSelection(derivedPlan(aggCount), ob)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for _, i := range rand.Perm(n) {
		units := int64(100000) // passes selection with overwhelming probability
		if i%2 == 1 {
			units = 0 // never passes: τ > 1 at δ = 1e-5
		}
		if err := s.Add(Group{Keys: []any{int64(i)}, Units: units, Aggs: []Partial{{Count: units}}}); err != nil {
			t.Fatal(err)
		}
		if len(s.kept) > 2*ob.MaxGroups+2 {
			t.Fatalf("holds %d groups, more than 2·MaxGroups+2", len(s.kept))
		}
	}
	if s.passed != n/2 {
		t.Errorf("%d groups passed selection, want %d", s.passed, n/2)
	}
	rel, err := s.Release()
	if err != nil {
		t.Fatal(err)
	}
	if len(rel.Rows) != 5 {
		t.Fatalf("released %d rows, want 5", len(rel.Rows))
	}
	for i, row := range rel.Rows {
		if row[0].Key != int64(2*i) {
			t.Errorf("row %d has key %v, want %d", i, row[0].Key, 2*i)
		}
	}
	if err := s.Add(Group{Keys: []any{int64(-1)}, Aggs: make([]Partial, 1)}); err == nil {
		t.Error("Add after Release was accepted")
	}
	if _, err := s.Release(); sluice.ErrorCode(err) != sluice.EINTERNAL {
		t.Errorf("a second Release: %v, want EINTERNAL", err)
	}
}

// Public combinations the data lacks are filled with zero groups keyed by
// their domain values, in domain order; a date key in the data matches its
// declared domain value; keys outside the domains are dropped.
func TestSelectionFillsPublicDomains(t *testing.T) {
	plan := &sluice.Plan{
		PublicGroups: true,
		Groups: []sluice.GroupKey{
			{Name: "month", Domain: []string{"2025-01-01", "2025-02-01"}},
			{Name: "district", Domain: []string{"Huangpu", "Xuhui", "Huangpu"}},
		},
		Aggregates: []sluice.Aggregate{aggCount},
		Outputs:    []sluice.Output{{Name: "month", Group: 0, Agg: -1}, {Name: "district", Group: 1, Agg: -1}, {Name: "n", Group: -1, Agg: 0}},
	}
	s, err := NewSelection(plan, obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, g := range []Group{
		{Keys: []any{jan, "Xuhui"}, Units: 7, Aggs: []Partial{{Count: 7}}},
		{Keys: []any{jan, "Minhang"}, Units: 7, Aggs: []Partial{{Count: 7}}},
	} {
		if err := s.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	groups, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"2025-01-01", "Huangpu"}, {jan, "Xuhui"}, {"2025-02-01", "Huangpu"}, {"2025-02-01", "Xuhui"}}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		if g.Keys[0] != want[i][0] || g.Keys[1] != want[i][1] {
			t.Errorf("group %d keys %v, want %v", i, g.Keys, want[i])
		}
	}
	if groups[1].Units != 7 || groups[0].Units != 0 {
		t.Errorf("units %d and %d, want 7 and 0", groups[1].Units, groups[0].Units)
	}
}

// Public domains with more combinations than a Selection may hold are
// refused by Split, before any data is read.
func TestSplitRefusesHugePublicDomains(t *testing.T) {
	_, err := Split(publicPlan(maxDomainGroups+1, aggCount), obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1))
	refusal(t, "huge domain", err, sluice.EINVALID, "release.public_groups")
	if _, err := Split(publicPlan(maxDomainGroups, aggCount), obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)); err != nil {
		t.Errorf("a domain of %d values: %v", maxDomainGroups, err)
	}
}

// Whether duplicate keys are refused depends only on the selected groups,
// never on the order they arrive in: duplicates beyond the first
// MaxGroups+1 selected keys are never looked at, in any order.
func TestSelectionDuplicatesIndependentOfOrder(t *testing.T) {
	ob := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
	ob.MaxGroups = 2
	run := func(keys []int64) error {
		s, err := NewSelection(derivedPlan(aggCount), ob)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if err := s.Add(Group{Keys: []any{k}, Units: 100000, Aggs: []Partial{{Count: 1}}}); err != nil {
				return err
			}
		}
		_, err = s.Release()
		return err
	}
	for _, keys := range [][]int64{{5, 5, 1, 2, 3}, {1, 2, 5, 3, 5}, {5, 3, 2, 5, 1, 9, 9, 9, 9, 9, 9}} {
		if err := run(keys); err != nil {
			t.Errorf("%v: %v", keys, err)
		}
	}
	for _, keys := range [][]int64{{2, 1, 2, 7, 8}, {7, 8, 2, 9, 9, 9, 9, 9, 1, 2}} {
		if err := run(keys); sluice.ErrorCode(err) != sluice.EINTERNAL {
			t.Errorf("%v: %v, want EINTERNAL (a duplicate among the first three)", keys, err)
		}
	}
}

// Distinct key tuples never share an encoding, whatever their strings
// contain; equal ones always do.
func TestEncodeKeysInjective(t *testing.T) {
	distinct := [][]any{
		{[]any{"a b"}}, {[]any{"a", "b"}}, {"a;s1:b"}, {"a", "b"}, {"a\x00", "b"}, {"a", "\x00b"},
		{"1"}, {int64(1)}, {1.0}, {true}, {nil}, {""}, {[]byte("1")},
		{map[string]any{"x": "1", "y": "2"}}, {map[string]any{"x": "1;y=2"}},
		{"12345678901234567890.123"}, {time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	seen := map[string]int{}
	for i, k := range distinct {
		e := EncodeKeys(k)
		if j, ok := seen[e]; ok {
			t.Errorf("%#v and %#v share the encoding %q", distinct[j], k, e)
		}
		seen[e] = i
		if EncodeKeys(append([]any(nil), k...)) != e {
			t.Errorf("%#v encodes differently twice", k)
		}
	}
	shanghai := time.FixedZone("CST", 8*3600)
	if EncodeKeys([]any{time.Date(2025, 1, 1, 8, 0, 0, 0, shanghai)}) != EncodeKeys([]any{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}) {
		t.Error("the same instant in two zones encodes differently")
	}
}

// Numeric keys match declared domain values written as plain numbers.
func TestSelectionMatchesNumericDomains(t *testing.T) {
	plan := &sluice.Plan{
		PublicGroups: true,
		Groups:       []sluice.GroupKey{{Name: "rate", Domain: []string{"0.25", "1000000"}}},
		Aggregates:   []sluice.Aggregate{aggCount},
		Outputs:      []sluice.Output{{Name: "rate", Group: 0, Agg: -1}, {Name: "n", Group: -1, Agg: 0}},
	}
	s, err := NewSelection(plan, obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []any{0.25, 1e6} {
		if err := s.Add(Group{Keys: []any{k}, Units: 9, Aggs: []Partial{{Count: 9}}}); err != nil {
			t.Fatal(err)
		}
	}
	groups, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range groups {
		if g.Units != 9 {
			t.Errorf("domain value %d (%v) did not match its data key", i, g.Keys[0])
		}
	}
}
