package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerraformEncryption applies encryption by default, a default key, an
// encrypted volume, its snapshot, an image and an encrypted cross-region
// copy with Terraform, checks them through the SDK, then checks that a
// second plan finds no drift and that destroy undoes it all.
func TestTerraformEncryption(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	east, west := s.ec2(s.admin, "us-east-1"), s.ec2(s.admin, "us-west-2")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "encryption", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	x.vars(map[string]any{"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()
	key, westKey := str(t, outs, "key_arn"), str(t, outs, "west_key_arn")

	on, err := east.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil || !aws.ToBool(on.EbsEncryptionByDefault) {
		t.Fatalf("encryption by default: %v %+v", err, on)
	}
	def, err := east.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil || aws.ToString(def.KmsKeyId) != key {
		t.Fatalf("default key: %v %+v", err, def)
	}
	if str(t, outs, "volume_kms_key_id") != key || str(t, outs, "snapshot_kms_key_id") != key {
		t.Fatalf("volume and snapshot keys: %v", outs)
	}
	cp, err := west.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{str(t, outs, "copy_id")}})
	if err != nil || cp.Images[0].State != types.ImageStateAvailable {
		t.Fatalf("copy: %v %+v", err, cp)
	}
	snap := aws.ToString(cp.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	sn, err := west.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if err != nil || !aws.ToBool(sn.Snapshots[0].Encrypted) || aws.ToString(sn.Snapshots[0].KmsKeyId) != westKey {
		t.Fatalf("copy's snapshot: %v %+v", err, sn)
	}
	x.noDrift()

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	on, err = east.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil || aws.ToBool(on.EbsEncryptionByDefault) {
		t.Fatalf("encryption by default after destroy: %v %+v", err, on)
	}
	vols, err := east.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	if err != nil || len(vols.Volumes) != 0 {
		t.Fatalf("volumes after destroy: %v %+v", err, vols)
	}
	imgs, err := west.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || len(imgs.Images) != 0 {
		t.Fatalf("west images after destroy: %v %s", err, imageIDs(imgs))
	}
}
