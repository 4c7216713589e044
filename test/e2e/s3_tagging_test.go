package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3ObjectTagging: object tagging through aws-sdk-go-v2 (PutObject's
// and CreateMultipartUpload's Tagging, Put/Get/DeleteObjectTagging,
// TagCount on GET and HEAD, CopyObject's TaggingDirective, InvalidTag)
// and the aws CLI (s3api put-object --tagging, put-object-tagging,
// get-object-tagging).
func TestS3ObjectTagging(t *testing.T) {
	s := start(t, "sqlite")
	a, b := s.account(t, "tag-a"), s.account(t, "tag-b")
	ctx := context.Background()
	cl, other := s.s3Client(a, false), s.s3Client(b, false)
	bucket := "tagged"
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("k"), Body: strings.NewReader("body"),
		Tagging: aws.String("project=openami&team=images%20%2B%20tags"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	tagsOf := func(key string) map[string]string {
		t.Helper()
		out, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatalf("GetObjectTagging %s: %v", key, err)
		}
		m := map[string]string{}
		for _, tg := range out.TagSet {
			m[*tg.Key] = *tg.Value
		}
		return m
	}
	if m := tagsOf("k"); len(m) != 2 || m["project"] != "openami" || m["team"] != "images + tags" {
		t.Errorf("tags from PutObject: %v", m)
	}
	get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil || aws.ToInt32(get.TagCount) != 2 || aws.ToInt32(head.TagCount) != 2 {
		t.Errorf("TagCount: GetObject %d, HeadObject %d (%v)", aws.ToInt32(get.TagCount), aws.ToInt32(head.TagCount), err)
	}
	// Another account may read the public object, not its tags.
	if _, err := other.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: aws.String("k")}); s3Code(err) != "AccessDenied" {
		t.Errorf("other's GetObjectTagging: %v", err)
	}
	oget, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	oget.Body.Close()
	if oget.TagCount != nil {
		t.Errorf("other's GetObject counts tags it may not read: %d", *oget.TagCount)
	}

	set := func(kv ...string) error {
		var ts []types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			ts = append(ts, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: &bucket, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: ts}})
		return err
	}
	if err := set("stage", "prod"); err != nil {
		t.Fatal(err)
	}
	if err := set("dup", "1", "dup", "2"); s3Code(err) != "InvalidTag" {
		t.Errorf("duplicate keys: %v", err)
	}
	if err := set(strings.Repeat("k", 129), "v"); s3Code(err) != "InvalidTag" {
		t.Errorf("long key: %v", err)
	}
	var eleven []string
	for _, k := range "abcdefghijk" {
		eleven = append(eleven, string(k), "v")
	}
	if err := set(eleven...); s3Code(err) != "InvalidTag" {
		t.Errorf("eleven tags: %v", err)
	}
	if m := tagsOf("k"); len(m) != 1 || m["stage"] != "prod" {
		t.Errorf("tags after PutObjectTagging and refusals: %v", m)
	}

	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy"), CopySource: aws.String(bucket + "/k")}); err != nil {
		t.Fatal(err)
	}
	if m := tagsOf("copy"); len(m) != 1 || m["stage"] != "prod" {
		t.Errorf("copy, TaggingDirective COPY: %v", m)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy2"), CopySource: aws.String(bucket + "/k"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("new=tag")}); err != nil {
		t.Fatal(err)
	}
	if m := tagsOf("copy2"); len(m) != 1 || m["new"] != "tag" {
		t.Errorf("copy, TaggingDirective REPLACE: %v", m)
	}

	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), Tagging: aws.String("part=yes")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("only part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag,
			ChecksumCRC32: part.ChecksumCRC32}}}}); err != nil {
		t.Fatal(err)
	}
	if m := tagsOf("mp"); len(m) != 1 || m["part"] != "yes" {
		t.Errorf("multipart upload's tags: %v", m)
	}

	if _, err := cl.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: &bucket, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if m := tagsOf("k"); len(m) != 0 {
		t.Errorf("after DeleteObjectTagging: %v", m)
	}

	// The aws CLI.
	dir := t.TempDir()
	mustCLI(t, s, a, dir, "s3api", "put-object", "--bucket", bucket, "--key", "cli", "--tagging", "from=cli")
	mustCLI(t, s, a, dir, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli",
		"--tagging", `TagSet=[{Key=owner,Value=team a},{Key=env,Value=dev}]`)
	out := mustCLI(t, s, a, dir, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli", "--output", "json")
	var got struct{ TagSet []struct{ Key, Value string } }
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.TagSet) != 2 || got.TagSet[0].Key != "owner" ||
		got.TagSet[0].Value != "team a" || got.TagSet[1].Key != "env" {
		t.Errorf("get-object-tagging: %s %v", out, err)
	}
	if _, err := s3CLI(t, s, a, dir, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli",
		"--tagging", `TagSet=[{Key=aws:x,Value=y}]`); err == nil || !strings.Contains(err.Error(), "InvalidTag") {
		t.Errorf("put-object-tagging aws:x: %v", err)
	}
	mustCLI(t, s, a, dir, "s3api", "delete-object-tagging", "--bucket", bucket, "--key", "cli")
}
