package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzParse feeds arbitrary Authorization headers, query strings and dates
// to Parse, and whatever parses to Verify. Neither may panic, and every
// error must be an *Error with a known class.
func FuzzParse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", "", "20260101T120000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request,SignedHeaders=host,Signature=", "a=1", "20260101T120000Z")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e=f, SignedHeaders=;, Signature==", "", "x")
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab", "")
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=-9&X-Amz-Signature&X-Amz-Signature", "")
	f.Add("", "%zz=1&X-Amz-Credential", "")
	f.Add("AWS AKID:sig", "", "")
	f.Fuzz(func(t *testing.T, authz, rawQuery, date string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: rawQuery}, Host: "h", Header: http.Header{}}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		a, err := Parse(r)
		if err != nil {
			classOK(t, err)
			return
		}
		if a.AccessKeyID == "" || a.Region == "" || a.Service == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
			t.Fatalf("Parse accepted %+v", a)
		}
		if err := a.Verify(r, "secret", emptyHash, signTime); err != nil {
			classOK(t, err)
		}
	})
}

func classOK(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Failure < Missing || e.Failure > PayloadMismatch || e.Message == "" {
		t.Fatalf("bad error %T %#v", err, err)
	}
}

// FuzzVerify signs requests with arbitrary paths, query parameters and
// header values using aws-sdk-go-v2, carries them over the wire format, and
// requires Verify to accept each one that net/http could carry. It finds
// any disagreement between this package's canonical request and the SDK's.
func FuzzVerify(f *testing.F) {
	f.Add("snapshots/snap-1/blocks/5", "Action", "Describe Images", "v", false)
	f.Add("a%2Fb/c d/é~", "k/=", "a+b=c&d", "  x   y  ", true)
	f.Add("./../x//y", "✓", "😀", "\tz", false)
	f.Add("", "", "", "", true)
	f.Fuzz(func(t *testing.T, path, key, value, hdr string, presigned bool) {
		for i := 0; i < len(hdr); i++ {
			if c := hdr[i]; c < 0x20 && c != '\t' || c == 0x7f {
				t.Skip("not a header value net/http would carry")
			}
		}
		req, err := http.NewRequest("GET", "http://ec2.openami.test:4566/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Path = "/" + path
		req.URL.RawQuery = url.Values{key: {value}, "Action": {"Test"}}.Encode()
		req.Header.Set("X-Amz-Meta-Fuzz", hdr)

		var out *http.Request
		if presigned {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", "300")
			req.URL.RawQuery = q.Encode()
			u, signedHdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds(), req, emptyHash, "ec2", "us-east-1", signTime)
			if err != nil {
				t.Skip(err)
			}
			if out, err = http.NewRequest("GET", u, nil); err != nil {
				t.Skip(err)
			}
			for k, vs := range signedHdr {
				if k != "Host" {
					out.Header[k] = vs
				}
			}
		} else {
			if err := v4.NewSigner().SignHTTP(context.Background(), creds(), req, emptyHash, "ec2", "us-east-1", signTime); err != nil {
				t.Skip(err)
			}
			out = req
		}
		var wire bytes.Buffer
		if err := out.Write(&wire); err != nil {
			t.Skip(err)
		}
		sr, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			t.Skip(err)
		}
		if err := check(sr, testSecret, emptyHash, signTime); err != nil {
			t.Fatalf("%v\nwire:\n%s", err, strings.ReplaceAll(wire.String(), "\r\n", "\n"))
		}
	})
}
