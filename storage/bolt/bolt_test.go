package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"sluice"
)

func TestStoreRoundTripAndRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = s.Update(ctx, func(tx sluice.Tx) error {
		if err := tx.PutApplication(&sluice.Application{ID: "app1", State: sluice.AppSubmitted}); err != nil {
			return err
		}
		return tx.Put("ledger", "k1", []byte("v1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed transaction leaves nothing behind.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx sluice.Tx) error {
		tx.PutApplication(&sluice.Application{ID: "app2"})
		tx.Put("ledger", "k2", []byte("v2"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	s.Close()
	// Reopen: what committed survives.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx sluice.Tx) error {
		a, err := tx.Application("app1")
		if err != nil || a.State != sluice.AppSubmitted {
			t.Errorf("app1: %v %v", a, err)
		}
		if _, err := tx.Application("app2"); sluice.ErrorCode(err) != sluice.ENOTFOUND {
			t.Errorf("app2 after rollback: %v", err)
		}
		if v, _ := tx.Get("ledger", "k2"); v != nil {
			t.Errorf("k2 after rollback: %s", v)
		}
		var keys []string
		tx.Scan("ledger", "k", func(k string, v []byte) bool { keys = append(keys, k+"="+string(v)); return true })
		if len(keys) != 1 || keys[0] != "k1=v1" {
			t.Errorf("scan: %v", keys)
		}
		if err := tx.Put("ledger", "x", nil); err == nil {
			t.Error("write in a read-only transaction succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
