package s3

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"github.com/openami/openami/api/s3/checksum"
)

func crc32Of(b []byte, tab *crc32.Table) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, tab))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestChecksumsSinglePut: x-amz-checksum-* is checked as the body streams
// (BadDigest, nothing stored), stored, and returned by PutObject and by
// GET and HEAD that ask (x-amz-checksum-mode: ENABLED), not by a ranged
// GET; an object put without one has none; Content-Encoding loses
// aws-chunked.
func TestChecksumsSinglePut(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, "create", f.do(t, f.c, "PUT", "/alpha", nil), 200, "")
	body := []byte("hello, checksums")
	sum := b64(crc32Of(body, crc32.IEEETable))
	w := f.do(t, f.c, "PUT", "/alpha/k", body, "x-amz-checksum-crc32", sum, "x-amz-sdk-checksum-algorithm", "CRC32",
		"Content-Encoding", "aws-chunked, gzip")
	wantStatus(t, "put", w, 200, "")
	if w.Header().Get("x-amz-checksum-crc32") != sum || w.Header().Get("x-amz-checksum-type") != "FULL_OBJECT" {
		t.Errorf("put answered %v", w.Header())
	}
	w = f.do(t, f.c, "GET", "/alpha/k", nil, "x-amz-checksum-mode", "ENABLED")
	wantStatus(t, "get", w, 200, "")
	if w.Header().Get("x-amz-checksum-crc32") != sum || w.Header().Get("x-amz-checksum-type") != "FULL_OBJECT" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("get answered %v", w.Header())
	}
	w = f.do(t, f.c, "HEAD", "/alpha/k", nil, "x-amz-checksum-mode", "ENABLED")
	if w.Header().Get("x-amz-checksum-crc32") != sum {
		t.Errorf("head answered %v", w.Header())
	}
	for what, w := range map[string]*http.Header{
		"get without the mode": ptr(f.do(t, f.c, "GET", "/alpha/k", nil).Header()),
		"ranged get":           ptr(f.do(t, f.c, "GET", "/alpha/k", nil, "x-amz-checksum-mode", "ENABLED", "Range", "bytes=0-1").Header()),
	} {
		if w.Get("x-amz-checksum-crc32") != "" {
			t.Errorf("%s answered a checksum: %v", what, *w)
		}
	}

	// A part copied into an upload with an algorithm is summed with it.
	w = f.do(t, f.c, "POST", "/alpha/cp?uploads", nil, "x-amz-checksum-algorithm", "CRC32")
	var init struct {
		UploadID string `xml:"UploadId"`
	}
	xml.Unmarshal(w.Body.Bytes(), &init)
	w = f.do(t, f.c, "PUT", "/alpha/cp?partNumber=1&uploadId="+init.UploadID, nil, "x-amz-copy-source", "/alpha/k")
	wantStatus(t, "upload part copy", w, 200, "")
	if !strings.Contains(w.Body.String(), "<ChecksumCRC32>"+sum+"</ChecksumCRC32>") {
		t.Errorf("UploadPartCopy answered %s", w.Body.String())
	}

	sha := checksum.SHA256.Sum([]byte("something else"))
	wantStatus(t, "wrong sha256", f.do(t, f.c, "PUT", "/alpha/bad", body, "x-amz-checksum-sha256", sha), 400, "BadDigest")
	wantStatus(t, "not a sha256", f.do(t, f.c, "PUT", "/alpha/bad", body, "x-amz-checksum-sha256", "AAAA"), 400, "InvalidRequest")
	wantStatus(t, "two algorithms", f.do(t, f.c, "PUT", "/alpha/bad", body, "x-amz-checksum-sha256", checksum.SHA256.Sum(body),
		"x-amz-checksum-crc32", sum), 400, "InvalidRequest")
	wantStatus(t, "nothing stored", f.do(t, f.c, "GET", "/alpha/bad", nil), 404, "NoSuchKey")

	w = f.do(t, f.c, "PUT", "/alpha/plain", body)
	wantStatus(t, "put without a checksum", w, 200, "")
	w = f.do(t, f.c, "GET", "/alpha/plain", nil, "x-amz-checksum-mode", "ENABLED")
	for k := range w.Header() {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") {
			t.Errorf("an object put without a checksum answered %s", k)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestChecksumsMultipart: an upload created with an algorithm takes parts
// that send it (others are refused), answers each part's sum, lists them,
// and completes to S3's composite sum (the sum of the parts' sums, "-N")
// or, with x-amz-checksum-type FULL_OBJECT, the CRC of the whole object,
// checked against the one the completion sends.
func TestChecksumsMultipart(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, "create", f.do(t, f.c, "PUT", "/alpha", nil), 200, "")
	p1 := bytes.Repeat([]byte("a"), 5<<20)
	p2 := []byte("the tail")
	for _, c := range []struct {
		typ  string
		tab  *crc32.Table
		alg  string
		want string
	}{
		{"", crc32.IEEETable, "CRC32", b64(crc32Of(append(crc32Of(p1, crc32.IEEETable), crc32Of(p2, crc32.IEEETable)...), crc32.IEEETable)) + "-2"},
		{"FULL_OBJECT", crc32.MakeTable(crc32.Castagnoli), "CRC32C", b64(crc32Of(append(append([]byte{}, p1...), p2...), crc32.MakeTable(crc32.Castagnoli)))},
	} {
		hdr := []string{"x-amz-checksum-algorithm", c.alg}
		if c.typ != "" {
			hdr = append(hdr, "x-amz-checksum-type", c.typ)
		}
		w := f.do(t, f.c, "POST", "/alpha/mp?uploads", nil, hdr...)
		wantStatus(t, "create upload", w, 200, "")
		var init struct {
			UploadID string `xml:"UploadId"`
		}
		xml.Unmarshal(w.Body.Bytes(), &init)
		typ := map[string]string{"": "COMPOSITE", "FULL_OBJECT": "FULL_OBJECT"}[c.typ]
		if w.Header().Get("x-amz-checksum-algorithm") != c.alg || w.Header().Get("x-amz-checksum-type") != typ {
			t.Errorf("%s: create answered %v", c.alg, w.Header())
		}
		header := "x-amz-checksum-" + strings.ToLower(c.alg)
		base := "/alpha/mp?uploadId=" + init.UploadID
		wantStatus(t, "part without its checksum", f.do(t, f.c, "PUT", base+"&partNumber=1", p1), 400, "InvalidArgument")
		etags := []string{}
		for i, p := range [][]byte{p1, p2} {
			s := b64(crc32Of(p, c.tab))
			w := f.do(t, f.c, "PUT", base+"&partNumber="+string(rune('1'+i)), p, header, s)
			wantStatus(t, "part", w, 200, "")
			if w.Header().Get(header) != s {
				t.Errorf("%s: part %d answered %v", c.alg, i+1, w.Header())
			}
			etags = append(etags, w.Header().Get("ETag"))
		}
		w = f.do(t, f.c, "GET", base, nil)
		wantStatus(t, "list parts", w, 200, "")
		if got := w.Body.String(); !strings.Contains(got, "<ChecksumAlgorithm>"+c.alg+"</ChecksumAlgorithm>") ||
			!strings.Contains(got, "<Checksum"+c.alg+">"+b64(crc32Of(p2, c.tab))+"</Checksum"+c.alg+">") {
			t.Errorf("%s: ListParts %s", c.alg, got)
		}
		complete := []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + etags[0] + `</ETag></Part>` +
			`<Part><PartNumber>2</PartNumber><ETag>` + etags[1] + `</ETag><Checksum` + c.alg + `>` + b64(crc32Of(p2, c.tab)) + `</Checksum` + c.alg + `></Part></CompleteMultipartUpload>`)
		if c.typ == "FULL_OBJECT" {
			wantStatus(t, "wrong full-object sum", f.do(t, f.c, "POST", base, complete, header, "AAAAAA=="), 400, "BadDigest")
		}
		w = f.do(t, f.c, "POST", base, complete)
		wantStatus(t, "complete", w, 200, "")
		if got := w.Body.String(); !strings.Contains(got, "<Checksum"+c.alg+">"+c.want+"</Checksum"+c.alg+">") || !strings.Contains(got, "<ChecksumType>"+typ+"</ChecksumType>") {
			t.Errorf("%s: complete answered %s, want %s", c.alg, got, c.want)
		}
		w = f.do(t, f.c, "HEAD", "/alpha/mp", nil, "x-amz-checksum-mode", "ENABLED")
		if w.Header().Get(header) != c.want || w.Header().Get("x-amz-checksum-type") != typ {
			t.Errorf("%s: head answered %v", c.alg, w.Header())
		}
	}
}
