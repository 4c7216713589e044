package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerraformSnapshotTier: Terraform's aws_ebs_snapshot with
// storage_tier = "archive" applies (the provider archives the snapshot
// and waits for the archive tier), plans without drift, and destroys.
func TestTerraformSnapshotTier(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")
	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "snapshottier", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	x.vars(map[string]any{"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	id := str(t, x.outputs(), "snapshot_id")
	d, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if err != nil || d.Snapshots[0].StorageTier != types.StorageTierArchive {
		t.Fatalf("the snapshot after apply: %+v, %v", d, err)
	}
	x.noDrift()
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	if _, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}}); err == nil {
		t.Fatal("the snapshot is still there after destroy")
	}
}
