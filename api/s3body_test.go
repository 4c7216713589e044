package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/openami/openami/rules/identity"
)

// s3Request returns an S3 request signed with c, whose
// x-amz-content-sha256 is claimed ("" for the body's own hash).
func (ts *testServer) s3Request(t *testing.T, c identity.Credentials, method, path, body, claimed string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ts.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if claimed == "" {
		sum := sha256.Sum256([]byte(body))
		claimed = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", claimed)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, req, claimed, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func s3Do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestS3Streaming: S3 requests take the streaming path. A body whose hash
// is not the signed one is refused at its end and nothing is stored;
// SigV4A's chunks are not supported; an unsigned request is an
// anonymous S3 request; the Query protocol still answers unsigned
// requests as before.
func TestS3Streaming(t *testing.T) {
	ts := startServer(t, Limits{})
	a := ts.admin
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1", "", "")); st != 200 {
		t.Fatalf("CreateBucket: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/a%20key+1", "hello", "")); st != 200 {
		t.Fatalf("PutObject: %d %s", st, b)
	}
	wrong := strings.Repeat("ab", 32)
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/bad", "hello", wrong)); st != 400 || !strings.Contains(b, "<Code>XAmzContentSHA256Mismatch</Code>") {
		t.Errorf("mismatched body: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "GET", "/bucket1/bad", "", "")); st != 404 || !strings.Contains(b, "NoSuchKey") {
		t.Errorf("the mismatched body was stored: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/unsigned", "data", "UNSIGNED-PAYLOAD")); st != 200 {
		t.Errorf("UNSIGNED-PAYLOAD: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/chunked", "data", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")); st != 501 || !strings.Contains(b, "NotImplemented") {
		t.Errorf("SigV4A chunks: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/chunked", "data", "not-a-hash")); st != 400 || !strings.Contains(b, "<Code>InvalidArgument</Code>") {
		t.Errorf("bad x-amz-content-sha256: %d %s", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "GET", "/bucket1/a%20key+1", "", "")); st != 200 || b != "hello" {
		t.Errorf("GetObject of an escaped key: %d %q", st, b)
	}
	anon, _ := http.NewRequest("GET", "http://"+ts.addr+"/bucket1/a%20key+1", nil)
	if st, b := s3Do(t, anon); st != 403 || !strings.Contains(b, "<Code>AccessDenied</Code>") {
		t.Errorf("anonymous: %d %s", st, b)
	}
	head, _ := http.NewRequest("HEAD", "http://"+ts.addr+"/bucket1/a%20key+1", nil)
	if st, b := s3Do(t, head); st != 403 || b != "" {
		t.Errorf("anonymous HEAD: %d %q", st, b)
	}
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/bucket1/a%20key+1?acl", "", "", "x-amz-acl", "public-read")); st != 200 {
		t.Fatalf("PutObjectAcl: %d %s", st, b)
	}
	anon, _ = http.NewRequest("GET", "http://"+ts.addr+"/bucket1/a%20key+1", nil)
	if st, b := s3Do(t, anon); st != 200 || b != "hello" {
		t.Errorf("anonymous GET of a public-read object: %d %s", st, b)
	}
	q, _ := http.NewRequest("GET", "http://"+ts.addr+"/?Action=DescribeRegions&Version=2016-11-15", nil)
	if st, b := s3Do(t, q); st != 401 || !strings.Contains(b, "MissingAuthenticationToken") {
		t.Errorf("unsigned Query request: %d %s", st, b)
	}
}

// patternReader yields n bytes of a cheap, position-dependent pattern,
// the same for every reader of the same n.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := uint64(p.off + int64(i))
		b[i] = byte(x ^ x>>8 ^ x>>19)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestS3LargeObjectStreams puts an object of OPENAMI_S3_BIG_BYTES bytes
// (default 256 MiB; 10 GiB for the check) through the endpoint as
// a multipart upload of parts of at most 5 GiB, then reads it back
// whole, and fails if the heap grew by more than 64 MiB at any point:
// bodies stream, they are never held.
func TestS3LargeObjectStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large object")
	}
	size := int64(256 << 20)
	if v := os.Getenv("OPENAMI_S3_BIG_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		size = n
	}
	ts := startServer(t, Limits{})
	a := ts.admin
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/big", "", "")); st != 200 {
		t.Fatalf("CreateBucket: %d %s", st, b)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	st, b := s3Do(t, ts.s3Request(t, a, "POST", "/big/object?uploads", "", ""))
	var initiate struct{ UploadId string }
	if err := xmlUnmarshal(b, &initiate); st != 200 || err != nil {
		t.Fatalf("CreateMultipartUpload: %d %s", st, b)
	}
	partSize := min(size, 5<<30)
	if size > partSize && size-partSize < 5<<20 {
		partSize = (size + 1) / 2
	}
	var complete strings.Builder
	complete.WriteString("<CompleteMultipartUpload>")
	whole := sha256.New()
	for n, off := 1, int64(0); off < size; n, off = n+1, off+partSize {
		length := min(partSize, size-off)
		req, err := http.NewRequest("PUT", fmt.Sprintf("http://%s/big/object?partNumber=%d&uploadId=%s", ts.addr, n, initiate.UploadId),
			io.TeeReader(io.NewSectionReader(readerAt{size}, off, length), whole))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		signS3(t, req, a)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("UploadPart %d: %d", n, resp.StatusCode)
		}
		fmt.Fprintf(&complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n, resp.Header.Get("ETag"))
	}
	complete.WriteString("</CompleteMultipartUpload>")
	if st, b := s3Do(t, ts.s3Request(t, a, "POST", "/big/object?uploadId="+initiate.UploadId, complete.String(), "")); st != 200 {
		t.Fatalf("CompleteMultipartUpload: %d %s", st, b)
	}
	resp, err := http.DefaultClient.Do(ts.s3Request(t, a, "GET", "/big/object", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	back := sha256.New()
	n, err := io.Copy(back, resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != size || !bytes.Equal(back.Sum(nil), whole.Sum(nil)) {
		t.Fatalf("read back %d of %d bytes (%v); same bytes: %v", n, size, err, bytes.Equal(back.Sum(nil), whole.Sum(nil)))
	}
	if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB moving a %d MiB object", grew>>20, size>>20)
	}
}

// readerAt is the pattern of patternReader, at any offset.
type readerAt struct{ n int64 }

func (r readerAt) ReadAt(b []byte, off int64) (int, error) {
	p := &patternReader{off: off, n: r.n}
	n, err := io.ReadFull(p, b)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func xmlUnmarshal(s string, v any) error { return xml.Unmarshal([]byte(s), v) }

// signS3 signs req for s3 with c, with the payload hash it carries.
func signS3(t *testing.T, req *http.Request, c identity.Credentials) {
	t.Helper()
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, req, req.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}
