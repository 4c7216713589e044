package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

// TestPendingImages: an image registered from one of the caller's pending
// snapshots is pending, becomes available when the snapshot completes, and
// fails with a StateReason when its snapshot errors; the caller cannot
// delete a pending snapshot an image uses, and another account cannot
// register an image from a snapshot that is not completed.
func TestPendingImages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	register := func(name, snap string) string {
		t.Helper()
		id, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
			BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	image := func(id string) openami.Image {
		t.Helper()
		var img openami.Image
		if err := f.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			img, err = tx.Images().Get("us-east-1", id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return img
	}

	done := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	if img := image(register("at-once", done)); img.State != openami.ImageAvailable {
		t.Fatalf("image of a completed snapshot is %s, want available", img.State)
	}

	// Written, not yet completed.
	open, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	later := register("later", open.ID)
	f.svc.completions.pass(ctx)
	if img := image(later); img.State != openami.ImagePending {
		t.Fatalf("image of a pending snapshot is %s, want pending", img.State)
	}
	var inUse *openami.Error
	if err := f.svc.EBS().DeleteSnapshot(ctx, f.p, open.ID); !errors.As(err, &inUse) || inUse.Class != openami.InUse {
		t.Fatalf("DeleteSnapshot of a pending image's snapshot: %v, want InUse", err)
	}
	if _, err := f.svc.EBS().CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: open.ID}); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if img := image(later); img.State != openami.ImageAvailable || img.StateReason != (openami.StateReason{}) {
		t.Fatalf("after its snapshot completed the image is %s (%v), want available", img.State, img.StateReason)
	}

	// Never completed: the snapshot errors at its deadline, and the image
	// fails with it.
	abandoned, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	doomed := register("doomed", abandoned.ID)
	f.clock.add(11 * time.Minute)
	f.svc.completions.pass(ctx)
	img := image(doomed)
	if img.State != openami.ImageFailed || img.StateReason.Cause != openami.CauseSnapshotFailed || img.StateReason.Message == "" {
		t.Fatalf("image of an expired snapshot is %s (%+v), want failed with a reason", img.State, img.StateReason)
	}

	// Another account may use a shared snapshot only once it is completed.
	other, _, err := f.svc.Identity().CreateAccount(ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EBS().ModifySnapshotAttribute(ctx, f.p, shared.ID, []ebs.Permission{{AccountID: other.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	op := openami.Principal{AccountID: other.ID, Region: "us-east-1"}
	_, err = f.svc.Images().RegisterImage(ctx, op, images.RegisterImageInput{Name: "theirs", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: shared.ID}}}})
	var state *openami.Error
	if !errors.As(err, &state) || state.Class != openami.IncorrectState {
		t.Fatalf("RegisterImage from another account's pending snapshot: %v, want IncorrectState", err)
	}
}

// TestCopySharedImageNeedsSnapshotAccess: launch permission lets another
// account launch an image, not copy its data out; once the owner also
// grants createVolumePermission on the snapshot behind it, the copy goes.
func TestCopySharedImageNeedsSnapshotAccess(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(3)}, true)
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "shared", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := f.svc.Identity().CreateAccount(ctx, "copier", false)
	if err != nil {
		t.Fatal(err)
	}
	op := openami.Principal{AccountID: other.ID, Region: "us-east-1"}
	if err := f.svc.Images().ModifyImageAttribute(ctx, f.p, images.ModifyImageAttributeInput{ImageID: img, Add: []openami.LaunchPermission{{AccountID: other.ID}}}); err != nil {
		t.Fatal(err)
	}
	countImages := func() int {
		n := 0
		f.store.View(ctx, func(tx metadata.Tx) error {
			list, err := tx.Images().List("us-east-1", metadata.ImageQuery{})
			n = len(list)
			return err
		})
		return n
	}
	before := countImages()
	for _, region := range []string{"us-east-1", "us-west-2"} {
		dst := op
		dst.Region = region
		_, err = f.svc.Images().CopyImage(ctx, dst, images.CopyImageInput{SourceImageID: img, SourceRegion: "us-east-1", Name: "mine-now"})
		var e *openami.Error
		if !errors.As(err, &e) || e.Class != openami.Unauthorized || e.Resource != openami.ResourceSnapshot || !strings.Contains(e.Message, snap) {
			t.Fatalf("copy to %s with launch permission only: %v, want Unauthorized naming %s", region, err, snap)
		}
	}
	if n := countImages(); n != before {
		t.Fatalf("a refused copy left %d images behind", n-before)
	}
	// The caller may launch it all the same.
	if _, err := f.svc.Instances().RunInstances(ctx, op, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1}); err != nil {
		t.Fatalf("launching with launch permission: %v", err)
	}
	if err := f.svc.EBS().ModifySnapshotAttribute(ctx, f.p, snap, []ebs.Permission{{AccountID: other.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	cp, err := f.svc.Images().CopyImage(ctx, op, images.CopyImageInput{SourceImageID: img, SourceRegion: "us-east-1", Name: "mine-now"})
	if err != nil {
		t.Fatalf("copy with createVolumePermission: %v", err)
	}
	if got := f.image(t, cp); got.AccountID != other.ID {
		t.Fatalf("the copy belongs to %s", got.AccountID)
	}
}
