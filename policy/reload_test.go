package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"sluice"
)

// dataJSON is the default bundle's data.json with max_groups set to n.
func dataJSON(t testing.TB, n string) string {
	t.Helper()
	b, err := bundleFS.ReadFile("bundle/data.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"max_groups": 1000`)) {
		t.Fatal("data.json has no max_groups of 1000")
	}
	return strings.Replace(string(b), `"max_groups": 1000`, `"max_groups": `+n, 1)
}

func maxGroups(t testing.TB, e *Engine) int {
	t.Helper()
	d, err := e.Decide(context.Background(), query())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow {
		t.Fatalf("the happy path is refused: %+v", d.Deny)
	}
	return d.Obligations.MaxGroups
}

// TestReloadRefusesBadPolicy checks that a policy that does not parse or
// does not compile is refused with OPA's error code and its file:line, and
// that the old policy stays in force.
func TestReloadRefusesBadPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
		compile    bool // a compile error (ast.Errors), not one found by the self-check
	}{
		{"parse error", "package sluice\n\nbroken if {\n\tinput.x == 1 +\n}\n", []string{"broken.rego:5", "rego_parse_error"}, true},
		{"unsafe variable", "package sluice\n\n\nbroken if {\n\tx > 1\n}\n", []string{"broken.rego:5", "rego_unsafe_var_error", "var x is unsafe"}, true},
		{"unknown function", "package sluice\n\nbroken if no_such_function(input.x)\n", []string{"broken.rego:3", "rego_type_error", "undefined function no_such_function"}, true},
		{"conflicting decision", "package sluice\n\ndecision := true\n", []string{"broken.rego:3", "eval_conflict_error"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBundle(t)
			var reported []error
			e := newEngine(t, Options{Dir: dir, OnReload: func(_ string, err error) { reported = append(reported, err) }})
			before := e.Revision()

			writeFile(t, dir, "broken.rego", tc.text)
			err := e.Reload(context.Background())
			if err == nil {
				t.Fatal("Reload accepted a bad policy")
			}
			t.Log(err)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q: %v", want, err)
				}
			}
			var astErrs ast.Errors
			if tc.compile && (!errors.As(err, &astErrs) || astErrs[0].Location == nil || !strings.HasSuffix(astErrs[0].Location.File, "broken.rego")) {
				t.Errorf("the error chain holds no located ast.Errors: %#v", err)
			}
			if e.Revision() != before {
				t.Errorf("revision changed from %s to %s", before, e.Revision())
			}
			if got := maxGroups(t, e); got != 1000 {
				t.Errorf("max_groups = %d after a refused reload", got)
			}
			if len(reported) != 1 || reported[0] == nil {
				t.Errorf("OnReload got %v", reported)
			}
		})
	}
}

func TestReloadBadData(t *testing.T) {
	dir := copyBundle(t)
	e := newEngine(t, Options{Dir: dir})
	writeFile(t, dir, "data.json", `{"defaults": {`)
	err := e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "data.json") {
		t.Fatalf("err = %v, want one naming data.json", err)
	}
	if got := maxGroups(t, e); got != 1000 {
		t.Errorf("max_groups = %d after a refused reload", got)
	}
}

func TestReloadPutsNewPolicyInForce(t *testing.T) {
	dir := copyBundle(t)
	e := newEngine(t, Options{Dir: dir})
	before := e.Revision()
	writeFile(t, dir, "data.json", dataJSON(t, "250"))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Revision() == before {
		t.Error("the revision did not change")
	}
	if got := maxGroups(t, e); got != 250 {
		t.Errorf("max_groups = %d, want 250", got)
	}
}

func TestReloadKeepsStoredAuthorizations(t *testing.T) {
	dir := copyBundle(t)
	e := newEngine(t, Options{Dir: dir})
	ctx := context.Background()
	if err := e.SetAuthorizations(ctx, []*sluice.Authorization{authorization()}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "data.json", dataJSON(t, "250"))
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	in := query()
	in.Authorization, in.AuthorizationID = nil, "authz-1"
	d, err := e.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Obligations.MaxGroups != 250 {
		t.Fatalf("decision = %+v", d)
	}
}

// syncBuffer is a bytes.Buffer safe for the watcher's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type reloadEvent struct {
	revision string
	err      error
}

func waitReload(t *testing.T, ch <-chan reloadEvent) reloadEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not reload")
	}
	return reloadEvent{}
}

func TestWatch(t *testing.T) {
	dir := copyBundle(t)
	var logs syncBuffer
	events := make(chan reloadEvent, 16)
	e := newEngine(t, Options{
		Dir:      dir,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		OnReload: func(rev string, err error) { events <- reloadEvent{rev, err} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	before := e.Revision()
	writeFile(t, dir, "data.json", dataJSON(t, "77"))
	ev := waitReload(t, events)
	if ev.err != nil || ev.revision == before || ev.revision != e.Revision() {
		t.Fatalf("reload = %+v, engine at %s (was %s)", ev, e.Revision(), before)
	}
	if got := maxGroups(t, e); got != 77 {
		t.Errorf("max_groups = %d, want 77", got)
	}

	// A bad file is refused, logged at Error level with its location, reported once.
	good := e.Revision()
	writeFile(t, dir, "zz_broken.rego", "package sluice\n\nbroken if {\n")
	ev = waitReload(t, events)
	if ev.err == nil || ev.revision != good {
		t.Fatalf("reload = %+v, want a refusal keeping %s", ev, good)
	}
	if got := maxGroups(t, e); got != 77 {
		t.Errorf("max_groups = %d after a refused reload, want 77", got)
	}
	if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "zz_broken.rego:4: rego_parse_error") {
		t.Errorf("the refusal is not logged with its location:\n%s", log)
	}
	time.Sleep(50 * time.Millisecond) // several polls: the same bad content is not reported again
	select {
	case ev := <-events:
		t.Errorf("the same refusal was reported again: %+v", ev)
	default:
	}

	// Removing it and changing the data again is picked up.
	if err := os.Remove(filepath.Join(dir, "zz_broken.rego")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "data.json", dataJSON(t, "88"))
	for ev = waitReload(t, events); ev.err != nil || maxGroups(t, e) != 88; ev = waitReload(t, events) {
	}
}

func TestWatchEmbeddedReturns(t *testing.T) {
	e := newEngine(t, Options{})
	done := make(chan struct{})
	go func() { e.Watch(context.Background(), time.Millisecond); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch of the embedded bundle did not return")
	}
}

// TestConcurrentDecideDuringReload decides from many goroutines, half with
// the authorization in the input and half from the store, while the policy
// is reloaded, alternately good (two versions) and bad, and the stored
// authorizations are replaced. No decision
// may fail, and every decision must be wholly of one revision: its
// obligations always match the revision it names.
func TestConcurrentDecideDuringReload(t *testing.T) {
	dir := copyBundle(t)
	e := newEngine(t, Options{Dir: dir})
	ctx := context.Background()
	stop := make(chan struct{})

	var (
		mu     sync.Mutex
		seen   = map[string]int{} // revision → max_groups
		failed []error
	)
	if err := e.SetAuthorizations(ctx, []*sluice.Authorization{authorization()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // the authorizations held in the store change too
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			auths := benchAuthorizations(1 + i%50)
			auths[0].ID = "authz-1"
			if err := e.SetAuthorizations(ctx, auths); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		}
	})
	for g := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				in := query()
				if g%2 == 1 { // by id, from the store
					in.Authorization, in.AuthorizationID = nil, "authz-1"
				}
				d, err := e.Decide(ctx, in)
				mu.Lock()
				switch {
				case err != nil:
					failed = append(failed, err)
				case !d.Allow:
					failed = append(failed, errors.New("refused: "+d.Deny[0].Message))
				default:
					if n, ok := seen[d.Revision]; ok && n != d.Obligations.MaxGroups {
						failed = append(failed, errors.New("revision "+d.Revision+" decided with two policies"))
					}
					seen[d.Revision] = d.Obligations.MaxGroups
				}
				mu.Unlock()
			}
		})
	}

	var refused int
	for i := range 12 {
		switch i % 3 {
		case 0:
			writeFile(t, dir, "data.json", dataJSON(t, "2000"))
		case 1:
			writeFile(t, dir, "broken.rego", "package sluice\n\ndeny contains x if {\n")
		case 2:
			if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "data.json", dataJSON(t, "1000"))
		}
		if err := e.Reload(ctx); err != nil {
			refused++
		}
	}
	close(stop)
	wg.Wait()

	if len(failed) > 0 {
		t.Fatalf("%d decisions failed; first: %v", len(failed), failed[0])
	}
	if refused != 4 {
		t.Errorf("%d reloads refused, want 4", refused)
	}
	if len(seen) != 2 {
		t.Errorf("decisions saw %d revisions, want 2: %v", len(seen), seen)
	}
	for rev, n := range seen {
		if n != 1000 && n != 2000 {
			t.Errorf("revision %s decided max_groups %d", rev, n)
		}
	}
}
