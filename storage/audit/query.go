package audit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"sluice"
)

// Filter selects audit events. Empty fields match everything; set fields
// must all match. Checkpoints are left out unless Kind is "checkpoint".
type Filter struct {
	Principal     string
	Organisation  string
	Dataset       string // one of the event's Datasets
	Authorization string
	Kind          string
	Since         time.Time // events at or after Since
	Until         time.Time // events before Until
	Limit         int       // at most this many, oldest first; 0 means all
}

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev *sluice.AuditEvent) bool {
	switch {
	case ev.Kind == KindCheckpoint && f.Kind != KindCheckpoint,
		f.Kind != "" && ev.Kind != f.Kind,
		f.Principal != "" && ev.Principal != f.Principal,
		f.Organisation != "" && ev.Organisation != f.Organisation,
		f.Authorization != "" && ev.Authorization != f.Authorization,
		f.Dataset != "" && !slices.Contains(ev.Datasets, f.Dataset),
		!f.Since.IsZero() && ev.Time.Before(f.Since),
		!f.Until.IsZero() && !ev.Time.Before(f.Until):
		return false
	}
	return true
}

// Query returns the events of the log that match f, in log order. It reads
// the records written before it was called; it does not verify the chain
// (use Verify for that).
func (l *Log) Query(ctx context.Context, f Filter) ([]sluice.AuditEvent, error) {
	l.mu.Lock()
	file, size, closed := l.f, l.size, l.closed
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("query audit log %s: %w", l.path, ErrClosed)
	}
	var out []sluice.AuditEvent
	err := each(ctx, io.NewSectionReader(file, 0, size), f, func(_ []byte, ev *sluice.AuditEvent) error {
		out = append(out, *ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query audit log %s: %w", l.path, err)
	}
	return out, nil
}

// Export copies the lines of the log read from r whose events match f to w,
// byte for byte, as NDJSON. An export is an extract for reading: with events
// left out, its chain no longer verifies; give an auditor the whole file.
func Export(r io.Reader, w io.Writer, f Filter) error {
	bw := bufio.NewWriter(w)
	err := each(context.Background(), r, f, func(raw []byte, _ *sluice.AuditEvent) error {
		_, err := bw.Write(raw)
		return err
	})
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// each calls fn for every line of r whose event matches f, until f.Limit.
func each(ctx context.Context, r io.Reader, f Filter, fn func(raw []byte, ev *sluice.AuditEvent) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for line := 1; ; line++ {
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		raw, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read line %d: %w", line, err)
		}
		if len(raw) > 0 {
			if raw[len(raw)-1] != '\n' {
				return fmt.Errorf("line %d: no trailing newline (a torn or truncated line)", line)
			}
			ev, derr := decodeEvent(raw[:len(raw)-1])
			if derr != nil {
				return fmt.Errorf("line %d: %w", line, derr)
			}
			if f.Match(ev) {
				if err := fn(raw, ev); err != nil {
					return err
				}
				if n++; f.Limit > 0 && n >= f.Limit {
					return nil
				}
			}
		}
		if err == io.EOF {
			return ctx.Err()
		}
	}
}
