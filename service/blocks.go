package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// regionBlocks is one region's block store: its chunks in a blob store,
// and its block-map nodes in the metadata store.
type regionBlocks struct {
	name   string
	chunks *blockstore.Chunks
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

// storeChunk stores one block (exactly BlockSize bytes) in the region's
// chunk store and returns its digest and the chunk record to Touch when the
// reference to it commits. An all-zero block is not stored: it returns
// ZeroDigest and ok false.
func (s *Service) storeChunk(ctx context.Context, rb *regionBlocks, data []byte) (openami.Digest, metadata.Chunk, bool, error) {
	d, stored, _, err := rb.chunks.Put(ctx, data)
	if err != nil {
		return d, metadata.Chunk{}, false, err
	}
	if d.IsZero() {
		return d, metadata.Chunk{}, false, nil
	}
	return d, metadata.Chunk{Digest: d, Size: openami.BlockSize, Stored: stored, State: metadata.ChunkLive}, true, nil
}

// errCollecting marks a commit that lost a race with garbage collection.
var errCollecting = errors.New("service: a referenced chunk is being collected")

// commitWithChunks runs fn in a transaction that also records the chunks
// as referenced in the current generation. If a collection is deleting one
// of them, it waits until the collection has removed it, stores the blocks
// again with restore, and retries.
func (s *Service) commitWithChunks(ctx context.Context, region string, chunks []metadata.Chunk, restore func() error, fn func(tx metadata.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			if len(chunks) > 0 {
				gen, err := generation(tx, region)
				if err != nil {
					return err
				}
				if err := tx.Chunks().Touch(region, chunks, gen); err != nil {
					if errors.Is(err, openami.ErrIncorrectState) {
						return errCollecting
					}
					return err
				}
			}
			return fn(tx)
		})
		if !errors.Is(err, errCollecting) {
			return err
		}
		if attempt == 20 || restore == nil {
			return fmt.Errorf("service: commit blocks: %w", err)
		}
		if err := s.waitCollected(ctx, region, chunks); err != nil {
			return err
		}
		if err := restore(); err != nil {
			return err
		}
	}
}

// waitCollected waits until none of the chunks is being deleted: a chunk
// row leaves the deleting state only by being removed, after its blob is.
func (s *Service) waitCollected(ctx context.Context, region string, chunks []metadata.Chunk) error {
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
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
