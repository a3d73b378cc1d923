package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"sluice"
	"sluice/storage/s3/miniotest"
)

// wantObjectError checks that err is an *Error for loc about what, with the
// code, and that it unwraps to a *sluice.Error with that code.
func wantObjectError(t *testing.T, err error, loc, code, what string) *Error {
	t.Helper()
	var oe *Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *s3.Error", err, err)
	}
	if oe.Location != loc || oe.Code != code || oe.What != what {
		t.Fatalf("error = %q (code %s, what %q); want code %s, what %q for %s", err, oe.Code, oe.What, code, what, loc)
	}
	if sluice.ErrorCode(err) != code || !strings.HasPrefix(err.Error(), "object "+loc+": "+what) {
		t.Fatalf("error %q: code %s; want %s and the text to name %s and %q", err, sluice.ErrorCode(err), code, loc, what)
	}
	return oe
}

func TestPutFetchRoundTrip(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()

	cases := []struct {
		name string
		size int64
		src  func(b []byte) io.Reader
		sz   func(b []byte) int64
	}{
		{"seekable small", 1 << 20, func(b []byte) io.Reader { return bytes.NewReader(b) }, func(b []byte) int64 { return int64(len(b)) }},
		// A plain reader of unknown size is spooled, and 40 MiB is uploaded
		// in parts: each part's SHA-256 is checked by the server.
		{"stream multipart", 40 << 20, func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) }, func([]byte) int64 { return -1 }},
		{"empty", 0, func(b []byte) io.Reader { return bytes.NewReader(b) }, func(b []byte) int64 { return 0 }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := pattern(uint64(i+1), c.size)
			loc := "s3://data/round/" + strings.ReplaceAll(c.name, " ", "-") + ".parquet"
			put, err := f.store.Put(ctx, loc, c.src(data), c.sz(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if put.Location != loc || put.Size != c.size || put.SHA256 != sha256Hex(data) || put.ETag == "" {
				t.Fatalf("Put = %+v", put)
			}
			gets := f.rec.gets.Load()
			p, obj, err := f.store.Fetch(ctx, loc)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if obj != put {
				t.Errorf("Fetch object = %+v; want what Put returned, %+v", obj, put)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("fetched %d bytes differ from the %d put", len(got), len(data))
			}
			if n := f.rec.gets.Load() - gets; n != 1 {
				t.Errorf("first Fetch made %d GETs; want 1", n)
			}
			// The second Fetch is served from the cache: a HEAD, no GET.
			p2, obj2, err := f.store.Fetch(ctx, loc)
			if err != nil || p2 != p || obj2 != put {
				t.Fatalf("second Fetch = %s, %+v, %v; want %s", p2, obj2, err, p)
			}
			if n := f.rec.gets.Load() - gets; n != 1 {
				t.Errorf("second Fetch made a GET (%d in all); want a cache hit", n)
			}
		})
	}
	// The server's own copy carries the metadata Fetch verifies against.
	info, err := f.raw.StatObject(ctx, "data", "round/seekable-small.parquet", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata.Get("X-Amz-Meta-Sha256"); got != sha256Hex(pattern(1, 1<<20)) {
		t.Errorf("x-amz-meta-sha256 = %q", got)
	}
}

// TestPutRefusesWrongSize checks that a source shorter than declared is
// refused before anything is stored.
func TestPutRefusesWrongSize(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	for _, r := range []io.Reader{bytes.NewReader(make([]byte, 10)), io.MultiReader(bytes.NewReader(make([]byte, 10)))} {
		_, err := f.store.Put(ctx, "s3://data/short", r, 11)
		wantObjectError(t, err, "s3://data/short", sluice.EINVALID, "upload: size mismatch")
	}
	if _, err := f.raw.StatObject(ctx, "data", "short", minio.StatObjectOptions{}); err == nil {
		t.Error("a refused upload was stored")
	}
}

func TestNewVersionNewCacheEntry(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "versioned", true)
	f.bucket(t, "plain", false)
	ctx := context.Background()
	for _, bucket := range []string{"versioned", "plain"} {
		t.Run(bucket, func(t *testing.T) {
			loc := "s3://" + bucket + "/d/loans.parquet"
			v1, v2 := pattern(10, 3<<20), pattern(11, 3<<20)
			put1, err := f.store.Put(ctx, loc, bytes.NewReader(v1), int64(len(v1)))
			if err != nil {
				t.Fatal(err)
			}
			p1, obj1, err := f.store.Fetch(ctx, loc)
			if err != nil || obj1 != put1 {
				t.Fatalf("Fetch v1 = %+v, %v", obj1, err)
			}
			put2, err := f.store.Put(ctx, loc, bytes.NewReader(v2), int64(len(v2)))
			if err != nil {
				t.Fatal(err)
			}
			if bucket == "versioned" && (put1.VersionID == "" || put2.VersionID == put1.VersionID) {
				t.Fatalf("version ids %q, %q; want two different ones", put1.VersionID, put2.VersionID)
			}
			gets := f.rec.gets.Load()
			p2, obj2, err := f.store.Fetch(ctx, loc)
			if err != nil || obj2 != put2 {
				t.Fatalf("Fetch v2 = %+v, %v; want %+v", obj2, err, put2)
			}
			if p2 == p1 {
				t.Fatal("the new version reuses the old cache file")
			}
			if f.rec.gets.Load() != gets+1 {
				t.Errorf("new version: %d GETs; want 1", f.rec.gets.Load()-gets)
			}
			if fileSHA256(t, p1) != sha256Hex(v1) || fileSHA256(t, p2) != sha256Hex(v2) {
				t.Fatal("cache files do not hold their versions")
			}
			// The old entry stays valid for its key: were the object put back
			// as it was (same ETag and checksum), its file would be reused.
			if cacheName(bucket, "d/loans.parquet", put1) != strings.TrimPrefix(p1, f.store.CacheDir()+"/") {
				t.Error("old cache file is not under its key")
			}
		})
	}
}

func TestCorruptObjectRefused(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	data := pattern(20, 5<<20)
	put := func(key string, meta map[string]string) {
		t.Helper()
		if _, err := f.raw.PutObject(ctx, "data", key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{UserMetadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	wrong := sha256Hex([]byte("something else"))
	put("wrong.parquet", map[string]string{"sha256": wrong})
	put("none.parquet", nil)
	put("garbled.parquet", map[string]string{"sha256": "not-a-checksum"})

	_, _, err := f.store.Fetch(ctx, "s3://data/wrong.parquet")
	oe := wantObjectError(t, err, "s3://data/wrong.parquet", sluice.EINTERNAL, "checksum mismatch")
	if msg := oe.Error(); !strings.Contains(msg, "want sha256 "+wrong) || !strings.Contains(msg, "got "+sha256Hex(data)) {
		t.Errorf("error %q does not give both checksums", msg)
	}
	if f.rec.gets.Load() != 1 {
		t.Errorf("%d GETs; want 1", f.rec.gets.Load())
	}

	_, _, err = f.store.Fetch(ctx, "s3://data/none.parquet")
	wantObjectError(t, err, "s3://data/none.parquet", sluice.EINTERNAL, "no sha256 metadata")
	_, _, err = f.store.Fetch(ctx, "s3://data/garbled.parquet")
	wantObjectError(t, err, "s3://data/garbled.parquet", sluice.EINTERNAL, "bad sha256 metadata")
	if f.rec.gets.Load() != 1 {
		t.Errorf("objects without usable metadata were downloaded (%d GETs in all)", f.rec.gets.Load())
	}
	if files := f.cacheFiles(t); len(files) != 0 {
		t.Errorf("cache holds %v after refused downloads; want nothing", files)
	}
	if n, b := f.store.CacheUsage(); n != 0 || b != 0 || f.store.cache.reserved != 0 {
		t.Errorf("cache accounts %d files, %d bytes, %d reserved; want none", n, b, f.store.cache.reserved)
	}
}

func TestFetchMissing(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	_, _, err := f.store.Fetch(ctx, "s3://data/nope.parquet")
	wantObjectError(t, err, "s3://data/nope.parquet", sluice.ENOTFOUND, "not found")
	_, _, err = f.store.Fetch(ctx, "s3://no-such-bucket/k")
	wantObjectError(t, err, "s3://no-such-bucket/k", sluice.ENOTFOUND, "not found")
	_, _, err = f.store.Fetch(ctx, "file:///etc/passwd")
	if sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("Fetch(file://) = %v; want EINVALID", err)
	}
}

// TestTamperedCacheFileRefetched checks that a cache file whose size no
// longer matches (truncated outside Sluice) is downloaded again.
func TestTamperedCacheFileRefetched(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	data := pattern(30, 2<<20)
	if _, err := f.store.Put(ctx, "s3://data/t", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	p, _, err := f.store.Fetch(ctx, "s3://data/t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1000); err != nil {
		t.Fatal(err)
	}
	p2, _, err := f.store.Fetch(ctx, "s3://data/t")
	if err != nil || p2 != p || fileSHA256(t, p2) != sha256Hex(data) || f.rec.gets.Load() != 2 {
		t.Fatalf("Fetch after truncation = %s, %v, %d GETs; want a fresh verified download", p2, err, f.rec.gets.Load())
	}
}

// TestServerStoppedMidDownload kills MinIO while a 64 MiB download is
// under way: Fetch must fail clearly, leave nothing in the cache, and
// succeed once the server is back.
func TestServerStoppedMidDownload(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	const size = 64 << 20
	const loc = "s3://data/big.parquet"
	put, err := f.store.Put(ctx, loc, newPattern(40, size), size)
	if err != nil {
		t.Fatal(err)
	}

	// ~16 MB/s: the download would take about 4 seconds.
	reached := make(chan struct{})
	f.rec.set(4*time.Millisecond, 4<<20, func() { close(reached) })
	type result struct {
		path string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		p, _, err := f.store.Fetch(ctx, loc)
		done <- result{p, err}
	}()
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("Fetch ended before the server was stopped: %v", r.err)
	case <-time.After(60 * time.Second):
		t.Fatal("download did not start")
	}
	tmps := 0
	for _, n := range f.cacheFiles(t) {
		if strings.HasPrefix(n, tmpPrefix) {
			tmps++
		}
	}
	if tmps != 1 {
		t.Errorf("%d temporary files during the download; want 1", tmps)
	}
	f.srv.Stop()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Fetch did not return after the server was stopped")
	}
	if r.err == nil {
		t.Fatalf("Fetch succeeded (%s) though the server died mid-download", r.path)
	}
	oe := wantObjectError(t, r.err, loc, sluice.EUNAVAILABLE, "download interrupted")
	if !strings.Contains(oe.Error(), "of 67108864 bytes") {
		t.Errorf("error %q does not say how far the download got", oe)
	}
	t.Logf("error: %v", r.err)
	if files := f.cacheFiles(t); len(files) != 0 {
		t.Fatalf("cache holds %v after the interrupted download; want nothing", files)
	}
	if n, b := f.store.CacheUsage(); n != 0 || b != 0 || f.store.cache.reserved != 0 {
		t.Errorf("cache accounts %d files, %d bytes, %d reserved; want none", n, b, f.store.cache.reserved)
	}

	f.rec.set(0, 0, nil)
	f.srv.Restart()
	p, obj, err := f.store.Fetch(ctx, loc)
	if err != nil {
		t.Fatalf("Fetch after restart: %v", err)
	}
	if obj != put || fileSHA256(t, p) != put.SHA256 {
		t.Fatalf("Fetch after restart = %+v; want %+v with verified content", obj, put)
	}
}

// TestConcurrentFetchDownloadsOnce starts eight Fetches of one object while
// its download is slowed down: they share one GET. A ninth caller gives up
// early without failing the others.
func TestConcurrentFetchDownloadsOnce(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	const size = 16 << 20
	const loc = "s3://data/shared.parquet"
	put, err := f.store.Put(ctx, loc, newPattern(50, size), size)
	if err != nil {
		t.Fatal(err)
	}
	f.rec.set(10*time.Millisecond, 0, nil) // ~6 MB/s: over two seconds

	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			paths[i], _, errs[i] = f.store.Fetch(ctx, loc)
		}()
	}
	quitter, cancel := context.WithCancel(ctx)
	defer cancel()
	qerr := make(chan error, 1)
	go func() {
		<-start
		_, _, err := f.store.Fetch(quitter, loc)
		qerr <- err
	}()
	close(start)
	// Once all nine wait on the one download, the ninth gives up.
	waitForWaiters(t, f.store, n+1)
	cancel()
	wantObjectError(t, <-qerr, loc, sluice.EUNAVAILABLE, "fetch cancelled")
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("Fetch %d: %v", i, errs[i])
		}
		if paths[i] != paths[0] {
			t.Fatalf("Fetch %d returned %s, Fetch 0 %s", i, paths[i], paths[0])
		}
	}
	if g := f.rec.gets.Load(); g != 1 {
		t.Errorf("%d concurrent Fetches made %d GETs; want 1", n+1, g)
	}
	if fileSHA256(t, paths[0]) != put.SHA256 {
		t.Error("shared download has wrong content")
	}
}

func TestCacheEviction(t *testing.T) {
	const mib = 1 << 20
	f := newFixture(t, 3*mib+mib/2) // room for three 1 MiB objects
	f.bucket(t, "data", false)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.store.cache.now = clock.now

	locs := []string{"s3://data/a", "s3://data/b", "s3://data/c", "s3://data/d", "s3://data/e"}
	paths := map[string]string{}
	for i, loc := range locs {
		if _, err := f.store.Put(ctx, loc, newPattern(uint64(60+i), mib), mib); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(loc string) {
		t.Helper()
		clock.advance(MinEvictAge + time.Minute) // everything fetched before is evictable
		p, _, err := f.store.Fetch(ctx, loc)
		if err != nil {
			t.Fatalf("Fetch %s: %v", loc, err)
		}
		paths[loc] = p
		if got := f.cacheDirBytes(t); got > f.cfg.CacheMaxBytes {
			t.Fatalf("after Fetch %s the cache holds %d bytes, more than %d", loc, got, f.cfg.CacheMaxBytes)
		}
		if _, b := f.store.CacheUsage(); b != f.cacheDirBytes(t) {
			t.Fatalf("cache accounts %d bytes, directory holds %d", b, f.cacheDirBytes(t))
		}
	}
	exists := func(loc string) bool {
		_, err := os.Stat(paths[loc])
		return err == nil
	}
	fetch(locs[0])
	fetch(locs[1])
	fetch(locs[2])
	fetch(locs[0]) // a is now more recent than b
	fetch(locs[3]) // evicts b, the least recently used
	if exists(locs[1]) || !exists(locs[0]) || !exists(locs[2]) || !exists(locs[3]) {
		t.Fatalf("after fetching d: a %v b %v c %v d %v; want b evicted", exists(locs[0]), exists(locs[1]), exists(locs[2]), exists(locs[3]))
	}
	fetch(locs[4]) // evicts c
	if exists(locs[2]) || !exists(locs[0]) {
		t.Fatalf("after fetching e: want c evicted, a kept")
	}
	if n, _ := f.store.CacheUsage(); n != 3 {
		t.Errorf("%d cached files; want 3", n)
	}

	// Files fetched within MinEvictAge are never evicted, even over the cap.
	for _, loc := range locs[:4] {
		if _, _, err := f.store.Fetch(ctx, loc); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := f.store.CacheUsage(); n != 5 {
		t.Errorf("%d cached files; want all 5 young files kept", n)
	}
	clock.advance(MinEvictAge + time.Minute)
	if _, _, err := f.store.Fetch(ctx, locs[0]); err != nil { // a cache hit does not evict…
		t.Fatal(err)
	}
	if n, _ := f.store.CacheUsage(); n != 5 {
		t.Errorf("%d cached files after a cache hit; want 5", n)
	}
	clock.advance(MinEvictAge + time.Minute)
	big := int64(3 * mib)
	if _, err := f.store.Put(ctx, "s3://data/big", newPattern(70, big), big); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Fetch(ctx, "s3://data/big"); err != nil { // …a download does
		t.Fatal(err)
	}
	if got := f.cacheDirBytes(t); got > f.cfg.CacheMaxBytes {
		t.Errorf("cache holds %d bytes after aging; want at most %d", got, f.cfg.CacheMaxBytes)
	}

	// An object larger than the whole cache is refused.
	huge := int64(4 * mib)
	if _, err := f.store.Put(ctx, "s3://data/huge", newPattern(71, huge), huge); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.store.Fetch(ctx, "s3://data/huge")
	oe := wantObjectError(t, err, "s3://data/huge", sluice.EUNAVAILABLE, "cache")
	if !errors.Is(oe, errTooLarge) {
		t.Errorf("error %v; want errTooLarge", oe)
	}
}

// TestCredentialsNeverInErrors provokes errors with wrong and right
// credentials and with the server gone, and logs them through slog: the
// secret never appears.
func TestCredentialsNeverInErrors(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var errs []error

	bad := f.cfg
	bad.SecretKey = "wrong-" + f.srv.SecretKey
	bs, err := Open(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = bs.Fetch(ctx, "s3://data/x")
	errs = append(errs, err)
	_, err = bs.Put(ctx, "s3://data/x", bytes.NewReader([]byte("x")), 1)
	errs = append(errs, err)
	log.Info("open", "config", bad)

	_, _, err = f.store.Fetch(ctx, "s3://data/missing")
	errs = append(errs, err)
	log.Info("open", "config", f.cfg, "store", f.store)

	f.srv.Stop()
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, _, err = f.store.Fetch(short, "s3://data/missing")
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		log.Error("fetch failed", "err", err, "message", sluice.ErrorMessage(err))
	}
	out := logs.String()
	for _, secret := range []string{f.srv.SecretKey, f.srv.AccessKey} {
		if strings.Contains(out, secret) {
			t.Fatalf("credential %q appears in the log:\n%s", secret, out)
		}
	}
	t.Logf("log:\n%s", out)
}

var _ = miniotest.Start

// TestUntrustedFileVerifiedAgain simulates a crash before a downloaded file
// was made durable (its mode still 0600): a new Store hashes it again before
// use, keeps it when it matches and downloads the object again when not.
func TestUntrustedFileVerifiedAgain(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	data := pattern(80, 3<<20)
	const loc = "s3://data/crash.parquet"
	if _, err := f.store.Put(ctx, loc, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	p, _, err := f.store.Fetch(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	mode := func() os.FileMode {
		t.Helper()
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info.Mode().Perm()
	}
	if m := mode(); m != trustedMode {
		t.Fatalf("mode after Close = %v; want %v (fsynced and trusted)", m, trustedMode)
	}

	reopen := func() *Store {
		t.Helper()
		s, err := Open(ctx, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	// Lost before persist, contents intact: verified by hashing, no GET.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	gets := f.rec.gets.Load()
	s := reopen()
	p2, _, err := s.Fetch(ctx, loc)
	if err != nil || p2 != p || f.rec.gets.Load() != gets {
		t.Fatalf("Fetch of an intact untrusted file = %s, %v, %d GETs; want it reused without a GET", p2, err, f.rec.gets.Load()-gets)
	}
	s.Close()
	if m := mode(); m != trustedMode {
		t.Errorf("mode after verification = %v; want %v", m, trustedMode)
	}

	// Lost before persist, contents zeroed by the crash: downloaded again.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, len(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	p3, _, err := s.Fetch(ctx, loc)
	if err != nil || f.rec.gets.Load() != gets+1 {
		t.Fatalf("Fetch of a zeroed untrusted file = %v, %d GETs; want one fresh download", err, f.rec.gets.Load()-gets)
	}
	if fileSHA256(t, p3) != sha256Hex(data) {
		t.Fatal("zeroed file was returned")
	}
}

// waitForWaiters waits until want Fetches wait on one download.
func waitForWaiters(t *testing.T, s *Store, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got := 0
		for _, f := range s.flights {
			got = max(got, f.waiters)
		}
		s.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Fetches wait on a download; want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Remove deletes the object and its cached copy; removing it again, or an
// object that never existed, is not an error; a bad location is.
func TestRemove(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "data", false)
	ctx := context.Background()
	body := []byte("retired version")
	if _, err := f.store.Put(ctx, "s3://data/d/v1.parquet", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	p, _, err := f.store.Fetch(ctx, "s3://data/d/v1.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := f.store.CacheUsage(); files != 1 {
		t.Fatalf("%d cached files before Remove, want 1", files)
	}
	if err := f.store.Remove(ctx, "s3://data/d/v1.parquet"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cached copy still there: %v", err)
	}
	if files, _ := f.store.CacheUsage(); files != 0 {
		t.Errorf("%d cached files after Remove, want 0", files)
	}
	_, _, err = f.store.Fetch(ctx, "s3://data/d/v1.parquet")
	wantObjectError(t, err, "s3://data/d/v1.parquet", sluice.ENOTFOUND, "not found")
	for _, loc := range []string{"s3://data/d/v1.parquet", "s3://data/never.parquet"} {
		if err := f.store.Remove(ctx, loc); err != nil {
			t.Errorf("Remove(%s) again: %v", loc, err)
		}
	}
	if err := f.store.Remove(ctx, "file:///etc/passwd"); sluice.ErrorCode(err) != sluice.EINVALID {
		t.Errorf("Remove(file://) = %v; want EINVALID", err)
	}
}
