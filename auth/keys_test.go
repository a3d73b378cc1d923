package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sluice"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{ES256, EdDSA, RS256} {
		t.Run(alg, func(t *testing.T) {
			var key crypto.Signer
			if alg == RS256 {
				key = rsaKeyOnce()
			} else {
				key = mustKey(alg)
			}
			path := filepath.Join(dir, alg+".pem")
			if err := WriteKeyFile(path, key); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Fatalf("key file mode = %v, want 0600", perm)
			}
			if err := WriteKeyFile(path, key); err == nil {
				t.Fatal("WriteKeyFile overwrote an existing file")
			}
			back, err := ReadKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !back.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
				t.Fatal("read key differs from written key")
			}
			if got, err := Algorithm(back); err != nil || got != alg {
				t.Fatalf("Algorithm = %q, %v; want %q", got, err, alg)
			}

			pubPath := filepath.Join(dir, alg+".pub.pem")
			if err := WritePublicKeyFile(pubPath, key); err != nil {
				t.Fatal(err)
			}
			pub, err := ReadPublicKeyFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatal("read public key differs")
			}
			// A private key file serves as a public key file too.
			if pub, err := ReadPublicKeyFile(path); err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Fatalf("public key from private key file: %v", err)
			}
		})
	}
}

func TestReadKeyFileLegacyFormats(t *testing.T) {
	dir := t.TempDir()
	ec := ecKey(t)
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rk := rsaKeyOnce()
	for name, b := range map[string]*pem.Block{
		"ec.pem":  {Type: "EC PRIVATE KEY", Bytes: der},
		"rsa.pem": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestKeyFilesRefuseBadKeys(t *testing.T) {
	dir := t.TempDir()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(filepath.Join(dir, "p384.pem"), p384); err == nil {
		t.Fatal("WriteKeyFile accepted a P-384 key")
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(weak)
	if err != nil {
		t.Fatal(err)
	}
	weakPath := filepath.Join(dir, "weak.pem")
	if err := os.WriteFile(weakPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(weakPath); err == nil {
		t.Fatal("ReadKeyFile accepted a 1024-bit RSA key")
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(garbage); err == nil {
		t.Fatal("ReadKeyFile accepted garbage")
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("ReadKeyFile accepted a missing file")
	}
	if _, err := GenerateKey(HS256); err == nil {
		t.Fatal("GenerateKey(HS256) succeeded")
	}
}

// TestDevTokenFlow is what `sluice dev token` and a server do: a key file
// mints, a JWKS file (or a public key file) verifies.
func TestDevTokenFlow(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "signing.pem")
	if err := WriteKeyFile(keyPath, mustKey(EdDSA)); err != nil {
		t.Fatal(err)
	}
	key, err := ReadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := JWKS(map[string]crypto.PublicKey{"dev-1": key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "signing.pub.pem")
	if err := WritePublicKeyFile(pubPath, key); err != nil {
		t.Fatal(err)
	}

	alg, err := Algorithm(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMinter(alg, key, "dev-1", testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	want := sluice.Principal{Subject: "carol", Organisation: "dept-tax", Roles: []string{sluice.RoleOwner}}
	tok, err := m.Mint(want, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"jwks file":       {Issuer: testIssuer, Audience: testAudience, JWKSFile: jwksPath},
		"public key file": {Issuer: testIssuer, Audience: testAudience, PublicKeyFiles: map[string]string{"dev-1": pubPath}},
	} {
		v, err := NewVerifier(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Subject != want.Subject || p.Organisation != want.Organisation || !p.Has(sluice.RoleOwner) {
			t.Fatalf("%s: principal = %+v", name, p)
		}
	}
}

func TestNewMinterRefusesMismatchedKeys(t *testing.T) {
	ec, ed, rk := ecKey(t), edKey(t), rsaKeyOnce()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		alg  string
		key  any
		kid  string
	}{
		{"RS256 with EC key", RS256, ec, "k"},
		{"ES256 with RSA key", ES256, rk, "k"},
		{"ES256 with P-384 key", ES256, p384, "k"},
		{"EdDSA with EC key", EdDSA, ec, "k"},
		{"EdDSA with public key", EdDSA, ed.Public(), "k"},
		{"HS256 with EC key", HS256, ec, "k"},
		{"HS256 with short secret", HS256, []byte("short"), "k"},
		{"unknown alg", "PS256", rk, "k"},
		{"none", "none", nil, "k"},
		{"no kid", ES256, ec, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewMinter(tc.alg, tc.key, tc.kid, testIssuer, testAudience); err == nil {
				t.Fatal("NewMinter succeeded")
			}
		})
	}
	if _, err := NewMinter(ES256, ec, "k", "", testAudience); err == nil {
		t.Fatal("NewMinter without issuer succeeded")
	}
}

func TestMintRefusesBadPrincipals(t *testing.T) {
	m, err := NewMinter(ES256, ecKey(t), "k", testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    sluice.Principal
		ttl  time.Duration
	}{
		{"no subject", sluice.Principal{Organisation: "o", Roles: []string{sluice.RoleAnalyst}}, time.Hour},
		{"no organisation", sluice.Principal{Subject: "s", Roles: []string{sluice.RoleAnalyst}}, time.Hour},
		{"no role", sluice.Principal{Subject: "s", Organisation: "o"}, time.Hour},
		{"unknown role", sluice.Principal{Subject: "s", Organisation: "o", Roles: []string{"root"}}, time.Hour},
		{"no lifetime", sluice.Principal{Subject: "s", Organisation: "o", Roles: []string{sluice.RoleAnalyst}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := m.Mint(tc.p, tc.ttl); err == nil {
				t.Fatalf("Mint = %q, want an error", tok)
			}
		})
	}
}

func TestMintHS256InDevelopmentMode(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	m, err := NewMinter(HS256, secret, "", testIssuer, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(sluice.Principal{Subject: "dev", Organisation: "lab", Roles: []string{sluice.RoleAdmin}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, DevelopmentMode: true, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	prod, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, PublicKeys: map[string]crypto.PublicKey{"k": ecKey(t).Public()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = prod.Verify(context.Background(), tok)
	wantRule(t, err, RuleAlg)
}
