package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// TestImportCommandInterruptTask: Ctrl-C while the import task runs (a
// stage of it shown) makes `openami image import` cancel it
// (CancelImportTask), wait for the server to clean up, and delete the
// object it uploaded: the task ends deleted as cancelled, and no image,
// snapshot, object or multipart upload is left.
func TestImportCommandInterruptTask(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "cmd-interrupt-task")
	dir := t.TempDir()
	disk := filepath.Join(dir, "big.raw")
	data := make([]byte, 384<<20) // random data: seconds of block writes
	rand.Read(data)
	data[446+4], data[510], data[511] = 0x83, 0x55, 0xAA // an MBR with a partition
	if err := os.WriteFile(disk, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "image", "import", disk, "--endpoint", s.URL, "--data-dir", t.TempDir(), "--bucket", "cut-task")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+a.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+a.SecretAccessKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var seen []string
	stage := ""
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if l := sc.Text(); strings.HasPrefix(l, "import-ami-") && strings.Contains(l, ": ") { // "import-ami-…: converting 40%"
			stage = l
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	for sc.Scan() {
		seen = append(seen, sc.Text())
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the interrupted import succeeded: %q", seen)
	}
	if stage == "" || !strings.Contains(strings.Join(seen, "\n"), "cancelled") {
		t.Fatalf("output: %q", seen)
	}
	t.Logf("interrupted at %q", stage)

	ctx := context.Background()
	ec := s.ec2(a, "us-east-1")
	tasks, err := ec.DescribeImportImageTasks(ctx, &ec2.DescribeImportImageTasksInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks.ImportImageTasks) != 1 {
		t.Fatalf("import tasks: %+v", tasks.ImportImageTasks)
	}
	if task := tasks.ImportImageTasks[0]; aws.ToString(task.Status) != "deleted" || aws.ToString(task.StatusMessage) != "User initiated task cancelation" {
		t.Errorf("task %s: %s", aws.ToString(task.Status), aws.ToString(task.StatusMessage))
	}
	imgs, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || len(imgs.Images) != 0 {
		t.Errorf("images left: %v, %v", imgs, err)
	}
	snaps, err := ec.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil || len(snaps.Snapshots) != 0 {
		t.Errorf("snapshots left: %v, %v", snaps.Snapshots, err)
	}
	s3c := s3.NewFromConfig(s.awsConfig(a, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
	objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cut-task")})
	if err != nil || len(objs.Contents) != 0 {
		t.Errorf("objects left: %v, %v", objs, err)
	}
	up, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("cut-task")})
	if err != nil || len(up.Uploads) != 0 {
		t.Errorf("multipart uploads left: %v, %v", up, err)
	}
}

// TestImportClientTokenWire: through the SDK, ImportSnapshot with the
// same ClientToken and request is the same task; with another request
// it is IdempotentParameterMismatch.
func TestImportClientTokenWire(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "token")
	ctx := context.Background()
	s3c := s3.NewFromConfig(s.awsConfig(a, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tok")}); err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 1<<20)
	disk[446+4], disk[510], disk[511] = 0x83, 0x55, 0xAA
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tok"), Key: aws.String("d.raw"), Body: bytes.NewReader(disk)}); err != nil {
		t.Fatal(err)
	}
	ec := s.ec2(a, "us-east-1")
	in := &ec2.ImportSnapshotInput{ClientToken: aws.String("once"), Description: aws.String("a"),
		DiskContainer: &types.SnapshotDiskContainer{UserBucket: &types.UserBucket{S3Bucket: aws.String("tok"), S3Key: aws.String("d.raw")}}}
	first, err := ec.ImportSnapshot(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ec.ImportSnapshot(ctx, in)
	if err != nil || aws.ToString(again.ImportTaskId) != aws.ToString(first.ImportTaskId) {
		t.Fatalf("again: %v, %v; want %s", again, err, aws.ToString(first.ImportTaskId))
	}
	in.Description = aws.String("b")
	_, err = ec.ImportSnapshot(ctx, in)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "IdempotentParameterMismatch" {
		t.Fatalf("another request with the token: %v, want IdempotentParameterMismatch", err)
	}
}
