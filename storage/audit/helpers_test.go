package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sluice"
)

// clock is a test clock that moves one millisecond each time it is read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func keysOf(key ed25519.PrivateKey) map[string]ed25519.PublicKey {
	pub := key.Public().(ed25519.PublicKey)
	return map[string]ed25519.PublicKey{KeyID(pub): pub}
}

func openLog(t testing.TB, path string, key ed25519.PrivateKey, opts Options) *Log {
	t.Helper()
	l, err := Open(path, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// event returns the i-th event of a test workload: two principals of two
// organisations, querying two datasets, plus some control-plane changes.
func event(i int) *sluice.AuditEvent {
	e := &sluice.AuditEvent{
		Kind:          "query",
		Principal:     []string{"alice", "bob"}[i%2],
		Organisation:  []string{"org-a", "org-b"}[i%2],
		Authorization: fmt.Sprintf("auth-%d", i%3),
		Datasets:      [][]string{{"census"}, {"census", "tax"}, {"tax"}}[i%3],
		RequestID:     fmt.Sprintf("req-%d", i),
		SQL:           "SELECT region, COUNT(*) FROM census GROUP BY region",
		Outcome:       "released",
		Epsilon:       0.1,
		Groups:        12,
	}
	if i%4 == 3 {
		e = &sluice.AuditEvent{Kind: "authorization.suspended", Principal: "reviewer", Authorization: e.Authorization}
	}
	return e
}

func appendN(t testing.TB, l *Log, from, n int) []sluice.AuditEvent {
	t.Helper()
	var out []sluice.AuditEvent
	for i := from; i < from+n; i++ {
		e := event(i)
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, *e)
	}
	return out
}

func verifyFile(t testing.TB, path string, keys map[string]ed25519.PublicKey) *Report {
	t.Helper()
	rep, err := VerifyFile(path, keys)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// lines splits a log file into its lines, newlines kept.
func lines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func tempLog(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "audit.log")
}

// faultyFile is a log file whose writes or fsyncs fail on demand.
type faultyFile struct {
	*os.File
	mu        sync.Mutex
	failWrite bool // write half the line, then fail
	failSync  bool
}

func (f *faultyFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWrite {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, fmt.Errorf("injected write failure: %w", os.ErrInvalid)
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSync {
		return fmt.Errorf("injected fsync failure: %w", os.ErrInvalid)
	}
	return f.File.Sync()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
