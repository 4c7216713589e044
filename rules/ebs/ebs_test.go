package ebs

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/kms"
)

// TestSnapshotStates follows snapshots of the EBS direct API through their
// states: pending while written, still pending once completed until the
// worker builds the map (FinishSnapshot), completed then; error when left
// uncompleted past the timeout (ExpireSnapshot); and the refusals that
// leave a snapshot as it was.
func TestSnapshotStates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{0: block(0), 3: block(0)}

	snap := f.putSnapshot(t, f.p, StartSnapshotInput{Description: "two blocks"}, data, false)
	if snap.State != openami.SnapshotPending || !snap.Completing {
		t.Fatalf("a completed snapshot before its map is built: %s, completing %v", snap.State, snap.Completing)
	}
	pending, err := f.vols.PendingSnapshots(ctx)
	if err != nil || len(pending) != 1 || pending[0].ID != snap.ID {
		t.Fatalf("PendingSnapshots = %v, %v; want %s", pending, err, snap.ID)
	}
	if err := f.vols.FinishSnapshot(ctx, "us-east-1", snap.ID); err != nil {
		t.Fatal(err)
	}
	snap = f.snapshot(t, "us-east-1", snap.ID)
	if snap.State != openami.SnapshotCompleted || snap.Progress != 100 || snap.DataBytes != 2*openami.BlockSize || snap.Root.IsZero() {
		t.Fatalf("finished snapshot: %+v", snap)
	}
	if pending, _ := f.vols.PendingSnapshots(ctx); len(pending) != 0 {
		t.Fatalf("a completed snapshot is still pending: %v", pending)
	}
	// A completed snapshot is not completed again.
	_, err = f.vols.CompleteSnapshot(ctx, f.p, CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: 2})
	wantClass(t, "CompleteSnapshot of a completed snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)

	// A wrong count of blocks is refused, and the snapshot stays open.
	open := f.putSnapshot(t, f.p, StartSnapshotInput{}, nil, false)
	open2, err := f.vols.StartSnapshot(ctx, f.p, StartSnapshotInput{VolumeSize: 1, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.vols.CompleteSnapshot(ctx, f.p, CompleteSnapshotInput{SnapshotID: open2.ID, ChangedBlocksCount: 5})
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("CompleteSnapshot with a wrong count: %v, want InvalidParameter", err)
	}
	if s := f.snapshot(t, "us-east-1", open2.ID); s.State != openami.SnapshotPending || s.Completing {
		t.Fatalf("a refused CompleteSnapshot changed the snapshot: %s, completing %v", s.State, s.Completing)
	}

	// Past its timeout an uncompleted snapshot errors; a completing one
	// (open, completed with no blocks) does not.
	if err := f.vols.ExpireSnapshot(ctx, "us-east-1", open2.ID); err != nil {
		t.Fatal(err)
	}
	if s := f.snapshot(t, "us-east-1", open2.ID); s.State != openami.SnapshotPending {
		t.Fatalf("a snapshot expired before its deadline: %s", s.State)
	}
	f.clock.Add(11 * time.Minute)
	for _, id := range []string{open.ID, open2.ID} {
		if err := f.vols.ExpireSnapshot(ctx, "us-east-1", id); err != nil {
			t.Fatal(err)
		}
	}
	if s := f.snapshot(t, "us-east-1", open2.ID); s.State != openami.SnapshotError || s.StateReason == "" {
		t.Fatalf("an overdue snapshot: %s (%q), want error with a reason", s.State, s.StateReason)
	}
	if s := f.snapshot(t, "us-east-1", open.ID); s.State != openami.SnapshotPending || !s.Completing {
		t.Fatalf("a completing snapshot was expired: %s", s.State)
	}

	// The volume size is checked before anything is recorded.
	_, err = f.vols.StartSnapshot(ctx, f.p, StartSnapshotInput{VolumeSize: 0})
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("StartSnapshot of 0 GiB: %v, want InvalidParameter", err)
	}
}

// TestVolumesAndSnapshots: a volume over a snapshot reads the snapshot's
// blocks and its own writes; a snapshot of it holds both; Describe finds
// them; a volume attached to an instance and a snapshot an image uses
// cannot be deleted; another account sees neither.
func TestVolumesAndSnapshots(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{0: block(0), 2: block(0)}
	snap := f.putSnapshot(t, f.p, StartSnapshotInput{VolumeSize: 2}, data, true)

	// Too small for the snapshot; a snapshot not completed; a zone not served.
	_, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID, Size: 1})
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("a volume smaller than its snapshot: %v", err)
	}
	open := f.putSnapshot(t, f.p, StartSnapshotInput{}, nil, false)
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: open.ID})
	wantClass(t, "a volume from a pending snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-west-2a", Size: 1})
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("a volume in another region's zone: %v", err)
	}

	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID,
		Tags: []openami.Tag{{Key: "Name", Value: "data"}}})
	if err != nil {
		t.Fatal(err)
	}
	if vol.State != openami.VolumeAvailable || vol.Size != 2 || vol.Type != "gp2" || vol.Base != snap.Root || vol.Encrypted {
		t.Fatalf("volume from a snapshot: %+v", vol.Volume)
	}
	written := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 1, written); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int64][]byte{0: data[0], 1: written, 2: data[2], 3: make([]byte, openami.BlockSize)} {
		if !bytes.Equal(f.readVolume(t, f.p, vol.ID, i), want) {
			t.Fatalf("volume block %d reads back wrong", i)
		}
	}
	child, err := f.vols.CreateSnapshot(ctx, f.p, vol.ID, "child", nil)
	if err != nil {
		t.Fatal(err)
	}
	if child.State != openami.SnapshotCompleted || child.VolumeID != vol.ID || child.DataBytes != 3*openami.BlockSize {
		t.Fatalf("snapshot of a volume: %+v", child.Snapshot)
	}

	// Describe by id, and by a filter of the rules' own.
	vs, _, err := f.vols.DescribeVolumes(ctx, f.p, []string{vol.ID}, nil, Page{})
	if err != nil || len(vs) != 1 || vs[0].ID != vol.ID || len(vs[0].Tags) != 1 {
		t.Fatalf("DescribeVolumes = %+v, %v", vs, err)
	}
	ss, _, err := f.vols.DescribeSnapshots(ctx, f.p, DescribeSnapshotsInput{OwnerIDs: []string{"self"}})
	if err != nil || len(ss) != 3 {
		t.Fatalf("DescribeSnapshots of self = %d snapshots, %v; want 3", len(ss), err)
	}

	// Another account sees neither, and cannot delete them: NotFound,
	// as for what does not exist.
	other := f.newAccount(t, "other")
	_, _, err = f.vols.DescribeVolumes(ctx, other, []string{vol.ID}, nil, Page{})
	wantClass(t, "another account's volume", err, openami.NotFound, openami.ResourceVolume)
	wantClass(t, "deleting another account's volume", f.vols.DeleteVolume(ctx, other, vol.ID), openami.NotFound, openami.ResourceVolume)
	wantClass(t, "deleting another account's snapshot", f.vols.DeleteSnapshot(ctx, other, snap.ID), openami.NotFound, openami.ResourceSnapshot)
	_, err = f.vols.CreateVolume(ctx, other, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID})
	wantClass(t, "a volume from another account's private snapshot", err, openami.NotFound, openami.ResourceSnapshot)

	// Attached to an instance, a volume is in use and stays.
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := f.vols.OwnedVolume(tx, f.p, vol.ID)
		if err != nil {
			return err
		}
		return f.vols.AttachToInstance(tx, v, "i-0123456789abcdef0", "/dev/sdf", f.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := f.volume(t, vol.ID); v.State != openami.VolumeInUse || v.InstanceID != "i-0123456789abcdef0" {
		t.Fatalf("attached volume: %s on %q", v.State, v.InstanceID)
	}
	wantClass(t, "deleting an attached volume", f.vols.DeleteVolume(ctx, f.p, vol.ID), openami.InUse, openami.ResourceVolume)
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		return f.vols.DetachFromInstance(tx, f.volume(t, vol.ID))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.vols.DeleteVolume(ctx, f.p, vol.ID); err != nil {
		t.Fatalf("deleting a detached volume: %v", err)
	}
	_, _, err = f.vols.DescribeVolumes(ctx, f.p, []string{vol.ID}, nil, Page{})
	wantClass(t, "a deleted volume", err, openami.NotFound, openami.ResourceVolume)

	// A snapshot an image uses stays; once unused, it goes.
	f.mu.Lock()
	f.usedBy[snap.ID] = []string{"ami-0123456789abcdef0"}
	f.mu.Unlock()
	wantClass(t, "deleting a snapshot an image uses", f.vols.DeleteSnapshot(ctx, f.p, snap.ID), openami.InUse, openami.ResourceSnapshot)
	f.mu.Lock()
	delete(f.usedBy, snap.ID)
	f.mu.Unlock()
	if err := f.vols.DeleteSnapshot(ctx, f.p, snap.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.vols.DescribeSnapshots(ctx, f.p, DescribeSnapshotsInput{SnapshotIDs: []string{snap.ID}})
	wantClass(t, "a deleted snapshot", err, openami.NotFound, openami.ResourceSnapshot)
	// The child keeps the blocks it shares with its deleted parent.
	again, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: child.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.readVolume(t, f.p, again.ID, 2), data[2]) || !bytes.Equal(f.readVolume(t, f.p, again.ID, 1), written) {
		t.Fatal("a volume of the child reads back wrong")
	}
}

// TestCopySnapshot: within a region a copy shares its source's map and is
// completed at once; across regions it is pending until the worker's
// copy (CopyInto) ends, and then reads as its source; a source not
// completed, or not the caller's to see, is refused.
func TestCopySnapshot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{1: block(0)}
	src := f.putSnapshot(t, f.p, StartSnapshotInput{}, data, true)

	same, err := f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if same.ID == src.ID || same.State != openami.SnapshotCompleted || same.Root != src.Root || same.Description == "" {
		t.Fatalf("copy within a region: %+v", same.Snapshot)
	}
	f.mu.Lock()
	queued := len(f.copies)
	f.mu.Unlock()
	if queued != 0 {
		t.Fatalf("a copy within a region under the same key asked for background work (%d)", queued)
	}

	west := f.p
	west.Region = "us-west-2"
	cross, err := f.vols.CopySnapshot(ctx, west, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1", Description: "west"})
	if err != nil {
		t.Fatal(err)
	}
	if cross.Region != "us-west-2" || cross.State != openami.SnapshotPending || cross.Description != "west" {
		t.Fatalf("copy across regions: %+v", cross.Snapshot)
	}
	f.runCopies(t)
	got := f.snapshot(t, "us-west-2", cross.ID)
	if got.State != openami.SnapshotCompleted || got.DataBytes != src.DataBytes {
		t.Fatalf("copy across regions after the copy: %+v", got)
	}
	vol, err := f.vols.CreateVolume(ctx, west, CreateVolumeInput{AvailabilityZone: "us-west-2a", SnapshotID: cross.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.readVolume(t, west, vol.ID, 1), data[1]) {
		t.Fatal("the copy in us-west-2 reads back wrong")
	}

	open := f.putSnapshot(t, f.p, StartSnapshotInput{}, nil, false)
	_, err = f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: open.ID, SourceRegion: "us-east-1"})
	wantClass(t, "copying a pending snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	other := f.newAccount(t, "other")
	_, err = f.vols.CopySnapshot(ctx, other, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1"})
	wantClass(t, "copying another account's private snapshot", err, openami.NotFound, openami.ResourceSnapshot)
	_, err = f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "eu-nowhere-1"})
	wantClass(t, "copying from a region not served", err, openami.InvalidParameter, openami.ResourceRegion)

	// Shared with the other account, it may copy it.
	if err := f.vols.ModifySnapshotAttribute(ctx, f.p, src.ID, []Permission{{AccountID: other.AccountID}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.CopySnapshot(ctx, other, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1"}); err != nil {
		t.Fatalf("copying a snapshot shared with the account: %v", err)
	}
}

// TestEncryptionByDefault: with encryption by default on, new volumes and
// snapshots of the account in the region are encrypted under its default
// key (alias/aws/ebs, made on first use, until another is set); other
// accounts and regions are as they were.
func TestEncryptionByDefault(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if on, err := f.vols.GetEbsEncryptionByDefault(ctx, f.p); err != nil || on {
		t.Fatalf("encryption by default at first: %v, %v", on, err)
	}
	plain, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1})
	if err != nil || plain.Encrypted {
		t.Fatalf("a volume before encryption by default: %+v, %v", plain.Volume, err)
	}
	if _, err := f.vols.SetEbsEncryptionByDefault(ctx, f.p, true); err != nil {
		t.Fatal(err)
	}
	if on, err := f.vols.GetEbsEncryptionByDefault(ctx, f.p); err != nil || !on {
		t.Fatalf("encryption by default after it was set: %v, %v", on, err)
	}

	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	aliases, _, err := f.keys.ListAliases(ctx, f.p, "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	managed := ""
	for _, a := range aliases {
		if a.Name == "alias/aws/ebs" {
			managed = openami.KeyARN(f.p.Region, f.p.AccountID, a.TargetKeyID)
		}
	}
	if !vol.Encrypted || managed == "" || vol.KmsKeyID != managed {
		t.Fatalf("a volume under encryption by default: encrypted %v under %q, want alias/aws/ebs (%q)", vol.Encrypted, vol.KmsKeyID, managed)
	}
	data := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 0, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.readVolume(t, f.p, vol.ID, 0), data) {
		t.Fatal("an encrypted volume reads back wrong")
	}
	snap := f.putSnapshot(t, f.p, StartSnapshotInput{}, map[int64][]byte{0: data}, true)
	if !snap.Encrypted || snap.KmsKeyID != managed {
		t.Fatalf("a snapshot under encryption by default: %v under %q", snap.Encrypted, snap.KmsKeyID)
	}
	if s := f.putSnapshot(t, f.p, StartSnapshotInput{Plain: true}, nil, true); s.Encrypted {
		t.Fatal("a snapshot asked plain (boot files) was encrypted")
	}

	// A customer key as the default; reset, alias/aws/ebs again.
	key, err := f.keys.CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.vols.ModifyEbsDefaultKmsKeyID(ctx, f.p, key.ID); err != nil || got != key.ARN() {
		t.Fatalf("ModifyEbsDefaultKmsKeyID = %q, %v; want %s", got, err, key.ARN())
	}
	if vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1}); err != nil || vol.KmsKeyID != key.ARN() {
		t.Fatalf("a volume under the customer default key: %q, %v", vol.KmsKeyID, err)
	}
	if got, err := f.vols.ResetEbsDefaultKmsKeyID(ctx, f.p); err != nil || got != managed {
		t.Fatalf("ResetEbsDefaultKmsKeyID = %q, %v; want %s", got, err, managed)
	}
	if vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1}); err != nil || vol.KmsKeyID != managed {
		t.Fatalf("a volume after the default key's reset: %q, %v; want %s", vol.KmsKeyID, err, managed)
	}
	_, err = f.vols.ModifyEbsDefaultKmsKeyID(ctx, f.p, "alias/nope")
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("a default key that does not exist: %v, want InvalidParameter", err)
	}

	// Another account, and another region of the same account, are not
	// encrypted by default.
	other := f.newAccount(t, "other")
	west := f.p
	west.Region = "us-west-2"
	for _, c := range []struct {
		p    openami.Principal
		zone string
	}{{other, "us-east-1a"}, {west, "us-west-2a"}} {
		v, err := f.vols.CreateVolume(ctx, c.p, CreateVolumeInput{AvailabilityZone: c.zone, Size: 1})
		if err != nil || v.Encrypted {
			t.Fatalf("a volume of %s in %s: encrypted %v, %v", c.p.AccountID, c.p.Region, v.Encrypted, err)
		}
	}
}
