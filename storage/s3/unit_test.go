package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sluice"
)

func TestParseLocation(t *testing.T) {
	good := []struct{ in, bucket, key string }{
		{"s3://data/sme/loans.parquet", "data", "sme/loans.parquet"},
		{"s3://my.bucket-1/k", "my.bucket-1", "k"},
		{"s3://abc/a b/c=d.parquet", "abc", "a b/c=d.parquet"},
	}
	for _, c := range good {
		b, k, err := ParseLocation(c.in)
		if err != nil || b != c.bucket || k != c.key {
			t.Errorf("ParseLocation(%q) = %q, %q, %v; want %q, %q", c.in, b, k, err, c.bucket, c.key)
		}
	}
	bad := []struct{ in, mention string }{
		{"", "want s3://bucket/key"},
		{"/local/file.parquet", "want s3://bucket/key"},
		{"https://host/b/k", `scheme "https://"`},
		{"s3://", "no bucket"},
		{"s3:///key", "no bucket"},
		{"s3://bucket", "no object key"},
		{"s3://bucket/", "no object key"},
		{"s3://Bucket/k", `bucket "Bucket"`},
		{"s3://ab/k", "3 to 63"},
		{"s3://-ab/k", "begin and end"},
		{"s3://a..b/k", `".."`},
		{"s3://b_b/k", "lowercase"},
		{"s3://bucket/a/../k", `".." path segment`},
		{"s3://bucket/a\nb", "control character"},
		{"s3://bucket/" + strings.Repeat("k", 1025), "1024"},
	}
	for _, c := range bad {
		_, _, err := ParseLocation(c.in)
		if err == nil {
			t.Errorf("ParseLocation(%q): no error", c.in)
			continue
		}
		if sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ParseLocation(%q) = %v (code %s); want EINVALID mentioning %q", c.in, err, sluice.ErrorCode(err), c.mention)
		}
	}
}

const testSecret = "s3cr3t-S3CR3T-never-print-me"
const testAccess = "ACCESSKEY-4711"

// TestConfigRedacted checks every way a Config can reach a log or a
// message: fmt verbs, slog's text and JSON handlers, and JSON.
func TestConfigRedacted(t *testing.T) {
	cfg := Config{Endpoint: "minio.internal:9000", AccessKey: testAccess, SecretKey: testSecret, CacheDir: "/var/cache/sluice"}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outs = append(outs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	outs = append(outs, fmt.Sprint(struct{ C Config }{cfg}), fmt.Sprintf("%+v", struct{ C *Config }{&cfg}))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("open store", "config", cfg)
		l.Info("open store", "config", &cfg)
		l.Info("open store", slog.Any("config", cfg))
	}
	outs = append(outs, buf.String())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	for _, out := range outs {
		if strings.Contains(out, testSecret) || strings.Contains(out, testAccess) {
			t.Errorf("credentials leaked: %s", out)
		}
	}
	if !strings.Contains(buf.String(), "minio.internal:9000") || !strings.Contains(buf.String(), redacted) {
		t.Errorf("log lacks the endpoint or the redaction marker: %s", buf.String())
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_S3_ENDPOINT", "https://minio.internal:9000")
	t.Setenv("SLUICE_S3_ACCESS_KEY", "ak")
	t.Setenv("SLUICE_S3_SECRET_KEY", "sk")
	t.Setenv("SLUICE_S3_SECURE", "false")
	t.Setenv("SLUICE_CACHE_DIR", "/tmp/c")
	t.Setenv("SLUICE_CACHE_MAX_BYTES", "1048576")
	c := ConfigFromEnv()
	if c.Endpoint != "https://minio.internal:9000" || c.AccessKey != "ak" || c.SecretKey != "sk" || c.CacheDir != "/tmp/c" || c.CacheMaxBytes != 1<<20 {
		t.Fatalf("ConfigFromEnv = %+v", c)
	}
	host, secure, err := c.endpoint()
	if err != nil || host != "minio.internal:9000" || !secure {
		t.Fatalf("endpoint() = %q, %v, %v; want the https prefix to set Secure", host, secure, err)
	}
	for name, val := range map[string]string{"SLUICE_S3_SECURE": "maybe", "SLUICE_CACHE_MAX_BYTES": "1GB"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, val)
			c := ConfigFromEnv()
			c.CacheDir = t.TempDir()
			_, err := Open(context.Background(), c)
			if sluice.ErrorCode(err) != sluice.EINVALID || !strings.Contains(err.Error(), name) {
				t.Fatalf("Open with %s=%q: %v; want EINVALID naming the variable", name, val, err)
			}
		})
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, c := range []Config{
		{AccessKey: "a", SecretKey: testSecret},
		{Endpoint: "host:9000/path", AccessKey: "a", SecretKey: testSecret},
		{Endpoint: "host:9000"},
		{Endpoint: "host:9000", AccessKey: "a", SecretKey: testSecret, CacheMaxBytes: -1},
	} {
		c.CacheDir = t.TempDir()
		_, err := Open(ctx, c)
		if sluice.ErrorCode(err) != sluice.EINVALID {
			t.Errorf("Open(%v) = %v; want EINVALID", c, err)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("Open error leaks the secret: %v", err)
		}
	}
}

// TestOpenIndexesCacheAndRemovesStaleTemps checks what Open finds in an
// existing cache directory, with no server involved.
func TestOpenIndexesCacheAndRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	entry := write(strings.Repeat("a", 64)+".parquet", 100, 0)
	stale := write(tmpPrefix+"crashed-1", 50, 2*staleTmpAge)
	live := write(tmpPrefix+"downloading-2", 50, time.Minute)
	other := write("README", 10, 2*staleTmpAge)
	s, err := Open(context.Background(), Config{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: testSecret, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n, b := s.CacheUsage(); n != 1 || b != 100 {
		t.Errorf("CacheUsage = %d files, %d bytes; want 1, 100", n, b)
	}
	for p, want := range map[string]bool{entry: true, stale: false, live: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists = %v; want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// TestCopyHashedStopsOnWriteError checks that a failing cache write is
// reported as such and does not hang the pipeline.
func TestCopyHashedStopsOnWriteError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // writes now fail
	_, err = copyHashed(f, io.LimitReader(newPattern(1, 1<<40), 64<<20), nopHash{})
	if !errors.Is(err, errWrite) {
		t.Fatalf("copyHashed = %v; want errWrite", err)
	}
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

func TestCopyHashedCopiesExactly(t *testing.T) {
	for _, n := range []int64{0, 1, copyBufSize - 1, copyBufSize, 3*copyBufSize + 17, 40 << 20} {
		want := pattern(uint64(n), n)
		p := filepath.Join(t.TempDir(), "x")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		got, err := copyHashed(f, iotestHalfReader{bytes.NewReader(want)}, h)
		f.Close()
		if err != nil || got != n {
			t.Fatalf("n=%d: copyHashed = %d, %v", n, got, err)
		}
		if fileSHA256(t, p) != sha256Hex(want) || fmt.Sprintf("%x", h.Sum(nil)) != sha256Hex(want) {
			t.Fatalf("n=%d: file or hash differs from the source", n)
		}
	}
}

// iotestHalfReader returns at most half of what is asked, to exercise
// short reads.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) { return h.r.Read(p[:(len(p)+1)/2]) }
