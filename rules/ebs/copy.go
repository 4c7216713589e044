package ebs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// CopyStats says how much a cross-region copy moved.
type CopyStats struct {
	Blocks       int   // blocks with data in the source map
	ChunksCopied int   // chunks the destination lacked and received
	BytesCopied  int64 // block bytes read from the source and stored at the destination
}

// CopyBatch is how many blocks a cross-region copy moves per transaction:
// it bounds both the copy's memory and how long a copied chunk waits
// unreferenced before its batch commits. Tests lower it to cross
// batches with few blocks.
var CopyBatch = 1024

// CopyInto fills the pending snapshot dst (in its own region) with the
// block map of the completed snapshot src (in another region, or under
// another key), moving only the chunks dst's region lacks, and then hands dst to the completer,
// which builds its map; block maps are canonical, so every node dst's
// region already has is shared, not duplicated. Blocks are recorded as
// dst's pending blocks batch by batch, so garbage collection keeps what was
// copied, and memory stays bounded whatever the snapshot's size.
func (s *Volumes) CopyInto(ctx context.Context, src, dst openami.Snapshot) (CopyStats, error) {
	var stats CopyStats
	from, err := s.blocks(src.Region)
	if err != nil {
		return stats, err
	}
	to, err := s.blocks(dst.Region)
	if err != nil {
		return stats, err
	}
	// Data under the same key (or plain on both sides) keeps its chunk
	// names and moves only the chunks the destination lacks; data that
	// changes key (encrypting plain data, or re-keying) is translated
	// block by block.
	srcKey, err := s.dataKey(ctx, src.KmsKeyID)
	if err != nil {
		return stats, err
	}
	dstKey, err := s.dataKey(ctx, dst.KmsKeyID)
	if err != nil {
		return stats, err
	}
	if src.Encrypted && !dst.Encrypted {
		return stats, fmt.Errorf("ebs: copy %s: encrypted data is never copied to a plain snapshot", src.ID)
	}
	translate := src.KmsKeyID != dst.KmsKeyID
	var total int64 // blocks with data in the source, for progress
	err = s.store.View(ctx, func(tx metadata.Tx) (err error) {
		total, err = s.maps.Count(txNodes{tx: tx, region: src.Region}, src.Root)
		return err
	})
	if err != nil {
		return stats, err
	}
	next := int64(0)
	for {
		// The next batch of the source's map.
		var batch []metadata.BlockRef
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			batch = batch[:0]
			err := s.maps.Walk(txNodes{tx: tx, region: src.Region}, src.Root, next, func(index int64, d openami.Digest) error {
				if len(batch) == CopyBatch {
					return errStopWalk
				}
				batch = append(batch, metadata.BlockRef{Index: index, Digest: d})
				return nil
			})
			if errors.Is(err, errStopWalk) {
				err = nil
			}
			return err
		})
		if err != nil {
			return stats, err
		}
		if len(batch) == 0 {
			break
		}
		next = batch[len(batch)-1].Index + 1
		stats.Blocks += len(batch)

		var (
			chunks   []*blockstore.ChunkRef
			copyThem func() error // stores the chunks dst's region needs
		)
		if translate {
			// Under another key every block is read and named anew;
			// only those the destination lacks are written.
			refs := batch // batch becomes the destination's names
			copyThem = func() error {
				var err error
				batch, chunks, err = s.rekeyBlocks(ctx, from, to, srcKey, dstKey, refs)
				return err
			}
			if err := copyThem(); err != nil {
				return stats, err
			}
			for _, c := range chunks {
				if c.Wrote {
					stats.ChunksCopied++
					stats.BytesCopied += openami.BlockSize
				}
			}
		} else {
			// Which of its chunks does the destination lack?
			var missing []*blockstore.ChunkRef
			err = s.store.View(ctx, func(tx metadata.Tx) error {
				for _, b := range batch {
					c := &blockstore.ChunkRef{Digest: b.Digest}
					row, err := tx.Chunks().Get(dst.Region, b.Digest)
					if err != nil && !errors.Is(err, openami.ErrNotFound) {
						return err
					}
					if err != nil || row.State != metadata.ChunkLive {
						missing = append(missing, c)
					}
					chunks = append(chunks, c)
				}
				return nil
			})
			if err != nil {
				return stats, err
			}
			copyMissing := func() error {
				return eachBlock(ctx, len(missing), func(i int, buf []byte) error {
					c := missing[i]
					if err := readChunk(ctx, from, srcKey, c.Digest, buf); err != nil {
						return err
					}
					stored, wrote, err := to.chunks.PutVerified(ctx, dstKey, c.Digest, buf)
					c.Stored, c.Wrote = stored, wrote
					return err
				})
			}
			if err := to.gc.WaitCollected(ctx, missing); err != nil {
				return stats, err
			}
			if err := copyMissing(); err != nil {
				return stats, err
			}
			stats.ChunksCopied += len(missing)
			stats.BytesCopied += int64(len(missing)) * openami.BlockSize
			copyThem = func() error { missing = chunks; return copyMissing() }
		}
		err = s.commitWithChunks(ctx, to, chunks, copyThem, func(tx metadata.Tx) error {
			snap, err := tx.Snapshots().Get(dst.Region, dst.ID)
			if err != nil {
				return err
			}
			if snap.State != openami.SnapshotPending {
				return fmt.Errorf("ebs: copy target %s is %s", dst.ID, snap.State)
			}
			for _, b := range batch {
				if err := tx.Snapshots().PutBlock(dst.ID, b); err != nil {
					return err
				}
			}
			// Progress while pending: blocks moved of the source's,
			// short of 100 until the map is built.
			if total > 0 {
				snap.Progress = min(99, int(int64(stats.Blocks)*100/total))
				return tx.Snapshots().Update(snap)
			}
			return nil
		})
		if err != nil {
			return stats, err
		}
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := tx.Snapshots().Get(dst.Region, dst.ID)
		if err != nil {
			return err
		}
		snap.Completing = true
		return tx.Snapshots().Update(snap)
	})
	if err == nil {
		s.kick()
	}
	return stats, err
}

// copyWorkers is how many blocks a copy moves at once: reading,
// decompressing, decrypting and hashing a block is CPU work, and storing
// it waits on the disk or the network.
var copyWorkers = max(4, runtime.GOMAXPROCS(0))

// eachBlock runs fn for i in [0, n) on copyWorkers goroutines, each with
// its own block buffer, and returns the first error.
func eachBlock(ctx context.Context, n int, fn func(i int, buf []byte) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyWorkers)
	for i := range n {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			buf := blockBuffers.Get().([]byte)
			defer blockBuffers.Put(buf)
			return fn(i, buf)
		})
	}
	return g.Wait()
}

// rekeyBlocks reads the blocks src (of from's region, under srcKey) and
// stores each under dstKey in to's region, on copyWorkers goroutines. It
// returns the blocks with their names under dstKey and the chunks to
// reference (a chunk the destination already had is not written again).
func (s *Volumes) rekeyBlocks(ctx context.Context, from, to *regionBlocks, srcKey, dstKey *blockstore.DataKey, src []metadata.BlockRef) ([]metadata.BlockRef, []*blockstore.ChunkRef, error) {
	out := make([]metadata.BlockRef, len(src))
	stored := make([]*blockstore.ChunkRef, len(src))
	err := eachBlock(ctx, len(src), func(i int, buf []byte) error {
		if err := readChunk(ctx, from, srcKey, src[i].Digest, buf); err != nil {
			return err
		}
		d, c, err := s.storeChunk(ctx, to, dstKey, buf)
		out[i], stored[i] = metadata.BlockRef{Index: src[i].Index, Digest: d}, c
		return err
	})
	var chunks []*blockstore.ChunkRef
	for _, c := range stored {
		if c != nil {
			chunks = append(chunks, c)
		}
	}
	return out, chunks, err
}

// copyTaskSetting names the setting that records a copy under way: the
// source snapshot (as it was when the copy began) that the pending
// snapshot dst is being filled from. It is written in the transaction that
// creates dst, so a copy is never pending without its task, and removed
// when the copy ends either way.
func copyTaskSetting(dst openami.Snapshot) string { return "copy-task/" + dst.Region + "/" + dst.ID }

// RecordCopy records in tx that dst is to be filled from src.
func RecordCopy(tx metadata.Tx, src, dst openami.Snapshot) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return tx.Settings().Put(copyTaskSetting(dst), b)
}

// EndCopy ends the copy into dst recorded with RecordCopy: it drops the
// copy's task and, when copyErr is not nil, turns dst, still pending, to
// error with the reason. It kicks the worker, so that an image using the
// copy settles now.
func (s *Volumes) EndCopy(ctx context.Context, dst openami.Snapshot, copyErr error) error {
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if err := tx.Settings().Delete(copyTaskSetting(dst)); err != nil || copyErr == nil {
			return err
		}
		snap, err := tx.Snapshots().Get(dst.Region, dst.ID)
		if err != nil || snap.State != openami.SnapshotPending {
			return err
		}
		snap.State = openami.SnapshotError
		snap.StateReason = "The copy failed: " + copyErr.Error()
		return tx.Snapshots().Update(snap)
	})
	s.kick() // an image using the copy fails now
	return err
}

// CopyUnderWay reports whether the copy into dst recorded with RecordCopy
// has still to move blocks: its task is recorded and dst is pending and
// not yet completing. A worker that takes a copy over checks it first,
// since the node that ran it may have ended it meanwhile.
func (s *Volumes) CopyUnderWay(ctx context.Context, dst openami.Snapshot) (bool, error) {
	var ok bool
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		snap, err := tx.Snapshots().Get(dst.Region, dst.ID)
		if errors.Is(err, openami.ErrNotFound) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		if snap.State != openami.SnapshotPending || snap.Completing {
			ok = false
			return nil
		}
		_, ok, err = copySource(tx, snap)
		return err
	})
	return ok, err
}

// copySource returns the source of the copy that fills the pending
// snapshot dst, if it is a copy under way.
func copySource(tx metadata.Tx, dst openami.Snapshot) (openami.Snapshot, bool, error) {
	b, err := tx.Settings().Get(copyTaskSetting(dst))
	if errors.Is(err, openami.ErrNotFound) {
		return openami.Snapshot{}, false, nil
	}
	if err != nil {
		return openami.Snapshot{}, false, err
	}
	var src openami.Snapshot
	if err := json.Unmarshal(b, &src); err != nil {
		return openami.Snapshot{}, false, fmt.Errorf("ebs: copy task of %s: %w", dst.ID, err)
	}
	return src, true, nil
}

// ResumeCopies starts again (Config.Copy) every copy a restart
// interrupted: each pending, not yet completing snapshot with a copy
// task.
func (s *Volumes) ResumeCopies(ctx context.Context) error {
	type job struct{ src, dst openami.Snapshot }
	var jobs []job
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		jobs = nil
		pending, err := tx.Snapshots().Pending()
		if err != nil {
			return err
		}
		for _, dst := range pending {
			if dst.Completing {
				continue
			}
			src, ok, err := copySource(tx, dst)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			jobs = append(jobs, job{src, dst})
		}
		return nil
	})
	for _, j := range jobs {
		s.copy(j.src, j.dst)
	}
	return err
}
