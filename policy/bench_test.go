package policy

import (
	"context"
	"fmt"
	"runtime"
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

// planCatalog is the catalog entries of taxPlan's datasets: what the
// service passes.
func planCatalog() map[string]*sluice.Dataset {
	c := catalog()
	return map[string]*sluice.Dataset{"enterprise": c["enterprise"], "tax_monthly": c["tax_monthly"]}
}

// latencies records the wall and on-CPU time of each decision.
type latencies struct {
	wall, cpu []time.Duration
}

// measure times one call of f, on this goroutine's (locked) thread.
func (l *latencies) measure(f func()) {
	c0, ok := threadCPU()
	t0 := time.Now()
	f()
	l.wall = append(l.wall, time.Since(t0))
	if c1, ok1 := threadCPU(); ok && ok1 {
		l.cpu = append(l.cpu, c1-c0)
	}
}

func (l *latencies) add(m *latencies) {
	l.wall, l.cpu = append(l.wall, m.wall...), append(l.cpu, m.cpu...)
}

// report reports the 50th and 99th percentiles of the wall time per
// decision and of the CPU time per decision (which leaves out the time spent
// waiting for a CPU on a busy machine).
func (l *latencies) report(b *testing.B) {
	pct := func(ds []time.Duration, p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Nanoseconds()) / 1e3
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"", l.wall}, {"cpu-", l.cpu}} {
		if len(m.ds) == 0 {
			continue
		}
		slices.Sort(m.ds)
		b.ReportMetric(pct(m.ds, 0.50), m.name+"p50-µs")
		b.ReportMetric(pct(m.ds, 0.99), m.name+"p99-µs")
	}
	b.ReportMetric(float64(len(l.wall)), "decisions")
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
			cat := planCatalog()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var l latencies
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
				var (
					d   *sluice.Decision
					err error
				)
				l.measure(func() { d, err = e.Decide(ctx, in) })
				if err != nil || !d.Allow {
					b.Fatalf("decision %+v, error %v", d, err)
				}
			}
			l.report(b)
		})
	}
}

// BenchmarkDecideParallel decides from GOMAXPROCS goroutines at once, the
// authorization in the input: latency under load, and throughput.
func BenchmarkDecideParallel(b *testing.B) {
	ctx := context.Background()
	auths := benchAuthorizations(10_000)
	e := newEngine(b, Options{})
	cat := planCatalog()
	var (
		mu  sync.Mutex
		all latencies
	)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var l latencies
		i := 0
		for pb.Next() {
			in := Input{Principal: analyst(), Authorization: auths[i%len(auths)], Datasets: cat, Plan: taxPlan()}
			i++
			var (
				d   *sluice.Decision
				err error
			)
			l.measure(func() { d, err = e.Decide(ctx, in) })
			if err != nil || !d.Allow {
				b.Errorf("decision %+v, error %v", d, err)
				return
			}
		}
		mu.Lock()
		all.add(&l)
		mu.Unlock()
	})
	b.StopTimer()
	all.report(b)
}
