package ebs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// A volume made from a snapshot under another key than its own (a plain
// snapshot into an encrypted volume, or an encrypted one into a volume
// under another KMS key) cannot share the snapshot's chunks: they are
// sealed, or named, under the wrong key. Such a volume is created in state
// creating, its base still the snapshot's map (which keeps that map safe
// from garbage collection even if the snapshot is deleted meanwhile), with
// a fill task that names the snapshot's key. It is filled in the
// background: every block of the base is read under the snapshot's key,
// stored under the volume's and recorded in the volume's overlay, as if
// written to it; the last transaction empties the base, drops the task and
// makes the volume available (or in-use, attached to the instance it was
// launched with, which then starts). A creating volume cannot be read,
// written, attached, detached or snapshotted. A restart refills the
// volumes it finds creating: the work is idempotent, and the chunks
// already stored are not written again. A fill that cannot finish turns
// the volume to error.

// fillTaskSetting names the setting that holds a creating volume's fill
// task: the KMS key ARN of the data in its base ("" for plain).
func fillTaskSetting(region, volumeID string) string { return "fill-task/" + region + "/" + volumeID }

// RecordFill records in tx that volume v, creating, is to be filled from
// its base, which is under srcKeyARN.
func RecordFill(tx metadata.Tx, v openami.Volume, srcKeyARN string) error {
	return tx.Settings().Put(fillTaskSetting(v.Region, v.ID), []byte(srcKeyARN))
}

// FillBatch is how many blocks a fill commits per transaction (tests
// lower it to cross batches with few blocks).
var FillBatch = 256

// FailFill turns the creating volume of the region to error and drops
// its fill task, after a fill that cannot finish (FillVolume's error).
// A volume no longer creating is left as it is.
func (s *Volumes) FailFill(ctx context.Context, region, volumeID string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := tx.Volumes().Get(region, volumeID)
		if err != nil || v.State != openami.VolumeCreating {
			return err
		}
		v.State = openami.VolumeError
		if err := tx.Settings().Delete(fillTaskSetting(region, volumeID)); err != nil {
			return err
		}
		return tx.Volumes().Update(v)
	})
}

// FillVolume copies the blocks of a creating volume's base into its
// overlay under the volume's key, then empties the base and makes the
// volume available or in-use. A volume no longer creating is left as it
// is. It is idempotent: a fill a restart or a takeover interrupted
// resumes, reading again only the blocks of the batch it was in (each
// batch of FillBatch blocks commits whole), and the chunks already stored
// are not written again. It fails with the store's or the block store's
// error, or ctx's.
func (s *Volumes) FillVolume(ctx context.Context, region, volumeID string) error {
	var (
		v      openami.Volume
		srcARN string
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if v, err = tx.Volumes().Get(region, volumeID); err != nil || v.State != openami.VolumeCreating {
			return err
		}
		task, err := tx.Settings().Get(fillTaskSetting(region, volumeID))
		if errors.Is(err, openami.ErrNotFound) {
			return fmt.Errorf("ebs: creating volume %s has no fill task", volumeID)
		}
		srcARN = string(task)
		return err
	})
	if err != nil || v.State != openami.VolumeCreating {
		return err
	}
	rb, err := s.blocks(region)
	if err != nil {
		return err
	}
	srcKey, err := s.dataKey(ctx, srcARN)
	if err != nil {
		return err
	}
	dstKey, err := s.dataKey(ctx, v.KmsKeyID)
	if err != nil {
		return err
	}
	next := int64(0)
	for {
		var (
			batch  []metadata.BlockRef
			filled map[int64]bool
		)
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			batch, filled = batch[:0], nil
			err := s.maps.Walk(txNodes{tx: tx, region: region}, v.Base, next, func(index int64, d openami.Digest) error {
				if len(batch) == FillBatch {
					return errStopWalk
				}
				batch = append(batch, metadata.BlockRef{Index: index, Digest: d})
				return nil
			})
			if errors.Is(err, errStopWalk) {
				err = nil
			}
			if err != nil || len(batch) == 0 {
				return err
			}
			// The batch's blocks an earlier run of this fill committed
			// (nothing else writes a creating volume): a fill taken over
			// after a crash resumes from its last batch.
			done, err := tx.Volumes().Blocks(volumeID, batch[0].Index-1, FillBatch)
			for _, b := range done {
				if filled == nil {
					filled = map[int64]bool{}
				}
				filled[b.Index] = true
			}
			return err
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		next = batch[len(batch)-1].Index + 1
		if batch = slices.DeleteFunc(batch, func(b metadata.BlockRef) bool { return filled[b.Index] }); len(batch) == 0 {
			continue // filled whole by an earlier run
		}
		var (
			refs   []metadata.BlockRef
			chunks []*blockstore.ChunkRef
		)
		store := func() error {
			var err error
			refs, chunks, err = s.rekeyBlocks(ctx, rb, rb, srcKey, dstKey, batch)
			return err
		}
		if err := store(); err != nil {
			return err
		}
		err = s.commitWithChunks(ctx, rb, chunks, store, func(tx metadata.Tx) error {
			cur, err := tx.Volumes().Get(region, volumeID)
			if err != nil {
				return err
			}
			if cur.State != openami.VolumeCreating {
				return fmt.Errorf("ebs: volume %s stopped being created (%s)", volumeID, cur.State)
			}
			for _, r := range refs {
				if !r.Digest.IsZero() {
					if err := tx.Volumes().PutBlock(volumeID, r); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.Volumes().Get(region, volumeID)
		if err != nil || cur.State != openami.VolumeCreating {
			return err
		}
		cur.State, cur.Base = openami.VolumeAvailable, openami.ZeroDigest
		if cur.InstanceID != "" {
			cur.State = openami.VolumeInUse
		}
		if err := tx.Settings().Delete(fillTaskSetting(region, volumeID)); err != nil {
			return err
		}
		return tx.Volumes().Update(cur)
	})
}

// ResumeFills starts again (Config.Fill) the fill of every creating
// volume, after a restart.
func (s *Volumes) ResumeFills(ctx context.Context) error {
	for _, r := range s.regions {
		after := ""
		for {
			var page []openami.Volume
			err := s.store.View(ctx, func(tx metadata.Tx) (err error) {
				page, err = tx.Volumes().List(r.Name, metadata.VolumeQuery{After: after, Limit: 1000})
				return err
			})
			if err != nil {
				return err
			}
			for _, v := range page {
				if v.State == openami.VolumeCreating {
					s.fill(v.Region, v.ID)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}
