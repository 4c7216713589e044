package service

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

// launch registers an image over snap and runs one instance of it, made
// running by a pass of the worker.
func (f *fixture) launch(t *testing.T, name, snap string) openami.Instance {
	t.Helper()
	ctx := context.Background()
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f.run(t, img)
}

func (f *fixture) run(t *testing.T, img string) openami.Instance {
	t.Helper()
	ctx := context.Background()
	r, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	var i openami.Instance
	f.store.View(ctx, func(tx metadata.Tx) error {
		i, err = tx.Instances().Get("us-east-1", r.Instances[0].ID)
		return err
	})
	if err != nil || i.State != openami.InstanceRunning {
		t.Fatalf("instance after a pass: %v %+v", err, i)
	}
	return i
}

// TestVolumeDeviceAndCreateImage writes through an attached volume's
// device at unaligned offsets, makes an image of the instance, and reads
// the writes back from an instance of the new image; the image stores
// only the blocks written.
func TestVolumeDeviceAndCreateImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(1), 3: block(2)}, true)
	inst := f.launch(t, "base", snap)
	root := inst.BlockDevices[0].VolumeID

	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Size() != 1<<30 {
		t.Fatalf("device size %d, want 1 GiB", dev.Size())
	}
	msg := bytes.Repeat([]byte("openami!"), 16) // 128 bytes across blocks 0 and 1
	off := int64(openami.BlockSize - 64)
	if err := dev.WriteAt(ctx, msg, off); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg)+16)
	if err := dev.ReadAt(ctx, got, off-8); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[8:8+len(msg)], msg) || !bytes.Equal(got[:8], block(1)[openami.BlockSize-72:openami.BlockSize-64]) {
		t.Fatal("unflushed write does not read back over the image's data")
	}
	b3 := make([]byte, 100)
	if err := dev.ReadAt(ctx, b3, 3*openami.BlockSize+5); err != nil || !bytes.Equal(b3, block(2)[5:105]) {
		t.Fatalf("untouched block 3: %v", err)
	}
	if err := dev.ReadAt(ctx, make([]byte, 2), dev.Size()-1); err == nil {
		t.Fatal("a read past the end succeeded")
	}
	if err := dev.WriteZeroes(ctx, 3*openami.BlockSize, openami.BlockSize); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil { // the last close flushes
		t.Fatal(err)
	}

	chunks := f.chunkFiles(t)
	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "child", NoReboot: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.chunkFiles(t); n != chunks {
		t.Fatalf("CreateImage stored %d chunks; the blocks were stored at flush", n-chunks)
	}
	f.svc.completions.pass(ctx)
	var img openami.Image
	f.store.View(ctx, func(tx metadata.Tx) error {
		img, err = tx.Images().Get("us-east-1", id)
		return err
	})
	if err != nil || img.State != openami.ImageAvailable || img.SourceInstanceID != inst.ID || len(img.BlockDeviceMappings) != 1 {
		t.Fatalf("image after a pass: %v %+v", err, img)
	}
	var newSnap openami.Snapshot
	f.store.View(ctx, func(tx metadata.Tx) error {
		newSnap, err = tx.Snapshots().Get("us-east-1", img.BlockDeviceMappings[0].Ebs.SnapshotID)
		return err
	})
	if newSnap.DataBytes != 2*openami.BlockSize { // blocks 0 and 1; block 3 is zeros now
		t.Fatalf("new snapshot holds %d bytes, want 2 blocks", newSnap.DataBytes)
	}

	child := f.run(t, id)
	cdev, err := f.svc.EBS().OpenVolumeDevice(ctx, child.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer cdev.Close()
	got = make([]byte, len(msg))
	if err := cdev.ReadAt(ctx, got, off); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the child image's volume: %v %q", err, got)
	}
	if err := cdev.ReadAt(ctx, b3, 3*openami.BlockSize+5); err != nil || !bytes.Equal(b3, make([]byte, 100)) {
		t.Fatalf("zeroed block 3 in the child: %v", err)
	}

	// The buffer stays bounded however much is written.
	big := make([]byte, 4*openami.BlockSize)
	for k := range 40 {
		big[0] = byte(k + 1)
		if err := cdev.WriteAt(ctx, big, int64(k)*int64(len(big))); err != nil {
			t.Fatal(err)
		}
		if n := cdev.Dirty(); n > ebs.MaxDirtyBlocks {
			t.Fatalf("%d dirty blocks, bound %d", n, ebs.MaxDirtyBlocks)
		}
	}

	// Only volumes of instances that may run are served.
	if _, err := f.svc.Instances().TerminateInstances(ctx, f.p, []string{inst.ID}); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if _, err := f.svc.EBS().OpenVolumeDevice(ctx, root); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("opening the volume of a terminated instance: %v, want NotFound", err)
	}
}

// retryStore runs every Update's function twice, rolling the first attempt
// back, as a store does after a serialization conflict: what a function
// builds outside its transaction must not carry over between attempts.
type retryStore struct{ metadata.Store }

var errConflict = errors.New("simulated serialization conflict")

func (r retryStore) Update(ctx context.Context, fn func(metadata.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := r.Store.Update(ctx, func(tx metadata.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			if attempt == 0 {
				return errConflict
			}
			return nil
		})
		if !errors.Is(err, errConflict) {
			return err
		}
	}
}

// TestRetriedTransactions launches, images and copies through a store that
// retries every transaction once: each must come out as from one attempt.
func TestRetriedTransactions(t *testing.T) {
	ctx := context.Background()
	f := newFixtureWith(t, "", nil, func(s metadata.Store) metadata.Store { return retryStore{s} })
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "retried", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "m5d.large", MinCount: 3, MaxCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Instances) != 3 {
		t.Fatalf("%d instances, want 3", len(r.Instances))
	}
	for _, i := range r.Instances {
		if len(i.BlockDevices) != 1 || len(i.InstanceStores) != 1 {
			t.Fatalf("instance %s: %d block devices, %d instance stores; want 1 and 1", i.ID, len(i.BlockDevices), len(i.InstanceStores))
		}
	}
	var vols []openami.Volume
	f.store.View(ctx, func(tx metadata.Tx) error {
		vols, err = tx.Volumes().List("us-east-1", metadata.VolumeQuery{})
		return err
	})
	if len(vols) != 3 {
		t.Fatalf("%d volumes after launching 3 instances, want 3", len(vols))
	}
	f.svc.completions.pass(ctx)
	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: r.Instances[0].ID, Name: "retried-child"})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	cp, err := f.svc.Images().CopyImage(ctx, f.p, images.CopyImageInput{SourceImageID: id, SourceRegion: "us-west-2", Name: "retried-copy"})
	if err == nil {
		t.Fatalf("copying from a region the image is not in: %s", cp)
	}
	cp, err = f.svc.Images().CopyImage(ctx, f.p, images.CopyImageInput{SourceImageID: id, SourceRegion: "us-east-1", Name: "retried-copy"})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range []string{id, cp} {
		var got openami.Image
		f.store.View(ctx, func(tx metadata.Tx) error {
			got, err = tx.Images().Get("us-east-1", im)
			return err
		})
		if err != nil || len(got.BlockDeviceMappings) != 2 { // the root and the NVMe instance store
			t.Fatalf("image %s: %v, %d mappings", im, err, len(got.BlockDeviceMappings))
		}
	}
}

// TestDeviceRevokedOnDetach: a client that keeps a volume's device open
// after the volume is detached cannot write into it any more.
func TestDeviceRevokedOnDetach(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	inst := f.launch(t, "revoke", f.snapshot(t, map[int64][]byte{0: block(1)}, true))
	v, err := f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: inst.AvailabilityZone, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Instances().AttachVolume(ctx, f.p, v.ID, inst.ID, "/dev/sdf"); err != nil {
		t.Fatal(err)
	}
	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.WriteAt(ctx, []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Instances().DetachVolume(ctx, f.p, v.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := dev.WriteAt(ctx, []byte("after"), 100); err != nil {
		t.Fatal(err) // buffered: the detach is found at the flush
	}
	if err := dev.Flush(ctx); !errors.Is(err, ebs.ErrRevoked) {
		t.Fatalf("flush after detach: %v, want revoked", err)
	}
	if err := dev.WriteAt(ctx, []byte("later"), 200); !errors.Is(err, ebs.ErrRevoked) {
		t.Fatalf("write after a revoked flush: %v", err)
	}
	dev.Close()
	got := make([]byte, openami.BlockSize)
	if err := f.svc.EBS().ReadVolumeBlock(ctx, f.p, v.ID, 0, got); err != nil || !bytes.Equal(got, make([]byte, openami.BlockSize)) {
		t.Fatalf("the detached volume holds writes made after its detach: %v", err)
	}
	// Attached again, it is served afresh.
	if _, err := f.svc.Instances().AttachVolume(ctx, f.p, v.ID, inst.ID, "/dev/sdf"); err != nil {
		t.Fatal(err)
	}
	dev, err = f.svc.EBS().OpenVolumeDevice(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if err := dev.WriteAt(ctx, []byte("again"), 0); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
