// Package kms serves the part of the AWS Key Management Service API
// (version 2014-11-01, JSON 1.1, signed service "kms") that symmetric keys
// need: keys and their life cycle, aliases, key policies, tags, grants,
// and Encrypt, Decrypt, ReEncrypt and GenerateDataKey(WithoutPlaintext). The
// operation is named by the X-Amz-Target header (TrentService.Operation).
// Every rule is in package rules/kms (which Rules names); docs/KMS.md
// describes the subset.
package kms

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsjson"
	kmsrules "github.com/openami/openami/rules/kms"
)

const (
	contentType  = awsjson.ContentType
	targetPrefix = "TrentService."
)

// Handler serves the KMS protocol.
type Handler struct {
	rules Rules
	ops   map[string]operation
}

// operation decodes a request body, calls the service and returns the
// value to encode.
type operation func(h *Handler, q *request) (any, error)

// request is one KMS call on its way through.
type request struct {
	r    *http.Request
	body []byte
	p    openami.Principal
}

// op adapts a handler that takes its decoded input into an operation:
// the body is decoded into In first.
func op[In any](fn func(*Handler, *request, In) (any, error)) operation {
	return func(h *Handler, q *request) (any, error) {
		var in In
		if err := awsjson.Decode(q.body, &in); err != nil {
			return nil, err
		}
		return fn(h, q, in)
	}
}

// New returns the KMS protocol handler over the rules of KMS.
func New(rules Rules) *Handler {
	return &Handler{rules: rules, ops: map[string]operation{
		"CreateKey":                       op((*Handler).createKey),
		"DescribeKey":                     op((*Handler).describeKey),
		"ListKeys":                        op((*Handler).listKeys),
		"EnableKey":                       op((*Handler).enableKey),
		"DisableKey":                      op((*Handler).disableKey),
		"ScheduleKeyDeletion":             op((*Handler).scheduleKeyDeletion),
		"CancelKeyDeletion":               op((*Handler).cancelKeyDeletion),
		"UpdateKeyDescription":            op((*Handler).updateKeyDescription),
		"GetKeyPolicy":                    op((*Handler).getKeyPolicy),
		"PutKeyPolicy":                    op((*Handler).putKeyPolicy),
		"ListKeyPolicies":                 op((*Handler).listKeyPolicies),
		"GetKeyRotationStatus":            op((*Handler).getKeyRotationStatus),
		"CreateAlias":                     op((*Handler).createAlias),
		"UpdateAlias":                     op((*Handler).updateAlias),
		"DeleteAlias":                     op((*Handler).deleteAlias),
		"ListAliases":                     op((*Handler).listAliases),
		"TagResource":                     op((*Handler).tagResource),
		"UntagResource":                   op((*Handler).untagResource),
		"ListResourceTags":                op((*Handler).listResourceTags),
		"Encrypt":                         op((*Handler).encrypt),
		"Decrypt":                         op((*Handler).decrypt),
		"ReEncrypt":                       op((*Handler).reEncrypt),
		"GenerateDataKey":                 op((*Handler).generateDataKey),
		"GenerateDataKeyWithoutPlaintext": op((*Handler).generateDataKeyWithoutPlaintext),
		"CreateGrant":                     op((*Handler).createGrant),
		"ListGrants":                      op((*Handler).listGrants),
		"ListRetirableGrants":             op((*Handler).listRetirableGrants),
		"RetireGrant":                     op((*Handler).retireGrant),
		"RevokeGrant":                     op((*Handler).revokeGrant),
	}}
}

// Serve answers an authenticated KMS request. It returns the operation,
// the error code it answered with ("" on success) and the error.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	name, ok := awsjson.Operation(r, targetPrefix)
	op := h.ops[name]
	if !ok || op == nil {
		return name, h.WriteError(w, requestID, awsjson.ErrUnknownOperation), awsjson.ErrUnknownOperation
	}
	out, err := op(h, &request{r: r, body: body, p: p})
	if err == nil {
		if err = awsjson.WriteResult(w, out); err == nil {
			return name, "", nil
		}
	}
	return name, h.WriteError(w, requestID, err), err
}

// epoch formats a time as JSON 1.1 timestamps are: seconds since the
// epoch, as a JSON number.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

func epochPtr(t time.Time) *json.Number {
	if t.IsZero() {
		return nil
	}
	n := epoch(t)
	return &n
}

type tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

func tagsIn(in []tag) []openami.Tag {
	out := make([]openami.Tag, len(in))
	for i, t := range in {
		out[i] = openami.Tag{Key: t.TagKey, Value: t.TagValue}
	}
	return out
}

func tagsOut(in []openami.Tag) []tag {
	out := make([]tag, len(in))
	for i, t := range in {
		out[i] = tag{t.Key, t.Value}
	}
	return out
}

// keyMetadata is the KeyMetadata shape.
type keyMetadata struct {
	AWSAccountID                string       `json:"AWSAccountId"`
	KeyID                       string       `json:"KeyId"`
	Arn                         string       `json:"Arn"`
	CreationDate                json.Number  `json:"CreationDate"`
	Enabled                     bool         `json:"Enabled"`
	Description                 string       `json:"Description"`
	KeyUsage                    string       `json:"KeyUsage"`
	KeyState                    string       `json:"KeyState"`
	DeletionDate                *json.Number `json:"DeletionDate,omitempty"`
	Origin                      string       `json:"Origin"`
	KeyManager                  string       `json:"KeyManager"`
	CustomerMasterKeySpec       string       `json:"CustomerMasterKeySpec"`
	KeySpec                     string       `json:"KeySpec"`
	EncryptionAlgorithms        []string     `json:"EncryptionAlgorithms"`
	MultiRegion                 bool         `json:"MultiRegion"`
	PendingDeletionWindowInDays int          `json:"PendingDeletionWindowInDays,omitempty"`
}

func metadataOf(k openami.Key) keyMetadata {
	return keyMetadata{
		AWSAccountID: k.AccountID, KeyID: k.ID, Arn: k.ARN(), CreationDate: epoch(k.CreatedAt),
		Enabled: k.State == openami.KeyEnabled, Description: k.Description, KeyUsage: k.Usage,
		KeyState: string(k.State), DeletionDate: epochPtr(k.DeletionDate), Origin: "AWS_KMS",
		KeyManager: keyManager(k), CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec,
		EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}, PendingDeletionWindowInDays: k.PendingWindowDays,
	}
}

type keyMetadataOutput struct {
	KeyMetadata keyMetadata `json:"KeyMetadata"`
}

// keyInput is the input of every operation that takes only a KeyId.
type keyInput struct {
	KeyID       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

type empty struct{}

type createKeyInput struct {
	Policy                         string `json:"Policy"`
	Description                    string `json:"Description"`
	KeyUsage                       string `json:"KeyUsage"`
	CustomerMasterKeySpec          string `json:"CustomerMasterKeySpec"`
	KeySpec                        string `json:"KeySpec"`
	Origin                         string `json:"Origin"`
	CustomKeyStoreID               string `json:"CustomKeyStoreId"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
	Tags                           []tag  `json:"Tags"`
	MultiRegion                    bool   `json:"MultiRegion"`
	XksKeyID                       string `json:"XksKeyId"`
}

func (h *Handler) createKey(q *request, in createKeyInput) (any, error) {
	k, err := h.rules.CreateKey(q.r.Context(), q.p, kmsrules.CreateKeyInput{
		Description: in.Description, Policy: in.Policy, KeyUsage: in.KeyUsage, KeySpec: in.KeySpec,
		CustomerMasterKeySpec: in.CustomerMasterKeySpec, Origin: in.Origin, CustomKeyStoreID: in.CustomKeyStoreID,
		XksKeyID: in.XksKeyID, MultiRegion: in.MultiRegion, BypassPolicyLockoutSafetyCheck: in.BypassPolicyLockoutSafetyCheck,
		Tags: tagsIn(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return keyMetadataOutput{metadataOf(k)}, nil
}

func (h *Handler) describeKey(q *request, in keyInput) (any, error) {
	if err := h.rules.CheckGrantTokens(q.p, in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := h.rules.DescribeKey(q.r.Context(), q.p, in.KeyID)
	if err != nil {
		return nil, err
	}
	return keyMetadataOutput{metadataOf(k)}, nil
}

type listInput struct {
	Limit  int    `json:"Limit"`
	Marker string `json:"Marker"`
}

type keyListEntry struct {
	KeyID  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

func (h *Handler) listKeys(q *request, in listInput) (any, error) {
	keys, next, err := h.rules.ListKeys(q.r.Context(), q.p, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := struct {
		Keys       []keyListEntry `json:"Keys"`
		NextMarker string         `json:"NextMarker,omitempty"`
		Truncated  bool           `json:"Truncated"`
	}{Keys: []keyListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, k := range keys {
		out.Keys = append(out.Keys, keyListEntry{k.ID, k.ARN()})
	}
	return out, nil
}

func (h *Handler) enableKey(q *request, in keyInput) (any, error) {
	return empty{}, h.rules.EnableKey(q.r.Context(), q.p, in.KeyID)
}

func (h *Handler) disableKey(q *request, in keyInput) (any, error) {
	return empty{}, h.rules.DisableKey(q.r.Context(), q.p, in.KeyID)
}

type scheduleKeyDeletionInput struct {
	KeyID               string `json:"KeyId"`
	PendingWindowInDays *int   `json:"PendingWindowInDays"`
}

func (h *Handler) scheduleKeyDeletion(q *request, in scheduleKeyDeletionInput) (any, error) {
	k, err := h.rules.ScheduleKeyDeletion(q.r.Context(), q.p, in.KeyID, in.PendingWindowInDays)
	if err != nil {
		return nil, err
	}
	return struct {
		KeyID               string      `json:"KeyId"`
		DeletionDate        json.Number `json:"DeletionDate"`
		KeyState            string      `json:"KeyState"`
		PendingWindowInDays int         `json:"PendingWindowInDays"`
	}{k.ARN(), epoch(k.DeletionDate), string(k.State), k.PendingWindowDays}, nil
}

func (h *Handler) cancelKeyDeletion(q *request, in keyInput) (any, error) {
	k, err := h.rules.CancelKeyDeletion(q.r.Context(), q.p, in.KeyID)
	if err != nil {
		return nil, err
	}
	return struct {
		KeyID string `json:"KeyId"`
	}{k.ARN()}, nil
}

type updateKeyDescriptionInput struct {
	KeyID       string `json:"KeyId"`
	Description string `json:"Description"`
}

func (h *Handler) updateKeyDescription(q *request, in updateKeyDescriptionInput) (any, error) {
	return empty{}, h.rules.UpdateKeyDescription(q.r.Context(), q.p, in.KeyID, in.Description)
}

type getKeyPolicyInput struct {
	KeyID      string `json:"KeyId"`
	PolicyName string `json:"PolicyName"`
}

func (h *Handler) getKeyPolicy(q *request, in getKeyPolicyInput) (any, error) {
	policy, err := h.rules.KeyPolicy(q.r.Context(), q.p, in.KeyID, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return struct {
		Policy     string `json:"Policy"`
		PolicyName string `json:"PolicyName"`
	}{policy, "default"}, nil
}

type putKeyPolicyInput struct {
	KeyID                          string `json:"KeyId"`
	PolicyName                     string `json:"PolicyName"`
	Policy                         string `json:"Policy"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
}

func (h *Handler) putKeyPolicy(q *request, in putKeyPolicyInput) (any, error) {
	return empty{}, h.rules.PutKeyPolicy(q.r.Context(), q.p, in.KeyID, in.PolicyName, in.Policy, in.BypassPolicyLockoutSafetyCheck)
}

func (h *Handler) listKeyPolicies(q *request, in keyInput) (any, error) {
	names, err := h.rules.KeyPolicyNames(q.r.Context(), q.p, in.KeyID)
	if err != nil {
		return nil, err
	}
	return struct {
		PolicyNames []string `json:"PolicyNames"`
		Truncated   bool     `json:"Truncated"`
	}{names, false}, nil
}

func (h *Handler) getKeyRotationStatus(q *request, in keyInput) (any, error) {
	on, err := h.rules.KeyRotationStatus(q.r.Context(), q.p, in.KeyID)
	if err != nil {
		return nil, err
	}
	return struct {
		KeyRotationEnabled bool `json:"KeyRotationEnabled"`
	}{on}, nil
}

type aliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyID string `json:"TargetKeyId"`
}

func (h *Handler) createAlias(q *request, in aliasInput) (any, error) {
	return empty{}, h.rules.CreateAlias(q.r.Context(), q.p, in.AliasName, in.TargetKeyID)
}

func (h *Handler) updateAlias(q *request, in aliasInput) (any, error) {
	return empty{}, h.rules.UpdateAlias(q.r.Context(), q.p, in.AliasName, in.TargetKeyID)
}

func (h *Handler) deleteAlias(q *request, in aliasInput) (any, error) {
	return empty{}, h.rules.DeleteAlias(q.r.Context(), q.p, in.AliasName)
}

type aliasListEntry struct {
	AliasName       string      `json:"AliasName"`
	AliasArn        string      `json:"AliasArn"`
	TargetKeyID     string      `json:"TargetKeyId,omitempty"`  // none for a predefined alias without its key
	CreationDate    json.Number `json:"CreationDate,omitempty"` // nor dates
	LastUpdatedDate json.Number `json:"LastUpdatedDate,omitempty"`
}

type listAliasesInput struct {
	listInput
	KeyID string `json:"KeyId"`
}

func (h *Handler) listAliases(q *request, in listAliasesInput) (any, error) {
	aliases, next, err := h.rules.ListAliases(q.r.Context(), q.p, in.KeyID, in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := struct {
		Aliases    []aliasListEntry `json:"Aliases"`
		NextMarker string           `json:"NextMarker,omitempty"`
		Truncated  bool             `json:"Truncated"`
	}{Aliases: []aliasListEntry{}, NextMarker: next, Truncated: next != ""}
	for _, a := range aliases {
		e := aliasListEntry{AliasName: a.Name, AliasArn: a.ARN(), TargetKeyID: a.TargetKeyID}
		if a.TargetKeyID != "" {
			e.CreationDate, e.LastUpdatedDate = epoch(a.CreatedAt), epoch(a.UpdatedAt)
		}
		out.Aliases = append(out.Aliases, e)
	}
	return out, nil
}

type tagResourceInput struct {
	KeyID string `json:"KeyId"`
	Tags  []tag  `json:"Tags"`
}

func (h *Handler) tagResource(q *request, in tagResourceInput) (any, error) {
	return empty{}, h.rules.TagKey(q.r.Context(), q.p, in.KeyID, tagsIn(in.Tags))
}

type untagResourceInput struct {
	KeyID   string   `json:"KeyId"`
	TagKeys []string `json:"TagKeys"`
}

func (h *Handler) untagResource(q *request, in untagResourceInput) (any, error) {
	return empty{}, h.rules.UntagKey(q.r.Context(), q.p, in.KeyID, in.TagKeys)
}

type listResourceTagsInput struct {
	KeyID string `json:"KeyId"`
	listInput
}

func (h *Handler) listResourceTags(q *request, in listResourceTagsInput) (any, error) {
	tags, err := h.rules.KeyTags(q.r.Context(), q.p, in.KeyID)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags      []tag `json:"Tags"`
		Truncated bool  `json:"Truncated"`
	}{tagsOut(tags), false}, nil
}

type encryptInput struct {
	KeyID               string            `json:"KeyId"`
	Plaintext           []byte            `json:"Plaintext"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	GrantTokens         []string          `json:"GrantTokens"`
	DryRun              bool              `json:"DryRun"`
}

func (h *Handler) encrypt(q *request, in encryptInput) (any, error) {
	if err := h.rules.CheckGrantTokens(q.p, in.GrantTokens); err != nil {
		return nil, err
	}
	blob, k, err := h.rules.Encrypt(q.r.Context(), q.p, kmsrules.EncryptInput{KeyID: in.KeyID, Plaintext: in.Plaintext,
		Context: in.EncryptionContext, Algorithm: in.EncryptionAlgorithm, DryRun: in.DryRun})
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob      []byte `json:"CiphertextBlob"`
		KeyID               string `json:"KeyId"`
		EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	}{blob, k.ARN(), "SYMMETRIC_DEFAULT"}, nil
}

type decryptInput struct {
	CiphertextBlob      []byte            `json:"CiphertextBlob"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	KeyID               string            `json:"KeyId"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	GrantTokens         []string          `json:"GrantTokens"`
	DryRun              bool              `json:"DryRun"`
}

func (h *Handler) decrypt(q *request, in decryptInput) (any, error) {
	if err := h.rules.CheckGrantTokens(q.p, in.GrantTokens); err != nil {
		return nil, err
	}
	pt, k, err := h.rules.Decrypt(q.r.Context(), q.p, kmsrules.DecryptInput{Ciphertext: in.CiphertextBlob,
		Context: in.EncryptionContext, KeyID: in.KeyID, Algorithm: in.EncryptionAlgorithm, DryRun: in.DryRun})
	if err != nil {
		return nil, err
	}
	return struct {
		KeyID               string `json:"KeyId"`
		Plaintext           []byte `json:"Plaintext"`
		EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
	}{k.ARN(), pt, "SYMMETRIC_DEFAULT"}, nil
}

type reEncryptInput struct {
	CiphertextBlob                 []byte            `json:"CiphertextBlob"`
	SourceEncryptionContext        map[string]string `json:"SourceEncryptionContext"`
	SourceKeyID                    string            `json:"SourceKeyId"`
	DestinationKeyID               string            `json:"DestinationKeyId"`
	DestinationEncryptionContext   map[string]string `json:"DestinationEncryptionContext"`
	SourceEncryptionAlgorithm      string            `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string            `json:"DestinationEncryptionAlgorithm"`
	GrantTokens                    []string          `json:"GrantTokens"`
	DryRun                         bool              `json:"DryRun"`
}

func (h *Handler) reEncrypt(q *request, in reEncryptInput) (any, error) {
	if err := h.rules.CheckGrantTokens(q.p, in.GrantTokens); err != nil {
		return nil, err
	}
	blob, src, dst, err := h.rules.ReEncrypt(q.r.Context(), q.p, kmsrules.ReEncryptInput{
		Ciphertext: in.CiphertextBlob, SourceContext: in.SourceEncryptionContext, SourceKeyID: in.SourceKeyID,
		DestinationKeyID: in.DestinationKeyID, DestinationContext: in.DestinationEncryptionContext,
		SourceAlgorithm: in.SourceEncryptionAlgorithm, DestinationAlgorithm: in.DestinationEncryptionAlgorithm, DryRun: in.DryRun,
	})
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob                 []byte `json:"CiphertextBlob"`
		SourceKeyID                    string `json:"SourceKeyId"`
		KeyID                          string `json:"KeyId"`
		SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
		DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
	}{blob, src.ARN(), dst.ARN(), "SYMMETRIC_DEFAULT", "SYMMETRIC_DEFAULT"}, nil
}

type dataKeyInput struct {
	KeyID             string            `json:"KeyId"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	NumberOfBytes     int               `json:"NumberOfBytes"`
	KeySpec           string            `json:"KeySpec"`
	GrantTokens       []string          `json:"GrantTokens"`
	DryRun            bool              `json:"DryRun"`
}

func (h *Handler) dataKey(q *request, in dataKeyInput, withPlaintext bool) (pt, blob []byte, k openami.Key, err error) {
	if err := h.rules.CheckGrantTokens(q.p, in.GrantTokens); err != nil {
		return nil, nil, openami.Key{}, err
	}
	return h.rules.GenerateDataKey(q.r.Context(), q.p, kmsrules.DataKeyInput{KeyID: in.KeyID, Context: in.EncryptionContext,
		KeySpec: in.KeySpec, NumberOfBytes: in.NumberOfBytes, DryRun: in.DryRun}, withPlaintext)
}

func (h *Handler) generateDataKey(q *request, in dataKeyInput) (any, error) {
	pt, blob, k, err := h.dataKey(q, in, true)
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob []byte `json:"CiphertextBlob"`
		Plaintext      []byte `json:"Plaintext"`
		KeyID          string `json:"KeyId"`
	}{blob, pt, k.ARN()}, nil
}

func (h *Handler) generateDataKeyWithoutPlaintext(q *request, in dataKeyInput) (any, error) {
	_, blob, k, err := h.dataKey(q, in, false)
	if err != nil {
		return nil, err
	}
	return struct {
		CiphertextBlob []byte `json:"CiphertextBlob"`
		KeyID          string `json:"KeyId"`
	}{blob, k.ARN()}, nil
}

// keyManager is DescribeKey's KeyManager: AWS for an AWS managed key.
func keyManager(k openami.Key) string {
	if k.Manager == openami.KeyManagerAWS {
		return "AWS"
	}
	return "CUSTOMER"
}
