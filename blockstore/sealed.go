package blockstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/openami/openami"
)

// ErrSealed is wrapped by the error Get returns when it is asked for an
// encrypted chunk without its data key: the chunk may well be sound, but
// nothing can be read or verified without the key.
var ErrSealed = errors.New("chunk is encrypted and no data key was given")

// kindSealed is the frame kind of an encrypted chunk; doc.go describes it.
const kindSealed = 2

// DataKeySize is the size of the secret a DataKey is made from.
const DataKeySize = 32

// A DataKey encrypts and names the chunks of one encryption domain (in the
// service: one KMS key in one region). Two keys are derived from its secret
// with HKDF-SHA256: a naming key, with which a chunk is named by the
// HMAC-SHA256 of its plaintext instead of its SHA-256, and an encryption
// key for AES-256-GCM. Equal blocks under one DataKey get one name, and so
// are stored once; equal blocks under two keys get unrelated names, so
// nothing is shared, and nothing about the plaintext can be learnt by
// comparing names across keys.
//
// A chunk's nonce is the first 12 bytes of its name. Encryption is thus
// deterministic (a synthetic-IV construction: the nonce is a pseudorandom
// function of the whole plaintext), which deduplication needs; a nonce
// repeats only for the same plaintext, which then gives the same
// ciphertext. The frame header and the chunk's name are authenticated as
// additional data, so a chunk cannot be passed off under another name:
// GCM's tag checks every read, as the SHA-256 of a plain chunk does.
//
// A DataKey is safe for concurrent use.
type DataKey struct {
	aead cipher.AEAD
	macs sync.Pool // of hash.Hash: HMAC-SHA256 under the naming key
}

// NewDataKey returns the DataKey made from secret, which must be
// DataKeySize random bytes.
func NewDataKey(secret []byte) (*DataKey, error) {
	if len(secret) != DataKeySize {
		return nil, fmt.Errorf("blockstore: data key secret is %d bytes, want %d", len(secret), DataKeySize)
	}
	encKey, err := hkdf.Key(sha256.New, secret, nil, "openami chunk encryption v1", 32)
	if err != nil {
		return nil, err
	}
	nameKey, err := hkdf.Key(sha256.New, secret, nil, "openami chunk naming v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &DataKey{aead: aead}
	k.macs.New = func() any { return hmac.New(sha256.New, nameKey) }
	return k, nil
}

// Name returns the name of block data under k: its HMAC-SHA256 under the
// naming key.
func (k *DataKey) Name(data []byte) openami.Digest {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(data)
	var d openami.Digest
	m.Sum(d[:0])
	k.macs.Put(m)
	return d
}

// sealedOverhead is what sealing adds to the inner frame: a header and
// GCM's tag.
const sealedOverhead = frameHeaderSize + 16

// sealFrame appends to dst[:0] the sealed frame of data, named d under k:
// a header of kind kindSealed, then the plain frame of data encrypted with
// AES-256-GCM, nonce d[:12], additional data header‖d. inner is scratch
// space for the plain frame (capacity frameBufSize).
func (k *DataKey) sealFrame(dst, inner []byte, d openami.Digest, data []byte) []byte {
	inner = encodeFrame(inner, data)
	var h [frameHeaderSize]byte
	copy(h[:], frameMagic)
	h[4] = frameVersion
	h[5] = kindSealed
	putLen(h[8:], len(data))
	dst = append(dst[:0], h[:]...)
	return k.aead.Seal(dst, d[:k.aead.NonceSize()], inner, sealedAD(h[:], d))
}

// sealedAD is the additional data authenticated with a sealed chunk.
func sealedAD(header []byte, d openami.Digest) []byte {
	ad := make([]byte, 0, frameHeaderSize+len(d))
	return append(append(ad, header...), d[:]...)
}

// openFrame decrypts the sealed frame of the chunk named d into dst
// (exactly the declared plaintext length), authenticating it with its
// name.
// scratch receives the decrypted inner frame (capacity frameBufSize).
func (k *DataKey) openFrame(d openami.Digest, frame, scratch, dst []byte) error {
	if len(frame) < sealedOverhead {
		return corruptf("sealed chunk frame of %d bytes is too short", len(frame))
	}
	h := frame[:frameHeaderSize]
	inner, err := k.aead.Open(scratch[:0], d[:k.aead.NonceSize()], frame[frameHeaderSize:], sealedAD(h, d))
	if err != nil {
		return corruptf("sealed chunk does not authenticate under its data key")
	}
	// GCM's tag, over the header and the name, has authenticated the
	// chunk: only this key could have sealed these bytes for this name,
	// and Put checked before writing that they decode to the block so
	// named. The plaintext is not hashed again.
	return decodeFrame(inner, dst)
}
