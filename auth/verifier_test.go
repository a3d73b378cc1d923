package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sluice"
)

// staticFixture is a verifier with one RSA, one ECDSA and one Ed25519 key.
type staticFixture struct {
	clock *clock
	keys  map[string]crypto.Signer
	v     *Verifier
}

func newStaticFixture(t *testing.T, mutate func(*Config)) *staticFixture {
	t.Helper()
	f := &staticFixture{clock: newClock(), keys: map[string]crypto.Signer{
		"rsa-1": rsaKeyOnce(), "ec-1": ecKey(t), "ed-1": edKey(t),
	}}
	pub := make(map[string]crypto.PublicKey)
	for kid, k := range f.keys {
		pub[kid] = k.Public()
	}
	cfg := Config{Issuer: testIssuer, Audience: testAudience, PublicKeys: pub, Now: f.clock.Now}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func TestVerifyGoodTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	f := newStaticFixture(t, func(c *Config) { c.DevelopmentMode = true; c.HMACSecret = secret })
	for _, tc := range []struct {
		alg, kid string
		key      any
	}{
		{RS256, "rsa-1", f.keys["rsa-1"]},
		{ES256, "ec-1", f.keys["ec-1"]},
		{EdDSA, "ed-1", f.keys["ed-1"]},
		{HS256, DefaultHMACKeyID, secret},
		{HS256, "", secret},
	} {
		t.Run(tc.alg+"/"+tc.kid, func(t *testing.T) {
			c := claimsAt(f.clock.Now())
			c["sub"] = "user-" + tc.alg
			c["org"] = "bank-" + tc.kid
			c["roles"] = []string{sluice.RoleAnalyst, "superuser", sluice.RoleAuditor, sluice.RoleAnalyst}
			tok := sign(t, tc.alg, tc.key, tc.kid, c, nil)
			p, err := f.v.Verify(context.Background(), "Bearer "+tok)
			if err != nil {
				t.Fatal(err)
			}
			want := &sluice.Principal{Subject: "user-" + tc.alg, Organisation: "bank-" + tc.kid,
				Roles: []string{sluice.RoleAnalyst, sluice.RoleAuditor}}
			if !reflect.DeepEqual(p, want) {
				t.Fatalf("principal = %+v, want %+v", p, want)
			}
		})
	}
}

func TestVerifyMintedTokens(t *testing.T) {
	f := newStaticFixture(t, nil)
	for kid, key := range f.keys {
		alg, err := Algorithm(key)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMinter(alg, key, kid, testIssuer, testAudience)
		if err != nil {
			t.Fatal(err)
		}
		m.Now = f.clock.Now
		want := sluice.Principal{Subject: "bob", Organisation: "ops", Roles: []string{sluice.RoleReviewer, sluice.RoleAdmin}}
		tok, err := m.Mint(want, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if !reflect.DeepEqual(*p, want) {
			t.Fatalf("%s: principal = %+v, want %+v", alg, p, want)
		}
		f.clock.Advance(time.Minute + DefaultLeeway)
		_, err = f.v.Verify(context.Background(), tok)
		wantRule(t, err, RuleExpired)
	}
}

func TestVerifyClaimMapping(t *testing.T) {
	f := newStaticFixture(t, func(c *Config) { c.ClaimOrganisation = "https://sluice/org"; c.ClaimRoles = "groups" })
	key := f.keys["ec-1"]
	c := claimsAt(f.clock.Now())
	delete(c, "org")
	delete(c, "roles")
	c["https://sluice/org"] = "dept-health"
	c["groups"] = "owner  unknown owner admin" // a space-separated string
	c["aud"] = []string{"other", testAudience}
	p, err := f.v.Verify(context.Background(), sign(t, ES256, key, "ec-1", c, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &sluice.Principal{Subject: "alice", Organisation: "dept-health", Roles: []string{sluice.RoleOwner, sluice.RoleAdmin}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
	// The default claim names mean nothing to this verifier.
	c = claimsAt(f.clock.Now())
	_, err = f.v.Verify(context.Background(), sign(t, ES256, key, "ec-1", c, nil))
	wantRule(t, err, RuleOrganisation)
}

func TestVerifyRefusals(t *testing.T) {
	f := newStaticFixture(t, nil)
	now := f.clock.Now()
	rsaKey := f.keys["rsa-1"].(*rsa.PrivateKey)
	ec, ed := f.keys["ec-1"], f.keys["ed-1"]
	rsaPubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) jwt.MapClaims {
		c := claimsAt(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	good := sign(t, ES256, ec, "ec-1", claimsAt(now), nil)
	parts := strings.Split(good, ".")
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + testIssuer + `","aud":"sluice","sub":"mallory","org":"bank-a","roles":["admin"],"exp":9999999999}`))

	cases := []struct {
		name, token, rule string
	}{
		{"empty", "", RuleMissingToken},
		{"bearer only", "Bearer ", RuleMissingToken},
		{"malformed one segment", "abc", RuleMalformed},
		{"malformed two segments", "abc.def", RuleMalformed},
		{"malformed four segments", good + ".x", RuleMalformed},
		{"malformed base64", "!!!." + parts[1] + "." + parts[2], RuleMalformed},
		{"malformed header json", base64.RawURLEncoding.EncodeToString([]byte("[1]")) + "." + parts[1] + "." + parts[2], RuleMalformed},
		{"oversized", strings.Repeat("a", maxToken+1), RuleMalformed},
		{"alg none", sign(t, "none", jwt.UnsafeAllowNoneSignatureType, "rsa-1", claimsAt(now), nil), RuleAlg},
		{"alg none no kid", sign(t, "none", jwt.UnsafeAllowNoneSignatureType, "", claimsAt(now), nil), RuleAlg},
		{"alg missing", base64.RawURLEncoding.EncodeToString([]byte(`{"kid":"ec-1","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], RuleAlg},
		{"alg unknown", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XX999","kid":"ec-1"}`)) + "." + parts[1] + "." + parts[2], RuleAlg},
		{"alg PS256 not allowed", sign(t, "PS256", rsaKey, "rsa-1", claimsAt(now), nil), RuleAlg},
		{"HS256 outside development mode", sign(t, HS256, []byte("0123456789abcdef0123456789abcdef"), "rsa-1", claimsAt(now), nil), RuleAlg},
		{"HS256 with RSA public key as secret", sign(t, HS256, rsaPubDER, "rsa-1", claimsAt(now), nil), RuleAlg},
		{"missing kid", sign(t, ES256, ec, "", claimsAt(now), nil), RuleMissingKid},
		{"kid not a string", sign(t, ES256, ec, "", claimsAt(now), map[string]any{"kid": 7}), RuleMalformed},
		{"crit header", sign(t, ES256, ec, "ec-1", claimsAt(now), map[string]any{"crit": []string{"b64"}, "b64": false}), RuleMalformed},
		{"unknown kid", sign(t, ES256, ec, "ec-9", claimsAt(now), nil), RuleUnknownKid},
		{"ES256 with kid of RSA key", sign(t, ES256, ec, "rsa-1", claimsAt(now), nil), RuleKeyMismatch},
		{"RS256 with kid of EC key", sign(t, RS256, rsaKey, "ec-1", claimsAt(now), nil), RuleKeyMismatch},
		{"EdDSA with kid of EC key", sign(t, EdDSA, ed, "ec-1", claimsAt(now), nil), RuleKeyMismatch},
		{"ES256 with kid of Ed25519 key", sign(t, ES256, ec, "ed-1", claimsAt(now), nil), RuleKeyMismatch},
		{"signed by another key", sign(t, ES256, ecKey(t), "ec-1", claimsAt(now), nil), RuleSignature},
		{"tampered signature", tamper(t, good), RuleSignature},
		{"tampered payload", parts[0] + "." + otherPayload + "." + parts[2], RuleSignature},
		{"signature stripped", parts[0] + "." + parts[1] + ".", RuleSignature},
		{"expired", sign(t, ES256, ec, "ec-1", with("exp", now.Add(-time.Minute).Unix()), nil), RuleExpired},
		{"missing exp", sign(t, ES256, ec, "ec-1", with("exp", nil), nil), RuleExpMissing},
		{"exp not a number", sign(t, ES256, ec, "ec-1", with("exp", "tomorrow"), nil), RuleExpMissing},
		{"nbf in the future", sign(t, ES256, ec, "ec-1", with("nbf", now.Add(time.Minute).Unix()), nil), RuleNotYetValid},
		{"nbf not a number", sign(t, ES256, ec, "ec-1", with("nbf", "now"), nil), RuleClaims},
		{"wrong issuer", sign(t, ES256, ec, "ec-1", with("iss", "https://evil.example"), nil), RuleIssuer},
		{"missing issuer", sign(t, ES256, ec, "ec-1", with("iss", nil), nil), RuleIssuer},
		{"wrong audience", sign(t, ES256, ec, "ec-1", with("aud", "other-service"), nil), RuleAudience},
		{"wrong audiences", sign(t, ES256, ec, "ec-1", with("aud", []string{"a", "b"}), nil), RuleAudience},
		{"missing audience", sign(t, ES256, ec, "ec-1", with("aud", nil), nil), RuleAudience},
		{"missing subject", sign(t, ES256, ec, "ec-1", with("sub", nil), nil), RuleSubject},
		{"blank subject", sign(t, ES256, ec, "ec-1", with("sub", "  "), nil), RuleSubject},
		{"missing organisation", sign(t, ES256, ec, "ec-1", with("org", nil), nil), RuleOrganisation},
		{"organisation not a string", sign(t, ES256, ec, "ec-1", with("org", 42), nil), RuleOrganisation},
		{"no known role", sign(t, ES256, ec, "ec-1", with("roles", []string{"superuser", "Admin"}), nil), RuleRoles},
		{"missing roles", sign(t, ES256, ec, "ec-1", with("roles", nil), nil), RuleRoles},
		{"empty roles", sign(t, ES256, ec, "ec-1", with("roles", []string{}), nil), RuleRoles},
		{"roles not strings", sign(t, ES256, ec, "ec-1", with("roles", []int{1, 2}), nil), RuleRoles},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tc.token)
			if p != nil {
				t.Fatalf("principal = %+v, want none", p)
			}
			wantRule(t, err, tc.rule)
			if len(tc.token) > 8 && strings.Contains(err.Error(), tc.token[:8]) {
				t.Fatalf("error %q echoes the token", err)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	f := newStaticFixture(t, nil)
	now := f.clock.Now()
	ec := f.keys["ec-1"]
	c := claimsAt(now)
	c["exp"] = now.Add(-20 * time.Second).Unix()
	c["nbf"] = now.Add(20 * time.Second).Unix()
	if _, err := f.v.Verify(context.Background(), sign(t, ES256, ec, "ec-1", c, nil)); err != nil {
		t.Fatalf("within the default leeway: %v", err)
	}

	strict := newStaticFixture(t, func(c *Config) { c.Leeway = -1 })
	now = strict.clock.Now()
	c = claimsAt(now)
	c["exp"] = now.Add(-time.Second).Unix()
	_, err := strict.v.Verify(context.Background(), sign(t, ES256, strict.keys["ec-1"], "ec-1", c, nil))
	wantRule(t, err, RuleExpired)
}

func TestVerifyAlgorithmConfusionInDevelopmentMode(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	f := newStaticFixture(t, func(c *Config) { c.DevelopmentMode = true; c.HMACSecret = secret })
	rsaKey := f.keys["rsa-1"].(*rsa.PrivateKey)
	now := f.clock.Now()
	for _, enc := range []func(*rsa.PublicKey) ([]byte, error){
		func(k *rsa.PublicKey) ([]byte, error) { return x509.MarshalPKIXPublicKey(k) },
		func(k *rsa.PublicKey) ([]byte, error) { return x509.MarshalPKCS1PublicKey(k), nil },
	} {
		pub, err := enc(&rsaKey.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		// Named by the RSA key's kid: the key is not an HMAC secret.
		_, err = f.v.Verify(context.Background(), sign(t, HS256, pub, "rsa-1", claimsAt(now), nil))
		wantRule(t, err, RuleKeyMismatch)
		// Without a kid: the development secret, which does not match.
		_, err = f.v.Verify(context.Background(), sign(t, HS256, pub, "", claimsAt(now), nil))
		wantRule(t, err, RuleSignature)
	}
	// RS256 naming the HMAC secret's kid.
	_, err := f.v.Verify(context.Background(), sign(t, RS256, rsaKey, DefaultHMACKeyID, claimsAt(now), nil))
	wantRule(t, err, RuleKeyMismatch)
	// HS256 signed with another secret.
	_, err = f.v.Verify(context.Background(), sign(t, HS256, []byte("another secret of thirty-two bytes!"), "", claimsAt(now), nil))
	wantRule(t, err, RuleSignature)
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	ec := ecKey(t)
	keys := map[string]crypto.PublicKey{"ec-1": ec.Public()}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Audience: testAudience, PublicKeys: keys}},
		{"no audience", Config{Issuer: testIssuer, PublicKeys: keys}},
		{"no keys", Config{Issuer: testIssuer, Audience: testAudience}},
		{"HMAC outside development mode", Config{Issuer: testIssuer, Audience: testAudience, HMACSecret: secret}},
		{"short HMAC secret", Config{Issuer: testIssuer, Audience: testAudience, HMACSecret: []byte("short"), DevelopmentMode: true}},
		{"weak RSA key", Config{Issuer: testIssuer, Audience: testAudience, PublicKeys: map[string]crypto.PublicKey{"w": &weak.PublicKey}}},
		{"empty kid", Config{Issuer: testIssuer, Audience: testAudience, PublicKeys: map[string]crypto.PublicKey{"": ec.Public()}}},
		{"unsupported key", Config{Issuer: testIssuer, Audience: testAudience, PublicKeys: map[string]crypto.PublicKey{"x": "not a key"}}},
		{"HMAC kid clash", Config{Issuer: testIssuer, Audience: testAudience, DevelopmentMode: true, HMACSecret: secret,
			PublicKeys: map[string]crypto.PublicKey{DefaultHMACKeyID: ec.Public()}}},
		{"plain http JWKS URL", Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: "http://idp.example.test/jwks"}},
		{"unreachable JWKS URL", Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: "http://127.0.0.1:1/jwks"}},
		{"missing JWKS file", Config{Issuer: testIssuer, Audience: testAudience, JWKSFile: t.TempDir() + "/none.json"}},
		{"missing public key file", Config{Issuer: testIssuer, Audience: testAudience, PublicKeyFiles: map[string]string{"k": t.TempDir() + "/none.pem"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := NewVerifier(tc.cfg); err == nil {
				t.Fatalf("NewVerifier = %v, want an error", v)
			}
		})
	}
}
