package policy

import (
	"context"
	"time"
)

// Watch polls Dir every interval and reloads the policy when its files
// change (by content: the revision of the modules and data.json). It returns
// when ctx is done; run it in its own goroutine. A watcher has no caller to
// return errors to, so a refused reload is logged at Error level (once per
// distinct content) and reported to Options.OnReload; the old policy stays
// in force. With the embedded bundle, which cannot change, Watch returns at
// once.
func (e *Engine) Watch(ctx context.Context, interval time.Duration) {
	if e.dir == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var refused string // the content last refused, or the last read error
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		src, err := readSources(e.dir)
		if err != nil {
			if err.Error() != refused {
				refused = err.Error()
				e.report(ctx, err)
			}
			continue
		}
		if src.revision == e.Revision() {
			refused = "" // back to the policy in force
			continue
		}
		if src.revision == refused {
			continue
		}
		old := e.Revision()
		if err := e.reload(ctx, src); err != nil {
			refused = src.revision
			e.report(ctx, err)
			continue
		}
		refused = ""
		e.logger.InfoContext(ctx, "policy reloaded", "dir", e.dir, "from", old, "revision", src.revision)
		if e.onReload != nil {
			e.onReload(src.revision, nil)
		}
	}
}

// report logs a refused reload and tells OnReload.
func (e *Engine) report(ctx context.Context, err error) {
	e.logger.ErrorContext(ctx, "policy reload refused; the old policy stays in force",
		"dir", e.dir, "revision", e.Revision(), "error", err)
	if e.onReload != nil {
		e.onReload(e.Revision(), err)
	}
}
