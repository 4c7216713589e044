package cluster

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DB opens the cluster's database for a test to look at what the nodes
// recorded (leases, tasks, rows a kill must not leave behind), closed
// when the test ends. Tests read through it; changing rows under running
// nodes is the test's own risk.
func (c *Cluster) DB(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// WaitLog waits until a line of the node's log (from the start of its
// current run or earlier) matches pattern and returns it; it fails the
// test after timeout. A kill at a chosen point of a task is WaitLog on
// the line the task logs there, then Kill.
func (n *Node) WaitLog(t testing.TB, pattern string, timeout time.Duration) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(n.Log.String(), "\n") {
			if re.MatchString(line) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d logged no line matching %q within %s; its log ends:\n%s", n.Index, pattern, timeout, tail(n.Log.String(), 4096))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// MinIOClient returns an S3 client of the cluster's MinIO itself (root
// credentials, path-style), to look at the blobs the nodes stored.
func (c *Cluster) MinIOClient() *s3.Client {
	return s3.NewFromConfig(aws.Config{
		Region:       c.MinIO.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.MinIO.AccessKeyID, c.MinIO.SecretAccessKey, ""),
		BaseEndpoint: aws.String(c.MinIO.Endpoint),
	}, func(o *s3.Options) { o.UsePathStyle = true })
}

// versionBucket creates the cluster's bucket with versioning enabled
// (Options.Versioned); the nodes find it made.
func (c *Cluster) versionBucket(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	mc := c.MinIOClient()
	if _, err := mc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &c.MinIO.Bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &c.MinIO.Bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("enable versioning on MinIO: %v", err)
	}
	// A blob written twice must show two versions, or BlobWrites would
	// count nothing: write a probe twice, count, and remove it.
	probe := aws.String("probe/written-twice")
	for range 2 {
		if _, err := mc.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.MinIO.Bucket, Key: probe, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := mc.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &c.MinIO.Bucket, Prefix: probe})
	if err != nil || len(out.Versions) != 2 {
		t.Fatalf("MinIO keeps %d versions of a blob written twice (%v), want 2: versioning does not count writes", len(out.Versions), err)
	}
	for _, v := range out.Versions {
		if _, err := mc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.MinIO.Bucket, Key: probe, VersionId: v.VersionId}); err != nil {
			t.Fatal(err)
		}
	}
}

// BlobWrites counts, for every blob key under the block store's
// REGION/KIND/ prefix (KIND "chunks" or "objects"), how many times it was
// written: its versions, deletions not counted. The bucket must be
// versioned (Options.Versioned).
func (c *Cluster) BlobWrites(t testing.TB, region, kind string) map[string]int {
	t.Helper()
	writes := map[string]int{}
	in := &s3.ListObjectVersionsInput{Bucket: &c.MinIO.Bucket, Prefix: aws.String("openami/" + region + "/" + kind + "/")}
	for {
		out, err := c.MinIOClient().ListObjectVersions(context.Background(), in)
		if err != nil {
			t.Fatalf("list versions in MinIO: %v", err)
		}
		for _, v := range out.Versions {
			writes[aws.ToString(v.Key)]++
		}
		if !aws.ToBool(out.IsTruncated) {
			return writes
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// BlobDeletes counts, for every blob key under the block store's
// REGION/KIND/ prefix, how many times it was deleted (its delete
// markers), and which keys are deleted now (their latest version is a
// delete marker). The bucket must be versioned (Options.Versioned).
func (c *Cluster) BlobDeletes(t testing.TB, region, kind string) (deletes map[string]int, gone map[string]bool) {
	t.Helper()
	deletes, gone = map[string]int{}, map[string]bool{}
	in := &s3.ListObjectVersionsInput{Bucket: &c.MinIO.Bucket, Prefix: aws.String("openami/" + region + "/" + kind + "/")}
	for {
		out, err := c.MinIOClient().ListObjectVersions(context.Background(), in)
		if err != nil {
			t.Fatalf("list versions in MinIO: %v", err)
		}
		for _, m := range out.DeleteMarkers {
			deletes[aws.ToString(m.Key)]++
			if aws.ToBool(m.IsLatest) {
				gone[aws.ToString(m.Key)] = true
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return deletes, gone
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}
