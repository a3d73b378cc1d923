package privacy

import (
	"fmt"
	"math"
	"slices"

	"sluice"
)

// maxDomainGroups caps the combinations of declared key domains, which a
// Selection holds in memory whatever the data (the release itself stops at
// MaxGroups). Their number is part of the query, checked by Split before
// any data is read.
const maxDomainGroups = 1 << 18

// Selection takes a bounded query's groups one at a time, as the sandbox
// streams them, and keeps only what Release needs. Nothing in it limits
// the number of groups the sandbox produces: such a limit would refuse a
// query, or cut its release, depending on groups that partition selection
// withholds, and an analyst who pads a GROUP BY to just under the limit
// would learn whether one unit's group exists.
//
//   - Data-derived keys: each group's unit count is noised as the group
//     arrives and the group is dropped at once unless it passes selection
//     (see Release). Of the groups that pass, the first MaxGroups in key
//     order are kept: memory holds at most 2·MaxGroups+2 groups, and what
//     is kept (and whether duplicate keys are refused) depends on the data
//     only through the noisy selection, never on the order groups come in.
//   - Public keys: groups outside the declared domains are dropped as they
//     arrive; the domains' combinations (at most maxDomainGroups, checked
//     by Split) bound what is kept, and Groups fills in the combinations
//     the data lacks.
//
// What this does not remove: DuckDB's memory limit and the sandbox's
// timeout bound the work of the whole bounded query, withheld groups
// included, so a query over enough groups to exhaust them fails whatever
// the noise. These are coarse resource limits (the default timeout needs
// millions of groups), not a threshold one unit can tip; they are
// documented as a residual channel.
//
// A Selection is not safe for concurrent use.
type Selection struct {
	plan *sluice.Plan
	ob   sluice.Obligations
	b    *budget
	tau  float64 // selection threshold (data-derived keys)
	max  int     // groups released at most

	// Data-derived keys.
	kept   []selected
	passed int // groups that passed selection

	// Public keys: one slot per combination, in domain order.
	index  []map[string]int // domain value → position, per key
	domain [][]string       // distinct domain values, per key
	slots  []selected
	filled []bool

	done     bool
	released bool
}

// selected is a kept group and, for data-derived keys, its noisy unit
// count, drawn when it was selected (count_units releases it).
type selected struct {
	g     Group
	units float64
}

// NewSelection prepares the selection of a query's groups. Its refusals
// are Split's.
func NewSelection(plan *sluice.Plan, ob sluice.Obligations) (*Selection, error) {
	b, err := newBudget(plan, ob)
	if err != nil {
		return nil, err
	}
	if err := checkOutputs(plan); err != nil {
		return nil, err
	}
	s := &Selection{plan: plan, ob: ob, b: b, tau: math.Inf(-1), max: ob.MaxGroups}
	if s.max <= 0 {
		s.max = defaultMaxGroups
	}
	s.max = min(s.max, math.MaxInt32) // 2·max+2 must not overflow
	if !b.public {
		if s.tau, err = b.threshold(); err != nil {
			return nil, err
		}
		return s, nil
	}
	product := 1
	s.index = make([]map[string]int, len(plan.Groups))
	s.domain = make([][]string, len(plan.Groups))
	for k, gk := range plan.Groups {
		s.domain[k], s.index[k] = distinct(gk.Domain)
		product *= len(s.domain[k]) // Split bounds it
	}
	s.slots = make([]selected, product)
	s.filled = make([]bool, product)
	return s, nil
}

// distinct returns a domain's distinct values in their first order, and
// each value's position among them.
func distinct(domain []string) ([]string, map[string]int) {
	var values []string
	index := map[string]int{}
	for _, d := range domain {
		if _, ok := index[d]; !ok {
			index[d] = len(values)
			values = append(values, d)
		}
	}
	return values, index
}

// entries are the kept groups: the selected ones for data-derived keys,
// the slots for public keys.
func (s *Selection) entries() []selected {
	if s.b.public {
		return s.slots
	}
	return s.kept
}

// Add offers one group of the sandbox's result. It returns an error only
// for a group that breaks the Group contract (see Release).
func (s *Selection) Add(g Group) error {
	if s.done {
		return internal("release.groups", "a group was added after the selection ended")
	}
	if len(g.Keys) != len(s.plan.Groups) || len(g.Aggs) != len(s.plan.Aggregates) {
		return internal("release.groups", "a result group does not match the plan's keys and aggregates")
	}
	if s.b.public {
		return s.addPublic(g)
	}
	u := s.b.units
	units, err := s.b.nz.AddNoiseFloat64(float64(g.Units), u.l0, 1, u.eps, u.noiseDelta)
	if err != nil {
		return fmt.Errorf("privacy: units noise: %w", err)
	}
	if units < s.tau || (s.ob.MinUnits > 0 && units < float64(s.ob.MinUnits)) {
		return nil
	}
	s.passed++
	s.kept = append(s.kept, selected{g: g, units: units})
	if len(s.kept) >= 2*s.max+2 {
		s.compact()
	}
	return nil
}

// addPublic files a group under its domain combination; groups outside the
// domains are dropped, as public partitions require.
func (s *Selection) addPublic(g Group) error {
	slot := 0
	for k, v := range g.Keys {
		str, ok := keyString(v)
		p, found := s.index[k][str]
		if !ok || !found {
			return nil
		}
		slot = slot*len(s.domain[k]) + p
	}
	if s.filled[slot] {
		if len(g.Keys) == 0 {
			return internal("release.groups", "a query without group keys has more than one group")
		}
		return internal("release.public_groups", "the result has duplicate public groups")
	}
	s.slots[slot], s.filled[slot] = selected{g: g}, true
	return nil
}

// compact orders the kept data-derived groups by key and keeps the first
// s.max+1: one more than is released, so that the final check for
// duplicate keys sees the same groups in whatever order they came.
func (s *Selection) compact() {
	slices.SortFunc(s.kept, func(a, b selected) int { return compareKeys(a.g.Keys, b.g.Keys) })
	if len(s.kept) > s.max+1 {
		clear(s.kept[s.max+1:])
		s.kept = s.kept[:s.max+1]
	}
}

// finish ends a data-derived selection: the first s.max+1 selected groups
// in key order (a function of the selected groups alone, not of their
// order) must have distinct keys, and the first s.max are kept.
func (s *Selection) finish() error {
	s.compact()
	for i := 1; i < len(s.kept); i++ {
		if compareKeys(s.kept[i-1].g.Keys, s.kept[i].g.Keys) == 0 {
			return internal("release.groups", "the result has duplicate groups")
		}
	}
	if len(s.kept) > s.max {
		clear(s.kept[s.max:])
		s.kept = s.kept[:s.max]
	}
	return nil
}

// Groups ends the selection and returns the kept groups in release order:
// for data-derived keys the selected ones (at most MaxGroups), for public
// keys every domain combination, with zero partials where the data has
// none. The caller may attach quantile buckets to them (Partial.Buckets)
// before Release.
func (s *Selection) Groups() ([]*Group, error) {
	if !s.done {
		if !s.b.public {
			if err := s.finish(); err != nil {
				return nil, err
			}
		} else {
			s.fill()
		}
		s.done = true
	}
	all := s.entries()
	out := make([]*Group, len(all))
	for i := range all {
		out[i] = &all[i].g
	}
	return out, nil
}

// fill gives every public combination the data lacks a zero group keyed by
// its domain values: public groups are released (or suppressed by their
// noisy count) whether or not the data has them.
func (s *Selection) fill() {
	pos := make([]int, len(s.domain))
	for slot := range s.slots {
		if !s.filled[slot] {
			keys := make([]any, len(pos))
			for k, p := range pos {
				keys[k] = s.domain[k][p]
			}
			s.slots[slot] = selected{g: Group{Keys: keys, Aggs: make([]Partial, len(s.plan.Aggregates))}}
		}
		for k := len(pos) - 1; k >= 0; k-- {
			if pos[k]++; pos[k] < len(s.domain[k]) {
				break
			}
			pos[k] = 0
		}
	}
}
