package ebs

import (
	"context"
	"io"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
)

// This file is what images (rules/images) and instances
// (rules/instances) use of EBS beyond the actions the APIs call: they
// read and check snapshots and volumes, resolve keys, snapshot volumes,
// and create, attach, detach and delete the volumes and snapshots they
// decide on here, in their own transactions, so that EBS's records are
// read and written in one place. (The rest
// are methods and functions named where they are written: CheckKeyUse,
// TargetKey, CopyKey, CheckShareEncrypted, SnapshotVolume, FlushDevices,
// FinishSnapshot, ShapeMapping, RecordCopy, RecordFill.)

// VisibleSnapshot returns the snapshot of the region with the id if the
// caller may use it (its own, public, or shared with it); Malformed for
// a bad id, NotFound for one that does not exist or that it may not see.
func (s *Volumes) VisibleSnapshot(tx metadata.Tx, p openami.Principal, region, id string) (openami.Snapshot, error) {
	return visibleSnapshot(tx, p, region, id)
}

// OwnedSnapshot returns the caller's snapshot of its region; Malformed
// for a bad id, NotFound for anyone else's.
func (s *Volumes) OwnedSnapshot(tx metadata.Tx, p openami.Principal, id string) (openami.Snapshot, error) {
	return ownedSnapshot(tx, p, id)
}

// OwnedVolume returns the caller's volume of its region; Malformed for a
// bad id, NotFound for anyone else's.
func (s *Volumes) OwnedVolume(tx metadata.Tx, p openami.Principal, id string) (openami.Volume, error) {
	return ownedVolume(tx, p, id)
}

// UsableKeyToDecrypt resolves keyID (which the rules' input field named)
// for reading data encrypted under it on the caller's behalf and checks
// that it is enabled, failing as CheckKeyUse does.
func (s *Volumes) UsableKeyToDecrypt(tx metadata.Tx, p openami.Principal, field, keyID string) (openami.Key, error) {
	return s.usableEBSKey(tx, p, field, keyID, ebsDecryptAction)
}

// FillSnapshotFromVolume completes the pending snapshot snap from volume
// v as it is now, in tx: the snapshot gets v's base with its written
// blocks applied, and v's base becomes that map with its overlay
// emptied, as SnapshotVolume does for a new snapshot record.
func (s *Volumes) FillSnapshotFromVolume(tx metadata.Tx, snap openami.Snapshot, v openami.Volume) error {
	ns, err := nodesFor(tx, v.Region)
	if err != nil {
		return err
	}
	root, err := s.applyBlocks(ns, v.Base, func(after int64, limit int) ([]metadata.BlockRef, error) {
		return tx.Volumes().Blocks(v.ID, after, limit)
	})
	if err != nil {
		return err
	}
	count, err := s.maps.Count(ns, root)
	if err != nil {
		return err
	}
	snap.State, snap.Progress, snap.Root, snap.DataBytes = openami.SnapshotCompleted, 100, root, count*openami.BlockSize
	if err := tx.Snapshots().Update(snap); err != nil {
		return err
	}
	v.Base = root
	if err := tx.Volumes().DeleteBlocks(v.ID); err != nil {
		return err
	}
	return tx.Volumes().Update(v)
}

// SnapshotBlocks returns, in tx, the blocks of snap's map in index order
// (all-zero blocks are not stored, so not listed).
func (s *Volumes) SnapshotBlocks(tx metadata.Tx, snap openami.Snapshot) ([]metadata.BlockRef, error) {
	var blocks []metadata.BlockRef
	err := s.maps.Walk(txNodes{tx: tx, region: snap.Region}, snap.Root, 0, func(index int64, d openami.Digest) error {
		blocks = append(blocks, metadata.BlockRef{Index: index, Digest: d})
		return nil
	})
	return blocks, err
}

// WritePlainBlocks writes to w the bytes of a plain snapshot of the
// region whose blocks SnapshotBlocks listed, up to its last block, zeros
// for the blocks it lacks. It fails with w's error, ctx's, or the block
// store's (a missing chunk is damage, never NotFound).
func (s *Volumes) WritePlainBlocks(ctx context.Context, region string, blocks []metadata.BlockRef, w io.Writer) error {
	rb, err := s.blocks(region)
	if err != nil {
		return err
	}
	buf := make([]byte, openami.BlockSize)
	next := int64(0)
	for _, b := range blocks {
		for ; next < b.Index; next++ {
			clear(buf)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		if b.Digest.IsZero() {
			clear(buf)
		} else if err := readChunk(ctx, rb, nil, b.Digest, buf); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		next = b.Index + 1
	}
	return nil
}

// StartCopy starts copying src into the pending snapshot dst in the
// background, after the transaction that recorded it with RecordCopy
// committed (CopyImage's snapshots).
func (s *Volumes) StartCopy(src, dst openami.Snapshot) {
	s.copy(src, dst)
}

// StartFill starts filling the creating volume of the region in the
// background, after the transaction that recorded it with RecordFill
// committed (the volumes RunInstances makes of snapshots).
func (s *Volumes) StartFill(region, volumeID string) {
	s.fill(region, volumeID)
}

// Snapshot returns, in tx, the snapshot of the region with the id,
// whatever its owner or state (one an image's mapping names), or an
// error wrapping openami.ErrNotFound when there is none.
func (s *Volumes) Snapshot(tx metadata.Tx, region, id string) (openami.Snapshot, error) {
	return tx.Snapshots().Get(region, id)
}

// Volume returns, in tx, the volume of the region with the id, whatever
// its owner or state (one an instance's block device names), or an
// error wrapping openami.ErrNotFound when there is none.
func (s *Volumes) Volume(tx metadata.Tx, region, id string) (openami.Volume, error) {
	return tx.Volumes().Get(region, id)
}

// DeleteUnusedSnapshot deletes snap and its owner's tags on it, in tx
// whose caller owns it and found that no image uses it
// (DeregisterImage's DeleteAssociatedSnapshots).
func (s *Volumes) DeleteUnusedSnapshot(tx metadata.Tx, snap openami.Snapshot) error {
	if err := tx.Tags().DeleteAll(snap.Region, snap.AccountID, snap.ID); err != nil {
		return err
	}
	return tx.Snapshots().Delete(snap.Region, snap.ID)
}

// CreateLaunchVolume records v, a volume of an instance being launched in
// tx (RunInstances' block device mappings), with the tags, if any, set on
// it for its owner. v comes attached to its instance: in use, or creating
// when the caller recorded its fill with RecordFill (and starts it with
// StartFill once tx committed). It fails only with tx's errors.
func (s *Volumes) CreateLaunchVolume(tx metadata.Tx, v openami.Volume, tags []openami.Tag) error {
	if err := tx.Volumes().Create(v); err != nil {
		return err
	}
	if len(tags) > 0 {
		return tx.Tags().Set(v.Region, v.AccountID, v.ID, openami.ResourceVolume, tags)
	}
	return nil
}

// AttachToInstance records in tx that v, which the caller checked it may
// attach (AttachVolume), is attached to the instance as device since at:
// it is in use and not deleted on termination. It fails only with tx's
// errors.
func (s *Volumes) AttachToInstance(tx metadata.Tx, v openami.Volume, instanceID, device string, at time.Time) error {
	v.State, v.InstanceID, v.Device, v.AttachTime, v.DeleteOnTermination = openami.VolumeInUse, instanceID, device, at, false
	return tx.Volumes().Update(v)
}

// DetachFromInstance records in tx that v is attached to no instance
// (DetachVolume, or its instance terminated): an in-use volume becomes
// available, a creating or failed one keeps its state. It fails only with
// tx's errors.
func (s *Volumes) DetachFromInstance(tx metadata.Tx, v openami.Volume) error {
	v.InstanceID, v.Device, v.AttachTime, v.DeleteOnTermination = "", "", time.Time{}, false
	if v.State == openami.VolumeInUse {
		v.State = openami.VolumeAvailable
	}
	return tx.Volumes().Update(v)
}

// SetDeleteOnTermination records in tx whether v, attached to an
// instance, is deleted when the instance terminates
// (ModifyInstanceAttribute). It fails only with tx's errors.
func (s *Volumes) SetDeleteOnTermination(tx metadata.Tx, v openami.Volume, del bool) error {
	v.DeleteOnTermination = del
	return tx.Volumes().Update(v)
}

// DeleteWithInstance deletes v, its owner's tags on it and its fill task,
// if any, in tx that terminates the instance v was attached to with
// DeleteOnTermination. It fails only with tx's errors.
func (s *Volumes) DeleteWithInstance(tx metadata.Tx, v openami.Volume) error {
	if err := tx.Tags().DeleteAll(v.Region, v.AccountID, v.ID); err != nil {
		return err
	}
	if err := tx.Settings().Delete(fillTaskSetting(v.Region, v.ID)); err != nil {
		return err
	}
	return tx.Volumes().Delete(v.Region, v.ID)
}

// CreateAwaitedSnapshot records, in tx, a pending snapshot of v with the
// description, started at start, that its caller fills later with
// FillSnapshotFromVolume (a CreateImage that waits for its instance to be
// down) and that turns to error if still pending after deadline; the
// tags, if any, are set on it for v's owner. It returns the snapshot, and
// fails only with tx's errors.
func (s *Volumes) CreateAwaitedSnapshot(tx metadata.Tx, v openami.Volume, description string, start, deadline time.Time, tags []openami.Tag) (openami.Snapshot, error) {
	snap := openami.Snapshot{
		ID: ids.New("snap"), Region: v.Region, AccountID: v.AccountID, VolumeID: v.ID, VolumeSize: v.Size,
		State: openami.SnapshotPending, Description: description, StartTime: start, Deadline: deadline,
	}
	if err := tx.Snapshots().Create(snap); err != nil {
		return snap, err
	}
	if len(tags) > 0 {
		if err := tx.Tags().Set(v.Region, v.AccountID, snap.ID, openami.ResourceSnapshot, tags); err != nil {
			return snap, err
		}
	}
	return snap, nil
}

// FailSnapshot turns snap, pending, to error with the reason, in tx (an
// awaited snapshot whose volume is gone). It fails only with tx's errors.
func (s *Volumes) FailSnapshot(tx metadata.Tx, snap openami.Snapshot, reason string) error {
	snap.State, snap.StateReason = openami.SnapshotError, reason
	return tx.Snapshots().Update(snap)
}

// CreateSnapshotCopy records dst, a copy of the snapshot src that its
// caller made and checked (CopyImage's, with CheckKeyUse and CopyKey), in
// tx. A pending dst is recorded with its copy's task (RecordCopy), which
// the caller starts with StartCopy once tx committed; a completed one
// shares src's map. It fails only with tx's errors.
func (s *Volumes) CreateSnapshotCopy(tx metadata.Tx, src, dst openami.Snapshot) error {
	if dst.State == openami.SnapshotPending {
		if err := RecordCopy(tx, src, dst); err != nil {
			return err
		}
	}
	return tx.Snapshots().Create(dst)
}
