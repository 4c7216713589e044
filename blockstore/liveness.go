package blockstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openami/openami"
)

// Chunk liveness: the rules that keep a chunk a writer references from
// being collected under it, and that let a collection delete a chunk no
// one references without racing a writer. The records they work on (chunk
// rows, block-map nodes, the generation) live in a store of the caller's
// (the service keeps them in the metadata store, so that a reference and
// the chunk rows it needs commit in one transaction); this file declares
// what it needs of them, Ledger and its parts, and gc.go uses the same.
//
// Every chunk row and block-map node carries the generation in which it
// was last written or referenced anew. A writer stores a chunk's blob
// first, then, in the transaction that commits its reference, touches the
// chunk's row (Collector.Touch), stamping the current generation. A
// collection (Collector.Collect) raises the generation to G before it
// marks, and deletes only what it did not mark and was last touched
// before G. A chunk's blob is deleted only after its row is moved to
// deleting in a transaction, and the row only after the blob; so within a
// writer's transaction a live row means the blob is there, and no row with
// the blob present means no collection is deleting it, and the writer's
// new row stops any from starting. A writer that finds a chunk deleting
// (or gone while it relied on a blob it did not write) fails with
// ErrCollecting, waits for the collection to finish with the chunk
// (Collector.WaitCollected) and stores it again (Collector.Commit).

// ChunkRow is the record of one stored chunk of a block store.
type ChunkRow struct {
	Digest openami.Digest
	// Size is the plaintext size (openami.BlockSize for every chunk
	// today); Stored is the size of the blob after compression.
	Size   int64
	Stored int64
	// Gen is the garbage-collection generation in which the chunk was
	// last written or referenced anew.
	Gen int64
	// Deleting is set once a collection has decided to delete the chunk:
	// the row stays deleting until its blob is gone and the row removed.
	Deleting bool
}

// ChunkRows is a block store's chunk rows, within one transaction.
type ChunkRows interface {
	// Get returns a chunk's row; an error of class NotFound if none.
	Get(d openami.Digest) (ChunkRow, error)
	// Touch records chunks as referenced in generation gen: it inserts
	// missing rows (live) and raises Gen on live ones. If any chunk is
	// deleting it changes nothing and returns an error of class
	// IncorrectState.
	Touch(rows []ChunkRow, gen int64) error
	// List returns up to limit rows with digests greater than after, in
	// digest order; ZeroDigest starts.
	List(after openami.Digest, limit int) ([]ChunkRow, error)
	// MarkDeleting moves a live chunk with Gen below belowGen to
	// deleting and reports whether it did.
	MarkDeleting(d openami.Digest, belowGen int64) (bool, error)
	// Claim inserts a deleting row for a chunk that has none (an orphaned
	// blob) and reports whether it did; an existing row, in any state, is
	// left alone.
	Claim(d openami.Digest) (bool, error)
	// Delete removes a chunk's row if it is deleting; a live row is left
	// alone (a writer stored the chunk anew after a collection deleted it).
	Delete(d openami.Digest) error
}

// NodeRef is a block-map node's hash and generation.
type NodeRef struct {
	Hash openami.Digest
	Gen  int64
}

// NodeRows is a block store's block-map nodes, within one transaction:
// what a mark reads and a sweep deletes.
type NodeRows interface {
	// GetNode returns the encoding of the node named h; an error of
	// class NotFound if there is none.
	GetNode(h openami.Digest) ([]byte, error)
	// List returns up to limit nodes with hashes greater than after, in
	// order, with their Gen.
	List(after openami.Digest, limit int) ([]NodeRef, error)
	// Delete removes the nodes among hashes whose Gen is below belowGen
	// and returns how many it removed.
	Delete(hashes []openami.Digest, belowGen int64) (int, error)
}

// Ledger is a block store's records within one transaction: its chunk
// rows, its block-map nodes, its garbage-collection generation and lease,
// and the roots that keep chunks and nodes alive. The service implements
// it over a metadata.Tx for one region.
type Ledger interface {
	// Chunks returns the chunk rows; Nodes the block-map nodes.
	Chunks() ChunkRows
	Nodes() NodeRows
	// Generation returns the current garbage-collection generation (1
	// before the first collection); SetGeneration sets it.
	Generation() (int64, error)
	SetGeneration(gen int64) error
	// Lease returns the collection lease's value as SetLease last set it;
	// an error of class NotFound if it never was.
	Lease() (string, error)
	SetLease(v string) error
	// Roots calls root with every block-map root that must be kept and
	// chunk with every chunk referenced outside a map, and returns the
	// first error either returns. Which records count as live (every
	// snapshot, volume base and overlay, pending snapshot's blocks and
	// source of a copy under way) is the caller's rule; a collection
	// marks from what Roots reports, within the same transaction.
	Roots(root func(openami.Digest) error, chunk func(openami.Digest) error) error
}

// Records runs transactions over a block store's Ledger. View and Update
// are those of metadata.Store; ViewSerial is metadata.Store.ViewSerial, a
// read that sees every transaction whose reads it could depend on, which
// the mark needs (see Collect).
type Records interface {
	// Each runs fn in one transaction and returns its error or the
	// store's; Update commits only if fn returns nil.
	View(ctx context.Context, fn func(Ledger) error) error
	ViewSerial(ctx context.Context, fn func(Ledger) error) error
	Update(ctx context.Context, fn func(Ledger) error) error
}

// ChunkRef is a chunk a writer is about to reference.
type ChunkRef struct {
	Digest openami.Digest
	// Stored is the size of its blob, when known.
	Stored int64
	// Wrote is false when the blob store already had the chunk, so the
	// writer relies on a blob someone else stored.
	Wrote bool
}

// ErrCollecting marks a commit that lost a race with garbage collection:
// a chunk it references is being collected.
var ErrCollecting = errors.New("blockstore: a referenced chunk is being collected")

// CollectWait bounds how long a writer waits for a collection to finish
// deleting a chunk it wants to store again.
const CollectWait = 30 * time.Second

// Commit runs commit, which runs one transaction: it must call touch with
// the transaction's Ledger before it commits the references to refs. A
// chunk whose row a collection is deleting, or whose row is gone while the
// writer found the blob rather than writing it (a collection may have
// deleted the blob since), is waited for (WaitCollected) and stored again
// with restore, and commit retried, up to 20 times. Commit returns
// commit's error, or one that wraps ErrCollecting if the race was lost
// too often or restore is nil.
func (c *Collector) Commit(ctx context.Context, refs []*ChunkRef, restore func() error, commit func(touch func(Ledger) error) error) error {
	for attempt := 0; ; attempt++ {
		err := commit(func(l Ledger) error { return c.Touch(ctx, l, refs) })
		if !errors.Is(err, ErrCollecting) {
			return err
		}
		if attempt == 20 || restore == nil {
			return fmt.Errorf("blockstore: commit blocks: %w", err)
		}
		if err := c.WaitCollected(ctx, refs); err != nil {
			return err
		}
		if err := restore(); err != nil {
			return err
		}
		for _, r := range refs {
			r.Wrote = true // restore stored every one of them
		}
	}
}

// Touch records refs as referenced in l's transaction, in the current
// generation (see Commit). It fails with ErrCollecting if a chunk is being
// collected, or its row is gone while the writer relied on a blob it did
// not write and that blob is gone too.
func (c *Collector) Touch(ctx context.Context, l Ledger, refs []*ChunkRef) error {
	if len(refs) == 0 {
		return nil
	}
	gen, err := l.Generation()
	if err != nil {
		return err
	}
	rows := make([]ChunkRow, 0, len(refs))
	for _, r := range refs {
		if !r.Wrote {
			row, err := l.Chunks().Get(r.Digest)
			switch {
			case errors.Is(err, openami.ErrNotFound):
				ok, err := c.chunks.Has(ctx, r.Digest)
				if err != nil {
					return err
				}
				if !ok {
					return ErrCollecting
				}
			case err != nil:
				return err
			case row.Deleting:
				return ErrCollecting
			}
		}
		rows = append(rows, ChunkRow{Digest: r.Digest, Size: openami.BlockSize, Stored: r.Stored})
	}
	for len(rows) > 0 {
		n := min(len(rows), 2000)
		if err := l.Chunks().Touch(rows[:n], gen); err != nil {
			if errors.Is(err, openami.ErrIncorrectState) {
				return ErrCollecting
			}
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// WaitCollected waits, for at most CollectWait, until none of refs is
// being deleted: a chunk row leaves the deleting state only by being
// removed, after its blob is. It fails with ctx's error, the store's, or
// one saying the collection has taken too long.
func (c *Collector) WaitCollected(ctx context.Context, refs []*ChunkRef) error {
	deadline := time.Now().Add(CollectWait)
	for {
		busy := false
		err := c.records.View(ctx, func(l Ledger) error {
			for _, r := range refs {
				row, err := l.Chunks().Get(r.Digest)
				if errors.Is(err, openami.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if row.Deleting {
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
			return fmt.Errorf("blockstore: a chunk has been in garbage collection for over %v; run openami gc to finish it", CollectWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
