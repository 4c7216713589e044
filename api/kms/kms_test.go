package kms

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/rules/param"
)

// TestExceptions is the table from openami errors to KMS exceptions.
func TestExceptions(t *testing.T) {
	for _, c := range []struct {
		err    error
		typ    string
		status int
	}{
		{openami.Errorf(openami.NotFound, openami.ResourceKMSKey, "x"), "NotFoundException", 400},
		{openami.Errorf(openami.NotFound, openami.ResourceKMSAlias, "x"), "NotFoundException", 400},
		{openami.Errorf(openami.Duplicate, openami.ResourceKMSAlias, "x"), "AlreadyExistsException", 400},
		{openami.Errorf(openami.Unauthorized, openami.ResourceKMSKey, "x"), "AccessDeniedException", 400},
		{openami.Errorf(openami.Unauthorized, openami.ResourceKMSAlias, "x"), "NotAuthorizedException", 400},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceKMSKey, openami.ReasonDisabled, "x"), "DisabledException", 400},
		{openami.Errorf(openami.IncorrectState, openami.ResourceKMSKey, "x"), "KMSInvalidStateException", 400},
		{openami.ReasonErrorf(openami.Malformed, openami.ResourceKMSKey, openami.ReasonCiphertext, ""), "InvalidCiphertextException", 400},
		{openami.ReasonErrorf(openami.Malformed, openami.ResourceKMSKey, openami.ReasonPolicy, "x"), "MalformedPolicyDocumentException", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSKey, openami.ReasonWrongKey, "x"), "IncorrectKeyException", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSKey, openami.ReasonKeyUsage, "x"), "InvalidKeyUsageException", 400},
		{openami.Errorf(openami.InvalidParameter, openami.ResourceTag, "x"), "TagException", 400},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "x"), "LimitExceededException", 400},
		{openami.Errorf(openami.InvalidParameter, openami.ResourceKMSGrant, "x"), "InvalidGrantIdException", 400},
		{openami.Errorf(openami.NotFound, openami.ResourceKMSGrant, "x"), "NotFoundException", 400},
		{openami.ReasonErrorf(openami.NotFound, openami.ResourceKMSKey, openami.ReasonPolicy, "x"), "NotFoundException", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSGrant, openami.ReasonGrantToken, "x"), "InvalidGrantTokenException", 400},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceKMSGrant, Reason: openami.ReasonPrincipal, Field: "GranteePrincipal", Message: "x"}, "InvalidArnException", 400},
		{openami.FieldErrorf(openami.InvalidParameter, "Operations", "x"), "ValidationException", 400},
		{openami.Errorf(openami.InvalidToken, "", "x"), "InvalidMarkerException", 400},
		{openami.Errorf(openami.Unsupported, "", "x"), "UnsupportedOperationException", 400},
		{openami.Errorf(openami.DryRun, "", "x"), "DryRunOperationException", 412},
		{openami.FieldErrorf(openami.InvalidParameter, "Limit", "x"), "ValidationException", 400},
		{openami.FieldErrorf(openami.MissingParameter, "KeyId", "x"), "ValidationException", 400},
		{openami.FieldErrorf(openami.InvalidCombination, "KeySpec", "x"), "ValidationException", 400},
		{&sigv4.Error{Failure: sigv4.UnknownKey, Message: "x"}, "UnrecognizedClientException", 400},
		{&sigv4.Error{Failure: sigv4.Mismatch, Message: "x"}, "InvalidSignatureException", 400},
		{errors.New("disk on fire"), "KMSInternalException", 500},
		{&openami.Error{Class: openami.Internal, Message: "secret detail"}, "KMSInternalException", 500},
	} {
		w := httptest.NewRecorder()
		got := (&Handler{}).WriteError(w, "req", c.err)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", c.err, w.Body, err)
		}
		if got != c.typ || body["__type"] != c.typ || w.Code != c.status || w.Header().Get("Content-Type") != contentType {
			t.Errorf("%v: %s %d %v, want %s %d", c.err, got, w.Code, body, c.typ, c.status)
		}
		if c.status == 500 && strings.Contains(w.Body.String(), "fire") || strings.Contains(w.Body.String(), "secret detail") {
			t.Errorf("a server fault's detail reached the caller: %s", w.Body)
		}
	}
}

// TestServeRefuses: unknown targets and bodies that are not JSON are
// refused before the service is called.
func TestServeRefuses(t *testing.T) {
	h := New(nil)
	for _, c := range []struct {
		method, target, body, typ string
	}{
		{http.MethodPost, "TrentService.Sign", "{}", "UnknownOperationException"},
		{http.MethodPost, "TrentService.Nonsense", "{}", "UnknownOperationException"},
		{http.MethodPost, "Other.CreateKey", "{}", "UnknownOperationException"},
		{http.MethodPost, "", "{}", "UnknownOperationException"},
		{http.MethodGet, "TrentService.CreateKey", "{}", "UnknownOperationException"},
		{http.MethodPost, "TrentService.CreateKey", "{not json", "SerializationException"},
		{http.MethodPost, "TrentService.ListKeys", `{"Limit": "ten"}`, "SerializationException"},
		{http.MethodPost, "TrentService.Encrypt", `{"Plaintext": "!!not base64!!"}`, "SerializationException"},
	} {
		r := httptest.NewRequest(c.method, "/", strings.NewReader(c.body))
		r.Header.Set("X-Amz-Target", c.target)
		w := httptest.NewRecorder()
		_, code, err := h.Serve(w, r, []byte(c.body), openami.Principal{AccountID: "111111111111", Region: "us-east-1"}, "req")
		if code != c.typ || err == nil || w.Code != 400 {
			t.Errorf("%s %q %s: %s %d %v, want %s", c.method, c.target, c.body, code, w.Code, err, c.typ)
		}
	}
}

// TestParamSentences: the rules refuse an input in their own terms
// (rules/param); KMS's sentence is made here, word for word as KMS says
// it.
func TestParamSentences(t *testing.T) {
	for _, c := range []struct {
		err      error
		typ, msg string
	}{
		{param.Exclusive("KeySpec", "CustomerMasterKeySpec"), "ValidationException",
			"You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec only."},
		{param.Invalid("MaxResults", "0", "Expecting a value between %d and %d.", 1, 1000), "ValidationException",
			"Value (0) for parameter maxResults is invalid. Expecting a value between 1 and 1000."},
		{openami.FieldErrorf(openami.InvalidParameter, "Limit", "own sentence"), "ValidationException", "own sentence"},
	} {
		e := toException(c.err)
		if e.Type != c.typ || e.Msg != c.msg {
			t.Errorf("toException(%v) = %s %q, want %s %q", c.err, e.Type, e.Msg, c.typ, c.msg)
		}
	}
}
