package service

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/rulestest"
)

// newFakeRuntime returns the fake runtime over the none runtime; Stop
// can be held (hold, when not nil) or fail (stopErr).
func newFakeRuntime(hold chan struct{}, stopErr error) *rulestest.Runtime {
	rt := &rulestest.Runtime{Runtime: instances.NoneRuntime{}, Hold: hold}
	rt.SetStopErr(stopErr)
	return rt
}

func (f *fixture) image(t *testing.T, id string) openami.Image {
	t.Helper()
	var img openami.Image
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		img, err = tx.Images().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (f *fixture) snapshotState(t *testing.T, id string) openami.SnapshotState {
	t.Helper()
	var snap openami.Snapshot
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		snap, err = tx.Snapshots().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap.State
}

// TestCreateImageWithReboot: without NoReboot, CreateImage returns at once
// with the image and its snapshot pending; in the background the VM is
// stopped, the volume (with a write still in the device's buffer) is
// snapshotted, the image becomes available and the VM is started again.
func TestCreateImageWithReboot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := newFakeRuntime(make(chan struct{}), nil)
	f.svc.UseRuntime(rt)
	inst := f.launch(t, "base", f.snapshot(t, map[int64][]byte{0: block(1)}, true))
	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, inst.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("written just before CreateImage")
	if err := dev.WriteAt(ctx, msg, 4096); err != nil {
		t.Fatal(err)
	}

	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "rebooted"})
	if err != nil {
		t.Fatal(err)
	}
	img := f.image(t, id)
	if img.State != openami.ImagePending || len(img.BlockDeviceMappings) != 1 {
		t.Fatalf("image while the instance shuts down: %+v", img)
	}
	snap := img.BlockDeviceMappings[0].Ebs.SnapshotID
	if st := f.snapshotState(t, snap); st != openami.SnapshotPending {
		t.Fatalf("snapshot while the instance shuts down: %s", st)
	}
	// A second pass while the job holds the instance starts nothing new.
	f.svc.completions.sweep(ctx)
	close(rt.Hold)
	f.svc.instances.Wait()
	dev.Close()

	if img := f.image(t, id); img.State != openami.ImageAvailable {
		t.Fatalf("image after the job: %s %+v", img.State, img.StateReason)
	}
	if st := f.snapshotState(t, snap); st != openami.SnapshotCompleted {
		t.Fatalf("snapshot after the job: %s", st)
	}
	want := []string{"start " + inst.ID, "stop " + inst.ID, "start " + inst.ID}
	if got := rt.Calls(); !slices.Equal(got, want) {
		t.Fatalf("runtime calls %v, want %v", got, want)
	}
	child := f.run(t, id)
	cdev, err := f.svc.EBS().OpenVolumeDevice(ctx, child.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer cdev.Close()
	got := make([]byte, len(msg))
	if err := cdev.ReadAt(ctx, got, 4096); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the image lacks the write: %v %q", err, got)
	}
}

// TestCreateImageResumed: a CreateImage whose shutdown fails stays pending
// and is finished by a later pass (as after a restart).
func TestCreateImageResumed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := newFakeRuntime(nil, errors.New("the VM would not stop"))
	f.svc.UseRuntime(rt)
	snap0 := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	inst := f.launch(t, "base", snap0)
	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "resumed"})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.instances.Wait()
	if img := f.image(t, id); img.State != openami.ImagePending {
		t.Fatalf("image after a failed shutdown: %s", img.State)
	}
	// A new process: the same store, a runtime that works.
	rt.SetStopErr(nil)
	f.svc.completions.pass(ctx)
	if img := f.image(t, id); img.State != openami.ImageAvailable {
		t.Fatalf("image after a pass: %s", img.State)
	}

}
