// Package transport names the failures of the HTTP exchange itself, as
// opposed to failures of what a request asks for: a body shorter than its
// Content-Length, a client too slow to send its body, a client that went
// away, a server with no room left to take one more unauthenticated body
// (or a store transaction that kept losing races: openami.ErrContended).
//
// They are the client's fault or a momentary lack of capacity, never a
// server fault. The API server (package api) detects them; each protocol
// answers them in its own words, in its one error table, as it does for
// sigv4's failures.
package transport

import (
	"context"
	"errors"
	"strconv"

	"github.com/openami/openami"
)

// Failure classifies a failure of the exchange.
type Failure int

const (
	// Incomplete means the body ended before the length the client
	// announced: the client closed the connection mid-body. A 400 in
	// every protocol (IncompleteBody where the protocol has codes of its
	// own choosing).
	Incomplete Failure = iota + 1

	// Timeout means the client did not send its body within the time
	// allowed for its size (api.Limits). A 400 (RequestTimeout).
	Timeout

	// Canceled means the client went away (or shut its side of the
	// connection) before the answer was ready; whatever is written goes
	// nowhere, or to a client that no longer waits. A 400.
	Canceled

	// Busy means the server's budget for bodies of not yet authenticated
	// requests stayed full for as long as a request may wait for it. A
	// 503 under the protocol's throttling code, which SDKs retry.
	Busy
)

// String returns the failure's name.
func (f Failure) String() string {
	switch f {
	case Incomplete:
		return "Incomplete"
	case Timeout:
		return "Timeout"
	case Canceled:
		return "Canceled"
	case Busy:
		return "Busy"
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// Error returns a short lowercase description, so that a bare Failure can
// serve as a sentinel in errors.Is.
func (f Failure) Error() string {
	switch f {
	case Incomplete:
		return "transport: body shorter than its content-length"
	case Timeout:
		return "transport: body not received in time"
	case Canceled:
		return "transport: client went away"
	case Busy:
		return "transport: no room for another unauthenticated body"
	}
	return "transport: " + f.String()
}

// Error is a failure of the exchange. Message is written for the client;
// Err is the underlying cause, for the server's log.
type Error struct {
	Failure Failure
	Message string
	Err     error
}

// Error returns the message and the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the failure class and the cause, so that both
// errors.Is(err, transport.Timeout) and errors.Is(err, os.ErrDeadlineExceeded)
// work.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Failure}
	}
	return []error{e.Failure, e.Err}
}

// Messages for the client, one per failure.
var messages = map[Failure]string{
	Incomplete: "The request body ended before the length given in Content-Length.",
	Timeout:    "The request body was not received within the time allowed for its size.",
	Canceled:   "The client closed the connection before the request completed.",
	Busy:       "The server is busy; retry the request.",
}

// New returns an *Error of failure f with the standard message, wrapping
// cause (which may be nil).
func New(f Failure, cause error) *Error {
	return &Error{Failure: f, Message: messages[f], Err: cause}
}

// Classify reports the transport failure err is or wraps, if any. A
// context.Canceled anywhere in err's chain counts as Canceled: the API
// cancels a request's context only when its client has gone away, so an
// action that failed that way failed because of the client.
func Classify(err error) (*Error, bool) {
	var te *Error
	if errors.As(err, &te) {
		return te, true
	}
	if errors.Is(err, context.Canceled) {
		return New(Canceled, err), true
	}
	// A store transaction that kept losing races: busy for now.
	if errors.Is(err, openami.ErrContended) {
		return New(Busy, err), true
	}
	return nil, false
}
