package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"

	"sluice"
)

// Defaults of Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 5 * time.Minute
)

var (
	// ErrPoisoned is returned by every Append, Checkpoint and Close after a
	// write or fsync of the log failed. Open the file again to go on.
	ErrPoisoned = errors.New("audit log is unusable after a failed write; reopen it")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("audit log is closed")
	// ErrLocked is returned by Open when another Log holds the file.
	ErrLocked = errors.New("audit log is open elsewhere")
)

// Options tunes a Log. The zero value is usable.
type Options struct {
	// CheckpointEvery is the number of events after which a checkpoint is
	// written; 0 means DefaultCheckpointEvery.
	CheckpointEvery int
	// CheckpointInterval is the longest time an event stays unsigned while
	// events keep coming (it is checked on Append); 0 means
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// Now is the clock for event and checkpoint times; nil means time.Now.
	Now func() time.Time
	// KeyID names the signing key in checkpoints; "" means KeyID(public key).
	KeyID string
}

// logFile is what a Log needs of its file; tests substitute failing files.
type logFile interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

var _ logFile = (*os.File)(nil)

// Log is an append-only, hash-chained, signed audit log in one file. It is
// safe for concurrent use.
type Log struct {
	path     string
	key      ed25519.PrivateKey
	keyID    string
	every    int
	interval time.Duration
	now      func() time.Time

	mu             sync.Mutex
	f              logFile
	seq            uint64    // Seq of the last record
	hash           string    // Hash of the last record
	size           int64     // bytes of good records
	unsigned       int       // events since the last checkpoint
	lastCheckpoint time.Time // when the last checkpoint was written, or Open
	failed         error     // the write failure that poisoned the log
	closed         bool
}

// Open opens the audit log at path, creating it (mode 0600) if it does not
// exist, and signs its checkpoints with key. It verifies the whole file first
// (see the package documentation): a torn last line is cut off and recorded
// in a "log.recovered" event; any other damage is an error naming the line.
func Open(path string, key ed25519.PrivateKey, opts Options) (*Log, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("open audit log %s: the signing key is not an Ed25519 private key", path)
	}
	l := &Log{
		path:     path,
		key:      key,
		keyID:    opts.KeyID,
		every:    opts.CheckpointEvery,
		interval: opts.CheckpointInterval,
		now:      opts.Now,
	}
	if l.keyID == "" {
		l.keyID = KeyID(key.Public().(ed25519.PublicKey))
	}
	if l.every <= 0 {
		l.every = DefaultCheckpointEvery
	}
	if l.interval <= 0 {
		l.interval = DefaultCheckpointInterval
	}
	if l.now == nil {
		l.now = time.Now
	}

	_, err := os.Lstat(path)
	created := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("open audit log %s: %w", path, err)
		}
	}
	l.f = f
	if err := l.recover(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	return l, nil
}

// recover verifies the file, cuts off a torn last line and records that.
func (l *Log) recover() error {
	f := l.f.(*os.File)
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	c := newChain(map[string]ed25519.PublicKey{l.keyID: l.key.Public().(ed25519.PublicKey)}, true)
	p, err := c.scan(io.NewSectionReader(f, 0, size))
	if err != nil {
		return err
	}
	l.seq, l.hash, l.size, l.unsigned = c.rep.LastSeq, c.prev, c.offset, c.rep.UnsignedTail
	l.lastCheckpoint = l.now()
	if p == nil {
		return nil
	}
	if !p.torn {
		return p
	}

	cut := make([]byte, size-p.offset)
	if _, err := f.ReadAt(cut, p.offset); err != nil {
		return fmt.Errorf("read torn line %d: %w", p.Line, err)
	}
	if err := f.Truncate(p.offset); err != nil {
		return fmt.Errorf("cut torn line %d: %w", p.Line, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cut torn line %d: %w", p.Line, err)
	}
	sum := sha256.Sum256(cut)
	head := cut
	if len(head) > 512 {
		head = head[:512]
	}
	_, err = l.write(sluice.AuditEvent{
		Kind: KindRecovered,
		Details: map[string]any{
			"reason": "torn last line cut off",
			"line":   p.Line,
			"offset": p.offset,
			"bytes":  len(cut),
			"sha256": hex.EncodeToString(sum[:]),
			"head":   string(bytes.ToValidUTF8(head, []byte(string(utf8.RuneError)))),
		},
	})
	if err != nil {
		return fmt.Errorf("record recovery of torn line %d: %w", p.Line, err)
	}
	l.unsigned++
	return nil
}

// Path is the log file's path.
func (l *Log) Path() string { return l.path }

// KeyID is the key id the log signs checkpoints under.
func (l *Log) KeyID() string { return l.keyID }

// Append adds e to the log and returns once it is on disk. It sets e's Seq,
// Prev and Hash, and its Time if that is zero; the caller's other fields are
// stored as they encode to JSON (see the package documentation). If Append
// returns an error the event may not be recorded, and the caller must refuse
// the work it was auditing. A failed write poisons the log (ErrPoisoned).
// Kinds "checkpoint" and "log.recovered" are the log's own and refused.
func (l *Log) Append(ctx context.Context, e *sluice.AuditEvent) error {
	if e == nil {
		return fmt.Errorf("append to audit log %s: nil event", l.path)
	}
	switch e.Kind {
	case "":
		return fmt.Errorf("append to audit log %s: the event has no kind", l.path)
	case KindCheckpoint, KindRecovered:
		return fmt.Errorf("append to audit log %s: kind %q is written by the log only", l.path, e.Kind)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	if err := ctx.Err(); err != nil { // cancelled while waiting for the lock
		return fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	rec, err := l.write(*e)
	if err != nil {
		return fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	e.Seq, e.Time, e.Prev, e.Hash = rec.Seq, rec.Time, rec.Prev, rec.Hash
	l.unsigned++
	if l.unsigned >= l.every || !l.now().Before(l.lastCheckpoint.Add(l.interval)) {
		if err := l.checkpoint(); err != nil {
			return fmt.Errorf("append to audit log %s: seq %d was written but the checkpoint after it failed: %w", l.path, rec.Seq, err)
		}
	}
	return nil
}

// Checkpoint signs the log up to its last event now, unless the last record
// is already a checkpoint (or the log is empty).
func (l *Log) Checkpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return fmt.Errorf("checkpoint audit log %s: %w", l.path, err)
	}
	if err := l.checkpoint(); err != nil {
		return fmt.Errorf("checkpoint audit log %s: %w", l.path, err)
	}
	return nil
}

// Close writes a final checkpoint, so that a cleanly closed log has no
// unsigned tail, and closes the file. It reports a poisoned log, whose tail
// it cannot sign. Closing a closed Log does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	if l.failed != nil {
		errs = append(errs, fmt.Errorf("final checkpoint not written: %w: %w", ErrPoisoned, l.failed))
	} else if err := l.checkpoint(); err != nil {
		errs = append(errs, fmt.Errorf("final checkpoint: %w", err))
	}
	if err := l.f.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close audit log %s: %w", l.path, err)
	}
	return nil
}

// usable reports why the log cannot be written, if it cannot. l.mu is held.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("%w: %w", ErrPoisoned, l.failed)
	}
	return nil
}

// checkpoint writes a checkpoint if any event is unsigned. l.mu is held.
func (l *Log) checkpoint() error {
	if l.unsigned == 0 {
		return nil
	}
	sig := ed25519.Sign(l.key, checkpointMessage(l.seq, l.hash))
	_, err := l.write(sluice.AuditEvent{
		Kind: KindCheckpoint,
		Details: map[string]any{
			"key_id":    l.keyID,
			"signature": base64.StdEncoding.EncodeToString(sig),
		},
	})
	if err != nil {
		return err
	}
	l.unsigned = 0
	l.lastCheckpoint = l.now()
	return nil
}

// write chains ev to the log, writes it and fsyncs, and returns the record
// as stored. On a write or fsync failure it truncates the file back and
// poisons the log. l.mu is held.
func (l *Log) write(ev sluice.AuditEvent) (*sluice.AuditEvent, error) {
	ev.Seq = l.seq + 1
	ev.Prev = l.hash
	ev.Hash = ""
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	rec, err := normalize(&ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	if rec.Hash, err = eventHash(rec); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	line = append(line, '\n')

	n, err := l.f.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("write seq %d: %w", rec.Seq, err)
		// Leave no torn or unacknowledged line behind, if the file lets us.
		if terr := l.f.Truncate(l.size); terr != nil {
			err = errors.Join(err, fmt.Errorf("truncate back to %d bytes: %w", l.size, terr))
		} else if serr := l.f.Sync(); serr != nil {
			err = errors.Join(err, fmt.Errorf("truncate back to %d bytes: %w", l.size, serr))
		}
		l.failed = err
		return nil, err
	}
	l.seq, l.hash = rec.Seq, rec.Hash
	l.size += int64(len(line))
	return rec, nil
}

// normalize round-trips ev through JSON, so that the stored record decodes
// and re-encodes to the same bytes (see the package documentation).
func normalize(ev *sluice.AuditEvent) (*sluice.AuditEvent, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return decodeEvent(b)
}

// syncDir fsyncs a directory, making a new entry in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
