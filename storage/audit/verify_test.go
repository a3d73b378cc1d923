package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"sluice"
)

// closedLog writes 10 events with a checkpoint every 6 and closes the log:
// lines 1-6 are events, 7 a checkpoint, 8-11 events, 12 the checkpoint of
// Close. Line n holds seq n.
func closedLog(t *testing.T) (path string, key ed25519.PrivateKey) {
	t.Helper()
	return smallLog(t, 10, 6)
}

// smallLog writes n events with a checkpoint every `every` and closes it.
func smallLog(t *testing.T, n, every int) (path string, key ed25519.PrivateKey) {
	t.Helper()
	path = tempLog(t)
	key = newKey(t)
	l := openLog(t, path, key, Options{CheckpointEvery: every, Now: newClock().Now})
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func decodeLine(t *testing.T, b []byte) *sluice.AuditEvent {
	t.Helper()
	ev, err := decodeEvent(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func encodeLine(t *testing.T, ev *sluice.AuditEvent) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// rehash recomputes the hash of line n (1-based) and, if chain, the Prev and
// Hash of every line after it: what an attacker with write access can do.
func rehash(t *testing.T, ls [][]byte, n int, chain bool) {
	t.Helper()
	for i := n - 1; i < len(ls); i++ {
		ev := decodeLine(t, ls[i])
		if i > n-1 {
			ev.Prev = decodeLine(t, ls[i-1]).Hash
		}
		var err error
		if ev.Hash, err = eventHash(ev); err != nil {
			t.Fatal(err)
		}
		ls[i] = encodeLine(t, ev)
		if !chain {
			return
		}
	}
}

// forge returns a record chained correctly after the line prev.
func forge(t *testing.T, prev []byte, ev sluice.AuditEvent) []byte {
	t.Helper()
	p := decodeLine(t, prev)
	ev.Seq, ev.Prev = p.Seq+1, p.Hash
	ev.Time = p.Time
	rec, err := normalize(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hash, err = eventHash(rec); err != nil {
		t.Fatal(err)
	}
	return encodeLine(t, rec)
}

// forgeCheckpoint returns a checkpoint after prev signed by key under keyID.
func forgeCheckpoint(t *testing.T, prev []byte, key ed25519.PrivateKey, keyID string) []byte {
	t.Helper()
	p := decodeLine(t, prev)
	sig := ed25519.Sign(key, checkpointMessage(p.Seq, p.Hash))
	return forge(t, prev, sluice.AuditEvent{Kind: KindCheckpoint, Details: map[string]any{
		"key_id": keyID, "signature": base64.StdEncoding.EncodeToString(sig)}})
}

func TestVerifyNamesTampering(t *testing.T) {
	mallory := newKey(t)
	forgedEvent := sluice.AuditEvent{Kind: "query", Principal: "mallory", Datasets: []string{"tax"}, Outcome: "released"}
	for _, tc := range []struct {
		name     string
		tamper   func(t *testing.T, ls [][]byte, key ed25519.PrivateKey) [][]byte
		line     int // 0: verifies
		reason   string
		unsigned int // when it verifies
		lastSeq  uint64
	}{
		{name: "untouched", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte { return ls },
			lastSeq: 12},
		{name: "field of event 5 changed", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ev := decodeLine(t, ls[4])
			ev.Principal = "mallory"
			ls[4] = encodeLine(t, ev)
			return ls
		}, line: 5, reason: "hash does not match"},
		{name: "event 5 changed and its hash recomputed", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ev := decodeLine(t, ls[4])
			ev.Datasets = []string{"secret"}
			ls[4] = encodeLine(t, ev)
			rehash(t, ls, 5, false)
			return ls
		}, line: 6, reason: "prev does not match the hash of seq 5"},
		{name: "history rewritten from 5 with all hashes recomputed", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ev := decodeLine(t, ls[4])
			ev.Outcome = "refused"
			ls[4] = encodeLine(t, ev)
			rehash(t, ls, 5, true)
			return ls
		}, line: 7, reason: "checkpoint signature does not verify"},
		{name: "event 5 deleted", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls[:4], ls[5:]...)
		}, line: 5, reason: "seq is 6, expected 5"},
		{name: "events 4 and 5 swapped", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ls[3], ls[4] = ls[4], ls[3]
			return ls
		}, line: 4, reason: "seq is 5, expected 4"},
		{name: "event 5 replayed", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls[:5], append([][]byte{ls[4]}, ls[5:]...)...)
		}, line: 6, reason: "seq is 5, expected 6"},
		{name: "checkpoint 7 deleted", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls[:6], ls[7:]...)
		}, line: 7, reason: "seq is 8, expected 7"},
		{name: "checkpoint 7 signature replaced", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ev := decodeLine(t, ls[6])
			ev.Details["signature"] = base64.StdEncoding.EncodeToString(ed25519.Sign(mallory, []byte("x")))
			ls[6] = encodeLine(t, ev)
			rehash(t, ls, 7, true)
			return ls
		}, line: 7, reason: "checkpoint signature does not verify"},
		{name: "forged event appended after the last checkpoint", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls, forge(t, ls[len(ls)-1], forgedEvent))
		}, unsigned: 1, lastSeq: 13},
		{name: "forged event and checkpoint under the real key id", tamper: func(t *testing.T, ls [][]byte, key ed25519.PrivateKey) [][]byte {
			ls = append(ls, forge(t, ls[len(ls)-1], forgedEvent))
			return append(ls, forgeCheckpoint(t, ls[len(ls)-1], mallory, KeyID(key.Public().(ed25519.PublicKey))))
		}, line: 14, reason: "checkpoint signature does not verify"},
		{name: "forged event and checkpoint under another key id", tamper: func(t *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ls = append(ls, forge(t, ls[len(ls)-1], forgedEvent))
			return append(ls, forgeCheckpoint(t, ls[len(ls)-1], mallory, "mallory"))
		}, line: 14, reason: `checkpoint is signed by unknown key "mallory"`},
		{name: "truncated in the middle of line 9", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls[:8], ls[8][:len(ls[8])/2])
		}, line: 9, reason: "no trailing newline"},
		{name: "truncated after line 10", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return ls[:10]
		}, unsigned: 3, lastSeq: 10},
		{name: "key renamed in line 3", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"kind"`), []byte(`"Kind"`), 1)
			return ls
		}, line: 3, reason: "not in canonical form"},
		{name: "field added to line 3", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`{`), []byte(`{"note":"ok",`), 1)
			return ls
		}, line: 3, reason: "not in canonical form"},
		{name: "blank line before line 3", tamper: func(_ *testing.T, ls [][]byte, _ ed25519.PrivateKey) [][]byte {
			return append(ls[:2], append([][]byte{[]byte("\n")}, ls[2:]...)...)
		}, line: 3, reason: "not a JSON audit event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, key := closedLog(t)
			ls := tc.tamper(t, lines(t, path), key)
			rep, err := Verify(bytes.NewReader(bytes.Join(ls, nil)), keysOf(key))
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			if tc.line == 0 {
				if err != nil || rep.FirstBad != nil {
					t.Fatalf("Verify: %v", err)
				}
				if rep.UnsignedTail != tc.unsigned || rep.LastSeq != tc.lastSeq {
					t.Fatalf("report %+v, want %d unsigned and last seq %d", rep, tc.unsigned, tc.lastSeq)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p != rep.FirstBad {
				t.Fatalf("Verify: %v, report %+v; want a *Problem", err, rep)
			}
			if p.Line != tc.line || p.Seq != uint64(tc.line) || !strings.Contains(p.Reason, tc.reason) {
				t.Fatalf("first bad: %v; want line %d (seq %d): %s", p, tc.line, tc.line, tc.reason)
			}
			if rep.LastSeq != uint64(tc.line-1) || rep.Events != tc.line-1 {
				t.Fatalf("report %+v should cover the %d records before line %d", rep, tc.line-1, tc.line)
			}
		})
	}
}

// TestVerifyFlippedByte changes single bytes all over a log: each change is
// found, and in the line that holds the byte (a newline belongs to the line
// it ends).
func TestVerifyFlippedByte(t *testing.T) {
	// Lines: query, query, checkpoint, suspension, query, checkpoint.
	path, key := smallLog(t, 4, 2)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := keysOf(key)
	lineAt := make([]int, len(data))
	for i, n := 0, 1; i < len(data); i++ {
		lineAt[i] = n
		if data[i] == '\n' {
			n++
		}
	}
	buf := make([]byte, len(data))
	step := 1
	if testing.Short() {
		step = 7
	}
	for off := 0; off < len(data); off += step {
		changes := []byte{data[off] ^ 0x01}
		if off%5 == 0 {
			changes = append(changes, data[off]^0x20, data[off]^0x80, '\n', '"', ' ')
		}
		for _, b := range changes {
			if b == data[off] {
				continue
			}
			copy(buf, data)
			buf[off] = b
			rep, err := Verify(bytes.NewReader(buf), keys)
			if err == nil || rep.FirstBad == nil {
				t.Fatalf("byte %d (line %d) %q → %q: not found", off, lineAt[off], data[off], b)
			}
			if p := rep.FirstBad; p.Line != lineAt[off] || p.Seq != uint64(lineAt[off]) {
				t.Fatalf("byte %d (line %d) %q → %q: Verify names %v", off, lineAt[off], data[off], b, p)
			}
		}
	}
}

func TestVerifyNeedsTheKey(t *testing.T) {
	path, _ := closedLog(t)
	_, err := VerifyFile(path, nil)
	var p *Problem
	if !errors.As(err, &p) || p.Line != 7 || !strings.Contains(p.Reason, "unknown key") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Verify without keys: %v", err)
	}
	if _, err := VerifyFile(path+".missing", nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify of a missing file: %v", err)
	}
}

func TestHashRecipe(t *testing.T) {
	// The documented definition, computed independently of eventHash.
	path, _ := closedLog(t)
	for i, ln := range lines(t, path) {
		ln = bytes.TrimSuffix(ln, []byte("\n"))
		ev := decodeLine(t, ln)
		blank := bytes.Replace(ln, []byte(`"hash":"`+ev.Hash+`"}`), []byte(`"hash":""}`), 1)
		if got := sha256Hex(append([]byte(ev.Prev), blank...)); got != ev.Hash {
			t.Fatalf("line %d: sha256(prev || line with hash \"\") = %s, hash field %s", i+1, got, ev.Hash)
		}
	}
}
