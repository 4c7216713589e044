package testenv

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestMinIO(t *testing.T) {
	a, b := MinIO(t), MinIO(t)
	if a.Endpoint != b.Endpoint {
		t.Errorf("two calls started two servers: %s and %s", a.Endpoint, b.Endpoint)
	}
	if a.Bucket == b.Bucket {
		t.Errorf("two calls returned the same bucket %q", a.Bucket)
	}
	resp, err := http.Get(a.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health/ready: %s", resp.Status)
	}

	// The credentials work, and the bucket is new.
	ctx := context.Background()
	c := s3.New(s3.Options{
		Region:       a.Region,
		BaseEndpoint: aws.String(a.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, ""),
		UsePathStyle: true,
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &a.Bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", a.Bucket, err)
	}
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, bk := range out.Buckets {
		found = found || aws.ToString(bk.Name) == a.Bucket
		if aws.ToString(bk.Name) == b.Bucket {
			t.Errorf("bucket %s exists before anyone created it", b.Bucket)
		}
	}
	if !found {
		t.Errorf("bucket %s not listed after creation", a.Bucket)
	}
}

// .ci/run pre-builds the MinIO that MinIO would build, so that no test
// waits minutes for it.
func TestCIBuildsSameMinIO(t *testing.T) {
	b, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "MINIO_VERSION="+MinIOVersion+"\n") {
		t.Errorf(".ci/run does not pre-build minio@%s", MinIOVersion)
	}
}
