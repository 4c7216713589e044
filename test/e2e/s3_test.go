package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/objects"
)

// The clients run with their defaults: aws-sdk-go-v2, botocore and the
// aws CLI send CRC32 checksums with uploads (aws-chunked with a trailer
// over TLS, a header over HTTP) and validate the ones GetObject returns.

// s3Client returns an S3 client for the credentials: path-style, or
// virtual-hosted-style against BUCKET.s3.localhost:PORT (every host name
// dialled to the server).
func (s *server) s3Client(c identity.Credentials, virtualHosted bool) *s3.Client {
	return s3.NewFromConfig(s3Config(s, c), func(o *s3.Options) {
		o.UsePathStyle = !virtualHosted
		if virtualHosted {
			u, _ := url.Parse(s.URL)
			addr := u.Host
			o.BaseEndpoint = aws.String("http://s3.localhost:" + u.Port())
			dialer := &net.Dialer{}
			o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
				tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, addr)
				}
			})
		}
	})
}

// s3Config is the aws.Config of an S3 client with the SDK's defaults, as
// config.LoadDefaultConfig resolves them: checksums "when supported"
// both ways (a config made by hand leaves them unset, which the S3
// client takes as "when required").
func s3Config(s *server, c identity.Credentials) aws.Config {
	cfg := s.awsConfig(c, "us-east-1")
	cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
	cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	return cfg
}

// s3Code returns the API error code of err, "" for none.
func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestS3SDK(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		a, b := s.account(t, "s3-a"), s.account(t, "s3-b")
		for _, vh := range []bool{false, true} {
			cl := s.s3Client(a, vh)
			bucket := fmt.Sprintf("sdk-bucket-%v", vh)
			if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
				t.Fatalf("CreateBucket (virtual-hosted %v): %v", vh, err)
			}
			body := []byte("hello, object storage")
			key := "dir/a key+with=odd&chars.txt"
			put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
				ContentType: aws.String("text/plain"), Metadata: map[string]string{"color": "blue"}, CacheControl: aws.String("max-age=60")})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			sum := md5.Sum(body)
			if *put.ETag != `"`+hex.EncodeToString(sum[:])+`"` {
				t.Errorf("ETag %s", *put.ETag)
			}
			got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String("bytes=7-12")})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			part, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if string(part) != "object" || *got.ContentRange != "bytes 7-12/21" || got.Metadata["color"] != "blue" || *got.CacheControl != "max-age=60" {
				t.Errorf("ranged GET: %q %v %v", part, *got.ContentRange, got.Metadata)
			}
			list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Delimiter: aws.String("/")})
			if err != nil || len(list.CommonPrefixes) != 1 || *list.CommonPrefixes[0].Prefix != "dir/" {
				t.Fatalf("ListObjectsV2: %+v %v", list, err)
			}
			_, err = cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("nope")})
			if !strings.Contains(fmt.Sprint(err), "404") {
				t.Errorf("HeadObject of a missing key: %v", err)
			}
			_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("nope")})
			var nsk *types.NoSuchKey
			if !errors.As(err, &nsk) {
				t.Errorf("GetObject of a missing key: %v", err)
			}
		}

		cl := s.s3Client(a, false)
		bucket := "sdk-bucket-false"
		// Multipart: two parts, the first of the minimum size.
		mp, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		p1 := make([]byte, objects.MinPartSize)
		rand.Read(p1)
		p2 := []byte("the tail")
		var done []types.CompletedPart
		for i, p := range [][]byte{p1, p2} {
			n := int32(i + 1)
			up, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("big"), UploadId: mp.UploadId, PartNumber: &n, Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatalf("UploadPart %d: %v", n, err)
			}
			done = append(done, types.CompletedPart{PartNumber: &n, ETag: up.ETag})
		}
		_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("big"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[1], done[0]}}})
		if s3Code(err) != "InvalidPartOrder" {
			t.Errorf("out of order: %v", err)
		}
		c, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("big"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if err != nil || !strings.HasSuffix(*c.ETag, `-2"`) {
			t.Fatalf("CompleteMultipartUpload: %v %v", c, err)
		}
		whole, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		gotAll, _ := io.ReadAll(whole.Body)
		whole.Body.Close()
		if !bytes.Equal(gotAll, append(append([]byte{}, p1...), p2...)) {
			t.Errorf("multipart object: %d bytes", len(gotAll))
		}
		// CopyObject with REPLACE.
		_, err = cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy"), CopySource: aws.String(bucket + "/big"),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/x-test")})
		if err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("copy")})
		if err != nil || *h.ContentType != "application/x-test" || *h.ContentLength != int64(len(gotAll)) {
			t.Errorf("copy: %+v %v", h, err)
		}

		// Cross-account: refused, then read after a policy, then an ACL.
		other := s.s3Client(b, false)
		_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big")})
		if s3Code(err) != "AccessDenied" {
			t.Fatalf("another account reads: %v", err)
		}
		pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::%s:root"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/big"}]}`, b.AccountID, bucket)
		if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: &bucket, Policy: &pol}); err != nil {
			t.Fatalf("PutBucketPolicy: %v", err)
		}
		if o, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big")}); err != nil {
			t.Errorf("another account reads under the policy: %v", err)
		} else {
			o.Body.Close()
		}
		_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("copy")})
		if s3Code(err) != "AccessDenied" {
			t.Errorf("another account reads what the policy does not grant: %v", err)
		}
		if _, err := cl.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: &bucket, Key: aws.String("copy"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
			t.Fatalf("PutObjectAcl: %v", err)
		}
		if o, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("copy")}); err != nil {
			t.Errorf("another account reads a public-read object: %v", err)
		} else {
			o.Body.Close()
		}
		acl, err := cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: &bucket, Key: aws.String("copy")})
		if err != nil || len(acl.Grants) != 2 || *acl.Owner.ID != objects.CanonicalID(a.AccountID) {
			t.Errorf("GetObjectAcl: %+v %v", acl, err)
		}
		// Anonymous GET of the public-read object.
		resp, err := http.Get(s.URL + "/" + bucket + "/copy")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("anonymous GET: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		_, err = cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
		if s3Code(err) != "BucketNotEmpty" {
			t.Errorf("DeleteBucket of a full bucket: %v", err)
		}
		_, err = other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
		if s3Code(err) != "BucketAlreadyExists" {
			t.Errorf("CreateBucket of another's name: %v", err)
		}
	})
}

// s3CLI runs the aws CLI against the server and returns its output.
func s3CLI(t *testing.T, s *server, c identity.Credentials, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", s.URL}, args...)...)
	cmd.Dir = dir
	cmd.Env = netCLIEnv(t, c)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("aws %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func mustCLI(t *testing.T, s *server, c identity.Credentials, dir string, args ...string) string {
	t.Helper()
	out, err := s3CLI(t, s, c, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestS3CLI(t *testing.T) {
	s := start(t, "sqlite")
	a, b := s.account(t, "cli-a"), s.account(t, "cli-b")
	dir := t.TempDir()
	big := make([]byte, 20<<20) // above the CLI's 8 MiB multipart threshold: 3 parts
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, s, a, dir, "s3", "mb", "s3://cli-bucket")
	mustCLI(t, s, a, dir, "s3", "cp", "big.bin", "s3://cli-bucket/up/big.bin")
	mustCLI(t, s, a, dir, "s3", "cp", "s3://cli-bucket/up/big.bin", "down.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "down.bin")); !bytes.Equal(got, big) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", len(got), len(big))
	}
	head := mustCLI(t, s, a, dir, "s3api", "head-object", "--bucket", "cli-bucket", "--key", "up/big.bin", "--checksum-mode", "ENABLED")
	if !strings.Contains(head, `-3\"`) {
		t.Errorf("the 20 MiB upload was not multipart: %s", head)
	}
	// The CLI's default: a CRC32 of each part, and S3's composite sum.
	if !strings.Contains(head, `"ChecksumType": "COMPOSITE"`) || !regexp.MustCompile(`"ChecksumCRC32": "[A-Za-z0-9+/]{6}==-3"`).MatchString(head) {
		t.Errorf("the CLI's upload has no composite CRC32: %s", head)
	}
	// A copy within S3 of more than 8 MiB: UploadPartCopy, summed.
	mustCLI(t, s, a, dir, "s3", "cp", "s3://cli-bucket/up/big.bin", "s3://cli-bucket/up/copy.bin")
	mustCLI(t, s, a, dir, "s3", "cp", "s3://cli-bucket/up/copy.bin", "copy.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "copy.bin")); !bytes.Equal(got, big) {
		t.Fatalf("the copy has %d bytes, not the %d uploaded", len(got), len(big))
	}
	sync := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(sync, "sub"), 0o700)
	os.WriteFile(filepath.Join(sync, "one.txt"), []byte("1"), 0o600)
	os.WriteFile(filepath.Join(sync, "sub", "two.txt"), []byte("22"), 0o600)
	mustCLI(t, s, a, dir, "s3", "sync", sync, "s3://cli-bucket/tree")
	ls := mustCLI(t, s, a, dir, "s3", "ls", "--recursive", "s3://cli-bucket")
	for _, k := range []string{"up/big.bin", "tree/one.txt", "tree/sub/two.txt"} {
		if !strings.Contains(ls, k) {
			t.Errorf("ls lacks %s: %s", k, ls)
		}
	}
	if out := mustCLI(t, s, a, dir, "s3", "ls"); !strings.Contains(out, "cli-bucket") {
		t.Errorf("ls of buckets: %s", out)
	}
	mustCLI(t, s, a, dir, "s3", "rm", "s3://cli-bucket/tree/one.txt")

	// ACLs and policies through s3api.
	if _, err := s3CLI(t, s, b, dir, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "tree/sub/two.txt", "out.txt"); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("another account reads: %v", err)
	}
	mustCLI(t, s, a, dir, "s3api", "put-object-acl", "--bucket", "cli-bucket", "--key", "tree/sub/two.txt",
		"--grant-read", "id="+objects.CanonicalID(b.AccountID))
	mustCLI(t, s, b, dir, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "tree/sub/two.txt", "out.txt")
	if got, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(got) != "22" {
		t.Errorf("read with a grant: %q", got)
	}
	pol := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::cli-bucket"}]}`
	mustCLI(t, s, a, dir, "s3api", "put-bucket-policy", "--bucket", "cli-bucket", "--policy", pol)
	if out := mustCLI(t, s, b, dir, "s3", "ls", "s3://cli-bucket/tree/"); !strings.Contains(out, "sub/") {
		t.Errorf("another account lists under the policy: %s", out)
	}
	if _, err := s3CLI(t, s, a, dir, "s3api", "put-bucket-policy", "--bucket", "cli-bucket", "--policy", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cli-bucket/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`); err == nil || !strings.Contains(err.Error(), "MalformedPolicy") {
		t.Errorf("a policy with a condition: %v", err)
	}
	var acl struct{ Grants []map[string]any }
	json.Unmarshal([]byte(mustCLI(t, s, a, dir, "s3api", "get-bucket-acl", "--bucket", "cli-bucket")), &acl)
	if len(acl.Grants) != 1 {
		t.Errorf("bucket ACL: %+v", acl)
	}
	up := mustCLI(t, s, a, dir, "s3api", "create-multipart-upload", "--bucket", "cli-bucket", "--key", "left")
	var mu struct{ UploadId string }
	json.Unmarshal([]byte(up), &mu)
	if out := mustCLI(t, s, a, dir, "s3api", "list-multipart-uploads", "--bucket", "cli-bucket"); !strings.Contains(out, mu.UploadId) {
		t.Errorf("list-multipart-uploads: %s", out)
	}
	if _, err := s3CLI(t, s, a, dir, "s3", "rb", "s3://cli-bucket"); err == nil || !strings.Contains(err.Error(), "BucketNotEmpty") {
		t.Errorf("rb of a full bucket: %v", err)
	}
	mustCLI(t, s, a, dir, "s3api", "abort-multipart-upload", "--bucket", "cli-bucket", "--key", "left", "--upload-id", mu.UploadId)
	mustCLI(t, s, a, dir, "s3", "rb", "--force", "s3://cli-bucket")
	if out := mustCLI(t, s, a, dir, "s3", "ls"); strings.Contains(out, "cli-bucket") {
		t.Errorf("bucket after rb --force: %s", out)
	}
}

// TestS3Boto3 drives S3 with boto3. Its presigned URL is SigV4
// (signature_version s3v4): boto3's default for S3 presigning is SigV2,
// which openami does not take (A2's presigned S3 URLs, docs/STATUS.md).
func TestS3Boto3(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "boto-s3")
	script := `
import json, os, sys, urllib.request, boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
out = {}
s3.create_bucket(Bucket="py-bucket")
s3.put_object(Bucket="py-bucket", Key="a/b.txt", Body=b"0123456789", ContentType="text/plain")
out["get"] = s3.get_object(Bucket="py-bucket", Key="a/b.txt")["Body"].read().decode()
out["range"] = s3.get_object(Bucket="py-bucket", Key="a/b.txt", Range="bytes=2-4")["Body"].read().decode()
out["keys"] = [o["Key"] for o in s3.list_objects_v2(Bucket="py-bucket")["Contents"]]
out["v1"] = [o["Key"] for o in s3.list_objects(Bucket="py-bucket", Prefix="a/")["Contents"]]
try:
    s3.get_object(Bucket="py-bucket", Key="nope")
except botocore.exceptions.ClientError as err:
    out["missing"] = err.response["Error"]["Code"]
url = s3.generate_presigned_url("get_object", Params={"Bucket": "py-bucket", "Key": "a/b.txt"}, ExpiresIn=300)
try:
    out["presigned"] = urllib.request.urlopen(url).read().decode()
except Exception as err:
    out["presigned_error"] = str(err)
json.dump(out, sys.stdout)
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(netCLIEnv(t, c), "ENDPOINT="+s.URL)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	var out struct {
		Get, Range, Missing, Presigned string
		PresignedError                 string `json:"presigned_error"`
		Keys, V1                       []string
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
	if out.Get != "0123456789" || out.Range != "234" || len(out.Keys) != 1 || len(out.V1) != 1 || out.Missing != "NoSuchKey" {
		t.Errorf("boto3 saw %+v", out)
	}
	if out.Presigned != "0123456789" {
		t.Errorf("presigned GET: %+v", out)
	}
}
