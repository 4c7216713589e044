package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
)

// This file is the cryptography of KMS keys: how key material is sealed at
// rest, and the ciphertext blobs Encrypt and GenerateDataKey return and
// Decrypt takes (docs/KMS.md describes both).
//
// A ciphertext blob, version 1:
//
//	offset  size  field
//	0       1     version, 0x01
//	1       16    the key's id (its UUID's 16 bytes)
//	17      12    nonce, random
//	29      n     AES-256-GCM ciphertext of the plaintext
//	29+n    16    GCM tag
//
// The additional authenticated data is the blob's first 17 bytes followed
// by the canonical encoding of the encryption context, so neither the key
// id nor the context can be changed without Decrypt failing.

const (
	blobVersion    = 1
	blobHeaderSize = 1 + 16
	blobNonceSize  = 12
	blobTagSize    = 16
	// blobOverhead is how much longer a blob is than its plaintext.
	blobOverhead = blobHeaderSize + blobNonceSize + blobTagSize
	// keyMaterialSize is the size of a KMS key's material: AES-256.
	keyMaterialSize = 32
)

// errBadCiphertext is the answer to every blob that cannot be decrypted,
// whatever the reason (malformed, altered, another context), so that the
// answer reveals nothing about which check failed.
func errBadCiphertext() error {
	return &openami.Error{Class: openami.Malformed, Resource: openami.ResourceKMSKey, Reason: openami.ReasonCiphertext}
}

// ciphertextBlob is a parsed blob: the key it names and the bytes it
// carries.
type ciphertextBlob struct {
	keyID  string // canonical lowercase UUID
	header []byte // version and key id, authenticated
	nonce  []byte
	sealed []byte // ciphertext and tag
}

// parseCiphertext parses a blob without decrypting it. It fails with class
// Malformed and resource kms-ciphertext if the blob is not version 1 or is
// too short to hold a tag.
func parseCiphertext(b []byte) (ciphertextBlob, error) {
	if len(b) < blobOverhead || b[0] != blobVersion {
		return ciphertextBlob{}, errBadCiphertext()
	}
	id, err := uuid.FromBytes(b[1:blobHeaderSize])
	if err != nil {
		return ciphertextBlob{}, errBadCiphertext()
	}
	return ciphertextBlob{
		keyID:  id.String(),
		header: b[:blobHeaderSize],
		nonce:  b[blobHeaderSize : blobHeaderSize+blobNonceSize],
		sealed: b[blobHeaderSize+blobNonceSize:],
	}, nil
}

// encodeContext returns the canonical encoding of an encryption context:
// the number of pairs, then each key and value in increasing bytewise
// order of keys, every count and length a uvarint. Two maps with the same
// pairs encode alike; nil and empty maps both encode as one zero byte.
func encodeContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(ctx[k])))
		out = append(out, ctx[k]...)
	}
	return out
}

func newGCM(material []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, fmt.Errorf("kms: key material: %w", err)
	}
	return cipher.NewGCM(block)
}

// encryptBlob encrypts plaintext under the material of the key keyID with
// the encryption context, and returns a version 1 blob.
func encryptBlob(keyID string, material, plaintext []byte, ctx map[string]string) ([]byte, error) {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return nil, fmt.Errorf("kms: key id %q is not a UUID: %w", keyID, err)
	}
	aead, err := newGCM(material)
	if err != nil {
		return nil, err
	}
	out := make([]byte, blobHeaderSize+blobNonceSize, blobOverhead+len(plaintext))
	out[0] = blobVersion
	copy(out[1:blobHeaderSize], id[:])
	rand.Read(out[blobHeaderSize:])
	aad := append(slices.Clip(out[:blobHeaderSize]), encodeContext(ctx)...)
	return aead.Seal(out, out[blobHeaderSize:], plaintext, aad), nil
}

// decryptBlob decrypts a parsed blob with the material of the key it names
// and the encryption context it was made with. It fails with class
// Malformed and resource kms-ciphertext if the blob was altered or the
// context differs.
func decryptBlob(b ciphertextBlob, material []byte, ctx map[string]string) ([]byte, error) {
	aead, err := newGCM(material)
	if err != nil {
		return nil, err
	}
	aad := append(slices.Clip(b.header), encodeContext(ctx)...)
	pt, err := aead.Open(nil, b.nonce, b.sealed, aad)
	if err != nil {
		return nil, errBadCiphertext()
	}
	return pt, nil
}

// materialAAD binds sealed key material to its key, so that a sealed value
// copied into another key's row does not open.
func materialAAD(region, accountID, keyID string) []byte {
	return fmt.Appendf(nil, "openami/kms/key-material/v1\x00%s\x00%s\x00%s", region, accountID, keyID)
}

// newKeyMaterial returns fresh key material and its sealed form for the key.
func newKeyMaterial(sk *seal.Key, region, accountID, keyID string) (sealed []byte) {
	material := make([]byte, keyMaterialSize)
	rand.Read(material)
	sealed = sk.Seal(material, materialAAD(region, accountID, keyID))
	clear(material)
	return sealed
}

// openKeyMaterial unseals a key's material. A failure is a server fault:
// the row was damaged or the master key is not the one that sealed it.
func openKeyMaterial(sk *seal.Key, k openami.Key) ([]byte, error) {
	material, err := sk.Open(k.SealedMaterial, materialAAD(k.Region, k.AccountID, k.ID))
	if err != nil {
		return nil, fmt.Errorf("kms: open the material of key %s (is this the master key that sealed it?): %w", k.ID, err)
	}
	if len(material) != keyMaterialSize {
		return nil, errors.New("kms: key material has the wrong size")
	}
	return material, nil
}
