package service

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
// and its block-map nodes in the metadata store.
type regionBlocks struct {
	name   string
	chunks *blockstore.Chunks
	// blobs is the blob store under chunks, for what only it can do (see
	// blob.Cleaner).
	blobs blob.Store
}

// gcGenSetting names the setting that holds a region's garbage-collection
// generation. Writers record the current generation on the chunks and
// nodes they reference; a collection only deletes what was last referenced
// in an earlier generation (see gc.go).
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
		return 0, fmt.Errorf("service: bad %s setting %q: %w", gcGenSetting(region), v, err)
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
func (s *Service) blocks(region string) (*regionBlocks, error) {
	b, ok := s.blockStores[region]
	if !ok {
		return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", region)
	}
	return b, nil
}

// storedChunk is a chunk a writer is about to reference.
type storedChunk struct {
	metadata.Chunk
	// wrote is false when the blob store already had the chunk, so this
	// writer relies on a blob someone else stored.
	wrote bool
}

// storeChunk stores one block (exactly BlockSize bytes) in the region's
// chunk store, encrypted under k unless k is nil, and returns its digest
// and the chunk to reference when the write commits. An all-zero block is
// not stored: it returns ZeroDigest and a nil chunk.
func (s *Service) storeChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, data []byte) (openami.Digest, *storedChunk, error) {
	d, stored, wrote, err := rb.chunks.Put(ctx, k, data)
	if err != nil || d.IsZero() {
		return d, nil, err
	}
	return d, &storedChunk{Chunk: metadata.Chunk{Digest: d, Size: openami.BlockSize, Stored: stored, State: metadata.ChunkLive}, wrote: wrote}, nil
}

// zeroBlockSum is the SHA-256 of an all-zero block.
var zeroBlockSum = sha256.Sum256(make([]byte, openami.BlockSize))

// storeVerifiedChunk is storeChunk for a block whose SHA-256 the caller
// has computed: a zero block is recognised by its hash alone, and a plain
// block is not hashed again (an encrypted one is named under k).
func (s *Service) storeVerifiedChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, sum [32]byte, data []byte) (openami.Digest, *storedChunk, error) {
	if sum == zeroBlockSum {
		return openami.ZeroDigest, nil, nil
	}
	if k != nil {
		// An encrypted block is named under its key, by Put itself.
		return s.storeChunk(ctx, rb, k, data)
	}
	d := openami.Digest(sum)
	stored, wrote, err := rb.chunks.PutVerified(ctx, nil, d, data)
	if err != nil {
		return d, nil, err
	}
	return d, &storedChunk{Chunk: metadata.Chunk{Digest: d, Size: openami.BlockSize, Stored: stored, State: metadata.ChunkLive}, wrote: wrote}, nil
}

// errCollecting marks a commit that lost a race with garbage collection.
var errCollecting = errors.New("service: a referenced chunk is being collected")

// collectWait bounds how long a writer waits for a collection to finish
// deleting a chunk it wants to store again.
const collectWait = 30 * time.Second

// commitWithChunks runs fn in a transaction that also records the chunks
// as referenced in the current generation. It makes sure each chunk's blob
// is there to be referenced: a chunk whose row a collection is deleting, or
// whose row is gone while this writer found the blob rather than writing
// it (a collection may have deleted the blob since), is waited for and
// stored again with restore, and the commit retried.
func (s *Service) commitWithChunks(ctx context.Context, rb *regionBlocks, chunks []*storedChunk, restore func() error, fn func(tx metadata.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			if err := s.touch(ctx, tx, rb, chunks); err != nil {
				return err
			}
			return fn(tx)
		})
		if !errors.Is(err, errCollecting) {
			return err
		}
		if attempt == 20 || restore == nil {
			return fmt.Errorf("service: commit blocks: %w", err)
		}
		if err := s.waitCollected(ctx, rb.name, chunks); err != nil {
			return err
		}
		if err := restore(); err != nil {
			return err
		}
		for _, c := range chunks {
			c.wrote = true // restore stored every one of them
		}
	}
}

// touch records the chunks as referenced in tx (see commitWithChunks). A
// collection deletes a blob only after moving its row to deleting, and
// deletes the row only after the blob; so within tx, a live row means the
// blob is there, and no row with the blob present means no collection is
// deleting it, and this transaction's new row stops any from starting.
func (s *Service) touch(ctx context.Context, tx metadata.Tx, rb *regionBlocks, chunks []*storedChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	gen, err := generation(tx, rb.name)
	if err != nil {
		return err
	}
	rows := make([]metadata.Chunk, 0, len(chunks))
	for _, c := range chunks {
		if !c.wrote {
			row, err := tx.Chunks().Get(rb.name, c.Digest)
			switch {
			case errors.Is(err, openami.ErrNotFound):
				ok, err := rb.chunks.Has(ctx, c.Digest)
				if err != nil {
					return err
				}
				if !ok {
					return errCollecting
				}
			case err != nil:
				return err
			case row.State != metadata.ChunkLive:
				return errCollecting
			}
		}
		rows = append(rows, c.Chunk)
	}
	for len(rows) > 0 {
		n := min(len(rows), 2000)
		if err := tx.Chunks().Touch(rb.name, rows[:n], gen); err != nil {
			if errors.Is(err, openami.ErrIncorrectState) {
				return errCollecting
			}
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// waitCollected waits, for at most collectWait, until none of the chunks
// is being deleted: a chunk row leaves the deleting state only by being
// removed, after its blob is.
func (s *Service) waitCollected(ctx context.Context, region string, chunks []*storedChunk) error {
	deadline := time.Now().Add(collectWait)
	for {
		busy := false
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			for _, c := range chunks {
				rec, err := tx.Chunks().Get(region, c.Digest)
				if errors.Is(err, openami.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if rec.State == metadata.ChunkDeleting {
					busy = true
					return nil
				}
			}
			return nil
		})
		if err != nil || !busy {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("service: a chunk has been in garbage collection for over %v; run openami gc to finish it", collectWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readChunk reads a referenced chunk into dst, decrypting it with k if it
// is encrypted. The chunk must exist: a missing one is damage, reported as
// an internal error, never as the caller's NotFound.
func readChunk(ctx context.Context, rb *regionBlocks, k *blockstore.DataKey, d openami.Digest, dst []byte) error {
	err := rb.chunks.Get(ctx, k, d, dst)
	if errors.Is(err, openami.ErrNotFound) {
		return fmt.Errorf("service: chunk %s of region %s is missing: %w", d, rb.name, blockstore.ErrCorrupt)
	}
	return err
}

// applyBlocks applies every block list returns (pages in index order, from
// after -1) to the map root and returns the new root.
func (s *Service) applyBlocks(ns txNodes, root openami.Digest, list func(after int64, limit int) ([]metadata.BlockRef, error)) (openami.Digest, error) {
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
