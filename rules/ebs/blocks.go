package ebs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// regionBlocks is one region's block store: its chunks in a blob store,
// and its block-map nodes and chunk rows in the metadata store.
type regionBlocks struct {
	name   string
	chunks *blockstore.Chunks
	// blobs is the blob store under chunks, for what only it can do (see
	// blob.Cleaner).
	blobs blob.Store
	// gc keeps the region's chunks alive while referenced and collects
	// them when not (blockstore/liveness.go, blockstore/gc.go), over the
	// region's records in the metadata store (regionRecords).
	gc *blockstore.Collector
}

// newRegionBlocks returns the block store of region over blobs.
func (s *Volumes) newRegionBlocks(region string, blobs blob.Store) *regionBlocks {
	now := func() time.Time { return s.now() } // s.now may be set after New builds the region
	gc := blockstore.NewCollector(region, blobs, regionRecords{store: s.store, region: region}, s.maps, now)
	return &regionBlocks{name: region, chunks: gc.Chunks(), blobs: blobs, gc: gc}
}

// gcGenSetting names the setting that holds a region's garbage-collection
// generation. Writers record the current generation on the chunks and
// nodes they reference; a collection only deletes what was last referenced
// in an earlier generation (see blockstore/gc.go).
func gcGenSetting(region string) string { return "gc-generation/" + region }

// generation returns the region's current garbage-collection generation.
func generation(tx metadata.Tx, region string) (int64, error) {
	v, err := tx.Settings().Get(gcGenSetting(region))
	if errors.Is(err, openami.ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ebs: bad %s setting %q: %w", gcGenSetting(region), v, err)
	}
	return n, nil
}

// txNodes adapts a transaction's Nodes role to blockstore.NodeStore for one
// region, stamping the nodes it writes with the current generation.
type txNodes struct {
	tx     metadata.Tx
	region string
	gen    int64
}

func (n txNodes) GetNode(h openami.Digest) ([]byte, error) { return n.tx.Nodes().Get(n.region, h) }

func (n txNodes) PutNode(h openami.Digest, data []byte) error {
	return n.tx.Nodes().Put(n.region, h, data, n.gen)
}

// nodesFor returns the node store of the region within tx.
func nodesFor(tx metadata.Tx, region string) (txNodes, error) {
	gen, err := generation(tx, region)
	return txNodes{tx: tx, region: region, gen: gen}, err
}

// blocks returns the block store of a served region.
func (s *Volumes) blocks(region string) (*regionBlocks, error) {
	b, ok := s.blockStores[region]
	if !ok {
		return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", region)
	}
	return b, nil
}

// storeChunk stores one block (exactly BlockSize bytes) in the region's
// chunk store, encrypted under k unless k is nil, and returns its digest
// and the chunk to reference when the write commits. An all-zero block is
// not stored: it returns ZeroDigest and a nil chunk.
func (s *Volumes) storeChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, data []byte) (openami.Digest, *blockstore.ChunkRef, error) {
	d, stored, wrote, err := rb.chunks.Put(ctx, k, data)
	if err != nil || d.IsZero() {
		return d, nil, err
	}
	return d, &blockstore.ChunkRef{Digest: d, Stored: stored, Wrote: wrote}, nil
}

// zeroBlockSum is the SHA-256 of an all-zero block.
var zeroBlockSum = sha256.Sum256(make([]byte, openami.BlockSize))

// storeVerifiedChunk is storeChunk for a block whose SHA-256 the caller
// has computed: a zero block is recognised by its hash alone, and a plain
// block is not hashed again (an encrypted one is named under k).
func (s *Volumes) storeVerifiedChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, sum [32]byte, data []byte) (openami.Digest, *blockstore.ChunkRef, error) {
	return putVerifiedChunk(ctx, rb.chunks, k, sum, data)
}

// chunkPutter stores chunks: a region's *blockstore.Chunks, or a
// *blockstore.ChunkBatch of them.
type chunkPutter interface {
	Put(ctx context.Context, k *blockstore.DataKey, data []byte) (openami.Digest, int64, bool, error)
	PutVerified(ctx context.Context, k *blockstore.DataKey, d openami.Digest, data []byte) (int64, bool, error)
}

// putVerifiedChunk is storeVerifiedChunk through cp.
func putVerifiedChunk(ctx context.Context, cp chunkPutter, k *blockstore.DataKey, sum [32]byte, data []byte) (openami.Digest, *blockstore.ChunkRef, error) {
	if sum == zeroBlockSum {
		return openami.ZeroDigest, nil, nil
	}
	var (
		d      = openami.Digest(sum)
		stored int64
		wrote  bool
		err    error
	)
	if k != nil {
		// An encrypted block is named under its key, by Put itself.
		d, stored, wrote, err = cp.Put(ctx, k, data)
	} else {
		stored, wrote, err = cp.PutVerified(ctx, nil, d, data)
	}
	if err != nil || d.IsZero() {
		return d, nil, err
	}
	return d, &blockstore.ChunkRef{Digest: d, Stored: stored, Wrote: wrote}, nil
}

// commitWithChunks runs fn in a transaction that also records the chunks
// as referenced in the current generation, under the block store's
// liveness rules (blockstore.Collector.Commit): a chunk a collection is
// deleting is waited for and stored again with restore, and the commit
// retried.
func (s *Volumes) commitWithChunks(ctx context.Context, rb *regionBlocks, chunks []*blockstore.ChunkRef, restore func() error, fn func(tx metadata.Tx) error) error {
	return rb.gc.Commit(ctx, chunks, restore, func(touch func(blockstore.Ledger) error) error {
		return s.store.Update(ctx, func(tx metadata.Tx) error {
			if err := touch(txLedger{tx: tx, region: rb.name}); err != nil {
				return err
			}
			return fn(tx)
		})
	})
}

// readChunk reads a referenced chunk into dst, decrypting it with k if it
// is encrypted. The chunk must exist: a missing one is damage, reported as
// an internal error, never as the caller's NotFound.
func readChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, d openami.Digest, dst []byte) error {
	err := rb.chunks.Get(ctx, k, d, dst)
	if errors.Is(err, openami.ErrNotFound) {
		return fmt.Errorf("ebs: chunk %s of region %s is missing: %w", d, rb.name, blockstore.ErrCorrupt)
	}
	return err
}

// applyBlocks applies every block list returns (pages in index order, from
// after -1) to the map root and returns the new root.
func (s *Volumes) applyBlocks(ns txNodes, root openami.Digest, list func(after int64, limit int) ([]metadata.BlockRef, error)) (openami.Digest, error) {
	after := int64(-1)
	for {
		blocks, err := list(after, 8192)
		if err != nil || len(blocks) == 0 {
			return root, err
		}
		if root, err = s.maps.Apply(ns, root, changesOf(blocks)); err != nil {
			return root, err
		}
		after = blocks[len(blocks)-1].Index
	}
}

func changesOf(blocks []metadata.BlockRef) []blockstore.Change {
	out := make([]blockstore.Change, len(blocks))
	for i, b := range blocks {
		out[i] = blockstore.Change{Index: b.Index, Digest: b.Digest}
	}
	return out
}
