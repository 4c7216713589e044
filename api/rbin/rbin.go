// Package rbin serves the part of the Recycle Bin API (version 2021-06-15,
// REST-JSON, signed service "rbin") that retention rules need: CreateRule,
// GetRule, ListRules and DeleteRule. The rules themselves live in
// rules/images, which this package calls through Rules.
package rbin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
	"github.com/openami/openami/rules/images"
)

// Handler serves the Recycle Bin protocol.
type Handler struct{ rules Rules }

// New returns the Recycle Bin protocol handler, calling rules for the
// retention rules.
func New(rules Rules) *Handler { return &Handler{rules: rules} }

type retentionPeriod struct {
	Value int    `json:"RetentionPeriodValue"`
	Unit  string `json:"RetentionPeriodUnit"`
}

type resourceTag struct {
	Key   string `json:"ResourceTagKey"`
	Value string `json:"ResourceTagValue,omitempty"`
}

type rule struct {
	Identifier          string          `json:"Identifier"`
	Description         string          `json:"Description,omitempty"`
	ResourceType        string          `json:"ResourceType,omitempty"`
	RetentionPeriod     retentionPeriod `json:"RetentionPeriod"`
	ResourceTags        []resourceTag   `json:"ResourceTags,omitempty"`
	ExcludeResourceTags []resourceTag   `json:"ExcludeResourceTags,omitempty"`
	Status              string          `json:"Status,omitempty"`
	LockState           string          `json:"LockState,omitempty"`
	RuleArn             string          `json:"RuleArn,omitempty"`
}

func tagsIn(in []resourceTag) []images.ResourceTag {
	out := make([]images.ResourceTag, len(in))
	for i, t := range in {
		out[i] = images.ResourceTag{Key: t.Key, Value: t.Value}
	}
	return out
}

func tagsOut(in []images.ResourceTag) []resourceTag {
	var out []resourceTag
	for _, t := range in {
		out = append(out, resourceTag{t.Key, t.Value})
	}
	return out
}

func ruleOf(p openami.Principal, r images.RetentionRule) rule {
	return rule{
		Identifier: r.ID, Description: r.Description, ResourceType: r.ResourceType,
		RetentionPeriod: retentionPeriod{r.RetentionDays, "DAYS"}, ResourceTags: tagsOut(r.ResourceTags),
		ExcludeResourceTags: tagsOut(r.ExcludeResourceTags), Status: "available", LockState: "unlocked",
		RuleArn: fmt.Sprintf("arn:aws:rbin:%s:%s:rule/%s", p.Region, p.AccountID, r.ID),
	}
}

// Serve answers an authenticated Recycle Bin request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	op, status, out, err := h.serve(r, body, p)
	if err != nil {
		return op, h.WriteError(w, requestID, err), err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if out != nil {
		json.NewEncoder(w).Encode(out)
	}
	return op, "", nil
}

var errUnknownOperation = errors.New("unknown operation")

func (h *Handler) serve(r *http.Request, body []byte, p openami.Principal) (string, int, any, error) {
	ctx := r.Context()
	path := strings.Trim(r.URL.Path, "/")
	id, isRule := strings.CutPrefix(path, "rules/")
	decode := func(v any) error {
		if err := json.Unmarshal(body, v); err != nil {
			return openami.Errorf(openami.InvalidParameter, "", "The request body is not valid JSON: %v", err)
		}
		return nil
	}
	switch {
	case r.Method == http.MethodPost && path == "rules":
		var in struct {
			rule
			LockConfiguration json.RawMessage `json:"LockConfiguration"`
		}
		if err := decode(&in); err != nil {
			return "CreateRule", 0, nil, err
		}
		if len(in.LockConfiguration) > 0 {
			return "CreateRule", 0, nil, openami.Errorf(openami.Unsupported, "", "Rule locks are not supported.")
		}
		if in.RetentionPeriod.Unit != "DAYS" {
			return "CreateRule", 0, nil, openami.Errorf(openami.InvalidParameter, "", "RetentionPeriodUnit must be DAYS.")
		}
		created, err := h.rules.CreateRetentionRule(ctx, p, images.RetentionRule{
			Description: in.Description, ResourceType: in.ResourceType, RetentionDays: in.RetentionPeriod.Value,
			ResourceTags: tagsIn(in.ResourceTags), ExcludeResourceTags: tagsIn(in.ExcludeResourceTags),
		})
		if err != nil {
			return "CreateRule", 0, nil, err
		}
		return "CreateRule", http.StatusCreated, ruleOf(p, created), nil
	case r.Method == http.MethodPost && path == "list-rules":
		var in struct {
			ResourceType string        `json:"ResourceType"`
			ResourceTags []resourceTag `json:"ResourceTags"`
		}
		if err := decode(&in); err != nil {
			return "ListRules", 0, nil, err
		}
		rules, err := h.rules.RetentionRules(ctx, p, in.ResourceType, tagsIn(in.ResourceTags))
		if err != nil {
			return "ListRules", 0, nil, err
		}
		out := struct {
			Rules []rule `json:"Rules"`
		}{Rules: []rule{}}
		for _, r := range rules {
			full := ruleOf(p, r)
			out.Rules = append(out.Rules, rule{Identifier: full.Identifier, Description: full.Description,
				RetentionPeriod: full.RetentionPeriod, LockState: full.LockState, RuleArn: full.RuleArn})
		}
		return "ListRules", http.StatusOK, out, nil
	case r.Method == http.MethodGet && isRule:
		got, err := h.rules.RetentionRule(ctx, p, id)
		if err != nil {
			return "GetRule", 0, nil, err
		}
		return "GetRule", http.StatusOK, ruleOf(p, got), nil
	case r.Method == http.MethodDelete && isRule:
		return "DeleteRule", http.StatusNoContent, nil, h.rules.DeleteRetentionRule(ctx, p, id)
	}
	return "", 0, nil, errUnknownOperation
}

// message returns the sentence the Recycle Bin answers an error with: the
// rules' own, or, for an error about an input that leaves the sentence to
// the protocol (rules/param), one made here. The rules' names for its
// inputs (ResourceType) are the Recycle Bin's own.
func message(oe *openami.Error) string {
	if oe.Message != "" || oe.Field == "" {
		return oe.Message
	}
	if oe.Class == openami.InvalidParameter && oe.Reason == "" {
		return "Value (" + oe.Value + ") for parameter " + oe.Field + " is invalid. " + oe.Detail
	}
	return oe.Error()
}

// WriteError answers with err as a Recycle Bin exception and returns its
// type. This is the one place that maps errors to this protocol's codes.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	status, typ, reason := http.StatusInternalServerError, "InternalServerException", ""
	msg := "An internal error has occurred."
	var (
		ae *sigv4.Error
		oe *openami.Error
	)
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		status, typ, msg = http.StatusForbidden, "UnrecognizedClientException", ae.Message
		if ae.Failure != sigv4.UnknownKey {
			typ = "InvalidSignatureException"
		}
	case isTransport && te.Failure == transport.Busy:
		// The generic throttling exception of AWS's JSON protocols, which
		// the SDKs retry.
		status, typ, msg = http.StatusServiceUnavailable, "ThrottlingException", te.Message
	case isTransport:
		// A body cut short, sent too slowly or abandoned: the request, as
		// received, is not a valid one.
		status, typ, reason, msg = http.StatusBadRequest, "ValidationException", "INVALID_PARAMETER_VALUE", te.Message
	case errors.Is(err, errUnknownOperation):
		status, typ, msg = http.StatusNotFound, "UnknownOperationException", "The requested operation is not supported by the Recycle Bin API."
	case errors.As(err, &oe) && oe.Class == openami.NotFound:
		status, typ, reason, msg = http.StatusNotFound, "ResourceNotFoundException", "RULE_NOT_FOUND", oe.Message
	case errors.As(err, &oe) && oe.Class == openami.LimitExceeded:
		status, typ, reason, msg = http.StatusPaymentRequired, "ServiceQuotaExceededException", "SERVICE_QUOTA_EXCEEDED", oe.Message
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		status, typ, reason, msg = http.StatusBadRequest, "ValidationException", "INVALID_PARAMETER_VALUE", message(oe)
	}
	body := map[string]string{"Message": msg}
	if reason != "" {
		body["Reason"] = reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
	return typ
}
