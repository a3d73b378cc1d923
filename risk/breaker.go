package risk

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// burnBuckets is the number of buckets a burn window is cut into for the ε of
// observations evicted by the per-authorization cap.
const burnBuckets = 64

// maxSampleFilter is the longest filter text kept to quote in a reason.
const maxSampleFilter = 80

// nano is the fixed-point scale of ε sums: whole nano-ε, so that sliding
// windows add and subtract exactly.
const nano = 1e9

// maxEpsilon bounds one observation's ε, keeping fixed-point sums far from
// overflow.
const maxEpsilon = 1e6

// Breaker watches observations and trips rules. It is safe for concurrent
// use. Observing costs amortised constant time, whatever the windows hold.
//
// Memory is bounded: observations leave when the longest window has passed
// them; at most Rules.MaxObservations are kept per authorization (the oldest
// go first; the ε they spent is kept, in coarse time buckets, so that evicting
// them cannot hide a burn); authorizations idle for longer than the longest
// window are forgotten, except for the rules they have tripped, which are
// kept until Reset.
//
// Observations of one authorization are expected in time order; one that
// arrives with an earlier time than one already seen counts as at that later
// time.
type Breaker struct {
	rules   Rules
	max     int           // observations kept per authorization
	horizon time.Duration // the longest window of the rules that are on
	width   time.Duration // a burn bucket's width; 0 when the burn rule is off
	pwin    time.Duration // the longest per-principal window
	now     func() time.Time
	seed    maphash.Seed

	mu        sync.Mutex
	auths     map[string]*authState
	lastSweep time.Time
}

// authState is what the breaker keeps about one authorization.
type authState struct {
	log        []*record // every kept observation, oldest first
	last       time.Time // the latest observation time
	budget     float64   // the authorization's total ε, as last observed
	tripped    uint8     // one bit per rule, see ruleBit
	principals map[string]*principalState
	burn       burnState
	shapes     map[uint64]*shapeState
}

// record is one observation, reduced to what the rules read.
type record struct {
	at         time.Time
	principal  string
	rule       string // the refusing rule
	eps        int64  // nano-ε
	shape      uint64 // hash of Shape; valid when hasShape
	filter     uint64 // hash of Filter
	filterText string // Filter, shortened, to quote in a reason
	refused    bool
	hasShape   bool
	isolating  bool
}

// principalState is one principal's observations under one authorization,
// within the longer of the refusal-rate and query-rate windows. The query
// window holds recs[qHead:], the refusal window recs[rHead:], of which
// rRefused were refused.
type principalState struct {
	recs     []*record
	qHead    int
	rHead    int
	rRefused int
}

// burnState is the ε spent in the burn window: the records that spent any,
// and buckets of evicted ones.
type burnState struct {
	recs        []*record
	sum         int64 // nano-ε of recs
	overflow    []bucket
	overflowSum int64 // nano-ε of overflow
}

// bucket is the ε of evicted records that ran in [start, start+width).
type bucket struct {
	start time.Time
	eps   int64
}

// shapeState is the answered queries of one shape in the differencing
// window, with the number of them per distinct filter, in all and among the
// isolating ones.
type shapeState struct {
	recs      []*record
	filters   map[uint64]int
	isolating map[uint64]int
}

// ruleOrder is the order trips are reported in.
var ruleOrder = []string{RuleRefusalRate, RuleQueryRate, RuleBurnRate, RuleDifferencing}

// ruleBit is rule's bit in authState.tripped.
func ruleBit(rule string) uint8 {
	for i, r := range ruleOrder {
		if r == rule {
			return 1 << i
		}
	}
	return 0
}

// New returns a breaker applying r, reading the time from now (time.Now when
// nil).
func New(r Rules, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	b := &Breaker{
		rules:   r,
		max:     r.MaxObservations,
		horizon: r.horizon(),
		now:     now,
		seed:    maphash.MakeSeed(),
		auths:   make(map[string]*authState),
	}
	if b.max <= 0 {
		b.max = DefaultMaxObservations
	}
	if r.BurnRate.on() {
		b.width = max(r.BurnRate.Window/burnBuckets, 1)
	}
	b.pwin = max(b.refusalWindow(), b.queryWindow())
	return b
}

// refusalWindow is the refusal-rate window, 0 when the rule is off.
func (b *Breaker) refusalWindow() time.Duration {
	if b.rules.RefusalRate.on() {
		return b.rules.RefusalRate.Window
	}
	return 0
}

// queryWindow is the query-rate window, 0 when the rule is off.
func (b *Breaker) queryWindow() time.Duration {
	if b.rules.QueryRate.on() {
		return b.rules.QueryRate.Window
	}
	return 0
}

// Observe records one query and returns the rules it trips, in the order
// refusal rate, query rate, burn rate, differencing. Each rule trips at most
// once per authorization until Reset. Observations without an authorization
// are ignored.
func (b *Breaker) Observe(o Observation) []Trip {
	if o.Authorization == "" || b.horizon <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	t := o.Time
	if t.IsZero() {
		t = now
	}
	b.sweep(now)
	s := b.auths[o.Authorization]
	if s == nil {
		s = &authState{}
		b.auths[o.Authorization] = s
	}
	at := t
	if at.Before(s.last) {
		at = s.last
	}
	s.last = at
	if o.BudgetEpsilon > 0 && !math.IsInf(o.BudgetEpsilon, 0) {
		s.budget = o.BudgetEpsilon
	}
	b.expire(s, at)
	r := b.record(o, at)
	b.add(s, r)

	var trips []Trip
	trip := func(rule, reason string) {
		s.tripped |= ruleBit(rule)
		trips = append(trips, Trip{
			Rule:          rule,
			Principal:     o.Principal,
			Organisation:  o.Organisation,
			Authorization: o.Authorization,
			At:            t,
			Reason:        reason,
		})
	}
	if ps := s.principals[r.principal]; ps != nil {
		ps.slide(at, b.queryWindow(), b.refusalWindow(), b.pwin)
		if rr := b.rules.RefusalRate; rr.on() && s.tripped&ruleBit(RuleRefusalRate) == 0 {
			if reason, ok := refusalRate(rr, ps, o); ok {
				trip(RuleRefusalRate, reason)
			}
		}
		if qr := b.rules.QueryRate; qr.on() && s.tripped&ruleBit(RuleQueryRate) == 0 {
			if n := len(ps.recs) - ps.qHead; n > qr.Max {
				trip(RuleQueryRate, fmt.Sprintf("%s ran %d queries under %s in %s (limit %d)",
					o.Principal, n, o.Authorization, duration(qr.Window), qr.Max))
			}
		}
	}
	if br := b.rules.BurnRate; br.on() {
		s.burn.slide(at, br.Window, b.width)
		if s.tripped&ruleBit(RuleBurnRate) == 0 {
			if reason, ok := burnRate(br, s, o); ok {
				trip(RuleBurnRate, reason)
			}
		}
	}
	if ss := s.shapes[r.shape]; r.hasShape && ss != nil {
		dr := b.rules.Differencing
		ss.slide(at, dr.Window)
		if s.tripped&ruleBit(RuleDifferencing) == 0 {
			if reason, ok := differencing(dr, ss, o); ok {
				trip(RuleDifferencing, reason)
			}
		}
		if len(ss.recs) == 0 {
			delete(s.shapes, r.shape)
		}
	}
	return trips
}

// Reset forgets everything about authorization: its observations and the
// rules it has tripped, which can trip again. A reviewer's reinstatement
// calls it.
func (b *Breaker) Reset(authorization string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.auths, authorization)
}

// Tripped returns the rules authorization has tripped since its last Reset,
// in the order Observe reports them.
func (b *Breaker) Tripped(authorization string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.auths[authorization]
	if s == nil {
		return nil
	}
	var rules []string
	for _, r := range ruleOrder {
		if s.tripped&ruleBit(r) != 0 {
			rules = append(rules, r)
		}
	}
	return rules
}

// record reduces o, which counts as at at, to a record that holds no
// reference to the caller's strings.
func (b *Breaker) record(o Observation, at time.Time) *record {
	r := &record{
		at:        at,
		principal: strings.Clone(o.Principal),
		rule:      strings.Clone(o.RefusalRule),
		refused:   o.Refused,
	}
	if o.Epsilon > 0 { // false for NaN
		r.eps = int64(math.Round(min(o.Epsilon, maxEpsilon) * nano))
	}
	if b.rules.Differencing.on() && o.Shape != "" && !o.Refused {
		r.hasShape = true
		r.shape = maphash.String(b.seed, o.Shape)
		r.filter = maphash.String(b.seed, o.Filter)
		r.filterText = strings.Clone(shorten(o.Filter, maxSampleFilter))
		r.isolating = o.Isolating
	}
	return r
}

// add appends r to the log and to the windows it belongs to, then evicts the
// oldest records over the cap.
func (b *Breaker) add(s *authState, r *record) {
	s.log = append(s.log, r)
	if b.pwin > 0 {
		if s.principals == nil {
			s.principals = make(map[string]*principalState)
		}
		ps := s.principals[r.principal]
		if ps == nil {
			ps = &principalState{}
			s.principals[r.principal] = ps
		}
		ps.recs = append(ps.recs, r)
		if r.refused {
			ps.rRefused++
		}
	}
	if b.width > 0 && r.eps > 0 {
		s.burn.recs = append(s.burn.recs, r)
		s.burn.sum += r.eps
	}
	if r.hasShape {
		if s.shapes == nil {
			s.shapes = make(map[uint64]*shapeState)
		}
		ss := s.shapes[r.shape]
		if ss == nil {
			ss = &shapeState{filters: make(map[uint64]int), isolating: make(map[uint64]int)}
			s.shapes[r.shape] = ss
		}
		ss.recs = append(ss.recs, r)
		ss.filters[r.filter]++
		if r.isolating {
			ss.isolating[r.filter]++
		}
	}
	for len(s.log) > b.max {
		b.drop(s, true)
	}
}

// expire drops the records no window can reach any more at t.
func (b *Breaker) expire(s *authState, t time.Time) {
	cutoff := t.Add(-b.horizon)
	for len(s.log) > 0 && !s.log[0].at.After(cutoff) {
		b.drop(s, false)
	}
}

// drop removes the oldest record from the log and from the fronts of the
// windows still holding it. An evicted record's ε goes to the burn buckets.
func (b *Breaker) drop(s *authState, evicted bool) {
	r := s.log[0]
	s.log = popFront(s.log)
	if ps := s.principals[r.principal]; ps != nil && len(ps.recs) > 0 && ps.recs[0] == r {
		ps.popFront()
		if len(ps.recs) == 0 {
			delete(s.principals, r.principal)
		}
	}
	if len(s.burn.recs) > 0 && s.burn.recs[0] == r {
		s.burn.popFront()
		if evicted {
			s.burn.spill(r, b.width)
		}
	}
	if !r.hasShape {
		return
	}
	if ss := s.shapes[r.shape]; ss != nil && len(ss.recs) > 0 && ss.recs[0] == r {
		ss.popFront()
		if len(ss.recs) == 0 {
			delete(s.shapes, r.shape)
		}
	}
}

// sweep forgets, at most once a minute (or once a window, when the longest
// is shorter), the authorizations idle for longer than the longest window,
// keeping only the rules they have tripped.
func (b *Breaker) sweep(now time.Time) {
	interval := min(time.Minute, b.horizon)
	if d := now.Sub(b.lastSweep); d >= 0 && d < interval {
		return
	}
	b.lastSweep = now
	cutoff := now.Add(-b.horizon)
	for id, s := range b.auths {
		if s.last.After(cutoff) {
			continue
		}
		if s.tripped == 0 {
			delete(b.auths, id)
		} else if s.log != nil || s.burn.overflow != nil {
			b.auths[id] = &authState{tripped: s.tripped}
		}
	}
}

// slide moves the principal's windows to end at t.
func (ps *principalState) slide(t time.Time, qw, rw, longest time.Duration) {
	for q := t.Add(-qw); ps.qHead < len(ps.recs) && !ps.recs[ps.qHead].at.After(q); ps.qHead++ {
	}
	for r := t.Add(-rw); ps.rHead < len(ps.recs) && !ps.recs[ps.rHead].at.After(r); ps.rHead++ {
		if ps.recs[ps.rHead].refused {
			ps.rRefused--
		}
	}
	for l := t.Add(-longest); len(ps.recs) > 0 && !ps.recs[0].at.After(l); {
		ps.popFront()
	}
}

func (ps *principalState) popFront() {
	r := ps.recs[0]
	ps.recs = popFront(ps.recs)
	if ps.qHead > 0 {
		ps.qHead--
	}
	if ps.rHead > 0 {
		ps.rHead--
	} else if r.refused {
		ps.rRefused--
	}
}

// slide moves the burn window to end at t.
func (bs *burnState) slide(t time.Time, w, width time.Duration) {
	from := t.Add(-w)
	for len(bs.recs) > 0 && !bs.recs[0].at.After(from) {
		bs.popFront()
	}
	for len(bs.overflow) > 0 && !bs.overflow[0].start.Add(width).After(from) {
		bs.overflowSum -= bs.overflow[0].eps
		bs.overflow = bs.overflow[1:]
	}
	if len(bs.overflow) == 0 {
		bs.overflow = nil
	}
}

func (bs *burnState) popFront() {
	bs.sum -= bs.recs[0].eps
	bs.recs = popFront(bs.recs)
}

// spill keeps the ε of an evicted record in its bucket. Evicted records are
// the oldest, so buckets are appended in order. Buckets over the bound (only
// when observation times run ahead of the clock) are merged forward, which
// overstates how recent their ε is, never understates it.
func (bs *burnState) spill(r *record, width time.Duration) {
	bs.overflowSum += r.eps
	start := r.at.Truncate(width)
	if n := len(bs.overflow); n > 0 && !start.After(bs.overflow[n-1].start) {
		bs.overflow[n-1].eps += r.eps
		return
	}
	bs.overflow = append(bs.overflow, bucket{start: start, eps: r.eps})
	for len(bs.overflow) > 2*burnBuckets+2 {
		bs.overflow[1].eps += bs.overflow[0].eps
		bs.overflow = bs.overflow[1:]
	}
}

// slide moves the differencing window to end at t.
func (ss *shapeState) slide(t time.Time, w time.Duration) {
	from := t.Add(-w)
	for len(ss.recs) > 0 && !ss.recs[0].at.After(from) {
		ss.popFront()
	}
}

func (ss *shapeState) popFront() {
	r := ss.recs[0]
	ss.recs = popFront(ss.recs)
	if ss.filters[r.filter]--; ss.filters[r.filter] <= 0 {
		delete(ss.filters, r.filter)
	}
	if r.isolating {
		if ss.isolating[r.filter]--; ss.isolating[r.filter] <= 0 {
			delete(ss.isolating, r.filter)
		}
	}
}

// popFront drops q's first record, releasing the memory of a queue that has
// shrunk well below its capacity.
func popFront(q []*record) []*record {
	q[0] = nil
	q = q[1:]
	switch {
	case len(q) == 0:
		return nil
	case cap(q) > 64 && len(q) < cap(q)/4:
		return slices.Clone(q)
	}
	return q
}

// refusalRate judges the principal's refusal window.
func refusalRate(r RefusalRate, ps *principalState, o Observation) (string, bool) {
	total := len(ps.recs) - ps.rHead
	if total == 0 || total < r.MinQueries {
		return "", false
	}
	frac := float64(ps.rRefused) / float64(total)
	if frac <= r.MaxFraction {
		return "", false
	}
	rules := map[string]int{}
	for _, rec := range ps.recs[ps.rHead:] {
		if rec.refused {
			rules[cmp.Or(rec.rule, "unnamed")]++
		}
	}
	return fmt.Sprintf("%s had %d of %d queries under %s refused in %s (%s, limit %s); refusing rules: %s",
		o.Principal, ps.rRefused, total, o.Authorization, duration(r.Window),
		percent(frac), percent(r.MaxFraction), topRules(rules, 3)), true
}

// burnRate judges the authorization's burn window.
func burnRate(r BurnRate, s *authState, o Observation) (string, bool) {
	if s.budget <= 0 {
		return "", false
	}
	spent := float64(s.burn.sum+s.burn.overflowSum) / nano
	frac := spent / s.budget
	if frac <= r.MaxFraction {
		return "", false
	}
	return fmt.Sprintf("ε %.4g of the authorization's %.4g (%s) spent under %s in %s by %d queries (limit %s)",
		spent, s.budget, percent(frac), o.Authorization, duration(r.Window),
		len(s.burn.recs), percent(r.MaxFraction)), true
}

// differencing judges one shape's differencing window.
func differencing(r Differencing, ss *shapeState, o Observation) (string, bool) {
	overAll := r.Max > 0 && len(ss.filters) > r.Max
	overIso := r.MaxIsolating > 0 && len(ss.isolating) > r.MaxIsolating
	if !overAll && !overIso {
		return "", false
	}
	principals := map[string]bool{}
	seen := map[uint64]bool{}
	var samples, isoSamples []string
	for i := len(ss.recs) - 1; i >= 0; i-- { // newest first
		rec := ss.recs[i]
		principals[rec.principal] = true
		if seen[rec.filter] {
			continue
		}
		seen[rec.filter] = true
		if len(samples) < 3 {
			samples = append(samples, rec.filterText)
		}
		if ss.isolating[rec.filter] > 0 && len(isoSamples) < 3 {
			isoSamples = append(isoSamples, rec.filterText)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d answered queries of one shape under %s in %s", len(ss.recs), o.Authorization, duration(r.Window))
	if len(principals) > 1 {
		fmt.Fprintf(&b, " by %d principals", len(principals))
	}
	b.WriteString(" differ only in their filter: ")
	if overIso {
		fmt.Fprintf(&b, "%d distinct filters isolating one unit or attribute value (limit %d), e.g. %s",
			len(ss.isolating), r.MaxIsolating, quote(isoSamples))
		if overAll {
			fmt.Fprintf(&b, "; %d distinct filters in all (limit %d)", len(ss.filters), r.Max)
		}
	} else {
		fmt.Fprintf(&b, "%d distinct filters (limit %d), e.g. %s", len(ss.filters), r.Max, quote(samples))
	}
	return b.String(), true
}

// topRules renders the n most frequent refusing rules with their counts.
func topRules(counts map[string]int, n int) string {
	rules := make([]string, 0, len(counts))
	for r := range counts {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	var parts []string
	for i, r := range rules {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(rules)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", r, counts[r]))
	}
	return strings.Join(parts, ", ")
}

// quote renders filters for a reason.
func quote(filters []string) string {
	parts := make([]string, len(filters))
	for i, f := range filters {
		if f == "" {
			f = "(none)"
		}
		parts[i] = "[" + f + "]"
	}
	return strings.Join(parts, ", ")
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// percent renders a fraction as a percentage.
func percent(f float64) string {
	return fmt.Sprintf("%.4g %%", f*100)
}

// duration renders a window in minutes or hours when it is a whole number of
// them.
func duration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	default:
		return d.String()
	}
}
