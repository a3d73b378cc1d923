package audit

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// BenchmarkAppend appends events one at a time, each fsynced.
func BenchmarkAppend(b *testing.B) {
	l := openLog(b, tempLog(b), newKey(b), Options{})
	defer l.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := l.Append(ctx, event(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendParallel appends from many goroutines: the mutex
// serialises them, one fsync per event.
func BenchmarkAppendParallel(b *testing.B) {
	l := openLog(b, tempLog(b), newKey(b), Options{})
	defer l.Close()
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := l.Append(ctx, event(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkVerify measures verification, which Open also does.
func BenchmarkVerify(b *testing.B) {
	path := tempLog(b)
	key := newKey(b)
	l := openLog(b, path, key, Options{})
	appendN(b, l, 0, 2000)
	l.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	keys := keysOf(key)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	n := 0
	for b.Loop() {
		rep, err := Verify(bytes.NewReader(data), keys)
		if err != nil {
			b.Fatal(err)
		}
		n += rep.Events
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
