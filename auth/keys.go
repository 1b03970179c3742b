package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ErrNoKeys is returned when a key path holds no public key at all: every
// token would be refused, which is never what an operator means.
var ErrNoKeys = errors.New("configured for JWT auth with zero decoding keys")

// ErrBadKey is returned for a file that is not a PEM Ed25519 public key.
var ErrBadKey = errors.New("not a PEM Ed25519 public key")

// LoadKeys reads the public keys at path: one PEM file, or a directory whose
// regular files are each one PEM key (subdirectories are skipped, as Neon
// does). An empty path means auth is disabled and returns (nil, nil); a nil
// *Validator stands for trust.
func LoadKeys(path string) (*Validator, error) {
	if path == "" {
		return nil, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth keys: %w", err)
	}
	var files []string
	switch {
	case info.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("auth keys: %w", err)
		}
		for _, e := range entries {
			p := filepath.Join(path, e.Name())
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		sort.Strings(files)
	case info.Mode().IsRegular():
		files = []string{path}
	default:
		return nil, fmt.Errorf("auth keys: %s is neither a directory nor a file", path)
	}
	keys := make([]ed25519.PublicKey, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("auth keys: %w", err)
		}
		k, err := ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("auth key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth keys %s: %w", path, ErrNoKeys)
	}
	return NewValidator(keys), nil
}

// ParsePublicKey decodes a PEM "PUBLIC KEY" block (PKIX) holding an Ed25519
// key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadKey)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T", ErrBadKey, pub)
	}
	return k, nil
}

// MarshalPublicKey is ParsePublicKey's inverse: a PEM "PUBLIC KEY" block.
func MarshalPublicKey(k ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
