package testenv

import (
	"io"
	"net/http"
)

// HTTPDoer is the one method aws-sdk-go-v2's HTTP clients have
// (aws.HTTPClient), named here so testenv need not import the SDK.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// ReadOnlyBody wraps an SDK HTTP client so that net/http sees request
// bodies through Read and Close only, hiding their WriteTo.
//
// aws-sdk-go-v2 closes a request's body once the response headers arrive,
// after which the body's WriteTo returns io.EOF; net/http's write loop,
// which probes a body of known length once more after sending it, takes
// that for a failed write when a fast server answered first, and drops the
// connection under a response still being read (over 4 KiB):
// "deserialization failed … use of closed network connection"
// (aws/aws-sdk-go-v2#1825, #2935). Real AWS is too far away to lose that
// race; a loopback server is not. It is a client bug; the shim keeps tests
// and benchmarks about the server.
type ReadOnlyBody struct{ Client HTTPDoer }

// Do sends r with its body hidden behind Read and Close.
func (h ReadOnlyBody) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return h.Client.Do(r)
}
