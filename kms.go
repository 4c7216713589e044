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
	// to the key's region, account and id (see rules/kms/crypto.go).
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

// Grant is a KMS grant: a permission, kept beside a key's policy, that lets
// the grantee principal's account use one key for the operations it lists
// (Encrypt, Decrypt, GenerateDataKey, DescribeKey, CreateGrant, …),
// whichever account the grantee is in, as long as the request's
// encryption context meets Constraints. A grant only allows; it never
// denies, and an explicit Deny in the key policy still wins. Grants live
// in the key's account and region and go with their key.
//
// openami has no IAM, so a grant to any principal of an account
// (arn:aws:iam::ACCOUNT:root, …:user/NAME, …:role/NAME) is honoured for
// every caller of that account (docs/KMS.md).
type Grant struct {
	ID string // 64 hex digits
	// KeyID, Region and AccountID name the grant's key and its account,
	// the account the grant was issued in.
	KeyID     string
	Region    string
	AccountID string
	// Name is the optional name CreateGrant was given ("" for none).
	Name string
	// GranteePrincipal gets the operations; RetiringPrincipal ("" for
	// none) may retire the grant. GranteeAccount is the account of the
	// grantee principal ("" for a service principal, which no caller is).
	GranteePrincipal  string
	GranteeAccount    string
	RetiringPrincipal string
	// Operations are the grant operations, as AWS spells them (Encrypt,
	// ReEncryptFrom, …).
	Operations  []string
	Constraints GrantConstraints
	CreatedAt   time.Time
}

// KeyARN returns the ARN of the grant's key.
func (g Grant) KeyARN() string { return KeyARN(g.Region, g.AccountID, g.KeyID) }

// GrantConstraints restrict a grant's cryptographic operations by the
// request's encryption context: every pair of EncryptionContextSubset must
// be in it, or it must be exactly EncryptionContextEquals. Keys compare
// without regard to case, values exactly. At most one of the two is set;
// both nil means no constraint.
type GrantConstraints struct {
	EncryptionContextSubset map[string]string
	EncryptionContextEquals map[string]string
}

// IsZero reports whether there is no constraint.
func (c GrantConstraints) IsZero() bool {
	return c.EncryptionContextSubset == nil && c.EncryptionContextEquals == nil
}
