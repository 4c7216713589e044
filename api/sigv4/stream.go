package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// maxChunk bounds one aws-chunked chunk, and so the memory a signed
	// upload holds: a signed chunk is buffered whole until its signature
	// is checked. The SDKs send 64 KiB (the AWS documentation asks for at
	// least 8 KiB); 16 MiB is generous and still small.
	maxChunk = 16 << 20
	// maxLine bounds a chunk header or trailer line.
	maxLine = 4 << 10
	// maxTrailers bounds the number of trailer lines.
	maxTrailers = 16

	chunkAlgorithm   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
	trailerSigName   = "x-amz-trailer-signature"
)

// Body is the payload of a request whose signature Auth.Body has checked,
// as the client meant it: decoded from aws-chunked where it was sent so,
// and checked as it is read. Its last Read returns io.EOF only when every
// check has passed; otherwise it returns an *Error (Mismatch for a chunk
// or trailer signature, BadBody for broken framing or a wrong length,
// PayloadMismatch for a body whose SHA-256 is not the one signed), or the
// error of r.Body itself (a client gone, a deadline passed) unchanged. An
// aws-chunked body that ends before its framing does is BadBody, whether
// it ended cleanly or net/http saw it cut short of its Content-Length
// (io.ErrUnexpectedEOF, which a body read as is returns unchanged).
type Body struct {
	r       io.Reader
	chunked *chunkReader
	size    int64
}

// Read reads the decoded payload.
func (b *Body) Read(p []byte) (int, error) { return b.r.Read(p) }

// Size is the length of the decoded payload as the client announced it:
// x-amz-decoded-content-length for an aws-chunked body, Content-Length
// otherwise, or -1 when unknown. A body that turns out to have another
// length fails its last Read.
func (b *Body) Size() int64 { return b.size }

// Trailer returns the trailing headers of an aws-chunked body (such as
// x-amz-checksum-crc32), with canonical names, once Read has returned
// io.EOF; nil before that and for any other body. A signed trailer's
// signature has been checked and x-amz-trailer-signature is not among them.
func (b *Body) Trailer() http.Header {
	if b.chunked == nil || !b.chunked.done {
		return nil
	}
	return b.chunked.trailer
}

// Body verifies a's signature over r, as Verify does, with the payload
// hash the client claimed, and returns the payload as a reader that checks
// the rest as it streams. It reads nothing of r.Body itself, so a request
// whose signature is bad costs no more than its headers. What the reader
// does depends on x-amz-content-sha256:
//
//   - a hex SHA-256: the body as is, hashed as it is read; the last Read
//     fails with PayloadMismatch if the hash differs;
//   - UNSIGNED-PAYLOAD (or an S3 presigned URL that signs no hash): the
//     body as is;
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] (S3 only): aws-chunked,
//     each chunk's signature checked, chained from the request's (seed)
//     signature, before any of its bytes is returned; then the signed
//     trailer, if any;
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER (S3 only): aws-chunked with
//     unsigned chunks and a trailer (the checksum, for package
//     api/s3/checksum to check against the bytes).
//
// An aws-chunked body must announce x-amz-decoded-content-length; its
// decoded bytes must add up to it, and the trailers it sends must be the
// ones x-amz-trailer declared. A request of another service must carry
// x-amz-content-sha256 (its body cannot stream otherwise: its hash is part
// of what was signed).
//
// Body returns the errors of Verify, and Incomplete or BadBody when the
// headers that describe the body are missing or malformed.
func (a *Auth) Body(r *http.Request, secret string, now time.Time) (*Body, error) {
	if a == nil {
		return nil, fail(Missing, msgMissing)
	}
	claimed, err := contentSHA256(r, a)
	if err != nil {
		return nil, err
	}
	if claimed == "" && a.Service != ServiceS3 {
		return nil, fail(Incomplete, "Missing required header for this request: x-amz-content-sha256")
	}
	if err := a.Verify(r, secret, claimed, now); err != nil {
		return nil, err
	}
	body := io.Reader(r.Body)
	if body == nil {
		body = http.NoBody
	}
	switch {
	case claimed == "" || claimed == unsignedPayload:
		// An S3 presigned URL: Verify found the hash it signed, if any,
		// in the query.
		if claimed == "" {
			ps, _ := parseQuery(r.URL.RawQuery)
			if h, _ := s3Payload(a, ps); h != unsignedPayload {
				return newHashBody(body, h, r.ContentLength)
			}
		}
		return &Body{r: body, size: r.ContentLength}, nil
	case strings.HasPrefix(claimed, streamingPrefix):
		return a.chunkedBody(r, body, secret, claimed)
	default:
		return newHashBody(body, claimed, r.ContentLength)
	}
}

// AnonymousBody returns the payload of an S3 request that carries no
// authentication (Parse answered Missing), for a bucket or object that
// anyone may write: the body as is, checked against x-amz-content-sha256
// when that is a hex SHA-256, or decoded when it is
// STREAMING-UNSIGNED-PAYLOAD-TRAILER. A signed STREAMING-* value, which
// needs a signature to chain from, is Missing.
func AnonymousBody(r *http.Request) (*Body, error) {
	v := r.Header.Values("X-Amz-Content-Sha256")
	if len(v) > 1 {
		return nil, fail(Incomplete, "Only one x-amz-content-sha256 header allowed.")
	}
	body := io.Reader(r.Body)
	if body == nil {
		body = http.NoBody
	}
	switch claimed := r.Header.Get("X-Amz-Content-Sha256"); {
	case claimed == "" || claimed == unsignedPayload:
		return &Body{r: body, size: r.ContentLength}, nil
	case claimed == streamingUnsigned:
		return (&Auth{}).chunkedBody(r, body, "", claimed)
	case strings.HasPrefix(claimed, streamingPrefix):
		return nil, fail(Missing, msgMissing)
	default:
		return newHashBody(body, claimed, r.ContentLength)
	}
}

// newHashBody checks the body against the hex SHA-256 the client signed.
func newHashBody(body io.Reader, claimed string, size int64) (*Body, error) {
	want, err := hex.DecodeString(claimed)
	if err != nil || len(want) != sha256.Size {
		return nil, fail(Incomplete, fmt.Sprintf("x-amz-content-sha256 '%s' is not a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* value.", clip(claimed)))
	}
	return &Body{r: &hashReader{r: body, h: sha256.New(), want: want}, size: size}, nil
}

// hashReader hashes what it reads and compares at EOF.
type hashReader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
	err  error
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(h.h.Sum(nil), h.want) {
		err = fail(PayloadMismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	h.err = err
	return n, err
}

// chunkedBody sets up the aws-chunked decoder for a STREAMING-* payload.
func (a *Auth) chunkedBody(r *http.Request, body io.Reader, secret, claimed string) (*Body, error) {
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return nil, fail(BadBody, "x-amz-decoded-content-length is required for a "+claimed+" body.")
	}
	size, err := strconv.ParseInt(v, 10, 64)
	if err != nil || size < 0 || strings.TrimLeft(v, "0123456789") != "" {
		return nil, fail(BadBody, fmt.Sprintf("x-amz-decoded-content-length '%s' is not a length.", clip(v)))
	}
	c := &chunkReader{
		br:       bufio.NewReaderSize(body, 64<<10),
		left:     size,
		signed:   claimed != streamingUnsigned,
		trailers: claimed != streamingSigned,
		declared: map[string]bool{},
	}
	for _, list := range r.Header.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(list, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				c.declared[name] = true
			}
		}
	}
	if len(c.declared) > 0 && !c.trailers {
		return nil, fail(BadBody, "x-amz-trailer is set but x-amz-content-sha256 "+claimed+" sends no trailer.")
	}
	if c.signed {
		date := a.Date.UTC()
		c.key = signingKey(secret, date.Format(dateFormat), a.Region, a.Service)
		c.prefix = date.Format(amzFormat) + "\n" + date.Format(dateFormat) + "/" + a.Region + "/" + a.Service + "/" + terminator + "\n"
		c.prev = strings.ToLower(a.Signature)
	}
	return &Body{r: c, chunked: c, size: size}, nil
}

// chunkReader decodes an aws-chunked body:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n   (repeated)
//	0[;chunk-signature=sig]\r\n                    (the final chunk)
//	name:value\r\n ...                            (trailers, if any)
//	[x-amz-trailer-signature:sig\r\n]
//	\r\n
//
// A signed chunk is read whole into buf and its signature checked before
// Read returns any of it; an unsigned chunk streams straight through.
type chunkReader struct {
	br       *bufio.Reader
	left     int64 // decoded bytes still to come, per x-amz-decoded-content-length
	signed   bool
	trailers bool
	declared map[string]bool

	key    []byte
	prefix string // "date\nscope\n" of each chunk's string to sign
	prev   string // the previous signature in the chain

	store   []byte // the buffer a signed chunk is read into (its capacity)
	buf     []byte // the part of store not yet returned
	pending int64  // an unsigned chunk's bytes not yet read
	done    bool
	trailer http.Header
	err     error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for len(c.buf) == 0 && c.pending == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		if len(c.buf) == 0 {
			if err := c.crlf(); err != nil {
				c.err = err
				return n, nil
			}
		}
		return n, nil
	}
	if int64(len(p)) > c.pending {
		p = p[:c.pending]
	}
	n, err := c.br.Read(p)
	c.pending -= int64(n)
	if err != nil && c.pending > 0 {
		c.err = c.short(err)
		return n, nil
	}
	if c.pending == 0 {
		if err := c.crlf(); err != nil {
			c.err = err
		}
	}
	return n, nil
}

// next reads the header of the next chunk, and a signed chunk's bytes;
// after the final chunk, the trailers.
func (c *chunkReader) next() error {
	line, err := c.line()
	if err == errEOFLine {
		return errShort()
	}
	if err != nil {
		return err
	}
	sizeText, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseUint(sizeText, 16, 64)
	if err != nil || sizeText == "" || len(sizeText) > 16 {
		return fail(BadBody, fmt.Sprintf("aws-chunked chunk size '%s' is not hexadecimal.", clip(sizeText)))
	}
	if size > maxChunk {
		return fail(BadBody, fmt.Sprintf("aws-chunked chunk of %d bytes is larger than %d bytes.", size, maxChunk))
	}
	if int64(size) > c.left {
		return fail(BadBody, "The decoded body is longer than x-amz-decoded-content-length.")
	}
	var sig string
	if c.signed {
		k, v, _ := strings.Cut(ext, "=")
		if k != "chunk-signature" || len(v) != 64 {
			return fail(BadBody, "An aws-chunked chunk lacks its chunk-signature.")
		}
		sig = v
	}
	if size == 0 {
		if c.signed {
			if err := c.checkChunk(sig, nil); err != nil {
				return err
			}
		}
		if c.left != 0 {
			return fail(BadBody, "You did not provide the number of bytes specified by x-amz-decoded-content-length.")
		}
		return c.finish()
	}
	c.left -= int64(size)
	if !c.signed {
		c.pending = int64(size)
		return nil
	}
	if err := c.readChunk(int(size)); err != nil {
		return err
	}
	if err := c.checkChunk(sig, c.buf); err != nil {
		c.buf = c.buf[:0]
		return err
	}
	return nil
}

// readChunk reads a signed chunk's size bytes into c.buf. The buffer
// grows with what arrives rather than with what the header claims, so a
// client that announces a large chunk and sends little costs little.
func (c *chunkReader) readChunk(size int) error {
	b := c.store[:0]
	for len(b) < size {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(size, max(2*cap(b), 64<<10)))
			copy(grown, b)
			b = grown
		}
		n, err := c.br.Read(b[len(b):min(cap(b), size)])
		b = b[:len(b)+n]
		if err != nil && len(b) < size {
			c.store, c.buf = b[:0], nil
			return c.short(err)
		}
	}
	c.store, c.buf = b[:0], b
	return nil
}

// checkChunk checks one chunk's signature, chained from the previous one.
func (c *chunkReader) checkChunk(sig string, data []byte) error {
	sum := sha256.Sum256(data)
	sts := chunkAlgorithm + "\n" + c.prefix + c.prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:])
	want := hex.EncodeToString(hmacSHA256(c.key, sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		return fail(Mismatch, msgMismatch)
	}
	c.prev = want
	return nil
}

// finish reads what follows the final chunk: the trailers, if the payload
// has them, and the blank line that ends the body.
func (c *chunkReader) finish() error {
	c.trailer = http.Header{}
	var (
		canon  strings.Builder
		sig    string
		blank  bool
		nlines int
	)
	for {
		line, err := c.line()
		if err == errEOFLine && c.trailers && (nlines > 0 || blank) {
			// Some clients end the trailers without the final blank line
			// (and a blank line after the final chunk may have been the
			// end of a body without trailers).
			break
		}
		if err == errEOFLine {
			return errShort()
		}
		if err != nil {
			return err
		}
		if line == "" {
			// A blank line right after the final chunk is its (empty)
			// data's CRLF, which some signers write before the trailers.
			if nlines == 0 && c.trailers && !blank {
				blank = true
				continue
			}
			break
		}
		if !c.trailers {
			return fail(BadBody, "The aws-chunked body has a trailer its x-amz-content-sha256 does not allow.")
		}
		if nlines++; nlines > maxTrailers {
			return fail(BadBody, "The aws-chunked body has too many trailers.")
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || name == "" {
			return fail(BadBody, fmt.Sprintf("aws-chunked trailer '%s' is not name:value.", clip(line)))
		}
		if name == trailerSigName {
			if sig != "" {
				return fail(BadBody, "The aws-chunked body has more than one x-amz-trailer-signature.")
			}
			sig = value
			continue
		}
		if sig != "" {
			return fail(BadBody, "x-amz-trailer-signature must be the last trailer.")
		}
		if !c.declared[name] {
			return fail(BadBody, fmt.Sprintf("The trailer '%s' was not declared in x-amz-trailer.", clip(name)))
		}
		if c.trailer.Get(name) != "" {
			return fail(BadBody, fmt.Sprintf("The trailer '%s' is sent more than once.", clip(name)))
		}
		c.trailer.Set(name, value)
		canon.WriteString(name + ":" + value + "\n")
	}
	for name := range c.declared {
		if c.trailer.Get(name) == "" {
			return fail(BadBody, fmt.Sprintf("The trailer '%s' declared in x-amz-trailer was not sent.", clip(name)))
		}
	}
	if c.signed && c.trailers {
		if sig == "" {
			return fail(BadBody, "The aws-chunked body's trailer lacks x-amz-trailer-signature.")
		}
		sum := sha256.Sum256([]byte(canon.String()))
		sts := trailerAlgorithm + "\n" + c.prefix + c.prev + "\n" + hex.EncodeToString(sum[:])
		want := hex.EncodeToString(hmacSHA256(c.key, sts))
		if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
			return fail(Mismatch, msgMismatch)
		}
	} else if sig != "" {
		return fail(BadBody, "x-amz-trailer-signature is sent with unsigned chunks.")
	}
	if _, err := c.br.Peek(1); err == nil {
		return fail(BadBody, "The aws-chunked body goes on after its end.")
	} else if err != io.EOF {
		return err
	}
	c.done = true
	return nil
}

// errShort is the error of a body that ended before its framing did.
func errShort() error {
	return fail(BadBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
}

// errEOFLine is line's error for a body that ended where a line was due.
var errEOFLine = errors.New("aws-chunked: end of body where a line was due")

// line reads one CRLF-terminated line, at most maxLine bytes, without its
// CRLF.
func (c *chunkReader) line() (string, error) {
	var b []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxLine {
			return "", fail(BadBody, "An aws-chunked line is too long.")
		}
		switch {
		case err == nil:
			if len(b) < 2 || b[len(b)-2] != '\r' {
				return "", fail(BadBody, "An aws-chunked line does not end in CRLF.")
			}
			return string(b[:len(b)-2]), nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(b) == 0:
			return "", errEOFLine
		default:
			return "", c.short(err)
		}
	}
}

// crlf reads the CRLF that ends a chunk's data.
func (c *chunkReader) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return c.short(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return fail(BadBody, "An aws-chunked chunk's data is not followed by CRLF.")
	}
	return nil
}

// short maps the end of r.Body in the middle of the framing to BadBody, and
// passes r.Body's other errors (a client gone, a deadline) through.
// io.ErrUnexpectedEOF is io.ReadFull's for a body that ended mid-chunk,
// and net/http's for a body cut short of its Content-Length: a short body
// either way.
func (c *chunkReader) short(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errShort()
	}
	return err
}

// emptySHA256 is the hex SHA-256 of nothing, which every chunk's string to
// sign carries in place of the (absent) chunk headers' hash.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
