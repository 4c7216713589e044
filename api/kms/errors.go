package kms

import (
	"errors"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsjson"
)

// This file is the one place that turns openami errors into KMS
// exceptions: {"__type": "NotFoundException", "message": "..."}, HTTP 400
// for the caller's faults and 500 for the server's.

// exception is an error as KMS reports it.
type exception = awsjson.Exception

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
	if e, ok := awsjson.ProtocolException(err); ok {
		return e
	}
	var oe *openami.Error
	if errors.As(err, &oe) && oe.Class != openami.Internal {
		status := http.StatusBadRequest
		if oe.Class == openami.DryRun {
			status = http.StatusPreconditionFailed
		}
		return exception{Status: status, Type: exceptionType(oe), Msg: message(oe)}
	}
	return exception{Status: http.StatusInternalServerError, Type: "KMSInternalException", Msg: "An internal error has occurred."}
}

// WriteError answers with err as a KMS exception and returns its type.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	e := toException(err)
	awsjson.WriteException(w, e)
	return e.Type
}
