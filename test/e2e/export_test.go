package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/openami/openami/rules/identity"
)

// TestExportImageCLI: the aws CLI exports an image to VMDK into a bucket
// of the same endpoint, waits for the task, copies the object down, and
// qemu-img finds it equal to the image's disk. A missing bucket and an
// unknown format are refused with InvalidParameter(Value).
func TestExportImageCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	s := start(t, "sqlite")
	a := s.account(t, "exporter")
	ctx := context.Background()
	blocks := map[int32][]byte{0: randomBlock(), 7: randomBlock()}
	started, err := s.ebs(a).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	snap := *started.SnapshotId
	putBlocks(t, s, a, snap, blocks)
	waitCompleted(t, s, a, snap)
	e := s.ec2(a, "us-east-1")
	img, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("export-me"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(snap)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mustCLI(t, s, a, dir, "s3", "mb", "s3://exports")
	out := runCLI(t, s, a, "ec2", "export-image", "--image-id", *img.ImageId, "--disk-image-format", "VMDK",
		"--s3-export-location", "S3Bucket=exports,S3Prefix=vms/", "--role-name", "vmimport",
		"--tag-specifications", "ResourceType=export-image-task,Tags=[{Key=src,Value=cli}]")
	id, _ := out["ExportImageTaskId"].(string)
	if id == "" || out["Status"] != "active" {
		t.Fatalf("export-image: %v", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := runCLI(t, s, a, "ec2", "describe-export-image-tasks", "--export-image-task-ids", id)
		task := d["ExportImageTasks"].([]any)[0].(map[string]any)
		if task["Status"] == "completed" {
			break
		}
		if task["Status"] != "active" || time.Now().After(deadline) {
			t.Fatalf("task: %v", task)
		}
		time.Sleep(100 * time.Millisecond)
	}
	exportTaskTags(t, s, a, id)
	mustCLI(t, s, a, dir, "s3", "cp", "s3://exports/vms/"+id+".vmdk", "disk.vmdk")
	raw := filepath.Join(dir, "disk.raw")
	fh, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	fh.Truncate(1 << 30)
	for i, b := range blocks {
		if _, err := fh.WriteAt(b, int64(i)*blockSize); err != nil {
			t.Fatal(err)
		}
	}
	fh.Close()
	if cmp, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw, filepath.Join(dir, "disk.vmdk")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img compare: %v\n%s", err, cmp)
	}
	for _, c := range []struct {
		in   ec2.ExportImageInput
		code string
	}{
		{ec2.ExportImageInput{ImageId: img.ImageId, DiskImageFormat: types.DiskImageFormatVmdk, S3ExportLocation: &types.ExportTaskS3LocationRequest{S3Bucket: aws.String("nope")}}, "InvalidParameterValue"},
		{ec2.ExportImageInput{ImageId: img.ImageId, DiskImageFormat: "QCOW2", S3ExportLocation: &types.ExportTaskS3LocationRequest{S3Bucket: aws.String("exports")}}, "InvalidParameterValue"},
		{ec2.ExportImageInput{ImageId: aws.String("ami-0123456789abcdef0"), DiskImageFormat: types.DiskImageFormatRaw, S3ExportLocation: &types.ExportTaskS3LocationRequest{S3Bucket: aws.String("exports")}}, "InvalidAMIID.NotFound"},
	} {
		_, err := e.ExportImage(ctx, &c.in)
		var ae smithy.APIError
		if !errorsAs(err, &ae) || ae.ErrorCode() != c.code {
			t.Errorf("ExportImage %+v: %v, want %s", c.in, err, c.code)
		}
	}
	_, err = e.CancelExportTask(ctx, &ec2.CancelExportTaskInput{ExportTaskId: aws.String(id)})
	var ae smithy.APIError
	if !errorsAs(err, &ae) || ae.ErrorCode() != "IncorrectState" {
		t.Errorf("cancel a completed task: %v", err)
	}
}

// TestStoreAndRestoreImage: CreateStoreImageTask writes an image into a
// bucket, DescribeStoreImageTasks follows it, CreateRestoreImageTask
// makes a new image of it, pending until its snapshot is written, whose
// snapshot reads back (EBS direct) as the original's.
func TestStoreAndRestoreImage(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "storer")
	ctx := context.Background()
	blocks := map[int32][]byte{1: randomBlock(), 9: randomBlock()}
	started, err := s.ebs(a).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	putBlocks(t, s, a, *started.SnapshotId, blocks)
	waitCompleted(t, s, a, *started.SnapshotId)
	e := s.ec2(a, "us-east-1")
	img, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("store-me"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(*started.SnapshotId)})
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, s, a, t.TempDir(), "s3", "mb", "s3://stored")
	st, err := e.CreateStoreImageTask(ctx, &ec2.CreateStoreImageTaskInput{ImageId: img.ImageId, Bucket: aws.String("stored"),
		S3ObjectTags: []types.S3ObjectTag{{Key: aws.String("purpose"), Value: aws.String("backup")}}})
	if err != nil {
		t.Fatal(err)
	}
	if *st.ObjectKey != *img.ImageId+".bin" {
		t.Errorf("object key %s", *st.ObjectKey)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := e.DescribeStoreImageTasks(ctx, &ec2.DescribeStoreImageTasksInput{ImageIds: []string{*img.ImageId}})
		if err != nil || len(d.StoreImageTaskResults) != 1 {
			t.Fatalf("describe store tasks: %v, %v", d, err)
		}
		r := d.StoreImageTaskResults[0]
		if *r.StoreTaskState == "Completed" {
			if *r.ProgressPercentage != 100 || *r.S3objectKey != *st.ObjectKey || *r.Bucket != "stored" {
				t.Errorf("completed task %+v", r)
			}
			break
		}
		if *r.StoreTaskState != "InProgress" || time.Now().After(deadline) {
			t.Fatalf("store task: %s %v", *r.StoreTaskState, r.StoreTaskFailureReason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ot, err := s.s3Client(a, false).GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("stored"), Key: st.ObjectKey})
	if err != nil || len(ot.TagSet) != 1 || *ot.TagSet[0].Key != "purpose" || *ot.TagSet[0].Value != "backup" {
		t.Errorf("the stored object's tags: %+v %v", ot, err)
	}
	rs, err := e.CreateRestoreImageTask(ctx, &ec2.CreateRestoreImageTaskInput{Bucket: aws.String("stored"), ObjectKey: st.ObjectKey, Name: aws.String("restored")})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewImageAvailableWaiter(e).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*rs.ImageId}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*rs.ImageId}})
	if err != nil {
		t.Fatal(err)
	}
	restored := out.Images[0]
	snap := *restored.BlockDeviceMappings[0].Ebs.SnapshotId
	if *restored.Name != "restored" || snap == *started.SnapshotId {
		t.Errorf("restored image %s over %s", *restored.Name, snap)
	}
	sameBlocks(t, readSnapshot(t, s, a, snap), blocks)
}

// exportTaskTags: an export task's tags (from ExportImage's
// TagSpecifications) are in DescribeTags, and CreateTags and DeleteTags
// change them, which DescribeExportImageTasks shows; another account's
// CreateTags on the task is InvalidExportTaskID.NotFound.
func exportTaskTags(t *testing.T, s *server, a identity.Credentials, id string) {
	t.Helper()
	tagsOf := func() (described, tasks map[string]string) {
		described, tasks = map[string]string{}, map[string]string{}
		d := runCLI(t, s, a, "ec2", "describe-tags", "--filters", "Name=resource-id,Values="+id)
		for _, x := range d["Tags"].([]any) {
			row := x.(map[string]any)
			if row["ResourceType"] != "export-image-task" {
				t.Errorf("describe-tags row %v", row)
			}
			described[row["Key"].(string)] = row["Value"].(string)
		}
		task := runCLI(t, s, a, "ec2", "describe-export-image-tasks", "--export-image-task-ids", id)["ExportImageTasks"].([]any)[0].(map[string]any)
		if ts, ok := task["Tags"].([]any); ok {
			for _, x := range ts {
				tg := x.(map[string]any)
				tasks[tg["Key"].(string)] = tg["Value"].(string)
			}
		}
		return described, tasks
	}
	if d, k := tagsOf(); len(d) != 1 || d["src"] != "cli" || len(k) != 1 || k["src"] != "cli" {
		t.Errorf("tags from TagSpecifications: describe-tags %v, the task %v", d, k)
	}
	runCLI(t, s, a, "ec2", "create-tags", "--resources", id, "--tags", "Key=stage,Value=test")
	runCLI(t, s, a, "ec2", "delete-tags", "--resources", id, "--tags", "Key=src")
	if d, k := tagsOf(); len(d) != 1 || d["stage"] != "test" || len(k) != 1 || k["stage"] != "test" {
		t.Errorf("tags after create-tags and delete-tags: describe-tags %v, the task %v", d, k)
	}
	_, err := runCLIErr(t, s, s.account(t, "not-the-exporter"), "ec2", "create-tags", "--resources", id, "--tags", "Key=x,Value=y")
	wantCLICode(t, err, "InvalidExportTaskID.NotFound")
}
