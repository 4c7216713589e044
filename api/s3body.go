package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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
// payload hash the client claims in x-amz-content-sha256; then the
// protocol reads the body through the reader s3Body chooses, which checks
// that claim as the bytes go by and fails at the end of a body that does
// not match, so that rules/objects stores nothing of it.

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

// s3Body returns the reader of an S3 request's body, chosen by the
// payload hash the client signed (claimed): a hex SHA-256 gives a reader
// that checks it at the end; UNSIGNED-PAYLOAD the body as it is. The
// STREAMING-* encodings (aws-chunked) are not supported yet: their
// decoders (api/sigv4) are wired here when they land.
func s3Body(r *http.Request, claimed string) (io.Reader, error) {
	switch {
	case claimed == unsignedPayload:
		return r.Body, nil
	case strings.HasPrefix(claimed, "STREAMING-"):
		return nil, &sigv4.Error{Failure: sigv4.Unsupported, Message: fmt.Sprintf("x-amz-content-sha256 %s (aws-chunked bodies) is not yet supported; send the body in one piece.", claimed)}
	case len(claimed) == 2*sha256.Size && isHex(claimed):
		return &sha256Reader{r: r.Body, want: strings.ToLower(claimed), h: sha256.New()}, nil
	}
	return nil, s3.ErrBadContentSHA256
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// sha256Reader reads a body and fails at its end with
// *s3.ContentSHA256Mismatch when its SHA-256 is not want.
type sha256Reader struct {
	r    io.Reader
	want string
	h    hash.Hash
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(s.h.Sum(nil)); got != s.want {
			return n, &s3.ContentSHA256Mismatch{Claimed: s.want, Computed: got}
		}
	}
	return n, err
}

// bodyReader reads a streamed body under its deadline: a failure to
// arrive in time is a transport.Timeout, a body cut short
// transport.Incomplete; at its end the read deadline is lifted, as
// readBody does, so that the rest of the request is not cut off by it.
type bodyReader struct {
	r   io.Reader
	rc  *http.ResponseController
	ctx context.Context
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
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
// hands it to the S3 protocol with a reader of its body that checks the
// signed payload hash as it streams.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, auth *sigv4.Auth, reqID string) (action, code string, p openami.Principal, err error) {
	c := objects.Anonymous()
	var body io.Reader = r.Body
	if auth != nil {
		p, body, err = s.admitStream(r, auth)
		if err != nil {
			if te, ok := transport.Classify(err); ok && (te.Failure == transport.Timeout || te.Failure == transport.Incomplete) {
				w.Header().Set("Connection", "close")
			}
			return "", s.s3.WriteError(w, r, reqID, err), p, err
		}
		c = objects.As(p)
	}
	if r.ContentLength != 0 {
		rc.SetReadDeadline(time.Now().Add(s.limits.streamBodyTime(r.ContentLength)))
	}
	action, code, err = s.s3.Serve(w, r, &bodyReader{r: body, rc: rc, ctx: r.Context()}, c, p.Region, reqID)
	if te, ok := transport.Classify(err); ok && (te.Failure == transport.Timeout || te.Failure == transport.Incomplete) {
		w.Header().Set("Connection", "close")
	}
	return action, code, p, err
}

// admitStream authenticates an S3 request whose authentication parsed as
// auth, before reading any of its body: the access key, then the
// signature over the headers with the payload hash the client claims
// (UNSIGNED-PAYLOAD for a presigned URL that claims none), then the
// region. It returns the caller and the reader of the body.
func (s *Server) admitStream(r *http.Request, auth *sigv4.Auth) (openami.Principal, io.Reader, error) {
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
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	if claimed == "" {
		if !auth.Presigned {
			return p, nil, s3.ErrMissingContentSHA256
		}
		claimed = unsignedPayload
	}
	body, err := s3Body(r, claimed)
	if err != nil {
		return p, nil, err
	}
	if err := auth.Verify(r, secret, claimed, s.now()); err != nil {
		return p, nil, err
	}
	if err := s.checkRegion(auth); err != nil {
		return p, nil, err
	}
	p.Region = auth.Region
	return p, body, nil
}
