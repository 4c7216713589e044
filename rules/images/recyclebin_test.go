package images

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
)

// TestRecycleBinExpires: an image deregistered under a retention rule
// waits in the Recycle Bin until the rule's days are up; then the
// worker's pass deletes it for good, and its snapshot is free.
func TestRecycleBinExpires(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	snap := f.snapshot(t, f.p, true)
	id, err := f.images.RegisterImage(ctx, f.p, RegisterImageInput{Name: "binned", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.CreateRetentionRule(ctx, f.p, RetentionRule{ResourceType: "EC2_IMAGE", RetentionDays: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.DeregisterImage(ctx, f.p, id, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if imgs, _, _ := f.images.ImagesInRecycleBin(ctx, f.p, nil, Page{}); len(imgs) != 1 {
		t.Fatalf("%d images in the bin before their time, want 1", len(imgs))
	}
	f.clock.Add(25 * time.Hour)
	f.pass(t)
	if imgs, _, _ := f.images.ImagesInRecycleBin(ctx, f.p, nil, Page{}); len(imgs) != 0 {
		t.Fatalf("%d images in the bin after their time", len(imgs))
	}
	if err := f.vols.DeleteSnapshot(ctx, f.p, snap); err != nil {
		t.Fatalf("the snapshot of an image deleted for good is still in use: %v", err)
	}
}
