// Package seal protects small secrets at rest — access-key secrets today,
// KMS key material later — with the server's master key, using AES-256-GCM.
//
// The master key is 32 random bytes. By default it lives in the file
// master.key in the data directory, created with mode 0600 on first start;
// OPENAMI_MASTER_KEY (base64) overrides the file, for deployments that keep
// the metadata in PostgreSQL and the key in a secret manager. Losing the
// master key makes every sealed secret unrecoverable, so back it up apart
// from the database: a stolen database alone then reveals no secret.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openami/openami/internal/atomicfile"
)

// KeySize is the size of a master key in bytes.
const KeySize = 32

// version is the first byte of every sealed value, so that the format (and,
// later, the key that sealed it) can change without ambiguity.
const version = 1

// Key is a master key.
type Key struct {
	aead cipher.AEAD
}

// New returns a Key for raw key bytes, which must be KeySize long.
func New(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("seal: master key is %d bytes, want %d", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Key{aead: aead}, nil
}

// LoadOrCreate returns the master key: from the base64 value of the
// environment variable OPENAMI_MASTER_KEY when it is set, else from the file
// master.key in dir, which it creates (mode 0600, fsynced) when absent.
func LoadOrCreate(dir string) (*Key, error) {
	if v := os.Getenv("OPENAMI_MASTER_KEY"); v != "" {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("seal: OPENAMI_MASTER_KEY is not base64: %w", err)
		}
		return New(raw)
	}
	path := filepath.Join(dir, "master.key")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: master key: %w", err)
	}
	return New(raw)
}

// Load returns the master key as LoadOrCreate does, but never creates
// one: with OPENAMI_MASTER_KEY unset and no master.key in dir, it fails
// with an error that wraps fs.ErrNotExist and names the file. Commands
// that work on an existing installation use it, so that a wrong dir is
// refused rather than given a new key.
func Load(dir string) (*Key, error) {
	if v := os.Getenv("OPENAMI_MASTER_KEY"); v != "" {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("seal: OPENAMI_MASTER_KEY is not base64: %w", err)
		}
		return New(raw)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, fmt.Errorf("seal: master key: %w", err)
	}
	return New(raw)
}

// create writes a new random key to path without ever exposing a partial
// file; of two processes racing to create the key, the loser reads and
// uses the winner's.
func create(path string) ([]byte, error) {
	raw := Generate()
	err := atomicfile.Create(path, raw, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	return raw, err
}

// Seal encrypts plaintext, binding it to aad (additional data that must be
// given again to Open, such as the id of the record the secret belongs to,
// so that a sealed value cannot be moved to another record).
func (k *Key) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = version
	rand.Read(out[1:])
	return k.aead.Seal(out, out[1:], plaintext, aad)
}

// Open decrypts a value made by Seal with the same aad. It fails if the
// value was sealed with another key or aad, or was altered.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != version {
		return nil, errors.New("seal: not a sealed value")
	}
	pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, fmt.Errorf("seal: open: %w", err)
	}
	return pt, nil
}

// Generate returns new random master-key bytes.
func Generate() []byte {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	return raw
}

// WriteFile writes raw master-key bytes to path (mode 0600) durably: a
// temporary file, synced, renamed into place, the directory synced. It
// replaces any file at path.
func WriteFile(path string, raw []byte) error {
	return atomicfile.Write(path, raw, 0o600)
}
