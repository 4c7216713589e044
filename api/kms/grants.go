package kms

import (
	"encoding/json"

	"github.com/openami/openami"
	kmsrules "github.com/openami/openami/rules/kms"
)

// This file serves KMS grants: CreateGrant, ListGrants,
// ListRetirableGrants, RetireGrant and RevokeGrant.

// grantConstraints is the GrantConstraints shape.
type grantConstraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

// grantListEntry is the GrantListEntry shape. Name, RetiringPrincipal and
// Constraints are absent when the grant has none.
type grantListEntry struct {
	KeyID             string            `json:"KeyId"`
	GrantID           string            `json:"GrantId"`
	Name              string            `json:"Name,omitempty"`
	CreationDate      json.Number       `json:"CreationDate"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal,omitempty"`
	IssuingAccount    string            `json:"IssuingAccount"`
	Operations        []string          `json:"Operations"`
	Constraints       *grantConstraints `json:"Constraints,omitempty"`
}

type grantListOutput struct {
	Grants     []grantListEntry `json:"Grants"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

func grantList(grants []openami.Grant, next string) grantListOutput {
	out := grantListOutput{Grants: []grantListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, g := range grants {
		e := grantListEntry{KeyID: g.KeyARN(), GrantID: g.ID, Name: g.Name, CreationDate: epoch(g.CreatedAt),
			GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
			IssuingAccount: "arn:aws:iam::" + g.AccountID + ":root", Operations: g.Operations}
		if !g.Constraints.IsZero() {
			e.Constraints = &grantConstraints{g.Constraints.EncryptionContextSubset, g.Constraints.EncryptionContextEquals}
		}
		out.Grants = append(out.Grants, e)
	}
	return out
}

type createGrantInput struct {
	KeyID             string            `json:"KeyId"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal"`
	Operations        []string          `json:"Operations"`
	Constraints       *grantConstraints `json:"Constraints"`
	GrantTokens       []string          `json:"GrantTokens"`
	Name              string            `json:"Name"`
	DryRun            bool              `json:"DryRun"`
}

func (h *Handler) createGrant(q *request, in createGrantInput) (any, error) {
	var c openami.GrantConstraints
	if in.Constraints != nil {
		c = openami.GrantConstraints{EncryptionContextSubset: in.Constraints.EncryptionContextSubset,
			EncryptionContextEquals: in.Constraints.EncryptionContextEquals}
	}
	g, token, err := h.rules.CreateGrant(q.r.Context(), q.p, kmsrules.CreateGrantInput{
		KeyID: in.KeyID, GranteePrincipal: in.GranteePrincipal, RetiringPrincipal: in.RetiringPrincipal,
		Operations: in.Operations, Constraints: c, GrantTokens: in.GrantTokens, Name: in.Name, DryRun: in.DryRun,
	})
	if err != nil {
		return nil, err
	}
	return struct {
		GrantToken string `json:"GrantToken"`
		GrantID    string `json:"GrantId"`
	}{token, g.ID}, nil
}

type listGrantsInput struct {
	listInput
	KeyID            string `json:"KeyId"`
	GrantID          string `json:"GrantId"`
	GranteePrincipal string `json:"GranteePrincipal"`
}

func (h *Handler) listGrants(q *request, in listGrantsInput) (any, error) {
	grants, next, err := h.rules.ListGrants(q.r.Context(), q.p, kmsrules.ListGrantsInput{KeyID: in.KeyID, GrantID: in.GrantID,
		GranteePrincipal: in.GranteePrincipal, Limit: in.Limit, Marker: in.Marker})
	if err != nil {
		return nil, err
	}
	return grantList(grants, next), nil
}

type listRetirableGrantsInput struct {
	listInput
	RetiringPrincipal string `json:"RetiringPrincipal"`
}

func (h *Handler) listRetirableGrants(q *request, in listRetirableGrantsInput) (any, error) {
	grants, next, err := h.rules.ListRetirableGrants(q.r.Context(), q.p, in.RetiringPrincipal, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	return grantList(grants, next), nil
}

type retireGrantInput struct {
	GrantToken string `json:"GrantToken"`
	KeyID      string `json:"KeyId"`
	GrantID    string `json:"GrantId"`
	DryRun     bool   `json:"DryRun"`
}

func (h *Handler) retireGrant(q *request, in retireGrantInput) (any, error) {
	return empty{}, h.rules.RetireGrant(q.r.Context(), q.p, kmsrules.RetireGrantInput{GrantToken: in.GrantToken,
		KeyID: in.KeyID, GrantID: in.GrantID, DryRun: in.DryRun})
}

type revokeGrantInput struct {
	KeyID   string `json:"KeyId"`
	GrantID string `json:"GrantId"`
	DryRun  bool   `json:"DryRun"`
}

func (h *Handler) revokeGrant(q *request, in revokeGrantInput) (any, error) {
	return empty{}, h.rules.RevokeGrant(q.r.Context(), q.p, in.KeyID, in.GrantID, in.DryRun)
}
