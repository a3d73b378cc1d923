package s3

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"sluice/storage/s3/miniotest"
)

// recorder is an http.RoundTripper that counts object GETs and can slow
// down or watch the bodies of their responses.
type recorder struct {
	base http.RoundTripper
	gets atomic.Int64

	mu       sync.Mutex
	throttle time.Duration // sleep per 64 KiB read of an object body
	onBytes  int64         // call onRead once this many body bytes were read
	onRead   func()
}

func newRecorder(t testing.TB) *recorder {
	t.Helper()
	base, err := minio.DefaultTransport(false)
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{base: base}
}

// isObjectGET reports whether req reads an object (not a bucket's
// location or listing).
func isObjectGET(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	if _, ok := req.URL.Query()["location"]; ok {
		return false
	}
	p := strings.Trim(req.URL.Path, "/")
	return strings.Contains(p, "/")
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	obj := isObjectGET(req)
	if obj {
		r.gets.Add(1)
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil || !obj {
		return resp, err
	}
	r.mu.Lock()
	throttle, onBytes, onRead := r.throttle, r.onBytes, r.onRead
	r.mu.Unlock()
	if throttle > 0 || onRead != nil {
		resp.Body = &slowBody{ReadCloser: resp.Body, throttle: throttle, onBytes: onBytes, onRead: onRead}
	}
	return resp, nil
}

func (r *recorder) set(throttle time.Duration, onBytes int64, onRead func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.throttle, r.onBytes, r.onRead = throttle, onBytes, onRead
}

type slowBody struct {
	io.ReadCloser
	throttle time.Duration
	onBytes  int64
	onRead   func()
	read     int64
	fired    bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.throttle > 0 {
		if len(p) > 64<<10 {
			p = p[:64<<10]
		}
		time.Sleep(b.throttle)
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if b.onRead != nil && !b.fired && b.read >= b.onBytes {
		b.fired = true
		b.onRead()
	}
	return n, err
}

type fixture struct {
	srv   *miniotest.Server
	rec   *recorder
	raw   *minio.Client // talks to the server directly, for setting up odd objects
	cfg   Config
	store *Store
}

// newFixture starts a MinIO server and opens a Store on it with a fresh
// cache directory and a request recorder.
func newFixture(t testing.TB, maxBytes int64) *fixture {
	t.Helper()
	srv := miniotest.Start(t)
	f := &fixture{srv: srv, rec: newRecorder(t)}
	var err error
	f.raw, err = minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = Config{
		Endpoint:      srv.Endpoint,
		AccessKey:     srv.AccessKey,
		SecretKey:     srv.SecretKey,
		CacheDir:      filepath.Join(t.TempDir(), "cache"),
		CacheMaxBytes: maxBytes,
		Transport:     f.rec,
	}
	f.store, err = Open(context.Background(), f.cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.store.Close() })
	return f
}

func (f *fixture) bucket(t testing.TB, name string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	if err := f.raw.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	if versioned {
		if err := f.raw.EnableVersioning(ctx, name); err != nil {
			t.Fatalf("enable versioning on %s: %v", name, err)
		}
	}
}

// cacheFiles lists every file in the cache directory, temporary ones too.
func (f *fixture) cacheFiles(t testing.TB) []string {
	t.Helper()
	des, err := os.ReadDir(f.store.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func (f *fixture) cacheDirBytes(t testing.TB) int64 {
	t.Helper()
	var total int64
	for _, n := range f.cacheFiles(t) {
		info, err := os.Stat(filepath.Join(f.store.CacheDir(), n))
		if err != nil {
			t.Fatal(err)
		}
		total += info.Size()
	}
	return total
}

// patternReader yields n deterministic, incompressible bytes fast: the
// SplitMix64 sequence seeded by seed, the same whatever the read sizes.
type patternReader struct {
	state uint64
	left  int64
	word  [8]byte
	wpos  int // next unread byte of word; 8 when empty
}

func newPattern(seed uint64, n int64) *patternReader {
	return &patternReader{state: seed, left: n, wpos: 8}
}

func (r *patternReader) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	for i := 0; i < len(p); {
		switch {
		case r.wpos < 8:
			c := copy(p[i:], r.word[r.wpos:])
			r.wpos += c
			i += c
		case len(p)-i >= 8:
			binary.LittleEndian.PutUint64(p[i:], r.next())
			i += 8
		default:
			binary.LittleEndian.PutUint64(r.word[:], r.next())
			r.wpos = 0
		}
	}
	r.left -= int64(len(p))
	return len(p), nil
}

func pattern(seed uint64, n int64) []byte {
	b, err := io.ReadAll(newPattern(seed, n))
	if err != nil {
		panic(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fakeClock is an injectable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
