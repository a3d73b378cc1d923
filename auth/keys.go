package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// GenerateKey returns a new private key for alg: ES256 (ECDSA P-256), EdDSA
// (Ed25519) or RS256 (RSA, 2048 bits).
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		return priv, nil
	case RS256:
		return rsa.GenerateKey(rand.Reader, MinRSABits)
	default:
		return nil, fmt.Errorf("generate key: unsupported algorithm %q", alg)
	}
}

// WriteKeyFile writes the private key to path as a PKCS #8 "PRIVATE KEY" PEM
// block, readable only by its owner. It refuses to overwrite an existing file.
func WriteKeyFile(path string, key crypto.Signer) error {
	if _, err := Algorithm(key.Public()); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return writePEM(path, &pem.Block{Type: "PRIVATE KEY", Bytes: der}, 0o600)
}

// WritePublicKeyFile writes the public key (or the public half of a private
// key) to path as a PKIX "PUBLIC KEY" PEM block. It refuses to overwrite an
// existing file.
func WritePublicKeyFile(path string, key crypto.PublicKey) error {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	if _, err := Algorithm(key); err != nil {
		return fmt.Errorf("write public key file: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return fmt.Errorf("write public key file: %w", err)
	}
	return writePEM(path, &pem.Block{Type: "PUBLIC KEY", Bytes: der}, 0o644)
}

// writePEM writes one PEM block to a new file at path with perm.
func writePEM(path string, b *pem.Block, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := pem.Encode(f, b); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

// ReadKeyFile reads a private key from a PEM file: PKCS #8 "PRIVATE KEY",
// SEC 1 "EC PRIVATE KEY" or PKCS #1 "RSA PRIVATE KEY". The key must be one
// Algorithm accepts.
func ReadKeyFile(path string) (crypto.Signer, error) {
	b, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if _, err := Algorithm(key.Public()); err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return key, nil
}

// ReadPublicKeyFile reads a public key from a PEM file: PKIX "PUBLIC KEY",
// or the public half of a private key in any form ReadKeyFile accepts. The
// key must be one Algorithm accepts.
func ReadPublicKeyFile(path string) (crypto.PublicKey, error) {
	b, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key crypto.PublicKey
	if b.Type == "PUBLIC KEY" {
		key, err = x509.ParsePKIXPublicKey(b.Bytes)
	} else {
		var priv crypto.Signer
		if priv, err = parsePrivateKey(b); err == nil {
			key = priv.Public()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read public key file %s: %w", path, err)
	}
	if _, err := Algorithm(key); err != nil {
		return nil, fmt.Errorf("read public key file %s: %w", path, err)
	}
	return key, nil
}

// readPEM reads the first PEM block of the file at path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("read key file %s: no PEM block", path)
	}
	return b, nil
}

// parsePrivateKey parses a PKCS #8, SEC 1 or PKCS #1 private key block.
func parsePrivateKey(b *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}
