package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/s3"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
	"github.com/openami/openami/rules/objects"
)

// S3 requests stream: their bodies (objects up to 5 GiB a request) are
// never read whole. The header signature is checked first, with the
// payload hash the client claims in x-amz-content-sha256 (the seed
// signature of an aws-chunked body); then the protocol reads the body
// through the *sigv4.Body that Auth.Body (or AnonymousBody) returns,
// which checks the rest as the bytes go by — the signed SHA-256 at the
// end, or each aws-chunked chunk's signature before its bytes — and fails
// at the end of a body that does not match, so that rules/objects stores
// nothing of it.

// s3Anonymous reports whether a request without SigV4 authentication is
// an anonymous S3 request: not a Query-protocol request (Action= in the
// query or a form body) nor a JSON-protocol one (X-Amz-Target), which are
// refused as unsigned by their own protocol.
func s3Anonymous(r *http.Request) bool {
	if r.URL.Query().Has("Action") || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// claimsS3 reports whether a request whose authentication did not parse
// names the service s3 in its credential scope, so that S3's error
// answers it.
func claimsS3(r *http.Request) bool {
	const scope = "/s3/aws4_request"
	return strings.Contains(r.Header.Get("Authorization"), scope) || strings.HasSuffix(r.URL.Query().Get("X-Amz-Credential"), scope)
}

// checkContentSHA256 refuses, with S3's own codes, an
// x-amz-content-sha256 that is missing from a header-signed request or
// that is none of the values S3 takes (sigv4 refuses both too, as
// malformed authentication).
func checkContentSHA256(r *http.Request, auth *sigv4.Auth) error {
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case claimed == "" && !auth.Presigned:
		return s3.ErrMissingContentSHA256
	case claimed == "" || claimed == unsignedPayload || strings.HasPrefix(claimed, "STREAMING-"):
		return nil
	}
	if b, err := hex.DecodeString(claimed); err != nil || len(b) != sha256.Size {
		return s3.ErrBadContentSHA256
	}
	return nil
}

// bodyReader reads a streamed body under its deadline: a failure to
// arrive in time is a transport.Timeout, a body cut short
// transport.Incomplete; at its end the read deadline is lifted, as
// readBody does, so that the rest of the request is not cut off by it.
type bodyReader struct {
	*sigv4.Body
	rc  *http.ResponseController
	ctx context.Context
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.Body.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = transport.New(transport.Timeout, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = transport.New(transport.Incomplete, err)
	case b.ctx.Err() != nil:
		err = transport.New(transport.Canceled, err)
	}
	return n, err
}

// serveS3 authenticates an S3 request (or takes it as anonymous) and
// hands it to the S3 protocol with a reader of its body that checks its
// signature as it streams.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, auth *sigv4.Auth, reqID string) (action, code string, p openami.Principal, err error) {
	c := objects.Anonymous()
	var body *sigv4.Body
	if auth != nil {
		p, body, err = s.admitStream(r, auth)
	} else {
		body, err = sigv4.AnonymousBody(r)
	}
	if err != nil {
		if te, ok := transport.Classify(err); ok && (te.Failure == transport.Timeout || te.Failure == transport.Incomplete) {
			w.Header().Set("Connection", "close")
		}
		return "", s.s3.WriteError(w, r, reqID, err), p, err
	}
	if auth != nil {
		c = objects.As(p)
	}
	if r.ContentLength != 0 {
		rc.SetReadDeadline(time.Now().Add(s.limits.streamBodyTime(r.ContentLength)))
	}
	action, code, err = s.s3.Serve(w, r, &bodyReader{Body: body, rc: rc, ctx: r.Context()}, c, p.Region, reqID)
	if te, ok := transport.Classify(err); ok && (te.Failure == transport.Timeout || te.Failure == transport.Incomplete) {
		w.Header().Set("Connection", "close")
	}
	return action, code, p, err
}

// admitStream authenticates an S3 request whose authentication parsed as
// auth, before reading any of its body: the access key, then the
// signature over the headers with the payload hash the client claims,
// then the region. It returns the caller and the body, which checks the
// rest as it is read.
func (s *Server) admitStream(r *http.Request, auth *sigv4.Auth) (openami.Principal, *sigv4.Body, error) {
	ctx := r.Context()
	p, secret, err := s.identity.Authenticate(ctx, auth.AccessKeyID)
	switch {
	case errors.Is(err, openami.ErrNotFound):
		return p, nil, &sigv4.Error{Failure: sigv4.UnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records."}
	case err != nil && ctx.Err() != nil:
		return p, nil, transport.New(transport.Canceled, err)
	case err != nil:
		return p, nil, err
	}
	if err := checkContentSHA256(r, auth); err != nil {
		return p, nil, err
	}
	body, err := auth.Body(r, secret, s.now())
	if err != nil {
		return p, nil, err
	}
	if err := s.checkRegion(auth); err != nil {
		return p, nil, err
	}
	p.Region = auth.Region
	return p, body, nil
}
