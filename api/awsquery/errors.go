package awsquery

import (
	"errors"
	"net/http"
	"strings"

	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// InvalidAction is a request whose Action the service does not have.
type InvalidAction struct{ Name string }

func (e *InvalidAction) Error() string {
	if strings.TrimSpace(e.Name) == "" {
		return "Could not find operation"
	}
	return "Could not find operation " + e.Name
}

// authCodes maps signature failures to the Query services' codes.
var authCodes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationToken",
	sigv4.Incomplete:  "IncompleteSignature",
	sigv4.Mismatch:    "SignatureDoesNotMatch",
	sigv4.Expired:     "ExpiredToken",
	sigv4.Unsupported: "InvalidParameterValue",
	sigv4.UnknownKey:  "InvalidClientTokenId",
	sigv4.BadRegion:   "SignatureDoesNotMatch",
}

// transportCodes maps failures of the HTTP exchange to the Query
// services' codes; Throttling is the throttling code the SDKs retry.
var transportCodes = map[transport.Failure]string{
	transport.Incomplete: "IncompleteBody",
	transport.Timeout:    "RequestTimeout",
	transport.Canceled:   "RequestCanceled",
	transport.Busy:       "Throttling",
}

// ProtocolError returns how IAM and Auto Scaling answer an error of the
// protocol rather than of their rules: a failed HTTP exchange (503
// Throttling for a busy server), a signature failure (403) or an
// *InvalidAction (400 InvalidAction). ok is false for any other error.
func ProtocolError(err error) (status int, code, message string, ok bool) {
	var (
		ae *sigv4.Error
		ia *InvalidAction
	)
	if te, ok := transport.Classify(err); ok {
		status := http.StatusBadRequest
		if te.Failure == transport.Busy {
			status = http.StatusServiceUnavailable
		}
		return status, transportCodes[te.Failure], te.Message, true
	}
	switch {
	case errors.As(err, &ae):
		return http.StatusForbidden, authCodes[ae.Failure], ae.Message, true
	case errors.As(err, &ia):
		return http.StatusBadRequest, "InvalidAction", ia.Error(), true
	}
	return 0, "", "", false
}
