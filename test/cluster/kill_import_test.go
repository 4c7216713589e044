package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
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
)

// TestKillImportHolder kills -9 the node that holds an ImportSnapshot
// task's lease at a random point of the import (after a random number of
// its chunks were stored, from none to half), and checks that another
// node takes the task over once the lease expires and starts it over,
// that the task completes with one snapshot, the killed run's leaving
// none behind, and that the snapshot reads back as the disk through the
// third node.
func TestKillImportHolder(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is not installed; .ci/run installs it (qemu-utils)")
	}
	const blocks = 64 // 32 MiB of random data: every block stored
	c := killCluster(t, 8)
	ctx := context.Background()
	alice := c.Account(t, "alice")
	db := c.DB(t)

	// A 32 MiB qcow2 of random blocks, uploaded through node 0.
	raw := make([]byte, blocks*512<<10)
	rand.Read(raw)
	raw[446+4], raw[510], raw[511] = 0x83, 0x55, 0xAA
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "disk.raw"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", filepath.Join(dir, "disk.raw"), filepath.Join(dir, "disk.qcow2")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	qcow, err := os.ReadFile(filepath.Join(dir, "disk.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	s3c := c.Nodes[0].S3(alice)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("disks")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("disks"), Key: aws.String("disk.qcow2"), Body: bytes.NewReader(qcow)}); err != nil {
		t.Fatal(err)
	}
	before := len(c.BlobWrites(t, "us-east-1", "chunks"))

	out, err := c.Nodes[1].EC2(alice).ImportSnapshot(ctx, &ec2.ImportSnapshotInput{DiskContainer: &types.SnapshotDiskContainer{
		Format: aws.String("QCOW2"), UserBucket: &types.UserBucket{S3Bucket: aws.String("disks"), S3Key: aws.String("disk.qcow2")}}})
	if err != nil {
		t.Fatal(err)
	}
	task := *out.ImportTaskId
	name := "import/" + task
	first := waitHolder(t, db, name, "", time.Minute)
	victim := c.nodeByID(t, first.holder)

	killAt := before + mrand.IntN(blocks/2+1)
	for len(c.BlobWrites(t, "us-east-1", "chunks")) < killAt {
		if l, _ := getLease(t, db, name); l.holder != first.holder || l.epoch != first.epoch {
			t.Fatalf("the import's lease is %+v before %d chunks were stored: the import ended before the kill", l, killAt-before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	victim.Kill(t)
	killed := time.Now()
	t.Logf("killed node %d (%s) after %d of %d chunks were stored (aimed at %d)", victim.Index, first.holder,
		len(c.BlobWrites(t, "us-east-1", "chunks"))-before, blocks, killAt-before)

	taken := waitHolder(t, db, name, first.holder, 2*time.Minute)
	t.Logf("node %s took the import over %.1f s after the kill (lease TTL %s), epoch %d", taken.holder, time.Since(killed).Seconds(), killTTL, taken.epoch)
	if taken.epoch != first.epoch+1 {
		t.Errorf("the taker's epoch is %d, want %d", taken.epoch, first.epoch+1)
	}
	taker := c.nodeByID(t, taken.holder)
	var reader *Node
	for _, n := range c.Nodes {
		if n != victim && n != taker {
			reader = n
		}
	}

	// The task completes, seen through the third node.
	var snap string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		d, err := reader.EC2(alice).DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{task}})
		if err != nil {
			t.Fatal(err)
		}
		detail := d.ImportSnapshotTasks[0].SnapshotTaskDetail
		if s := aws.ToString(detail.Status); s == "completed" {
			snap = aws.ToString(detail.SnapshotId)
			break
		} else if s != "active" || time.Now().After(deadline) {
			t.Fatalf("import task %s: %s %s", task, s, aws.ToString(detail.StatusMessage))
		}
	}

	// One snapshot: the killed run's was deleted when the task started
	// over.
	snaps, err := reader.EC2(alice).DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps.Snapshots) != 1 || aws.ToString(snaps.Snapshots[0].SnapshotId) != snap {
		var ids []string
		for _, s := range snaps.Snapshots {
			ids = append(ids, aws.ToString(s.SnapshotId)+"/"+string(s.State))
		}
		t.Errorf("alice's snapshots after the import: %v, want only %s", ids, snap)
	}

	// The snapshot reads back as the disk through the third node.
	rd := reader.EBS(alice)
	list, err := rd.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: &snap})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Blocks) != blocks || list.NextToken != nil {
		t.Fatalf("the imported snapshot lists %d blocks, want %d", len(list.Blocks), blocks)
	}
	for _, b := range list.Blocks {
		got, err := rd.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: &snap, BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.BlockData)
		i := int(*b.BlockIndex)
		if !bytes.Equal(body, raw[i*512<<10:(i+1)*512<<10]) {
			t.Fatalf("block %d of the imported snapshot differs from the disk's", i)
		}
	}

	writes := c.BlobWrites(t, "us-east-1", "chunks")
	twice := 0
	for key, n := range writes {
		if n > 2 {
			t.Errorf("chunk %s written %d times", key, n)
		}
		if n > 1 {
			twice++
		}
	}
	t.Logf("chunks written twice: %d of %d", twice, blocks)
	if l, _ := getLease(t, db, name); l.holder != "" || l.epoch != first.epoch+1 {
		t.Errorf("the import's lease at the end: %+v, want released at epoch %d", l, first.epoch+1)
	}
	for _, n := range c.Nodes {
		if n == victim {
			continue
		}
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}
}
