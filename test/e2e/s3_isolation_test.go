package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/openami/openami"
	"github.com/openami/openami/rules/objects"
)

// isoOps are the operations of the isolation matrix, by letter: GetObject,
// HeadObject, ListObjectsV2, PutObject, GetObjectAcl.
const isoOps = "GHLPA"

// isoCase is one bucket set up one way and, for each caller, the
// operations (letters of isoOps) S3 lets it do; the rest are refused.
// "ec2" is EC2 itself reading the object as a launch reads a bundle
// part (only G applies).
type isoCase struct {
	name    string
	setup   func(t *testing.T, bucket string)
	allowed map[string]string
}

// TestS3Isolation is the cross-account matrix of S3: for each canned ACL,
// a bucket policy granting another account GetObject and a Deny policy,
// which of the owner, another account, an anonymous caller and EC2 may
// GetObject, HeadObject, ListObjectsV2, PutObject and GetObjectAcl, with
// S3's answers (AccessDenied; 403 without a body to HEAD). And nothing
// leaks: another account's ListBuckets shows none of the owner's
// buckets, its HeadBucket of a private bucket is 403 (404 only for a
// bucket that does not exist), no refusal names the owner's account, and
// CopyObject, UploadPartCopy and RegisterImage read their sources as their
// caller.
func TestS3Isolation(t *testing.T) {
	ctx := context.Background()
	s := start(t, "sqlite")
	owner, other, third := s.account(t, "owner"), s.account(t, "other"), s.account(t, "third")
	clients := map[string]*s3.Client{
		"owner": s.s3Client(owner, false),
		"other": s.s3Client(other, false),
		"anon": s3.NewFromConfig(s.awsConfig(owner, "us-east-1"), func(o *s3.Options) {
			o.UsePathStyle = true
			o.Credentials = aws.AnonymousCredentials{}
		}),
	}
	oc := clients["owner"]
	// canned makes the bucket and its object "k" with a canned ACL.
	canned := func(acl string) func(t *testing.T, bucket string) {
		return func(t *testing.T, bucket string) {
			if _, err := oc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ACL: types.BucketCannedACL(acl)}); err != nil {
				t.Fatal(err)
			}
			if _, err := oc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("secret"),
				ACL: types.ObjectCannedACL(acl)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// written makes a private bucket whose ACL lets the other account
	// write, and the other account's object "k" in it with a canned ACL.
	written := func(acl string) func(t *testing.T, bucket string) {
		return func(t *testing.T, bucket string) {
			if _, err := oc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			grant := fmt.Sprintf("id=%s", objects.CanonicalID(other.AccountID))
			if _, err := oc.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String(bucket), GrantWrite: aws.String(grant),
				GrantFullControl: aws.String("id=" + objects.CanonicalID(owner.AccountID))}); err != nil {
				t.Fatal(err)
			}
			if _, err := clients["other"].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("secret"),
				ACL: types.ObjectCannedACL(acl)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// policy makes a bucket and object with a canned ACL and a policy.
	policy := func(acl, doc string) func(t *testing.T, bucket string) {
		return func(t *testing.T, bucket string) {
			canned(acl)(t, bucket)
			doc = strings.ReplaceAll(doc, "BUCKET", bucket)
			if _, err := oc.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []isoCase{
		{"private", canned("private"), map[string]string{"owner": "GHLPA"}},
		{"public-read", canned("public-read"), map[string]string{"owner": "GHLPA", "other": "GHL", "anon": "GHL", "ec2": "G"}},
		{"authenticated-read", canned("authenticated-read"), map[string]string{"owner": "GHLPA", "other": "GHL", "ec2": "G"}},
		{"aws-exec-read", canned("aws-exec-read"), map[string]string{"owner": "GHLPA", "ec2": "G"}},
		// The other account wrote the object: it owns it; the bucket's
		// owner reads it (and, with full control, its ACL) and may put.
		{"bucket-owner-read", written("bucket-owner-read"), map[string]string{"owner": "GHLP", "other": "GHPA"}},
		{"bucket-owner-full-control", written("bucket-owner-full-control"), map[string]string{"owner": "GHLPA", "other": "GHPA"}},
		{"policy-grant", policy("private", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+other.AccountID+`:root"},`+
			`"Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}]}`), map[string]string{"owner": "GHLPA", "other": "GH"}},
		// A Deny refuses everybody, the owner too, what it names; a
		// public bucket otherwise.
		{"policy-deny", policy("public-read", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",`+
			`"Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*"}]}`), map[string]string{"owner": "LPA", "other": "L", "anon": "L"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bucket := "iso-" + tc.name
			tc.setup(t, bucket)
			for _, who := range []string{"owner", "other", "anon"} {
				for _, op := range isoOps {
					err := isoDo(ctx, clients[who], bucket, op)
					want := strings.ContainsRune(tc.allowed[who], op)
					switch {
					case want && err != nil:
						t.Errorf("%s %c: %v, want success", who, op, err)
					case !want && err == nil:
						t.Errorf("%s %c: success, want AccessDenied", who, op)
					case !want && !isAccessDenied(op, err):
						t.Errorf("%s %c: %v, want AccessDenied", who, op, err)
					case !want && strings.Contains(err.Error(), owner.AccountID):
						t.Errorf("%s %c: the refusal names the owner's account: %v", who, op, err)
					}
				}
			}
			r, _, err := s.svc.Objects().Open(ctx, objects.EC2(), bucket, "k")
			if err == nil {
				r.Close()
			}
			if want := strings.Contains(tc.allowed["ec2"], "G"); want != (err == nil) {
				t.Errorf("EC2 reading the object: %v, want allowed=%v", err, want)
			} else if err != nil && !errors.Is(err, openami.ErrUnauthorized) {
				t.Errorf("EC2 reading the object: %v, want access denied", err)
			}
		})
	}

	// Nor through copies: CopyObject and UploadPartCopy read their source
	// as the caller, and RegisterImage reads the manifest as the caller.
	otc := clients["other"]
	if _, err := otc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("xfer-others")}); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]bool{"iso-private/k": false, "iso-aws-exec-read/k": false, "iso-policy-grant/k": true, "iso-public-read/k": true} {
		_, err := otc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("xfer-others"), Key: aws.String("copy"), CopySource: aws.String(src)})
		if want != (err == nil) || !want && s3Code(err) != "AccessDenied" {
			t.Errorf("another account's CopyObject of %s: %v, want allowed=%v", src, err, want)
		}
		cu, err := otc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("xfer-others"), Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = otc.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("xfer-others"), Key: aws.String("mp"), UploadId: cu.UploadId,
			PartNumber: aws.Int32(1), CopySource: aws.String(src)})
		if want != (err == nil) || !want && s3Code(err) != "AccessDenied" {
			t.Errorf("another account's UploadPartCopy of %s: %v, want allowed=%v", src, err, want)
		}
	}
	_, err := s.ec2(other, "us-east-1").RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("stolen"), ImageLocation: aws.String("iso-aws-exec-read/k")})
	if code := errorCode(t, err); code != "InvalidManifest" && code != "AccessDenied" {
		t.Errorf("another account's RegisterImage of a manifest it cannot read: %v", err)
	} else if strings.Contains(err.Error(), owner.AccountID) {
		t.Errorf("RegisterImage's refusal names the owner's account: %v", err)
	}

	// Nothing leaks through the bucket's existence.
	lb, err := clients["other"].ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range lb.Buckets {
		if strings.HasPrefix(*b.Name, "iso-") {
			t.Errorf("another account lists %s", *b.Name)
		}
	}
	tc := s.s3Client(third, false)
	_, err = tc.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("iso-private")})
	if status(err) != http.StatusForbidden {
		t.Errorf("another account's HeadBucket of a private bucket: %v, want 403", err)
	}
	_, err = tc.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("iso-nobody-has-this")})
	if status(err) != http.StatusNotFound {
		t.Errorf("HeadBucket of no bucket: %v, want 404", err)
	}
	_, err = clients["anon"].HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("iso-private")})
	if status(err) != http.StatusForbidden {
		t.Errorf("anonymous HeadBucket of a private bucket: %v, want 403", err)
	}
	// A key that does not exist in a bucket the caller cannot list is
	// AccessDenied, not NoSuchKey (keys do not leak).
	_, err = tc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("iso-private"), Key: aws.String("absent")})
	if s3Code(err) != "AccessDenied" {
		t.Errorf("another account's GetObject of an absent key: %v, want AccessDenied", err)
	}
	_, err = tc.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("iso-private")})
	if s3Code(err) != "AccessDenied" {
		t.Errorf("another account's GetBucketLocation: %v, want AccessDenied", err)
	}
}

// isoDo does one operation of isoOps on the bucket's object "k".
func isoDo(ctx context.Context, cl *s3.Client, bucket string, op rune) error {
	b, k := aws.String(bucket), aws.String("k")
	switch op {
	case 'G':
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
		if err != nil {
			return err
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err == nil && !bytes.Equal(got, []byte("secret")) {
			err = fmt.Errorf("read %q", got)
		}
		return err
	case 'H':
		_, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
		return err
	case 'L':
		out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
		if err == nil && len(out.Contents) != 1 {
			err = fmt.Errorf("listed %d objects", len(out.Contents))
		}
		return err
	case 'P':
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("new"), Body: strings.NewReader("x")})
		if err == nil {
			_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("new")})
		}
		return err
	case 'A':
		_, err := cl.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: k})
		return err
	}
	panic("no such operation")
}

// isAccessDenied reports whether err is S3's refusal: AccessDenied, or a
// bare 403 to a HEAD.
func isAccessDenied(op rune, err error) bool {
	if op == 'H' {
		return status(err) == http.StatusForbidden
	}
	return s3Code(err) == "AccessDenied" && status(err) == http.StatusForbidden
}

// status returns the HTTP status of an SDK error, 0 for none.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
