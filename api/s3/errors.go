package s3

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/openami/openami"
	"github.com/openami/openami/api/s3/checksum"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// Error is an S3 error answer: its code, status and message.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf returns an *Error.
func errorf(status int, code, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

// Errors of a request's payload hash, before its body is read.
var (
	ErrMissingContentSHA256 = errorf(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
	ErrBadContentSHA256     = errorf(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-…, or a valid sha256 value.")
)

// code maps an error to S3's answer: the one table from openami's
// classes, reasons and resources, sigv4's, checksum's and transport's
// failures, to S3's codes and statuses.
func code(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var ce *checksum.Error
	if errors.As(err, &ce) {
		switch ce.Failure {
		case checksum.BadDigest, checksum.Mismatch:
			return errorf(400, "BadDigest", ce.Message)
		case checksum.InvalidDigest:
			return errorf(400, "InvalidDigest", ce.Message)
		default:
			return errorf(400, "InvalidRequest", ce.Message)
		}
	}
	var ae *sigv4.Error
	if errors.As(err, &ae) {
		switch ae.Failure {
		case sigv4.Missing:
			return errorf(403, "AccessDenied", ae.Message)
		case sigv4.Mismatch:
			return errorf(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		case sigv4.Expired:
			return errorf(403, "RequestTimeTooSkewed", ae.Message)
		case sigv4.Unsupported:
			return errorf(501, "NotImplemented", ae.Message)
		case sigv4.UnknownKey:
			return errorf(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
		case sigv4.BadRegion:
			return errorf(400, "AuthorizationHeaderMalformed", ae.Message)
		case sigv4.BadBody:
			return errorf(400, "IncompleteBody", ae.Message)
		case sigv4.PayloadMismatch:
			return errorf(400, "XAmzContentSHA256Mismatch", ae.Message)
		default:
			return errorf(400, "AuthorizationHeaderMalformed", ae.Message)
		}
	}
	if te, ok := transport.Classify(err); ok {
		switch te.Failure {
		case transport.Timeout:
			return errorf(400, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
		case transport.Busy:
			return errorf(503, "SlowDown", "Please reduce your request rate.")
		default:
			return errorf(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		}
	}
	var oe *openami.Error
	if !errors.As(err, &oe) {
		return errorf(500, "InternalError", "We encountered an internal error. Please try again.")
	}
	msg := oe.Message
	switch oe.Class {
	case openami.NotFound:
		switch oe.Resource {
		case openami.ResourceBucket:
			return errorf(404, "NoSuchBucket", msg)
		case openami.ResourceObject:
			return errorf(404, "NoSuchKey", msg)
		case openami.ResourceUpload:
			return errorf(404, "NoSuchUpload", msg)
		case openami.ResourceBucketPolicy:
			return errorf(404, "NoSuchBucketPolicy", msg)
		}
	case openami.Duplicate:
		if oe.Resource == openami.ResourceBucket {
			if oe.Reason == openami.ReasonOwnedByYou {
				return errorf(409, "BucketAlreadyOwnedByYou", msg)
			}
			return errorf(409, "BucketAlreadyExists", msg)
		}
	case openami.InUse:
		if oe.Reason == openami.ReasonNotEmpty {
			return errorf(409, "BucketNotEmpty", msg)
		}
	case openami.Malformed:
		switch oe.Resource {
		case openami.ResourceBucket:
			return errorf(400, "InvalidBucketName", msg)
		case openami.ResourceBucketPolicy:
			return errorf(400, "MalformedPolicy", msg)
		}
		return errorf(400, "MalformedACLError", msg)
	case openami.Unauthorized:
		return errorf(403, "AccessDenied", msg)
	case openami.IncorrectState:
		switch oe.Reason {
		case openami.ReasonNotModified:
			return errorf(304, "NotModified", msg)
		case openami.ReasonPrecondition:
			return errorf(412, "PreconditionFailed", msg)
		}
	case openami.InvalidParameter:
		switch oe.Reason {
		case openami.ReasonDigest:
			return errorf(400, "BadDigest", msg)
		case openami.ReasonRange:
			return errorf(416, "InvalidRange", msg)
		case openami.ReasonTooLarge:
			return errorf(400, "EntityTooLarge", msg)
		case openami.ReasonTooSmall:
			return errorf(400, "EntityTooSmall", msg)
		case openami.ReasonOrder:
			return errorf(400, "InvalidPartOrder", msg)
		case openami.ReasonTooLong:
			return errorf(400, "KeyTooLongError", msg)
		case openami.ReasonTag:
			return errorf(400, "InvalidTag", msg)
		}
		switch oe.Resource {
		case openami.ResourcePart:
			if msg != "" && msg[0] == 'O' { // "One or more of the specified parts could not be found…"
				return errorf(400, "InvalidPart", msg)
			}
		case openami.ResourceRegion:
			return errorf(400, "InvalidLocationConstraint", msg)
		}
		if msg == "" {
			msg = oe.Error()
		}
		return errorf(400, "InvalidArgument", msg)
	case openami.Unsupported:
		return errorf(501, "NotImplemented", msg)
	case openami.MissingParameter:
		return errorf(400, "InvalidRequest", msg)
	}
	if oe.Class == openami.Internal {
		return errorf(500, "InternalError", "We encountered an internal error. Please try again.")
	}
	if msg == "" {
		msg = oe.Error()
	}
	return errorf(400, "InvalidRequest", msg)
}

// errorBody is S3's error document.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
}

// writeError answers err as S3 does: the status, and the error document
// except for HEAD and 304, which have no body.
func writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) string {
	e := code(err)
	w.Header().Set("x-amz-request-id", requestID)
	if r != nil && (r.Method == http.MethodHead || e.Status == http.StatusNotModified) {
		w.WriteHeader(e.Status)
		return e.Code
	}
	resource := ""
	if r != nil {
		resource = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	b, _ := xml.Marshal(errorBody{Code: e.Code, Message: e.Message, Resource: resource, RequestID: requestID})
	w.Write([]byte(xml.Header))
	w.Write(b)
	return e.Code
}
