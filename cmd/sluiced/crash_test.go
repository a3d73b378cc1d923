package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sluice"
	"sluice/auth"
	"sluice/privacy"
	"sluice/service"
	"sluice/storage/audit"
	"sluice/storage/bolt"
)

// TestMain lets the test binary run as the server: the crash test starts
// it as a child process and kills it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICED_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, config string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-config", config)
	cmd.Env = append(os.Environ(), "SLUICED_CHILD=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "sluiced listening" {
				addr <- rec["addr"].(string)
			}
		}
	}()
	select {
	case a := <-addr:
		return &child{cmd: cmd, addr: a}
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sluiced did not start")
	}
	return nil
}

func call(t *testing.T, c *child, method, path, token string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+c.addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the server died under us
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

// A real server process is killed with SIGKILL while releases are in
// flight. After a restart every reservation is accounted for (none is
// left open, and the ledger's record re-adds to its balances), every
// release that was returned has its audit event, and the audit log
// verifies.
func TestCrashDuringReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real server processes")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	config := filepath.Join(dir, "sluiced.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\ndemo: true\ndemo_scale: 0.05\nbreaker:\n  disabled: true\n", data)), 0o644)
	c := startChild(t, config)
	defer func() { c.cmd.Process.Kill(); c.cmd.Wait() }()

	key, err := auth.ReadKeyFile(filepath.Join(data, "dev", "signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := auth.NewMinter(auth.ES256, key, "dev-1", "sluice-dev", "sluice")
	tok := func(sub, org, role string) string {
		s, err := m.Mint(sluice.Principal{Subject: sub, Organisation: org, Roles: []string{role}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bank, reviewer := tok("li.wei", "bank-of-pudong", "analyst"), tok("zhang.min", "data-ops-center", "reviewer")
	now := time.Now().UTC()
	terms := sluice.Terms{Purpose: "inclusive-finance-sme-credit", Grants: []sluice.Grant{{Dataset: "tax_monthly", Columns: []string{"credit_code", "tax_paid"}}},
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.AddDate(0, 1, 0), Budget: sluice.Budget{Epsilon: 100, Delta: 1e-5, EpsilonPerQuery: 0.1, DeltaPerQuery: 1e-7}}
	var app sluice.Application
	if code := call(t, c, "POST", "/v1/applications", bank, map[string]any{"terms": terms}, &app); code != 201 {
		t.Fatalf("apply: %d", code)
	}
	call(t, c, "POST", "/v1/applications/"+app.ID+"/accept", reviewer, nil, nil)
	var authz sluice.Authorization
	if code := call(t, c, "POST", "/v1/applications/"+app.ID+"/approve", reviewer, service.Approval{Reason: "ok"}, &authz); code != 200 {
		t.Fatalf("approve: %d", code)
	}

	// Releases in flight; kill -9 once a few have come back.
	var mu sync.Mutex
	var released []string
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("req-%02d", i)
			run := service.Run{Authorization: authz.ID, RequestID: id, SQL: fmt.Sprintf("SELECT count(*), sum(tax_paid) FROM tax_monthly WHERE tax_paid > %d", i)}
			if call(t, c, "POST", "/v1/queries", bank, run, nil) == 200 {
				mu.Lock()
				released = append(released, id)
				if len(released) == 8 {
					close(done)
				}
				mu.Unlock()
			}
		}(i)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("no releases came back")
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	wg.Wait()
	t.Logf("%d releases returned before the kill", len(released))

	// Restart: ledger recovery runs; then stop cleanly to inspect the files.
	c2 := startChild(t, config)
	c2.cmd.Process.Signal(syscall.SIGTERM)
	if err := c2.cmd.Wait(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}

	pub, err := audit.ReadPublicKey(filepath.Join(data, "audit", "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyFile(filepath.Join(data, "audit", "audit.log"), map[string]ed25519.PublicKey{audit.KeyID(pub): pub})
	if err != nil || rep.FirstBad != nil || rep.UnsignedTail != 0 {
		t.Fatalf("audit verify: %+v %v", rep, err)
	}
	f, _ := os.Open(filepath.Join(data, "audit", "audit.log"))
	var evs bytes.Buffer
	audit.Export(f, &evs, audit.Filter{Kind: "query"})
	f.Close()
	audited := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(evs.String()), "\n") {
		var e sluice.AuditEvent
		if json.Unmarshal([]byte(line), &e) == nil && e.Outcome == "released" {
			audited[e.RequestID] = true
		}
	}
	for _, id := range released {
		if !audited[id] {
			t.Errorf("release %s was returned without its audit event", id)
		}
	}
	store, err := bolt.Open(filepath.Join(data, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.View(context.Background(), func(tx sluice.Tx) error {
		bals, err := privacy.Balances(tx, "")
		if err != nil {
			t.Fatal(err)
		}
		replay, _ := privacy.Replay(tx)
		a := bals[privacy.ScopeKey("authorization", authz.ID)]
		if a.Reserved != (privacy.Cost{}) {
			t.Errorf("reservations left open after recovery: %+v", a.Reserved)
		}
		if got, min := float64(a.Committed.Epsilon)*privacy.EpsilonUnit, 0.1*float64(len(released)); got < min-1e-9 {
			t.Errorf("committed ε %g for %d releases", got, len(released))
		}
		for k, b := range bals {
			if replay[k] != b {
				t.Errorf("scope %s: balance %+v, ledger record %+v", k, b, replay[k])
			}
		}
		return nil
	})
}
