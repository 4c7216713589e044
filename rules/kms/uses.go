package kms

import (
	"errors"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// This file is what the services built on KMS use of it (EBS encryption,
// in rules/ebs): they name keys as their callers gave them, and
// resolve, authorize and use them here, in their own transactions, so
// that policies, grants and key states are decided in one place.

// The actions of key policies and grants that the services built on KMS
// check.
const (
	ActionDecrypt                         = actDecrypt
	ActionGenerateDataKeyWithoutPlaintext = actGenerateDataKeyNoPT
)

// UsableKey resolves keyID (a key id, alias name, key ARN or alias ARN;
// field names it in messages) in tx for action on the caller's behalf,
// across accounts as the key's policy and grants allow, and checks that
// the key is enabled. It fails as Encrypt does for such a key:
// MissingParameter, NotFound or Unauthorized for one the caller may not
// use, IncorrectState for one disabled or pending deletion.
func (s *Keys) UsableKey(tx metadata.Tx, p openami.Principal, field, keyID, action string) (openami.Key, error) {
	ref, err := parseKeyRef(p, field, keyID)
	if err != nil {
		return openami.Key{}, err
	}
	k, err := s.resolveKey(tx, p, ref, action, crossAccount, nil)
	if err != nil {
		return openami.Key{}, err
	}
	if err := usableKey(k); err != nil {
		return openami.Key{}, err
	}
	return k, nil
}

// Existing returns the key of the region with the id, and whether there is
// one: false for a key that does not exist or is past its deletion date
// (which counts as deleted whether or not its row is purged yet). It
// checks no permission.
func (s *Keys) Existing(tx metadata.Tx, region, id string) (openami.Key, bool, error) {
	k, err := tx.Keys().Get(region, id)
	switch {
	case errors.Is(err, openami.ErrNotFound):
		return openami.Key{}, false, nil
	case err != nil:
		return openami.Key{}, false, err
	case s.keyGone(k):
		return openami.Key{}, false, nil
	}
	return k, true, nil
}

// ManagedByAWS reports whether the key of the region with the id exists,
// in whatever state, and is an AWS managed key (whose policy cannot name
// other accounts: EBS never shares data under one); false, with no
// error, for a key that does not exist. It checks no permission.
func (s *Keys) ManagedByAWS(tx metadata.Tx, region, id string) (bool, error) {
	k, err := tx.Keys().Get(region, id)
	if errors.Is(err, openami.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return k.Manager == openami.KeyManagerAWS, nil
}

// AliasTarget returns the id of the key an alias (alias/NAME) of the
// caller's account and region names, and false when there is no such
// alias.
func (s *Keys) AliasTarget(tx metadata.Tx, p openami.Principal, alias string) (string, bool, error) {
	a, err := tx.Keys().Alias(p.Region, p.AccountID, alias)
	switch {
	case errors.Is(err, openami.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return a.TargetKeyID, true, nil
}

// Cipher is a key's material, opened, for the few ciphertexts a service
// built on KMS makes and reads itself (EBS's wrapped data keys). Close
// clears the material.
type Cipher struct {
	id       string
	material []byte
}

// Cipher opens the material of k, which the caller has resolved and
// authorized. A failure is a server fault: the row was damaged or the
// master key is not the one that sealed it.
func (s *Keys) Cipher(k openami.Key) (*Cipher, error) {
	material, err := openKeyMaterial(s.seal, k)
	if err != nil {
		return nil, err
	}
	return &Cipher{id: k.ID, material: material}, nil
}

// Encrypt returns a ciphertext blob of plaintext under the key, bound to
// the encryption context ctx, as Keys.Encrypt makes them.
func (c *Cipher) Encrypt(plaintext []byte, ctx map[string]string) ([]byte, error) {
	return encryptBlob(c.id, c.material, plaintext, ctx)
}

// Decrypt returns the plaintext of a blob made under the key with the
// encryption context ctx. A blob that does not parse, was altered, or was
// made with another context or key is Malformed about kms-ciphertext.
func (c *Cipher) Decrypt(blob []byte, ctx map[string]string) ([]byte, error) {
	parsed, err := parseCiphertext(blob)
	if err != nil {
		return nil, err
	}
	return decryptBlob(parsed, c.material, ctx)
}

// Close clears the key's material.
func (c *Cipher) Close() { clear(c.material) }
