package kms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// This file holds KMS grants: CreateGrant, ListGrants, ListRetirableGrants,
// RetireGrant and RevokeGrant, grant tokens, and the part of authorizeKey
// that asks whether a grant allows a request (docs/KMS.md).
//
//   - A grant names one key, a grantee principal and the operations it
//     allows. openami has no IAM: a grant to any principal of an account
//     (its root, or an IAM user or role ARN) is honoured for every caller
//     of that account, in any account, the key's own included.
//   - A grant is consulted only when the key policy neither allows nor
//     explicitly denies the request: an explicit Deny wins.
//   - Its constraints test the request's encryption context for the
//     cryptographic operations; DescribeKey, CreateGrant and RetireGrant
//     ignore them (CreateGrant through a grant requires the new grant to be
//     as strict instead).
//   - Grants take effect at once (there is no eventual consistency to wait
//     out), so grant tokens are only validated: a token openami did not
//     issue in the region is InvalidGrantTokenException.

// The KMS actions of grants, as key policies name them.
const (
	actCreateGrant         = "kms:CreateGrant"
	actListGrants          = "kms:ListGrants"
	actRevokeGrant         = "kms:RevokeGrant"
	actRetireGrant         = "kms:RetireGrant"
	actListRetirableGrants = "kms:ListRetirableGrants"
)

// Grant operations, as CreateGrant spells them.
const (
	opCreateGrant = "CreateGrant"
	opRetireGrant = "RetireGrant"
	opDescribeKey = "DescribeKey"
)

// grantOperations are the values of CreateGrant's Operations, in AWS's
// order; symmetricOps those a symmetric encryption key supports.
var (
	grantOperations = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
		"ReEncryptFrom", "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret"}
	symmetricOps = map[string]bool{"Decrypt": true, "Encrypt": true, "GenerateDataKey": true,
		"GenerateDataKeyWithoutPlaintext": true, "ReEncryptFrom": true, "ReEncryptTo": true, "CreateGrant": true,
		"RetireGrant": true, "DescribeKey": true, "GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true}
)

// grantedActions maps the key-policy actions a grant can allow through
// authorizeKey to grant operations. CreateGrant and RetireGrant are
// decided by CreateGrant and RetireGrant themselves.
var grantedActions = map[string]string{
	actEncrypt:             "Encrypt",
	actDecrypt:             "Decrypt",
	actReEncryptFrom:       "ReEncryptFrom",
	actReEncryptTo:         "ReEncryptTo",
	actGenerateDataKey:     "GenerateDataKey",
	actGenerateDataKeyNoPT: "GenerateDataKeyWithoutPlaintext",
	actDescribeKey:         opDescribeKey,
}

// Limits, as AWS has them.
const (
	grantListDefault    = 50
	grantListPage       = 100 // the most one ListGrants page returns
	maxGrantTokens      = 10
	maxGrantTokenSize   = 8192
	maxPrincipalSize    = 256
	maxGrantNameSize    = 256
	maxGrantIDSize      = 128
	maxConstraintPairs  = 8
	maxConstraintValue  = 384
	grantIDBytes        = 32
	grantTokenAADPrefix = "openami kms grant token v1\x00"
)

var (
	principalChars = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	grantNameChars = regexp.MustCompile(`^[a-zA-Z0-9:/_-]+$`)
	// accountPrincipal matches the ARNs of principals of an account: its
	// root, IAM users and roles, assumed roles and federated users.
	accountPrincipal = regexp.MustCompile(`^arn:aws:(?:iam::([0-9]{12}):(?:root|user/.+|role/.+)|sts::([0-9]{12}):(?:assumed-role|federated-user)/.+)$`)
	// servicePrincipal matches AWS service principals, which are valid
	// grantees but name no caller of openami.
	servicePrincipal = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$`)
)

func invalidGrantID(id string) error {
	return openami.Errorf(openami.InvalidParameter, openami.ResourceKMSGrant, "Invalid grant ID: %s", id)
}

func invalidGrantToken() error {
	return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSGrant, openami.ReasonGrantToken, "The grant token is not valid.")
}

func grantValidation(field, format string, args ...any) error {
	return openami.FieldErrorf(openami.InvalidParameter, field, format, args...)
}

// principalAccountOf parses a grantee or retiring principal: the account
// of an account principal's ARN, or "" for a service principal. A value
// that breaks the parameter's constraints is InvalidParameter
// (ValidationException); one that is neither kind of principal is
// InvalidParameter about principal-arn (InvalidArnException).
func principalAccountOf(field, principal string) (string, error) {
	switch {
	case principal == "":
		return "", param.Missing(field)
	case len(principal) > maxPrincipalSize:
		return "", param.Breaks(field, "", "must have length less than or equal to %d", maxPrincipalSize)
	case !principalChars.MatchString(principal):
		return "", param.Breaks(field, principal, `must satisfy regular expression pattern: ^[\w+=,.@:/-]+$`)
	case servicePrincipal.MatchString(principal):
		return "", nil
	}
	m := accountPrincipal.FindStringSubmatch(principal)
	if m == nil {
		return "", &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceKMSGrant, Reason: openami.ReasonPrincipal, Field: field,
			Message: "ARN " + principal + " is not a valid principal"}
	}
	return m[1] + m[2], nil
}

// grantKeyRef parses the KeyId of a grant operation: a key id or key ARN,
// never an alias (NotFound, as for any identifier that names no key).
func grantKeyRef(p openami.Principal, keyID string) (keyRef, error) {
	ref, err := parseKeyRef(p, "KeyID", keyID)
	if err != nil {
		return keyRef{}, err
	}
	if ref.alias != "" {
		return keyRef{}, openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "Invalid keyId '%s'", keyID)
	}
	return ref, nil
}

// checkGrantOperations validates Operations and returns them without
// repeats, in the order given.
func checkGrantOperations(ops []string) ([]string, error) {
	if len(ops) == 0 {
		return nil, param.Missing("Operations")
	}
	var out []string
	for _, op := range ops {
		if !slices.Contains(grantOperations, op) {
			// A constraint on each member of the list.
			return nil, param.Breaks("Operations", "["+strings.Join(ops, ", ")+"]",
				"must satisfy constraint: [Member must satisfy enum value set: [%s]]", strings.Join(grantOperations, ", "))
		}
		if !symmetricOps[op] {
			return nil, grantValidation("Operations", "Grant operations %s are not supported for a symmetric encryption KMS key.", op)
		}
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	return out, nil
}

// checkGrantConstraints validates Constraints: at most one of the two, at
// most 8 pairs, values of at most 384 characters. Empty maps are absent
// ones (clients such as Terraform send the unused one empty).
func checkGrantConstraints(c openami.GrantConstraints) (openami.GrantConstraints, error) {
	if len(c.EncryptionContextSubset) == 0 {
		c.EncryptionContextSubset = nil
	}
	if len(c.EncryptionContextEquals) == 0 {
		c.EncryptionContextEquals = nil
	}
	if c.EncryptionContextSubset != nil && c.EncryptionContextEquals != nil {
		return c, grantValidation("Constraints", "More than one constraint supplied")
	}
	for _, m := range []map[string]string{c.EncryptionContextSubset, c.EncryptionContextEquals} {
		if len(m) > maxConstraintPairs {
			return c, grantValidation("Constraints", "A grant constraint can have at most %d encryption context pairs.", maxConstraintPairs)
		}
		for k, v := range m {
			if k == "" {
				return c, grantValidation("Constraints", "Encryption context keys in a grant constraint must not be empty.")
			}
			if len([]rune(v)) > maxConstraintValue {
				return c, grantValidation("Constraints", "Encryption context values in a grant constraint must be at most %d characters long.", maxConstraintValue)
			}
		}
	}
	return c, nil
}

// contextHas reports whether ctx has the pair, the key compared without
// regard to case (as grant constraints compare), the value exactly.
func contextHas(ctx map[string]string, key, value string) bool {
	for k, v := range ctx {
		if v == value && strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// includes reports whether every pair of sub is in ctx.
func includes(ctx, sub map[string]string) bool {
	for k, v := range sub {
		if !contextHas(ctx, k, v) {
			return false
		}
	}
	return true
}

// constraintsAllow reports whether a request's encryption context meets a
// grant's constraints: it includes every pair of EncryptionContextSubset,
// or it is EncryptionContextEquals, pair for pair.
func constraintsAllow(c openami.GrantConstraints, ctx map[string]string) bool {
	switch {
	case c.EncryptionContextEquals != nil:
		return includes(ctx, c.EncryptionContextEquals) && includes(c.EncryptionContextEquals, ctx)
	case c.EncryptionContextSubset != nil:
		return includes(ctx, c.EncryptionContextSubset)
	}
	return true
}

// atLeastAsStrict reports whether every encryption context that meets
// child also meets parent: what a grant made through a parent grant's
// CreateGrant must be.
func atLeastAsStrict(child, parent openami.GrantConstraints) bool {
	switch {
	case parent.EncryptionContextEquals != nil:
		return child.EncryptionContextEquals != nil && constraintsAllow(parent, child.EncryptionContextEquals)
	case parent.EncryptionContextSubset != nil:
		if child.EncryptionContextEquals != nil {
			return includes(child.EncryptionContextEquals, parent.EncryptionContextSubset)
		}
		return child.EncryptionContextSubset != nil && includes(child.EncryptionContextSubset, parent.EncryptionContextSubset)
	}
	return true
}

// sameGrant reports whether a grant has the parameters of a CreateGrant,
// as a named CreateGrant's retry must.
func sameGrant(g, want openami.Grant) bool {
	return g.GranteePrincipal == want.GranteePrincipal && g.RetiringPrincipal == want.RetiringPrincipal &&
		len(g.Operations) == len(want.Operations) && !slices.ContainsFunc(want.Operations, func(op string) bool { return !slices.Contains(g.Operations, op) }) &&
		maps.Equal(g.Constraints.EncryptionContextSubset, want.Constraints.EncryptionContextSubset) &&
		maps.Equal(g.Constraints.EncryptionContextEquals, want.Constraints.EncryptionContextEquals)
}

// keyGrantsTo returns the grants of the key to principals of the caller's
// account.
func keyGrantsTo(tx metadata.Tx, p openami.Principal, k openami.Key) ([]openami.Grant, error) {
	return tx.Grants().List(k.Region, metadata.GrantQuery{KeyID: k.ID, GranteeAccount: p.AccountID})
}

// grantAllows reports whether a grant of the key to the caller's account
// allows the key-policy action, its constraints met by ctx.
func (s *Keys) grantAllows(tx metadata.Tx, p openami.Principal, k openami.Key, action string, ctx map[string]string) (bool, error) {
	op, ok := grantedActions[action]
	if !ok {
		return false, nil
	}
	grants, err := keyGrantsTo(tx, p, k)
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if slices.Contains(g.Operations, op) && (op == opDescribeKey || constraintsAllow(g.Constraints, ctx)) {
			return true, nil
		}
	}
	return false, nil
}

// mayRetire reports whether the caller may retire the grant: its account
// is the grant's (the key's), the retiring principal's, or the grantee's
// when the grant allows RetireGrant.
func mayRetire(p openami.Principal, g openami.Grant) bool {
	if p.AccountID == g.AccountID {
		return true
	}
	if g.RetiringPrincipal != "" {
		if acct, err := principalAccountOf("RetiringPrincipal", g.RetiringPrincipal); err == nil && acct == p.AccountID {
			return true
		}
	}
	return g.GranteeAccount == p.AccountID && slices.Contains(g.Operations, opRetireGrant)
}

// grantTokenAAD binds a grant token to its region.
func grantTokenAAD(region string) []byte { return []byte(grantTokenAADPrefix + region) }

// newGrantToken returns a new token for the grant: its id sealed with the
// master key, so every token is different and none can be forged. Tokens
// are not secret (AWS's are not either): they only name a grant.
func (s *Keys) newGrantToken(g openami.Grant) string {
	return base64.RawURLEncoding.EncodeToString(s.seal.Seal([]byte(g.ID), grantTokenAAD(g.Region)))
}

// grantOfToken returns the id of the grant a token names, or
// InvalidParameter about kms-grant-token if openami did not issue it in
// the caller's region.
func (s *Keys) grantOfToken(p openami.Principal, field, token string) (string, error) {
	if token == "" || len(token) > maxGrantTokenSize {
		return "", param.Breaks(field, "", "must have length between 1 and %d", maxGrantTokenSize)
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return "", invalidGrantToken()
	}
	id, err := s.seal.Open(sealed, grantTokenAAD(p.Region))
	if err != nil || len(id) != 2*grantIDBytes {
		return "", invalidGrantToken()
	}
	return string(id), nil
}

// CheckGrantTokens validates the GrantTokens of a request: at most 10,
// each one that openami issued in the region (else InvalidParameter about
// kms-grant-token: InvalidGrantTokenException). Grants take effect at
// once, so a valid token adds no permission: the grant it names is
// honoured whether or not it is given, and not at all once retired.
func (s *Keys) CheckGrantTokens(p openami.Principal, tokens []string) error {
	if len(tokens) > maxGrantTokens {
		return param.Breaks("GrantTokens", "", "must have length less than or equal to %d", maxGrantTokens)
	}
	for _, t := range tokens {
		if _, err := s.grantOfToken(p, "GrantTokens", t); err != nil {
			return err
		}
	}
	return nil
}

// CreateGrantInput are CreateGrant's parameters. Empty strings and nil
// maps are absent ones.
type CreateGrantInput struct {
	KeyID             string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	Constraints       openami.GrantConstraints
	GrantTokens       []string
	Name              string
	DryRun            bool
}

// CreateGrant gives the grantee principal's account the operations on a
// key (the caller's own by id or ARN, or another account's by ARN). The
// caller needs kms:CreateGrant by the key policy, or a grant of the key
// with CreateGrant whose operations include the new ones and whose
// constraints the new ones are at least as strict as. The key must be
// enabled (Disabled is DisabledException, PendingDeletion
// KMSInvalidStateException). With a Name, a retry with the same
// parameters returns the grant made before. It returns the grant and a
// new grant token for it.
func (s *Keys) CreateGrant(ctx context.Context, p openami.Principal, in CreateGrantInput) (openami.Grant, string, error) {
	ref, err := grantKeyRef(p, in.KeyID)
	if err != nil {
		return openami.Grant{}, "", err
	}
	grantee, err := principalAccountOf("GranteePrincipal", in.GranteePrincipal)
	if err != nil {
		return openami.Grant{}, "", err
	}
	if in.RetiringPrincipal != "" {
		if _, err := principalAccountOf("RetiringPrincipal", in.RetiringPrincipal); err != nil {
			return openami.Grant{}, "", err
		}
	}
	ops, err := checkGrantOperations(in.Operations)
	if err != nil {
		return openami.Grant{}, "", err
	}
	constraints, err := checkGrantConstraints(in.Constraints)
	if err != nil {
		return openami.Grant{}, "", err
	}
	if in.Name != "" && (len(in.Name) > maxGrantNameSize || !grantNameChars.MatchString(in.Name)) {
		return openami.Grant{}, "", param.Breaks("Name", in.Name, "must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$ and have length at most %d", maxGrantNameSize)
	}
	if err := s.CheckGrantTokens(p, in.GrantTokens); err != nil {
		return openami.Grant{}, "", err
	}
	want := openami.Grant{Region: p.Region, Name: in.Name, GranteePrincipal: in.GranteePrincipal, GranteeAccount: grantee,
		RetiringPrincipal: in.RetiringPrincipal, Operations: ops, Constraints: constraints}
	var out openami.Grant
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		k, err := s.findKey(tx, p, ref, actCreateGrant, crossAccount)
		if err != nil {
			return err
		}
		if err := s.authorizeCreateGrant(tx, p, k, want); err != nil {
			return err
		}
		if err := usableKey(k); err != nil {
			return err
		}
		if in.Name != "" {
			named, err := tx.Grants().List(p.Region, metadata.GrantQuery{KeyID: k.ID, Name: in.Name})
			if err != nil {
				return err
			}
			if i := slices.IndexFunc(named, func(g openami.Grant) bool { return sameGrant(g, want) }); i >= 0 {
				out = named[i]
				return nil
			}
		}
		if in.DryRun {
			return dryRun()
		}
		g := want
		g.KeyID, g.AccountID, g.CreatedAt = k.ID, k.AccountID, s.nowUTC()
		id := make([]byte, grantIDBytes)
		rand.Read(id)
		g.ID = hex.EncodeToString(id)
		if err := tx.Grants().Create(g); err != nil {
			return err
		}
		out = g
		return nil
	})
	if err != nil {
		return openami.Grant{}, "", err
	}
	if in.DryRun {
		return openami.Grant{}, "", dryRun()
	}
	return out, s.newGrantToken(out), nil
}

// authorizeCreateGrant decides whether the caller may create the grant on
// the key: the key policy allows kms:CreateGrant, or (unless it explicitly
// denies it) a grant to the caller's account with CreateGrant allows at
// least the new grant's operations, with constraints no stricter than the
// new grant's.
func (s *Keys) authorizeCreateGrant(tx metadata.Tx, p openami.Principal, k openami.Key, g openami.Grant) error {
	pol, err := parsePolicy(k.Policy)
	if err != nil {
		return &openami.Error{Class: openami.Internal, Message: "kms: stored key policy does not parse", Err: err}
	}
	switch pol.decide(policyRequest{account: p.AccountID, action: actCreateGrant}) {
	case allowed:
		return nil
	case explicitDeny:
		return accessDenied(p, actCreateGrant, k.ARN(), true)
	}
	parents, err := keyGrantsTo(tx, p, k)
	if err != nil {
		return err
	}
	for _, parent := range parents {
		if slices.Contains(parent.Operations, opCreateGrant) &&
			!slices.ContainsFunc(g.Operations, func(op string) bool { return !slices.Contains(parent.Operations, op) }) &&
			atLeastAsStrict(g.Constraints, parent.Constraints) {
			return nil
		}
	}
	return accessDenied(p, actCreateGrant, k.ARN(), false)
}

// grantLimit checks a Limit of ListGrants or ListRetirableGrants (0 when
// absent): 1–1000, default 50; a page holds at most 100 grants.
func grantLimit(limit int) (int, error) {
	if limit == 0 {
		return grantListDefault, nil
	}
	n, err := kmsLimit(limit)
	return min(n, grantListPage), err
}

// ListGrantsInput are ListGrants' parameters. GrantID and
// GranteePrincipal, when not empty, select.
type ListGrantsInput struct {
	KeyID            string
	GrantID          string
	GranteePrincipal string
	Limit            int
	Marker           string
}

// ListGrants returns a page of a key's grants, in grant id order, and the
// marker of the next page ("" after the last). The key is the caller's
// own (by id or ARN) or another account's (by ARN), in any state; the key
// policy must allow kms:ListGrants. A GrantID that names no grant of the
// key is InvalidParameter about kms-grant (InvalidGrantIdException).
func (s *Keys) ListGrants(ctx context.Context, p openami.Principal, in ListGrantsInput) ([]openami.Grant, string, error) {
	n, err := grantLimit(in.Limit)
	if err != nil {
		return nil, "", err
	}
	ref, err := grantKeyRef(p, in.KeyID)
	if err != nil {
		return nil, "", err
	}
	if len(in.GrantID) > maxGrantIDSize {
		return nil, "", invalidGrantID(in.GrantID)
	}
	if in.GranteePrincipal != "" && (len(in.GranteePrincipal) > maxPrincipalSize || !principalChars.MatchString(in.GranteePrincipal)) {
		// A filter only needs to be a well-formed value: one that is no
		// principal's ARN selects nothing.
		return nil, "", param.Breaks("GranteePrincipal", in.GranteePrincipal, `must satisfy regular expression pattern: ^[\w+=,.@:/-]+$ and have length at most %d`, maxPrincipalSize)
	}
	var (
		grants []openami.Grant
		next   string
	)
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		k, err := s.resolveKey(tx, p, ref, actListGrants, crossAccount, nil)
		if err != nil {
			return err
		}
		if in.GrantID != "" {
			if _, err := s.grantOfKey(tx, k, in.GrantID); err != nil {
				return err
			}
		}
		q := metadata.GrantQuery{KeyID: k.ID, ID: in.GrantID, GranteePrincipal: in.GranteePrincipal}
		scope := pagetoken.Scope("kms:ListGrants", p.AccountID, p.Region, k.ID, in.GrantID, in.GranteePrincipal)
		grants, next, err = listPage(s, scope, page{MaxResults: n, NextToken: in.Marker}, pageBounds{1, grantListPage},
			func(after string, limit int) ([]openami.Grant, error) {
				q := q
				q.After, q.Limit = after, limit
				return tx.Grants().List(p.Region, q)
			},
			func(g openami.Grant) string { return g.ID },
			func(openami.Grant) bool { return true })
		return err
	})
	return grants, next, err
}

// grantOfKey returns the key's grant with the id, or InvalidParameter
// about kms-grant (InvalidGrantIdException) if the key has none.
func (s *Keys) grantOfKey(tx metadata.Tx, k openami.Key, id string) (openami.Grant, error) {
	g, err := tx.Grants().Get(k.Region, id)
	switch {
	case errors.Is(err, openami.ErrNotFound) || err == nil && g.KeyID != k.ID:
		return openami.Grant{}, invalidGrantID(id)
	case err != nil:
		return openami.Grant{}, err
	}
	return g, nil
}

// ListRetirableGrants returns a page of the region's grants, on keys of
// any account, whose retiring principal is exactly principal, which must
// be a principal of the caller's account (another account's is
// Unauthorized: AccessDeniedException). Limit and marker are as for
// ListGrants.
func (s *Keys) ListRetirableGrants(ctx context.Context, p openami.Principal, principal string, limit int, marker string) ([]openami.Grant, string, error) {
	n, err := grantLimit(limit)
	if err != nil {
		return nil, "", err
	}
	acct, err := principalAccountOf("RetiringPrincipal", principal)
	if err != nil {
		return nil, "", err
	}
	if acct != p.AccountID {
		return nil, "", openami.Errorf(openami.Unauthorized, openami.ResourceKMSKey,
			"User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: %s", p.AccountID, actListRetirableGrants, principal)
	}
	scope := pagetoken.Scope("kms:ListRetirableGrants", p.AccountID, p.Region, principal)
	var (
		grants []openami.Grant
		next   string
	)
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		gone := map[string]bool{}
		grants, next, err = listPage(s, scope, page{MaxResults: n, NextToken: marker}, pageBounds{1, grantListPage},
			func(after string, limit int) ([]openami.Grant, error) {
				return tx.Grants().List(p.Region, metadata.GrantQuery{RetiringPrincipal: principal, After: after, Limit: limit})
			},
			func(g openami.Grant) string { return g.ID },
			func(g openami.Grant) bool {
				// The grants of a key past its deletion date went with it.
				v, ok := gone[g.KeyID]
				if !ok {
					k, err := tx.Keys().Get(p.Region, g.KeyID)
					v = err == nil && s.keyGone(k)
					gone[g.KeyID] = v
				}
				return !v
			})
		return err
	})
	return grants, next, err
}

// RetireGrantInput are RetireGrant's parameters: GrantToken, or KeyID and
// GrantID.
type RetireGrantInput struct {
	GrantToken string
	KeyID      string
	GrantID    string
	DryRun     bool
}

// RetireGrant deletes a grant named by a grant token, or by its key (id or
// ARN) and grant id. The grant decides who may: its key's account, the
// retiring principal's account, and the grantee's account if the grant
// allows RetireGrant; anyone else is Unauthorized (AccessDeniedException).
// A token openami did not issue is InvalidGrantTokenException; a token of
// a grant that is gone NotFound; a grant id that names no grant of the key
// InvalidGrantIdException.
func (s *Keys) RetireGrant(ctx context.Context, p openami.Principal, in RetireGrantInput) error {
	var (
		id  = in.GrantID
		ref keyRef
		err error
	)
	switch {
	case in.GrantToken != "":
		if id, err = s.grantOfToken(p, "GrantToken", in.GrantToken); err != nil {
			return err
		}
		if in.GrantID != "" && in.GrantID != id {
			return grantValidation("GrantID", "The grant ID does not match the grant token.")
		}
	case in.KeyID == "" || in.GrantID == "":
		return grantValidation("GrantToken", "Grant token OR (grant ID, key ID) must be specified")
	case len(in.GrantID) > maxGrantIDSize:
		return invalidGrantID(in.GrantID)
	}
	if in.KeyID != "" {
		if ref, err = grantKeyRef(p, in.KeyID); err != nil {
			return err
		}
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		var g openami.Grant
		if in.KeyID != "" {
			k, err := s.findKey(tx, p, ref, actRetireGrant, crossAccount)
			if err != nil {
				return err
			}
			if g, err = s.grantOfKey(tx, k, id); err != nil {
				return err
			}
		} else {
			g, err = tx.Grants().Get(p.Region, id)
			if err == nil {
				var k openami.Key
				if k, err = tx.Keys().Get(p.Region, g.KeyID); err == nil && s.keyGone(k) {
					err = openami.ErrNotFound
				}
			}
			if errors.Is(err, openami.ErrNotFound) {
				return openami.Errorf(openami.NotFound, openami.ResourceKMSGrant, "Grant for the grant token does not exist.")
			}
			if err != nil {
				return err
			}
		}
		if !mayRetire(p, g) {
			return accessDenied(p, actRetireGrant, g.KeyARN(), false)
		}
		if in.DryRun {
			return dryRun()
		}
		return tx.Grants().Delete(p.Region, g.ID)
	})
}

// RevokeGrant deletes a grant of a key (the caller's own by id or ARN, or
// another account's by ARN, in any state); the key policy must allow
// kms:RevokeGrant. A grant id that names no grant of the key is
// InvalidGrantIdException.
func (s *Keys) RevokeGrant(ctx context.Context, p openami.Principal, keyID, grantID string, dry bool) error {
	ref, err := grantKeyRef(p, keyID)
	if err != nil {
		return err
	}
	switch {
	case grantID == "":
		return param.Missing("GrantID")
	case len(grantID) > maxGrantIDSize:
		return invalidGrantID(grantID)
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		k, err := s.resolveKey(tx, p, ref, actRevokeGrant, crossAccount, nil)
		if err != nil {
			return err
		}
		g, err := s.grantOfKey(tx, k, grantID)
		if err != nil {
			return err
		}
		if dry {
			return dryRun()
		}
		return tx.Grants().Delete(p.Region, g.ID)
	})
}
