// Package sts serves the part of the AWS Security Token Service that
// clients use to learn who they are: GetCallerIdentity, in the Query
// protocol (API version 2011-06-15).
package sts

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

const namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// Handler serves the STS protocol. GetCallerIdentity answers from the
// caller's principal alone, which the server has already authenticated
// (api/server.go, through rules/identity), so the handler calls no rules.
type Handler struct{}

// New returns the STS protocol handler.
func New() *Handler { return &Handler{} }

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// Serve answers an authenticated STS request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	params, err := awsquery.Params(r, body)
	if err != nil {
		return "", h.WriteError(w, requestID, err), err
	}
	action := params.Get("Action")
	if action != "GetCallerIdentity" {
		err := &invalidAction{action}
		return action, h.WriteError(w, requestID, err), err
	}
	var in struct{}
	if err := awsquery.Decode(params, &in); err != nil {
		return action, h.WriteError(w, requestID, err), err
	}
	var out getCallerIdentityResponse
	out.Xmlns = namespace
	out.Result.Account = p.AccountID
	out.Result.UserID = p.AccountID
	out.Result.Arn = "arn:aws:iam::" + p.AccountID + ":root"
	out.RequestID = requestID
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(out); err != nil {
		return action, h.WriteError(w, requestID, err), err
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(buf.Bytes())
	return action, "", nil
}

type invalidAction struct{ name string }

func (e *invalidAction) Error() string { return "Could not find operation " + e.name }

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

// authCodes maps signature failures to STS codes.
var authCodes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationToken",
	sigv4.Incomplete:  "IncompleteSignature",
	sigv4.Mismatch:    "SignatureDoesNotMatch",
	sigv4.Expired:     "ExpiredToken",
	sigv4.Unsupported: "InvalidParameterValue",
	sigv4.UnknownKey:  "InvalidClientTokenId",
	sigv4.BadRegion:   "SignatureDoesNotMatch",
}

// transportCodes maps failures of the HTTP exchange to STS codes;
// Throttling is STS's throttling code, which the SDKs retry.
var transportCodes = map[transport.Failure]string{
	transport.Incomplete: "IncompleteBody",
	transport.Timeout:    "RequestTimeout",
	transport.Canceled:   "RequestCanceled",
	transport.Busy:       "Throttling",
}

// WriteError answers with err in the STS error envelope and returns the
// code.
func (h *Handler) WriteError(w http.ResponseWriter, requestID string, err error) string {
	var out errorResponse
	out.Xmlns = namespace
	out.RequestID = requestID
	out.Error.Type = "Sender"
	status := http.StatusBadRequest
	var (
		ae *sigv4.Error
		oe *openami.Error
		ia *invalidAction
	)
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		out.Error.Code, out.Error.Message = authCodes[ae.Failure], ae.Message
		status = http.StatusForbidden
	case isTransport:
		out.Error.Code, out.Error.Message = transportCodes[te.Failure], te.Message
		if te.Failure == transport.Busy {
			status = http.StatusServiceUnavailable
		}
	case errors.As(err, &ia):
		out.Error.Code, out.Error.Message = "InvalidAction", ia.Error()
	case errors.As(err, &oe) && oe.Class == openami.UnknownParameter:
		out.Error.Code, out.Error.Message = "InvalidParameterValue", oe.Message
	case errors.As(err, &oe) && oe.Class != openami.Internal:
		out.Error.Code, out.Error.Message = "InvalidParameterValue", oe.Message
	default:
		out.Error.Type = "Receiver"
		out.Error.Code, out.Error.Message = "InternalFailure", "An internal error has occurred"
		status = http.StatusInternalServerError
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(out)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return out.Error.Code
}
