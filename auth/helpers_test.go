package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sluice"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "sluice"
)

// clock is a fake clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// RSA key generation is slow, so the tests share a few keys.
var rsaKeyOnce = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(RS256).(*rsa.PrivateKey) })

func mustKey(alg string) crypto.Signer {
	k, err := GenerateKey(alg)
	if err != nil {
		panic(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	return mustKey(ES256).(*ecdsa.PrivateKey)
}

func edKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	return mustKey(EdDSA).(ed25519.PrivateKey)
}

// claimsAt returns valid claims for a token issued at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   "alice",
		"org":   "bank-a",
		"roles": []string{sluice.RoleAnalyst},
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
}

// sign signs claims with alg and key, setting kid (if not "") and any extra
// header fields.
func sign(t *testing.T, alg string, key any, kid string, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return s
}

// ruleOf returns the rule of an unauthorized *sluice.Error, or a
// description of any other error.
func ruleOf(err error) string {
	var e *sluice.Error
	if !errors.As(err, &e) || e.Code != sluice.EUNAUTHORIZED {
		return fmt.Sprintf("not an unauthorized error: %v", err)
	}
	return e.Rule
}

// wantRule fails unless err is an unauthorized *sluice.Error with rule.
func wantRule(t *testing.T, err error, rule string) {
	t.Helper()
	var e *sluice.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *sluice.Error with rule %s", err, err, rule)
	}
	if e.Code != sluice.EUNAUTHORIZED || e.Rule != rule {
		t.Fatalf("error = %q code %s rule %s, want code %s rule %s", e.Message, e.Code, e.Rule, sluice.EUNAUTHORIZED, rule)
	}
}

// jwksServer serves a JWK Set that tests can change, with ETags, and counts
// its requests.
type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	delay atomic.Int64 // nanoseconds per request

	mu     sync.Mutex
	doc    []byte
	status int
	rev    int
}

func newJWKSServer(t *testing.T, keys map[string]crypto.PublicKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.set(t, keys)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		time.Sleep(time.Duration(s.delay.Load()))
		s.mu.Lock()
		doc, status, etag := s.doc, s.status, fmt.Sprintf(`"rev-%d"`, s.rev)
		s.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t *testing.T, keys map[string]crypto.PublicKey) {
	t.Helper()
	doc, err := JWKS(keys)
	if err != nil {
		t.Error(err) // may run on another goroutine than the test's
		return
	}
	s.mu.Lock()
	s.doc, s.rev = doc, s.rev+1
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// tamper flips one bit of the token's signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}
