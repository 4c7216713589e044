package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
)

// Garbage collection is mark and sweep, per region, one collection at a
// time (a lease in the settings table).
//
// Every chunk row and block-map node carries the generation in which it
// was last written or referenced anew. A collection first raises the
// region's generation to G, then marks everything reachable from every
// snapshot, volume base, volume overlay and pending snapshot in one serial
// read (ViewSerial: it sees every writer that could have read a
// generation below G, and every transaction whose reads it depends on),
// then deletes what it did not mark and was last touched before G. Why this
// is safe:
//
//   - A reference made after the mark either copies one that existed when
//     the mark read the store (a snapshot made from a volume, a volume from
//     a snapshot, a same-region copy, a child map sharing its parent's
//     nodes), so the mark reached it; or it is a new chunk or node, written
//     by a transaction that touched it in generation G or later.
//   - A chunk's blob is deleted only after its row is moved to "deleting"
//     in a transaction, and the row only after the blob. A writer's commit
//     (commitWithChunks) accepts a chunk only with a live row, or with no
//     row and the blob present, checked inside its transaction; otherwise
//     it waits for the collection and stores the blob again.
//   - A blob with no row (its writer crashed between storing it and
//     committing) is deleted only once it is older than orphanAge, and by
//     the same claim-then-delete protocol.

// orphanAge is how old a chunk blob without a row must be before a
// collection deletes it: far longer than any writer takes between storing
// a chunk and committing its reference.
const orphanAge = time.Hour

// litterAge is how old a blob store's temporary data (blob/dir's .put~
// files) must be before a collection or a server's start removes it. A
// temporary file lives while one Put writes one chunk from memory, at most
// a 512 KiB block and its frame, and fsyncs it: seconds on the slowest
// disk, so one an hour old belongs to a process that crashed or was killed
// mid-Put, and no running writer can lose it.
const litterAge = time.Hour

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

// gcLease is how long a collection holds a region: far longer than one
// takes, so that only a crashed collection's lease ever expires.
const gcLease = 6 * time.Hour

func gcLeaseSetting(region string) string { return "gc-lease/" + region }

// GC collects the garbage of one region's block store and returns what it
// did. It is safe to run while the server serves requests. One collection
// runs per region at a time, whichever process starts it; another gets an
// IncorrectState error.
func (s *Service) GC(ctx context.Context, region string) (GCResult, error) {
	res := GCResult{Region: region}
	rb, err := s.blocks(region)
	if err != nil {
		return res, err
	}
	holder := ids.New("gc")
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get(gcLeaseSetting(region))
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		if err == nil {
			if _, until, ok := strings.Cut(string(v), " "); ok {
				if t, err := time.Parse(time.RFC3339, until); err == nil && s.now().Before(t) {
					return openami.Errorf(openami.IncorrectState, "", "a garbage collection of %s is already running (%s)", region, v)
				}
			}
		}
		return tx.Settings().Put(gcLeaseSetting(region), []byte(holder+" "+s.now().Add(gcLease).UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return res, err
	}
	defer s.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		v, err := tx.Settings().Get(gcLeaseSetting(region))
		if err != nil || !strings.HasPrefix(string(v), holder+" ") {
			return err
		}
		return tx.Settings().Put(gcLeaseSetting(region), []byte("released"))
	})
	// Start a new generation: everything touched from now on is kept.
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		g, err := generation(tx, region)
		if err != nil {
			return err
		}
		res.Generation = g + 1
		return tx.Settings().Put(gcGenSetting(region), []byte(strconv.FormatInt(res.Generation, 10)))
	})
	if err != nil {
		return res, err
	}
	m, err := s.mark(ctx, region, s.maps)
	if err != nil {
		return res, err
	}
	res.LiveChunks, res.LiveNodes = len(m.chunks), len(m.nodes)

	// Sweep nodes: all in the metadata store, so one transaction per batch.
	var after openami.Digest
	for {
		var refs []metadata.NodeRef
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			refs, err = tx.Nodes().List(region, after, 1000)
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
			err = s.store.Update(ctx, func(tx metadata.Tx) error {
				n, err := tx.Nodes().Delete(region, dead, res.Generation)
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
		var rows []metadata.Chunk
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			rows, err = tx.Chunks().List(region, after, 1000)
			return err
		})
		if err != nil {
			return res, err
		}
		for _, c := range rows {
			if m.chunks[c.Digest] || c.Gen >= res.Generation && c.State == metadata.ChunkLive {
				continue
			}
			deleted, err := s.deleteChunk(ctx, rb, c, res.Generation)
			if err != nil {
				return res, err
			}
			if deleted {
				res.DeletedChunks++
				res.DeletedBytes += c.Stored
			}
		}
		if len(rows) < 1000 {
			break
		}
		after = rows[len(rows)-1].Digest
	}

	// Temporary files of interrupted writes.
	litter, err := s.cleanLitter(ctx, rb)
	res.DeletedTemporaryFiles, res.DeletedTemporaryBytes = litter.Files, litter.Bytes
	if err != nil {
		return res, err
	}

	// Orphan blobs: stored by a writer that never committed.
	cutoff := s.now().Add(-orphanAge)
	err = rb.chunks.List(ctx, func(d openami.Digest, info blob.Info) error {
		if info.ModTime.After(cutoff) {
			return nil
		}
		var claimed bool
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			var err error
			claimed, err = tx.Chunks().Claim(region, d)
			return err
		})
		if err != nil || !claimed {
			return err
		}
		if err := rb.chunks.Delete(ctx, d); err != nil {
			return err
		}
		res.DeletedOrphans++
		return s.store.Update(ctx, func(tx metadata.Tx) error { return tx.Chunks().Delete(region, d) })
	})
	return res, err
}

// CleanLitter removes the temporary data that writes interrupted by a
// crash left in one region's blob store, once older than litterAge, and
// returns what it removed. A blob store that leaves none (one that is not
// a blob.Cleaner, such as S3) has nothing to remove. The server calls it
// at start; GC calls it too. It fails with ctx's error or the store's I/O
// error, having removed what it reports.
func (s *Service) CleanLitter(ctx context.Context, region string) (blob.Litter, error) {
	rb, err := s.blocks(region)
	if err != nil {
		return blob.Litter{}, err
	}
	return s.cleanLitter(ctx, rb)
}

func (s *Service) cleanLitter(ctx context.Context, rb *regionBlocks) (blob.Litter, error) {
	c, ok := rb.blobs.(blob.Cleaner)
	if !ok {
		return blob.Litter{}, nil
	}
	l, err := c.Clean(ctx, litterAge)
	if err != nil {
		return l, fmt.Errorf("service: clean the block store of %s: %w", rb.name, err)
	}
	return l, nil
}

// deleteChunk deletes an unmarked chunk unless it was touched in the
// current generation: it moves the row to deleting (which stops writers
// from relying on the blob), deletes the blob, then the row. A row left in
// deleting by a crash is finished by the next collection.
func (s *Service) deleteChunk(ctx context.Context, rb *regionBlocks, c metadata.Chunk, gen int64) (bool, error) {
	if c.State == metadata.ChunkLive {
		var claimed bool
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			var err error
			claimed, err = tx.Chunks().MarkDeleting(rb.name, c.Digest, gen)
			return err
		})
		if err != nil || !claimed {
			return false, err
		}
	}
	if err := rb.chunks.Delete(ctx, c.Digest); err != nil {
		return false, err
	}
	return true, s.store.Update(ctx, func(tx metadata.Tx) error { return tx.Chunks().Delete(rb.name, c.Digest) })
}

// mark reads, in one serial view (see metadata.Store.ViewSerial), everything
// the region's block maps, volume overlays and pending snapshots reference.
func (s *Service) mark(ctx context.Context, region string, maps *blockstore.Maps) (marks, error) {
	m := marks{nodes: map[openami.Digest]bool{}, chunks: map[openami.Digest]bool{}}
	err := s.store.ViewSerial(ctx, func(tx metadata.Tx) error {
		ns := txNodes{tx: tx, region: region}
		seen := func(h openami.Digest) bool { return m.nodes[h] }
		node := func(h openami.Digest) error { m.nodes[h] = true; return nil }
		chunk := func(d openami.Digest) error { m.chunks[d] = true; return nil }
		markBlocks := func(list func(after int64) ([]metadata.BlockRef, error)) error {
			after := int64(-1)
			for {
				blocks, err := list(after)
				if err != nil {
					return err
				}
				for _, b := range blocks {
					if !b.Digest.IsZero() {
						m.chunks[b.Digest] = true
					}
				}
				if len(blocks) < 4096 {
					return nil
				}
				after = blocks[len(blocks)-1].Index
			}
		}
		after := ""
		for {
			snaps, err := tx.Snapshots().List(region, metadata.SnapshotQuery{After: after, Limit: 1000})
			if err != nil {
				return err
			}
			for _, sn := range snaps {
				if err := maps.Mark(ns, sn.Root, seen, node, chunk); err != nil {
					return fmt.Errorf("service: mark snapshot %s: %w", sn.ID, err)
				}
				if sn.State == openami.SnapshotPending {
					if err := markBlocks(func(a int64) ([]metadata.BlockRef, error) { return tx.Snapshots().Blocks(sn.ID, a, 4096) }); err != nil {
						return err
					}
				}
			}
			if len(snaps) < 1000 {
				break
			}
			after = snaps[len(snaps)-1].ID
		}
		after = ""
		for {
			vols, err := tx.Volumes().List(region, metadata.VolumeQuery{After: after, Limit: 1000})
			if err != nil {
				return err
			}
			for _, v := range vols {
				if err := maps.Mark(ns, v.Base, seen, node, chunk); err != nil {
					return fmt.Errorf("service: mark volume %s: %w", v.ID, err)
				}
				if err := markBlocks(func(a int64) ([]metadata.BlockRef, error) { return tx.Volumes().Blocks(v.ID, a, 4096) }); err != nil {
					return err
				}
			}
			if len(vols) < 1000 {
				break
			}
			after = vols[len(vols)-1].ID
		}
		// The sources of copies under way, which may be deleted
		// meanwhile (service/copy.go's copy tasks).
		pending, err := tx.Snapshots().Pending()
		if err != nil {
			return err
		}
		for _, dst := range pending {
			src, ok, err := copySource(tx, dst)
			if err != nil {
				return err
			}
			if ok && src.Region == region {
				if err := maps.Mark(ns, src.Root, seen, node, chunk); err != nil {
					return fmt.Errorf("service: mark the source of copy %s: %w", dst.ID, err)
				}
			}
		}
		return nil
	})
	return m, err
}

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

// Fsck checks one region's block store: every block map and overlay
// against the nodes and chunks it references, and, when verify is set,
// every stored chunk's bytes against its digest.
func (s *Service) Fsck(ctx context.Context, region string, verify bool) (FsckReport, error) {
	rep := FsckReport{Region: region}
	rb, err := s.blocks(region)
	if err != nil {
		return rep, err
	}
	// Read every node from the store itself: the cache would hide a
	// missing one.
	m, err := s.mark(ctx, region, blockstore.NewMaps(0))
	var missingNode *openami.Error
	if errors.As(err, &missingNode) && missingNode.Class == openami.NotFound {
		rep.MissingNodes = append(rep.MissingNodes, err.Error())
		err = nil
	}
	if err != nil {
		return rep, err
	}
	rep.Nodes = len(m.nodes)
	if c, ok := rb.blobs.(blob.Cleaner); ok {
		l, err := c.Litter(ctx, litterAge)
		if err != nil {
			return rep, fmt.Errorf("service: look for temporary files in %s: %w", region, err)
		}
		rep.TemporaryFiles, rep.TemporaryBytes = l.Files, l.Bytes
	}
	stored := map[openami.Digest]bool{}
	err = rb.chunks.List(ctx, func(d openami.Digest, info blob.Info) error {
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
			err := rb.chunks.Get(ctx, nil, d, buf)
			if errors.Is(err, blockstore.ErrSealed) {
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
