package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Signing algorithms.
const (
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256; RSA keys of at least 2048 bits
	ES256 = "ES256" // ECDSA on P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519
	HS256 = "HS256" // HMAC with SHA-256; development mode only
)

// MinRSABits is the smallest RSA modulus accepted, in bits.
const MinRSABits = 2048

// MinHMACSecret is the shortest HMAC secret accepted, in bytes.
const MinHMACSecret = 32

// maxJWKS caps the size of a JWKS document.
const maxJWKS = 1 << 20

// verificationKey is a public key and, if its JWK said so, the one algorithm
// it may be used with.
type verificationKey struct {
	key any    // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
	alg string // "" if not restricted beyond the key type
}

// Algorithm returns the signing algorithm for a public or private key:
// RS256 for RSA, ES256 for ECDSA P-256, EdDSA for Ed25519. It refuses other
// keys, including RSA keys shorter than MinRSABits.
func Algorithm(key crypto.PublicKey) (string, error) {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	if err := checkPublicKey(key); err != nil {
		return "", err
	}
	switch key.(type) {
	case *rsa.PublicKey:
		return RS256, nil
	case *ecdsa.PublicKey:
		return ES256, nil
	default:
		return EdDSA, nil
	}
}

// checkPublicKey reports whether key is a supported, strong enough public key.
func checkPublicKey(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("empty RSA key")
		}
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is shorter than %d bits", k.N.BitLen(), MinRSABits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return errors.New("RSA key has an invalid public exponent")
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return errors.New("ECDSA key is not on P-256")
		}
		if _, err := k.Bytes(); err != nil {
			return fmt.Errorf("invalid ECDSA key: %w", err)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key has the wrong size")
		}
		return nil
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
}

// jwk is one JSON Web Key (RFC 7517, RFC 7518 section 6, RFC 8037).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

// parseJWKS parses a JWK Set and returns its usable signature verification
// keys by kid. Keys without a kid, for another use than "sig", of an unknown
// type or curve, with an algorithm that does not fit their type, or too weak
// are skipped; so are all keys of a kid that is given more than once. Only a
// document that is not a JWK Set is an error.
func parseJWKS(data []byte) (map[string]verificationKey, error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New("parse JWKS: no \"keys\" member")
	}
	keys := make(map[string]verificationKey)
	dup := make(map[string]bool)
	for _, raw := range *doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			continue
		}
		vk, err := k.verificationKey()
		if err != nil || k.Kid == "" {
			continue
		}
		if _, seen := keys[k.Kid]; seen || dup[k.Kid] {
			dup[k.Kid] = true
			delete(keys, k.Kid)
			continue
		}
		keys[k.Kid] = vk
	}
	return keys, nil
}

// verificationKey returns the public key of k if it is a usable signature
// verification key.
func (k *jwk) verificationKey() (verificationKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verificationKey{}, fmt.Errorf("key use %q", k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return verificationKey{}, errors.New("key_ops without verify")
	}
	var (
		key any
		alg string
	)
	switch k.Kty {
	case "RSA":
		n, err := decodeB64(k.N)
		if err != nil {
			return verificationKey{}, fmt.Errorf("RSA n: %w", err)
		}
		e, err := decodeB64(k.E)
		if err != nil {
			return verificationKey{}, fmt.Errorf("RSA e: %w", err)
		}
		if len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return verificationKey{}, errors.New("RSA parameters out of range")
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		key, alg = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, RS256
	case "EC":
		if k.Crv != "P-256" {
			return verificationKey{}, fmt.Errorf("EC curve %q", k.Crv)
		}
		x, err := decodeB64(k.X)
		if err != nil {
			return verificationKey{}, fmt.Errorf("EC x: %w", err)
		}
		y, err := decodeB64(k.Y)
		if err != nil {
			return verificationKey{}, fmt.Errorf("EC y: %w", err)
		}
		if len(x) != 32 || len(y) != 32 {
			return verificationKey{}, errors.New("EC coordinates of the wrong size")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return verificationKey{}, fmt.Errorf("EC point: %w", err)
		}
		key, alg = pub, ES256
	case "OKP":
		if k.Crv != "Ed25519" {
			return verificationKey{}, fmt.Errorf("OKP curve %q", k.Crv)
		}
		x, err := decodeB64(k.X)
		if err != nil {
			return verificationKey{}, fmt.Errorf("OKP x: %w", err)
		}
		key, alg = ed25519.PublicKey(x), EdDSA
	default:
		return verificationKey{}, fmt.Errorf("key type %q", k.Kty)
	}
	if k.Alg != "" && k.Alg != alg {
		return verificationKey{}, fmt.Errorf("alg %q does not fit key type %q", k.Alg, k.Kty)
	}
	if err := checkPublicKey(key); err != nil {
		return verificationKey{}, err
	}
	return verificationKey{key: key, alg: k.Alg}, nil
}

// decodeB64 decodes unpadded base64url, as JWKs use it.
func decodeB64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// JWKS returns a JWK Set document with the public keys, by kid, each marked
// for signatures with its algorithm. Private keys (crypto.Signer) are
// accepted and only their public halves are written. Keys are written in the
// order of their kids.
func JWKS(keys map[string]crypto.PublicKey) ([]byte, error) {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	enc := base64.RawURLEncoding
	for _, kid := range kids {
		if kid == "" {
			return nil, errors.New("JWKS: empty kid")
		}
		key := keys[kid]
		if s, ok := key.(crypto.Signer); ok {
			key = s.Public()
		}
		alg, err := Algorithm(key)
		if err != nil {
			return nil, fmt.Errorf("JWKS: key %q: %w", kid, err)
		}
		k := jwk{Kid: kid, Use: "sig", Alg: alg}
		switch pub := key.(type) {
		case *rsa.PublicKey:
			k.Kty = "RSA"
			k.N = enc.EncodeToString(pub.N.Bytes())
			k.E = enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
		case *ecdsa.PublicKey:
			b, err := pub.Bytes()
			if err != nil {
				return nil, fmt.Errorf("JWKS: key %q: %w", kid, err)
			}
			k.Kty, k.Crv = "EC", "P-256"
			k.X = enc.EncodeToString(b[1:33])
			k.Y = enc.EncodeToString(b[33:65])
		case ed25519.PublicKey:
			k.Kty, k.Crv = "OKP", "Ed25519"
			k.X = enc.EncodeToString(pub)
		}
		set.Keys = append(set.Keys, k)
	}
	out, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	return append(out, '\n'), nil
}
