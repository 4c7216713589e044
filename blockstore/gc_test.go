package blockstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
)

// memRecords is an in-memory Records: one lock makes every transaction
// serial. It does not roll back a failed Update, so its Ledger changes
// nothing before it knows a call succeeds (as Touch must).
type memRecords struct {
	mu     sync.Mutex
	chunks map[openami.Digest]ChunkRow
	nodes  map[openami.Digest]memNode
	gen    int64
	lease  *string
	roots  []openami.Digest // map roots Roots reports
	loose  []openami.Digest // chunks outside maps Roots reports
	// beforeMark, if set, runs before a serial view (the mark) starts,
	// outside the lock: a writer racing the collection.
	beforeMark func()
}

type memNode struct {
	data []byte
	gen  int64
}

func newMemRecords() *memRecords {
	return &memRecords{chunks: map[openami.Digest]ChunkRow{}, nodes: map[openami.Digest]memNode{}}
}

func (r *memRecords) View(ctx context.Context, fn func(Ledger) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn(memLedger{r})
}

func (r *memRecords) ViewSerial(ctx context.Context, fn func(Ledger) error) error {
	if r.beforeMark != nil {
		r.beforeMark()
	}
	return r.View(ctx, fn)
}

func (r *memRecords) Update(ctx context.Context, fn func(Ledger) error) error { return r.View(ctx, fn) }

// memLedger is memRecords within a transaction (its lock held).
type memLedger struct{ r *memRecords }

func (l memLedger) Chunks() ChunkRows { return memChunkRows(l) }
func (l memLedger) Nodes() NodeRows   { return memNodeRows(l) }

func (l memLedger) Generation() (int64, error) { return max(l.r.gen, 1), nil }

func (l memLedger) SetGeneration(gen int64) error { l.r.gen = gen; return nil }

func (l memLedger) Lease() (string, error) {
	if l.r.lease == nil {
		return "", openami.Errorf(openami.NotFound, "", "no lease")
	}
	return *l.r.lease, nil
}

func (l memLedger) SetLease(v string) error { l.r.lease = &v; return nil }

func (l memLedger) Roots(root func(openami.Digest) error, chunk func(openami.Digest) error) error {
	for _, h := range l.r.roots {
		if err := root(h); err != nil {
			return err
		}
	}
	for _, d := range l.r.loose {
		if err := chunk(d); err != nil {
			return err
		}
	}
	return nil
}

// nodeStore is the NodeStore a writer in this transaction uses.
func (l memLedger) nodeStore() NodeStore { return memNodeStore(l) }

type memChunkRows memLedger

func (c memChunkRows) Get(d openami.Digest) (ChunkRow, error) {
	row, ok := c.r.chunks[d]
	if !ok {
		return ChunkRow{}, openami.Errorf(openami.NotFound, "", "no chunk %s", d)
	}
	return row, nil
}

func (c memChunkRows) Touch(rows []ChunkRow, gen int64) error {
	for _, row := range rows {
		if c.r.chunks[row.Digest].Deleting {
			return openami.Errorf(openami.IncorrectState, "", "chunk %s is deleting", row.Digest)
		}
	}
	for _, row := range rows {
		old, ok := c.r.chunks[row.Digest]
		if !ok || old.Gen < gen {
			row.Gen, row.Deleting = gen, false
			c.r.chunks[row.Digest] = row
		}
	}
	return nil
}

func (c memChunkRows) List(after openami.Digest, limit int) ([]ChunkRow, error) {
	var out []ChunkRow
	for d, row := range c.r.chunks {
		if string(d[:]) > string(after[:]) {
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b ChunkRow) int { return strings.Compare(string(a.Digest[:]), string(b.Digest[:])) })
	return out[:min(len(out), limit)], nil
}

func (c memChunkRows) MarkDeleting(d openami.Digest, belowGen int64) (bool, error) {
	row, ok := c.r.chunks[d]
	if !ok || row.Deleting || row.Gen >= belowGen {
		return false, nil
	}
	row.Deleting = true
	c.r.chunks[d] = row
	return true, nil
}

func (c memChunkRows) Claim(d openami.Digest) (bool, error) {
	if _, ok := c.r.chunks[d]; ok {
		return false, nil
	}
	c.r.chunks[d] = ChunkRow{Digest: d, Deleting: true}
	return true, nil
}

func (c memChunkRows) Delete(d openami.Digest) error {
	if c.r.chunks[d].Deleting {
		delete(c.r.chunks, d)
	}
	return nil
}

type memNodeRows memLedger

func (n memNodeRows) GetNode(h openami.Digest) ([]byte, error) { return memNodeStore(n).GetNode(h) }

func (n memNodeRows) List(after openami.Digest, limit int) ([]NodeRef, error) {
	var out []NodeRef
	for h, node := range n.r.nodes {
		if string(h[:]) > string(after[:]) {
			out = append(out, NodeRef{Hash: h, Gen: node.gen})
		}
	}
	slices.SortFunc(out, func(a, b NodeRef) int { return strings.Compare(string(a.Hash[:]), string(b.Hash[:])) })
	return out[:min(len(out), limit)], nil
}

func (n memNodeRows) Delete(hashes []openami.Digest, belowGen int64) (int, error) {
	deleted := 0
	for _, h := range hashes {
		if node, ok := n.r.nodes[h]; ok && node.gen < belowGen {
			delete(n.r.nodes, h)
			deleted++
		}
	}
	return deleted, nil
}

type memNodeStore memLedger

func (n memNodeStore) GetNode(h openami.Digest) ([]byte, error) {
	node, ok := n.r.nodes[h]
	if !ok {
		return nil, openami.Errorf(openami.NotFound, "", "node %s not found", h)
	}
	return node.data, nil
}

func (n memNodeStore) PutNode(h openami.Digest, data []byte) error {
	gen, _ := memLedger(n).Generation()
	if old, ok := n.r.nodes[h]; ok && old.gen >= gen {
		return nil
	}
	n.r.nodes[h] = memNode{data: data, gen: gen}
	return nil
}

// gcFixture is a Collector over in-memory blobs and records.
type gcFixture struct {
	blobs *memBlobs
	recs  *memRecords
	maps  *Maps
	c     *Collector
}

func newGCFixture() *gcFixture {
	f := &gcFixture{blobs: newMemBlobs(), recs: newMemRecords(), maps: NewMaps(DefaultCacheBytes)}
	f.c = NewCollector("test-region", f.blobs, f.recs, f.maps, time.Now)
	return f
}

// write stores blocks as a writer does: the chunks first, then one
// transaction that touches them and applies them to a new map, whose root
// it returns.
func (f *gcFixture) write(t *testing.T, blocks map[int64][]byte) openami.Digest {
	t.Helper()
	ctx := context.Background()
	var refs []*ChunkRef
	var changes []Change
	for i, b := range blocks {
		d, stored, wrote, err := f.c.Chunks().Put(ctx, nil, b)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, &ChunkRef{Digest: d, Stored: stored, Wrote: wrote})
		changes = append(changes, Change{Index: i, Digest: d})
	}
	slices.SortFunc(changes, func(a, b Change) int { return int(a.Index - b.Index) })
	var root openami.Digest
	err := f.c.Commit(ctx, refs, nil, func(touch func(Ledger) error) error {
		return f.recs.Update(ctx, func(l Ledger) error {
			if err := touch(l); err != nil {
				return err
			}
			var err error
			root, err = f.maps.Apply(l.(memLedger).nodeStore(), openami.ZeroDigest, changes)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func (f *gcFixture) hasChunk(t *testing.T, b []byte) bool {
	t.Helper()
	ok, err := f.c.Chunks().Has(context.Background(), digestOf(b))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func digestOf(b []byte) openami.Digest { return sha256.Sum256(b) }

func TestCollectKeepsWhatRootsReach(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture()
	kept := f.write(t, map[int64][]byte{0: randomBlock(1), 7: randomBlock(2)})
	loose := randomBlock(3)
	f.write(t, map[int64][]byte{0: loose})
	f.write(t, map[int64][]byte{0: randomBlock(4), 1: randomBlock(5)}) // no root reaches it
	f.recs.roots = []openami.Digest{kept}
	f.recs.loose = []openami.Digest{digestOf(loose)}

	// A writer that commits while the collection runs, after it raised
	// the generation, keeps its chunk though no root reaches it.
	racing := randomBlock(6)
	f.recs.beforeMark = func() {
		f.recs.beforeMark = nil
		f.write(t, map[int64][]byte{0: racing})
	}
	res, err := f.c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Region != "test-region" || res.Generation != 2 || res.LiveChunks != 3 || res.DeletedChunks != 2 || res.DeletedNodes == 0 {
		t.Fatalf("collect: %+v", res)
	}
	for _, b := range [][]byte{randomBlock(1), randomBlock(2), loose, racing} {
		if !f.hasChunk(t, b) {
			t.Errorf("a live chunk was collected")
		}
	}
	for _, b := range [][]byte{randomBlock(4), randomBlock(5)} {
		if f.hasChunk(t, b) {
			t.Errorf("an unreferenced chunk survived")
		}
	}
	if *f.recs.lease != "released" {
		t.Errorf("lease after a collection: %q", *f.recs.lease)
	}
	rep, err := f.c.Check(ctx, true)
	if err != nil || rep.Damaged() || rep.Unreferenced != 1 { // the racing chunk, until the next collection
		t.Fatalf("check: %+v %v", rep, err)
	}

	// The next collection frees the racing chunk; nothing else.
	res, err = f.c.Collect(ctx)
	if err != nil || res.DeletedChunks != 1 || res.LiveChunks != 3 {
		t.Fatalf("second collect: %+v %v", res, err)
	}
}

func TestCollectLease(t *testing.T) {
	f := newGCFixture()
	held := "gc-other " + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.recs.lease = &held
	if _, err := f.c.Collect(context.Background()); !errors.Is(err, openami.ErrIncorrectState) {
		t.Fatalf("collect under another's lease: %v", err)
	}
	expired := "gc-other " + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	f.recs.lease = &expired
	if _, err := f.c.Collect(context.Background()); err != nil {
		t.Fatalf("collect after an expired lease: %v", err)
	}
}

func TestCollectOrphans(t *testing.T) {
	f := newGCFixture()
	// A blob with no row: its writer crashed before committing. memBlobs
	// lists no ModTime, so it is old enough.
	if _, _, _, err := f.c.Chunks().Put(context.Background(), nil, randomBlock(1)); err != nil {
		t.Fatal(err)
	}
	res, err := f.c.Collect(context.Background())
	if err != nil || res.DeletedOrphans != 1 || len(f.recs.chunks) != 0 {
		t.Fatalf("collect: %+v %v (rows %v)", res, err, f.recs.chunks)
	}
}

// TestCommitWaitsForCollection: a writer that relies on a blob whose row
// a collection is deleting waits until the row is gone, stores the chunk
// again and commits.
func TestCommitWaitsForCollection(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture()
	b := randomBlock(1)
	d, stored, _, err := f.c.Chunks().Put(ctx, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	f.recs.chunks[d] = ChunkRow{Digest: d, Stored: stored, Deleting: true}
	commit := func(touch func(Ledger) error) error {
		return f.recs.Update(ctx, func(l Ledger) error { return touch(l) })
	}

	// Without restore, the writer cannot recover.
	ref := &ChunkRef{Digest: d, Stored: stored}
	if err := f.c.Commit(ctx, []*ChunkRef{ref}, nil, commit); !errors.Is(err, ErrCollecting) {
		t.Fatalf("commit without restore: %v", err)
	}

	// The collection finishes with the chunk a little later.
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.blobs.Delete(ctx, ChunkKey(d))
		f.recs.Update(ctx, func(l Ledger) error { return l.Chunks().Delete(d) })
	}()
	restored := 0
	restore := func() error {
		restored++
		_, _, _, err := f.c.Chunks().Put(ctx, nil, b)
		return err
	}
	if err := f.c.Commit(ctx, []*ChunkRef{ref}, restore, commit); err != nil {
		t.Fatal(err)
	}
	if restored != 1 || !ref.Wrote {
		t.Fatalf("restored %d times, Wrote %v", restored, ref.Wrote)
	}
	row := f.recs.chunks[d]
	if row.Deleting || row.Gen != 1 || !f.hasChunk(t, b) {
		t.Fatalf("after commit: row %+v", row)
	}
}

func TestCheckFindsDamage(t *testing.T) {
	ctx := context.Background()
	f := newGCFixture()
	root := f.write(t, map[int64][]byte{0: randomBlock(1), 1: randomBlock(2)})
	f.recs.roots = []openami.Digest{root}
	if rep, err := f.c.Check(ctx, true); err != nil || rep.Damaged() || rep.Nodes == 0 || rep.Chunks != 2 {
		t.Fatalf("check of a healthy store: %+v %v", rep, err)
	}
	f.blobs.Delete(ctx, ChunkKey(digestOf(randomBlock(1))))
	rep, err := f.c.Check(ctx, true)
	if err != nil || len(rep.MissingChunks) != 1 || !rep.Damaged() {
		t.Fatalf("check with a chunk missing: %+v %v", rep, err)
	}
	delete(f.recs.nodes, root)
	rep, err = f.c.Check(ctx, false)
	if err != nil || len(rep.MissingNodes) != 1 {
		t.Fatalf("check with a node missing: %+v %v", rep, err)
	}
}
