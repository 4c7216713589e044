package ebs

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/openami/openami"
	kmsapi "github.com/openami/openami/api/kms"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// This file is the one place that turns openami errors into EBS direct
// API exceptions and reasons.

var errUnknownOperation = errors.New("unknown operation")

// exception is an error as the EBS direct API reports it.
type exception struct {
	Status int
	Type   string
	Reason string
	Msg    string
}

// reasons maps the request parameter at fault to a ValidationException
// reason.
var reasons = map[string]string{
	"VolumeSize":        "INVALID_VOLUME_SIZE",
	"BlockIndex":        "INVALID_BLOCK",
	"DataLength":        "INVALID_BLOCK",
	"BlockData":         "INVALID_BLOCK",
	"Checksum":          "INVALID_BLOCK",
	"ChecksumAlgorithm": "INVALID_BLOCK",
	"Tags":              "INVALID_TAG",
	"SnapshotId":        "INVALID_SNAPSHOT_ID",
	"ParentSnapshotId":  "INVALID_SNAPSHOT_ID",
	"FirstSnapshotId":   "UNRELATED_SNAPSHOTS",
	"BlockToken":        "INVALID_BLOCK_TOKEN",
	"NextToken":         "INVALID_PAGE_TOKEN",
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

// fieldNames maps the rules' names for StartSnapshot's inputs to the EBS
// direct API's, where a sentence names them and the names differ.
var fieldNames = map[string]string{"KmsKeyARN": "KmsKeyArn"}

// fieldName returns the EBS direct API's name for the rules' input field.
func fieldName(field string) string {
	if n, ok := fieldNames[field]; ok {
		return n
	}
	return field
}

// keyUnusable returns the sentence for a KMS key EBS may not use
// (rules/ebs), in the words EC2's actions use, quoting KMS's refusal
// with this API's name for the input that gave it.
func keyUnusable(oe *openami.Error) string { return kmsapi.KeyUnusableSentence(oe, fieldName) }

// withMessage returns oe with the sentence the EBS direct API answers it
// with: the rules' own, or, for an error about an input that leaves the
// sentence to the protocol (rules/param), one made here.
func withMessage(oe *openami.Error) *openami.Error {
	if oe.Message != "" || oe.Field == "" {
		return oe
	}
	e := *oe
	switch {
	case oe.Reason == openami.ReasonKeyUnusable:
		e.Message = keyUnusable(oe)
	case oe.Reason == openami.ReasonDependency && oe.Field == "KmsKeyID":
		// StartSnapshot's KmsKeyArn without Encrypted, in the words
		// EC2's actions use for KmsKeyId.
		e.Message = "The parameter KmsKeyId requires the parameter " + oe.Other + " to be set."
	default:
		e.Message = oe.Error()
	}
	return &e
}

func toException(err error) exception {
	var (
		ae *sigv4.Error
		oe *openami.Error
	)
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		return exception{http.StatusForbidden, authTypes[ae.Failure], "", ae.Message}
	case isTransport && te.Failure == transport.Busy:
		// The EBS direct API's throttling exception, which the SDKs retry.
		return exception{http.StatusServiceUnavailable, "RequestThrottledException", "", te.Message}
	case isTransport:
		// A body cut short, sent too slowly or abandoned: the request, as
		// received, is not a valid one.
		return exception{http.StatusBadRequest, "ValidationException", "INVALID_PARAMETER_VALUE", te.Message}
	case errors.Is(err, errUnknownOperation):
		return exception{http.StatusNotFound, "UnknownOperationException", "", "The requested operation is not supported by the EBS direct API."}
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		oe = withMessage(oe)
		validation := func() exception {
			reason, ok := reasons[oe.Field]
			if !ok {
				reason = "INVALID_PARAMETER_VALUE"
			}
			return exception{http.StatusBadRequest, "ValidationException", reason, oe.Message}
		}
		if oe.Reason == openami.ReasonKeyUnusable {
			// The snapshot's KMS key is missing, refused or not enabled.
			return exception{http.StatusForbidden, "AccessDeniedException", "DEPENDENCY_ACCESS_DENIED", oe.Message}
		}
		switch oe.Class {
		case openami.NotFound:
			if oe.Field == "ParentSnapshotId" || oe.Field == "FirstSnapshotId" {
				return exception{http.StatusNotFound, "ResourceNotFoundException", "DEPENDENCY_RESOURCE_NOT_FOUND", oe.Message}
			}
			return exception{http.StatusNotFound, "ResourceNotFoundException", "SNAPSHOT_NOT_FOUND", oe.Message}
		case openami.Duplicate:
			// The EBS model has ConflictException for StartSnapshot's
			// reused client token only.
			return exception{http.StatusConflict, "ConflictException", "", oe.Message}
		case openami.LimitExceeded:
			return exception{http.StatusPaymentRequired, "ServiceQuotaExceededException", "", oe.Message}
		case openami.Unauthorized:
			return exception{http.StatusForbidden, "AccessDeniedException", "UNAUTHORIZED_ACCOUNT", oe.Message}
		}
		return validation()
	}
	return exception{http.StatusInternalServerError, "InternalServerException", "", "An internal error has occurred."}
}

// WriteError answers with err as an EBS exception and returns its type.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	e := toException(err)
	body := map[string]string{"Message": e.Msg}
	if e.Reason != "" {
		body["Reason"] = e.Reason
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	w.Write(b)
	return e.Type
}
