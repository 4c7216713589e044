package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// This file holds KMS's cryptographic operations: Encrypt, Decrypt,
// ReEncrypt and GenerateDataKey. Each resolves and authorizes its key in a
// read-only transaction, checks the key's state, opens its material and
// works on the caller's bytes in memory; nothing is written.

// EncryptInput are Encrypt's parameters.
type EncryptInput struct {
	KeyID     string
	Plaintext []byte
	// Context is the encryption context, authenticated with the
	// ciphertext: Decrypt must be given the same one.
	Context   map[string]string
	Algorithm string // "" or SYMMETRIC_DEFAULT
	DryRun    bool
}

// DecryptInput are Decrypt's parameters. KeyID is optional: the
// ciphertext names its key; when given, it must name the same key
// (IncorrectKey).
type DecryptInput struct {
	Ciphertext []byte
	Context    map[string]string
	KeyID      string
	Algorithm  string
	DryRun     bool
}

// ReEncryptInput are ReEncrypt's parameters.
type ReEncryptInput struct {
	Ciphertext           []byte
	SourceContext        map[string]string
	SourceKeyID          string
	DestinationKeyID     string
	DestinationContext   map[string]string
	SourceAlgorithm      string
	DestinationAlgorithm string
	DryRun               bool
}

// DataKeyInput are GenerateDataKey's parameters: exactly one of KeySpec
// (AES_256, AES_128) and NumberOfBytes (1–1024).
type DataKeyInput struct {
	KeyID         string
	Context       map[string]string
	KeySpec       string
	NumberOfBytes int
	DryRun        bool
}

// checkAlgorithm accepts the symmetric algorithm, the only one a symmetric
// key has; any other is InvalidParameter about kms-key-usage
// (InvalidKeyUsageException).
func checkAlgorithm(field, algorithm string) error {
	switch algorithm {
	case "", algorithmSymmetric:
		return nil
	case "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE":
		return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSKey, openami.ReasonKeyUsage,
			"The encryption algorithm %s is not compatible with the type of key material of this KMS key.", algorithm)
	}
	return param.Breaks(field, algorithm, "must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]")
}

func checkPlaintext(pt []byte) error {
	switch {
	case len(pt) == 0:
		return param.Empty("Plaintext", "must have length greater than or equal to 1")
	case len(pt) > maxPlaintextSize:
		return param.Breaks("Plaintext", "", "must have length less than or equal to %d", maxPlaintextSize)
	}
	return nil
}

func checkCiphertext(b []byte) error {
	switch {
	case len(b) == 0:
		return param.Empty("Ciphertext", "must have length greater than or equal to 1")
	case len(b) > maxCiphertextSize:
		return param.Breaks("Ciphertext", "", "must have length less than or equal to %d", maxCiphertextSize)
	}
	return nil
}

func dryRun() error {
	return openami.Errorf(openami.DryRun, "", "The request would have succeeded, but the DryRun option is set.")
}

// encryptWith resolves keyID for action, checks that the key is usable and
// encrypts plaintext under it.
func (s *Keys) encryptWith(tx metadata.Tx, p openami.Principal, field, keyID, action string, plaintext []byte, ctx map[string]string) ([]byte, openami.Key, error) {
	ref, err := parseKeyRef(p, field, keyID)
	if err != nil {
		return nil, openami.Key{}, err
	}
	k, err := s.resolveKey(tx, p, ref, action, crossAccount, ctx)
	if err != nil {
		return nil, openami.Key{}, err
	}
	if err := usableKey(k); err != nil {
		return nil, openami.Key{}, err
	}
	if plaintext == nil { // a dry run
		return nil, k, nil
	}
	material, err := openKeyMaterial(s.seal, k)
	if err != nil {
		return nil, openami.Key{}, err
	}
	defer clear(material)
	blob, err := encryptBlob(k.ID, material, plaintext, ctx)
	return blob, k, err
}

// decryptWith decrypts a blob for action: the key is the one the blob
// names, which keyID, when not empty, must name too.
func (s *Keys) decryptWith(tx metadata.Tx, p openami.Principal, field, keyID, action string, ciphertext []byte, ctx map[string]string, dry bool) ([]byte, openami.Key, error) {
	if err := checkCiphertext(ciphertext); err != nil {
		return nil, openami.Key{}, err
	}
	blob, err := parseCiphertext(ciphertext)
	if err != nil {
		return nil, openami.Key{}, err
	}
	var k openami.Key
	if keyID != "" {
		ref, err := parseKeyRef(p, field, keyID)
		if err != nil {
			return nil, openami.Key{}, err
		}
		if k, err = s.resolveKey(tx, p, ref, action, crossAccount, ctx); err != nil {
			return nil, openami.Key{}, err
		}
		if k.ID != blob.keyID {
			return nil, openami.Key{}, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSKey, openami.ReasonWrongKey,
				"The key ID in the request does not identify a CMK that can perform this operation.")
		}
	} else {
		// The blob names a key of the region, in whichever account.
		k, err = tx.Keys().Get(p.Region, blob.keyID)
		if errors.Is(err, openami.ErrNotFound) || err == nil && s.keyGone(k) {
			return nil, openami.Key{}, errBadCiphertext()
		}
		if err != nil {
			return nil, openami.Key{}, err
		}
		if err := s.authorizeKey(tx, p, k, action, ctx); err != nil {
			return nil, openami.Key{}, err
		}
	}
	if err := usableKey(k); err != nil {
		return nil, openami.Key{}, err
	}
	material, err := openKeyMaterial(s.seal, k)
	if err != nil {
		return nil, openami.Key{}, err
	}
	defer clear(material)
	pt, err := decryptBlob(blob, material, ctx)
	if err != nil {
		return nil, openami.Key{}, err
	}
	if dry {
		clear(pt)
		return nil, k, dryRun()
	}
	return pt, k, nil
}

// Encrypt encrypts up to 4096 bytes under a key the caller may use for
// kms:Encrypt (its own, or another account's by ARN if that key's policy
// allows), binding the encryption context to the ciphertext. The key must
// be enabled: Disabled is IncorrectState with ReasonDisabled, pending
// deletion IncorrectState with no reason.
func (s *Keys) Encrypt(ctx context.Context, p openami.Principal, in EncryptInput) ([]byte, openami.Key, error) {
	if err := checkPlaintext(in.Plaintext); err != nil {
		return nil, openami.Key{}, err
	}
	if err := checkAlgorithm("Algorithm", in.Algorithm); err != nil {
		return nil, openami.Key{}, err
	}
	var (
		blob []byte
		k    openami.Key
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		pt := in.Plaintext
		if in.DryRun {
			pt = nil
		}
		var err error
		blob, k, err = s.encryptWith(tx, p, "KeyID", in.KeyID, actEncrypt, pt, in.Context)
		return err
	})
	if err == nil && in.DryRun {
		return nil, openami.Key{}, dryRun()
	}
	return blob, k, err
}

// Decrypt decrypts a ciphertext made by Encrypt or GenerateDataKey, with
// the encryption context it was made with. A blob that is malformed,
// altered, made with another context, or names no key of the region is
// Malformed about kms-ciphertext (InvalidCiphertextException); the caller
// needs kms:Decrypt on the key, which must be enabled.
func (s *Keys) Decrypt(ctx context.Context, p openami.Principal, in DecryptInput) ([]byte, openami.Key, error) {
	if err := checkAlgorithm("Algorithm", in.Algorithm); err != nil {
		return nil, openami.Key{}, err
	}
	var (
		pt []byte
		k  openami.Key
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		pt, k, err = s.decryptWith(tx, p, "KeyID", in.KeyID, actDecrypt, in.Ciphertext, in.Context, in.DryRun)
		return err
	})
	return pt, k, err
}

// ReEncrypt decrypts a ciphertext (kms:ReEncryptFrom on its key) and
// encrypts the plaintext under the destination key (kms:ReEncryptTo) with
// the destination context; the plaintext never leaves the server. It
// returns the new blob, the source key and the destination key.
func (s *Keys) ReEncrypt(ctx context.Context, p openami.Principal, in ReEncryptInput) ([]byte, openami.Key, openami.Key, error) {
	if err := checkAlgorithm("SourceAlgorithm", in.SourceAlgorithm); err != nil {
		return nil, openami.Key{}, openami.Key{}, err
	}
	if err := checkAlgorithm("DestinationAlgorithm", in.DestinationAlgorithm); err != nil {
		return nil, openami.Key{}, openami.Key{}, err
	}
	if _, err := parseKeyRef(p, "DestinationKeyID", in.DestinationKeyID); err != nil {
		return nil, openami.Key{}, openami.Key{}, err
	}
	var (
		blob     []byte
		src, dst openami.Key
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		pt, k, err := s.decryptWith(tx, p, "SourceKeyID", in.SourceKeyID, actReEncryptFrom, in.Ciphertext, in.SourceContext, false)
		if err != nil {
			return err
		}
		defer clear(pt)
		src = k
		if in.DryRun {
			pt = nil
		}
		blob, dst, err = s.encryptWith(tx, p, "DestinationKeyID", in.DestinationKeyID, actReEncryptTo, pt, in.DestinationContext)
		return err
	})
	if err == nil && in.DryRun {
		return nil, openami.Key{}, openami.Key{}, dryRun()
	}
	return blob, src, dst, err
}

// GenerateDataKey returns a new random data key encrypted under a key the
// caller may use (kms:GenerateDataKey, or
// kms:GenerateDataKeyWithoutPlaintext when withPlaintext is false), and,
// when withPlaintext, the data key itself.
func (s *Keys) GenerateDataKey(ctx context.Context, p openami.Principal, in DataKeyInput, withPlaintext bool) (plaintext, blob []byte, k openami.Key, err error) {
	n := in.NumberOfBytes
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != 0:
		return nil, nil, openami.Key{}, openami.FieldErrorf(openami.InvalidCombination, "KeySpec",
			"Please specify either number of bytes or key spec, not both.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, nil, openami.Key{}, param.Breaks("KeySpec", in.KeySpec, "must satisfy enum value set: [AES_256, AES_128]")
	case n == 0:
		return nil, nil, openami.Key{}, openami.FieldErrorf(openami.MissingParameter, "KeySpec",
			"Please specify either number of bytes or key spec.")
	case n < 1 || n > maxDataKeyBytes:
		return nil, nil, openami.Key{}, param.Breaks("NumberOfBytes", strconv.Itoa(n), "must have value between 1 and %d", maxDataKeyBytes)
	}
	action := actGenerateDataKey
	if !withPlaintext {
		action = actGenerateDataKeyNoPT
	}
	dataKey := make([]byte, n)
	rand.Read(dataKey)
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		pt := dataKey
		if in.DryRun {
			pt = nil
		}
		var err error
		blob, k, err = s.encryptWith(tx, p, "KeyID", in.KeyID, action, pt, in.Context)
		return err
	})
	if err == nil && in.DryRun {
		err = dryRun()
	}
	if err != nil {
		clear(dataKey)
		return nil, nil, openami.Key{}, err
	}
	if !withPlaintext {
		clear(dataKey)
		return nil, blob, k, nil
	}
	return dataKey, blob, k, nil
}
