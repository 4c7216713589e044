package blockstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// FsckReport is what a check of one region's block store found.
type FsckReport struct {
	Region string
	Chunks int
	Nodes  int
	// Damage: references to chunks or nodes that are missing, and chunks
	// whose stored bytes do not verify.
	MissingChunks []string
	MissingNodes  []string
	CorruptChunks []string
	// Unreferenced chunks are garbage, not damage: the next collection
	// frees them.
	Unreferenced int
	// EncryptedChunks are encrypted chunks whose frames were checked but
	// whose contents were not: that needs their data keys, and every
	// read checks them.
	EncryptedChunks int
	// TemporaryFiles and TemporaryBytes are the blob store's temporary
	// files older than an hour, left by writes a crash interrupted:
	// litter, not damage, which the next collection or server start
	// removes.
	TemporaryFiles int
	TemporaryBytes int64
}

// Damaged reports whether the check found damage.
func (r FsckReport) Damaged() bool {
	return len(r.MissingChunks)+len(r.MissingNodes)+len(r.CorruptChunks) > 0
}

// Check checks the block store: everything the Ledger's Roots reach
// against the nodes and chunks stored, marked as a collection marks, and,
// when verify is set, every stored chunk's bytes against its digest.
// Damage is reported, not returned; Check fails with ctx's error or the
// stores' I/O errors.
func (c *Collector) Check(ctx context.Context, verify bool) (FsckReport, error) {
	rep := FsckReport{Region: c.name}
	// Read every node from the store itself: the cache would hide a
	// missing one.
	m, err := c.mark(ctx, NewMaps(0))
	var missingNode *openami.Error
	if errors.As(err, &missingNode) && missingNode.Class == openami.NotFound {
		rep.MissingNodes = append(rep.MissingNodes, err.Error())
		err = nil
	}
	if err != nil {
		return rep, err
	}
	rep.Nodes = len(m.nodes)
	if cl, ok := c.blobs.(blob.Cleaner); ok {
		l, err := cl.Litter(ctx, LitterAge)
		if err != nil {
			return rep, fmt.Errorf("blockstore: look for temporary files in %s: %w", c.name, err)
		}
		rep.TemporaryFiles, rep.TemporaryBytes = l.Files, l.Bytes
	}
	stored := map[openami.Digest]bool{}
	err = c.chunks.List(ctx, func(d openami.Digest, info blob.Info) error {
		stored[d] = true
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Chunks = len(stored)
	for d := range m.chunks {
		if !stored[d] {
			rep.MissingChunks = append(rep.MissingChunks, d.String())
		}
	}
	for d := range stored {
		if !m.chunks[d] {
			rep.Unreferenced++
		}
	}
	if verify {
		buf := make([]byte, openami.BlockSize)
		for d := range stored {
			err := c.chunks.Get(ctx, nil, d, buf)
			if errors.Is(err, ErrSealed) {
				// Encrypted: its frame is sound; its contents can
				// only be checked with its data key, on read.
				rep.EncryptedChunks++
				continue
			}
			if err != nil {
				rep.CorruptChunks = append(rep.CorruptChunks, d.String()+": "+err.Error())
			}
		}
	}
	return rep, nil
}
