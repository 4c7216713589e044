package checksum

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
)

// Reader reads a body through, computing its MD5 and the flexible
// checksum Want asks for, and checks both when the body ends: its Read
// returns io.EOF only if every sum asked for matched, and otherwise a
// BadDigest, Mismatch or Invalid *Error in its place. Errors of the body
// beneath pass through unchanged, and nothing is checked then.
type Reader struct {
	r       io.Reader
	want    Want
	trailer func() http.Header
	md5     hash.Hash
	sum     hash.Hash
	n       int64
	err     error
	done    bool
	md5Sum  []byte
	value   string
}

// NewReader returns a Reader of r checking want. trailer, when want's
// value comes as a trailer, returns the body's trailers once r has
// returned io.EOF (a *sigv4.Body's Trailer method); it may be nil
// otherwise.
func NewReader(r io.Reader, want Want, trailer func() http.Header) *Reader {
	return &Reader{r: r, want: want, trailer: trailer, md5: md5.New(), sum: want.Algorithm.New()}
}

// Read reads from the body, and checks the sums at its end.
func (c *Reader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.md5.Write(p[:n])
		if c.sum != nil {
			c.sum.Write(p[:n])
		}
		c.n += int64(n)
	}
	if err == io.EOF {
		err = c.finish()
	}
	c.err = err
	return n, err
}

// finish checks the sums once the body has ended; it returns io.EOF when
// they match.
func (c *Reader) finish() error {
	c.md5Sum = c.md5.Sum(nil)
	if c.sum != nil {
		c.value = base64.StdEncoding.EncodeToString(c.sum.Sum(nil))
	}
	if c.want.MD5 != nil && !bytes.Equal(c.md5Sum, c.want.MD5) {
		return fail(BadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	want := c.want.Value
	if c.want.Trailer {
		var t http.Header
		if c.trailer != nil {
			t = c.trailer()
		}
		want = t.Get(c.want.Algorithm.Header())
		if want == "" {
			return fail(Invalid, "The %s trailer declared in x-amz-trailer was not sent.", c.want.Algorithm.Header())
		}
		if !valid(c.want.Algorithm, want) {
			return fail(Invalid, "Value for %s trailing header is invalid.", c.want.Algorithm.Header())
		}
	}
	if want != "" && want != c.value {
		return fail(Mismatch, "The %s you specified did not match the calculated checksum.", c.want.Algorithm)
	}
	c.done = true
	return io.EOF
}

// N is the number of bytes read so far.
func (c *Reader) N() int64 { return c.n }

// MD5 is the body's MD5 (an object's or a part's ETag, in hex), once Read
// has returned io.EOF; nil before.
func (c *Reader) MD5() []byte {
	if !c.done {
		return nil
	}
	return c.md5Sum
}

// Algorithm is the flexible checksum the Reader computes, "" for none.
func (c *Reader) Algorithm() Algorithm { return c.want.Algorithm }

// Sum is the body's base64 checksum by Algorithm, checked against the one
// sent if any, once Read has returned io.EOF; "" before, and when there
// is no algorithm.
func (c *Reader) Sum() string {
	if !c.done {
		return ""
	}
	return c.value
}
