package blockstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/internal/ids"
)

// Garbage collection is mark and sweep, per block store (the service has
// one per region), one collection at a time (a lease in the Ledger).
//
// Every chunk row and block-map node carries the generation in which it
// was last written or referenced anew (see liveness.go). A collection
// first raises the generation to G, then marks everything reachable from
// the Ledger's Roots in one serial read (Records.ViewSerial: it sees every
// writer that could have read a generation below G, and every transaction
// whose reads it depends on), then deletes what it did not mark and was
// last touched before G. Why this is safe:
//
//   - A reference made after the mark either copies one that existed when
//     the mark read the store (a snapshot made from a volume, a volume from
//     a snapshot, a same-region copy, a child map sharing its parent's
//     nodes), so the mark reached it; or it is a new chunk or node, written
//     by a transaction that touched it in generation G or later.
//   - A chunk's blob is deleted only after its row is moved to deleting in
//     a transaction, and the row only after the blob. A writer's commit
//     (Collector.Commit) accepts a chunk only with a live row, or with no
//     row and the blob present, checked inside its transaction; otherwise
//     it waits for the collection and stores the blob again.
//   - A blob with no row (its writer crashed between storing it and
//     committing) is deleted only once it is older than OrphanAge, and by
//     the same claim-then-delete protocol.

// OrphanAge is how old a chunk blob without a row must be before a
// collection deletes it: far longer than any writer takes between storing
// a chunk and committing its reference.
const OrphanAge = time.Hour

// LitterAge is how old a blob store's temporary data (blob/dir's .put~
// files) must be before a collection or a server's start removes it. A
// temporary file lives while one Put writes one chunk from memory, at most
// a 512 KiB block and its frame, and fsyncs it: seconds on the slowest
// disk, so one an hour old belongs to a process that crashed or was killed
// mid-Put, and no running writer can lose it.
const LitterAge = time.Hour

// leaseTime is how long a collection holds its lease: far longer than one
// takes, so that only a crashed collection's lease ever expires.
const leaseTime = 6 * time.Hour

// Collector keeps one block store's chunks alive while referenced (Commit,
// Touch, WaitCollected), collects them when not (Collect) and checks the
// store (Check). It is safe for concurrent use; collections of one store
// exclude each other through the Ledger's lease, whichever process runs
// them.
type Collector struct {
	name    string
	chunks  *Chunks
	blobs   blob.Store
	records Records
	maps    *Maps
	now     openami.Clock
}

// NewCollector returns the Collector of the block store named name (the
// region, in results and errors) whose chunks are stored in blobs and
// recorded in records; maps reads block maps for the mark, and now tells
// the time of leases and orphans.
func NewCollector(name string, blobs blob.Store, records Records, maps *Maps, now openami.Clock) *Collector {
	return &Collector{name: name, chunks: NewChunks(blobs), blobs: blobs, records: records, maps: maps, now: now}
}

// Chunks returns the chunk store the collector collects.
func (c *Collector) Chunks() *Chunks { return c.chunks }

// GCResult reports what a collection did in one region.
type GCResult struct {
	Region         string
	Generation     int64
	LiveChunks     int
	LiveNodes      int
	DeletedChunks  int
	DeletedBytes   int64
	DeletedNodes   int
	DeletedOrphans int
	// DeletedTemporaryFiles and DeletedTemporaryBytes are the blob
	// store's temporary files, left by writes a crash interrupted, that
	// the collection removed (see CleanLitter).
	DeletedTemporaryFiles int
	DeletedTemporaryBytes int64
}

// marks is what a mark phase found reachable.
type marks struct {
	nodes  map[openami.Digest]bool
	chunks map[openami.Digest]bool
}

// Collect collects the garbage of the block store and returns what it
// did. It is safe to run while writers commit. One collection runs per
// store at a time, whichever process starts it; another gets an
// IncorrectState error.
func (c *Collector) Collect(ctx context.Context) (GCResult, error) {
	res := GCResult{Region: c.name}
	holder := ids.New("gc")
	err := c.records.Update(ctx, func(l Ledger) error {
		v, err := l.Lease()
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		if err == nil {
			if _, until, ok := strings.Cut(v, " "); ok {
				if t, err := time.Parse(time.RFC3339, until); err == nil && c.now().Before(t) {
					return openami.Errorf(openami.IncorrectState, "", "a garbage collection of %s is already running (%s)", c.name, v)
				}
			}
		}
		return l.SetLease(holder + " " + c.now().Add(leaseTime).UTC().Format(time.RFC3339))
	})
	if err != nil {
		return res, err
	}
	defer c.records.Update(context.WithoutCancel(ctx), func(l Ledger) error {
		v, err := l.Lease()
		if err != nil || !strings.HasPrefix(v, holder+" ") {
			return err
		}
		return l.SetLease("released")
	})
	// Start a new generation: everything touched from now on is kept.
	err = c.records.Update(ctx, func(l Ledger) error {
		g, err := l.Generation()
		if err != nil {
			return err
		}
		res.Generation = g + 1
		return l.SetGeneration(res.Generation)
	})
	if err != nil {
		return res, err
	}
	m, err := c.mark(ctx, c.maps)
	if err != nil {
		return res, err
	}
	res.LiveChunks, res.LiveNodes = len(m.chunks), len(m.nodes)

	// Sweep nodes: all in the records, so one transaction per batch.
	var after openami.Digest
	for {
		var refs []NodeRef
		err := c.records.View(ctx, func(l Ledger) error {
			var err error
			refs, err = l.Nodes().List(after, 1000)
			return err
		})
		if err != nil {
			return res, err
		}
		var dead []openami.Digest
		for _, r := range refs {
			if !m.nodes[r.Hash] && r.Gen < res.Generation {
				dead = append(dead, r.Hash)
			}
		}
		if len(dead) > 0 {
			err = c.records.Update(ctx, func(l Ledger) error {
				n, err := l.Nodes().Delete(dead, res.Generation)
				res.DeletedNodes += n
				return err
			})
			if err != nil {
				return res, err
			}
		}
		if len(refs) < 1000 {
			break
		}
		after = refs[len(refs)-1].Hash
	}

	// Sweep chunks: claim the row, delete the blob, remove the row.
	after = openami.Digest{}
	for {
		var rows []ChunkRow
		err := c.records.View(ctx, func(l Ledger) error {
			var err error
			rows, err = l.Chunks().List(after, 1000)
			return err
		})
		if err != nil {
			return res, err
		}
		for _, row := range rows {
			if m.chunks[row.Digest] || row.Gen >= res.Generation && !row.Deleting {
				continue
			}
			deleted, err := c.deleteChunk(ctx, row, res.Generation)
			if err != nil {
				return res, err
			}
			if deleted {
				res.DeletedChunks++
				res.DeletedBytes += row.Stored
			}
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].Digest
	}

	// Temporary files of interrupted writes.
	litter, err := c.CleanLitter(ctx)
	res.DeletedTemporaryFiles, res.DeletedTemporaryBytes = litter.Files, litter.Bytes
	if err != nil {
		return res, err
	}

	// Orphan blobs: stored by a writer that never committed.
	cutoff := c.now().Add(-OrphanAge)
	err = c.chunks.List(ctx, func(d openami.Digest, info blob.Info) error {
		if info.ModTime.After(cutoff) {
			return nil
		}
		var claimed bool
		err := c.records.Update(ctx, func(l Ledger) error {
			var err error
			claimed, err = l.Chunks().Claim(d)
			return err
		})
		if err != nil || !claimed {
			return err
		}
		if err := c.chunks.Delete(ctx, d); err != nil {
			return err
		}
		res.DeletedOrphans++
		return c.records.Update(ctx, func(l Ledger) error { return l.Chunks().Delete(d) })
	})
	return res, err
}

// CleanLitter removes the temporary data that writes interrupted by a
// crash left in the blob store, once older than LitterAge, and returns
// what it removed. A blob store that leaves none (one that is not a
// blob.Cleaner, such as S3) has nothing to remove. Collect calls it. It
// fails with ctx's error or the store's I/O error, having removed what it
// reports.
func (c *Collector) CleanLitter(ctx context.Context) (blob.Litter, error) {
	cl, ok := c.blobs.(blob.Cleaner)
	if !ok {
		return blob.Litter{}, nil
	}
	l, err := cl.Clean(ctx, LitterAge)
	if err != nil {
		return l, fmt.Errorf("blockstore: clean the block store of %s: %w", c.name, err)
	}
	return l, nil
}

// deleteChunk deletes an unmarked chunk unless it was touched in the
// current generation: it moves the row to deleting (which stops writers
// from relying on the blob), deletes the blob, then the row. A row left in
// deleting by a crash is finished by the next collection.
func (c *Collector) deleteChunk(ctx context.Context, row ChunkRow, gen int64) (bool, error) {
	if !row.Deleting {
		var claimed bool
		err := c.records.Update(ctx, func(l Ledger) error {
			var err error
			claimed, err = l.Chunks().MarkDeleting(row.Digest, gen)
			return err
		})
		if err != nil || !claimed {
			return false, err
		}
	}
	if err := c.chunks.Delete(ctx, row.Digest); err != nil {
		return false, err
	}
	return true, c.records.Update(ctx, func(l Ledger) error { return l.Chunks().Delete(row.Digest) })
}

// readNodes is a NodeRows as the NodeStore a mark reads: a mark writes
// no nodes.
type readNodes struct{ NodeRows }

func (readNodes) PutNode(openami.Digest, []byte) error {
	return errors.New("blockstore: a mark writes no nodes")
}

// mark reads, in one serial view (Records.ViewSerial), every node and
// chunk the Ledger's Roots reach.
func (c *Collector) mark(ctx context.Context, maps *Maps) (marks, error) {
	m := marks{nodes: map[openami.Digest]bool{}, chunks: map[openami.Digest]bool{}}
	err := c.records.ViewSerial(ctx, func(l Ledger) error {
		ns := readNodes{l.Nodes()}
		seen := func(h openami.Digest) bool { return m.nodes[h] }
		node := func(h openami.Digest) error { m.nodes[h] = true; return nil }
		chunk := func(d openami.Digest) error { m.chunks[d] = true; return nil }
		return l.Roots(func(root openami.Digest) error { return maps.Mark(ns, root, seen, node, chunk) }, chunk)
	})
	return m, err
}
