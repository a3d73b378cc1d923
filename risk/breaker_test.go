package risk

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock the tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	auth     = "auth_7f3a"
	bankUser = "li.wei"
	bank     = "bank-of-pudong"
	budget   = 3.0 // the authorization's total ε in the review-day example
)

// Query shapes, as the analyser renders a plan with its filter constants
// masked.
const (
	shapeByFirm     = "SELECT sum(t.tax_paid) FROM tax_monthly t WHERE t.credit_code = ?"
	shapeByMonth    = "SELECT e.district, avg(t.tax_paid) FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code WHERE t.month = ? GROUP BY e.district"
	shapeBySize     = "SELECT e.size_class, count(DISTINCT e.credit_code), avg(t.tax_paid) FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code WHERE t.month >= ? GROUP BY e.size_class"
	shapeByDistrict = "SELECT e.district, count(DISTINCT e.credit_code) FROM enterprise e GROUP BY e.district"
	shapeByIndustry = "SELECT e.industry, avg(t.tax_paid) FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code WHERE t.month >= ? GROUP BY e.industry"
	shapeByStatus   = "SELECT t.filing_status, count(*) FROM tax_monthly t WHERE t.month BETWEEN ? AND ? GROUP BY t.filing_status"
	shapeBySizeDist = "SELECT e.size_class, e.district, count(DISTINCT e.credit_code) FROM enterprise e GROUP BY e.size_class, e.district"
)

// answered is an answered query by the bank's analyst.
func answered(shape, filter string, eps float64) Observation {
	return Observation{
		Principal: bankUser, Organisation: bank, Authorization: auth,
		Epsilon: eps, BudgetEpsilon: budget, Shape: shape, Filter: filter,
	}
}

// refused is a query by the bank's analyst refused by rule.
func refused(rule string) Observation {
	return Observation{
		Principal: bankUser, Organisation: bank, Authorization: auth,
		Refused: true, RefusalRule: rule, BudgetEpsilon: budget,
	}
}

// firmProbe is the bank looking one firm up by its credit code.
func firmProbe(code string) Observation {
	o := answered(shapeByFirm, fmt.Sprintf("t.credit_code = '%s'", code), 0.05)
	o.Isolating = true
	return o
}

func onlyTrip(t *testing.T, trips []Trip, rule string) Trip {
	t.Helper()
	if len(trips) != 1 || trips[0].Rule != rule {
		t.Fatalf("trips = %+v, want one %s", trips, rule)
	}
	return trips[0]
}

func noTrip(t *testing.T, trips []Trip, what string) {
	t.Helper()
	if len(trips) != 0 {
		t.Fatalf("%s: unexpected trips %+v", what, trips)
	}
}

func TestDefaultRules(t *testing.T) {
	r := DefaultRules()
	want := Rules{
		RefusalRate:     RefusalRate{Window: 10 * time.Minute, MinQueries: 10, MaxFraction: 0.5},
		QueryRate:       QueryRate{Window: time.Minute, Max: 60},
		BurnRate:        BurnRate{Window: time.Hour, MaxFraction: 0.5},
		Differencing:    Differencing{Window: 10 * time.Minute, Max: 8, MaxIsolating: 3},
		MaxObservations: 10000,
	}
	if r != want {
		t.Fatalf("DefaultRules() = %+v, want %+v", r, want)
	}
	if h := r.horizon(); h != time.Hour {
		t.Fatalf("horizon = %v, want 1h", h)
	}
}

func TestDifferencingProbesCreditCodes(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	codes := []string{"91310115MA1K4ABC12", "91310115MA1K4ABD30", "91310104MA1FR2XY7Q", "91310106MA1FL0QW3T", "91310107MA1G0PLM5K"}
	for i, code := range codes[:3] {
		noTrip(t, b.Observe(firmProbe(code)), fmt.Sprintf("probe %d", i+1))
		c.advance(40 * time.Second)
	}
	// Repeating a code is not a new variant.
	noTrip(t, b.Observe(firmProbe(codes[0])), "repeated probe")
	c.advance(40 * time.Second)
	tr := onlyTrip(t, b.Observe(firmProbe(codes[3])), RuleDifferencing)
	if tr.Principal != bankUser || tr.Organisation != bank || tr.Authorization != auth || !tr.At.Equal(c.now()) {
		t.Errorf("trip = %+v", tr)
	}
	for _, s := range []string{"4 distinct filters isolating", "limit 3", "5 answered queries", codes[3], auth, "10 min"} {
		if !strings.Contains(tr.Reason, s) {
			t.Errorf("reason %q lacks %q", tr.Reason, s)
		}
	}
	// Tripped once: more probes do not trip again.
	noTrip(t, b.Observe(firmProbe(codes[4])), "after the trip")
	if got := b.Tripped(auth); len(got) != 1 || got[0] != RuleDifferencing {
		t.Fatalf("Tripped = %v", got)
	}
}

func TestDifferencingNarrowFilterVariants(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// One district table per day of March, a minute apart: the days differ
	// only in the filter, and their differences single out firms that filed
	// on one day.
	for d := 1; d <= 8; d++ {
		f := fmt.Sprintf("t.month = DATE '2025-03-%02d'", d)
		noTrip(t, b.Observe(answered(shapeByMonth, f, 0.02)), f)
		c.advance(time.Minute)
	}
	tr := onlyTrip(t, b.Observe(answered(shapeByMonth, "t.month = DATE '2025-03-09'", 0.02)), RuleDifferencing)
	for _, s := range []string{"9 distinct filters (limit 8)", "9 answered queries", "2025-03-09"} {
		if !strings.Contains(tr.Reason, s) {
			t.Errorf("reason %q lacks %q", tr.Reason, s)
		}
	}
}

func TestDifferencingAcrossPrincipals(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// Two analysts of the bank share the authorization and split the probes.
	for i, who := range []string{"li.wei", "wang.fang", "li.wei", "wang.fang"} {
		o := firmProbe(fmt.Sprintf("9131011%dMA1K4ABC12", i))
		o.Principal = who
		trips := b.Observe(o)
		if i < 3 {
			noTrip(t, trips, who)
			continue
		}
		tr := onlyTrip(t, trips, RuleDifferencing)
		if tr.Principal != "wang.fang" || !strings.Contains(tr.Reason, "by 2 principals") {
			t.Fatalf("trip = %+v", tr)
		}
	}
}

func TestDifferencingIgnoresRefusedAndOtherShapes(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// Refused statements release nothing to difference.
	for i := range 20 {
		o := firmProbe(fmt.Sprintf("913101%02dMA1K4ABC12", i))
		o.Refused, o.RefusalRule, o.Epsilon = true, "policy.unit_filter", 0
		o.Principal = fmt.Sprintf("analyst-%d", i) // keep the refusal rate out of it
		noTrip(t, b.Observe(o), "refused probe")
		c.advance(5 * time.Second)
	}
	// Different shapes, two filters each.
	for _, shape := range []string{shapeBySize, shapeByIndustry, shapeByStatus, shapeByMonth, shapeByFirm} {
		for _, f := range []string{"t.month >= DATE '2025-01-01'", "t.month >= DATE '2024-01-01'"} {
			noTrip(t, b.Observe(answered(shape, f, 0.01)), shape)
			c.advance(5 * time.Second)
		}
	}
}

func TestQueryRate(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// A script: 100 queries in a minute, the same harmless aggregate.
	var trips []Trip
	for i := 1; i <= 100; i++ {
		got := b.Observe(answered(shapeByDistrict, "", 0.001))
		if len(got) > 0 && i != 61 {
			t.Fatalf("query %d tripped %+v", i, got)
		}
		trips = append(trips, got...)
		c.advance(600 * time.Millisecond)
	}
	tr := onlyTrip(t, trips, RuleQueryRate)
	if !strings.Contains(tr.Reason, "ran 61 queries") || !strings.Contains(tr.Reason, "limit 60") || !strings.Contains(tr.Reason, "1 min") {
		t.Errorf("reason %q", tr.Reason)
	}
}

func TestQueryRateIsPerPrincipal(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	for i := range 100 {
		o := answered(shapeByDistrict, "", 0.001)
		if i%2 == 1 {
			o.Principal = "wang.fang"
		}
		noTrip(t, b.Observe(o), "two analysts at 50 a minute each")
		c.advance(600 * time.Millisecond)
	}
}

func TestBurnRate(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// Six queries at the per-query cap of 0.3 in an hour: 60 % of ε 3.
	for i := 1; i <= 5; i++ {
		noTrip(t, b.Observe(answered(shapeBySize, fmt.Sprintf("t.month >= DATE '2025-%02d-01'", i), 0.3)), "up to 50 %")
		c.advance(10 * time.Minute)
	}
	tr := onlyTrip(t, b.Observe(answered(shapeByIndustry, "t.month >= DATE '2025-01-01'", 0.3)), RuleBurnRate)
	for _, s := range []string{"ε 1.8 of the authorization's 3", "60 %", "limit 50 %", "1 h", "6 queries"} {
		if !strings.Contains(tr.Reason, s) {
			t.Errorf("reason %q lacks %q", tr.Reason, s)
		}
	}
}

func TestBurnRateNeedsBudget(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	for range 10 {
		o := answered(shapeByDistrict, "", 1)
		o.BudgetEpsilon = 0 // unknown: the rule cannot judge
		noTrip(t, b.Observe(o), "no budget")
		c.advance(time.Minute)
	}
}

func TestRefusalRate(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// Probing the analyser: 7 of 10 statements refused in ten minutes.
	seq := []Observation{
		refused("sql.table_function"),
		refused("sql.table_function"),
		answered(shapeByDistrict, "", 0.05),
		refused("sql.function_not_allowed"),
		refused("policy.column_not_granted"),
		answered(shapeBySize, "t.month >= DATE '2025-01-01'", 0.05),
		refused("sql.table_function"),
		refused("sql.function_not_allowed"),
		answered(shapeByIndustry, "t.month >= DATE '2025-01-01'", 0.05),
		refused("sql.table_function"),
	}
	for i, o := range seq[:9] {
		noTrip(t, b.Observe(o), fmt.Sprintf("statement %d", i+1))
		c.advance(50 * time.Second)
	}
	tr := onlyTrip(t, b.Observe(seq[9]), RuleRefusalRate)
	for _, s := range []string{"7 of 10 queries", "70 %", "limit 50 %", "sql.table_function (4), sql.function_not_allowed (2), policy.column_not_granted (1)"} {
		if !strings.Contains(tr.Reason, s) {
			t.Errorf("reason %q lacks %q", tr.Reason, s)
		}
	}
}

func TestRefusalRateNeedsMinQueries(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	// Nine refusals in a row are not enough queries to judge.
	for range 9 {
		noTrip(t, b.Observe(refused("sql.syntax")), "below the minimum")
		c.advance(time.Minute)
	}
	// Half refused is not more than half.
	b = New(DefaultRules(), c.now)
	for i := range 20 {
		o := refused("sql.syntax")
		if i%2 == 0 {
			o = answered(shapeByDistrict, "", 0.01)
		}
		noTrip(t, b.Observe(o), "half refused")
		c.advance(20 * time.Second)
	}
}

// step is one query of the example day, some time after the previous one.
type step struct {
	after time.Duration
	o     Observation
}

// ordinaryDay is the bank's analyst working through the example scenario
// over a working day: exploring firms by size, district and industry, a
// monthly series run now and then, three typos and a query over the column the
// reviewer removed, about 30 % of the budget.
func ordinaryDay() []step {
	m := time.Minute
	month := func(mm int) string { return fmt.Sprintf("t.month = DATE '2025-%02d-01'", mm) }
	since := func(y int) string { return fmt.Sprintf("t.month >= DATE '%d-01-01'", y) }
	status := func(a, z int) string {
		return fmt.Sprintf("t.month BETWEEN DATE '2025-%02d-01' AND DATE '2025-%02d-01'", a, z)
	}
	return []step{
		{0, answered(shapeByDistrict, "", 0.02)},
		{4 * m, answered(shapeBySize, since(2025), 0.03)},
		{3 * m, refused("sql.syntax")}, // "GROUP BY e.size_clas"
		{1 * m, answered(shapeBySize, since(2024), 0.03)},
		{12 * m, answered(shapeBySizeDist, "", 0.03)},
		{9 * m, refused("policy.column_not_granted")}, // sum(tax_arrears)
		{2 * m, answered(shapeByIndustry, since(2025), 0.03)},
		{15 * m, answered(shapeByStatus, status(1, 3), 0.02)},
		{3 * m, answered(shapeByStatus, status(4, 6), 0.02)},
		{4 * m, answered(shapeByStatus, status(1, 6), 0.02)},
		{20 * m, answered(shapeByMonth, month(1), 0.02)}, // the monthly series, over the day
		{25 * m, answered(shapeByIndustry, since(2024), 0.03)},
		{6 * m, refused("sql.unknown_column")}, // "t.taxpaid"
		{1 * m, answered(shapeByIndustry, since(2023), 0.03)},
		{18 * m, answered(shapeByMonth, month(2), 0.02)},
		{7 * m, answered(shapeBySizeDist, "", 0.03)},
		{75 * m, answered(shapeByDistrict, "", 0.02)}, // after lunch
		{5 * m, answered(shapeByMonth, month(3), 0.02)},
		{2 * m, answered(shapeByMonth, month(4), 0.02)},
		{3 * m, answered(shapeByMonth, month(5), 0.02)},
		{14 * m, answered(shapeBySize, since(2023), 0.03)},
		{8 * m, refused("sql.syntax")}, // a missing comma
		{2 * m, answered(shapeBySize, since(2022), 0.03)},
		{16 * m, answered(shapeByStatus, status(7, 9), 0.02)},
		{11 * m, answered(shapeByIndustry, since(2022), 0.03)},
		{40 * m, answered(shapeByMonth, month(6), 0.02)}, // after a meeting
		{9 * m, answered(shapeBySizeDist, "", 0.03)},
		{13 * m, answered(shapeByStatus, status(10, 12), 0.02)},
		{4 * m, answered(shapeByStatus, status(1, 12), 0.02)},
		{50 * m, answered(shapeByMonth, month(7), 0.02)},
		{10 * m, answered(shapeByDistrict, "", 0.02)},
		{12 * m, answered(shapeBySize, since(2021), 0.03)},
		{6 * m, answered(shapeByIndustry, since(2021), 0.03)},
		{15 * m, answered(shapeByMonth, month(8), 0.02)},
		{8 * m, answered(shapeBySizeDist, "", 0.03)},
		{14 * m, answered(shapeByMonth, month(9), 0.02)},
		{9 * m, answered(shapeBySize, since(2020), 0.03)},
		{11 * m, answered(shapeByIndustry, since(2020), 0.03)},
		{7 * m, answered(shapeByStatus, status(1, 6), 0.02)},
		{10 * m, answered(shapeByDistrict, "", 0.02)},
	}
}

func TestOrdinaryDayDoesNotTrip(t *testing.T) {
	c := newClock()
	start := c.now()
	b := New(DefaultRules(), c.now)
	day := ordinaryDay()
	spent, refusals := 0.0, 0
	for i, s := range day {
		c.advance(s.after)
		s.o.Time = c.now()
		spent += s.o.Epsilon
		if s.o.Refused {
			refusals++
		}
		noTrip(t, b.Observe(s.o), fmt.Sprintf("query %d at %s", i+1, c.now().Format("15:04")))
	}
	// Check the day is what it claims to be.
	if n := len(day); n < 35 || n > 45 {
		t.Errorf("%d queries", n)
	}
	if refusals < 3 || refusals > 5 {
		t.Errorf("%d refusals", refusals)
	}
	if f := spent / budget; math.Abs(f-0.3) > 0.03 {
		t.Errorf("spent %.3g of %g (%.0f %%), want about 30 %%", spent, budget, 100*f)
	}
	if d := c.now().Sub(start); d < 7*time.Hour || d > 9*time.Hour {
		t.Errorf("the day lasted %v", d)
	}
	if got := b.Tripped(auth); len(got) != 0 {
		t.Errorf("Tripped = %v", got)
	}
}

func TestResetAllowsTripAgain(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	burst := func() (trips []Trip) {
		for range 70 {
			trips = append(trips, b.Observe(answered(shapeByDistrict, "", 0.001))...)
			c.advance(500 * time.Millisecond)
		}
		return trips
	}
	onlyTrip(t, burst(), RuleQueryRate)
	noTrip(t, burst(), "still tripped")
	if got := b.Tripped(auth); len(got) != 1 || got[0] != RuleQueryRate {
		t.Fatalf("Tripped = %v", got)
	}
	b.Reset(auth) // a reviewer reinstates
	if got := b.Tripped(auth); len(got) != 0 {
		t.Fatalf("Tripped after Reset = %v", got)
	}
	// The history went with the reset: one query does not trip at once.
	noTrip(t, b.Observe(answered(shapeByDistrict, "", 0.001)), "first query after Reset")
	onlyTrip(t, burst(), RuleQueryRate)
	// Another authorization's state is its own.
	o := answered(shapeByDistrict, "", 0.001)
	o.Authorization = "auth_other"
	noTrip(t, b.Observe(o), "other authorization")
}

func TestWindowsSlide(t *testing.T) {
	t.Run("query rate", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		for range 60 {
			noTrip(t, b.Observe(answered(shapeByDistrict, "", 0.001)), "first minute")
		}
		c.advance(61 * time.Second)
		for range 60 {
			noTrip(t, b.Observe(answered(shapeByDistrict, "", 0.001)), "second minute")
		}
		onlyTrip(t, b.Observe(answered(shapeByDistrict, "", 0.001)), RuleQueryRate)
	})
	t.Run("burn rate", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		noTrip(t, b.Observe(answered(shapeBySize, "", 1.2)), "40 % at 9:00")
		c.advance(61 * time.Minute)
		noTrip(t, b.Observe(answered(shapeBySize, "", 1.2)), "40 % at 10:01")
		c.advance(9 * time.Minute)
		onlyTrip(t, b.Observe(answered(shapeBySize, "", 0.6)), RuleBurnRate)
	})
	t.Run("refusal rate", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		for range 9 {
			noTrip(t, b.Observe(refused("sql.syntax")), "nine refusals")
		}
		c.advance(11 * time.Minute)
		noTrip(t, b.Observe(refused("sql.syntax")), "the tenth, later")
		for range 8 {
			noTrip(t, b.Observe(refused("sql.syntax")), "refilling")
		}
		onlyTrip(t, b.Observe(refused("sql.syntax")), RuleRefusalRate)
	})
	t.Run("differencing", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		for d := 1; d <= 8; d++ {
			noTrip(t, b.Observe(answered(shapeByMonth, fmt.Sprintf("t.month = DATE '2025-%02d-01'", d), 0.01)), "first eight")
		}
		c.advance(11 * time.Minute)
		for d := 1; d <= 8; d++ {
			noTrip(t, b.Observe(answered(shapeByMonth, fmt.Sprintf("t.month = DATE '2024-%02d-01'", d), 0.01)), "eight more")
		}
		onlyTrip(t, b.Observe(answered(shapeByMonth, "t.month = DATE '2024-09-01'", 0.01)), RuleDifferencing)
	})
	t.Run("observation time", func(t *testing.T) {
		// Observations carry their own time; the window follows it.
		c := newClock()
		b := New(DefaultRules(), c.now)
		at := c.now()
		for range 60 {
			o := answered(shapeByDistrict, "", 0.001)
			o.Time = at
			noTrip(t, b.Observe(o), "first minute")
		}
		o := answered(shapeByDistrict, "", 0.001)
		o.Time = at.Add(90 * time.Second)
		noTrip(t, b.Observe(o), "90 s later")
		// A late observation counts as at the latest time seen, and its trip
		// carries its own time.
		for i := range 60 {
			o := answered(shapeByDistrict, "", 0.001)
			o.Time = at.Add(time.Duration(i) * time.Second)
			trips := b.Observe(o)
			if i < 59 {
				noTrip(t, trips, "late")
				continue
			}
			if tr := onlyTrip(t, trips, RuleQueryRate); !tr.At.Equal(o.Time) {
				t.Fatalf("trip at %v, want %v", tr.At, o.Time)
			}
		}
	})
}

func TestDisabledRules(t *testing.T) {
	c := newClock()
	r := DefaultRules()
	r.QueryRate.Disabled = true
	b := New(r, c.now)
	for range 100 {
		noTrip(t, b.Observe(answered(shapeByDistrict, "", 0.001)), "query rate off")
		c.advance(100 * time.Millisecond)
	}
	r = DefaultRules()
	r.Differencing.MaxIsolating = 0 // the isolating threshold alone is off
	b = New(r, c.now)
	for i := range 8 {
		noTrip(t, b.Observe(firmProbe(fmt.Sprintf("913101%02dMA1K4ABC12", i))), "isolating threshold off")
	}
	onlyTrip(t, b.Observe(firmProbe("91310199MA1K4ABC12")), RuleDifferencing)

	// The zero Rules watches nothing and keeps nothing.
	b = New(Rules{}, c.now)
	for range 100 {
		noTrip(t, b.Observe(firmProbe("91310115MA1K4ABC12")), "all off")
	}
	if len(b.auths) != 0 {
		t.Fatalf("kept %d authorizations with every rule off", len(b.auths))
	}
}

func TestIgnoresBadInput(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	o := answered(shapeByDistrict, "", 10)
	o.Authorization = ""
	noTrip(t, b.Observe(o), "no authorization")
	for _, eps := range []float64{math.NaN(), -5} {
		noTrip(t, b.Observe(answered(shapeByDistrict, "", eps)), fmt.Sprint(eps))
	}
	// An infinite spend is the worst burn, not an error to skip.
	onlyTrip(t, b.Observe(answered(shapeByDistrict, "", math.Inf(1))), RuleBurnRate)
}

func TestConcurrentUse(t *testing.T) {
	c := newClock()
	b := New(DefaultRules(), c.now)
	var (
		mu    sync.Mutex
		count = map[string]int{} // authorization/rule → trips
		wg    sync.WaitGroup
	)
	for g := range 16 {
		wg.Go(func() {
			for i := range 400 {
				o := firmProbe(fmt.Sprintf("913101%02dMA1K%04d", g, i))
				o.Authorization = fmt.Sprintf("auth_%d", g%4)
				o.Principal = fmt.Sprintf("analyst_%d", g)
				o.Refused = i%3 == 0
				for _, tr := range b.Observe(o) {
					mu.Lock()
					count[tr.Authorization+"/"+tr.Rule]++
					mu.Unlock()
				}
				if i%50 == 0 {
					c.advance(time.Second)
					_ = b.Tripped(o.Authorization)
				}
			}
		})
	}
	wg.Go(func() { // a reviewer reinstating another authorization over and over
		for i := range 400 {
			o := refused("sql.syntax")
			o.Authorization = "auth_reinstated"
			b.Observe(o)
			if i%20 == 0 {
				b.Reset("auth_reinstated")
			}
		}
	})
	wg.Wait()
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s tripped %d times", k, n)
		}
	}
	for g := range 4 {
		for _, rule := range []string{RuleQueryRate, RuleDifferencing, RuleBurnRate} {
			if k := fmt.Sprintf("auth_%d/%s", g, rule); count[k] != 1 {
				t.Errorf("%s tripped %d times, want 1", k, count[k])
			}
		}
	}
}

func TestMemoryBound(t *testing.T) {
	t.Run("cap per authorization", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		for i := range 3 * DefaultMaxObservations {
			o := firmProbe(fmt.Sprintf("%018d", i))
			o.Filter = strings.Repeat("x", 1000) + o.Filter // long filters are not kept whole
			o.Epsilon = 0
			b.Observe(o)
			if i%1000 == 0 {
				c.advance(time.Second)
			}
		}
		s := b.auths[auth]
		if len(s.log) > DefaultMaxObservations || cap(s.log) > 2*DefaultMaxObservations {
			t.Fatalf("kept %d records (capacity %d), cap %d", len(s.log), cap(s.log), DefaultMaxObservations)
		}
		held := len(s.burn.recs)
		for _, ps := range s.principals {
			held += len(ps.recs)
		}
		for _, ss := range s.shapes {
			held += len(ss.recs)
		}
		if held > 3*DefaultMaxObservations {
			t.Fatalf("windows hold %d records", held)
		}
		for _, r := range s.log {
			if len(r.filterText) > maxSampleFilter+len("…") {
				t.Fatalf("kept a %d-byte filter", len(r.filterText))
			}
		}
	})
	t.Run("evicted ε still counts", func(t *testing.T) {
		c := newClock()
		r := DefaultRules()
		r.MaxObservations = 100
		r.QueryRate.Disabled, r.RefusalRate.Disabled = true, true
		b := New(r, c.now)
		noTrip(t, b.Observe(answered(shapeBySize, "", 1.35)), "45 %")
		// A flood of cheap refused statements pushes the spend out of the cap.
		for range 1000 {
			b.Observe(refused("sql.syntax"))
			c.advance(time.Second)
		}
		if n := len(b.auths[auth].log); n != 100 {
			t.Fatalf("kept %d records, want 100", n)
		}
		tr := onlyTrip(t, b.Observe(answered(shapeBySize, "", 0.3)), RuleBurnRate)
		if !strings.Contains(tr.Reason, "ε 1.65") {
			t.Errorf("reason %q", tr.Reason)
		}
	})
	t.Run("idle authorizations are forgotten", func(t *testing.T) {
		c := newClock()
		b := New(DefaultRules(), c.now)
		for i := range 1000 {
			o := answered(shapeByDistrict, "", 0.01)
			o.Authorization = fmt.Sprintf("auth_%d", i)
			b.Observe(o)
		}
		// One authorization trips and stays tripped while idle.
		for i := range 4 {
			o := firmProbe(fmt.Sprintf("913101%02dMA1K4ABC12", i))
			o.Authorization = "auth_tripped"
			b.Observe(o)
		}
		if n := len(b.auths); n != 1001 {
			t.Fatalf("%d authorizations, want 1001", n)
		}
		c.advance(61 * time.Minute)
		o := answered(shapeByDistrict, "", 0.01)
		o.Authorization = "auth_new"
		b.Observe(o)
		if n := len(b.auths); n != 2 {
			t.Fatalf("%d authorizations after an idle hour, want 2", n)
		}
		s := b.auths["auth_tripped"]
		if s == nil || len(s.log) != 0 || len(s.principals) != 0 || len(s.shapes) != 0 {
			t.Fatalf("tripped authorization state = %+v", s)
		}
		if got := b.Tripped("auth_tripped"); len(got) != 1 || got[0] != RuleDifferencing {
			t.Fatalf("Tripped = %v", got)
		}
		for i := range 4 {
			o := firmProbe(fmt.Sprintf("913102%02dMA1K4ABC12", i))
			o.Authorization = "auth_tripped"
			noTrip(t, b.Observe(o), "tripped until Reset")
		}
	})
}
