package ebs

import (
	"context"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// EachBlock calls fn, in index order, with the data of each block of
// snap's map that SnapshotBlocks listed (blocks; the ones it lacks are
// zeros), decrypted with snap's data key if snap is encrypted. data is
// BlockSize bytes, reused from call to call: fn must not keep it. It
// holds one block in memory whatever the snapshot's size. The caller
// checks, before, that whoever asked may use snap's key (CheckKeyUse):
// EachBlock is the service's own read (exports, stores).
func (s *Volumes) EachBlock(ctx context.Context, snap openami.Snapshot, blocks []metadata.BlockRef, fn func(index int64, data []byte) error) error {
	rb, err := s.blocks(snap.Region)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(ctx, snap.KmsKeyID)
	if err != nil {
		return err
	}
	buf := make([]byte, openami.BlockSize)
	for _, b := range blocks {
		if b.Digest.IsZero() {
			continue
		}
		if err := readChunk(ctx, rb, dk, b.Digest, buf); err != nil {
			return fmt.Errorf("ebs: read block %d of %s: %w", b.Index, snap.ID, err)
		}
		if err := fn(b.Index, buf); err != nil {
			return err
		}
	}
	return nil
}
