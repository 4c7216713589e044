package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// importDisk writes a small qcow2 disk (4 MiB, an MBR with one partition
// and some data) into dir and returns its name.
func importDisk(t *testing.T, dir string) string {
	t.Helper()
	raw := make([]byte, 4<<20)
	for i := 1 << 20; i < 2<<20; i++ {
		raw[i] = byte(i * 7)
	}
	raw[446+4], raw[510], raw[511] = 0x83, 0x55, 0xAA
	src := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(src, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", src, filepath.Join(dir, "disk.qcow2")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	return "disk.qcow2"
}

// TestImportCLI: the aws CLI's import-snapshot and import-image of a
// qcow2 uploaded with aws s3 cp, waited on with describe-*-tasks; the
// imported image is an available EBS-backed AMI over the snapshot.
func TestImportCLI(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "importer")
	dir := t.TempDir()
	name := importDisk(t, dir)
	mustCLI(t, s, a, dir, "s3", "mb", "s3://disks")
	mustCLI(t, s, a, dir, "s3", "cp", name, "s3://disks/"+name)

	var snap struct{ ImportTaskId string }
	json.Unmarshal([]byte(mustCLI(t, s, a, dir, "ec2", "import-snapshot", "--description", "cli",
		"--disk-container", "Format=QCOW2,UserBucket={S3Bucket=disks,S3Key="+name+"}")), &snap)
	if snap.ImportTaskId == "" {
		t.Fatal("import-snapshot returned no task id")
	}
	var st struct {
		ImportSnapshotTasks []struct {
			SnapshotTaskDetail struct{ Status, StatusMessage, SnapshotId, Format string }
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		json.Unmarshal([]byte(mustCLI(t, s, a, dir, "ec2", "describe-import-snapshot-tasks", "--import-task-ids", snap.ImportTaskId)), &st)
		if d := st.ImportSnapshotTasks[0].SnapshotTaskDetail; d.Status != "active" || time.Now().After(deadline) {
			if d.Status != "completed" || d.SnapshotId == "" || d.Format != "QCOW2" {
				t.Fatalf("import-snapshot task: %+v", d)
			}
			break
		}
	}

	var img struct{ ImportTaskId string }
	json.Unmarshal([]byte(mustCLI(t, s, a, dir, "ec2", "import-image", "--architecture", "x86_64",
		"--disk-containers", "Format=qcow2,Url=s3://disks/"+name)), &img)
	var it struct {
		ImportImageTasks []struct{ Status, StatusMessage, ImageId string }
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		json.Unmarshal([]byte(mustCLI(t, s, a, dir, "ec2", "describe-import-image-tasks", "--import-task-ids", img.ImportTaskId)), &it)
		if task := it.ImportImageTasks[0]; task.Status != "active" || time.Now().After(deadline) {
			if task.Status != "completed" || task.ImageId == "" {
				t.Fatalf("import-image task: %+v", task)
			}
			break
		}
	}
	out, err := s.ec2(a, "us-east-1").DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{it.ImportImageTasks[0].ImageId}})
	if err != nil {
		t.Fatal(err)
	}
	if im := out.Images[0]; im.State != "available" || aws.ToString(im.RootDeviceName) != "/dev/sda1" {
		t.Errorf("imported image: %s %s", im.State, aws.ToString(im.RootDeviceName))
	}
}

// TestImportCommand: `openami image import` of a qcow2 uploads it,
// imports it and prints the AMI's id, which RunInstances launches.
func TestImportCommand(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "cmd-importer")
	dir := t.TempDir()
	name := importDisk(t, dir)
	cmd := exec.Command(binary(t), "image", "import", filepath.Join(dir, name), "--endpoint", s.URL, "--region", "us-east-1",
		"--data-dir", t.TempDir(), "--bucket", "my-disks")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+a.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+a.SecretAccessKey)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openami image import: %v: %s", err, stderr.String())
	}
	// The image id alone on stdout (AMI=$(openami image import FILE)),
	// the progress on stderr.
	imageID := strings.TrimSuffix(string(out), "\n")
	if !strings.HasPrefix(imageID, "ami-") || strings.Contains(imageID, "\n") || !strings.Contains(stderr.String(), "upload ") ||
		!strings.Contains(stderr.String(), "import task import-ami-") {
		t.Fatalf("stdout %q, stderr: %s", out, stderr.String())
	}
	e := s.ec2(a, "us-east-1")
	run, err := e.RunInstances(context.Background(), &ec2.RunInstancesInput{ImageId: aws.String(imageID),
		InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatalf("RunInstances of the imported image: %v", err)
	}
	if len(run.Instances) != 1 {
		t.Fatalf("RunInstances: %+v", run.Instances)
	}
}

// TestImportBoto3: boto3 uploads a qcow2, imports it with ImportSnapshot
// naming it by a path-style URL of the endpoint, waits with
// describe_import_snapshot_tasks (filtered by task-state), and gets
// EC2's errors for an unknown format and a missing object.
func TestImportBoto3(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "boto-import")
	dir := t.TempDir()
	name := importDisk(t, dir)
	script := `
import json, os, sys, time, boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
ec2 = boto3.client("ec2", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
s3.create_bucket(Bucket="py-disks")
s3.upload_file(os.environ["DISK"], "py-disks", "d.qcow2")
out = {}
task = ec2.import_snapshot(Description="py", DiskContainer={"Format": "QCOW2", "Url": os.environ["ENDPOINT"] + "/py-disks/d.qcow2"},
    TagSpecifications=[{"ResourceType": "import-snapshot-task", "Tags": [{"Key": "k", "Value": "v"}]}])
tid = task["ImportTaskId"]
for _ in range(300):
    d = ec2.describe_import_snapshot_tasks(ImportTaskIds=[tid])["ImportSnapshotTasks"][0]
    if d["SnapshotTaskDetail"]["Status"] != "active":
        break
    time.sleep(0.2)
out["detail"] = d["SnapshotTaskDetail"]
out["tags"] = d.get("Tags", [])
out["completed"] = [t["ImportTaskId"] for t in ec2.describe_import_snapshot_tasks(Filters=[{"Name": "task-state", "Values": ["completed"]}])["ImportSnapshotTasks"]]
out["active"] = [t["ImportTaskId"] for t in ec2.describe_import_snapshot_tasks(Filters=[{"Name": "task-state", "Values": ["active"]}])["ImportSnapshotTasks"]]
out["snapshot"] = ec2.describe_snapshots(SnapshotIds=[d["SnapshotTaskDetail"]["SnapshotId"]])["Snapshots"][0]["State"]
out["id"] = tid
for key, container in [("format", {"Format": "ISO", "UserBucket": {"S3Bucket": "py-disks", "S3Key": "d.qcow2"}}),
                       ("missing", {"UserBucket": {"S3Bucket": "py-disks", "S3Key": "nope"}})]:
    try:
        ec2.import_snapshot(DiskContainer=container)
    except botocore.exceptions.ClientError as err:
        out[key] = err.response["Error"]["Code"]
json.dump(out, sys.stdout, default=str)
`
	var out struct {
		ID     string
		Detail struct {
			Status, SnapshotId, Format, Progress string
			UserBucket                           struct{ S3Bucket, S3Key string }
		}
		Tags              []struct{ Key, Value string }
		Completed, Active []string
		Snapshot          string
		Format, Missing   string
	}
	boto3(t, s, c, script, &out, "DISK="+filepath.Join(dir, name))
	if out.Detail.Status != "completed" || out.Detail.SnapshotId == "" || out.Detail.Format != "QCOW2" ||
		out.Detail.UserBucket.S3Bucket != "py-disks" || out.Detail.UserBucket.S3Key != "d.qcow2" {
		t.Errorf("task detail: %+v", out.Detail)
	}
	if len(out.Tags) != 1 || out.Tags[0].Key != "k" {
		t.Errorf("task tags: %+v", out.Tags)
	}
	if len(out.Completed) != 1 || out.Completed[0] != out.ID || len(out.Active) != 0 {
		t.Errorf("task-state filters: completed %q, active %q", out.Completed, out.Active)
	}
	if out.Snapshot != "completed" {
		t.Errorf("the imported snapshot is %s", out.Snapshot)
	}
	if out.Format != "InvalidParameterValue" || out.Missing == "" {
		t.Errorf("errors: unknown format %q, missing object %q", out.Format, out.Missing)
	}
}

// TestImportCommandInterrupt: Ctrl-C during the upload of `openami image
// import` aborts the multipart upload and starts no import task.
func TestImportCommandInterrupt(t *testing.T) {
	s := start(t, "sqlite")
	a := s.account(t, "cmd-interrupt")
	dir := t.TempDir()
	big := filepath.Join(dir, "big.raw")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30) // zeros: 64 parts of 16 MiB, seconds to upload
	f.Close()
	cmd := exec.Command(binary(t), "image", "import", big, "--endpoint", s.URL, "--data-dir", t.TempDir(), "--bucket", "cut")
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
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), "upload ") {
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
	if !strings.Contains(strings.Join(seen, "\n"), "upload: interrupt") {
		t.Errorf("output: %q", seen)
	}
	ctx := context.Background()
	up, err := s3.NewFromConfig(s.awsConfig(a, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true }).
		ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("cut")})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Uploads) != 0 {
		t.Errorf("%d multipart uploads left", len(up.Uploads))
	}
	tasks, err := s.ec2(a, "us-east-1").DescribeImportImageTasks(ctx, &ec2.DescribeImportImageTasksInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks.ImportImageTasks) != 0 {
		t.Errorf("import tasks: %+v", tasks.ImportImageTasks)
	}
}
