package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"sluice/sandbox"
)

// pool keeps locked sandboxes for reuse. A sandbox is keyed by exactly the
// dataset files and columns it exposes, so a reused instance never shows a
// query more than a fresh one would. Only SQL the rewriter rendered ever
// runs in a sandbox (no session state can be set), and an instance whose
// query failed is closed, not returned.
type pool struct {
	mu      sync.Mutex
	idle    map[string][]idleSandbox
	open    func(ctx context.Context, threads int, tables []sandbox.Table) (*sandbox.Sandbox, error)
	maxIdle int           // per key
	maxAge  time.Duration // idle instances older than this are closed
	now     func() time.Time
}

type idleSandbox struct {
	sb    *sandbox.Sandbox
	since time.Time
}

func newPool(open func(ctx context.Context, threads int, tables []sandbox.Table) (*sandbox.Sandbox, error), now func() time.Time) *pool {
	return &pool{idle: map[string][]idleSandbox{}, open: open, maxIdle: 8, maxAge: 5 * time.Minute, now: now}
}

func poolKey(threads int, tables []sandbox.Table) string {
	parts := make([]string, 0, len(tables))
	for _, t := range tables {
		cols := append([]string(nil), t.Columns...)
		sort.Strings(cols)
		parts = append(parts, t.Name+"="+t.File+":"+strings.Join(cols, ","))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d|%s", threads, strings.Join(parts, ";"))
}

// get returns an idle sandbox for exactly these tables, or opens one.
func (p *pool) get(ctx context.Context, threads int, tables []sandbox.Table) (*sandbox.Sandbox, string, error) {
	key := poolKey(threads, tables)
	p.mu.Lock()
	for len(p.idle[key]) > 0 {
		n := len(p.idle[key])
		it := p.idle[key][n-1]
		p.idle[key] = p.idle[key][:n-1]
		if p.now().Sub(it.since) < p.maxAge {
			p.mu.Unlock()
			return it.sb, key, nil
		}
		it.sb.Close()
	}
	p.mu.Unlock()
	sb, err := p.open(ctx, threads, tables)
	return sb, key, err
}

// put returns a healthy sandbox to the pool; a broken one is closed.
func (p *pool) put(key string, sb *sandbox.Sandbox, healthy bool) {
	if !healthy {
		sb.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[key]) >= p.maxIdle {
		sb.Close()
		return
	}
	p.idle[key] = append(p.idle[key], idleSandbox{sb: sb, since: p.now()})
}

// close closes every idle sandbox.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, list := range p.idle {
		for _, it := range list {
			it.sb.Close()
		}
		delete(p.idle, k)
	}
}
