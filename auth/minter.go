package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"sluice"
)

// Minter signs bearer tokens for principals, for the demo, the
// `sluice dev token` command and tests. Production tokens come from an
// identity provider.
type Minter struct {
	method   jwt.SigningMethod
	key      any
	kid      string
	issuer   string
	audience string

	// Now is the clock; it defaults to time.Now and may be replaced before
	// the Minter is used.
	Now func() time.Time
	// ClaimOrganisation and ClaimRoles name the claims of the principal's
	// organisation and roles; they default to "org" and "roles" and may be
	// replaced before the Minter is used.
	ClaimOrganisation string
	ClaimRoles        string
}

// NewMinter returns a Minter that signs with alg and key: RS256 with an
// *rsa.PrivateKey of at least 2048 bits, ES256 with an *ecdsa.PrivateKey on
// P-256, EdDSA with an ed25519.PrivateKey (or another crypto.Signer of an
// Ed25519 key), or HS256 with a []byte secret of at least 32 bytes. Tokens
// carry kid in their header and issuer and audience in their claims.
func NewMinter(alg string, key any, kid, issuer, audience string) (*Minter, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("new minter: issuer and audience are required")
	}
	m := &Minter{kid: kid, issuer: issuer, audience: audience, Now: time.Now,
		ClaimOrganisation: "org", ClaimRoles: "roles"}
	var ok bool
	switch alg {
	case RS256:
		var k *rsa.PrivateKey
		if k, ok = key.(*rsa.PrivateKey); ok {
			if err := checkPublicKey(&k.PublicKey); err != nil {
				return nil, fmt.Errorf("new minter: %w", err)
			}
		}
		m.method = jwt.SigningMethodRS256
	case ES256:
		var k *ecdsa.PrivateKey
		if k, ok = key.(*ecdsa.PrivateKey); ok {
			if err := checkPublicKey(&k.PublicKey); err != nil {
				return nil, fmt.Errorf("new minter: %w", err)
			}
		}
		m.method = jwt.SigningMethodES256
	case EdDSA:
		var s crypto.Signer
		if s, ok = key.(crypto.Signer); ok {
			_, ok = s.Public().(ed25519.PublicKey)
		}
		m.method = jwt.SigningMethodEdDSA
	case HS256:
		var k []byte
		if k, ok = key.([]byte); ok {
			if len(k) < MinHMACSecret {
				return nil, fmt.Errorf("new minter: HMAC secret shorter than %d bytes", MinHMACSecret)
			}
			key = slices.Clone(k)
		}
		m.method = jwt.SigningMethodHS256
	default:
		return nil, fmt.Errorf("new minter: unsupported algorithm %q", alg)
	}
	if !ok {
		return nil, fmt.Errorf("new minter: a %T key does not fit %s", key, alg)
	}
	if kid == "" && alg != HS256 {
		return nil, errors.New("new minter: a kid is required")
	}
	m.key = key
	return m, nil
}

// Mint returns a token for p valid for ttl from now. The principal needs a
// subject, an organisation and at least one role, all of them known.
func (m *Minter) Mint(p sluice.Principal, ttl time.Duration) (string, error) {
	if p.Subject == "" {
		return "", errors.New("mint: the principal has no subject")
	}
	if p.Organisation == "" {
		return "", errors.New("mint: the principal has no organisation")
	}
	if len(p.Roles) == 0 {
		return "", errors.New("mint: the principal has no role")
	}
	for _, r := range p.Roles {
		if !knownRole(r) {
			return "", fmt.Errorf("mint: unknown role %q", r)
		}
	}
	if ttl <= 0 {
		return "", errors.New("mint: the lifetime must be positive")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	now := m.Now()
	claims := jwt.MapClaims{
		"iss":               m.issuer,
		"aud":               m.audience,
		"sub":               p.Subject,
		"iat":               now.Unix(),
		"nbf":               now.Unix(),
		"exp":               now.Add(ttl).Unix(),
		"jti":               hex.EncodeToString(jti[:]),
		m.ClaimOrganisation: p.Organisation,
		m.ClaimRoles:        slices.Clone(p.Roles),
	}
	return m.sign(claims)
}

// sign signs arbitrary claims with the Minter's key and kid.
func (m *Minter) sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(m.method, claims)
	if m.kid != "" {
		t.Header["kid"] = m.kid
	}
	s, err := t.SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	return s, nil
}
