package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// TestSnapshotTiersSDK: through the SDK, ModifySnapshotTier archives a
// snapshot (DescribeSnapshotTierStatus shows archival-in-progress, then,
// after the worker's pass, archival-completed in the archive tier, and
// DescribeSnapshots' storage-tier finds it); an archived snapshot cannot
// make a volume; RestoreSnapshotTier for a day answers its duration and
// DescribeSnapshots then shows the standard tier with a restore expiry;
// missing parameters are refused.
func TestSnapshotTiersSDK(t *testing.T) {
	ctx := context.Background()
	s := start(t, "sqlite")
	c := s.ec2(s.account(t, "tiers"), "us-east-1")
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(snap.SnapshotId)
	waitFor(t, "the snapshot to complete", func() bool {
		d, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		return err == nil && d.Snapshots[0].State == types.SnapshotStateCompleted
	})
	mod, err := c.ModifySnapshotTier(ctx, &ec2.ModifySnapshotTierInput{SnapshotId: aws.String(id), StorageTier: types.TargetStorageTierArchive})
	if err != nil || aws.ToString(mod.SnapshotId) != id || mod.TieringStartTime == nil {
		t.Fatalf("ModifySnapshotTier: %+v, %v", mod, err)
	}
	status := func() types.SnapshotTierStatus {
		st, err := c.DescribeSnapshotTierStatus(ctx, &ec2.DescribeSnapshotTierStatusInput{
			Filters: []types.Filter{{Name: aws.String("snapshot-id"), Values: []string{id}}}})
		if err != nil || len(st.SnapshotTierStatuses) != 1 {
			t.Fatalf("DescribeSnapshotTierStatus: %+v, %v", st, err)
		}
		return st.SnapshotTierStatuses[0]
	}
	waitFor(t, "the archive to complete", func() bool {
		return status().LastTieringOperationStatus == types.TieringOperationStatusArchivalCompleted
	})
	if st := status(); st.StorageTier != types.StorageTierArchive || st.ArchivalCompleteTime == nil || aws.ToString(st.VolumeId) != aws.ToString(vol.VolumeId) {
		t.Fatalf("archived: %+v", st)
	}
	d, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("storage-tier"), Values: []string{"archive"}}}})
	if err != nil || len(d.Snapshots) != 1 || d.Snapshots[0].StorageTier != types.StorageTierArchive {
		t.Fatalf("storage-tier archive: %+v, %v", d, err)
	}
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: aws.String(id)})
	var ae smithy.APIError
	if !errorsAs(err, &ae) || ae.ErrorCode() != "IncorrectState" {
		t.Fatalf("a volume of an archived snapshot: %v", err)
	}
	_, err = c.RestoreSnapshotTier(ctx, &ec2.RestoreSnapshotTierInput{SnapshotId: aws.String(id)})
	if !errorsAs(err, &ae) || ae.ErrorCode() != "MissingParameter" {
		t.Errorf("a restore of no kind: %v", err)
	}
	r, err := c.RestoreSnapshotTier(ctx, &ec2.RestoreSnapshotTierInput{SnapshotId: aws.String(id), TemporaryRestoreDays: aws.Int32(1)})
	if err != nil || aws.ToInt32(r.RestoreDuration) != 1 || aws.ToBool(r.IsPermanentRestore) || r.RestoreStartTime == nil {
		t.Fatalf("RestoreSnapshotTier: %+v, %v", r, err)
	}
	waitFor(t, "the restore to complete", func() bool {
		return status().LastTieringOperationStatus == types.TieringOperationStatusTemporaryRestoreCompleted
	})
	d, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if err != nil || d.Snapshots[0].StorageTier != types.StorageTierStandard || d.Snapshots[0].RestoreExpiryTime == nil {
		t.Fatalf("restored: %+v, %v", d.Snapshots, err)
	}
	if _, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: aws.String(id)}); err != nil {
		t.Fatalf("a volume of a restored snapshot: %v", err)
	}
}
