package autoscaling

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// The error table of Auto Scaling: from openami's classes (and the
// resource and reason they concern) to Auto Scaling's codes. Auto
// Scaling answers nearly every refusal of a request's content as
// ValidationError with a sentence, which the rules write.

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// authCodes maps signature failures to Auto Scaling's codes.
var authCodes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationToken",
	sigv4.Incomplete:  "IncompleteSignature",
	sigv4.Mismatch:    "SignatureDoesNotMatch",
	sigv4.Expired:     "ExpiredToken",
	sigv4.Unsupported: "InvalidParameterValue",
	sigv4.UnknownKey:  "InvalidClientTokenId",
	sigv4.BadRegion:   "SignatureDoesNotMatch",
}

// transportCodes maps failures of the HTTP exchange to Auto Scaling's
// codes; Throttling is the throttling code the SDKs retry.
var transportCodes = map[transport.Failure]string{
	transport.Incomplete: "IncompleteBody",
	transport.Timeout:    "RequestTimeout",
	transport.Canceled:   "RequestCanceled",
	transport.Busy:       "Throttling",
}

// wireError is an error as Auto Scaling answers it.
type wireError struct {
	Status  int
	Code    string
	Message string
}

// toWire returns Auto Scaling's answer to err.
func toWire(err error) wireError {
	var (
		ae *sigv4.Error
		oe *openami.Error
		ia *invalidAction
	)
	if te, ok := transport.Classify(err); ok {
		status := http.StatusBadRequest
		if te.Failure == transport.Busy {
			status = http.StatusServiceUnavailable
		}
		return wireError{status, transportCodes[te.Failure], te.Message}
	}
	switch {
	case errors.As(err, &ae):
		return wireError{http.StatusForbidden, authCodes[ae.Failure], ae.Message}
	case errors.As(err, &ia):
		return wireError{http.StatusBadRequest, "InvalidAction", ia.Error()}
	case !errors.As(err, &oe) || oe.Class == openami.Internal:
		return wireError{http.StatusInternalServerError, "InternalFailure", "An internal error occurred."}
	}
	msg := oe.Message
	if msg == "" {
		msg = oe.Error()
	}
	bad := func(code string) wireError { return wireError{http.StatusBadRequest, code, msg} }
	switch oe.Class {
	case openami.Duplicate:
		if oe.Resource == openami.ResourceInstanceRefresh {
			return bad("InstanceRefreshInProgress")
		}
		return bad("AlreadyExists")
	case openami.NotFound:
		if oe.Resource == openami.ResourceInstanceRefresh {
			return bad("ActiveInstanceRefreshNotFound")
		}
	case openami.InUse:
		return bad("ResourceInUse")
	case openami.IncorrectState:
		if oe.Reason != openami.ReasonUnavailable {
			return bad("ScalingActivityInProgress")
		}
	case openami.LimitExceeded:
		return bad("LimitExceeded")
	case openami.InvalidToken:
		return bad("InvalidNextToken")
	}
	return bad("ValidationError")
}

// WriteError answers with err in Auto Scaling's error envelope and
// returns the code.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	we := toWire(err)
	var out errorResponse
	out.Xmlns = namespace
	out.RequestID = requestID
	out.Error.Type = "Sender"
	if we.Status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message = we.Code, we.Message
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(out)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(we.Status)
	w.Write(buf.Bytes())
	return out.Error.Code
}
