package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is the S3 handler over real rules/objects (SQLite, blob/dir),
// with one account's caller.
type fixture struct {
	h      *Handler
	c      objects.Caller
	other  objects.Caller
	domain string
}

func newFixture(t *testing.T) *fixture {
	env := rulestest.Open(t, "", nil)
	ids := env.Identity()
	rules := objects.New(objects.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Clock: env.Clock.Now})
	return &fixture{h: New(rules, []string{"s3.example.test"}),
		c:     objects.As(rulestest.NewAccount(t, ids, "a")),
		other: objects.As(rulestest.NewAccount(t, ids, "b"))}
}

// do serves one request as c and returns the response.
func (f *fixture) do(t *testing.T, c objects.Caller, method, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	sb, err := sigv4.AnonymousBody(r)
	if err != nil {
		t.Fatal(err)
	}
	f.h.Serve(w, r, sb, c, "us-east-1", "req-1")
	return w
}

func wantStatus(t *testing.T, what string, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d: %s", what, w.Code, status, w.Body.String())
	}
	if code == "" {
		return
	}
	var e errorBody
	if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("%s: error body %q: %v", what, w.Body.String(), err)
	}
	if e.Code != code || e.RequestID != "req-1" || e.Message == "" || e.Resource == "" {
		t.Fatalf("%s: error %+v, want code %s with message, resource and request id", what, e, code)
	}
}

func TestAddress(t *testing.T) {
	h := New(nil, []string{"s3.example.test", "localhost"})
	for _, c := range []struct{ host, path, bucket, key string }{
		{"127.0.0.1:8773", "/b/k/x", "b", "k/x"},
		{"b.s3.example.test", "/k", "b", "k"},
		{"my.bucket.localhost:8773", "/a/b", "my.bucket", "a/b"},
		{"localhost:8773", "/b/k", "b", "k"},
		{"other.test", "/", "", ""},
		{"s3.example.test", "/b", "b", ""},
	} {
		r := httptest.NewRequest("GET", c.path, nil)
		r.Host = c.host
		if b, k := h.Address(r); b != c.bucket || k != c.key {
			t.Errorf("%s %s: %q %q, want %q %q", c.host, c.path, b, k, c.bucket, c.key)
		}
	}
}

func TestRoutesAndErrors(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, "create", f.do(t, f.c, "PUT", "/alpha", nil), 200, "")
	wantStatus(t, "create again", f.do(t, f.c, "PUT", "/alpha", nil), 200, "") // us-east-1
	wantStatus(t, "create by other", f.do(t, f.other, "PUT", "/alpha", nil), 409, "BucketAlreadyExists")
	wantStatus(t, "bad name", f.do(t, f.c, "PUT", "/Bad_Name", nil), 400, "InvalidBucketName")
	west := []byte(`<CreateBucketConfiguration><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>`)
	wantStatus(t, "create west", f.do(t, f.c, "PUT", "/west", west), 200, "")
	wantStatus(t, "create west again", f.do(t, f.c, "PUT", "/west", west), 409, "BucketAlreadyOwnedByYou")
	w := f.do(t, f.c, "GET", "/west?location", nil)
	if !strings.Contains(w.Body.String(), ">us-west-2</LocationConstraint>") {
		t.Errorf("location: %s", w.Body.String())
	}

	body := []byte("hello")
	sum := md5.Sum(body)
	w = f.do(t, f.c, "PUT", "/alpha/dir/a%20b.txt", body, "Content-Type", "text/plain", "x-amz-meta-color", "blue",
		"Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	wantStatus(t, "put", w, 200, "")
	if w.Header().Get("ETag") == "" {
		t.Error("put: no ETag")
	}
	bad := md5.Sum([]byte("x"))
	wantStatus(t, "bad digest", f.do(t, f.c, "PUT", "/alpha/k", body, "Content-MD5", base64.StdEncoding.EncodeToString(bad[:])), 400, "BadDigest")
	wantStatus(t, "invalid digest", f.do(t, f.c, "PUT", "/alpha/k", body, "Content-MD5", "zz"), 400, "InvalidDigest")

	// Virtual-hosted-style GET of the same object.
	w = f.do(t, f.c, "GET", "/dir/a%20b.txt", nil, "Host", "alpha.s3.example.test")
	wantStatus(t, "get", w, 200, "")
	if w.Body.String() != "hello" || w.Header().Get("Content-Type") != "text/plain" || w.Header().Get("x-amz-meta-color") != "blue" {
		t.Errorf("get: %q %v", w.Body.String(), w.Header())
	}
	w = f.do(t, f.c, "GET", "/alpha/dir/a%20b.txt", nil, "Range", "bytes=1-3")
	wantStatus(t, "range", w, 206, "")
	if w.Body.String() != "ell" || w.Header().Get("Content-Range") != "bytes 1-3/5" {
		t.Errorf("range: %q %v", w.Body.String(), w.Header())
	}
	wantStatus(t, "bad range", f.do(t, f.c, "GET", "/alpha/dir/a%20b.txt", nil, "Range", "bytes=10-"), 416, "InvalidRange")
	etag := w.Header().Get("ETag")
	w = f.do(t, f.c, "GET", "/alpha/dir/a%20b.txt", nil, "If-None-Match", etag)
	wantStatus(t, "if-none-match", w, 304, "")
	if w.Header().Get("ETag") != etag || w.Body.Len() != 0 {
		t.Errorf("304: ETag %q, body %q", w.Header().Get("ETag"), w.Body.String())
	}
	wantStatus(t, "if-match", f.do(t, f.c, "GET", "/alpha/dir/a%20b.txt", nil, "If-Match", `"nope"`), 412, "PreconditionFailed")

	wantStatus(t, "missing key", f.do(t, f.c, "GET", "/alpha/nope", nil), 404, "NoSuchKey")
	wantStatus(t, "missing bucket", f.do(t, f.c, "GET", "/nope/k", nil), 404, "NoSuchBucket")
	w = f.do(t, f.c, "HEAD", "/alpha/nope", nil)
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Errorf("HEAD missing: %d %q", w.Code, w.Body.String())
	}
	wantStatus(t, "other reads", f.do(t, f.other, "GET", "/alpha/dir/a%20b.txt", nil), 403, "AccessDenied")
	wantStatus(t, "anonymous reads", f.do(t, objects.Anonymous(), "GET", "/alpha/dir/a%20b.txt", nil), 403, "AccessDenied")
	wantStatus(t, "public-read", f.do(t, f.c, "PUT", "/alpha/dir/a%20b.txt?acl", nil, "x-amz-acl", "public-read"), 200, "")
	wantStatus(t, "anonymous reads public", f.do(t, objects.Anonymous(), "GET", "/alpha/dir/a%20b.txt", nil), 200, "")
	w = f.do(t, f.c, "GET", "/alpha/dir/a%20b.txt?acl", nil)
	if !strings.Contains(w.Body.String(), allUsersURI) || !strings.Contains(w.Body.String(), `xsi:type="Group"`) {
		t.Errorf("acl: %s", w.Body.String())
	}

	aclBody := `<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`
	wantStatus(t, "acl body", f.do(t, f.c, "PUT", "/alpha/dir/a%20b.txt?acl", []byte(aclBody)), 200, "")
	wantStatus(t, "anonymous after authenticated-read", f.do(t, objects.Anonymous(), "GET", "/alpha/dir/a%20b.txt", nil), 403, "AccessDenied")
	wantStatus(t, "other after authenticated-read", f.do(t, f.other, "GET", "/alpha/dir/a%20b.txt", nil), 200, "")
	wantStatus(t, "acl body, bad permission", f.do(t, f.c, "PUT", "/alpha/dir/a%20b.txt?acl", []byte(strings.Replace(aclBody, "READ", "LOOK", 1))), 400, "MalformedACLError")

	// Listing.
	f.do(t, f.c, "PUT", "/alpha/dir/b", []byte("b"))
	f.do(t, f.c, "PUT", "/alpha/top", []byte("t"))
	w = f.do(t, f.c, "GET", "/alpha?list-type=2&delimiter=/&max-keys=1", nil)
	var v2 struct {
		KeyCount              int
		IsTruncated           bool
		NextContinuationToken string
		CommonPrefixes        []struct{ Prefix string }
	}
	xml.Unmarshal(w.Body.Bytes(), &v2)
	if v2.KeyCount != 1 || !v2.IsTruncated || len(v2.CommonPrefixes) != 1 || v2.CommonPrefixes[0].Prefix != "dir/" {
		t.Fatalf("list v2: %s", w.Body.String())
	}
	w = f.do(t, f.c, "GET", "/alpha?list-type=2&delimiter=/&continuation-token="+v2.NextContinuationToken, nil)
	if !strings.Contains(w.Body.String(), "<Key>top</Key>") || strings.Contains(w.Body.String(), "dir/") {
		t.Errorf("list v2 page 2: %s", w.Body.String())
	}
	w = f.do(t, f.c, "GET", "/alpha?prefix=dir/", nil)
	if !strings.Contains(w.Body.String(), "<Key>dir/a b.txt</Key>") || !strings.Contains(w.Body.String(), "<Marker></Marker>") {
		t.Errorf("list v1: %s", w.Body.String())
	}
	w = f.do(t, f.c, "GET", "/", nil)
	if !strings.Contains(w.Body.String(), "<Name>alpha</Name>") || !strings.Contains(w.Body.String(), "<Name>west</Name>") {
		t.Errorf("list buckets: %s", w.Body.String())
	}

	// Subresources.
	wantStatus(t, "tagging", f.do(t, f.c, "GET", "/alpha?tagging", nil), 501, "NotImplemented")
	wantStatus(t, "bad policy", f.do(t, f.c, "PUT", "/alpha?policy", []byte(`{"Statement":"x"}`)), 400, "MalformedPolicy")
	wantStatus(t, "no policy", f.do(t, f.c, "GET", "/alpha?policy", nil), 404, "NoSuchBucketPolicy")
	wantStatus(t, "not empty", f.do(t, f.c, "DELETE", "/alpha", nil), 409, "BucketNotEmpty")
	wantStatus(t, "delete objects, bad digest", f.do(t, f.c, "POST", "/alpha?delete", []byte(`<Delete><Object><Key>top</Key></Object></Delete>`),
		"Content-MD5", base64.StdEncoding.EncodeToString(bad[:])), 400, "BadDigest")
	w = f.do(t, f.c, "POST", "/alpha?delete", []byte(`<Delete><Object><Key>top</Key></Object><Object><Key>dir/b</Key></Object></Delete>`))
	if w.Code != 200 || strings.Count(w.Body.String(), "<Deleted>") != 2 {
		t.Errorf("delete objects: %s", w.Body.String())
	}
	wantStatus(t, "delete", f.do(t, f.c, "DELETE", "/alpha/dir/a%20b.txt", nil), 204, "")
	wantStatus(t, "delete bucket", f.do(t, f.c, "DELETE", "/alpha", nil), 204, "")
}

func TestMultipartRoutes(t *testing.T) {
	f := newFixture(t)
	f.do(t, f.c, "PUT", "/alpha", nil)
	w := f.do(t, f.c, "POST", "/alpha/big?uploads", nil, "Content-Type", "x/y")
	var init struct {
		UploadID string `xml:"UploadId"`
	}
	xml.Unmarshal(w.Body.Bytes(), &init)
	if init.UploadID == "" {
		t.Fatalf("initiate: %s", w.Body.String())
	}
	u := "/alpha/big?uploadId=" + init.UploadID
	small := f.do(t, f.c, "PUT", u+"&partNumber=1", []byte("small"))
	tail := f.do(t, f.c, "PUT", u+"&partNumber=2", []byte("tail"))
	wantStatus(t, "part", tail, 200, "")
	complete := func(etags ...string) []byte {
		var b strings.Builder
		b.WriteString("<CompleteMultipartUpload>")
		for i, e := range etags {
			b.WriteString("<Part><PartNumber>" + string(rune('1'+i)) + "</PartNumber><ETag>" + e + "</ETag></Part>")
		}
		b.WriteString("</CompleteMultipartUpload>")
		return []byte(b.String())
	}
	wantStatus(t, "too small", f.do(t, f.c, "POST", u, complete(small.Header().Get("ETag"), tail.Header().Get("ETag"))), 400, "EntityTooSmall")
	wantStatus(t, "invalid part", f.do(t, f.c, "POST", u, complete(`"0"`)), 400, "InvalidPart")
	wantStatus(t, "malformed", f.do(t, f.c, "POST", u, []byte("<x")), 400, "MalformedXML")
	w = f.do(t, f.c, "GET", u, nil)
	if strings.Count(w.Body.String(), "<Part>") != 2 {
		t.Errorf("list parts: %s", w.Body.String())
	}
	w = f.do(t, f.c, "GET", "/alpha?uploads", nil)
	if !strings.Contains(w.Body.String(), init.UploadID) {
		t.Errorf("list uploads: %s", w.Body.String())
	}
	wantStatus(t, "complete one", f.do(t, f.c, "POST", u, complete(small.Header().Get("ETag"))), 200, "")
	w = f.do(t, f.c, "GET", "/alpha/big", nil)
	if got, _ := io.ReadAll(w.Body); string(got) != "small" || w.Header().Get("Content-Type") != "x/y" {
		t.Errorf("completed object: %q", got)
	}
	w = f.do(t, f.c, "GET", "/alpha/big?partNumber=1", nil)
	if w.Code != 206 || w.Body.String() != "small" || w.Header().Get("Content-Range") != "bytes 0-4/5" {
		t.Errorf("GET part 1: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	wantStatus(t, "part 2 of 1", f.do(t, f.c, "GET", "/alpha/big?partNumber=2", nil), 416, "InvalidPartNumber")
	wantStatus(t, "no upload", f.do(t, f.c, "DELETE", u, nil), 404, "NoSuchUpload")
	// CopyObject with REPLACE.
	w = f.do(t, f.c, "PUT", "/alpha/copy", nil, "x-amz-copy-source", "/alpha/big", "x-amz-metadata-directive", "REPLACE", "Content-Type", "c/d")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "CopyObjectResult") {
		t.Fatalf("copy: %d %s", w.Code, w.Body.String())
	}
	if w := f.do(t, f.c, "HEAD", "/alpha/copy", nil); w.Header().Get("Content-Type") != "c/d" || w.Header().Get("Content-Length") != "5" {
		t.Errorf("copy's headers: %v", w.Header())
	}
}
