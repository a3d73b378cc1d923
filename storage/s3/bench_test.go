//go:build unix

package s3

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// benchObjectSize is 1 GiB, or SLUICE_BENCH_OBJECT_MB mebibytes.
func benchObjectSize(b *testing.B) int64 {
	b.Helper()
	if v := os.Getenv("SLUICE_BENCH_OBJECT_MB"); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb <= 0 {
			b.Fatalf("SLUICE_BENCH_OBJECT_MB=%q: want a positive integer", v)
		}
		return mb << 20
	}
	return 1 << 30
}

// benchFixture starts MinIO on loopback and uploads one object.
func benchFixture(b *testing.B) (*fixture, string, int64) {
	b.Helper()
	size := benchObjectSize(b)
	f := newFixture(b, 0)
	f.bucket(b, "bench", false)
	const loc = "s3://bench/object.parquet"
	if _, err := f.store.Put(context.Background(), loc, newPattern(99, size), size); err != nil {
		b.Fatal(err)
	}
	// Read the object once, untimed, so that every timed read finds the
	// server in the same state (its data in the page cache).
	obj, err := f.raw.GetObject(context.Background(), "bench", "object.parquet", minio.GetObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, obj); err != nil || n != size {
		b.Fatalf("warm-up read: %d of %d bytes: %v", n, size, err)
	}
	obj.Close()
	syscall.Sync() // the upload's writeback must not run during the timed part
	return f, loc, size
}

// BenchmarkColdFetch measures Fetch into an empty cache: stat, GET, write,
// SHA-256 and rename. The file's fsync runs in the background after Fetch
// returns and is waited for outside the timer. Compare its MB/s with
// BenchmarkGetObjectCopy's.
func BenchmarkColdFetch(b *testing.B) { benchColdFetch(b, false) }

// BenchmarkColdFetchDurable is BenchmarkColdFetch with the background fsync
// inside the timer (Fetch then Close): the time until the file is on disk.
func BenchmarkColdFetchDurable(b *testing.B) { benchColdFetch(b, true) }

func benchColdFetch(b *testing.B, durable bool) {
	f, loc, size := benchFixture(b)
	b.SetBytes(size)
	dir := b.TempDir()
	for b.Loop() {
		coldFetch(b, f, loc, dir, durable)
	}
}

// coldFetch runs one timed Fetch into a new, empty cache directory under
// dir; what is not Fetch (or Fetch and Close, when durable) is untimed. It
// returns the timed duration.
func coldFetch(b *testing.B, f *fixture, loc, dir string, durable bool) time.Duration {
	ctx := context.Background()
	b.StopTimer()
	cfg := f.cfg
	cfg.CacheDir = filepath.Join(dir, "cache")
	cfg.Transport = nil // minio-go's default, as in the baseline
	s, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	if _, _, err := s.Fetch(ctx, loc); err != nil {
		b.Fatal(err)
	}
	if durable {
		s.Close()
	}
	d := time.Since(start)
	b.StopTimer()
	s.Close()
	if err := os.RemoveAll(cfg.CacheDir); err != nil {
		b.Fatal(err)
	}
	syscall.Sync()
	b.StartTimer()
	return d
}

// BenchmarkGetObjectCopy is the baseline: minio-go's GetObject copied to a
// file with io.Copy, without verification or fsync.
func BenchmarkGetObjectCopy(b *testing.B) {
	f, _, size := benchFixture(b)
	b.SetBytes(size)
	dir := b.TempDir()
	for b.Loop() {
		getObjectCopy(b, f, dir, size)
	}
}

func getObjectCopy(b *testing.B, f *fixture, dir string, size int64) time.Duration {
	ctx := context.Background()
	start := time.Now()
	obj, err := f.raw.GetObject(ctx, "bench", "object.parquet", minio.GetObjectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "copy"))
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(out, obj)
	obj.Close()
	if err != nil || n != size {
		b.Fatalf("copied %d of %d bytes: %v", n, size, err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	b.StopTimer()
	if err := os.Remove(out.Name()); err != nil {
		b.Fatal(err)
	}
	syscall.Sync()
	b.StartTimer()
	return d
}

// BenchmarkColdFetchRatio alternates one baseline copy and one cold Fetch
// of the same object on the same server, so that both see the same load,
// and reports their throughputs and the ratio cold/baseline (goal ≥ 0.8).
// On a shared machine this ratio is steadier than comparing the two
// benchmarks above, which run minutes apart.
func BenchmarkColdFetchRatio(b *testing.B) {
	f, loc, size := benchFixture(b)
	dir := b.TempDir()
	var cold, base time.Duration
	for b.Loop() {
		base += getObjectCopy(b, f, dir, size)
		cold += coldFetch(b, f, loc, dir, false)
	}
	n := float64(b.N)
	b.ReportMetric(float64(size)*n/base.Seconds()/1e6, "copy-MB/s")
	b.ReportMetric(float64(size)*n/cold.Seconds()/1e6, "cold-MB/s")
	b.ReportMetric(base.Seconds()/cold.Seconds(), "ratio")
}
