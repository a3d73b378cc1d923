package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sluice"
)

// Kinds of event the log writes itself. Append refuses them from callers.
const (
	KindCheckpoint = "checkpoint"
	KindRecovered  = "log.recovered"
)

// zeroHash is the Prev of the first event.
var zeroHash = strings.Repeat("0", 64)

// Report is what Verify found.
type Report struct {
	Events       int    // records verified, checkpoints included
	Checkpoints  int    // checkpoints whose signature verified
	LastSeq      uint64 // the Seq of the last verified record; 0 if none
	LastHash     string // the Hash of the last verified record; "" if none
	UnsignedTail int    // verified events after the last checkpoint, which no signature covers
	// FirstBad is the first record that does not verify, or nil. Verify
	// stops there: nothing after a break in the chain can be vouched for.
	FirstBad *Problem
}

// Problem names the first record of a log that does not verify.
type Problem struct {
	Line   int    // 1-based line number in the file
	Seq    uint64 // the Seq the record on this line should have
	Reason string

	offset int64 // byte offset of the line's start
	torn   bool  // the last line has no trailing newline
}

// Error describes the problem as "line 7 (seq 7): reason".
func (p *Problem) Error() string {
	return fmt.Sprintf("line %d (seq %d): %s", p.Line, p.Seq, p.Reason)
}

// Verify reads an audit log from r and checks that every line is the
// canonical JSON of an event, that Seq counts up by one from 1, that each
// Prev is the Hash of the record before, that each Hash recomputes, and that
// every checkpoint's signature verifies under keys[key_id] and signs exactly
// the record before it. A checkpoint whose key_id is not in keys does not
// verify.
//
// The Report is returned whenever r could be read. The error is non-nil if
// reading failed or the log does not verify; in the latter case it wraps
// Report.FirstBad (a *Problem). A verified log may still have an unsigned
// tail: check Report.UnsignedTail.
func Verify(r io.Reader, keys map[string]ed25519.PublicKey) (*Report, error) {
	c := newChain(keys, false)
	p, err := c.scan(r)
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	if p != nil {
		return &c.rep, fmt.Errorf("verify audit log: %w", p)
	}
	return &c.rep, nil
}

// VerifyFile is Verify of the file at path.
func VerifyFile(path string, keys map[string]ed25519.PublicKey) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	defer f.Close()
	rep, err := Verify(f, keys)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// chain checks the records of a log one line at a time.
type chain struct {
	keys map[string]ed25519.PublicKey
	// formOnly makes checkpoints under key ids not in keys pass after a
	// check of their form (Open, which knows only its own key).
	formOnly bool
	rep      Report
	next     uint64 // the Seq the next record must have
	prev     string // the Hash of the last verified record
	offset   int64  // bytes of verified records
}

func newChain(keys map[string]ed25519.PublicKey, formOnly bool) *chain {
	return &chain{keys: keys, formOnly: formOnly, next: 1, prev: zeroHash}
}

// scan checks every line of r. It returns the first problem, or an error
// if r could not be read.
func (c *chain) scan(r io.Reader) (*Problem, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read line %d: %w", line, err)
		}
		if len(raw) > 0 {
			if p := c.check(line, raw); p != nil {
				c.rep.FirstBad = p
				return p, nil
			}
		}
		if err == io.EOF {
			return nil, nil
		}
	}
}

// check verifies one line, raw, with its newline if it has one.
func (c *chain) check(line int, raw []byte) *Problem {
	bad := func(format string, args ...any) *Problem {
		return &Problem{Line: line, Seq: c.next, Reason: fmt.Sprintf(format, args...), offset: c.offset}
	}
	if raw[len(raw)-1] != '\n' {
		p := bad("no trailing newline: the line was cut short (a torn write or a truncated file)")
		p.torn = true
		return p
	}
	body := raw[:len(raw)-1]
	ev, err := decodeEvent(body)
	if err != nil {
		return bad("not a JSON audit event: %v", err)
	}
	canon, err := json.Marshal(ev)
	if err != nil {
		return bad("cannot re-encode the event: %v", err)
	}
	if !bytes.Equal(canon, body) {
		return bad("not in canonical form (the line was edited outside the log)")
	}
	switch {
	case ev.Seq == c.next:
	case ev.Seq > c.next:
		return bad("seq is %d, expected %d: records are missing or out of order", ev.Seq, c.next)
	default:
		return bad("seq is %d, expected %d: records are repeated or out of order", ev.Seq, c.next)
	}
	if ev.Prev != c.prev {
		return bad("prev does not match the hash of seq %d", c.next-1)
	}
	if h, err := eventHash(ev); err != nil || ev.Hash != h {
		return bad("hash does not match the record's contents")
	}
	checkpoint := ev.Kind == KindCheckpoint
	if checkpoint {
		if reason := c.checkSignature(ev); reason != "" {
			return bad("%s", reason)
		}
	}
	c.rep.Events++
	c.rep.LastSeq = ev.Seq
	c.rep.LastHash = ev.Hash
	if checkpoint {
		c.rep.Checkpoints++
		c.rep.UnsignedTail = 0
	} else {
		c.rep.UnsignedTail++
	}
	c.next++
	c.prev = ev.Hash
	c.offset += int64(len(raw))
	return nil
}

// checkSignature returns why checkpoint ev does not verify, or "".
func (c *chain) checkSignature(ev *sluice.AuditEvent) string {
	keyID, _ := ev.Details["key_id"].(string)
	sig64, _ := ev.Details["signature"].(string)
	if keyID == "" || sig64 == "" {
		return "checkpoint has no key_id or signature"
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "checkpoint signature is not a base64 Ed25519 signature"
	}
	pub, ok := c.keys[keyID]
	if !ok {
		if c.formOnly {
			return ""
		}
		return fmt.Sprintf("checkpoint is signed by unknown key %q", keyID)
	}
	if !ed25519.Verify(pub, checkpointMessage(ev.Seq-1, ev.Prev), sig) {
		return fmt.Sprintf("checkpoint signature does not verify under key %q", keyID)
	}
	return ""
}

// decodeEvent decodes one line, numbers in Details as json.Number, and
// refuses anything after the object.
func decodeEvent(b []byte) (*sluice.AuditEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var ev sluice.AuditEvent
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	return &ev, nil
}

// eventHash is hex(SHA-256(Prev || canonical JSON of ev with Hash "")).
func eventHash(ev *sluice.AuditEvent) (string, error) {
	e := *ev
	e.Hash = ""
	b, err := json.Marshal(&e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(e.Prev))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkpointMessage is what a checkpoint after the record (seq, hash) signs.
func checkpointMessage(seq uint64, hash string) []byte {
	return []byte(fmt.Sprintf("sluice-audit-checkpoint\n%d\n%s", seq, hash))
}
