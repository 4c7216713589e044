package blockstore

import (
	"context"
	"fmt"
	"io"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// ChunkBatch stores chunks whose blobs become durable together, at
// Commit (blob.Batch): a writer of many blocks (rules/imports) pays the
// blob store's durability once per batch rather than once per chunk. The
// contract stays "a record never names bytes that a crash can lose": the
// records naming the batch's chunks must commit only after Commit has
// returned nil. A ChunkBatch is used by one goroutine at a time.
type ChunkBatch struct {
	c     *Chunks
	b     blob.Batch
	sizes map[openami.Digest]int64 // the chunks this batch writes, and their frames' sizes
}

// Batch starts a batch of chunk writes.
func (c *Chunks) Batch() *ChunkBatch {
	return &ChunkBatch{c: c, b: blob.NewBatch(c.b), sizes: map[openami.Digest]int64{}}
}

// Put is Chunks.Put within the batch: the chunk is durable, and may be
// seen by others, only once Commit has returned nil. A chunk this batch
// already holds is not written again (wrote is true: the batch writes it).
func (cb *ChunkBatch) Put(ctx context.Context, k *DataKey, data []byte) (d openami.Digest, stored int64, wrote bool, err error) {
	return cb.c.putNamed(ctx, k, data, cb.put)
}

// PutVerified is Chunks.PutVerified within the batch (see Put).
func (cb *ChunkBatch) PutVerified(ctx context.Context, k *DataKey, d openami.Digest, data []byte) (stored int64, wrote bool, err error) {
	return cb.c.putVerified(ctx, k, d, data, cb.put)
}

// put is the batch's putFunc: a chunk already in the batch is skipped.
func (cb *ChunkBatch) put(ctx context.Context, key string, r io.Reader, size int64) error {
	d, ok := parseChunkKey(key)
	if !ok {
		return fmt.Errorf("blockstore: batch put of %s, not a chunk", key)
	}
	if _, ok := cb.sizes[d]; ok {
		return nil
	}
	if err := cb.b.Put(ctx, key, r, size); err != nil {
		return err
	}
	cb.sizes[d] = size
	return nil
}

// Commit makes the batch's chunks durable (blob.Batch.Commit); the batch
// is then empty and may be used again.
func (cb *ChunkBatch) Commit(ctx context.Context) error {
	clear(cb.sizes)
	if err := cb.b.Commit(ctx); err != nil {
		return fmt.Errorf("blockstore: commit chunks: %w", err)
	}
	return nil
}

// Abort drops the chunks written since the last Commit.
func (cb *ChunkBatch) Abort() {
	clear(cb.sizes)
	cb.b.Abort()
}
