package ebs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/param"
)

// This file is EBS encryption: which KMS key a new snapshot or volume is
// encrypted under, who may use it, and the data keys that do the work.
//
// Envelope encryption, one data key per KMS key: the first time a KMS key
// encrypts EBS data, a random 32-byte data key is made, wrapped by the KMS
// key (a KMS ciphertext blob, as GenerateDataKeyWithoutPlaintext would
// return) and kept in the settings as ebs-data-key/KEY-ARN. Every chunk of
// every snapshot and volume encrypted under that KMS key is sealed with it
// (blockstore.DataKey: AES-256-GCM, chunks named by an HMAC of their
// plaintext), so equal blocks are stored once per KMS key and never shared
// across keys. Unwrapped data keys are cached in memory; a KMS key that is
// deleted takes its data key, and so all data encrypted under it, with it.
//
// Permissions are checked when a caller starts something (CreateVolume,
// RunInstances, StartSnapshot, a copy, reading a snapshot's blocks), as EBS
// does on AWS: encrypting under a key needs kms:GenerateDataKeyWithoutPlaintext,
// using encrypted data kms:Decrypt, and the key must be enabled. Work that
// is already running (an attached volume's I/O, a copy under way) goes on.

// ebsManagedAlias is the alias of the AWS managed key for EBS, made in an
// account's region the first time it encrypts without naming a key.
const ebsManagedAlias = kms.EBSManagedAlias

// ebsDataKeySetting names the setting that holds a KMS key's wrapped EBS
// data key.
func ebsDataKeySetting(keyARN string) string { return "ebs-data-key/" + keyARN }

// ebsDataKeyContext is the encryption context a data key is wrapped with.
var ebsDataKeyContext = map[string]string{"aws:ebs:data-key": "v1"}

// dataKeys caches unwrapped data keys by KMS key ARN. An entry is
// trusted for recheck after its KMS key was last seen alive; then
// the key's row is read again, so that a key deleted by another server on
// the same database stops decrypting here too within that time.
type dataKeys struct {
	mu      sync.Mutex
	keys    map[string]cachedDataKey
	recheck time.Duration // guarded by mu
}

type cachedDataKey struct {
	key     *blockstore.DataKey
	checked time.Time
}

// dataKeyRecheck is how long a cached data key is used without reading
// its KMS key's row again, unless RecheckDataKeysAfter says otherwise.
const dataKeyRecheck = 10 * time.Second

// RecheckDataKeysAfter sets how long a cached data key is used without
// reading its KMS key's row again (10 s unless set): a key another server
// on the same database deletes stops decrypting here within that time.
func (s *Volumes) RecheckDataKeysAfter(d time.Duration) {
	s.dataKeys.mu.Lock()
	defer s.dataKeys.mu.Unlock()
	s.dataKeys.recheck = d
}

// get returns the cached data key of arn (nil if none), when its KMS key
// was last seen alive, and how long it may be trusted after that.
func (c *dataKeys) get(arn string) (*blockstore.DataKey, time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.keys[arn]
	return e.key, e.checked, c.recheck
}

func (c *dataKeys) put(arn string, k *blockstore.DataKey, checked time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]cachedDataKey{}
	}
	c.keys[arn] = cachedDataKey{k, checked}
}

func (c *dataKeys) forget(arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, arn)
}

// ForgetDataKey drops the EBS data key of a KMS key being purged, cached
// and stored: the data under it can no longer be read (docs/ENCRYPTION.md,
// crypto-shredding). KMS calls it in the transaction that deletes the key.
func (s *Volumes) ForgetDataKey(tx metadata.Tx, k openami.Key) error {
	s.dataKeys.forget(k.ARN())
	return tx.Settings().Delete(ebsDataKeySetting(k.ARN()))
}

// keyOfARN splits a key ARN into region, account and key id.
func keyOfARN(arn string) (region, account, id string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" {
		return "", "", "", false
	}
	id, ok = strings.CutPrefix(parts[5], "key/")
	return parts[3], parts[4], id, ok
}

// dataKey returns the data key of the KMS key keyARN, making it the first
// time; nil for "" (plain data). It checks no permission and no key state:
// callers have checked them when the work began. A KMS key that no longer
// exists is an error: the data encrypted under it cannot be read.
func (s *Volumes) dataKey(ctx context.Context, keyARN string) (*blockstore.DataKey, error) {
	if keyARN == "" {
		return nil, nil
	}
	region, _, id, ok := keyOfARN(keyARN)
	if !ok {
		return nil, fmt.Errorf("ebs: %q is not a KMS key ARN", keyARN)
	}
	deleted := func() error {
		return openami.ReasonErrorf(openami.IncorrectState, openami.ResourceKMSKey, openami.ReasonKeyUnusable,
			"The KMS key %s that encrypts this data has been deleted: the data cannot be decrypted.", keyARN)
	}
	if k, checked, recheck := s.dataKeys.get(keyARN); k != nil {
		if time.Since(checked) < recheck {
			return k, nil
		}
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			_, ok, err := s.kms.Existing(tx, region, id)
			if err == nil && !ok {
				return deleted()
			}
			return err
		})
		if err != nil {
			if openami.ClassOf(err) == openami.IncorrectState {
				s.dataKeys.forget(keyARN)
			}
			return nil, err
		}
		s.dataKeys.put(keyARN, k, time.Now())
		return k, nil
	}
	var secret []byte
	load := func(tx metadata.Tx, create bool) error {
		k, ok, err := s.kms.Existing(tx, region, id)
		if err != nil {
			return err
		}
		if !ok {
			return deleted()
		}
		c, err := s.kms.Cipher(k)
		if err != nil {
			return err
		}
		defer c.Close()
		wrapped, err := tx.Settings().Get(ebsDataKeySetting(keyARN))
		if errors.Is(err, openami.ErrNotFound) && !create {
			return nil // made in a write transaction next
		}
		if errors.Is(err, openami.ErrNotFound) {
			fresh := make([]byte, blockstore.DataKeySize)
			rand.Read(fresh)
			blob, werr := c.Encrypt(fresh, ebsDataKeyContext)
			clear(fresh)
			if werr != nil {
				return werr
			}
			// Another server may have made one meanwhile: theirs wins.
			wrapped, err = tx.Settings().PutIfAbsent(ebsDataKeySetting(keyARN), blob)
		}
		if err != nil || wrapped == nil {
			return err
		}
		secret, err = c.Decrypt(wrapped, ebsDataKeyContext)
		if err != nil {
			return fmt.Errorf("ebs: the data key of %s does not unwrap: %w", keyARN, err)
		}
		return nil
	}
	err := s.store.View(ctx, func(tx metadata.Tx) error { return load(tx, false) })
	if err == nil && secret == nil {
		err = s.store.Update(ctx, func(tx metadata.Tx) error { return load(tx, true) })
	}
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	dk, err := blockstore.NewDataKey(secret)
	if err != nil {
		return nil, err
	}
	s.dataKeys.put(keyARN, dk, time.Now())
	return dk, nil
}

// ebsKeyError turns KMS's refusal of the key keyID, which the input field
// named, into EBS's terms: ReasonKeyUnusable about the KMS key, of class
// InvalidParameter for a key the caller cannot use (missing, not found,
// not theirs, or one KMS refuses for its form) and IncorrectState for one
// disabled or pending deletion, with the key as given in Value and
// KMS's refusal as the cause. The error carries no sentence: each
// protocol says the key is not accessible or in an incorrect state in
// its own words, quoting KMS's refusal.
func ebsKeyError(field, keyID string, err error) error {
	var e *openami.Error
	if !errors.As(err, &e) {
		return err
	}
	class := openami.InvalidParameter
	switch e.Class {
	case openami.IncorrectState:
		class = openami.IncorrectState
	case openami.NotFound, openami.Unauthorized, openami.InvalidParameter, openami.MissingParameter:
	default:
		return err
	}
	return &openami.Error{Class: class, Resource: openami.ResourceKMSKey, Reason: openami.ReasonKeyUnusable, Field: field, Value: keyID, Err: err}
}

// EBS actions checked on a key's policy.
const (
	ebsEncryptAction = kms.ActionGenerateDataKeyWithoutPlaintext
	ebsDecryptAction = kms.ActionDecrypt
)

// usableEBSKey resolves keyID (id, alias, key or alias ARN), which the
// input field named, for action on the caller's behalf and checks that it
// is enabled (ebsKeyError).
func (s *Volumes) usableEBSKey(tx metadata.Tx, p openami.Principal, field, keyID, action string) (openami.Key, error) {
	if keyID == ebsManagedAlias || keyID == openami.AliasARN(p.Region, p.AccountID, ebsManagedAlias) {
		// Naming alias/aws/ebs is a first reference too: EBS makes its
		// key if the account has none yet, as on AWS.
		if _, err := s.kms.ManagedKey(tx, p, ebsManagedAlias); err != nil {
			return openami.Key{}, err
		}
	}
	k, err := s.kms.UsableKey(tx, p, field, keyID, action)
	if err != nil {
		return openami.Key{}, ebsKeyError(field, keyID, err)
	}
	return k, nil
}

// CheckKeyUse checks that the caller may use the data encrypted under
// keyARN (kms:Decrypt) and that the key is enabled; "" (plain data) always
// passes. field is the rules' name for the input that brought the data
// (ebsKeyError).
func (s *Volumes) CheckKeyUse(tx metadata.Tx, p openami.Principal, field, keyARN string) error {
	if keyARN == "" {
		return nil
	}
	_, err := s.usableEBSKey(tx, p, field, keyARN, ebsDecryptAction)
	return err
}

// Target is what a new snapshot or volume is asked to be: Encrypted and
// KmsKeyID as the caller gave them.
type Target struct {
	Encrypted bool
	KmsKeyID  string
	// Field names the key input when rules/kms refuses the key
	// (kms.UsableKey), in the rules' terms; "" for "KmsKeyID". A key
	// without Encrypted is reported on KmsKeyID whatever Field says.
	Field string
}

// TargetKey decides the KMS key (its ARN, "" for plain) a new snapshot or
// volume is encrypted under, from what the caller asked and the key of the
// data it starts from (srcKeyARN, "" if plain or none):
//   - a KmsKeyId needs Encrypted (InvalidParameterDependency otherwise) and
//     must be usable for encryption by the caller;
//   - otherwise encrypted data stays under its key: nothing ever makes a
//     plain copy of encrypted data;
//   - otherwise Encrypted, or the account's encryption by default, picks
//     the account's default EBS key (ModifyEbsDefaultKmsKeyId, or the AWS
//     managed alias/aws/ebs, made on first use).
//
// The caller's use of srcKeyARN is checked by CheckKeyUse, not here.
func (s *Volumes) TargetKey(tx metadata.Tx, p openami.Principal, t Target, srcKeyARN string) (string, error) {
	field := t.Field
	if field == "" {
		field = "KmsKeyID"
	}
	if t.KmsKeyID != "" {
		if !t.Encrypted {
			return "", param.Requires("KmsKeyID", "Encrypted")
		}
		k, err := s.usableEBSKey(tx, p, field, t.KmsKeyID, ebsEncryptAction)
		if err != nil {
			return "", err
		}
		return k.ARN(), nil
	}
	if srcKeyARN != "" {
		return srcKeyARN, nil
	}
	if !t.Encrypted {
		on, err := encryptionByDefault(tx, p)
		if err != nil || !on {
			return "", err
		}
	}
	k, err := s.defaultEBSKey(tx, p)
	if err != nil {
		return "", err
	}
	return k.ARN(), nil
}

// Settings of an account's EBS encryption defaults in a region.
func ebsByDefaultSetting(p openami.Principal) string {
	return "ebs-encryption-by-default/" + p.Region + "/" + p.AccountID
}

func ebsDefaultKeySetting(p openami.Principal) string {
	return "ebs-default-kms-key/" + p.Region + "/" + p.AccountID
}

func encryptionByDefault(tx metadata.Tx, p openami.Principal) (bool, error) {
	v, err := tx.Settings().Get(ebsByDefaultSetting(p))
	if errors.Is(err, openami.ErrNotFound) {
		return false, nil
	}
	return string(v) == "true", err
}

// defaultEBSKey returns the account's default EBS key, enabled and usable
// for encryption: the one ModifyEbsDefaultKmsKeyId set, or else the AWS
// managed key alias/aws/ebs, which it makes if the account has none yet.
func (s *Volumes) defaultEBSKey(tx metadata.Tx, p openami.Principal) (openami.Key, error) {
	v, err := tx.Settings().Get(ebsDefaultKeySetting(p))
	switch {
	case err == nil && len(v) > 0:
		return s.usableEBSKey(tx, p, "KmsKeyID", string(v), ebsEncryptAction)
	case err != nil && !errors.Is(err, openami.ErrNotFound):
		return openami.Key{}, err
	}
	// No setting, or an empty one (ResetEbsDefaultKmsKeyID): alias/aws/ebs,
	// made now if the account has none yet.
	k, err := s.kms.ManagedKey(tx, p, ebsManagedAlias)
	if err != nil {
		return openami.Key{}, err
	}
	return s.usableEBSKey(tx, p, "KmsKeyID", k.ID, ebsEncryptAction)
}

// GetEbsEncryptionByDefault reports whether new volumes and snapshot copies
// of the caller's account in its region are encrypted by default.
func (s *Volumes) GetEbsEncryptionByDefault(ctx context.Context, p openami.Principal) (bool, error) {
	var on bool
	err := s.store.View(ctx, func(tx metadata.Tx) (err error) {
		on, err = encryptionByDefault(tx, p)
		return err
	})
	return on, err
}

// SetEbsEncryptionByDefault turns encryption by default on or off and
// returns the new setting.
func (s *Volumes) SetEbsEncryptionByDefault(ctx context.Context, p openami.Principal, on bool) (bool, error) {
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		return tx.Settings().Put(ebsByDefaultSetting(p), []byte(fmt.Sprint(on)))
	})
	return on, err
}

// GetEbsDefaultKmsKeyID returns the account's default EBS key as it was
// set (an id, alias or ARN), or the ARN of alias/aws/ebs when none was.
func (s *Volumes) GetEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal) (string, error) {
	var out string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get(ebsDefaultKeySetting(p))
		if err == nil && len(v) > 0 {
			out = string(v)
			return nil
		}
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		out = openami.AliasARN(p.Region, p.AccountID, ebsManagedAlias)
		return nil
	})
	return out, err
}

// ModifyEbsDefaultKmsKeyID sets the account's default EBS key. The key
// must exist and be usable by the caller; it is stored as its ARN.
func (s *Volumes) ModifyEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal, keyID string) (string, error) {
	var out string
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		k, err := s.usableEBSKey(tx, p, "KmsKeyID", keyID, ebsEncryptAction)
		if err != nil {
			return err
		}
		out = k.ARN()
		return tx.Settings().Put(ebsDefaultKeySetting(p), []byte(out))
	})
	return out, err
}

// ResetEbsDefaultKmsKeyID makes alias/aws/ebs the default EBS key again
// and returns its ARN.
func (s *Volumes) ResetEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal) (string, error) {
	var out string
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		// An empty value is no default key of the account's choosing.
		if err := tx.Settings().Put(ebsDefaultKeySetting(p), nil); err != nil {
			return err
		}
		k, err := s.defaultEBSKey(tx, p)
		out = k.ARN()
		return err
	})
	return out, err
}
