package kms

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// This file is the one place that turns openami errors into KMS
// exceptions: {"__type": "NotFoundException", "message": "..."}, HTTP 400
// for the caller's faults and 500 for the server's.

var errUnknownOperation = errors.New("unknown operation")

// serializationError is a request body that does not decode.
type serializationError struct{ msg string }

func (e *serializationError) Error() string { return e.msg }

// exception is an error as KMS reports it.
type exception struct {
	Status int
	Type   string
	Msg    string
}

// authTypes maps signature failures to the exceptions of AWS's JSON
// protocols.
var authTypes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationTokenException",
	sigv4.Incomplete:  "IncompleteSignatureException",
	sigv4.Mismatch:    "InvalidSignatureException",
	sigv4.Expired:     "InvalidSignatureException",
	sigv4.Unsupported: "IncompleteSignatureException",
	sigv4.UnknownKey:  "UnrecognizedClientException",
	sigv4.BadRegion:   "InvalidSignatureException",
}

// exceptionType maps a class, refined by sub-reason or resource type where
// KMS distinguishes, to an exception type. Classes not listed are
// ValidationException unless their reason or resource says otherwise.
func exceptionType(oe *openami.Error) string {
	switch oe.Class {
	case openami.NotFound:
		return "NotFoundException"
	case openami.Duplicate:
		return "AlreadyExistsException"
	case openami.Unauthorized:
		if oe.Resource == openami.ResourceKMSAlias {
			return "NotAuthorizedException"
		}
		return "AccessDeniedException"
	case openami.IncorrectState:
		if oe.Reason == openami.ReasonDisabled {
			return "DisabledException"
		}
		return "KMSInvalidStateException"
	case openami.LimitExceeded:
		return "LimitExceededException"
	case openami.Unsupported:
		return "UnsupportedOperationException"
	case openami.InvalidToken:
		return "InvalidMarkerException"
	case openami.DryRun:
		return "DryRunOperationException"
	}
	switch oe.Reason {
	case openami.ReasonCiphertext:
		return "InvalidCiphertextException"
	case openami.ReasonPolicy:
		return "MalformedPolicyDocumentException"
	case openami.ReasonWrongKey:
		return "IncorrectKeyException"
	case openami.ReasonKeyUsage:
		return "InvalidKeyUsageException"
	case openami.ReasonGrantToken:
		return "InvalidGrantTokenException"
	case openami.ReasonPrincipal:
		return "InvalidArnException"
	}
	switch oe.Resource {
	case openami.ResourceTag:
		return "TagException"
	case openami.ResourceKMSGrant:
		return "InvalidGrantIdException"
	}
	return "ValidationException"
}

// memberNames maps the names the rules of KMS give their inputs
// (openami.Error's Field and Other: their input structs' fields) to the
// names of the members of KMS's requests. A validation sentence names a
// member with its first letter lowered, as KMS does ('keyId'). A test
// keeps the table and the rules' source in step.
var memberNames = map[string]string{
	"AliasName":             "AliasName",
	"Algorithm":             "EncryptionAlgorithm",
	"Ciphertext":            "CiphertextBlob",
	"CustomerMasterKeySpec": "CustomerMasterKeySpec",
	"Description":           "Description",
	"DestinationAlgorithm":  "DestinationEncryptionAlgorithm",
	"DestinationKeyID":      "DestinationKeyId",
	"GrantID":               "GrantId",
	"GrantToken":            "GrantToken",
	"GrantTokens":           "GrantTokens",
	"GranteePrincipal":      "GranteePrincipal",
	"KeyID":                 "KeyId",
	"KeySpec":               "KeySpec",
	"KeyUsage":              "KeyUsage",
	"Limit":                 "Limit",
	// The listings' last guard, behind the checks of Limit: no member
	// of KMS's, named as the other protocols name it.
	"MaxResults":          "MaxResults",
	"Name":                "Name",
	"NumberOfBytes":       "NumberOfBytes",
	"Operations":          "Operations",
	"Origin":              "Origin",
	"PendingWindowInDays": "PendingWindowInDays",
	"Plaintext":           "Plaintext",
	"Policy":              "Policy",
	"RetiringPrincipal":   "RetiringPrincipal",
	"SourceAlgorithm":     "SourceEncryptionAlgorithm",
	"SourceKeyID":         "SourceKeyId",
	"TargetKeyID":         "TargetKeyId",
}

// memberName returns KMS's name for the rules' input field: the table's,
// or the rules' own for one the table lacks (a test keeps it complete).
func memberName(field string) string {
	if n, ok := memberNames[field]; ok {
		return n
	}
	return field
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// KeyUnusableSentence returns the sentence EC2's actions and the EBS
// direct API answer for oe, a KMS key EBS may not use (rules/ebs's
// ReasonKeyUnusable), quoting KMS's refusal, oe's cause: its own
// sentence, or, for a key id KMS refuses for its form, InputSentence
// with name, the calling protocol's name for the rules' input field.
func KeyUnusableSentence(oe *openami.Error, name func(field string) string) string {
	var why string
	var ke *openami.Error
	if errors.As(oe.Err, &ke) {
		why = ke.Message
		if why == "" {
			why = InputSentence(ke, name(ke.Field))
		}
	}
	if oe.Class == openami.IncorrectState {
		return "The KMS key provided is in an incorrect state: " + why
	}
	return "The specified KMS key " + oe.Value + " is not accessible: " + why
}

// InputSentence returns KMS's sentence for oe, an input the rules of KMS
// refuse in their own terms because it is missing or breaks a
// constraint on its form (rules/param's Missing, Breaks and Empty), with
// name the request's name for oe.Field: KMS's member, for KMS's own
// requests; EC2 and the EBS direct API give theirs when they quote KMS's
// refusal of a key id they were given. It returns "" for any other
// error.
func InputSentence(oe *openami.Error, name string) string {
	const detected = "1 validation error detected: "
	switch {
	case oe.Message != "" || oe.Field == "":
	case oe.Reason == openami.ReasonConstraint:
		value := ""
		if oe.Value != "" {
			value = " '" + oe.Value + "'"
		}
		return detected + "Value" + value + " at '" + lowerFirst(name) + "' failed to satisfy constraint: Member " + oe.Detail
	case oe.Class == openami.MissingParameter && oe.Reason == "" && oe.Other == "" && oe.Detail == "":
		return detected + "Value null at '" + lowerFirst(name) + "' failed to satisfy constraint: Member must not be null"
	}
	return ""
}

// message returns the sentence KMS answers an error with: the rules' own,
// or, for an error about an input that leaves the sentence to the
// protocol (rules/param), KMS's, made here with KMS's names for the
// rules' inputs (memberNames).
func message(oe *openami.Error) string {
	if oe.Message != "" || oe.Field == "" {
		return oe.Message
	}
	name := memberName(oe.Field)
	if s := InputSentence(oe, name); s != "" {
		return s
	}
	switch {
	case oe.Reason == openami.ReasonExclusive && oe.Other == "CustomerMasterKeySpec":
		other := memberName(oe.Other)
		return "You cannot specify " + name + " and " + other + " in the same request. " + other + " parameter is deprecated. Use " + name + " only."
	case oe.Reason == openami.ReasonExclusive:
		return "You cannot specify " + name + " and " + memberName(oe.Other) + " in the same request."
	case oe.Class == openami.InvalidParameter && oe.Field == "MaxResults":
		// The listings' last guard (rules/kms listPage), behind the
		// checks of Limit in KMS's words.
		return "Value (" + oe.Value + ") for parameter " + lowerFirst(name) + " is invalid. " + oe.Detail
	}
	return oe.Error()
}

func toException(err error) exception {
	var (
		ae *sigv4.Error
		oe *openami.Error
	)
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		return exception{http.StatusBadRequest, authTypes[ae.Failure], ae.Message}
	case isTransport && te.Failure == transport.Busy:
		// KMS's throttling exception, which the SDKs retry.
		return exception{http.StatusServiceUnavailable, "ThrottlingException", te.Message}
	case isTransport:
		// A body cut short, sent too slowly or abandoned: the request, as
		// received, is not a valid one.
		return exception{http.StatusBadRequest, "ValidationException", te.Message}
	case errors.Is(err, errUnknownOperation):
		return exception{http.StatusBadRequest, "UnknownOperationException", ""}
	case errors.As(err, new(*serializationError)):
		return exception{http.StatusBadRequest, "SerializationException", err.Error()}
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		status := http.StatusBadRequest
		if oe.Class == openami.DryRun {
			status = http.StatusPreconditionFailed
		}
		return exception{status, exceptionType(oe), message(oe)}
	}
	return exception{http.StatusInternalServerError, "KMSInternalException", "An internal error has occurred."}
}

// WriteError answers with err as a KMS exception and returns its type.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	e := toException(err)
	body := map[string]string{"__type": e.Type}
	if e.Msg != "" {
		body["message"] = e.Msg
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	w.Write(b)
	return e.Type
}
