package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sluice"
)

func TestAppendVerifyRoundTrip(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	clk := newClock()
	l := openLog(t, path, key, Options{Now: clk.Now})

	// One event with every kind of field, including values that JSON
	// changes on the way (big integers, nested structs in Details, HTML
	// characters, invalid UTF-8).
	full := &sluice.AuditEvent{
		Kind:          "query",
		Principal:     "alice",
		Organisation:  "org-a",
		Authorization: "auth-1",
		Datasets:      []string{"census", "tax"},
		RequestID:     "req-1",
		SQL:           "SELECT a FROM t WHERE b < 3 && c > 'é\xff'",
		PlanDigest:    "sha256:abc",
		Decision: &sluice.Decision{ID: "d1", Allow: true, Revision: "r7",
			Obligations: sluice.Obligations{Epsilon: 0.25, MinUnits: 10, Aggregates: []sluice.AggFunc{"count"}}},
		Outcome:       "refused",
		Refusal:       &sluice.Error{Code: sluice.EBUDGET, Step: sluice.StepBudget, Message: "budget spent"},
		Epsilon:       1.0 / 3,
		Delta:         1e-9,
		Groups:        3,
		Suppressed:    1,
		ReleaseDigest: "sha256:def",
		DurationMS:    42,
		Details: map[string]any{
			"big":    uint64(1<<63 + 1),
			"nested": struct{ A, B int }{1, 2},
			"list":   []any{1, "x", nil, true},
		},
	}
	if err := l.Append(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	if full.Seq != 1 || full.Prev != zeroHash || len(full.Hash) != 64 || full.Time.IsZero() {
		t.Fatalf("chain fields not set: seq %d prev %q hash %q time %v", full.Seq, full.Prev, full.Hash, full.Time)
	}
	evs := appendN(t, l, 0, 9)
	for i, e := range evs {
		if e.Seq != uint64(i+2) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if evs[0].Prev != full.Hash {
		t.Fatalf("seq 2 prev %s, want %s", evs[0].Prev, full.Hash)
	}

	got, err := l.Query(context.Background(), Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Hash != full.Hash || got[0].SQL != "SELECT a FROM t WHERE b < 3 && c > 'é\uFFFD'" ||
		got[0].Details["big"] != json.Number("9223372036854775809") || !reflect.DeepEqual(got[0].Decision, full.Decision) {
		t.Fatalf("stored event differs: %+v", got[0])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	rep := verifyFile(t, path, keysOf(key))
	want := Report{Events: 11, Checkpoints: 1, LastSeq: 11, LastHash: rep.LastHash, UnsignedTail: 0}
	if *rep != want || len(rep.LastHash) != 64 {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestReopenContinuesChain(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	l := openLog(t, path, key, Options{})
	before := appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ls := lines(t, path)
	var ck sluice.AuditEvent
	if err := json.Unmarshal(ls[len(ls)-1], &ck); err != nil {
		t.Fatal(err)
	}
	if ck.Kind != KindCheckpoint || ck.Seq != 4 || ck.Prev != before[2].Hash {
		t.Fatalf("last record %+v is not the checkpoint after seq 3", ck)
	}

	l = openLog(t, path, key, Options{})
	after := appendN(t, l, 3, 3)
	if after[0].Seq != 5 || after[0].Prev != ck.Hash {
		t.Fatalf("after reopen: seq %d prev %s, want 5 and %s", after[0].Seq, after[0].Prev, ck.Hash)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rep := verifyFile(t, path, keysOf(key))
	if rep.Events != 8 || rep.Checkpoints != 2 || rep.LastSeq != 8 || rep.UnsignedTail != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestConcurrentAppends(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	l := openLog(t, path, key, Options{CheckpointEvery: 37})
	const workers, each = 16, 40
	var wg sync.WaitGroup
	seqs := make(chan uint64, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := event(w*each + i)
				if err := l.Append(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
				seqs <- e.Seq
			}
		}()
	}
	// Readers run alongside the writers.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := l.Query(context.Background(), Filter{Principal: "alice"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given twice", s)
		}
		seen[s] = true
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyFile(t, path, keysOf(key))
	n := workers * each
	cks := (n + 36) / 37 // every 37 events, and the last partial run on Close
	if rep.Events != n+cks || rep.Checkpoints != cks || rep.UnsignedTail != 0 || len(seen) != n {
		t.Fatalf("report %+v, %d distinct seqs; want %d events and %d checkpoints", rep, len(seen), n+cks, cks)
	}
}

func TestCheckpoints(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	clk := newClock()
	l := openLog(t, path, key, Options{CheckpointEvery: 5, CheckpointInterval: time.Minute, Now: clk.Now})
	keys := keysOf(key)

	appendN(t, l, 0, 12) // 1-5, ck 6, 7-11, ck 12, 13-14
	rep := verifyFile(t, path, keys)
	if rep.Checkpoints != 2 || rep.UnsignedTail != 2 || rep.LastSeq != 14 {
		t.Fatalf("after 12 events: %+v", rep)
	}

	// The interval: the next Append after a minute is signed at once.
	clk.Advance(2 * time.Minute)
	appendN(t, l, 12, 1)
	rep = verifyFile(t, path, keys)
	if rep.Checkpoints != 3 || rep.UnsignedTail != 0 || rep.LastSeq != 16 {
		t.Fatalf("after the interval: %+v", rep)
	}

	// Checkpoint signs the tail, and only once.
	appendN(t, l, 13, 1)
	for range 2 {
		if err := l.Checkpoint(); err != nil {
			t.Fatal(err)
		}
	}
	rep = verifyFile(t, path, keys)
	if rep.Checkpoints != 4 || rep.UnsignedTail != 0 || rep.LastSeq != 18 {
		t.Fatalf("after Checkpoint: %+v", rep)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep2 := verifyFile(t, path, keys); *rep2 != *rep {
		t.Fatalf("Close after a checkpoint wrote another: %+v", rep2)
	}

	// A checkpoint names its key id, and the signature is over the
	// record before it.
	ls := lines(t, path)
	var ck sluice.AuditEvent
	if err := json.Unmarshal(ls[5], &ck); err != nil {
		t.Fatal(err)
	}
	if ck.Kind != KindCheckpoint || ck.Details["key_id"] != l.KeyID() {
		t.Fatalf("line 6 is %+v", ck)
	}
}

func TestCloseEmptyLogWritesNothing(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	l := openLog(t, path, key, Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyFile(t, path, keysOf(key))
	if *rep != (Report{}) {
		t.Fatalf("report %+v", rep)
	}
}

func TestTornLastLineRecovered(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(full []byte) []byte // what is left of the file
	}{
		{"half a line", func(b []byte) []byte {
			return append(b, []byte(`{"seq":7,"time":"2025-03-01T09:00:00Z","kind":"qu`)...)
		}},
		{"newline missing", func(b []byte) []byte { return b[:len(b)-1] }},
		{"zeros after a crash", func(b []byte) []byte { return append(b, make([]byte, 300)...) }},
		{"first line torn", func(b []byte) []byte { return b[:40] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempLog(t)
			key := newKey(t)
			l := openLog(t, path, key, Options{})
			appendN(t, l, 0, 5)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			full, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			torn := tc.tear(full)
			if err := os.WriteFile(path, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyFile(path, keysOf(key)); err == nil || !strings.Contains(err.Error(), "no trailing newline") {
				t.Fatalf("Verify of the torn file: %v", err)
			}
			good := torn[:bytes.LastIndexByte(torn, '\n')+1]

			l = openLog(t, path, key, Options{})
			rec, err := l.Query(context.Background(), Filter{Kind: KindRecovered})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec) != 1 {
				t.Fatalf("%d log.recovered events", len(rec))
			}
			cut := len(torn) - len(good)
			if rec[0].Details["bytes"] != json.Number(strconv.Itoa(cut)) || rec[0].Details["offset"] != json.Number(strconv.Itoa(len(good))) {
				t.Fatalf("recovery record %v, want %d bytes cut at %d", rec[0].Details, cut, len(good))
			}
			appendN(t, l, 5, 2)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep := verifyFile(t, path, keysOf(key))
			if rep.UnsignedTail != 0 {
				t.Fatalf("report %+v", rep)
			}
			after, _ := os.ReadFile(path)
			if !bytes.HasPrefix(after, good) {
				t.Fatal("recovery changed the good records")
			}
		})
	}
}

func TestOpenRefusesDamagedLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(ls [][]byte) [][]byte
		want   string
	}{
		{"edited middle event", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"alice"`), []byte(`"mallory"`), 1)
			return ls
		}, "line 3 (seq 3): hash does not match"},
		{"complete but invalid last line", func(ls [][]byte) [][]byte {
			return append(ls, []byte("{\"seq\":7,\"kind\"\n"))
		}, "line 7 (seq 7): not a JSON audit event"},
		{"deleted event", func(ls [][]byte) [][]byte {
			return append(ls[:1], ls[2:]...)
		}, "line 2 (seq 2): seq is 3, expected 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempLog(t)
			key := newKey(t)
			l := openLog(t, path, key, Options{})
			appendN(t, l, 0, 5)
			l.Close()
			ls := tc.damage(lines(t, path))
			if err := os.WriteFile(path, bytes.Join(ls, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, key, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v, want an error naming %s and %q", err, path, tc.want)
			}
		})
	}
}

func TestOpenRefusesWrongKey(t *testing.T) {
	path := tempLog(t)
	l := openLog(t, path, newKey(t), Options{KeyID: "sluice-2025"})
	appendN(t, l, 0, 2)
	l.Close()
	// Another key under the same id: the misconfiguration is caught.
	_, err := Open(path, newKey(t), Options{KeyID: "sluice-2025"})
	if err == nil || !strings.Contains(err.Error(), `line 3 (seq 3): checkpoint signature does not verify under key "sluice-2025"`) {
		t.Fatalf("Open with the wrong key: %v", err)
	}
	// A rotated key with a new id continues the log.
	l = openLog(t, path, newKey(t), Options{KeyID: "sluice-2026"})
	appendN(t, l, 2, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocksFile(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	l := openLog(t, path, key, Options{})
	defer l.Close()
	_, err := Open(path, key, Options{})
	if flockSupported && !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestOpenUnwritableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file modes")
	}
	path := tempLog(t)
	if err := os.WriteFile(path, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, newKey(t), Options{})
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a read-only file: %v", err)
	}
}

func TestWriteFailurePoisonsLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(l *Log)
	}{
		{"file closed underneath", func(l *Log) { l.f.(*os.File).Close() }},
		{"torn write", func(l *Log) { l.f = &faultyFile{File: l.f.(*os.File), failWrite: true} }},
		{"fsync fails", func(l *Log) { l.f = &faultyFile{File: l.f.(*os.File), failSync: true} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempLog(t)
			key := newKey(t)
			l := openLog(t, path, key, Options{})
			good := appendN(t, l, 0, 3)
			sizeBefore := fileSize(t, path)

			l.mu.Lock()
			tc.breakIt(l)
			l.mu.Unlock()
			e := event(3)
			err := l.Append(context.Background(), e)
			if err == nil {
				t.Fatal("Append on a broken file succeeded")
			}
			if e.Seq != 0 || e.Hash != "" {
				t.Fatalf("failed Append set seq %d hash %q", e.Seq, e.Hash)
			}
			if tc.name != "file closed underneath" && fileSize(t, path) != sizeBefore {
				t.Fatalf("file is %d bytes after the failure, was %d: the torn line stayed", fileSize(t, path), sizeBefore)
			}

			// Poisoned: everything refuses, even if the file would work now.
			if ff, ok := l.f.(*faultyFile); ok {
				ff.mu.Lock()
				ff.failWrite, ff.failSync = false, false
				ff.mu.Unlock()
			}
			if err := l.Append(context.Background(), event(4)); !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Append after a failure: %v, want ErrPoisoned", err)
			}
			if err := l.Checkpoint(); !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Checkpoint after a failure: %v, want ErrPoisoned", err)
			}
			if err := l.Close(); !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Close after a failure: %v, want ErrPoisoned", err)
			}

			// Reopened, the log continues from the last good event.
			l = openLog(t, path, key, Options{})
			again := appendN(t, l, 3, 1)
			if again[0].Seq != 4 || again[0].Prev != good[2].Hash {
				t.Fatalf("after reopen: seq %d prev %s", again[0].Seq, again[0].Prev)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if rep := verifyFile(t, path, keysOf(key)); rep.LastSeq != 5 || rep.UnsignedTail != 0 {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestAppendRefuses(t *testing.T) {
	path := tempLog(t)
	l := openLog(t, path, newKey(t), Options{})
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		e    *sluice.AuditEvent
		want string
	}{
		{"nil", ctx, nil, "nil event"},
		{"no kind", ctx, &sluice.AuditEvent{Principal: "alice"}, "no kind"},
		{"forged checkpoint", ctx, &sluice.AuditEvent{Kind: KindCheckpoint}, "written by the log only"},
		{"unencodable", ctx, &sluice.AuditEvent{Kind: "query", Details: map[string]any{"x": func() {}}}, "encode event"},
		{"cancelled", cancelled, &sluice.AuditEvent{Kind: "query"}, "context canceled"},
	} {
		if err := l.Append(tc.ctx, tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// None of these poisoned the log.
	appendN(t, l, 0, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, event(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
}

func TestQueryFilters(t *testing.T) {
	path := tempLog(t)
	key := newKey(t)
	clk := newClock()
	l := openLog(t, path, key, Options{CheckpointEvery: 4, Now: clk.Now})
	defer l.Close()
	evs := appendN(t, l, 0, 12)
	ctx := context.Background()

	seqsOf := func(f Filter) []uint64 {
		t.Helper()
		got, err := l.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var s []uint64
		for _, e := range got {
			s = append(s, e.Seq)
		}
		return s
	}
	want := func(pred func(i int, e sluice.AuditEvent) bool, limit int) []uint64 {
		var s []uint64
		for i, e := range evs {
			if pred(i, e) && (limit == 0 || len(s) < limit) {
				s = append(s, e.Seq)
			}
		}
		return s
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all but checkpoints", Filter{}, want(func(int, sluice.AuditEvent) bool { return true }, 0)},
		{"principal", Filter{Principal: "alice"}, want(func(_ int, e sluice.AuditEvent) bool { return e.Principal == "alice" }, 0)},
		{"organisation", Filter{Organisation: "org-b"}, want(func(_ int, e sluice.AuditEvent) bool { return e.Organisation == "org-b" }, 0)},
		{"dataset", Filter{Dataset: "tax"}, want(func(_ int, e sluice.AuditEvent) bool {
			return e.Kind == "query" && (e.Datasets[len(e.Datasets)-1] == "tax")
		}, 0)},
		{"authorization and kind", Filter{Authorization: "auth-0", Kind: "authorization.suspended"}, want(func(_ int, e sluice.AuditEvent) bool {
			return e.Authorization == "auth-0" && e.Kind == "authorization.suspended"
		}, 0)},
		{"time window", Filter{Since: evs[2].Time, Until: evs[6].Time}, want(func(i int, _ sluice.AuditEvent) bool { return i >= 2 && i < 6 }, 0)},
		{"limit", Filter{Kind: "query", Limit: 2}, want(func(_ int, e sluice.AuditEvent) bool { return e.Kind == "query" }, 2)},
		{"checkpoints when asked", Filter{Kind: KindCheckpoint}, []uint64{5, 10, 15}},
	} {
		if got := seqsOf(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: seqs %v, want %v", tc.name, got, tc.want)
		}
	}

	// Export copies the matching lines byte for byte.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := Export(f, &out, Filter{Principal: "bob", Kind: "query"}); err != nil {
		t.Fatal(err)
	}
	var wantOut []byte
	for _, ln := range lines(t, path) {
		if bytes.Contains(ln, []byte(`"principal":"bob"`)) && bytes.Contains(ln, []byte(`"kind":"query"`)) {
			wantOut = append(wantOut, ln...)
		}
	}
	if len(wantOut) == 0 || !bytes.Equal(out.Bytes(), wantOut) {
		t.Fatalf("export:\n%s\nwant:\n%s", out.Bytes(), wantOut)
	}
}
