package api

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sluice"
	"sluice/service"
)

// BenchmarkQueryThroughput runs small queries over real HTTP on the example
// data, 8 clients at once, each query distinct (no cache hits) and fully
// charged, audited and released. It reports queries/s and latency
// percentiles (goal: ≥ 100 queries/s on 2 cores, p50 ≤ 20 ms).
func BenchmarkQueryThroughput(b *testing.B) {
	s := newStack(b)
	bank, authID := s.approved(b, sluice.Budget{Epsilon: 100, Delta: 1e-4, EpsilonPerQuery: 0.001, DeltaPerQuery: 1e-9})
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	clients := 8
	if v, err := strconv.Atoi(os.Getenv("SLUICE_BENCH_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				run := service.Run{Authorization: authID, SQL: fmt.Sprintf("SELECT filing_status, count(*) FROM tax_monthly WHERE tax_paid > %d GROUP BY filing_status", i)}
				t0 := time.Now()
				r := s.do(b, "POST", "/v1/queries", bank, run, "")
				d := time.Since(t0)
				if r.status != 200 {
					b.Errorf("status %d: %s", r.status, r.body)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/el.Seconds(), "queries/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
}
