package kms

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// This file holds the rules of KMS keys: which identifiers name
// which key, who may do what to a key (by its key policy, policy.go),
// which states allow which operations, and the limits of every parameter.
// Aliases are in aliases.go, tags in tags.go, the cryptography in
// crypto.go; docs/KMS.md describes the whole.

// Key usages, specs and algorithms: openami makes symmetric keys only.
const (
	keyUsageEncryptDecrypt = "ENCRYPT_DECRYPT"
	keySpecSymmetric       = "SYMMETRIC_DEFAULT"
	algorithmSymmetric     = "SYMMETRIC_DEFAULT"
	originKMS              = "AWS_KMS"
	defaultPolicyName      = "default"
)

// Limits, as AWS has them.
const (
	kmsListDefault       = 100
	kmsListMax           = 1000
	kmsTagsPerKey        = 50
	minPendingWindowDays = 7
	maxPendingWindowDays = 30
	maxPlaintextSize     = 4096
	maxCiphertextSize    = 6144
	maxDescriptionSize   = 8192
	maxDataKeyBytes      = 1024
	maxAliasNameSize     = 256
	maxKeyIDSize         = 2048
	// keysPurgedPerPass bounds the keys past their deletion date that one
	// write transaction removes.
	keysPurgedPerPass = 100
)

// The KMS actions key policies name.
const (
	actCreateAlias          = "kms:CreateAlias"
	actDeleteAlias          = "kms:DeleteAlias"
	actUpdateAlias          = "kms:UpdateAlias"
	actDescribeKey          = "kms:DescribeKey"
	actEnableKey            = "kms:EnableKey"
	actDisableKey           = "kms:DisableKey"
	actScheduleKeyDeletion  = "kms:ScheduleKeyDeletion"
	actCancelKeyDeletion    = "kms:CancelKeyDeletion"
	actGetKeyPolicy         = "kms:GetKeyPolicy"
	actPutKeyPolicy         = "kms:PutKeyPolicy"
	actListKeyPolicies      = "kms:ListKeyPolicies"
	actGetKeyRotationStatus = "kms:GetKeyRotationStatus"
	actUpdateKeyDescription = "kms:UpdateKeyDescription"
	actTagResource          = "kms:TagResource"
	actUntagResource        = "kms:UntagResource"
	actListResourceTags     = "kms:ListResourceTags"
	actEncrypt              = "kms:Encrypt"
	actDecrypt              = "kms:Decrypt"
	actReEncryptFrom        = "kms:ReEncryptFrom"
	actReEncryptTo          = "kms:ReEncryptTo"
	actGenerateDataKey      = "kms:GenerateDataKey"
	actGenerateDataKeyNoPT  = "kms:GenerateDataKeyWithoutPlaintext"
)

// Whether an operation may name a key of another account (AWS's
// "cross-account use").
const (
	sameAccount  = false
	crossAccount = true
)

// keyRef is a parsed key identifier: a key id or alias name in the
// caller's account, or a key or alias ARN in any account of the region.
type keyRef struct {
	input   string // as given, for messages
	account string
	id      string // the key id, when the identifier names no alias
	alias   string // alias/NAME
	arn     bool
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// parseKeyRef parses a key identifier, which the input field (the rules'
// name for it) gave. A missing one is MissingParameter, one too long
// breaks a constraint (InvalidParameter); one that cannot name a key, or
// an ARN of another region, is NotFound, as KMS answers.
func parseKeyRef(p openami.Principal, field, s string) (keyRef, error) {
	if s == "" {
		return keyRef{}, param.Missing(field)
	}
	if len(s) > maxKeyIDSize {
		return keyRef{}, param.Breaks(field, "", "must have length less than or equal to %d", maxKeyIDSize)
	}
	invalid := openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Invalid keyId '%s'", s)
	ref := keyRef{input: s, account: p.AccountID}
	if rest, ok := strings.CutPrefix(s, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5) // partition, service, region, account, resource
		if len(parts) != 5 || parts[0] != "aws" || parts[1] != "kms" || !ids.ValidAccountID(parts[3]) {
			return keyRef{}, invalid
		}
		if parts[2] != p.Region {
			return keyRef{}, openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Invalid arn %s", parts[2])
		}
		ref.account, ref.arn = parts[3], true
		s = parts[4]
		if id, ok := strings.CutPrefix(s, "key/"); ok {
			if !keyIDPattern.MatchString(id) {
				return keyRef{}, invalid
			}
			ref.id = strings.ToLower(id)
			return ref, nil
		}
		if !strings.HasPrefix(s, "alias/") {
			return keyRef{}, invalid
		}
	}
	switch {
	case strings.HasPrefix(s, "alias/"):
		ref.alias = s
	case !ref.arn && keyIDPattern.MatchString(s):
		ref.id = strings.ToLower(s)
	default:
		return keyRef{}, invalid
	}
	return ref, nil
}

// keyGone reports whether a key is past its deletion date: it is treated
// as deleted from then on, whether or not its row has been purged yet.
func (s *Keys) keyGone(k openami.Key) bool {
	return k.State == openami.KeyPendingDeletion && !s.now().Before(k.DeletionDate)
}

// accessDenied is KMS's refusal of a principal's action on a key.
func accessDenied(p openami.Principal, action, resource string, explicit bool) error {
	why := "because no resource-based policy allows the " + action + " action"
	if explicit {
		why = "with an explicit deny in a resource-based policy"
	}
	return openami.Errorf(openami.Unauthorized, openami.ResourceKMSKey,
		"User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: %s %s", p.AccountID, action, resource, why)
}

// authorizeKey decides whether the caller may do action to the key: the
// key policy allows it, or, when the policy neither allows nor explicitly
// denies it, a grant of the key to the caller's account does
// (grants.go). An explicit Deny wins over every grant. ctx is the
// request's encryption context, which policy conditions and grant
// constraints test. This is the one place that decides, so that every
// operation on a key, in KMS or in the services built on it, honours
// policies and grants alike.
func (s *Keys) authorizeKey(tx metadata.Tx, p openami.Principal, k openami.Key, action string, ctx map[string]string) error {
	pol, err := parsePolicy(k.Policy)
	if err != nil {
		return &openami.Error{Class: openami.Internal, Message: "kms: stored key policy does not parse", Err: err}
	}
	switch pol.decide(policyRequest{account: p.AccountID, action: action, context: ctx}) {
	case allowed:
		return nil
	case explicitDeny:
		return accessDenied(p, action, k.ARN(), true)
	}
	ok, err := s.grantAllows(tx, p, k, action, ctx)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return accessDenied(p, action, k.ARN(), false)
}

// resolveKey returns the key ref names, if the caller may do action to it.
// cross says whether the operation may use a key of another account; when
// it may not, another account's key is NotFound. A key of another account
// that does not exist, or whose policy and grants do not allow the caller,
// is Unauthorized (AccessDenied), so that its existence does not leak; one
// of the caller's own account is NotFound or Unauthorized as the case is.
// ctx is the encryption context the policy's conditions and the grants'
// constraints may test.
func (s *Keys) resolveKey(tx metadata.Tx, p openami.Principal, ref keyRef, action string, cross bool, ctx map[string]string) (openami.Key, error) {
	k, err := s.findKey(tx, p, ref, action, cross)
	if err != nil {
		return openami.Key{}, err
	}
	if err := s.authorizeKey(tx, p, k, action, ctx); err != nil {
		return openami.Key{}, err
	}
	return k, nil
}

// findKey is resolveKey without the authorization: it returns the key ref
// names, with the errors resolveKey documents for keys that do not exist
// or may not be named (action is named in a refusal).
func (s *Keys) findKey(tx metadata.Tx, p openami.Principal, ref keyRef, action string, cross bool) (openami.Key, error) {
	foreign := ref.account != p.AccountID
	if foreign && !cross {
		return openami.Key{}, openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Key '%s' does not exist", ref.input)
	}
	id := ref.id
	if ref.alias != "" {
		a, err := tx.Keys().Alias(p.Region, ref.account, ref.alias)
		switch {
		case errors.Is(err, openami.ErrNotFound) && foreign:
			return openami.Key{}, accessDenied(p, action, ref.input, false)
		case errors.Is(err, openami.ErrNotFound):
			return openami.Key{}, openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "Alias %s is not found.", openami.AliasARN(p.Region, ref.account, ref.alias))
		case err != nil:
			return openami.Key{}, err
		}
		id = a.TargetKeyID
	}
	k, err := tx.Keys().Get(p.Region, id)
	if err != nil && !errors.Is(err, openami.ErrNotFound) {
		return openami.Key{}, err
	}
	if err != nil || k.AccountID != ref.account || s.keyGone(k) {
		switch {
		case foreign:
			return openami.Key{}, accessDenied(p, action, ref.input, false)
		case ref.alias != "":
			// The alias went with its key, whose row is not purged yet.
			return openami.Key{}, openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "Alias %s is not found.", openami.AliasARN(p.Region, ref.account, ref.alias))
		}
		return openami.Key{}, openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Key '%s' does not exist", openami.KeyARN(p.Region, ref.account, id))
	}
	return k, nil
}

// usableKey checks that a key may encrypt and decrypt: a disabled key is
// IncorrectState about the key with ReasonDisabled, one pending deletion
// IncorrectState about the key with no reason.
func usableKey(k openami.Key) error {
	switch k.State {
	case openami.KeyEnabled:
		return nil
	case openami.KeyDisabled:
		return openami.ReasonErrorf(openami.IncorrectState, openami.ResourceKMSKey, openami.ReasonDisabled, "%s is disabled.", k.ARN())
	}
	return pendingDeletion(k)
}

func pendingDeletion(k openami.Key) error {
	return openami.Errorf(openami.IncorrectState, openami.ResourceKMSKey, "%s is pending deletion.", k.ARN())
}

// purgeDueKeys deletes, with their aliases, up to keysPurgedPerPass keys
// of the region whose deletion date has passed, calling the Purged hook
// of the Config for each.
func (s *Keys) purgeDueKeys(tx metadata.Tx, region string) (int, error) {
	due, err := tx.Keys().DueForDeletion(region, s.now(), keysPurgedPerPass)
	if err != nil {
		return 0, err
	}
	for _, k := range due {
		if err := tx.Keys().Delete(region, k.ID); err != nil {
			return 0, err
		}
		// What was built on it goes with it: EBS's data key, so that
		// the data under it can no longer be read (docs/ENCRYPTION.md,
		// crypto-shredding).
		if s.purged != nil {
			if err := s.purged(tx, k); err != nil {
				return 0, err
			}
		}
	}
	return len(due), nil
}

// PurgeDeletedKeys deletes every key, in every region, whose waiting
// period after ScheduleKeyDeletion is over, with its aliases and its key
// material. Such keys already answer as deleted; this removes their rows.
// It returns how many keys it deleted.
func (s *Keys) PurgeDeletedKeys(ctx context.Context) (int, error) {
	total := 0
	for _, r := range s.regions {
		for {
			var n int
			err := s.store.Update(ctx, func(tx metadata.Tx) error {
				var err error
				n, err = s.purgeDueKeys(tx, r.Name)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if n < keysPurgedPerPass {
				break
			}
		}
	}
	return total, nil
}

// CreateKeyInput are CreateKey's parameters. Empty strings are absent
// ones.
type CreateKeyInput struct {
	Description           string
	Policy                string
	KeyUsage              string
	KeySpec               string
	CustomerMasterKeySpec string
	Origin                string
	CustomKeyStoreID      string
	XksKeyID              string
	MultiRegion           bool
	// BypassPolicyLockoutSafetyCheck lets Policy shut the caller out of
	// PutKeyPolicy.
	BypassPolicyLockoutSafetyCheck bool
	Tags                           []openami.Tag
}

var (
	keyUsages = map[string]bool{"SIGN_VERIFY": true, "ENCRYPT_DECRYPT": true, "GENERATE_VERIFY_MAC": true, "KEY_AGREEMENT": true}
	keySpecs  = map[string]bool{"RSA_2048": true, "RSA_3072": true, "RSA_4096": true, "ECC_NIST_P256": true, "ECC_NIST_P384": true,
		"ECC_NIST_P521": true, "ECC_SECG_P256K1": true, "SYMMETRIC_DEFAULT": true, "HMAC_224": true, "HMAC_256": true,
		"HMAC_384": true, "HMAC_512": true, "SM2": true, "ML_DSA_44": true, "ML_DSA_65": true, "ML_DSA_87": true,
		"ECC_NIST_EDWARDS25519": true}
	origins = map[string]bool{"AWS_KMS": true, "EXTERNAL": true, "AWS_CLOUDHSM": true, "EXTERNAL_KEY_STORE": true}
)

// CreateKey creates a symmetric encryption key with fresh key material in
// the caller's account and region. Policy defaults to one that trusts the
// account; a given one must parse (MalformedPolicyDocument) and, unless
// BypassPolicyLockoutSafetyCheck, allow the caller kms:PutKeyPolicy.
// Anything but a symmetric ENCRYPT_DECRYPT key of origin AWS_KMS in one
// region is Unsupported; values outside AWS's enums are InvalidParameter.
func (s *Keys) CreateKey(ctx context.Context, p openami.Principal, in CreateKeyInput) (openami.Key, error) {
	switch {
	case in.KeyUsage != "" && !keyUsages[in.KeyUsage]:
		return openami.Key{}, param.Breaks("KeyUsage", in.KeyUsage, "must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]")
	case in.KeySpec != "" && !keySpecs[in.KeySpec]:
		return openami.Key{}, param.Breaks("KeySpec", in.KeySpec, "must satisfy enum value set: [SYMMETRIC_DEFAULT, RSA_2048, …]")
	case in.CustomerMasterKeySpec != "" && !keySpecs[in.CustomerMasterKeySpec]:
		return openami.Key{}, param.Breaks("CustomerMasterKeySpec", in.CustomerMasterKeySpec, "must satisfy enum value set: [SYMMETRIC_DEFAULT, RSA_2048, …]")
	case in.Origin != "" && !origins[in.Origin]:
		return openami.Key{}, param.Breaks("Origin", in.Origin, "must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]")
	case in.KeySpec != "" && in.CustomerMasterKeySpec != "":
		return openami.Key{}, param.Exclusive("KeySpec", "CustomerMasterKeySpec")
	case len(in.Description) > maxDescriptionSize:
		return openami.Key{}, param.Breaks("Description", "", "must have length less than or equal to %d", maxDescriptionSize)
	}
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	}
	switch {
	case in.KeyUsage != "" && in.KeyUsage != keyUsageEncryptDecrypt:
		return openami.Key{}, openami.Errorf(openami.Unsupported, "", "openami supports only KeyUsage ENCRYPT_DECRYPT, not %s.", in.KeyUsage)
	case spec != "" && spec != keySpecSymmetric:
		return openami.Key{}, openami.Errorf(openami.Unsupported, "", "openami supports only KeySpec SYMMETRIC_DEFAULT, not %s.", spec)
	case in.Origin != "" && in.Origin != originKMS:
		return openami.Key{}, openami.Errorf(openami.Unsupported, "", "openami supports only Origin AWS_KMS, not %s.", in.Origin)
	case in.CustomKeyStoreID != "" || in.XksKeyID != "":
		return openami.Key{}, openami.Errorf(openami.Unsupported, "", "openami has no custom key stores.")
	case in.MultiRegion:
		return openami.Key{}, openami.Errorf(openami.Unsupported, "", "openami does not support multi-Region keys.")
	}
	if err := validateKMSTags(in.Tags); err != nil {
		return openami.Key{}, err
	}
	if len(in.Tags) > kmsTagsPerKey {
		return openami.Key{}, openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "A KMS key may have at most %d tags.", kmsTagsPerKey)
	}
	policy := in.Policy
	if policy == "" {
		policy = defaultKeyPolicy(p.AccountID)
	} else if err := checkNewPolicy(p, policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
		return openami.Key{}, err
	}
	id := uuid.NewString()
	k := openami.Key{
		ID: id, Region: p.Region, AccountID: p.AccountID, Description: in.Description,
		Usage: keyUsageEncryptDecrypt, Spec: keySpecSymmetric, State: openami.KeyEnabled, Policy: policy,
		Tags: in.Tags, CreatedAt: s.nowUTC(),
		SealedMaterial: newKeyMaterial(s.seal, p.Region, p.AccountID, id),
	}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := s.purgeDueKeys(tx, p.Region); err != nil {
			return err
		}
		return tx.Keys().Create(k)
	})
	if err != nil {
		return openami.Key{}, err
	}
	return k, nil
}

// checkNewPolicy validates a policy a caller sets: it must parse, and
// unless bypass is set it must let the caller change it again.
func checkNewPolicy(p openami.Principal, policy string, bypass bool) error {
	pol, err := parsePolicy(policy)
	if err != nil {
		return err
	}
	if !bypass && pol.decide(policyRequest{account: p.AccountID, action: actPutKeyPolicy}) != allowed {
		return malformedPolicy("The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}

// viewKey resolves keyID in a read-only transaction.
func (s *Keys) viewKey(ctx context.Context, p openami.Principal, keyID, action string, cross bool) (openami.Key, error) {
	ref, err := parseKeyRef(p, "KeyID", keyID)
	if err != nil {
		return openami.Key{}, err
	}
	var k openami.Key
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		k, err = s.resolveKey(tx, p, ref, action, cross, nil)
		return err
	})
	return k, err
}

// updateKey resolves keyID (in the caller's account) for action, lets fn
// change the key, and stores it, in one transaction.
func (s *Keys) updateKey(ctx context.Context, p openami.Principal, keyID, action string, fn func(k *openami.Key) error) (openami.Key, error) {
	ref, err := parseKeyRef(p, "KeyID", keyID)
	if err != nil {
		return openami.Key{}, err
	}
	var out openami.Key
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		k, err := s.resolveKey(tx, p, ref, action, sameAccount, nil)
		if err != nil {
			return err
		}
		if err := fn(&k); err != nil {
			return err
		}
		if err := tx.Keys().Update(k); err != nil {
			return err
		}
		out = k
		return nil
	})
	return out, err
}

// DescribeKey returns a key named by its id, ARN, alias name or alias ARN
// (the ARNs may name another account's key, if its policy allows the
// caller kms:DescribeKey). Keys in every state are described. A
// predefined AWS alias of the caller's account (alias/aws/ebs) whose key
// does not exist yet gets its AWS managed key made now, as on AWS
// (managed.go).
func (s *Keys) DescribeKey(ctx context.Context, p openami.Principal, keyID string) (openami.Key, error) {
	k, err := s.viewKey(ctx, p, keyID, actDescribeKey, crossAccount)
	if openami.ClassOf(err) == openami.NotFound && openami.ResourceOf(err) == openami.ResourceKMSAlias {
		if ref, perr := parseKeyRef(p, "KeyID", keyID); perr == nil && predefinedRef(p, ref) {
			return s.describeManaged(ctx, p, ref)
		}
	}
	return k, err
}

// kmsLimit checks a Limit parameter (0 when absent) and returns the page
// size.
func kmsLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return kmsListDefault, nil
	case limit < 1:
		return 0, param.Breaks("Limit", strconv.Itoa(limit), "must have value greater than or equal to 1")
	case limit > kmsListMax:
		return 0, param.Breaks("Limit", strconv.Itoa(limit), "must have value less than or equal to %d", kmsListMax)
	}
	return limit, nil
}

// ListKeys returns a page of the caller's keys in the region, in id
// order, and the marker of the next page ("" after the last). Limit is
// 1–1000 (default 100); a marker that is not from this listing is
// InvalidToken.
func (s *Keys) ListKeys(ctx context.Context, p openami.Principal, limit int, marker string) ([]openami.Key, string, error) {
	n, err := kmsLimit(limit)
	if err != nil {
		return nil, "", err
	}
	scope := pagetoken.Scope("kms:ListKeys", p.AccountID, p.Region)
	var (
		keys []openami.Key
		next string
	)
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		keys, next, err = listPage(s, scope, page{MaxResults: n, NextToken: marker}, pageBounds{1, kmsListMax},
			func(after string, limit int) ([]openami.Key, error) {
				return tx.Keys().List(p.Region, p.AccountID, after, limit)
			},
			func(k openami.Key) string { return k.ID },
			func(k openami.Key) bool { return !s.keyGone(k) })
		return err
	})
	return keys, next, err
}

// EnableKey enables a key of the caller's account (a no-op for an enabled
// one). IncorrectState if it is pending deletion.
func (s *Keys) EnableKey(ctx context.Context, p openami.Principal, keyID string) error {
	_, err := s.updateKey(ctx, p, keyID, actEnableKey, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		k.State = openami.KeyEnabled
		return nil
	})
	return err
}

// DisableKey disables a key of the caller's account: it keeps its
// material but encrypts and decrypts nothing until enabled again.
// IncorrectState if it is pending deletion.
func (s *Keys) DisableKey(ctx context.Context, p openami.Principal, keyID string) error {
	_, err := s.updateKey(ctx, p, keyID, actDisableKey, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		k.State = openami.KeyDisabled
		return nil
	})
	return err
}

// ScheduleKeyDeletion puts a key of the caller's account in
// PendingDeletion for days days (nil: 30; 7–30, else InvalidParameter).
// When they are over, the key, its aliases and its material are deleted,
// and everything encrypted under it is lost. IncorrectState if it is
// already pending deletion.
func (s *Keys) ScheduleKeyDeletion(ctx context.Context, p openami.Principal, keyID string, days *int) (openami.Key, error) {
	d := maxPendingWindowDays
	if days != nil {
		d = *days
	}
	if d < minPendingWindowDays || d > maxPendingWindowDays {
		return openami.Key{}, param.Breaks("PendingWindowInDays", strconv.Itoa(d), "must have value between %d and %d", minPendingWindowDays, maxPendingWindowDays)
	}
	return s.updateKey(ctx, p, keyID, actScheduleKeyDeletion, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		k.State, k.PendingWindowDays = openami.KeyPendingDeletion, d
		k.DeletionDate = s.nowUTC().Add(time.Duration(d) * 24 * time.Hour)
		return nil
	})
}

// CancelKeyDeletion takes a key of the caller's account out of
// PendingDeletion; it is then Disabled, as on AWS. IncorrectState if it is
// not pending deletion.
func (s *Keys) CancelKeyDeletion(ctx context.Context, p openami.Principal, keyID string) (openami.Key, error) {
	return s.updateKey(ctx, p, keyID, actCancelKeyDeletion, func(k *openami.Key) error {
		if k.State != openami.KeyPendingDeletion {
			return openami.Errorf(openami.IncorrectState, openami.ResourceKMSKey, "%s is not pending deletion.", k.ARN())
		}
		k.State, k.DeletionDate, k.PendingWindowDays = openami.KeyDisabled, time.Time{}, 0
		return nil
	})
}

// checkPolicyName accepts "" and "default", the only key policy name.
func checkPolicyName(name string) error {
	if name != "" && name != defaultPolicyName {
		return openami.ReasonErrorf(openami.NotFound, openami.ResourceKMSKey, openami.ReasonPolicy, "No such policy exists: %s. The only valid value is default.", name)
	}
	return nil
}

// KeyPolicy returns the policy of a key of the caller's account. name
// must be "" or "default" (else NotFound).
func (s *Keys) KeyPolicy(ctx context.Context, p openami.Principal, keyID, name string) (string, error) {
	if err := checkPolicyName(name); err != nil {
		return "", err
	}
	k, err := s.viewKey(ctx, p, keyID, actGetKeyPolicy, sameAccount)
	return k.Policy, err
}

// PutKeyPolicy replaces the policy of a key of the caller's account. The
// document must be JSON with a Statement list of well-formed statements
// (Malformed about kms-key-policy) and, unless bypass, let the caller
// change it again.
func (s *Keys) PutKeyPolicy(ctx context.Context, p openami.Principal, keyID, name, policy string, bypass bool) error {
	if err := checkPolicyName(name); err != nil {
		return err
	}
	if err := checkNewPolicy(p, policy, bypass); err != nil {
		return err
	}
	_, err := s.updateKey(ctx, p, keyID, actPutKeyPolicy, func(k *openami.Key) error {
		k.Policy = policy
		return nil
	})
	return err
}

// KeyPolicyNames returns the names of a key's policies: always "default".
func (s *Keys) KeyPolicyNames(ctx context.Context, p openami.Principal, keyID string) ([]string, error) {
	_, err := s.viewKey(ctx, p, keyID, actListKeyPolicies, sameAccount)
	if err != nil {
		return nil, err
	}
	return []string{defaultPolicyName}, nil
}

// KeyRotationStatus reports whether a key rotates its material
// automatically: never, in openami.
func (s *Keys) KeyRotationStatus(ctx context.Context, p openami.Principal, keyID string) (bool, error) {
	_, err := s.viewKey(ctx, p, keyID, actGetKeyRotationStatus, crossAccount)
	return false, err
}

// UpdateKeyDescription replaces a key's description.
func (s *Keys) UpdateKeyDescription(ctx context.Context, p openami.Principal, keyID, description string) error {
	if len(description) > maxDescriptionSize {
		return param.Breaks("Description", "", "must have length less than or equal to %d", maxDescriptionSize)
	}
	_, err := s.updateKey(ctx, p, keyID, actUpdateKeyDescription, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		k.Description = description
		return nil
	})
	return err
}
