package api

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bounds what clients can make the endpoint hold — connections,
// memory, time — before they have proven who they are, and how slow a
// client may be before it is cut off. The zero value of a field means its
// default (DefaultLimits); docs/SECURITY.md explains each number.
//
// A request's life, and the limit on each part of it:
//
//   - connecting: at most MaxConns connections are open at once, idle
//     keep-alive connections included; more wait in the kernel's backlog.
//   - headers: the request line and headers, at most MaxHeaderBytes, must
//     arrive within HeaderTimeout of the first byte.
//   - authentication, before the body: a request without SigV4
//     authentication, with malformed authentication or with an unknown
//     access key is refused without reading its body, so the body costs
//     nothing (the connection is closed, or drained of at most 256 KiB).
//   - the body: it must arrive within BodyTimeout plus its length at
//     MinBodyRate, or the request is refused (RequestTimeout) and its
//     connection closed. A body whose signature cannot be checked before it
//     is read (its hash is part of what was signed) first reserves its
//     length from UnauthenticatedBodyBytes, which all such bodies share,
//     and holds it until the signature is checked; a request that cannot
//     reserve within BudgetWait is answered Busy (503, retried by the SDKs).
//     Bodies of at most 16 KiB, nearly every Query request, are not
//     charged: MaxConns of them take at most MaxConns × 16 KiB.
//   - the response: every WriteChunk bytes of it must be taken by the
//     client within WriteTimeout. A long download lives as long as it
//     moves; a client that stops reading is cut off.
//   - between requests: a keep-alive connection is closed after IdleTimeout.
type Limits struct {
	// MaxConns is the most connections open at once. Default 1024.
	MaxConns int
	// MaxHeaderBytes bounds a request's line and headers. Default 64 KiB.
	MaxHeaderBytes int
	// HeaderTimeout is the time to send a request's line and headers.
	// Default 10 s.
	HeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long.
	// Default 120 s.
	IdleTimeout time.Duration
	// BodyTimeout is the time every body is allowed on top of its length
	// at MinBodyRate. Default 10 s.
	BodyTimeout time.Duration
	// MinBodyRate, in bytes per second, is the slowest a body may arrive.
	// Default 32 KiB/s (256 kbit/s): a 512 KiB EBS block has 26 s, a
	// 1 MiB body 42 s.
	MinBodyRate int64
	// WriteTimeout is the time the client has to take each WriteChunk
	// bytes of a response. Default 30 s.
	WriteTimeout time.Duration
	// UnauthenticatedBodyBytes is the memory all bodies read before their
	// signature is checked may take together. Default 64 MiB; never less
	// than the largest body.
	UnauthenticatedBodyBytes int64
	// BudgetWait is how long a request waits for room in
	// UnauthenticatedBodyBytes before it is refused as Busy. Default 5 s.
	BudgetWait time.Duration
}

// WriteChunk is the size of the pieces a response is written in, each
// with its own WriteTimeout.
const WriteChunk = 64 << 10

// DefaultLimits returns the limits a server has unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxConns:                 1024,
		MaxHeaderBytes:           64 << 10,
		HeaderTimeout:            10 * time.Second,
		IdleTimeout:              120 * time.Second,
		BodyTimeout:              10 * time.Second,
		MinBodyRate:              32 << 10,
		WriteTimeout:             30 * time.Second,
		UnauthenticatedBodyBytes: 64 << 20,
		BudgetWait:               5 * time.Second,
	}
}

// withDefaults returns l with each zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int64, def int64) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	setD(&l.HeaderTimeout, d.HeaderTimeout)
	setD(&l.IdleTimeout, d.IdleTimeout)
	setD(&l.BodyTimeout, d.BodyTimeout)
	set(&l.MinBodyRate, d.MinBodyRate)
	setD(&l.WriteTimeout, d.WriteTimeout)
	set(&l.UnauthenticatedBodyBytes, d.UnauthenticatedBodyBytes)
	// A budget smaller than one body would make that body wait forever.
	l.UnauthenticatedBodyBytes = max(l.UnauthenticatedBodyBytes, maxQueryBody+1)
	setD(&l.BudgetWait, d.BudgetWait)
	return l
}

// bodyTime is the time a body of n bytes (-1: unknown, so the largest
// allowed) is given to arrive.
func (l Limits) bodyTime(n int64) time.Duration {
	if n < 0 || n > maxQueryBody {
		n = maxQueryBody
	}
	return l.BodyTimeout + time.Duration(n)*time.Second/time.Duration(l.MinBodyRate)
}

// streamBodyTime is the time a streamed body (an S3 object or part) of n
// bytes is given to arrive: BodyTimeout plus its length at MinBodyRate,
// with no cap (a 5 GiB part has its 45 hours at the slowest rate allowed,
// and no more). Such a body is read only after its request's signature
// checked, so the time is the signer's. n < 0 (no length) gets the time
// of the largest part.
func (l Limits) streamBodyTime(n int64) time.Duration {
	if n < 0 {
		n = 5 << 30
	}
	return l.BodyTimeout + time.Duration(n/l.MinBodyRate)*time.Second
}

// HTTPServer returns an http.Server serving h with l's header, idle and
// header-size limits. Its ReadTimeout and WriteTimeout are left at zero on
// purpose: they would bound a whole request or response, cutting off a long
// download that is moving; the Server sets per-request deadlines instead.
func (l Limits) HTTPServer(h http.Handler) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.HeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// Listener returns ln holding at most l.MaxConns connections at once:
// Accept waits while that many are open.
func (l Limits) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, l.withDefaults().MaxConns)
}
