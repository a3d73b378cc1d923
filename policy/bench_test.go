package policy

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sluice"
)

// benchAuthorizations are n authorizations of bank-a like the fixture's,
// with ids authz-00000 …
func benchAuthorizations(n int) []*sluice.Authorization {
	auths := make([]*sluice.Authorization, n)
	for i := range auths {
		a := authorization()
		a.ID = fmt.Sprintf("authz-%05d", i)
		a.Application = fmt.Sprintf("app-%05d", i)
		auths[i] = a
	}
	return auths
}

// reportLatency reports the 50th and 99th percentiles of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	pct := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(ds)), "decisions")
}

// BenchmarkDecide decides alice's tax query with 10 000 authorizations
// loaded: "input" carries the authorization in question in the input (the
// design Decide is built for: the caller has it from the control plane);
// "store" holds all 10 000 in the policy store (data.authorizations) and
// names one by id. Each iteration uses the next authorization. For the
// percentiles over 20 000 decisions run with -benchtime=20000x.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	auths := benchAuthorizations(10_000)
	for _, mode := range []string{"input", "store"} {
		b.Run(mode, func(b *testing.B) {
			e := newEngine(b, Options{})
			if mode == "store" {
				if err := e.SetAuthorizations(ctx, auths); err != nil {
					b.Fatal(err)
				}
			}
			cat := catalog()
			ds := make([]time.Duration, 0, b.N)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				a := auths[i%len(auths)]
				i++
				in := Input{Principal: analyst(), Datasets: cat, Plan: taxPlan()}
				if mode == "store" {
					in.AuthorizationID = a.ID
				} else {
					in.Authorization = a
				}
				t0 := time.Now()
				d, err := e.Decide(ctx, in)
				ds = append(ds, time.Since(t0))
				if err != nil || !d.Allow {
					b.Fatalf("decision %+v, error %v", d, err)
				}
			}
			reportLatency(b, ds)
		})
	}
}

// BenchmarkDecideParallel decides from GOMAXPROCS goroutines at once, the
// authorization in the input: latency under load, and throughput.
func BenchmarkDecideParallel(b *testing.B) {
	ctx := context.Background()
	auths := benchAuthorizations(10_000)
	e := newEngine(b, Options{})
	cat := catalog()
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ds []time.Duration
		i := 0
		for pb.Next() {
			in := Input{Principal: analyst(), Authorization: auths[i%len(auths)], Datasets: cat, Plan: taxPlan()}
			i++
			t0 := time.Now()
			d, err := e.Decide(ctx, in)
			ds = append(ds, time.Since(t0))
			if err != nil || !d.Allow {
				b.Errorf("decision %+v, error %v", d, err)
				return
			}
		}
		mu.Lock()
		all = append(all, ds...)
		mu.Unlock()
	})
	b.StopTimer()
	reportLatency(b, all)
}
