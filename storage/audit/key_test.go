package audit

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "audit.key")
	pubPath := filepath.Join(dir, "audit.pub")
	key := newKey(t)
	if err := WriteKey(keyPath, key); err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(keyPath, newKey(t)); !errors.Is(err, os.ErrExist) {
		t.Fatalf("WriteKey over an existing file: %v", err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	got, err := ReadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("ReadKey returned another key")
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := WritePublicKey(pubPath, pub); err != nil {
		t.Fatal(err)
	}
	if err := WritePublicKey(pubPath, pub); !errors.Is(err, os.ErrExist) {
		t.Fatalf("WritePublicKey over an existing file: %v", err)
	}

	// An auditor verifies a log with the public key file alone.
	logPath := filepath.Join(dir, "audit.log")
	l := openLog(t, logPath, got, Options{})
	appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	auditorPub, err := ReadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyFile(t, logPath, map[string]ed25519.PublicKey{KeyID(auditorPub): auditorPub})
	if rep.Checkpoints != 1 || rep.UnsignedTail != 0 {
		t.Fatalf("report %+v", rep)
	}

	// The wrong kind of file is refused, naming it.
	for _, tc := range []struct {
		name string
		read func(string) error
		path string
		want string
	}{
		{"public key as private", func(p string) error { _, err := ReadKey(p); return err }, pubPath, `PEM block is "PUBLIC KEY"`},
		{"private key as public", func(p string) error { _, err := ReadPublicKey(p); return err }, keyPath, `PEM block is "PRIVATE KEY"`},
		{"not PEM", func(p string) error { _, err := ReadKey(p); return err }, logPath, "no PEM block"},
	} {
		if err := tc.read(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestOpenRefusesBadKey(t *testing.T) {
	if _, err := Open(tempLog(t), nil, Options{}); err == nil {
		t.Fatal("Open without a key succeeded")
	}
}
