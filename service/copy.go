package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// CopyStats says how much a cross-region copy moved.
type CopyStats struct {
	Nodes, NodesCopied   int
	Chunks, ChunksCopied int
	BytesCopied          int64 // block bytes read from the source and stored at the destination
}

// copyMap makes the block map root of region src usable in region dst: it
// copies the map's nodes and chunks that dst lacks, and nothing else, so a
// later copy of a child map moves only the blocks that changed. It returns
// a function to run in the transaction that commits the copy, which
// writes the nodes and records every chunk of the map as referenced in
// dst's current generation.
//
// The chunks are read from src (verified) and stored in dst before that
// transaction; if the copy never commits they are orphans that a
// collection frees.
func (s *Service) copyMap(ctx context.Context, src, dst string, root openami.Digest) (commit func(tx metadata.Tx) error, stats CopyStats, err error) {
	if root.IsZero() {
		return func(metadata.Tx) error { return nil }, stats, nil
	}
	from, err := s.blocks(src)
	if err != nil {
		return nil, stats, err
	}
	to, err := s.blocks(dst)
	if err != nil {
		return nil, stats, err
	}
	// Read the map's nodes and digests from the source.
	nodes := map[openami.Digest][]byte{}
	var order []openami.Digest
	chunks := map[openami.Digest]bool{}
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		ns := txNodes{tx: tx, region: src}
		return s.maps.Mark(ns, root,
			func(h openami.Digest) bool { _, ok := nodes[h]; return ok },
			func(h openami.Digest) error {
				data, err := tx.Nodes().Get(src, h)
				nodes[h] = data
				order = append(order, h)
				return err
			},
			func(d openami.Digest) error { chunks[d] = true; return nil })
	})
	if err != nil {
		return nil, stats, err
	}
	stats.Nodes, stats.Chunks = len(nodes), len(chunks)
	// Which chunks does the destination lack?
	var missing []openami.Digest
	var collecting []metadata.Chunk
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		for d := range chunks {
			c, err := tx.Chunks().Get(dst, d)
			if err == nil && c.State != metadata.ChunkLive {
				collecting = append(collecting, c)
			}
			if errors.Is(err, openami.ErrNotFound) || err == nil && c.State != metadata.ChunkLive {
				missing = append(missing, d)
				continue
			}
			if err != nil {
				return err
			}
		}
		for h := range nodes {
			if _, err := tx.Nodes().Get(dst, h); err == nil {
				continue
			} else if !errors.Is(err, openami.ErrNotFound) {
				return err
			}
			stats.NodesCopied++
		}
		return nil
	})
	if err != nil {
		return nil, stats, err
	}
	// A chunk being collected in the destination must be gone before it is
	// stored again, or the collection would delete the new copy.
	if err := s.waitCollected(ctx, dst, collecting); err != nil {
		return nil, stats, err
	}
	buf := make([]byte, openami.BlockSize)
	stored := map[openami.Digest]int64{}
	copyChunk := func(d openami.Digest) error {
		if err := from.chunks.Get(ctx, d, buf); err != nil {
			return fmt.Errorf("service: copy chunk %s from %s: %w", d, src, err)
		}
		n, _, err := to.chunks.PutVerified(ctx, d, buf)
		stored[d] = n
		return err
	}
	for _, d := range missing {
		if err := copyChunk(d); err != nil {
			return nil, stats, err
		}
		stats.ChunksCopied++
		stats.BytesCopied += openami.BlockSize
	}
	commit = func(tx metadata.Tx) error {
		ns, err := nodesFor(tx, dst)
		if err != nil {
			return err
		}
		for _, h := range order {
			if err := ns.PutNode(h, nodes[h]); err != nil {
				return err
			}
		}
		// Every chunk of the map is referenced anew in the destination,
		// copied or not: one it already had may be garbage a collection
		// is about to free.
		refs := make([]metadata.Chunk, 0, len(chunks))
		for d := range chunks {
			refs = append(refs, metadata.Chunk{Digest: d, Size: openami.BlockSize, Stored: stored[d], State: metadata.ChunkLive})
		}
		for len(refs) > 0 {
			n := min(len(refs), 2000)
			if err := tx.Chunks().Touch(dst, refs[:n], ns.gen); err != nil {
				if errors.Is(err, openami.ErrIncorrectState) {
					return errCollecting
				}
				return err
			}
			refs = refs[n:]
		}
		return nil
	}
	return commit, stats, nil
}
