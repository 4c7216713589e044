package sigv4

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openami/openami/api/s3/checksum"
)

// s3Upload is what the test server made of one request.
type s3Upload struct {
	method, path string
	payload      string // x-amz-content-sha256 as sent
	body         []byte
	alg          checksum.Algorithm
	sum          string
	etag         string
}

// s3Server verifies every request as the S3 API will: Parse, Body,
// checksum.FromRequest and a checksum.Reader over the body; it answers
// PUTs with the ETag and GETs with the stored bytes.
type s3Server struct {
	mu      sync.Mutex
	errs    []error
	uploads []s3Upload
	objects map[string][]byte
}

func (s *s3Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up, err := s.verify(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	s.uploads = append(s.uploads, up)
	switch r.Method {
	case http.MethodPut:
		if s.objects == nil {
			s.objects = map[string][]byte{}
		}
		s.objects[r.URL.Path] = up.body
		w.Header().Set("ETag", `"`+up.etag+`"`)
		if up.alg != "" {
			w.Header().Set(up.alg.Header(), up.sum)
		}
	case http.MethodPost:
		// CreateMultipartUpload and CompleteMultipartUpload, for s3transfer.
		w.Header().Set("Content-Type", "application/xml")
		if _, ok := r.URL.Query()["uploads"]; ok {
			io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>`)
		} else {
			io.WriteString(w, `<CompleteMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><ETag>"e-3"</ETag></CompleteMultipartUploadResult>`)
		}
	case http.MethodGet:
		if ct := r.URL.Query().Get("response-content-type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Write(s.objects[r.URL.Path])
	}
}

func (s *s3Server) verify(r *http.Request) (s3Upload, error) {
	up := s3Upload{method: r.Method, path: r.URL.Path, payload: r.Header.Get("X-Amz-Content-Sha256")}
	a, err := Parse(r)
	if err != nil {
		return up, err
	}
	body, err := a.Body(r, testSecret, time.Now())
	if err != nil {
		return up, err
	}
	want, err := checksum.FromRequest(r.Header)
	if err != nil {
		return up, err
	}
	cr := checksum.NewReader(body, want, body.Trailer)
	if up.body, err = io.ReadAll(cr); err != nil {
		return up, err
	}
	if n := body.Size(); n >= 0 && n != int64(len(up.body)) {
		return up, errors.New("Size disagrees with the body")
	}
	up.alg, up.sum, up.etag = cr.Algorithm(), cr.Sum(), hex.EncodeToString(cr.MD5())
	return up, nil
}

func (s *s3Server) check(t *testing.T) []s3Upload {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("server rejected a request: %v", err)
	}
	s.errs = nil
	ups := s.uploads
	s.uploads = nil
	return ups
}

func s3Client(srv *httptest.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
		// As aws.Config has it by default.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

// onlyReader hides a body's Seek, so that the SDK streams it in chunks.
type onlyReader struct{ io.Reader }

// TestGoSDKS3 drives aws-sdk-go-v2's S3 client, with all its middleware,
// against a server that verifies with this package and checks checksums
// with api/s3/checksum. Over TLS the client sends checksummed bodies as
// aws-chunked with the checksum in a trailer (STREAMING-UNSIGNED-PAYLOAD-
// TRAILER); over plain HTTP it signs the body's SHA-256 and sends the
// checksum as a header.
func TestGoSDKS3(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 200000/16+1) // > 3 chunks of 64 KiB
	key := "dir/a b+c~é!*'()$@=;:,&[]//x/../y.bin"
	for _, tls := range []bool{true, false} {
		h := &s3Server{}
		var srv *httptest.Server
		if tls {
			srv = httptest.NewTLSServer(h)
		} else {
			srv = httptest.NewServer(h)
		}
		c := s3Client(srv)
		name := map[bool]string{true: "tls", false: "http"}[tls]

		cases := []struct {
			alg  s3types.ChecksumAlgorithm
			want []byte
			body io.Reader
			n    int64
		}{
			{"", data, bytes.NewReader(data), 0},
			{s3types.ChecksumAlgorithmCrc32c, data, bytes.NewReader(data), 0},
			// Unknown to the SDK's chunker: 64 KiB chunks.
			{s3types.ChecksumAlgorithmCrc64nvme, data, onlyReader{bytes.NewReader(data)}, int64(len(data))},
			{s3types.ChecksumAlgorithmSha256, data[:1], bytes.NewReader(data[:1]), 0},
			{s3types.ChecksumAlgorithmSha1, nil, bytes.NewReader(nil), 0},
		}
		for _, tc := range cases {
			if _, ok := tc.body.(onlyReader); ok && !tls {
				continue // the SDK streams an unseekable body only over TLS
			}
			in := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: tc.body, ChecksumAlgorithm: tc.alg}
			if tc.n > 0 {
				in.ContentLength = aws.Int64(tc.n)
			}
			out, err := c.PutObject(ctx, in)
			if err != nil {
				t.Errorf("%s PutObject %s: %v", name, tc.alg, err)
				continue
			}
			ups := h.check(t)
			if len(ups) != 1 {
				t.Fatalf("%s: %d requests", name, len(ups))
			}
			up := ups[0]
			if !bytes.Equal(up.body, tc.want) {
				t.Errorf("%s %s: the server read %d bytes, not the %d sent", name, tc.alg, len(up.body), len(tc.want))
			}
			if up.path != "/bucket/"+key {
				t.Errorf("%s: path %q", name, up.path)
			}
			wantAlg := checksum.Algorithm(tc.alg)
			if wantAlg == "" {
				wantAlg = checksum.CRC32 // the SDK's default
			}
			if len(up.body) > 0 && up.alg != wantAlg {
				t.Errorf("%s %s: the server checked %q (payload %s)", name, tc.alg, up.alg, up.payload)
			}
			if up.alg != "" && up.sum != up.alg.Sum(up.body) {
				t.Errorf("%s %s: sum %s", name, tc.alg, up.sum)
			}
			if aws.ToString(out.ETag) != `"`+up.etag+`"` {
				t.Errorf("%s: ETag %s", name, aws.ToString(out.ETag))
			}
			t.Logf("%s %s: %d bytes, x-amz-content-sha256 %s", name, tc.alg, len(up.body), up.payload)
			if tls && len(up.body) > 0 && up.payload != streamingUnsigned {
				t.Errorf("%s: payload %s, want the aws-chunked trailer form", name, up.payload)
			}
		}

		// UploadPart, as the transfer managers send each part.
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("bucket"), Key: aws.String(key), UploadId: aws.String("u-1"), PartNumber: aws.Int32(3),
			Body: bytes.NewReader(data), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32,
		}); err != nil {
			t.Errorf("%s UploadPart: %v", name, err)
		}
		if ups := h.check(t); len(ups) != 1 || !bytes.Equal(ups[0].body, data) || ups[0].alg != checksum.CRC32 {
			t.Errorf("%s UploadPart: %+v", name, ups)
		}

		// Presigned PUT and GET, the GET with a response-* parameter.
		pc := s3.NewPresignClient(c)
		put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("pre/signed key")},
			s3.WithPresignExpires(7*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader(data))
		for k, vs := range put.SignedHeader {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s presigned PUT: %v %v", name, err, resp)
		} else {
			resp.Body.Close()
		}
		get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("pre/signed key"),
			ResponseContentType: aws.String("text/plain; charset=utf-8")})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Get(get.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s presigned GET: %d, %d bytes, %s", name, resp.StatusCode, len(got), resp.Header.Get("Content-Type"))
		}
		ups := h.check(t)
		if len(ups) != 2 || ups[0].payload != "" || !strings.Contains(get.URL, "response-content-type") {
			t.Errorf("%s presigned: %+v", name, ups)
		}
		// A presigned URL whose query is changed no longer verifies.
		resp, err = srv.Client().Get(strings.Replace(get.URL, "charset%3Dutf-8", "charset%3Dlatin1", 1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h.mu.Lock()
		if resp.StatusCode != http.StatusForbidden || len(h.errs) != 1 || !errors.Is(h.errs[0], Mismatch) {
			t.Errorf("%s tampered presigned GET: %d %v", name, resp.StatusCode, h.errs)
		}
		h.errs = nil
		h.mu.Unlock()
		srv.Close()
	}
}
