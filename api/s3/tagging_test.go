package s3

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestObjectTaggingWire: x-amz-tagging on PutObject and
// CreateMultipartUpload, the ?tagging subresource's GET, PUT and DELETE
// in S3's shapes, x-amz-tagging-count on GET and HEAD, the tagging
// directive of a copy, and InvalidTag for a tag set S3 refuses.
func TestObjectTaggingWire(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, "create", f.do(t, f.c, "PUT", "/alpha", nil), 200, "")
	wantStatus(t, "put", f.do(t, f.c, "PUT", "/alpha/k", []byte("x"), "x-amz-tagging", "a=1&b%20c=d%2Fe&empty="), 200, "")
	readTags := func(key string) map[string]string {
		t.Helper()
		w := f.do(t, f.c, "GET", "/alpha/"+key+"?tagging", nil)
		wantStatus(t, "get tagging "+key, w, 200, "")
		var ts tagSet
		if err := xml.Unmarshal(w.Body.Bytes(), &ts); err != nil {
			t.Fatalf("%s: %v", w.Body.String(), err)
		}
		if !strings.Contains(w.Body.String(), `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>`) {
			t.Errorf("tagging document: %s", w.Body.String())
		}
		m := map[string]string{}
		for _, tg := range ts.Tags {
			m[tg.Key] = tg.Value
		}
		return m
	}
	if m := readTags("k"); len(m) != 3 || m["a"] != "1" || m["b c"] != "d/e" || m["empty"] != "" {
		t.Errorf("tags from x-amz-tagging: %v", m)
	}
	for _, method := range []string{"GET", "HEAD"} {
		if w := f.do(t, f.c, method, "/alpha/k", nil); w.Header().Get("x-amz-tagging-count") != "3" {
			t.Errorf("%s: x-amz-tagging-count %q", method, w.Header().Get("x-amz-tagging-count"))
		}
	}

	doc := `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>n</Key><Value>v</Value></Tag></TagSet></Tagging>`
	wantStatus(t, "put tagging", f.do(t, f.c, "PUT", "/alpha/k?tagging", []byte(doc)), 200, "")
	if m := readTags("k"); len(m) != 1 || m["n"] != "v" {
		t.Errorf("tags after PutObjectTagging: %v", m)
	}
	dup := `<Tagging><TagSet><Tag><Key>n</Key><Value>1</Value></Tag><Tag><Key>n</Key><Value>2</Value></Tag></TagSet></Tagging>`
	wantStatus(t, "duplicate keys", f.do(t, f.c, "PUT", "/alpha/k?tagging", []byte(dup)), 400, "InvalidTag")
	wantStatus(t, "long value", f.do(t, f.c, "PUT", "/alpha/k?tagging",
		[]byte(`<Tagging><TagSet><Tag><Key>n</Key><Value>`+strings.Repeat("v", 257)+`</Value></Tag></TagSet></Tagging>`)), 400, "InvalidTag")
	wantStatus(t, "malformed", f.do(t, f.c, "PUT", "/alpha/k?tagging", []byte("<Tagging>")), 400, "MalformedXML")
	if m := readTags("k"); len(m) != 1 || m["n"] != "v" {
		t.Errorf("tags after refusals: %v", m)
	}
	wantStatus(t, "other reads", f.do(t, f.other, "GET", "/alpha/k?tagging", nil), 403, "AccessDenied")
	wantStatus(t, "missing key", f.do(t, f.c, "GET", "/alpha/nope?tagging", nil), 404, "NoSuchKey")
	wantStatus(t, "bad header", f.do(t, f.c, "PUT", "/alpha/h", []byte("x"), "x-amz-tagging", "a=%zz"), 400, "InvalidArgument")
	wantStatus(t, "eleven in header", f.do(t, f.c, "PUT", "/alpha/h", []byte("x"),
		"x-amz-tagging", "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1"), 400, "InvalidTag")
	wantStatus(t, "not stored", f.do(t, f.c, "HEAD", "/alpha/h", nil), 404, "")

	// Copies.
	wantStatus(t, "copy", f.do(t, f.c, "PUT", "/alpha/c1", nil, "x-amz-copy-source", "alpha/k"), 200, "")
	if m := readTags("c1"); len(m) != 1 || m["n"] != "v" {
		t.Errorf("copy, directive COPY: %v", m)
	}
	wantStatus(t, "copy replace", f.do(t, f.c, "PUT", "/alpha/c2", nil, "x-amz-copy-source", "alpha/k",
		"x-amz-tagging-directive", "REPLACE", "x-amz-tagging", "r=s"), 200, "")
	if m := readTags("c2"); len(m) != 1 || m["r"] != "s" {
		t.Errorf("copy, directive REPLACE: %v", m)
	}
	wantStatus(t, "bad directive", f.do(t, f.c, "PUT", "/alpha/c3", nil, "x-amz-copy-source", "alpha/k",
		"x-amz-tagging-directive", "MERGE"), 400, "InvalidArgument")

	// Multipart.
	w := f.do(t, f.c, "POST", "/alpha/m?uploads", nil, "x-amz-tagging", "m=1")
	wantStatus(t, "create upload", w, 200, "")
	wantStatus(t, "create upload, bad tags", f.do(t, f.c, "POST", "/alpha/m?uploads", nil, "x-amz-tagging", "aws%3Ax=1"), 400, "InvalidTag")

	wantStatus(t, "delete tagging", f.do(t, f.c, "DELETE", "/alpha/k?tagging", nil), 204, "")
	if m := readTags("k"); len(m) != 0 {
		t.Errorf("tags after DeleteObjectTagging: %v", m)
	}
	if w := f.do(t, f.c, "HEAD", "/alpha/k", nil); w.Header().Get("x-amz-tagging-count") != "" {
		t.Errorf("x-amz-tagging-count without tags: %q", w.Header().Get("x-amz-tagging-count"))
	}
	wantStatus(t, "bucket tagging", f.do(t, f.c, "GET", "/alpha?tagging", nil), 501, "NotImplemented")
}
