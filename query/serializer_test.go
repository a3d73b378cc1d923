package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bindings "github.com/duckdb/duckdb-go-bindings"
)

// newSerializer opens a serializer that closes when the test ends.
func newSerializer(t *testing.T) *serializer {
	t.Helper()
	s, err := openSerializer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// The parser's instance refuses to change its settings: they were locked
// when it opened, before any text reached it.
func TestSerializerLocked(t *testing.T) {
	s := newSerializer(t)
	var conn bindings.Connection
	if bindings.Connect(s.db, &conn) == bindings.StateError {
		t.Fatal("cannot connect")
	}
	defer bindings.Disconnect(&conn)
	for _, q := range []string{
		"SET enable_external_access = true",
		"SET lock_configuration = false",
		"SET autoload_known_extensions = true",
		"SELECT * FROM read_text('/etc/hostname')",
	} {
		var res bindings.Result
		state := bindings.Query(conn, q, &res)
		msg := bindings.ResultError(&res)
		bindings.DestroyResult(&res)
		if state != bindings.StateError {
			t.Errorf("%s: ran in the parser's instance", q)
		} else {
			t.Logf("%s: %s", q, msg)
		}
	}
}

// Calls from many goroutines each get the tree of their own text, and the
// connections left waiting stay few.
func TestSerializeConcurrent(t *testing.T) {
	s := newSerializer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				marker := fmt.Sprintf("m%d_%d", g, i)
				out, err := s.serialize(context.Background(), "SELECT '"+marker+"' AS x")
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(out, []byte(`"`+marker+`"`)) || !bytes.HasPrefix(out, []byte(`{"error":false`)) {
					errs <- fmt.Errorf("%s: got %.200s", marker, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.idle); n > maxIdle {
		t.Errorf("%d idle connections, at most %d kept", n, maxIdle)
	}
}

// A cancelled context stops a call, before or during DuckDB's work, and
// the parser goes on serving calls afterwards.
func TestSerializeCancelled(t *testing.T) {
	s := newSerializer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.serialize(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before the call: got %v", err)
	}
	// A long text, its context cancelled while DuckDB parses it: either the
	// parse finished first or the call reports the cancellation.
	long := "SELECT " + strings.Repeat("1, ", MaxSQLBytes/3-10) + "1"
	interrupted := 0
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*100*time.Microsecond)
		out, err := s.serialize(ctx, long)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			interrupted++
		case err != nil:
			t.Fatalf("deadline %d00µs: %v", i, err)
		case !bytes.HasPrefix(out, []byte(`{"error":false`)):
			t.Fatalf("deadline %d00µs: %.200s", i, out)
		}
		out, err = s.serialize(context.Background(), "SELECT 'after' AS x")
		if err != nil || !bytes.Contains(out, []byte(`"after"`)) {
			t.Fatalf("after a deadline of %d00µs: %v %.200s", i, err, out)
		}
	}
	t.Logf("%d of 20 calls interrupted", interrupted)
	if interrupted == 0 {
		t.Error("no call was interrupted, even with a deadline of 0")
	}
}

// close waits for the calls running and refuses new ones, so none uses a
// closed instance (run with -race: the race detector saw it before).
func TestSerializerCloseWaitsForCalls(t *testing.T) {
	for round := 0; round < 30; round++ {
		s, err := openSerializer()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					out, err := s.serialize(context.Background(), "SELECT 1")
					if err != nil {
						if !strings.Contains(err.Error(), "closed") {
							t.Errorf("a call during close: %v", err)
						}
						return
					}
					if !bytes.HasPrefix(out, []byte(`{"error":false`)) {
						t.Errorf("a call during close: %.100s", out)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round%10) * 100 * time.Microsecond)
		s.close()
		wg.Wait()
	}
}

// A text DuckDB refuses to bind is refused with a reason.
func TestSerializeRefusedText(t *testing.T) {
	s := newSerializer(t)
	_, err := s.serialize(context.Background(), "SELECT '\xff'")
	if err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: got %v", err)
	}
}
