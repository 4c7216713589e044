package ebs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// Garbage collection is mark and sweep, per region: the mechanics, and
// why they are safe while writers commit (generations, the lease, the
// deleting state, waiting for a collection), are the block store's
// (blockstore/liveness.go, blockstore/gc.go). What is here is the rule of
// which records keep chunks and nodes alive (txLedger.Roots) and the
// adapters that give the block store a region's records in the metadata
// store (regionRecords, txLedger). cmd/openami's gc and fsck commands,
// and the server at its start (CleanLitter), call GC, Fsck and
// CleanLitter through Service.EBS.

// GCResult reports what a collection did in one region.
type GCResult = blockstore.GCResult

// FsckReport is what a check of one region's block store found.
type FsckReport = blockstore.FsckReport

// GC collects the garbage of one region's block store and returns what it
// did. It is safe to run while the server serves requests. One collection
// runs per region at a time, whichever process starts it; another gets an
// IncorrectState error.
func (s *Volumes) GC(ctx context.Context, region string) (GCResult, error) {
	rb, err := s.blocks(region)
	if err != nil {
		return GCResult{Region: region}, err
	}
	return rb.gc.Collect(ctx)
}

// CleanLitter removes the temporary data that writes interrupted by a
// crash left in one region's blob store, once older than
// blockstore.LitterAge, and returns what it removed. A blob store that
// leaves none (one that is not a blob.Cleaner, such as S3) has nothing to
// remove. The server calls it at start; GC calls it too. It fails with
// ctx's error or the store's I/O error, having removed what it reports.
func (s *Volumes) CleanLitter(ctx context.Context, region string) (blob.Litter, error) {
	rb, err := s.blocks(region)
	if err != nil {
		return blob.Litter{}, err
	}
	return rb.gc.CleanLitter(ctx)
}

// Fsck checks one region's block store: every block map and overlay
// against the nodes and chunks it references, and, when verify is set,
// every stored chunk's bytes against its digest.
func (s *Volumes) Fsck(ctx context.Context, region string, verify bool) (FsckReport, error) {
	rb, err := s.blocks(region)
	if err != nil {
		return FsckReport{Region: region}, err
	}
	return rb.gc.Check(ctx, verify)
}

// Roots reports what keeps the region's chunks and nodes alive: the map
// of every snapshot (whatever its state) and the base of every volume;
// the blocks of every volume overlay and pending snapshot; and the source
// map of every copy under way into the region, which may be deleted
// meanwhile (copy.go's copy tasks). A collection marks from them in one
// serial read (blockstore.Collector.Collect).
func (l txLedger) Roots(root func(openami.Digest) error, chunk func(openami.Digest) error) error {
	tx, region := l.tx, l.region
	markBlocks := func(list func(after int64) ([]metadata.BlockRef, error)) error {
		after := int64(-1)
		for {
			blocks, err := list(after)
			if err != nil {
				return err
			}
			for _, b := range blocks {
				if !b.Digest.IsZero() {
					if err := chunk(b.Digest); err != nil {
						return err
					}
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
			if err := root(sn.Root); err != nil {
				return fmt.Errorf("ebs: mark snapshot %s: %w", sn.ID, err)
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
			if err := root(v.Base); err != nil {
				return fmt.Errorf("ebs: mark volume %s: %w", v.ID, err)
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
	// meanwhile (copy.go's copy tasks).
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
			if err := root(src.Root); err != nil {
				return fmt.Errorf("ebs: mark the source of copy %s: %w", dst.ID, err)
			}
		}
	}
	return nil
}

// regionRecords adapts the metadata store to blockstore.Records for one
// region: each transaction is handed to the block store as a txLedger.
type regionRecords struct {
	store  metadata.Store
	region string
}

func (r regionRecords) View(ctx context.Context, fn func(blockstore.Ledger) error) error {
	return r.store.View(ctx, func(tx metadata.Tx) error { return fn(txLedger{tx: tx, region: r.region}) })
}

func (r regionRecords) ViewSerial(ctx context.Context, fn func(blockstore.Ledger) error) error {
	return r.store.ViewSerial(ctx, func(tx metadata.Tx) error { return fn(txLedger{tx: tx, region: r.region}) })
}

func (r regionRecords) Update(ctx context.Context, fn func(blockstore.Ledger) error) error {
	l, ok := lease.Held(ctx)
	leased := ok && l.Name == GCLease(r.region)
	return r.store.Update(ctx, func(tx metadata.Tx) error { return fn(txLedger{tx: tx, region: r.region, leased: leased}) })
}

// GCLease names the lease (metadata/lease) a collection of the region
// runs under when the service runs it (service.CollectGarbage). Under
// it, the block store's own collection lease is superseded: the
// database's lease already keeps collections apart, its fencing stops a
// collection that lost it, and another node takes over a dead node's
// collection as soon as its lease expires, not hours later.
func GCLease(region string) string { return "gc/" + region }

// txLedger adapts one transaction to blockstore.Ledger for one region: its
// chunk rows (tx.Chunks), block-map nodes (tx.Nodes), and the generation
// and collection lease kept as settings (gcGenSetting, gcLeaseSetting).
type txLedger struct {
	tx     metadata.Tx
	region string
	// leased is set when the transaction runs under the region's
	// GCLease, which supersedes the collection lease kept here.
	leased bool
}

func gcLeaseSetting(region string) string { return "gc-lease/" + region }

func (l txLedger) Chunks() blockstore.ChunkRows { return txChunkRows(l) }
func (l txLedger) Nodes() blockstore.NodeRows   { return txNodeRows(l) }

func (l txLedger) Generation() (int64, error) { return generation(l.tx, l.region) }

func (l txLedger) SetGeneration(gen int64) error {
	return l.tx.Settings().Put(gcGenSetting(l.region), []byte(strconv.FormatInt(gen, 10)))
}

func (l txLedger) Lease() (string, error) {
	if l.leased {
		return "", openami.Errorf(openami.NotFound, "", "the collection runs under the lease %s", GCLease(l.region))
	}
	v, err := l.tx.Settings().Get(gcLeaseSetting(l.region))
	return string(v), err
}

func (l txLedger) SetLease(v string) error {
	return l.tx.Settings().Put(gcLeaseSetting(l.region), []byte(v))
}

// txChunkRows adapts a transaction's Chunks role to blockstore.ChunkRows
// for one region.
type txChunkRows txLedger

// chunkRow and chunkRecord convert between the metadata store's chunk
// records and the block store's rows: any state but live is deleting.
func chunkRow(c metadata.Chunk) blockstore.ChunkRow {
	return blockstore.ChunkRow{Digest: c.Digest, Size: c.Size, Stored: c.Stored, Gen: c.Gen, Deleting: c.State != metadata.ChunkLive}
}

func chunkRecord(r blockstore.ChunkRow) metadata.Chunk {
	state := metadata.ChunkLive
	if r.Deleting {
		state = metadata.ChunkDeleting
	}
	return metadata.Chunk{Digest: r.Digest, Size: r.Size, Stored: r.Stored, Gen: r.Gen, State: state}
}

func (c txChunkRows) Get(d openami.Digest) (blockstore.ChunkRow, error) {
	rec, err := c.tx.Chunks().Get(c.region, d)
	return chunkRow(rec), err
}

func (c txChunkRows) Touch(rows []blockstore.ChunkRow, gen int64) error {
	recs := make([]metadata.Chunk, len(rows))
	for i, r := range rows {
		recs[i] = chunkRecord(r)
	}
	return c.tx.Chunks().Touch(c.region, recs, gen)
}

func (c txChunkRows) List(after openami.Digest, limit int) ([]blockstore.ChunkRow, error) {
	recs, err := c.tx.Chunks().List(c.region, after, limit)
	rows := make([]blockstore.ChunkRow, len(recs))
	for i, rec := range recs {
		rows[i] = chunkRow(rec)
	}
	return rows, err
}

func (c txChunkRows) MarkDeleting(d openami.Digest, belowGen int64) (bool, error) {
	return c.tx.Chunks().MarkDeleting(c.region, d, belowGen)
}

func (c txChunkRows) Claim(d openami.Digest) (bool, error) { return c.tx.Chunks().Claim(c.region, d) }

func (c txChunkRows) Delete(d openami.Digest) error { return c.tx.Chunks().Delete(c.region, d) }

// txNodeRows adapts a transaction's Nodes role to blockstore.NodeRows for
// one region (txNodes is its NodeStore, for writers).
type txNodeRows txLedger

func (n txNodeRows) GetNode(h openami.Digest) ([]byte, error) { return n.tx.Nodes().Get(n.region, h) }

func (n txNodeRows) List(after openami.Digest, limit int) ([]blockstore.NodeRef, error) {
	refs, err := n.tx.Nodes().List(n.region, after, limit)
	out := make([]blockstore.NodeRef, len(refs))
	for i, r := range refs {
		out[i] = blockstore.NodeRef{Hash: r.Hash, Gen: r.Gen}
	}
	return out, err
}

func (n txNodeRows) Delete(hashes []openami.Digest, belowGen int64) (int, error) {
	return n.tx.Nodes().Delete(n.region, hashes, belowGen)
}
