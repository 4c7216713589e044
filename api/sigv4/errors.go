package sigv4

import "strconv"

// Failure classifies why a request's authentication was rejected. The API
// layer maps each class to the error code of the protocol it speaks (EC2
// Query, EBS REST-JSON, KMS JSON 1.1, STS), so this package never names a
// wire code itself.
//
// A Failure is also an error, so that errors.Is(err, sigv4.Expired) works on
// any error returned by Parse or Verify.
type Failure int

const (
	// Missing means the request carries no SigV4 authentication at all:
	// neither an Authorization header nor presigned query parameters. AWS
	// answers MissingAuthenticationToken.
	Missing Failure = iota + 1

	// Incomplete means the authentication is present but malformed or
	// lacks a part: no Credential, SignedHeaders or Signature, a bad
	// credential scope, host not signed, a date in the wrong format, both
	// forms at once. AWS answers IncompleteSignature (or
	// AuthorizationHeaderMalformed, depending on the service).
	Incomplete

	// Mismatch means the signature, or the signed payload hash, does not
	// match what the server computed. AWS answers SignatureDoesNotMatch.
	Mismatch

	// Expired means the request's date lies outside the allowed clock skew,
	// or a presigned request is past its expiry. AWS answers RequestExpired
	// (or SignatureDoesNotMatch with a "Signature expired" message).
	Expired

	// Unsupported means the request is signed in a way this package does
	// not implement: another algorithm (SigV2, SigV4A) or a STREAMING-*
	// chunked payload.
	Unsupported

	// UnknownKey means the signature names an access key the server does
	// not know, or one whose account is disabled. Parse and Verify never
	// return it; the API layer does, after looking the key up, so that
	// every authentication failure is classified in one vocabulary.
	UnknownKey

	// BadRegion means the credential scope names a region the server does
	// not serve. Like UnknownKey, only the API layer returns it.
	BadRegion

	// BadBody means a body read through Body is not what its headers
	// announced: aws-chunked framing that does not parse, a chunk larger
	// than allowed, a trailer that was not declared, a decoded length
	// other than x-amz-decoded-content-length, or a body that ended early.
	// S3 answers IncompleteBody.
	BadBody

	// PayloadMismatch means a body read through Body does not have the
	// SHA-256 its signed x-amz-content-sha256 header claimed. S3 answers
	// XAmzContentSHA256Mismatch. (Verify, which is handed the hash, keeps
	// answering Mismatch for it, as before.)
	PayloadMismatch
)

// String returns the failure class's name, or "Failure(n)" for an unknown
// value.
func (f Failure) String() string {
	switch f {
	case Missing:
		return "Missing"
	case Incomplete:
		return "Incomplete"
	case Mismatch:
		return "Mismatch"
	case Expired:
		return "Expired"
	case Unsupported:
		return "Unsupported"
	case UnknownKey:
		return "UnknownKey"
	case BadRegion:
		return "BadRegion"
	case BadBody:
		return "BadBody"
	case PayloadMismatch:
		return "PayloadMismatch"
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// Error returns a short lowercase description of the class, so that a bare
// Failure can serve as a sentinel in errors.Is.
func (f Failure) Error() string {
	switch f {
	case Missing:
		return "sigv4: missing authentication"
	case Incomplete:
		return "sigv4: incomplete signature"
	case Mismatch:
		return "sigv4: signature does not match"
	case Expired:
		return "sigv4: request expired"
	case Unsupported:
		return "sigv4: unsupported signing method"
	case UnknownKey:
		return "sigv4: unknown access key"
	case BadRegion:
		return "sigv4: region not served"
	case BadBody:
		return "sigv4: malformed or incomplete body"
	case PayloadMismatch:
		return "sigv4: body does not match x-amz-content-sha256"
	}
	return "sigv4: " + f.String()
}

// Error is the only error type Parse and Verify return. Message is written
// for the client, in the words AWS uses for the same failure, so that users
// and the advice they find about those texts recognise it. It may quote
// (clipped) parts of the client's own request.
type Error struct {
	Failure Failure
	Message string
}

// Error returns Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the failure class, so errors.Is(err, sigv4.Mismatch)
// reports whether err is a *Error of that class.
func (e *Error) Unwrap() error { return e.Failure }

func fail(f Failure, msg string) *Error { return &Error{Failure: f, Message: msg} }

// Messages shared by several checks. They follow AWS's wording.
const (
	msgMissing  = "Request is missing Authentication Token"
	msgMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgPayloadMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgPresignExpired  = "Request has expired."
	msgBadDate         = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
)
