package kms

import (
	"encoding/json"
	"errors"
	"net/http"

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

// message returns the sentence KMS answers an error with: the rules' own,
// or, for an error about an input that leaves the sentence to the
// protocol (rules/param), KMS's, made here. The rules' names for KMS's
// inputs are KMS's own.
func message(oe *openami.Error) string {
	if oe.Message != "" || oe.Field == "" {
		return oe.Message
	}
	switch {
	case oe.Reason == openami.ReasonExclusive && oe.Other == "CustomerMasterKeySpec":
		return "You cannot specify " + oe.Field + " and " + oe.Other + " in the same request. " + oe.Other + " parameter is deprecated. Use " + oe.Field + " only."
	case oe.Reason == openami.ReasonExclusive:
		return "You cannot specify " + oe.Field + " and " + oe.Other + " in the same request."
	case oe.Class == openami.InvalidParameter && oe.Field == "MaxResults":
		// The listings' last guard (rules/kms listPage), behind the
		// checks of Limit in KMS's words.
		return "Value (" + oe.Value + ") for parameter maxResults is invalid. " + oe.Detail
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
