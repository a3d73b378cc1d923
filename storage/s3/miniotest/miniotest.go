// Package miniotest starts a real MinIO server for tests.
//
// Tests that need object storage call Start, which runs the pinned MinIO
// binary built by scripts/minio.sh on a free loopback port with a fresh data
// directory and random root credentials, and stops it when the test ends. No
// S3 mock is involved: what passes here passes against MinIO.
//
// The binary is looked up in this order: $SLUICE_MINIO, $SLUICE_TOOLS/minio,
// ~/.cache/sluice/bin/minio, then "minio" on PATH. When none is found the test
// is skipped with a message saying how to install it, unless
// SLUICE_REQUIRE_MINIO=1 is set (as CI does), in which case it fails.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// InstallHint is the command that installs the binary Start looks for.
const InstallHint = "scripts/minio.sh install"

// startTimeout bounds how long Start and Restart wait for the server to
// answer its liveness probe.
const startTimeout = 60 * time.Second

// Server is a running MinIO server owned by one test.
type Server struct {
	Endpoint  string // host:port, plain HTTP on 127.0.0.1
	AccessKey string // the root user
	SecretKey string // the root password

	tb      testing.TB
	bin     string
	dataDir string
	console string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	output  *lockedBuffer // the server's combined stdout and stderr
	stopped bool
}

// Binary returns the path of the MinIO binary Start would run, or "" when
// none is installed.
func Binary() string {
	if p := os.Getenv("SLUICE_MINIO"); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	var candidates []string
	if d := os.Getenv("SLUICE_TOOLS"); d != "" {
		candidates = append(candidates, filepath.Join(d, "minio"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".cache", "sluice", "bin", "minio"))
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// Required reports whether a missing MinIO binary fails tests rather than
// skipping them (SLUICE_REQUIRE_MINIO=1).
func Required() bool { return os.Getenv("SLUICE_REQUIRE_MINIO") == "1" }

// RequireBinary returns the MinIO binary's path, or skips tb (fails it when
// SLUICE_REQUIRE_MINIO=1) when none is installed.
func RequireBinary(tb testing.TB) string {
	tb.Helper()
	bin := Binary()
	if bin != "" {
		return bin
	}
	msg := "!!! MinIO not installed: run " + InstallHint +
		" (or set SLUICE_MINIO to a minio binary); object-storage tests did NOT run !!!"
	if Required() {
		tb.Fatal(msg + " [SLUICE_REQUIRE_MINIO=1]")
	}
	tb.Skip(msg)
	return ""
}

// Start runs a MinIO server for tb and stops it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := RequireBinary(tb)
	s := &Server{
		tb:        tb,
		bin:       bin,
		dataDir:   tb.TempDir(),
		AccessKey: "sluice-" + randomHex(tb, 6),
		SecretKey: randomHex(tb, 20),
	}
	ports, err := freePorts(2)
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	s.Endpoint = "127.0.0.1:" + strconv.Itoa(ports[0])
	s.console = "127.0.0.1:" + strconv.Itoa(ports[1])
	tb.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	return s
}

// URL returns the server's base URL.
func (s *Server) URL() string { return "http://" + s.Endpoint }

// Stop kills the server at once, as a crash or a lost machine would, and
// waits for it to exit. Its data directory and port are kept for Restart.
// Stop is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil || s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.tb.Errorf("miniotest: server pid %d did not exit 30s after SIGKILL", s.cmd.Process.Pid)
	}
}

// Restart stops the server if it is running and starts it again on the same
// address with the same data directory and credentials, waiting until it is
// live. Objects written before the stop are there again.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	if err := s.start(); err != nil {
		s.tb.Fatalf("miniotest: restart: %v", err)
	}
}

// Output returns what the server has printed so far, for diagnosing a test.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.output == nil {
		return ""
	}
	return s.output.String()
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A killed server's port can take a moment to become free again, so a
	// server that exits during start-up is retried a few times.
	var lastErr error
	var out *lockedBuffer
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
			// The API address is kept (clients and Restart depend on it);
			// the console's is ours to change, in case another process took
			// it since it was picked.
			if err := s.repickConsole(); err != nil {
				return err
			}
		}
		out = &lockedBuffer{}
		cmd := exec.Command(s.bin, "server", s.dataDir,
			"--address", s.Endpoint,
			"--console-address", s.console,
			"--quiet")
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+s.AccessKey,
			"MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=on", // a test data directory on the root disk is fine
		)
		cmd.Stdout, cmd.Stderr = out, out
		setProcAttr(cmd)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", s.bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		s.cmd, s.exited, s.output, s.stopped = cmd, exited, out, false
		if lastErr = waitLive(s.URL(), exited); lastErr == nil {
			return nil
		}
		s.stopLocked()
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	return fmt.Errorf("server at %s did not become live: %v\n--- minio output ---\n%s", s.Endpoint, lastErr, out.String())
}

var errExited = errors.New("server exited")

func waitLive(base string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/minio/health/live", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("liveness probe: %s", resp.Status)
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All n listeners are held open until every port is picked, so the kernel
// cannot hand out the same port twice (two separate picks could, and MinIO
// then refuses a console address equal to its API address).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// repickConsole moves the console to a free port other than the API's.
func (s *Server) repickConsole() error {
	_, api, _ := net.SplitHostPort(s.Endpoint)
	for range 10 {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		if p := strconv.Itoa(ports[0]); p != api {
			s.console = "127.0.0.1:" + p
			return nil
		}
	}
	return fmt.Errorf("no free console port other than the API's %s", api)
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("miniotest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // keep memory bounded for chatty servers
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
