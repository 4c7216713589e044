// Package awsjson writes what every service on AWS's JSON 1.1 protocol
// (KMS, SSM) answers alike: a result as a JSON body, an exception as
// {"__type": "…", "message": "…"} with its type in X-Amzn-ErrorType, and
// the exceptions of the protocol itself — a bad signature, a failed HTTP
// exchange, an unknown operation, a body that does not decode. Each
// service keeps its own table of the exceptions its rules' errors map to.
package awsjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// ContentType is the content type of JSON 1.1 requests and answers.
const ContentType = "application/x-amz-json-1.1"

// ErrUnknownOperation is a request that names no operation of the
// service (or is not a POST).
var ErrUnknownOperation = errors.New("unknown operation")

// SerializationError is a request body that does not decode.
type SerializationError struct{ Msg string }

func (e *SerializationError) Error() string { return e.Msg }

// Exception is an error as a JSON 1.1 service answers it.
type Exception struct {
	Status int
	Type   string
	Msg    string // "": the body has no message
}

// authTypes maps signature failures to the JSON protocols' exceptions.
var authTypes = map[sigv4.Failure]string{
	sigv4.Missing:     "MissingAuthenticationTokenException",
	sigv4.Incomplete:  "IncompleteSignatureException",
	sigv4.Mismatch:    "InvalidSignatureException",
	sigv4.Expired:     "InvalidSignatureException",
	sigv4.Unsupported: "IncompleteSignatureException",
	sigv4.UnknownKey:  "UnrecognizedClientException",
	sigv4.BadRegion:   "InvalidSignatureException",
}

// Operation returns the operation a request's X-Amz-Target names after
// prefix (such as "TrentService."); ok is false unless the request is a
// POST whose target has the prefix.
func Operation(r *http.Request, prefix string) (name string, ok bool) {
	name, ok = strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix)
	return name, ok && r.Method == http.MethodPost
}

// ProtocolException returns the exception that answers an error of the
// protocol rather than of the service's rules: a signature failure, a
// failed HTTP exchange (ThrottlingException for a busy server, which the
// SDKs retry), ErrUnknownOperation or a *SerializationError. ok is false
// for any other error.
func ProtocolException(err error) (e Exception, ok bool) {
	var ae *sigv4.Error
	te, isTransport := transport.Classify(err)
	switch {
	case errors.As(err, &ae):
		return Exception{http.StatusBadRequest, authTypes[ae.Failure], ae.Message}, true
	case isTransport && te.Failure == transport.Busy:
		return Exception{http.StatusServiceUnavailable, "ThrottlingException", te.Message}, true
	case isTransport:
		// A body cut short, sent too slowly or abandoned: the request, as
		// received, is not a valid one.
		return Exception{http.StatusBadRequest, "ValidationException", te.Message}, true
	case errors.Is(err, ErrUnknownOperation):
		return Exception{http.StatusBadRequest, "UnknownOperationException", ""}, true
	case errors.As(err, new(*SerializationError)):
		return Exception{http.StatusBadRequest, "SerializationException", err.Error()}, true
	}
	return Exception{}, false
}

// Decode unmarshals a request body into v; an empty body is an empty
// object. A body that does not decode is a *SerializationError.
func Decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &SerializationError{Msg: "The request body could not be read: " + err.Error()}
	}
	return nil
}

// WriteResult answers with status 200 and out as JSON. When out does not
// encode it writes nothing and returns the error, so that the caller can
// still answer with an exception.
func WriteResult(w http.ResponseWriter, out any) error {
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// WriteException answers with e.
func WriteException(w http.ResponseWriter, e Exception) {
	body := map[string]string{"__type": e.Type}
	if e.Msg != "" {
		body["message"] = e.Msg
	}
	b, _ := json.Marshal(body) // strings only: cannot fail
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	w.Write(b)
}
