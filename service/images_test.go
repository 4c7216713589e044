package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

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
