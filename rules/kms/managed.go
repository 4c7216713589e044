package kms

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// This file holds AWS managed keys: the keys a service built on KMS owns
// in an account (EBS's alias/aws/ebs), made the first time their alias is
// referenced. AWS "predefines" these aliases in every account and region
// and associates each with a new AWS managed key on first use: when the
// service first encrypts without being named a key, or when a caller
// names the alias in DescribeKey (KMS API reference, DescribeKey: "If you
// specify a predefined Amazon Web Services alias (an Amazon Web Services
// alias with no key ID), KMS associates the alias with an Amazon Web
// Services managed key and returns its KeyId and Arn in the response").
//
// ListAliases lists the predefined aliases not yet associated with a key
// too, without a TargetKeyId, as AWS does ("These are predefined aliases
// that AWS has created but has not yet associated with a KMS key"):
// Terraform's aws_kms_alias data source finds alias/aws/ebs that way
// before its DescribeKey makes the key.

// managedAlias is what openami knows of one predefined AWS alias: the
// description and policy of the key AWS makes for it.
type managedAlias struct {
	description string
	policy      func(accountID string) string
}

// EBSManagedAlias is the alias of the AWS managed key for EBS.
const EBSManagedAlias = "alias/aws/ebs"

// managedAliases are the predefined AWS aliases openami makes keys for:
// only EBS's, the one service built on KMS here.
var managedAliases = map[string]managedAlias{
	EBSManagedAlias: {
		description: "Default key that protects my EBS volumes when no other key is defined",
		policy:      ebsManagedKeyPolicy,
	},
}

// ebsManagedKeyPolicy is the policy of an account's AWS managed key for
// EBS: the account may use it and read it, not manage it (disable,
// delete, change its policy or aliases), as on AWS, where the service
// that made it manages it. AWS's own policy also limits use to requests
// through the service (kms:ViaService); openami's EBS asks on the
// account's behalf and KMS sees no service, so that condition is left
// out.
func ebsManagedKeyPolicy(accountID string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "auto-ebs-2",
  "Statement" : [ {
    "Sid" : "Allow access through EBS for all principals in the account that are authorized to use EBS",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::` + accountID + `:root" },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*"
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::` + accountID + `:root" },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  } ]
}`
}

// ManagedKey returns the AWS managed key that the predefined alias
// (alias/aws/…, one openami knows: EBSManagedAlias) names in the caller's
// account and region, making it in tx, with the alias, if the account
// has none yet: an enabled symmetric key with fresh material and the
// alias's policy. Two first references in concurrent transactions make
// one key: the alias is unique, and the store serializes the two (the
// second transaction runs again and finds the first one's key). An
// alias openami does not predefine is NotFound about the alias.
func (s *Keys) ManagedKey(tx metadata.Tx, p openami.Principal, alias string) (openami.Key, error) {
	spec, ok := managedAliases[alias]
	if !ok {
		return openami.Key{}, openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "Alias %s is not found.", openami.AliasARN(p.Region, p.AccountID, alias))
	}
	a, err := tx.Keys().Alias(p.Region, p.AccountID, alias)
	switch {
	case err == nil:
		return s.findKey(tx, p, keyRef{input: alias, account: p.AccountID, id: a.TargetKeyID}, actDescribeKey, sameAccount)
	case !errors.Is(err, openami.ErrNotFound):
		return openami.Key{}, err
	}
	now := s.nowUTC()
	id := uuid.NewString()
	k := openami.Key{
		ID: id, Region: p.Region, AccountID: p.AccountID, Description: spec.description, Manager: openami.KeyManagerAWS,
		Usage: keyUsageEncryptDecrypt, Spec: keySpecSymmetric, State: openami.KeyEnabled,
		Policy: spec.policy(p.AccountID), CreatedAt: now,
		SealedMaterial: newKeyMaterial(s.seal, p.Region, p.AccountID, id),
	}
	if err := tx.Keys().Create(k); err != nil {
		return openami.Key{}, err
	}
	err = tx.Keys().CreateAlias(openami.KeyAlias{Name: alias, Region: p.Region, AccountID: p.AccountID,
		TargetKeyID: id, CreatedAt: now, UpdatedAt: now})
	return k, err
}

// predefinedRef reports whether ref names, in the caller's own account,
// a predefined AWS alias openami makes a key for. Another account's
// alias ARN is never made on the caller's behalf.
func predefinedRef(p openami.Principal, ref keyRef) bool {
	_, ok := managedAliases[ref.alias]
	return ok && ref.account == p.AccountID
}

// describeManaged is DescribeKey of a predefined AWS alias whose key does
// not exist yet: it makes the key (ManagedKey) and describes it, in one
// write transaction, so that concurrent first references make one key.
func (s *Keys) describeManaged(ctx context.Context, p openami.Principal, ref keyRef) (openami.Key, error) {
	var k openami.Key
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := s.ManagedKey(tx, p, ref.alias); err != nil {
			return err
		}
		var err error
		k, err = s.resolveKey(tx, p, ref, actDescribeKey, crossAccount, nil)
		return err
	})
	return k, err
}

// withPredefined merges into rows, one batch of the caller's stored
// aliases after the name after (at most limit, in name order), the
// predefined aliases whose keys are not made yet and that fall in the
// batch's range: after after, and before the batch's last row when the
// batch is full (the next batch takes the rest). The result is in name
// order and at most limit long.
func (s *Keys) withPredefined(tx metadata.Tx, p openami.Principal, rows []openami.KeyAlias, after string, limit int) ([]openami.KeyAlias, error) {
	names := make([]string, 0, len(managedAliases))
	for name := range managedAliases {
		names = append(names, name)
	}
	slices.Sort(names)
	added := false
	for _, name := range names {
		if name <= after || len(rows) >= limit && name >= rows[len(rows)-1].Name {
			continue
		}
		_, err := tx.Keys().Alias(p.Region, p.AccountID, name)
		switch {
		case err == nil:
			continue // made: a stored row
		case !errors.Is(err, openami.ErrNotFound):
			return nil, err
		}
		rows = append(rows, openami.KeyAlias{Name: name, Region: p.Region, AccountID: p.AccountID})
		added = true
	}
	if !added {
		return rows, nil
	}
	slices.SortFunc(rows, func(a, b openami.KeyAlias) int { return strings.Compare(a.Name, b.Name) })
	return rows[:min(len(rows), limit)], nil
}
