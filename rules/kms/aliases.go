package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// This file holds the rules of KMS aliases: their names, which key each
// names, and who may create, move, delete and list them.

// validateAliasName checks an alias name: alias/ and then 1–250 of
// [a-zA-Z0-9/_-] (InvalidParameter); alias/aws/ is reserved for AWS
// managed keys (Unauthorized about kms-alias: NotAuthorizedException).
func validateAliasName(name string) error {
	switch {
	case name == "":
		return param.Missing("AliasName")
	case !strings.HasPrefix(name, "alias/"):
		return openami.FieldErrorf(openami.InvalidParameter, "AliasName",
			`Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	case len(name) > maxAliasNameSize:
		return param.Breaks("AliasName", name, "must have length less than or equal to %d", maxAliasNameSize)
	case name == "alias/":
		return openami.FieldErrorf(openami.InvalidParameter, "AliasName", "Alias name must not be empty after the prefix \"alias/\".")
	case strings.HasPrefix(name, "alias/aws/"):
		return openami.Errorf(openami.Unauthorized, openami.ResourceKMSAlias, "The alias prefix alias/aws/ is reserved for AWS managed keys.")
	}
	for _, c := range name[len("alias/"):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-') {
			return openami.FieldErrorf(openami.InvalidParameter, "AliasName", "%s contains invalid characters for an alias", name)
		}
	}
	return nil
}

// aliasTarget parses the TargetKeyId of CreateAlias and UpdateAlias: a key
// id or key ARN of the caller's account, never an alias.
func aliasTarget(p openami.Principal, target string) (keyRef, error) {
	ref, err := parseKeyRef(p, "TargetKeyID", target)
	if err != nil {
		return keyRef{}, err
	}
	if ref.alias != "" {
		return keyRef{}, openami.FieldErrorf(openami.InvalidParameter, "TargetKeyID", "Aliases must refer to keys. Not aliases")
	}
	return ref, nil
}

// CreateAlias names a key of the caller's account with an alias. The
// alias must be new in the account and region (Duplicate), and the key
// not pending deletion; the key policy must allow kms:CreateAlias.
func (s *Keys) CreateAlias(ctx context.Context, p openami.Principal, name, target string) error {
	if err := validateAliasName(name); err != nil {
		return err
	}
	ref, err := aliasTarget(p, target)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		k, err := s.resolveKey(tx, p, ref, actCreateAlias, sameAccount, nil)
		if err != nil {
			return err
		}
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(k)
		}
		now := s.nowUTC()
		return tx.Keys().CreateAlias(openami.KeyAlias{Name: name, Region: p.Region, AccountID: p.AccountID,
			TargetKeyID: k.ID, CreatedAt: now, UpdatedAt: now})
	})
}

// UpdateAlias points an existing alias at another key of the caller's
// account; both keys' policies must allow kms:UpdateAlias, and the new one
// must not be pending deletion.
func (s *Keys) UpdateAlias(ctx context.Context, p openami.Principal, name, target string) error {
	if err := validateAliasName(name); err != nil {
		return err
	}
	ref, err := aliasTarget(p, target)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		a, err := tx.Keys().Alias(p.Region, p.AccountID, name)
		if err != nil {
			return err
		}
		if _, err := s.resolveKey(tx, p, keyRef{input: a.TargetKeyID, account: p.AccountID, id: a.TargetKeyID}, actUpdateAlias, sameAccount, nil); err != nil {
			return err
		}
		k, err := s.resolveKey(tx, p, ref, actUpdateAlias, sameAccount, nil)
		if err != nil {
			return err
		}
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(k)
		}
		a.TargetKeyID, a.UpdatedAt = k.ID, s.nowUTC()
		return tx.Keys().UpdateAlias(a)
	})
}

// DeleteAlias removes an alias of the caller's account; the policy of the
// key it names must allow kms:DeleteAlias. NotFound if there is no such
// alias.
func (s *Keys) DeleteAlias(ctx context.Context, p openami.Principal, name string) error {
	if err := validateAliasName(name); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := s.resolveKey(tx, p, keyRef{input: name, account: p.AccountID, alias: name}, actDeleteAlias, sameAccount, nil); err != nil {
			return err
		}
		return tx.Keys().DeleteAlias(p.Region, p.AccountID, name)
	})
}

// ListAliases returns a page of the caller's aliases in the region, in
// name order, only those of keyID's key when it is not empty (which must
// be a key id or key ARN of the caller's account), and the marker of the
// next page. Limit and marker are as for ListKeys. Without keyID, the
// predefined AWS aliases (alias/aws/ebs) whose keys are not made yet are
// listed too, without a target key and dates, as AWS lists them
// (managed.go).
func (s *Keys) ListAliases(ctx context.Context, p openami.Principal, keyID string, limit int, marker string) ([]openami.KeyAlias, string, error) {
	n, err := kmsLimit(limit)
	if err != nil {
		return nil, "", err
	}
	q := metadata.AliasQuery{}
	if keyID != "" {
		ref, err := parseKeyRef(p, "KeyID", keyID)
		if err != nil {
			return nil, "", err
		}
		if ref.alias != "" || ref.account != p.AccountID {
			return nil, "", openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Invalid keyId '%s'", keyID)
		}
		q.KeyID = ref.id
	}
	scope := pagetoken.Scope("kms:ListAliases", p.AccountID, p.Region, q.KeyID)
	var (
		aliases []openami.KeyAlias
		next    string
	)
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		if q.KeyID != "" {
			k, err := tx.Keys().Get(p.Region, q.KeyID)
			if errors.Is(err, openami.ErrNotFound) || err == nil && (k.AccountID != p.AccountID || s.keyGone(k)) {
				return openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Key '%s' does not exist", openami.KeyARN(p.Region, p.AccountID, q.KeyID))
			}
			if err != nil {
				return err
			}
		}
		gone := map[string]bool{}
		aliases, next, err = listPage(s, scope, page{MaxResults: n, NextToken: marker}, pageBounds{1, kmsListMax},
			func(after string, limit int) ([]openami.KeyAlias, error) {
				q := q
				q.After, q.Limit = after, limit
				rows, err := tx.Keys().Aliases(p.Region, p.AccountID, q)
				if err != nil || q.KeyID != "" {
					return rows, err
				}
				return s.withPredefined(tx, p, rows, after, limit)
			},
			func(a openami.KeyAlias) string { return a.Name },
			func(a openami.KeyAlias) bool {
				if a.TargetKeyID == "" {
					return true // a predefined alias without its key yet
				}
				// Aliases of a key past its deletion date went with it.
				g, ok := gone[a.TargetKeyID]
				if !ok {
					k, err := tx.Keys().Get(p.Region, a.TargetKeyID)
					g = err == nil && s.keyGone(k)
					gone[a.TargetKeyID] = g
				}
				return !g
			})
		return err
	})
	return aliases, next, err
}
