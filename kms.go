package openami

import (
	"fmt"
	"time"
)

// KeyState is the state of a KMS key. Only an Enabled key encrypts and
// decrypts; a Disabled one answers cryptographic requests with
// DisabledException, a PendingDeletion one with KMSInvalidStateException.
type KeyState string

// KeyManagerAWS is the Manager of an AWS managed key.
const KeyManagerAWS = "AWS"

// Key states.
const (
	KeyEnabled         KeyState = "Enabled"
	KeyDisabled        KeyState = "Disabled"
	KeyPendingDeletion KeyState = "PendingDeletion"
)

// Key is a KMS key: a symmetric AES-256 key of one account in one region,
// named by a UUID. Its 32 bytes of key material never leave the server
// unwrapped: the store holds them only sealed with the server's master key
// (SealedMaterial), and only package service opens them, to encrypt or
// decrypt on a caller's behalf.
//
// Who may use a key is decided by its Policy, a JSON key policy document
// (see docs/KMS.md): even the owning account acts on its key only as far as
// the policy lets it, and the default policy trusts the owning account.
type Key struct {
	ID          string // 1234abcd-12ab-34cd-56ef-1234567890ab
	Region      string
	AccountID   string
	Description string
	// Manager is KeyManagerAWS for an AWS managed key (alias/aws/ebs),
	// made by a service on the account's behalf; "" for a customer key.
	Manager string
	// Usage is ENCRYPT_DECRYPT and Spec SYMMETRIC_DEFAULT: the only kind
	// of key openami makes.
	Usage  string
	Spec   string
	State  KeyState
	Policy string
	Tags   []Tag
	// CreatedAt is when the key was created; DeletionDate, for a key
	// pending deletion, when it will be deleted, PendingWindowDays the
	// waiting period that was asked for.
	CreatedAt         time.Time
	DeletionDate      time.Time
	PendingWindowDays int
	// SealedMaterial is the key material sealed by the master key, bound
	// to the key's region, account and id (see service/kms_crypto.go).
	SealedMaterial []byte
}

// ARN returns the key's ARN, arn:aws:kms:REGION:ACCOUNT:key/ID.
func (k Key) ARN() string { return KeyARN(k.Region, k.AccountID, k.ID) }

// KeyARN returns the ARN of the key id in the region and account.
func KeyARN(region, accountID, id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, accountID, id)
}

// KeyAlias is a friendly name for a KMS key of the same account and region:
// alias/NAME. An alias names exactly one key; a key may have many aliases.
type KeyAlias struct {
	Name        string // alias/my-key
	Region      string
	AccountID   string
	TargetKeyID string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ARN returns the alias's ARN, arn:aws:kms:REGION:ACCOUNT:alias/NAME.
func (a KeyAlias) ARN() string { return AliasARN(a.Region, a.AccountID, a.Name) }

// AliasARN returns the ARN of the alias name (alias/NAME) in the region and
// account.
func AliasARN(region, accountID, name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", region, accountID, name)
}
