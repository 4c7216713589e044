package ssm

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/kms"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// This file is the one place that turns openami errors into SSM
// exceptions: {"__type": "ParameterNotFound", "message": "..."}, HTTP 400
// for the caller's faults and 500 for the server's.

var errUnknownOperation = errors.New("unknown operation")

// serializationError is a request body that does not decode.
type serializationError struct{ msg string }

func (e *serializationError) Error() string { return e.msg }

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

// exceptionType maps a class, refined by reason, resource or field where
// SSM distinguishes, to an exception type; ValidationException is the
// rest.
func exceptionType(oe *openami.Error) string {
	switch {
	case oe.Field == "ResourceType":
		return "InvalidResourceType"
	case oe.Class == openami.NotFound && oe.Field == "ResourceID":
		return "InvalidResourceId"
	case oe.Class == openami.LimitExceeded && oe.Resource == openami.ResourceTag:
		return "TooManyTagsError"
	case oe.Class == openami.LimitExceeded && oe.Field == "Labels":
		return "ParameterVersionLabelLimitExceeded"
	case oe.Class == openami.NotFound && oe.Reason == openami.ReasonVersion:
		return "ParameterVersionNotFound"
	case oe.Class == openami.NotFound:
		return "ParameterNotFound"
	case oe.Class == openami.Duplicate:
		return "ParameterAlreadyExists"
	case oe.Class == openami.LimitExceeded && oe.Reason == openami.ReasonHierarchy:
		return "HierarchyLevelLimitExceededException"
	case oe.Class == openami.LimitExceeded:
		return "ParameterMaxVersionLimitExceeded"
	case oe.Class == openami.Unsupported && oe.Field == "Type":
		return "UnsupportedParameterType"
	case oe.Class == openami.Unauthorized:
		return "AccessDeniedException"
	case oe.Class == openami.InvalidToken:
		return "InvalidNextToken"
	case oe.Reason == openami.ReasonPattern:
		return "ParameterPatternMismatchException"
	case oe.Reason == openami.ReasonConstraint && oe.Resource == openami.ResourceParameter:
		return "InvalidAllowedPatternException"
	case oe.Resource == openami.ResourceFilter && oe.Field == "Option":
		return "InvalidFilterOption"
	case oe.Resource == openami.ResourceFilter && oe.Field == "Values":
		return "InvalidFilterValue"
	case oe.Resource == openami.ResourceFilter:
		return "InvalidFilterKey"
	}
	return "ValidationException"
}

// message returns the sentence SSM answers an error with: none for a
// parameter not found (SSM gives none), the rules' own, or, for an input
// the rules refuse for its form (rules/param), AWS's "1 validation error
// detected: …" with SSM's member name (the rules' field, first letter
// lowered).
func message(oe *openami.Error) string {
	if oe.Class == openami.NotFound && oe.Reason == "" && oe.Field == "" {
		return ""
	}
	if oe.Message != "" || oe.Field == "" {
		return oe.Message
	}
	if s := kms.InputSentence(oe, oe.Field); s != "" {
		return s
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
		return exception{http.StatusServiceUnavailable, "ThrottlingException", te.Message}
	case isTransport:
		return exception{http.StatusBadRequest, "ValidationException", te.Message}
	case errors.Is(err, errUnknownOperation):
		return exception{http.StatusBadRequest, "UnknownOperationException", ""}
	case errors.As(err, new(*serializationError)):
		return exception{http.StatusBadRequest, "SerializationException", err.Error()}
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		return exception{http.StatusBadRequest, exceptionType(oe), message(oe)}
	}
	return exception{http.StatusInternalServerError, "InternalServerError", "An internal error has occurred."}
}

// WriteError answers with err as an SSM exception and returns its type.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	e := toException(err)
	body := map[string]string{"__type": e.Type}
	if e.Msg != "" || strings.HasPrefix(e.Type, "Parameter") {
		body["message"] = e.Msg
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	w.Write(b)
	return e.Type
}
