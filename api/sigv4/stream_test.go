package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The AWS documentation's worked examples of chunked uploads (S3 API
// reference, "Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks" and "… Including Trailing
// Headers"): 66560 bytes of 'a' in a 64 KiB and a 1 KiB chunk, signed with
// the example key on 2013-05-24.
const (
	docAKID   = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docDate   = "20130524T000000Z"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

type docChunked struct {
	name, payload, signedHeaders, seed string
	chunkSigs                          [3]string
	trailer                            string // the trailer lines, signature included
	header                             map[string]string
}

var docExamples = []docChunked{{
	name:          "signed chunks",
	payload:       streamingSigned,
	signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
	seed:          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
	chunkSigs: [3]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	},
}, {
	name:          "signed chunks and trailer",
	payload:       streamingSignedTrailer,
	signedHeaders: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
	seed:          "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
	chunkSigs: [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	},
	trailer: "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
	header:  map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32c"},
}}

func (d docChunked) body() string {
	s := fmt.Sprintf("10000;chunk-signature=%s\r\n%s\r\n400;chunk-signature=%s\r\n%s\r\n0;chunk-signature=%s\r\n",
		d.chunkSigs[0], strings.Repeat("a", 65536), d.chunkSigs[1], strings.Repeat("a", 1024), d.chunkSigs[2])
	return s + d.trailer + "\r\n"
}

func (d docChunked) request(body string) *http.Request {
	r, _ := http.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", strings.NewReader(body))
	r.ContentLength = 66824
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", d.payload)
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	for k, v := range d.header {
		r.Header.Set(k, v)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docAKID+"/20130524/us-east-1/s3/aws4_request,SignedHeaders="+
		d.signedHeaders+",Signature="+d.seed)
	return r
}

// readBody verifies r as an S3 server would and returns the decoded body.
func readS3(r *http.Request, secret string, now time.Time) ([]byte, *Body, error) {
	a, err := Parse(r)
	if err != nil {
		return nil, nil, err
	}
	b, err := a.Body(r, secret, now)
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(b)
	return got, b, err
}

func TestChunkedDocExamples(t *testing.T) {
	want := strings.Repeat("a", 66560)
	for _, d := range docExamples {
		t.Run(d.name, func(t *testing.T) {
			got, b, err := readS3(d.request(d.body()), docSecret, docTime)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("decoded %d bytes, want 66560 of 'a'", len(got))
			}
			if b.Size() != 66560 {
				t.Errorf("Size %d", b.Size())
			}
			if d.trailer != "" {
				if v := b.Trailer().Get("X-Amz-Checksum-Crc32c"); v != "sOO8/Q==" {
					t.Errorf("trailer crc32c %q (%v)", v, b.Trailer())
				}
				if b.Trailer().Get(trailerSigName) != "" {
					t.Error("trailer signature left among the trailers")
				}
			}
		})
	}
}

// TestChunkedTampering changes one thing at a time in the documented
// examples; each must fail with its class, and a chunk whose signature is
// bad must yield none of its bytes.
func TestChunkedTampering(t *testing.T) {
	signed, trailed := docExamples[0], docExamples[1]
	cases := []struct {
		name string
		d    docChunked
		edit func(string) string
		hdr  func(*http.Request)
		want Failure
		max  int // most bytes the reader may hand out before failing
	}{
		{name: "first chunk's data", d: signed, edit: func(s string) string { return strings.Replace(s, "aaaa", "aaab", 1) }, want: Mismatch, max: 0},
		{name: "second chunk's signature", d: signed, edit: func(s string) string { return strings.Replace(s, "0055627c", "1055627c", 1) }, want: Mismatch, max: 65536},
		{name: "final chunk's signature", d: signed, edit: func(s string) string { return strings.Replace(s, "b6c6ea8a", "b6c6ea8b", 1) }, want: Mismatch, max: 66560},
		{name: "chunks swapped", d: signed, edit: func(s string) string {
			return strings.Replace(s, signed.chunkSigs[0], signed.chunkSigs[1], 1)
		}, want: Mismatch, max: 0},
		{name: "trailer value", d: trailed, edit: func(s string) string { return strings.Replace(s, "sOO8/Q==", "sOO8/A==", 1) }, want: Mismatch, max: 66560},
		{name: "trailer signature missing", d: trailed, edit: func(s string) string {
			i := strings.Index(s, "x-amz-trailer-signature")
			return s[:i] + "\r\n"
		}, want: BadBody, max: 66560},
		{name: "undeclared trailer", d: trailed, hdr: func(r *http.Request) { r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32") }, want: Mismatch},
		{name: "decoded length larger", d: signed, hdr: func(r *http.Request) { r.Header.Set("X-Amz-Decoded-Content-Length", "66561") }, want: Mismatch},
		{name: "cut short", d: signed, edit: func(s string) string { return s[:66000] }, want: BadBody, max: 65536},
		{name: "cut in a header", d: signed, edit: func(s string) string { return s[:65536+90+20] }, want: BadBody, max: 65536},
		{name: "garbage after", d: signed, edit: func(s string) string { return s + "x" }, want: BadBody, max: 66560},
		{name: "no CRLF after data", d: signed, edit: func(s string) string { return strings.Replace(s, "a\r\n400", "a\r400", 1) }, want: BadBody, max: 65536},
		{name: "size not hex", d: signed, edit: func(s string) string { return strings.Replace(s, "10000;", "1000g;", 1) }, want: BadBody},
		{name: "no decoded length", d: signed, hdr: func(r *http.Request) { r.Header.Del("X-Amz-Decoded-Content-Length") }, want: Mismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.d.body()
			if c.edit != nil {
				body = c.edit(body)
			}
			r := c.d.request(body)
			if c.hdr != nil {
				c.hdr(r)
			}
			got, _, err := readS3(r, docSecret, docTime)
			var e *Error
			if !errors.As(err, &e) || e.Failure != c.want {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if len(got) > c.max {
				t.Errorf("%d bytes handed out before the failure, want at most %d", len(got), c.max)
			}
		})
	}
}

// TestChunkedSmallReads reads the documented example one byte at a time
// from a body that itself arrives a byte at a time.
func TestChunkedSmallReads(t *testing.T) {
	d := docExamples[1]
	r := d.request("")
	r.Body = io.NopCloser(iotest.OneByteReader(strings.NewReader(d.body())))
	a, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Body(r, docSecret, docTime)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(iotest.OneByteReader(b))
	if err != nil || len(got) != 66560 {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if b.Trailer().Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
		t.Errorf("trailer %v", b.Trailer())
	}
}

// TestChunkedTrailerForms accepts the layouts of the final chunk and
// trailer that signers write: with or without a blank line before the
// trailers, with or without the closing blank line.
func TestChunkedTrailerForms(t *testing.T) {
	d := docExamples[1]
	base := d.body()
	i := strings.Index(base, "x-amz-checksum")
	forms := map[string]string{
		"blank line first":    base[:i] + "\r\n" + base[i:],
		"no closing line":     strings.TrimSuffix(base, "\r\n"),
		"as documented":       base,
		"upper-case trailers": base[:i] + "X-Amz-Checksum-Crc32c" + base[i+len("x-amz-checksum-crc32c"):],
	}
	for name, body := range forms {
		t.Run(name, func(t *testing.T) {
			got, b, err := readS3(d.request(body), docSecret, docTime)
			if err != nil || len(got) != 66560 || b.Trailer().Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
				t.Fatalf("%d bytes, %v, %v", len(got), err, b)
			}
		})
	}
}

// TestUnsignedTrailer decodes the form the SDKs send for checksummed
// uploads over TLS, as aws-sdk-go-v2 frames it.
func TestUnsignedTrailer(t *testing.T) {
	body := "b\r\nHello world\r\n0\r\nx-amz-checksum-crc32:i9aeUg==\r\n\r\n"
	r, _ := http.NewRequest("PUT", "https://bucket.s3.us-east-1.openami.test/key", strings.NewReader(body))
	r.Header.Set("X-Amz-Content-Sha256", streamingUnsigned)
	r.Header.Set("X-Amz-Decoded-Content-Length", "11")
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	r.Header.Set("Content-Encoding", "aws-chunked")
	s := signS3(t, r, streamingUnsigned)
	got, b, err := readS3(s, testSecret, signTime)
	if err != nil || string(got) != "Hello world" {
		t.Fatalf("%q, %v", got, err)
	}
	if b.Trailer().Get("x-amz-checksum-crc32") != "i9aeUg==" {
		t.Errorf("trailer %v", b.Trailer())
	}
	// A signature where none belongs, and chunks past the declared length.
	for _, bad := range []string{
		"b\r\nHello world\r\n0\r\nx-amz-checksum-crc32:i9aeUg==\r\nx-amz-trailer-signature:00\r\n\r\n",
		"c\r\nHello world!\r\n0\r\nx-amz-checksum-crc32:i9aeUg==\r\n\r\n",
		"b\r\nHello world\r\n0\r\n\r\n",
	} {
		s.Body = io.NopCloser(strings.NewReader(bad))
		if _, _, err := readS3(s, testSecret, signTime); !errors.Is(err, BadBody) {
			t.Errorf("%q: %v, want BadBody", bad, err)
		}
	}
}

// TestHashBody checks a body against the hex SHA-256 it was signed with.
func TestHashBody(t *testing.T) {
	body := []byte("some object bytes")
	r, _ := http.NewRequest("PUT", "http://localhost/bucket/key", bytes.NewReader(body))
	s := signS3(t, r, sha256Hex(body))
	got, _, err := readS3(s, testSecret, signTime)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("%q %v", got, err)
	}
	s = signS3(t, r, sha256Hex(body))
	s.Body = io.NopCloser(strings.NewReader("some object bytez"))
	got, _, err = readS3(s, testSecret, signTime)
	if !errors.Is(err, PayloadMismatch) {
		t.Fatalf("tampered body: %q, %v", got, err)
	}
	// A STREAMING-* payload is still refused outside S3.
	r, _ = http.NewRequest("PUT", "http://localhost/snapshots/snap-1/blocks/1", nil)
	r.Header.Set("X-Amz-Content-Sha256", streamingUnsigned)
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/ebs/aws4_request,SignedHeaders=host;x-amz-date,Signature=00")
	if _, err := Parse(r); !errors.Is(err, Unsupported) {
		t.Errorf("ebs streaming: %v", err)
	}
}

// signS3 signs r as aws-sdk-go-v2's S3 client does (the path not escaped a
// second time, x-amz-content-sha256 sent) and returns it as a server
// receives it. r's body, if any, is carried along.
func signS3(t testing.TB, r *http.Request, payload string) *http.Request {
	t.Helper()
	r = r.Clone(r.Context())
	if r.GetBody != nil {
		r.Body, _ = r.GetBody()
	}
	r.Header.Set("X-Amz-Content-Sha256", payload)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), creds(), r, payload, "s3", "us-east-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	return toServer(t, r)
}

// TestS3Rules checks what S3's rules change against the other services'.
func TestS3Rules(t *testing.T) {
	// The path is encoded once and not normalised: "a/./b//c/../d" is a
	// key of its own.
	for _, path := range []string{"/b/a/./b//c/../d", "/b/é ~!$&'()*+,;=:@", "/b/x%2Fy", "/"} {
		r, _ := http.NewRequest("GET", "http://localhost"+path, nil)
		r.URL.RawPath = ""
		if strings.Contains(path, "%") {
			r.URL.RawPath = path
			r.URL.Path = strings.ReplaceAll(path, "%2F", "/")
		}
		s := signS3(t, r, emptyHash)
		if _, _, err := readS3(s, testSecret, signTime); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	// Signed by the other services' rules (the path encoded twice), a
	// path with a byte to escape does not verify as S3.
	r, _ := http.NewRequest("GET", "http://localhost/b/a key", nil)
	r.Header.Set("X-Amz-Content-Sha256", emptyHash)
	v4.NewSigner().SignHTTP(context.Background(), creds(), r, emptyHash, "s3", "us-east-1", signTime)
	if _, _, err := readS3(toServer(t, r), testSecret, signTime); !errors.Is(err, Mismatch) {
		t.Errorf("signed with double encoding: %v", err)
	}

	// The header form must say what it signed.
	r, _ = http.NewRequest("GET", "http://localhost/b/k", nil)
	s := signS3(t, r, emptyHash)
	s.Header.Del("X-Amz-Content-Sha256")
	if _, err := Parse(s); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readS3(s, testSecret, signTime); !errors.Is(err, Incomplete) {
		t.Errorf("no x-amz-content-sha256: %v", err)
	}

	// Presigned: UNSIGNED-PAYLOAD when no hash is given, a week at most,
	// and every query parameter signed.
	presign := func(rawURL string, expires string) *http.Request {
		r, _ := http.NewRequest("GET", rawURL, nil)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", expires)
		r.URL.RawQuery = q.Encode()
		u, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
			PresignHTTP(context.Background(), creds(), r, unsignedPayload, "s3", "us-east-1", signTime)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := http.NewRequest("GET", u, nil)
		return toServer(t, out)
	}
	u := "http://localhost/b/a%20key?response-content-disposition=attachment%3B%20filename%3D%22x.txt%22"
	if _, _, err := readS3(presign(u, "604800"), testSecret, signTime.Add(6*24*time.Hour)); err != nil {
		t.Errorf("a week-long URL after six days: %v", err)
	}
	if _, _, err := readS3(presign(u, "604800"), testSecret, signTime.Add(7*24*time.Hour+time.Second)); !errors.Is(err, Expired) {
		t.Errorf("a week-long URL after a week: %v", err)
	}
	if _, err := Parse(presign(u, "604801")); !errors.Is(err, Incomplete) {
		t.Errorf("longer than a week: %v", err)
	}
	tampered := presign(u, "60")
	tampered.URL.RawQuery = strings.Replace(tampered.URL.RawQuery, "x.txt", "y.txt", 1)
	if _, _, err := readS3(tampered, testSecret, signTime); !errors.Is(err, Mismatch) {
		t.Errorf("changed response-content-disposition: %v", err)
	}
	// A STREAMING-* payload in a presigned URL is refused.
	st := presign(u, "60")
	st.Header.Set("X-Amz-Content-Sha256", streamingUnsigned)
	if _, err := Parse(st); !errors.Is(err, Unsupported) {
		t.Errorf("presigned streaming: %v", err)
	}
}

// TestAnonymousBody reads the bodies of unauthenticated S3 requests.
func TestAnonymousBody(t *testing.T) {
	req := func(payload, body string, hdr ...string) *http.Request {
		r, _ := http.NewRequest("PUT", "http://localhost/public/key", strings.NewReader(body))
		if payload != "" {
			r.Header.Set("X-Amz-Content-Sha256", payload)
		}
		for i := 0; i < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	read := func(r *http.Request) (string, *Body, error) {
		b, err := AnonymousBody(r)
		if err != nil {
			return "", nil, err
		}
		got, err := io.ReadAll(b)
		return string(got), b, err
	}
	for _, r := range []*http.Request{req("", "abc"), req(unsignedPayload, "abc"), req(sha256Hex([]byte("abc")), "abc")} {
		if got, _, err := read(r); err != nil || got != "abc" {
			t.Errorf("%v: %q %v", r.Header, got, err)
		}
	}
	got, b, err := read(req(streamingUnsigned, "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
		"X-Amz-Decoded-Content-Length", "3", "X-Amz-Trailer", "x-amz-checksum-crc32"))
	if err != nil || got != "abc" || b.Trailer().Get("X-Amz-Checksum-Crc32") != "NSRBwg==" {
		t.Errorf("unsigned trailer: %q %v", got, err)
	}
	if _, _, err := read(req(sha256Hex([]byte("abd")), "abc")); !errors.Is(err, PayloadMismatch) {
		t.Errorf("wrong hash: %v", err)
	}
	if _, _, err := read(req(streamingSigned, "")); !errors.Is(err, Missing) {
		t.Errorf("signed chunks without a signature: %v", err)
	}
}
