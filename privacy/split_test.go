package privacy

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"sluice"
)

// allAggs uses every aggregate kind once.
func allAggs() []sluice.Aggregate {
	q := aggOf(sluice.AggQuantile, 0, 100)
	q.Quantile = 0.5
	return []sluice.Aggregate{aggCount, aggCountUnits, aggSum(-5, 20, 2), aggOf(sluice.AggAvg, 0, 100),
		aggOf(sluice.AggVar, 0, 100), aggOf(sluice.AggStddev, 1, 9), q}
}

func TestSplitSharesAndLabels(t *testing.T) {
	plan := derivedPlan(allAggs()...)
	plan.Aggregates[0].Arg = ""
	plan.Aggregates[2].Arg = "tax_paid"
	plan.Aggregates[3].Arg = "cost"
	ob := obl(sluice.NoiseLaplace, 1.3, 1e-5, 2, 3)
	ch, err := Split(plan, ob)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		what string
		l0   int64
		linf float64
	}{
		{"units", 2, 1},
		{"count(*)", 2, 3},
		{"sum(tax_paid)", 2, 3 * 20},
		{"avg(cost): count", 2, 3},
		{"avg(cost): sum", 2, 3 * 50},
		{"var(x): count", 2, 3},
		{"var(x): sum", 2, 3 * 50},
		{"var(x): sum of squares", 2, 3 * 50 * 50},
		{"stddev(x): count", 2, 3},
		{"stddev(x): sum", 2, 3 * 4},
		{"stddev(x): sum of squares", 2, 3 * 4 * 4},
		{"quantile(x, 0.5)", 2 * sluice.QuantileTreeHeight, 3},
	}
	if len(ch) != len(want) {
		t.Fatalf("got %d charges, want %d: %+v", len(ch), len(want), ch)
	}
	for i, w := range want {
		c := ch[i]
		if c.What != w.what || c.L0 != w.l0 || math.Abs(c.Linf-w.linf) > 1e-9*w.linf || c.Mechanism != sluice.NoiseLaplace {
			t.Errorf("charge %d = %+v, want %+v", i, c, w)
		}
		if i < len(ch)-1 && c.Epsilon != 1.3/12 {
			t.Errorf("charge %d ε = %v, want %v", i, c.Epsilon, 1.3/12)
		}
		wantDelta := 0.0
		if i == 0 {
			wantDelta = 1e-5 // Laplace: all δ to partition selection
		}
		if c.Delta != wantDelta {
			t.Errorf("charge %d δ = %v, want %v", i, c.Delta, wantDelta)
		}
	}
}

func TestSplitSumsExactly(t *testing.T) {
	plans := map[string]*sluice.Plan{
		"derived all":      derivedPlan(allAggs()...),
		"public all":       publicPlan(3, allAggs()...),
		"derived one":      derivedPlan(aggCountUnits),
		"public one count": publicPlan(2, aggCount),
		"global":           {Aggregates: []sluice.Aggregate{aggSum(0, 1, 0), aggOf(sluice.AggAvg, 0, 7)}, Outputs: outputs(0, []sluice.Aggregate{aggSum(0, 1, 0), aggOf(sluice.AggAvg, 0, 7)})},
		"no aggregates":    publicPlan(2),
	}
	for name, plan := range plans {
		for _, kind := range []string{sluice.NoiseLaplace, sluice.NoiseGaussian} {
			for _, eps := range []float64{0.1, 1.0 / 3, 0.7, 1e-3, 7.3, 2.9999, math.Pi} {
				for _, delta := range []float64{1e-5, 1.0 / 3e7, 0.05, 7e-9} {
					for _, minUnits := range []int64{0, 10} {
						ob := obl(kind, eps, delta, 3, 2)
						ob.MinUnits = minUnits
						ch, err := Split(plan, ob)
						if err != nil {
							t.Fatalf("%s %s ε=%v δ=%v: %v", name, kind, eps, delta, err)
						}
						var se, sd float64
						for _, c := range ch {
							se += c.Epsilon
							sd += c.Delta
							if c.Epsilon <= 0 || c.Delta < 0 {
								t.Fatalf("%s: bad charge %+v", name, c)
							}
							if kind == sluice.NoiseGaussian && c.Delta <= 0 {
								t.Fatalf("%s: Gaussian charge without δ: %+v", name, c)
							}
						}
						wantDelta := delta
						if kind == sluice.NoiseLaplace && isPublic(plan) {
							wantDelta = 0 // δ unused
						}
						if se != eps || sd != wantDelta {
							t.Errorf("%s %s ε=%v δ=%v min=%d: charges sum to (%v, %v), want (%v, %v)",
								name, kind, eps, delta, minUnits, se, sd, eps, wantDelta)
						}
						hasUnits := ch[0].What == "units"
						wantUnits := !isPublic(plan) || minUnits > 0 || len(plan.Aggregates) == 0 ||
							plan.Aggregates[0].Func == sluice.AggCountUnits || name == "public all"
						if hasUnits != wantUnits {
							t.Errorf("%s min=%d: units charge present %v, want %v", name, minUnits, hasUnits, wantUnits)
						}
					}
				}
			}
		}
	}
}

func TestSplitGaussianDelta(t *testing.T) {
	// Derived keys: 1 units + 1 count = 2 shares, 3 δ slots (one for selection).
	ch, err := Split(derivedPlan(aggCount), obl(sluice.NoiseGaussian, 1, 3e-6, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || ch[0].Delta != 2e-6 || math.Abs(ch[1].Delta-1e-6) > 1e-21 || ch[0].Delta+ch[1].Delta != 3e-6 {
		t.Errorf("charges %+v", ch)
	}
	b, err := newBudget(derivedPlan(aggCount), obl(sluice.NoiseGaussian, 1, 3e-6, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if b.units.noiseDelta != 1e-6 || b.units.thresholdDelta != 1e-6 || b.aggs[0].mechs[0].noiseDelta != ch[1].Delta {
		t.Errorf("units δ split %v/%v, count %v", b.units.noiseDelta, b.units.thresholdDelta, b.aggs[0].mechs[0].noiseDelta)
	}
}

func TestSplitIndependentOfData(t *testing.T) {
	plan := derivedPlan(allAggs()...)
	ob := obl(sluice.NoiseLaplace, 0.9, 1e-6, 2, 2)
	want, err := Split(plan, ob)
	if err != nil {
		t.Fatal(err)
	}
	q := Partial{Buckets: []Bucket{{Value: 3, Count: 4}}}
	p := []Partial{{Count: 40}, {}, {Sum: 1234}, {Count: 40, Sum: -400}, {Count: 40, Sum: 10, SumSq: 4000}, {Count: 40, Sum: 10, SumSq: 40}, q}
	datasets := [][]Group{
		nil,
		{{Keys: []any{"a"}, Units: 1, Aggs: p}},
		{{Keys: []any{"a"}, Units: 5000, Aggs: p}, {Keys: []any{"b"}, Units: 3, Aggs: p}, {Keys: []any{"c"}, Units: 90000, Aggs: p}},
	}
	for i, gs := range datasets {
		rel := mustRelease(t, plan, ob, gs)
		if !reflect.DeepEqual(rel.Charges, want) {
			t.Errorf("dataset %d: charges %+v, want %+v", i, rel.Charges, want)
		}
		if rel.Epsilon != ob.Epsilon || rel.Delta != ob.Delta {
			t.Errorf("dataset %d: release (ε, δ) = (%v, %v), want (%v, %v)", i, rel.Epsilon, rel.Delta, ob.Epsilon, ob.Delta)
		}
	}
}

// refusal asserts that err is a release-step *sluice.Error with code and rule.
func refusal(t *testing.T, name string, err error, code, rule string) {
	t.Helper()
	var e *sluice.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: got %v, want a *sluice.Error", name, err)
		return
	}
	if e.Code != code || e.Step != sluice.StepRelease || e.Rule != rule {
		t.Errorf("%s: got %+v, want code %s rule %s", name, e, code, rule)
	}
}

func TestValidation(t *testing.T) {
	good := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
	type tc struct {
		name string
		plan *sluice.Plan
		ob   func(*sluice.Obligations)
		code string
		rule string
	}
	sum := func(lo, hi float64, scale int) *sluice.Plan { return derivedPlan(aggSum(lo, hi, scale)) }
	cases := []tc{
		{"ε NaN", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = math.NaN() }, sluice.EINVALID, "release.epsilon"},
		{"ε +Inf", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = math.Inf(1) }, sluice.EINVALID, "release.epsilon"},
		{"ε 0", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = 0 }, sluice.EINVALID, "release.epsilon"},
		{"ε negative", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = -1 }, sluice.EINVALID, "release.epsilon"},
		{"ε 1e-20", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = 1e-20 }, sluice.EINVALID, "release.epsilon"},
		{"ε share below 2^-50", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Epsilon = math.Exp2(-50) }, sluice.EINVALID, "release.epsilon"},
		{"δ 1", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Delta = 1 }, sluice.EINVALID, "release.delta"},
		{"δ 2", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Delta = 2 }, sluice.EINVALID, "release.delta"},
		{"δ NaN", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Delta = math.NaN() }, sluice.EINVALID, "release.delta"},
		{"δ negative", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Delta = -1e-9 }, sluice.EINVALID, "release.delta"},
		{"δ 0 derived Laplace", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Delta = 0 }, sluice.EINVALID, "release.delta"},
		{"δ 0 Gaussian", publicPlan(2, aggCount), func(o *sluice.Obligations) { o.Delta = 0; o.Noise = sluice.NoiseGaussian }, sluice.EINVALID, "release.delta"},
		{"δ underflows", derivedPlan(aggCount, aggCount), func(o *sluice.Obligations) { o.Delta = 5e-324; o.Noise = sluice.NoiseGaussian }, sluice.EINVALID, "release.delta"},
		{"noise empty", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Noise = "" }, sluice.EINVALID, "release.noise"},
		{"noise unknown", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Noise = "geometric" }, sluice.EINVALID, "release.noise"},
		{"L0 0", derivedPlan(aggCount), func(o *sluice.Obligations) { o.L0 = 0 }, sluice.EINVALID, "release.l0"},
		{"L∞ 0", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Linf = 0 }, sluice.EINVALID, "release.linf"},
		{"L∞ negative", derivedPlan(aggCount), func(o *sluice.Obligations) { o.Linf = -3 }, sluice.EINVALID, "release.linf"},
		{"L0 huge", derivedPlan(aggCount), func(o *sluice.Obligations) { o.L0 = math.MaxInt64 }, sluice.EINVALID, "release.bounds"},
		{"L∞·L0 huge", derivedPlan(aggCount), func(o *sluice.Obligations) { o.L0 = 1 << 30; o.Linf = 1 << 30 }, sluice.EINVALID, "release.bounds"},
		{"bounds 2^62", sum(-(1 << 62), 1<<62, 0), func(o *sluice.Obligations) { o.L0 = 4 }, sluice.EINVALID, "release.bounds"},
		{"bounds × L0 over 2^53", sum(0, 1<<52, 0), func(o *sluice.Obligations) { o.L0 = 4 }, sluice.EINVALID, "release.bounds"},
		{"bounds × scale over 2^53", sum(0, 1e9, 9), nil, sluice.EINVALID, "release.bounds"},
		{"var W² over 2^53", derivedPlan(aggOf(sluice.AggVar, 0, 1e9)), nil, sluice.EINVALID, "release.bounds"},
		{"bounds NaN", sum(math.NaN(), 1, 0), nil, sluice.EINVALID, "release.bounds"},
		{"bounds Inf", sum(0, math.Inf(1), 0), nil, sluice.EINVALID, "release.bounds"},
		{"bounds reversed", sum(5, 1, 0), nil, sluice.EINVALID, "release.bounds"},
		{"bounds equal", derivedPlan(aggOf(sluice.AggAvg, 3, 3)), nil, sluice.EINVALID, "release.bounds"},
		{"bounds collapse at scale", derivedPlan(aggOf(sluice.AggAvg, 0.1, 0.4)), nil, sluice.EINVALID, "release.bounds"},
		{"sum bounds round to 0", sum(0, 0.4, 0), nil, sluice.EINVALID, "release.bounds"},
		{"scale negative", sum(0, 1, -1), nil, sluice.EINVALID, "release.bounds"},
		{"scale 30", sum(0, 1, 30), nil, sluice.EINVALID, "release.bounds"},
		{"quantile rank 2", derivedPlan(sluice.Aggregate{Name: "q", Func: sluice.AggQuantile, Lower: 0, Upper: 1, Quantile: 2}), nil, sluice.EINVALID, "release.quantile"},
		{"quantile rank NaN", derivedPlan(sluice.Aggregate{Name: "q", Func: sluice.AggQuantile, Lower: 0, Upper: 1, Quantile: math.NaN()}), nil, sluice.EINVALID, "release.quantile"},
		{"unknown aggregate", derivedPlan(sluice.Aggregate{Name: "m", Func: "mode"}), nil, sluice.EINVALID, "release.aggregate"},
		{"aggregate not allowed", derivedPlan(aggSum(0, 1, 0)), func(o *sluice.Obligations) { o.Aggregates = []sluice.AggFunc{sluice.AggCount} }, sluice.EFORBIDDEN, "release.aggregate"},
	}
	for _, c := range cases {
		ob := good
		if c.ob != nil {
			c.ob(&ob)
		}
		// Run with a timeout: the library hangs on some overflowing
		// parameters, and validation must refuse them first.
		done := make(chan error, 2)
		go func() {
			_, err := Split(c.plan, ob)
			done <- err
			_, err = Release(c.plan, ob, nil)
			done <- err
		}()
		for _, step := range []string{"Split", "Release"} {
			select {
			case err := <-done:
				refusal(t, c.name+" ("+step+")", err, c.code, c.rule)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: %s did not return within 10 s", c.name, step)
			}
		}
	}
}

func TestLargeButValidBoundsDoNotHang(t *testing.T) {
	// |bound|·L∞·L0 = 2^50·1·4 = 2^52 ≤ 2^53: accepted, and the library
	// must return promptly.
	plan := derivedPlan(aggSum(-(1<<50), 1<<50, 0), aggOf(sluice.AggAvg, -(1<<49), 1<<49))
	ob := obl(sluice.NoiseLaplace, 1, 1e-5, 4, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Release(plan, ob, []Group{{Keys: []any{"a"}, Units: 1000, Aggs: []Partial{{Sum: 1 << 55}, {Count: 3, Sum: -(1 << 51)}}}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Release did not return within 10 s")
	}
}

func TestBadGroupsAreInternalErrors(t *testing.T) {
	ob := obl(sluice.NoiseLaplace, 1, 1e-5, 1, 1)
	_, err := Release(derivedPlan(aggCount), ob, []Group{{Keys: []any{"a"}, Units: 3}})
	refusal(t, "missing partial", err, sluice.EINTERNAL, "release.groups")
	_, err = Release(derivedPlan(aggCount), ob, []Group{{Keys: []any{"a"}, Units: 100000, Aggs: make([]Partial, 1)}, {Keys: []any{"a"}, Units: 100000, Aggs: make([]Partial, 1)}})
	refusal(t, "duplicate", err, sluice.EINTERNAL, "release.groups")
	_, err = Release(publicPlan(3, aggCount), ob, append(publicGroupsOf(2, 5, Partial{}), publicGroupsOf(1, 5, Partial{})...))
	refusal(t, "duplicate public group", err, sluice.EINTERNAL, "release.public_groups")
	bad := derivedPlan(aggCount)
	bad.Outputs = append(bad.Outputs, sluice.Output{Name: "x", Group: -1, Agg: 7})
	_, err = Release(bad, ob, nil)
	refusal(t, "bad output", err, sluice.EINTERNAL, "release.outputs")
}
