package iam

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
)

// The error table of IAM: from openami's classes (and the resource they
// concern) to IAM's codes and HTTP statuses, and the sentences of input
// errors in IAM's words.

// memberNames are IAM's names, in its validation messages, of the rules'
// inputs (rules/identity/certificates.go).
var memberNames = map[string]string{
	"CertificateBody":   "certificateBody",
	"CertificateId":     "certificateId",
	"CertificateStatus": "status",
	"UserName":          "userName",
	"MaxItems":          "maxItems",
	"Marker":            "marker",
}

// wireError is an error as IAM answers it.
type wireError struct {
	Status  int
	Code    string
	Message string
}

// toWire returns IAM's answer to err.
func toWire(err error) wireError {
	if status, code, msg, ok := awsquery.ProtocolError(err); ok {
		return wireError{status, code, msg}
	}
	var oe *openami.Error
	if !errors.As(err, &oe) || oe.Class == openami.Internal {
		return wireError{http.StatusInternalServerError, "ServiceFailure", "Request processing has failed due to some unknown error, exception or failure."}
	}
	switch oe.Class {
	case openami.NotFound:
		return wireError{http.StatusNotFound, "NoSuchEntity", oe.Message}
	case openami.Malformed:
		if oe.Resource == openami.ResourceSigningCertificate {
			return wireError{http.StatusBadRequest, "MalformedCertificate", oe.Message}
		}
	case openami.Duplicate:
		if oe.Resource == openami.ResourceSigningCertificate {
			return wireError{http.StatusConflict, "DuplicateCertificate", oe.Message}
		}
		return wireError{http.StatusConflict, "EntityAlreadyExists", oe.Message}
	case openami.LimitExceeded:
		return wireError{http.StatusConflict, "LimitExceeded", oe.Message}
	case openami.MissingParameter:
		if oe.Field != "" {
			return wireError{http.StatusBadRequest, "ValidationError", validation("null", oe.Field, "must not be null")}
		}
		return wireError{http.StatusBadRequest, "ValidationError", oe.Message}
	case openami.InvalidParameter:
		if oe.Reason == openami.ReasonConstraint && oe.Field != "" {
			return wireError{http.StatusBadRequest, "ValidationError", validation(quoted(oe.Value), oe.Field, oe.Detail)}
		}
	}
	msg := oe.Message
	if msg == "" {
		msg = strings.TrimSpace(fmt.Sprintf("Invalid %s %s %s", memberName(oe.Field), quoted(oe.Value), oe.Detail))
	}
	return wireError{http.StatusBadRequest, "InvalidInput", msg}
}

func memberName(field string) string {
	if n, ok := memberNames[field]; ok {
		return n
	}
	return field
}

func quoted(v string) string {
	if v == "" {
		return ""
	}
	return "'" + v + "'"
}

// validation words a constraint an input broke as IAM does: "1
// validation error detected: Value 'x' at 'status' failed to satisfy
// constraint: Member must satisfy enum value set: [Active, Inactive]".
func validation(value, field, constraint string) string {
	v := "Value"
	if value != "" {
		v += " " + value
	}
	return fmt.Sprintf("1 validation error detected: %s at '%s' failed to satisfy constraint: Member %s", v, memberName(field), constraint)
}

// WriteError answers with err in IAM's error envelope and returns the
// code.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	we := toWire(err)
	awsquery.WriteError(w, namespace, requestID, we.Status, we.Code, we.Message)
	return we.Code
}
