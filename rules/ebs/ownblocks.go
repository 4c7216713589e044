package ebs

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// OwnBlock is one block for PutOwnSnapshotBlocks.
type OwnBlock struct {
	Index int64
	Data  []byte   // openami.BlockSize bytes
	Sum   [32]byte // the SHA-256 of Data, computed by the caller
}

// PutOwnSnapshotBlocks writes blocks of a pending snapshot for the
// service's own writers (rules/imports), all or none: their chunks are
// stored as one batch, made durable together (blockstore.ChunkBatch: on a
// directory blob store two syncs for the batch instead of two fsyncs per
// chunk), and then one transaction records them. Each Sum is taken as it
// is, not computed again to check it (the writer has just computed it).
// The caller keeps the
// blocks' data until it returns (a chunk a collection is deleting is
// stored again from it).
func (s *Volumes) PutOwnSnapshotBlocks(ctx context.Context, p openami.Principal, snapshotID string, blocks []OwnBlock) error {
	if len(blocks) == 0 {
		return nil
	}
	if err := checkSnapshotID(snapshotID); err != nil {
		return err
	}
	for _, b := range blocks {
		if len(b.Data) != openami.BlockSize {
			return fmt.Errorf("ebs: a block of %d bytes", len(b.Data))
		}
	}
	// Check the snapshot before storing anything.
	var keyARN string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		snap, err := writableBlocks(tx, p, snapshotID, blocks)
		keyARN = snap.KmsKeyID
		return err
	})
	if err != nil {
		return err
	}
	rb, err := s.blocks(p.Region)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return err
	}
	batch := rb.chunks.Batch()
	defer batch.Abort()
	digests := make([]openami.Digest, len(blocks))
	var refs []*blockstore.ChunkRef
	for i, b := range blocks {
		d, chunk, err := putVerifiedChunk(ctx, batch, dk, b.Sum, b.Data)
		if err != nil {
			return err
		}
		digests[i] = d
		if chunk != nil {
			refs = append(refs, chunk)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return err
	}
	restore := func() error {
		for _, b := range blocks {
			if _, _, err := s.storeVerifiedChunk(ctx, rb, dk, b.Sum, b.Data); err != nil {
				return err
			}
		}
		return nil
	}
	return s.commitWithChunks(ctx, rb, refs, restore, func(tx metadata.Tx) error {
		snap, err := writableBlocks(tx, p, snapshotID, blocks)
		if err != nil {
			return err
		}
		for i, b := range blocks {
			ref := metadata.BlockRef{Index: b.Index, Digest: digests[i], Checksum: base64.StdEncoding.EncodeToString(b.Sum[:])}
			if err := tx.Snapshots().PutBlock(snap.ID, ref); err != nil {
				return err
			}
		}
		return nil
	})
}

// writableBlocks is writableSnapshot for every block's index: the
// snapshot is read twice, for the lowest index and the highest.
func writableBlocks(tx metadata.Tx, p openami.Principal, id string, blocks []OwnBlock) (openami.Snapshot, error) {
	lo, hi := blocks[0].Index, blocks[0].Index
	for _, b := range blocks {
		lo, hi = min(lo, b.Index), max(hi, b.Index)
	}
	if _, err := writableSnapshot(tx, p, id, lo); err != nil {
		return openami.Snapshot{}, err
	}
	return writableSnapshot(tx, p, id, hi)
}
