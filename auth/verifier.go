// Package auth verifies the bearer tokens (JWTs) that authenticate Sluice's
// callers and maps them to principals, and mints tokens for the demo and
// tests.
//
// A Verifier accepts RS256, ES256 and EdDSA tokens signed by keys it knows by
// kid: keys given in its Config, read from PEM files, or read from a JWK Set
// in a file or at a URL. HS256 with a shared secret is allowed only in
// development mode. Every refusal is a *sluice.Error with code
// sluice.EUNAUTHORIZED and a rule naming the reason (see the Rule constants).
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sluice"
)

// Defaults and limits.
const (
	// DefaultRefresh is how often a JWK Set is re-read by default.
	DefaultRefresh = 5 * time.Minute
	// DefaultLeeway is the default allowance for clock skew.
	DefaultLeeway = 30 * time.Second
	// ForcedRefreshInterval is the least time between two refreshes of the
	// JWK Set forced by tokens with unknown kids.
	ForcedRefreshInterval = 10 * time.Second
	// DefaultHMACKeyID is the default kid of the development HMAC secret.
	DefaultHMACKeyID = "dev-hmac"

	fetchTimeout = 10 * time.Second
	maxToken     = 8 << 10
	// racyMtime is how long after its mtime a file must have been read for
	// an unchanged mtime to prove the content unchanged; file systems stamp
	// times coarsely.
	racyMtime = 2 * time.Second
)

// Config configures a Verifier. Issuer, Audience and at least one key are
// required.
type Config struct {
	// Issuer is the required iss claim.
	Issuer string
	// Audience is the audience the aud claim must contain.
	Audience string

	// JWKSFile is the path of a JWK Set; it is re-read on refresh when its
	// modification time or size changes.
	JWKSFile string
	// JWKSURL is the URL of a JWK Set. It must be https, unless its host is
	// a loopback address or DevelopmentMode is set.
	JWKSURL string
	// PublicKeys are verification keys by kid.
	PublicKeys map[string]crypto.PublicKey
	// PublicKeyFiles are paths of PEM public keys by kid, read once by
	// NewVerifier.
	PublicKeyFiles map[string]string

	// HMACSecret is a shared HS256 secret of at least 32 bytes. It is
	// refused unless DevelopmentMode is set.
	HMACSecret []byte
	// HMACKeyID is the kid of HMACSecret; HS256 tokens without a kid use it
	// too. It defaults to DefaultHMACKeyID.
	HMACKeyID string
	// DevelopmentMode allows HMACSecret (and so HS256) and plain-http JWKS
	// URLs.
	DevelopmentMode bool

	// Refresh is how often the JWK Sets are re-read; 0 means DefaultRefresh.
	Refresh time.Duration
	// Leeway is the allowance for clock skew on exp and nbf; 0 means
	// DefaultLeeway and a negative value none.
	Leeway time.Duration
	// HTTPClient fetches JWKSURL; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock, for the validity of tokens and the timing of
	// refreshes; nil means time.Now.
	Now func() time.Time

	// ClaimOrganisation names the claim of the caller's organisation;
	// "" means "org".
	ClaimOrganisation string
	// ClaimRoles names the claim of the caller's roles, a list of strings or
	// one space-separated string; "" means "roles".
	ClaimRoles string
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   []string
	parser *jwt.Parser
	client *http.Client
	static map[string]verificationKey

	keys atomic.Pointer[map[string]verificationKey] // static ∪ file ∪ URL

	mu         sync.Mutex
	next       time.Time // when the next periodic refresh is due
	lastForced time.Time // when an unknown kid last forced a refresh
	flight     *flight   // the refresh under way, if any

	// Touched only by the one refresh under way.
	fileKeys   map[string]verificationKey
	fileMod    time.Time
	fileSize   int64
	fileReadAt time.Time
	urlKeys    map[string]verificationKey
	etag       string
}

// flight is one refresh, awaited by every caller that wants it.
type flight struct {
	done chan struct{}
	err  error
}

// refreshMode says when a refresh is wanted.
type refreshMode int

const (
	refreshPeriodic refreshMode = iota // only when due
	refreshForced                      // for an unknown kid: rate-limited
	refreshNow                         // on request
)

// errRateLimited reports a forced refresh refused by the rate limit.
var errRateLimited = errors.New("JWKS refresh rate-limited")

// NewVerifier returns a Verifier for cfg. It reads the key files and JWK Sets
// once and fails if any of them cannot be read or no usable key results.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if len(cfg.HMACSecret) > 0 && !cfg.DevelopmentMode {
		return nil, errors.New("auth: an HMAC secret is allowed only in development mode")
	}
	if len(cfg.HMACSecret) > 0 && len(cfg.HMACSecret) < MinHMACSecret {
		return nil, fmt.Errorf("auth: the HMAC secret is shorter than %d bytes", MinHMACSecret)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClaimOrganisation == "" {
		cfg.ClaimOrganisation = "org"
	}
	if cfg.ClaimRoles == "" {
		cfg.ClaimRoles = "roles"
	}
	if cfg.HMACKeyID == "" {
		cfg.HMACKeyID = DefaultHMACKeyID
	}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL, cfg.DevelopmentMode); err != nil {
			return nil, err
		}
	}
	v := &Verifier{cfg: cfg, client: cfg.HTTPClient, static: make(map[string]verificationKey)}
	if v.client == nil {
		v.client = &http.Client{Timeout: fetchTimeout}
	}

	for kid, key := range cfg.PublicKeys {
		if s, ok := key.(crypto.Signer); ok {
			key = s.Public()
		}
		if err := v.addStatic(kid, verificationKey{key: key}); err != nil {
			return nil, err
		}
	}
	for kid, path := range cfg.PublicKeyFiles {
		key, err := ReadPublicKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if err := v.addStatic(kid, verificationKey{key: key}); err != nil {
			return nil, err
		}
	}
	v.algs = []string{RS256, ES256, EdDSA}
	if len(cfg.HMACSecret) > 0 {
		if _, dup := v.static[cfg.HMACKeyID]; dup {
			return nil, fmt.Errorf("auth: kid %q is given twice", cfg.HMACKeyID)
		}
		v.static[cfg.HMACKeyID] = verificationKey{key: slices.Clone(cfg.HMACSecret), alg: HS256}
		v.algs = append(v.algs, HS256)
	}

	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)

	v.publish()
	if v.remote() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		if err := v.load(ctx); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		v.next = cfg.Now().Add(cfg.Refresh)
	}
	if len(*v.keys.Load()) == 0 {
		return nil, errors.New("auth: no usable verification key")
	}
	return v, nil
}

// addStatic adds a configured key.
func (v *Verifier) addStatic(kid string, k verificationKey) error {
	if kid == "" {
		return errors.New("auth: a key has an empty kid")
	}
	if _, dup := v.static[kid]; dup {
		return fmt.Errorf("auth: kid %q is given twice", kid)
	}
	if err := checkPublicKey(k.key); err != nil {
		return fmt.Errorf("auth: key %q: %w", kid, err)
	}
	v.static[kid] = k
	return nil
}

// checkJWKSURL refuses JWK Set URLs that could be tampered with in transit.
func checkJWKSURL(raw string, dev bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS URL: %w", err)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); dev || host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("auth: a plain-http JWKS URL needs a loopback host or development mode")
	default:
		return fmt.Errorf("auth: JWKS URL scheme %q is not supported", u.Scheme)
	}
}

// Verify verifies a bearer token, given bare or as an Authorization header
// value ("Bearer …"), and returns its principal. A refused token yields a
// *sluice.Error with code sluice.EUNAUTHORIZED and one of the Rule
// constants as its rule; its message never contains the token.
func (v *Verifier) Verify(ctx context.Context, bearer string) (*sluice.Principal, error) {
	tok := strings.TrimSpace(bearer)
	if scheme, rest, ok := strings.Cut(tok, " "); ok && strings.EqualFold(scheme, "bearer") {
		tok = strings.TrimSpace(rest)
	} else if strings.EqualFold(tok, "bearer") {
		tok = ""
	}
	if tok == "" {
		return nil, refuse(RuleMissingToken)
	}
	if len(tok) > maxToken {
		return nil, refuse(RuleMalformed)
	}
	// A failed periodic refresh leaves the keys as they were; it is retried
	// after ForcedRefreshInterval.
	_ = v.refresh(ctx, refreshPeriodic)

	var keyErr *sluice.Error
	token, err := v.parser.ParseWithClaims(tok, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		k, e := v.key(ctx, t)
		if e != nil {
			keyErr = e
			return nil, e
		}
		return k, nil
	})
	if err != nil {
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, v.classify(token, err)
	}
	claims, ok := token.Claims.(jwt.MapClaims)
	if !ok {
		return nil, refuse(RuleClaims)
	}
	return v.principal(claims)
}

// key returns the verification key of t, which must be named by kid and of
// the type t's algorithm needs.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, *sluice.Error) {
	if _, crit := t.Header["crit"]; crit {
		return nil, refuse(RuleMalformed) // no extension is understood
	}
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, isString := raw.(string)
		if !isString {
			return nil, refuse(RuleMalformed)
		}
		kid = s
	}
	alg := t.Method.Alg()
	if kid == "" {
		if alg != HS256 {
			return nil, refuse(RuleMissingKid)
		}
		kid = v.cfg.HMACKeyID
	}
	vk, ok := v.lookup(kid)
	if !ok {
		if err := v.refresh(ctx, refreshForced); err == nil {
			vk, ok = v.lookup(kid)
		}
		if !ok {
			return nil, refuse(RuleUnknownKid)
		}
	}
	if vk.alg != "" && vk.alg != alg {
		return nil, refuse(RuleKeyMismatch)
	}
	switch k := vk.key.(type) {
	case *rsa.PublicKey:
		ok = alg == RS256
	case *ecdsa.PublicKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA
	case []byte:
		ok = alg == HS256
	default:
		ok = false
	}
	if !ok {
		return nil, refuse(RuleKeyMismatch)
	}
	return vk.key, nil
}

// lookup returns the key of kid.
func (v *Verifier) lookup(kid string) (verificationKey, bool) {
	k, ok := (*v.keys.Load())[kid]
	return k, ok
}

// classify maps a parse error of the jwt package to a refusal.
func (v *Verifier) classify(t *jwt.Token, err error) *sluice.Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed) || t == nil:
		return refuse(RuleMalformed)
	case t.Method == nil || !slices.Contains(v.algs, t.Method.Alg()):
		return refuse(RuleAlg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(RuleSignature)
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return refuse(RuleMalformed)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(RuleExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(RuleNotYetValid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(RuleIssuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(RuleAudience)
	}
	// A claim is missing or of the wrong type.
	c, ok := t.Claims.(jwt.MapClaims)
	if !ok {
		return refuse(RuleClaims)
	}
	if exp, err := c.GetExpirationTime(); err != nil || exp == nil {
		return refuse(RuleExpMissing)
	}
	if iss, err := c.GetIssuer(); err != nil || iss == "" {
		return refuse(RuleIssuer)
	}
	if aud, err := c.GetAudience(); err != nil || len(aud) == 0 {
		return refuse(RuleAudience)
	}
	return refuse(RuleClaims)
}

// principal maps verified claims to a principal.
func (v *Verifier) principal(c jwt.MapClaims) (*sluice.Principal, error) {
	sub, _ := c["sub"].(string)
	if strings.TrimSpace(sub) == "" {
		return nil, refuse(RuleSubject)
	}
	org, _ := c[v.cfg.ClaimOrganisation].(string)
	if strings.TrimSpace(org) == "" {
		return nil, refuse(RuleOrganisation)
	}
	var raw []string
	switch r := c[v.cfg.ClaimRoles].(type) {
	case string:
		raw = strings.Fields(r)
	case []any:
		for _, e := range r {
			if s, ok := e.(string); ok {
				raw = append(raw, s)
			}
		}
	}
	var roles []string
	for _, r := range raw {
		if knownRole(r) && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, refuse(RuleRoles)
	}
	return &sluice.Principal{Subject: sub, Organisation: org, Roles: roles}, nil
}

// knownRole reports whether r is one of Sluice's roles.
func knownRole(r string) bool {
	switch r {
	case sluice.RoleOwner, sluice.RoleAnalyst, sluice.RoleReviewer, sluice.RoleAuditor, sluice.RoleAdmin:
		return true
	}
	return false
}

// Refresh re-reads the JWK Sets now, whatever the time since the last
// refresh. It joins a refresh already under way. On error the keys of a
// source that failed stay as they were.
func (v *Verifier) Refresh(ctx context.Context) error {
	return v.refresh(ctx, refreshNow)
}

// remote reports whether keys come from a JWK Set.
func (v *Verifier) remote() bool {
	return v.cfg.JWKSFile != "" || v.cfg.JWKSURL != ""
}

// refresh re-reads the JWK Sets if mode asks for it now. Concurrent callers
// share one refresh; the refresh runs on even if a caller's context ends.
func (v *Verifier) refresh(ctx context.Context, mode refreshMode) error {
	if !v.remote() {
		return nil
	}
	v.mu.Lock()
	now := v.cfg.Now()
	if mode == refreshPeriodic && now.Before(v.next) {
		v.mu.Unlock()
		return nil
	}
	f := v.flight
	if f == nil {
		if mode == refreshForced {
			if d := now.Sub(v.lastForced); !v.lastForced.IsZero() && d < ForcedRefreshInterval && d > -ForcedRefreshInterval {
				v.mu.Unlock()
				return errRateLimited
			}
			v.lastForced = now
		}
		f = &flight{done: make(chan struct{})}
		v.flight = f
		go v.run(context.WithoutCancel(ctx), f)
	}
	v.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("JWKS refresh: %w", ctx.Err())
	}
}

// run performs the refresh f.
func (v *Verifier) run(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	err := v.load(ctx)
	cancel()
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.next = v.cfg.Now().Add(min(ForcedRefreshInterval, v.cfg.Refresh))
	} else {
		v.next = v.cfg.Now().Add(v.cfg.Refresh)
	}
	v.flight = nil
	f.err = err
	close(f.done)
}

// load re-reads the JWK Sets and publishes the keys. A source that fails
// keeps its previous keys.
func (v *Verifier) load(ctx context.Context) error {
	var errs []error
	if v.cfg.JWKSFile != "" {
		if err := v.loadFile(); err != nil {
			errs = append(errs, err)
		}
	}
	if v.cfg.JWKSURL != "" {
		if err := v.loadURL(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	v.publish()
	return errors.Join(errs...)
}

// publish sets the keys: the static keys, then those of the JWKS file, then
// those of the JWKS URL; an earlier source wins a kid.
func (v *Verifier) publish() {
	keys := maps.Clone(v.static)
	for _, src := range []map[string]verificationKey{v.fileKeys, v.urlKeys} {
		for kid, k := range src {
			if _, ok := keys[kid]; !ok {
				keys[kid] = k
			}
		}
	}
	v.keys.Store(&keys)
}

// loadFile re-reads the JWKS file if it changed.
func (v *Verifier) loadFile() error {
	path := v.cfg.JWKSFile
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("JWKS file: %w", err)
	}
	if v.fileKeys != nil && fi.ModTime().Equal(v.fileMod) && fi.Size() == v.fileSize &&
		v.fileReadAt.Sub(fi.ModTime()) > racyMtime {
		return nil
	}
	if fi.Size() > maxJWKS {
		return fmt.Errorf("JWKS file %s: larger than %d bytes", path, maxJWKS)
	}
	readAt := time.Now()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("JWKS file: %w", err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("JWKS file %s: %w", path, err)
	}
	v.fileKeys, v.fileMod, v.fileSize, v.fileReadAt = keys, fi.ModTime(), fi.Size(), readAt
	return nil
}

// loadURL fetches the JWK Set at the URL, conditionally on its ETag.
func (v *Verifier) loadURL(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("JWKS URL: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if v.urlKeys != nil && v.etag != "" {
		req.Header.Set("If-None-Match", v.etag)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("JWKS URL: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && v.urlKeys != nil:
		return nil
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("JWKS URL: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return fmt.Errorf("JWKS URL: %w", err)
	}
	if len(data) > maxJWKS {
		return fmt.Errorf("JWKS URL: larger than %d bytes", maxJWKS)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("JWKS URL: %w", err)
	}
	v.urlKeys, v.etag = keys, resp.Header.Get("ETag")
	return nil
}
