package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	be "encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func b64CRC32(b []byte, tab *crc32.Table) string {
	return base64.StdEncoding.EncodeToString(be.BigEndian.AppendUint32(nil, crc32.Checksum(b, tab)))
}

// TestS3Checksums: aws-sdk-go-v2 with its defaults puts objects with
// CRC32, CRC32C and SHA256 checksums and gets them back with
// x-amz-checksum-mode (validating them itself); a wrong checksum is
// BadDigest and stores nothing. Behind a TLS proxy, as a deployment
// would put it, the SDK sends its default form, aws-chunked with an
// unsigned CRC32 trailer, for PutObject and UploadPart, and a multipart
// upload completes to S3's composite checksum.
func TestS3Checksums(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	a := s.account(t, "s3-sums")
	cl := s.s3Client(a, false)
	bucket := "sums"
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("checksummed "), 1000)
	shaSum := sha256.Sum256(body)
	for _, c := range []struct {
		alg  types.ChecksumAlgorithm
		want string
		got  func(*s3.GetObjectOutput) *string
	}{
		{types.ChecksumAlgorithmCrc32, b64CRC32(body, crc32.IEEETable), func(o *s3.GetObjectOutput) *string { return o.ChecksumCRC32 }},
		{types.ChecksumAlgorithmCrc32c, b64CRC32(body, crc32.MakeTable(crc32.Castagnoli)), func(o *s3.GetObjectOutput) *string { return o.ChecksumCRC32C }},
		{types.ChecksumAlgorithmSha256, base64.StdEncoding.EncodeToString(shaSum[:]), func(o *s3.GetObjectOutput) *string { return o.ChecksumSHA256 }},
	} {
		key := "obj-" + string(c.alg)
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ChecksumAlgorithm: c.alg}); err != nil {
			t.Fatalf("PutObject %s: %v", c.alg, err)
		}
		o, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("GetObject %s: %v", c.alg, err)
		}
		got, err := io.ReadAll(o.Body) // the SDK validates the sum as it reads
		o.Body.Close()
		if err != nil || !bytes.Equal(got, body) || aws.ToString(c.got(o)) != c.want || o.ChecksumType != types.ChecksumTypeFullObject {
			t.Errorf("GetObject %s: %d bytes, %v, checksum %q (type %q), want %q", c.alg, len(got), err, aws.ToString(c.got(o)), o.ChecksumType, c.want)
		}
	}
	_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("bad"), Body: bytes.NewReader(body),
		ChecksumCRC32: aws.String(b64CRC32([]byte("other"), crc32.IEEETable))})
	if s3Code(err) != "BadDigest" {
		t.Errorf("a wrong checksum: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("bad")}); !strings.Contains(err.Error(), "404") {
		t.Errorf("the object of a wrong checksum: %v", err)
	}

	// Behind TLS, the SDK's default: aws-chunked, unsigned, CRC32 trailer.
	target, _ := url.Parse(s.URL)
	var mu sync.Mutex
	payloads := map[string]string{}
	rp := httputil.NewSingleHostReverseProxy(target)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		mu.Lock()
		payloads[r.Method+" "+r.URL.Path] = r.Header.Get("X-Amz-Content-Sha256")
		mu.Unlock()
	}
	proxy := httptest.NewTLSServer(rp)
	t.Cleanup(proxy.Close)
	roots := proxy.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tlsClient := s3.NewFromConfig(s3Config(s, a), func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(proxy.URL)
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = &tls.Config{RootCAs: roots}
		})
	})
	if _, err := tlsClient.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("tls"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PutObject over TLS: %v", err)
	}
	if p := payloads["PUT /sums/tls"]; p != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		t.Errorf("PutObject over TLS sent x-amz-content-sha256 %q, not the unsigned trailer", p)
	}
	o, err := tlsClient.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("tls"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o.Body)
	o.Body.Close()
	if err != nil || !bytes.Equal(got, body) || aws.ToString(o.ChecksumCRC32) != b64CRC32(body, crc32.IEEETable) {
		t.Errorf("GetObject over TLS: %d bytes %v, CRC32 %q", len(got), err, aws.ToString(o.ChecksumCRC32))
	}

	mp, err := tlsClient.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := bytes.Repeat([]byte{7}, 5<<20), []byte("tail")
	var parts []types.CompletedPart
	var sums []byte
	for i, p := range [][]byte{p1, p2} {
		n := int32(i + 1)
		up, err := tlsClient.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId, PartNumber: &n,
			Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatalf("UploadPart %d over TLS: %v", n, err)
		}
		if aws.ToString(up.ChecksumCRC32) != b64CRC32(p, crc32.IEEETable) {
			t.Errorf("UploadPart %d answered CRC32 %q", n, aws.ToString(up.ChecksumCRC32))
		}
		parts = append(parts, types.CompletedPart{PartNumber: &n, ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
		sums = be.BigEndian.AppendUint32(sums, crc32.ChecksumIEEE(p))
	}
	if p := payloads["PUT /sums/mp"]; p != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		t.Errorf("UploadPart over TLS sent x-amz-content-sha256 %q", p)
	}
	done, err := tlsClient.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	composite := b64CRC32(sums, crc32.IEEETable) + "-2"
	if err != nil || aws.ToString(done.ChecksumCRC32) != composite || done.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("CompleteMultipartUpload: %v, CRC32 %q (type %q), want %q", err, aws.ToString(done.ChecksumCRC32), done.ChecksumType, composite)
	}
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("mp"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(h.ChecksumCRC32) != composite || *h.ContentLength != int64(len(p1)+len(p2)) {
		t.Errorf("HeadObject of the multipart object: %v %+v", err, h)
	}
}

// TestS3Boto3Checksums: boto3 with its defaults puts with
// ChecksumAlgorithm SHA256 and gets the sum back with ChecksumMode.
func TestS3Boto3Checksums(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "boto-sums")
	script := `
import json, os, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
out = {}
s3.create_bucket(Bucket="py-sums")
put = s3.put_object(Bucket="py-sums", Key="k", Body=b"0123456789" * 1000, ChecksumAlgorithm="SHA256")
out["put"] = put.get("ChecksumSHA256", "")
got = s3.get_object(Bucket="py-sums", Key="k", ChecksumMode="ENABLED")
out["body"] = len(got["Body"].read())
out["get"] = got.get("ChecksumSHA256", "")
s3.put_object(Bucket="py-sums", Key="default", Body=b"x" * 100)
out["default"] = s3.head_object(Bucket="py-sums", Key="default", ChecksumMode="ENABLED").get("ChecksumCRC32", "")
json.dump(out, sys.stdout)
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(netCLIEnv(t, c), "ENDPOINT="+s.URL)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	var out struct {
		Put, Get, Default string
		Body              int
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
	sum := sha256.Sum256(bytes.Repeat([]byte("0123456789"), 1000))
	want := base64.StdEncoding.EncodeToString(sum[:])
	if out.Put != want || out.Get != want || out.Body != 10000 || out.Default != b64CRC32(bytes.Repeat([]byte("x"), 100), crc32.IEEETable) {
		t.Errorf("boto3 saw %+v, want SHA256 %s", out, want)
	}
}
