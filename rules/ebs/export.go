package ebs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// EachBlock calls fn, in index order, with the data of each block of
// snap's map that SnapshotBlocks listed (blocks; the ones it lacks are
// zeros), decrypted with snap's data key if snap is encrypted. data is
// BlockSize bytes, reused from call to call: fn must not keep it. The
// next eachAhead blocks are read, decompressed and verified while fn
// works (a goroutine of their own), so that fn's work (an export's
// compression, its upload) overlaps the reads; it holds eachAhead+1
// blocks in memory whatever the snapshot's size. The caller checks,
// before, that whoever asked may use snap's key (CheckKeyUse): EachBlock
// is the service's own read (exports, stores).
func (s *Volumes) EachBlock(ctx context.Context, snap openami.Snapshot, blocks []metadata.BlockRef, fn func(index int64, data []byte) error) error {
	rb, err := s.blocks(snap.Region)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(ctx, snap.KmsKeyID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type read struct {
		index int64
		data  []byte
		err   error
	}
	reads := make(chan read, eachAhead)
	free := make(chan []byte, eachAhead+1)
	for range eachAhead + 1 {
		free <- make([]byte, openami.BlockSize)
	}
	go func() {
		defer close(reads)
		for _, b := range blocks {
			if b.Digest.IsZero() {
				continue
			}
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			err := readChunk(ctx, rb, dk, b.Digest, buf)
			if err != nil {
				err = fmt.Errorf("ebs: read block %d of %s: %w", b.Index, snap.ID, err)
			}
			select {
			case reads <- read{b.Index, buf, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for r := range reads {
		if r.err != nil {
			return r.err
		}
		if err := fn(r.index, r.data); err != nil {
			return err
		}
		free <- r.data
	}
	return ctx.Err()
}

// eachAhead is how many blocks EachBlock reads ahead of its caller.
const eachAhead = 2

// EachFrame calls fn, in index order, with each non-zero block of snap's
// map that SnapshotBlocks listed: its name and its chunk's frame as the
// block store keeps it (nil for a block of zeros named by its SHA-256,
// which is never stored) (compressed; sealed under the snapshot's data key
// when snap is encrypted). CreateStoreImageTask writes these, so that no
// plaintext of an encrypted snapshot leaves the block store. frame is
// reused from call to call.
func (s *Volumes) EachFrame(ctx context.Context, snap openami.Snapshot, blocks []metadata.BlockRef, fn func(index int64, d openami.Digest, frame []byte) error) error {
	rb, err := s.blocks(snap.Region)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, b := range blocks {
		if b.Digest.IsZero() {
			continue
		}
		if b.Digest == zeroBlockDigest {
			if err := fn(b.Index, b.Digest, nil); err != nil {
				return err
			}
			continue
		}
		r, err := rb.blobs.Get(ctx, blockstore.ChunkKey(b.Digest))
		if err != nil {
			return fmt.Errorf("ebs: read chunk %s of %s: %w", b.Digest, snap.ID, err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(io.LimitReader(r, 2*openami.BlockSize))
		r.Close()
		if err != nil {
			return fmt.Errorf("ebs: read chunk %s of %s: %w", b.Digest, snap.ID, err)
		}
		if err := fn(b.Index, b.Digest, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// zeroBlockDigest is the SHA-256 of the all-zero block, which the block
// store never stores.
var zeroBlockDigest = openami.Digest(sha256.Sum256(make([]byte, openami.BlockSize)))

// DecodeFrame decodes into dst (BlockSize bytes) a frame that EachFrame
// gave for a snapshot encrypted under keyARN ("" for plain), checking it
// against its name d. The caller has checked that whoever asked may use
// the key (CheckKeyUse).
func (s *Volumes) DecodeFrame(ctx context.Context, keyARN string, d openami.Digest, frame, dst []byte) error {
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return err
	}
	return blockstore.DecodeChunk(dk, d, frame, dst)
}
