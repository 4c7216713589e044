package kms

import (
	"context"

	"github.com/openami/openami"
	kmsrules "github.com/openami/openami/rules/kms"
)

// Rules is what the KMS API calls, and all it calls, of the rules of KMS
// (*kms.Keys of rules/kms, which cmd/openami wires through api.New): the
// three roles below. Every method takes the caller's principal and
// returns *openami.Error values this package maps to exceptions
// (errors.go).
type Rules interface {
	Keys
	Crypto
	Grants
}

// Keys is the life cycle of keys, their aliases, policies and tags.
type Keys interface {
	CreateKey(ctx context.Context, p openami.Principal, in kmsrules.CreateKeyInput) (openami.Key, error)
	DescribeKey(ctx context.Context, p openami.Principal, keyID string) (openami.Key, error)
	ListKeys(ctx context.Context, p openami.Principal, limit int, marker string) ([]openami.Key, string, error)
	EnableKey(ctx context.Context, p openami.Principal, keyID string) error
	DisableKey(ctx context.Context, p openami.Principal, keyID string) error
	ScheduleKeyDeletion(ctx context.Context, p openami.Principal, keyID string, days *int) (openami.Key, error)
	CancelKeyDeletion(ctx context.Context, p openami.Principal, keyID string) (openami.Key, error)
	UpdateKeyDescription(ctx context.Context, p openami.Principal, keyID, description string) error
	KeyPolicy(ctx context.Context, p openami.Principal, keyID, name string) (string, error)
	PutKeyPolicy(ctx context.Context, p openami.Principal, keyID, name, policy string, bypass bool) error
	KeyPolicyNames(ctx context.Context, p openami.Principal, keyID string) ([]string, error)
	KeyRotationStatus(ctx context.Context, p openami.Principal, keyID string) (bool, error)
	CreateAlias(ctx context.Context, p openami.Principal, name, target string) error
	UpdateAlias(ctx context.Context, p openami.Principal, name, target string) error
	DeleteAlias(ctx context.Context, p openami.Principal, name string) error
	ListAliases(ctx context.Context, p openami.Principal, keyID string, limit int, marker string) ([]openami.KeyAlias, string, error)
	TagKey(ctx context.Context, p openami.Principal, keyID string, tags []openami.Tag) error
	UntagKey(ctx context.Context, p openami.Principal, keyID string, keys []string) error
	KeyTags(ctx context.Context, p openami.Principal, keyID string) ([]openami.Tag, error)
}

// Crypto is the cryptographic operations, and the check of the grant
// tokens they (and DescribeKey) accept.
type Crypto interface {
	Encrypt(ctx context.Context, p openami.Principal, in kmsrules.EncryptInput) ([]byte, openami.Key, error)
	Decrypt(ctx context.Context, p openami.Principal, in kmsrules.DecryptInput) ([]byte, openami.Key, error)
	ReEncrypt(ctx context.Context, p openami.Principal, in kmsrules.ReEncryptInput) ([]byte, openami.Key, openami.Key, error)
	GenerateDataKey(ctx context.Context, p openami.Principal, in kmsrules.DataKeyInput, withPlaintext bool) (plaintext, blob []byte, k openami.Key, err error)
	CheckGrantTokens(p openami.Principal, tokens []string) error
}

// Grants is the grants of keys to other accounts.
type Grants interface {
	CreateGrant(ctx context.Context, p openami.Principal, in kmsrules.CreateGrantInput) (openami.Grant, string, error)
	ListGrants(ctx context.Context, p openami.Principal, in kmsrules.ListGrantsInput) ([]openami.Grant, string, error)
	ListRetirableGrants(ctx context.Context, p openami.Principal, principal string, limit int, marker string) ([]openami.Grant, string, error)
	RetireGrant(ctx context.Context, p openami.Principal, in kmsrules.RetireGrantInput) error
	RevokeGrant(ctx context.Context, p openami.Principal, keyID, grantID string, dry bool) error
}

// The rules of rules/kms are what this package needs.
var _ Rules = (*kmsrules.Keys)(nil)
