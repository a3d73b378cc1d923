package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sluice"
)

func TestJWKSRoundTrip(t *testing.T) {
	rk, ek, dk := rsaKeyOnce(), ecKey(t), edKey(t)
	doc, err := JWKS(map[string]crypto.PublicKey{
		"r": rk.Public(), "e": ek, "d": dk.Public(), // a private key is written as its public half
	})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range raw.Keys {
		if _, ok := k["d"]; ok {
			t.Fatalf("JWKS leaks a private key: %v", k)
		}
		if k["use"] != "sig" {
			t.Fatalf("key %v: use = %v", k["kid"], k["use"])
		}
	}
	keys, err := parseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]verificationKey{
		"r": {key: rk.Public(), alg: RS256},
		"e": {key: ek.Public(), alg: ES256},
		"d": {key: dk.Public(), alg: EdDSA},
	}
	if len(keys) != len(want) {
		t.Fatalf("parsed %d keys, want %d", len(keys), len(want))
	}
	for kid, w := range want {
		got := keys[kid]
		eq, ok := got.key.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(w.key) || got.alg != w.alg {
			t.Fatalf("key %s = %+v, want %+v", kid, got, w)
		}
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	good, err := JWKS(map[string]crypto.PublicKey{"good": ecKey(t).Public()})
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(good, &set); err != nil {
		t.Fatal(err)
	}
	ecJWK := func(kid string, edit map[string]any) map[string]any {
		k := map[string]any{}
		for n, v := range set.Keys[0] {
			k[n] = v
		}
		k["kid"] = kid
		for n, v := range edit {
			if v == nil {
				delete(k, n)
			} else {
				k[n] = v
			}
		}
		return k
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384b, _ := p384.PublicKey.Bytes()
	keys := []any{
		ecJWK("ok", nil),
		ecJWK("enc", map[string]any{"use": "enc"}),
		ecJWK("ops", map[string]any{"key_ops": []string{"encrypt"}}),
		ecJWK("ops-verify", map[string]any{"key_ops": []string{"verify"}}),
		ecJWK("", nil),
		ecJWK("nokid", map[string]any{"kid": nil}),
		ecJWK("alg-mismatch", map[string]any{"alg": "RS256"}),
		ecJWK("no-alg", map[string]any{"alg": nil}),
		ecJWK("off-curve", map[string]any{"y": b64(make([]byte, 32))}),
		ecJWK("bad-b64", map[string]any{"x": "!!"}),
		ecJWK("dup", nil),
		ecJWK("dup", nil),
		map[string]any{"kid": "p384", "kty": "EC", "crv": "P-384", "x": b64(p384b[1:49]), "y": b64(p384b[49:])},
		map[string]any{"kid": "weak-rsa", "kty": "RSA", "n": b64(weak.N.Bytes()), "e": b64(big.NewInt(65537).Bytes())},
		map[string]any{"kid": "oct", "kty": "oct", "k": b64([]byte("0123456789abcdef0123456789abcdef"))},
		map[string]any{"kid": "x25519", "kty": "OKP", "crv": "X25519", "x": b64(make([]byte, 32))},
		map[string]any{"kid": "short-ed", "kty": "OKP", "crv": "Ed25519", "x": b64(make([]byte, 16))},
		map[string]any{"kid": 12, "kty": "EC"},
		"not an object",
	}
	doc, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for kid := range got {
		kids = append(kids, kid)
	}
	want := map[string]bool{"ok": true, "ops-verify": true, "no-alg": true}
	if len(got) != len(want) {
		t.Fatalf("kept %v, want %v", kids, want)
	}
	for kid := range want {
		if _, ok := got[kid]; !ok {
			t.Fatalf("kept %v, want %v", kids, want)
		}
	}

	for _, bad := range []string{`{}`, `[]`, `not json`, `{"keys": 3}`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Fatalf("parseJWKS(%s) succeeded", bad)
		}
	}
	if keys, err := parseJWKS([]byte(`{"keys": []}`)); err != nil || len(keys) != 0 {
		t.Fatalf("empty set = %v, %v", keys, err)
	}
}

// rotationFixture mints ES256 tokens for a set of kids.
type rotationFixture struct {
	t     *testing.T
	clock *clock
	keys  map[string]crypto.Signer
}

func (r *rotationFixture) pub(kids ...string) map[string]crypto.PublicKey {
	m := make(map[string]crypto.PublicKey)
	for _, kid := range kids {
		m[kid] = r.keys[kid].Public()
	}
	return m
}

func (r *rotationFixture) token(kid string) string {
	return sign(r.t, ES256, r.keys[kid], kid, claimsAt(r.clock.Now()), nil)
}

func newRotationFixture(t *testing.T, kids ...string) *rotationFixture {
	r := &rotationFixture{t: t, clock: newClock(), keys: make(map[string]crypto.Signer)}
	for _, kid := range kids {
		r.keys[kid] = ecKey(t)
	}
	return r
}

func TestRotationViaJWKSURL(t *testing.T) {
	ctx := context.Background()
	r := newRotationFixture(t, "k1", "k2")
	srv := newJWKSServer(t, r.pub("k1"))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks", Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatal(err)
	}
	// k2 is not published yet: refused after a forced refresh.
	_, err = v.Verify(ctx, r.token("k2"))
	wantRule(t, err, RuleUnknownKid)

	// k2 is published; the forced refresh is rate-limited for 10 s.
	srv.set(t, r.pub("k1", "k2"))
	_, err = v.Verify(ctx, r.token("k2"))
	wantRule(t, err, RuleUnknownKid)
	r.clock.Advance(ForcedRefreshInterval)
	if _, err := v.Verify(ctx, r.token("k2")); err != nil {
		t.Fatalf("new key after refresh: %v", err)
	}

	// k1 is withdrawn: still known until the next periodic refresh.
	srv.set(t, r.pub("k2"))
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatalf("old key before refresh: %v", err)
	}
	r.clock.Advance(DefaultRefresh)
	_, err = v.Verify(ctx, r.token("k1"))
	wantRule(t, err, RuleUnknownKid)
	if _, err := v.Verify(ctx, r.token("k2")); err != nil {
		t.Fatal(err)
	}
}

func TestRotationViaJWKSFile(t *testing.T) {
	ctx := context.Background()
	r := newRotationFixture(t, "k1", "k2")
	path := filepath.Join(t.TempDir(), "jwks.json")
	mtime := time.Now().Add(-time.Hour)
	write := func(kids ...string) {
		doc, err := JWKS(r.pub(kids...))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		mtime = mtime.Add(time.Minute)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("k1")
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSFile: path, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatal(err)
	}
	write("k1", "k2")
	if _, err := v.Verify(ctx, r.token("k2")); err != nil {
		t.Fatalf("new key after refresh: %v", err)
	}
	write("k2")
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatalf("old key before refresh: %v", err)
	}
	r.clock.Advance(DefaultRefresh)
	_, err = v.Verify(ctx, r.token("k1"))
	wantRule(t, err, RuleUnknownKid)

	// An explicit Refresh reads a changed file at once.
	write("k1")
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatal(err)
	}
	// A broken file keeps the keys as they were.
	if err := os.WriteFile(path, []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh of a broken file succeeded")
	}
	if _, err := v.Verify(ctx, r.token("k1")); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKidRefreshIsRateLimited(t *testing.T) {
	ctx := context.Background()
	r := newRotationFixture(t, "k1")
	srv := newJWKSServer(t, r.pub("k1"))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("hits after NewVerifier = %d, want 1", got)
	}
	attack := func(n int) {
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = sign(t, ES256, r.keys["k1"], fmt.Sprintf("attacker-%d", i), claimsAt(r.clock.Now()), nil)
		}
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				if _, err := v.Verify(ctx, tok); ruleOf(err) != RuleUnknownKid {
					t.Errorf("Verify = %v, want rule %s", err, RuleUnknownKid)
				}
			})
		}
		wg.Wait()
	}
	attack(50)
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits after 50 unknown kids = %d, want 2", got)
	}
	r.clock.Advance(ForcedRefreshInterval - time.Second)
	attack(20)
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits 9 s later = %d, want 2", got)
	}
	r.clock.Advance(time.Second)
	attack(20)
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits 10 s later = %d, want 3", got)
	}
	// Known kids never fetch.
	for range 20 {
		if _, err := v.Verify(ctx, r.token("k1")); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits after known kids = %d, want 3", got)
	}
}

func TestPeriodicRefreshIsShared(t *testing.T) {
	ctx := context.Background()
	r := newRotationFixture(t, "k1")
	srv := newJWKSServer(t, r.pub("k1"))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: r.clock.Now, Refresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv.delay.Store(int64(50 * time.Millisecond))
	tok := r.token("k1")
	r.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	// Unchanged set: the server answers 304 and the keys stay.
	r.clock.Advance(time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("hits = %d, want 3", got)
	}
}

func TestFailedRefreshKeepsKeys(t *testing.T) {
	ctx := context.Background()
	r := newRotationFixture(t, "k1")
	srv := newJWKSServer(t, r.pub("k1"))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.setStatus(http.StatusServiceUnavailable)
	r.clock.Advance(DefaultRefresh)
	tok := r.token("k1")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	// A failed refresh is retried after ForcedRefreshInterval, not at once.
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh against a failing server succeeded")
	}
	srv.setStatus(http.StatusOK)
	r.clock.Advance(ForcedRefreshInterval)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 4 {
		t.Fatalf("hits = %d, want 4", got)
	}
}

func TestForcedRefreshHonoursContext(t *testing.T) {
	r := newRotationFixture(t, "k1", "k2")
	srv := newJWKSServer(t, r.pub("k1"))
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.delay.Store(int64(500 * time.Millisecond))
	srv.set(t, r.pub("k1", "k2"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = v.Verify(ctx, r.token("k2"))
	wantRule(t, err, RuleUnknownKid)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("Verify waited %v past its context", d)
	}
	// The refresh ran on for others: once done, k2 verifies without a new fetch.
	if err := v.Refresh(context.Background()); err != nil { // joins or repeats the refresh
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), r.token("k2")); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentVerifyAndRotation(t *testing.T) {
	r := newRotationFixture(t, "k0", "k1", "k2", "k3", "k4")
	srv := newJWKSServer(t, r.pub("k0"))
	dir := t.TempDir()
	file := filepath.Join(dir, "jwks.json")
	ed := edKey(t)
	doc, err := JWKS(map[string]crypto.PublicKey{"file-ed": ed.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, JWKSFile: file,
		Now: r.clock.Now, Refresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	long := func() jwt.MapClaims { // outlives the clock's advance
		c := claimsAt(r.clock.Now())
		c["exp"] = r.clock.Now().Add(1000 * time.Hour).Unix()
		return c
	}
	tokens := make(map[string]string)
	for kid, key := range r.keys {
		tokens[kid] = sign(t, ES256, key, kid, long(), nil)
	}
	edTok := sign(t, EdDSA, ed, "file-ed", long(), nil)

	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // rotates keys and moves the clock
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.set(t, r.pub(fmt.Sprintf("k%d", i%5), fmt.Sprintf("k%d", (i+1)%5)))
			r.clock.Advance(time.Second)
			if i%7 == 0 {
				_ = v.Refresh(ctx)
			}
			time.Sleep(time.Millisecond)
		}
	})
	var workers sync.WaitGroup
	for w := range 8 {
		workers.Go(func() {
			for i := range 200 {
				kid := fmt.Sprintf("k%d", (w+i)%5)
				p, err := v.Verify(ctx, tokens[kid])
				if err != nil {
					if ruleOf(err) != RuleUnknownKid {
						t.Errorf("Verify = %v, want rule %s", err, RuleUnknownKid)
					}
				} else if p.Subject != "alice" {
					t.Errorf("subject = %q", p.Subject)
				}
				if _, err := v.Verify(ctx, edTok); err != nil {
					t.Errorf("file key: %v", err)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
}

func TestStaticKeysWinOverJWKS(t *testing.T) {
	r := newRotationFixture(t, "k1", "impostor")
	srv := newJWKSServer(t, map[string]crypto.PublicKey{"k1": r.keys["impostor"].Public()})
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: r.clock.Now,
		PublicKeys: r.pub("k1")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), r.token("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Roles, []string{sluice.RoleAnalyst}) {
		t.Fatalf("roles = %v", p.Roles)
	}
	forged := sign(t, ES256, r.keys["impostor"], "k1", claimsAt(r.clock.Now()), nil)
	_, err = v.Verify(context.Background(), forged)
	wantRule(t, err, RuleSignature)
}
