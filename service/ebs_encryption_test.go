package service

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/rulestest"
)

// encryptedSnapshot writes blocks into a new snapshot started with the
// given encryption and completes it.
func (f *fixture) encryptedSnapshot(t *testing.T, in ebs.StartSnapshotInput, blocks map[int64][]byte) openami.Snapshot {
	t.Helper()
	return f.waitCompleted(t, f.p.Region, f.putSnapshot(t, in, blocks, false))
}

// readSnapshotBlock reads block i of a snapshot through GetSnapshotBlock
// and checks the checksum it answers.
func (f *fixture) readSnapshotBlock(t *testing.T, p openami.Principal, id string, i int64) []byte {
	t.Helper()
	ctx := context.Background()
	tok := f.blockToken(t, p, id, i)
	buf := make([]byte, openami.BlockSize)
	sum, err := f.svc.EBS().GetSnapshotBlock(ctx, p, id, i, tok, buf)
	if err != nil {
		t.Fatal(err)
	}
	if sum != rulestest.Checksum(buf) {
		t.Fatalf("GetSnapshotBlock checksum %s is not the block's SHA-256", sum)
	}
	return buf
}

func (f *fixture) waitVolume(t *testing.T, p openami.Principal, id string) openami.Volume {
	t.Helper()
	for range 1000 {
		var v openami.Volume
		f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
			v, err = tx.Volumes().Get(p.Region, id)
			return err
		})
		if v.State != openami.VolumeCreating {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("volume %s is still creating", id)
	return openami.Volume{}
}

// wantEBSKeyError fails unless err is an error of the class about the
// KMS key EBS may not use.
var wantEBSKeyError = rulestest.WantEBSKeyError

// plaintextAtRest reports which file under dir holds a 64-byte window of
// any of the blocks.
var plaintextAtRest = rulestest.PlaintextAtRest

// TestBackgroundWorkResumes checks that a copy and a volume fill that a
// crash interrupted (their records written, their goroutines never run)
// are finished by the restart's resumeCopies and resumeFills.
func TestBackgroundWorkResumes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	data := map[int64][]byte{1: block(0), 6: block(0)}
	src := f.encryptedSnapshot(t, ebs.StartSnapshotInput{}, data)
	now := f.clock.Now()
	dst := openami.Snapshot{ID: "snap-0000000000000000c", Region: "us-west-2", AccountID: f.p.AccountID, VolumeID: ebs.NoVolume,
		VolumeSize: 1, State: openami.SnapshotPending, StartTime: now, Deadline: now.Add(time.Hour)}
	vol := openami.Volume{ID: "vol-0000000000000000c", Region: "us-east-1", AccountID: f.p.AccountID, AvailabilityZone: "us-east-1a",
		Size: 1, Type: "gp3", SnapshotID: src.ID, State: openami.VolumeCreating, CreatedAt: now}
	key, err := f.svc.KMS().CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	vol.Encrypted, vol.KmsKeyID, vol.Base = true, key.ARN(), src.Root
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		if err := tx.Snapshots().Create(dst); err != nil {
			return err
		}
		if err := ebs.RecordCopy(tx, src, dst); err != nil {
			return err
		}
		if err := ebs.RecordFill(tx, vol, src.KmsKeyID); err != nil {
			return err
		}
		return tx.Volumes().Create(vol)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EBS().ResumeCopies(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EBS().ResumeFills(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitCompleted(t, "us-west-2", dst.ID)
	west := f.p
	west.Region = "us-west-2"
	if !bytes.Equal(f.readSnapshotBlock(t, west, dst.ID, 6), data[6]) {
		t.Fatal("resumed copy reads back wrong")
	}
	if v := f.waitVolume(t, f.p, vol.ID); v.State != openami.VolumeAvailable {
		t.Fatalf("resumed fill ended %s", v.State)
	}
	if !bytes.Equal(f.readVolume(t, vol.ID, 1), data[1]) {
		t.Fatal("resumed fill reads back wrong")
	}
	// The finished copy's task is gone.
	f.svc.Close()
	f.store.View(ctx, func(tx metadata.Tx) error {
		// ebs.RecordCopy's task, by its setting's name.
		if _, err := tx.Settings().Get("copy-task/" + dst.Region + "/" + dst.ID); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("copy task after the copy: %v", err)
		}
		return nil
	})
}

// TestEncryptedLaunchThroughDevice launches a plain image with its root
// encrypted under a customer key (the volume is filled in the background
// and the instance waits for it), writes through the volume's device, and
// makes an image whose snapshot is under the same key and reads back.
func TestEncryptedLaunchThroughDevice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	key, err := f.svc.KMS().CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	base := block(0)
	snap := f.snapshot(t, map[int64][]byte{0: base}, true)
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "plain", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	r, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		BlockDeviceMappings: []instances.MappingOverride{{DeviceName: "/dev/xvda", Ebs: &instances.EbsOverride{Encrypted: &yes, KmsKeyID: key.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Instances[0].ID
	var inst openami.Instance
	for range 500 {
		f.svc.completions.pass(ctx)
		f.store.View(ctx, func(tx metadata.Tx) (err error) {
			inst, err = tx.Instances().Get("us-east-1", id)
			return err
		})
		if inst.State != openami.InstancePending {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if inst.State != openami.InstanceRunning {
		t.Fatalf("instance over a re-keyed root is %s", inst.State)
	}
	root := inst.BlockDevices[0].VolumeID
	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	if err := dev.ReadAt(ctx, got, 0); err != nil || !bytes.Equal(got, base[:4096]) {
		t.Fatalf("the filled root reads back wrong: %v", err)
	}
	msg := bytes.Repeat([]byte("sealed through nbd "), 1000)
	if err := dev.WriteAt(ctx, msg, 3*openami.BlockSize+100); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	newImg, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: id, Name: "sealed", NoReboot: true})
	if err != nil {
		t.Fatal(err)
	}
	var image openami.Image
	var snapshot openami.Snapshot
	f.store.View(ctx, func(tx metadata.Tx) (err error) {
		if image, err = tx.Images().Get("us-east-1", newImg); err != nil {
			return err
		}
		snapshot, err = tx.Snapshots().Get("us-east-1", image.BlockDeviceMappings[0].Ebs.SnapshotID)
		return err
	})
	if e := image.BlockDeviceMappings[0].Ebs; !e.Encrypted || e.KmsKeyID != key.ARN() || snapshot.KmsKeyID != key.ARN() {
		t.Fatalf("image of an encrypted instance: %+v, snapshot key %q", e, snapshot.KmsKeyID)
	}
	blk := f.readSnapshotBlock(t, f.p, snapshot.ID, 3)
	if !bytes.Equal(blk[100:100+len(msg)], msg) {
		t.Fatal("the write through the device is not in the image")
	}
	// A stopped instance whose key is disabled does not start, and a
	// volume under it is not attached.
	if _, err := f.svc.Instances().StopInstances(ctx, f.p, []string{id}, false); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	spare, err := f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: inst.AvailabilityZone, Size: 1, Encrypted: true, KmsKeyID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.KMS().DisableKey(ctx, f.p, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Instances().StartInstances(ctx, f.p, []string{id})
	wantEBSKeyError(t, "StartInstances under a disabled key", err, openami.IncorrectState)
	_, err = f.svc.Instances().AttachVolume(ctx, f.p, spare.ID, id, "/dev/sdf")
	wantEBSKeyError(t, "AttachVolume under a disabled key", err, openami.IncorrectState)
	if err := f.svc.KMS().EnableKey(ctx, f.p, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Instances().StartInstances(ctx, f.p, []string{id}); err != nil {
		t.Fatalf("StartInstances once the key is enabled again: %v", err)
	}
	// The plain image's own chunk is the only plain one: the base block
	// re-keyed and the device's write are sealed.
	f.svc.EBS().DeleteSnapshot(ctx, f.p, snap)
	if path := plaintextAtRest(t, filepath.Join(f.dir, "blocks"), msg[:4096]); path != "" {
		t.Fatalf("the device's write is stored in plain in %s", path)
	}
}

// TestDeletedKeyShredsData deletes the KMS key of an encrypted volume and
// checks that its data can no longer be read, by this server or a new one.
func TestDeletedKeyShredsData(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	key, err := f.svc.KMS().CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	vol, err := f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, Encrypted: true, KmsKeyID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	data := block(0)
	if err := f.svc.EBS().WriteVolumeBlock(ctx, f.p, vol.ID, 0, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.readVolume(t, vol.ID, 0), data) {
		t.Fatal("volume reads back wrong")
	}
	// A second server on the same store has the data key cached.
	other := newFixture(t, f.dir, f.clock)
	buf := make([]byte, openami.BlockSize)
	if err := other.svc.EBS().ReadVolumeBlock(ctx, f.p, vol.ID, 0, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("the second server reads: %v", err)
	}
	days := 7
	if _, err := f.svc.KMS().ScheduleKeyDeletion(ctx, f.p, key.ID, &days); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(8 * 24 * time.Hour)
	if n, err := f.svc.KMS().PurgeDeletedKeys(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeDeletedKeys = %d, %v", n, err)
	}
	clear(buf)
	if err := f.svc.EBS().ReadVolumeBlock(ctx, f.p, vol.ID, 0, buf); err == nil || bytes.Equal(buf, data) {
		t.Fatalf("a volume under a deleted key still reads: %v", err)
	}
	// The other server stops once it looks at the key again.
	other.svc.EBS().RecheckDataKeysAfter(0)
	clear(buf)
	if err := other.svc.EBS().ReadVolumeBlock(ctx, f.p, vol.ID, 0, buf); err == nil || bytes.Equal(buf, data) {
		t.Fatalf("another server still reads a volume under a deleted key: %v", err)
	}
	f.svc.Close()
	g := newFixture(t, f.dir, f.clock)
	if err := g.svc.EBS().ReadVolumeBlock(ctx, g.p, vol.ID, 0, buf); err == nil || bytes.Equal(buf, data) {
		t.Fatalf("after a restart, a volume under a deleted key still reads: %v", err)
	}
}

// TestCreatingVolumesStayPut checks that a volume still being filled
// cannot be read, detached or deleted from under its instance, and that
// terminating the instance never makes a half-filled volume available.
func TestCreatingVolumesStayPut(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(0)}, true)
	inst := f.launch(t, "base", snap)
	root := inst.BlockDevices[0].VolumeID
	// Make the root look as a re-keyed launch volume does mid-fill.
	err := f.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := tx.Volumes().Get("us-east-1", root)
		if err != nil {
			return err
		}
		v.State = openami.VolumeCreating
		return tx.Volumes().Update(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, openami.BlockSize)
	if err := f.svc.EBS().ReadVolumeBlock(ctx, f.p, root, 0, buf); !errors.Is(err, openami.ErrIncorrectState) {
		t.Fatalf("reading a creating volume: %v", err)
	}
	if _, err := f.svc.EBS().OpenVolumeDevice(ctx, root); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("opening a creating volume's device: %v", err)
	}
	if _, err := f.svc.Instances().DetachVolume(ctx, f.p, root, "", ""); err == nil {
		t.Fatal("a creating volume was detached")
	}
	if err := f.svc.EBS().DeleteVolume(ctx, f.p, root); err == nil {
		t.Fatal("a creating volume attached to an instance was deleted")
	}
	// Terminate it, keeping the root, through the worker's transition.
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.Instances().Get("us-east-1", inst.ID)
		if err != nil {
			return err
		}
		cur.BlockDevices[0].DeleteOnTermination = false
		return tx.Instances().Update(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Instances().TerminateInstances(ctx, f.p, []string{inst.ID}); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if i := f.inst(t, inst.ID); i.State != openami.InstanceTerminated {
		t.Fatalf("instance %s after termination, want terminated", i.State)
	}
	var v openami.Volume
	f.store.View(ctx, func(tx metadata.Tx) error {
		v, err = tx.Volumes().Get("us-east-1", root)
		return err
	})
	if v.State != openami.VolumeCreating || v.InstanceID != "" {
		t.Fatalf("a creating volume after its instance terminated: %s, attached to %q", v.State, v.InstanceID)
	}
}
