package ssm

import (
	"errors"
	"net/http"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsjson"
	"github.com/openami/openami/api/kms"
)

// This file is the one place that turns openami errors into SSM
// exceptions: {"__type": "ParameterNotFound", "message": "..."}, HTTP 400
// for the caller's faults and 500 for the server's.

// exception is an error as SSM reports it.
type exception = awsjson.Exception

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
	if e, ok := awsjson.ProtocolException(err); ok {
		return e
	}
	var oe *openami.Error
	if errors.As(err, &oe) && oe.Class != openami.Internal {
		return exception{Status: http.StatusBadRequest, Type: exceptionType(oe), Msg: message(oe)}
	}
	return exception{Status: http.StatusInternalServerError, Type: "InternalServerError", Msg: "An internal error has occurred."}
}

// WriteError answers with err as an SSM exception and returns its type.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	e := toException(err)
	awsjson.WriteException(w, e)
	return e.Type
}
