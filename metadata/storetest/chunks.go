package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func chunk(i int) metadata.Chunk {
	return metadata.Chunk{Digest: digest(i), Size: openami.BlockSize, Stored: int64(1000 + i)}
}

func touch(tx metadata.Tx, region string, gen int64, idx ...int) error {
	var cs []metadata.Chunk
	for _, i := range idx {
		cs = append(cs, chunk(i))
	}
	return tx.Chunks().Touch(region, cs, gen)
}

func getChunk(t *testing.T, s metadata.Store, region string, i int) (metadata.Chunk, error) {
	t.Helper()
	var c metadata.Chunk
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		c, err = tx.Chunks().Get(region, digest(i))
		return err
	})
	return c, err
}

func wantChunk(t *testing.T, s metadata.Store, region string, i int, gen int64, state metadata.ChunkState) {
	t.Helper()
	got, err := getChunk(t, s, region, i)
	if err != nil {
		t.Fatalf("Get chunk %d: %v", i, err)
	}
	want := chunk(i)
	want.Gen, want.State = gen, state
	equal(t, fmt.Sprintf("chunk %d", i), got, want)
}

func testChunkTouch(t *testing.T, s metadata.Store) {
	_, err := getChunk(t, s, region1, 1)
	wantClass(t, err, openami.NotFound, "")
	update(t, s, func(tx metadata.Tx) error {
		if err := touch(tx, region1, 3, 1); err != nil {
			return err
		}
		if err := touch(tx, region1, 3, 2, 3, 2); err != nil { // a chunk twice
			return err
		}
		if err := touch(tx, region1, 3); err != nil { // none
			return err
		}
		return touch(tx, region2, 7, 1)
	})
	wantChunk(t, s, region1, 1, 3, metadata.ChunkLive)
	wantChunk(t, s, region1, 2, 3, metadata.ChunkLive)
	wantChunk(t, s, region2, 1, 7, metadata.ChunkLive)
	// Touch raises Gen, never lowers it, and keeps the record's sizes.
	update(t, s, func(tx metadata.Tx) error {
		later := chunk(1)
		later.Stored = 5
		if err := tx.Chunks().Touch(region1, []metadata.Chunk{later}, 5); err != nil {
			return err
		}
		if err := touch(tx, region1, 2, 2, 3); err != nil {
			return err
		}
		if err := touch(tx, region1, 3, 1); err != nil { // at a lower gen: no change
			return err
		}
		return touch(tx, region1, 4, 3, 4)
	})
	wantChunk(t, s, region1, 1, 5, metadata.ChunkLive)
	wantChunk(t, s, region1, 2, 3, metadata.ChunkLive)
	wantChunk(t, s, region1, 3, 4, metadata.ChunkLive)
	wantChunk(t, s, region1, 4, 4, metadata.ChunkLive)
	wantChunk(t, s, region2, 1, 7, metadata.ChunkLive)

	view(t, s, func(tx metadata.Tx) error {
		n, stored, err := tx.Chunks().Stats(region1)
		if err != nil {
			return err
		}
		if n != 4 || stored != 1001+1002+1003+1004 {
			t.Errorf("Stats: %d chunks, %d bytes; want 4, %d", n, stored, 1001+1002+1003+1004)
		}
		n, stored, err = tx.Chunks().Stats("ap-south-1")
		if err != nil {
			return err
		}
		if n != 0 || stored != 0 {
			t.Errorf("Stats of an empty region: %d, %d", n, stored)
		}
		return nil
	})
}

func testChunkList(t *testing.T, s metadata.Store) {
	var want []metadata.Chunk
	update(t, s, func(tx metadata.Tx) error {
		// Digests starting with 0x00 and 0xff, to catch signed byte order.
		low := metadata.Chunk{Digest: openami.Digest{0, 31: 1}, Size: 1, Stored: 1}
		high := metadata.Chunk{Digest: openami.Digest{0xff, 0xff}, Size: 2, Stored: 2}
		cs := []metadata.Chunk{low, high}
		for i := range 20 {
			cs = append(cs, chunk(i))
		}
		if err := tx.Chunks().Touch(region1, cs, 1); err != nil {
			return err
		}
		for _, c := range cs {
			c.Gen, c.State = 1, metadata.ChunkLive
			want = append(want, c)
		}
		return touch(tx, region2, 1, 100, 101)
	})
	slices.SortFunc(want, func(a, b metadata.Chunk) int { return bytes.Compare(a.Digest[:], b.Digest[:]) })
	list := func(after openami.Digest, limit int) []metadata.Chunk {
		var list []metadata.Chunk
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Chunks().List(region1, after, limit)
			return err
		})
		return list
	}
	for _, limit := range []int{1, 3, 22, 100} {
		var got []metadata.Chunk
		after := openami.ZeroDigest
		for pages := 0; ; pages++ {
			page := list(after, limit)
			if len(page) > limit {
				t.Fatalf("List with limit %d returned %d", limit, len(page))
			}
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].Digest
			if pages > 100 {
				t.Fatal("List does not advance")
			}
		}
		equal(t, fmt.Sprintf("List by %d", limit), got, want)
	}
	equal(t, "List after the middle", list(want[9].Digest, 2), want[10:12])
	if got := list(openami.Digest{0xff, 0xff, 0xff}, 10); len(got) != 0 {
		t.Errorf("List after the last: %v", got)
	}
}

func testChunkDeleting(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		if err := touch(tx, region1, 1, 1, 2, 3); err != nil {
			return err
		}
		return touch(tx, region2, 1, 1)
	})
	mark := func(i int, below int64) bool {
		var ok bool
		update(t, s, func(tx metadata.Tx) error {
			var err error
			ok, err = tx.Chunks().MarkDeleting(region1, digest(i), below)
			return err
		})
		return ok
	}
	if mark(1, 1) {
		t.Error("MarkDeleting of a chunk at belowGen moved it")
	}
	if mark(99, 5) {
		t.Error("MarkDeleting of a missing chunk reported a move")
	}
	if !mark(1, 2) {
		t.Error("MarkDeleting of a live chunk below belowGen did not move it")
	}
	if mark(1, 2) {
		t.Error("MarkDeleting of a deleting chunk reported a move")
	}
	wantChunk(t, s, region1, 1, 1, metadata.ChunkDeleting)
	wantChunk(t, s, region2, 1, 1, metadata.ChunkLive)

	// Touch of a deleting chunk, alone or with others, fails and changes
	// nothing; the transaction goes on.
	for _, idx := range [][]int{{1}, {2, 1}, {4, 1, 3}} {
		update(t, s, func(tx metadata.Tx) error {
			err := touch(tx, region1, 9, idx...)
			wantClass(t, err, openami.IncorrectState, "")
			return tx.Settings().Put("after", []byte("touch"))
		})
		wantChunk(t, s, region1, 1, 1, metadata.ChunkDeleting)
		wantChunk(t, s, region1, 2, 1, metadata.ChunkLive)
		wantChunk(t, s, region1, 3, 1, metadata.ChunkLive)
		if _, err := getChunk(t, s, region1, 4); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("chunk 4 after a failed Touch: %v", err)
		}
	}
	// Another region's chunk of the same digest is unaffected.
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region2, 9, 1) })
	wantChunk(t, s, region2, 1, 9, metadata.ChunkLive)

	// Once the row is gone, the chunk can be touched anew.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Chunks().Delete(region1, digest(1)); err != nil {
			return err
		}
		return tx.Chunks().Delete(region1, digest(99)) // missing: no error
	})
	if _, err := getChunk(t, s, region1, 1); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Get of a deleted chunk: %v", err)
	}
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 10, 1, 2) })
	wantChunk(t, s, region1, 1, 10, metadata.ChunkLive)
	wantChunk(t, s, region1, 2, 10, metadata.ChunkLive)
	wantChunk(t, s, region2, 1, 9, metadata.ChunkLive)
}

func testChunkClaim(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 4, 1) })
	claim := func(region string, i int) bool {
		var ok bool
		update(t, s, func(tx metadata.Tx) error {
			var err error
			ok, err = tx.Chunks().Claim(region, digest(i))
			return err
		})
		return ok
	}
	if claim(region1, 1) {
		t.Error("Claim of a live chunk inserted a row")
	}
	wantChunk(t, s, region1, 1, 4, metadata.ChunkLive)
	if !claim(region1, 2) {
		t.Error("Claim of a chunk without a row did not insert one")
	}
	if claim(region1, 2) {
		t.Error("second Claim inserted a row")
	}
	got, err := getChunk(t, s, region1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != metadata.ChunkDeleting {
		t.Errorf("claimed chunk is %q, want deleting", got.State)
	}
	// Same digest in another region: its own row.
	if !claim(region2, 1) {
		t.Error("Claim in another region did not insert a row")
	}
	wantChunk(t, s, region1, 1, 4, metadata.ChunkLive)
	// A writer cannot reference a claimed chunk until its row is gone.
	update(t, s, func(tx metadata.Tx) error {
		wantClass(t, touch(tx, region1, 5, 2), openami.IncorrectState, "")
		wantClass(t, touch(tx, region1, 5, 1, 2), openami.IncorrectState, "")
		return tx.Chunks().Delete(region1, digest(2))
	})
	wantChunk(t, s, region1, 1, 4, metadata.ChunkLive)
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 5, 2) })
	wantChunk(t, s, region1, 2, 5, metadata.ChunkLive)
}

// testChunkTouchLarge touches 5000 chunks at once, as committing a big
// snapshot does.
func testChunkTouchLarge(t *testing.T, s metadata.Store) {
	const n = 5000
	idx := make([]int, 0, n+10)
	for i := range n {
		idx = append(idx, i)
	}
	idx = append(idx, 0, 1, 2) // repeated
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 1, idx...) })
	count := func() (int64, int64) {
		var c, b int64
		view(t, s, func(tx metadata.Tx) error {
			var err error
			c, b, err = tx.Chunks().Stats(region1)
			return err
		})
		return c, b
	}
	wantBytes := int64(n*1000 + n*(n-1)/2)
	if c, b := count(); c != n || b != wantBytes {
		t.Fatalf("Stats after a large Touch: %d, %d; want %d, %d", c, b, n, wantBytes)
	}
	// A deleting chunk at the end of a large Touch: nothing changes.
	update(t, s, func(tx metadata.Tx) error {
		ok, err := tx.Chunks().MarkDeleting(region1, digest(n-1), 2)
		if !ok || err != nil {
			t.Errorf("MarkDeleting: %v, %v", ok, err)
		}
		return err
	})
	more := append(slices.Clone(idx), n, n+1)
	err := updateErr(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 2, more...) })
	wantClass(t, err, openami.IncorrectState, "")
	if c, _ := count(); c != n {
		t.Errorf("%d chunks after a failed Touch, want %d", c, n)
	}
	for _, i := range []int{0, 2500, n - 2} {
		wantChunk(t, s, region1, i, 1, metadata.ChunkLive)
	}
	// Without it, all are raised and the new ones added.
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 3, more[:n-1]...) })
	update(t, s, func(tx metadata.Tx) error { return touch(tx, region1, 3, n, n+1) })
	for _, i := range []int{0, 1, 511, 512, 4095, 4096, n - 2, n, n + 1} {
		wantChunk(t, s, region1, i, 3, metadata.ChunkLive)
	}
	wantChunk(t, s, region1, n-1, 1, metadata.ChunkDeleting)
	var all []metadata.Chunk
	view(t, s, func(tx metadata.Tx) error {
		var err error
		all, err = tx.Chunks().List(region1, openami.ZeroDigest, 0)
		return err
	})
	if len(all) != n+2 {
		t.Fatalf("List without limit: %d chunks, want %d", len(all), n+2)
	}
	for i := 1; i < len(all); i++ {
		if bytes.Compare(all[i-1].Digest[:], all[i].Digest[:]) >= 0 {
			t.Fatalf("List out of order at %d", i)
		}
	}
}

// Nodes.

func testNodes(t *testing.T, s metadata.Store) {
	get := func(region string, i int) ([]byte, error) {
		var data []byte
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			data, err = tx.Nodes().Get(region, digest(i))
			return err
		})
		return data, err
	}
	_, err := get(region1, 1)
	wantClass(t, err, openami.NotFound, "")
	update(t, s, func(tx metadata.Tx) error {
		for i := range 6 {
			if err := tx.Nodes().Put(region1, digest(i), fmt.Appendf(nil, "node %d\x00\xff", i), int64(i)); err != nil {
				return err
			}
		}
		return tx.Nodes().Put(region2, digest(1), []byte("other region"), 100)
	})
	data, err := get(region1, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Get", data, []byte("node 1\x00\xff"))
	// Put again: the data is kept, Gen only raised.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Nodes().Put(region1, digest(1), []byte("ignored"), 10); err != nil {
			return err
		}
		return tx.Nodes().Put(region1, digest(2), []byte("ignored"), 0)
	})
	data, err = get(region1, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Get after a second Put", data, []byte("node 1\x00\xff"))

	want := map[openami.Digest]int64{}
	for i := range 6 {
		want[digest(i)] = int64(i)
	}
	want[digest(1)] = 10
	list := func(region string, after openami.Digest, limit int) []metadata.NodeRef {
		var list []metadata.NodeRef
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Nodes().List(region, after, limit)
			return err
		})
		return list
	}
	var wantRefs []metadata.NodeRef
	for h, g := range want {
		wantRefs = append(wantRefs, metadata.NodeRef{Hash: h, Gen: g})
	}
	slices.SortFunc(wantRefs, func(a, b metadata.NodeRef) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	equal(t, "List", list(region1, openami.ZeroDigest, 0), wantRefs)
	equal(t, "List limit 2", list(region1, openami.ZeroDigest, 2), wantRefs[:2])
	equal(t, "List after", list(region1, wantRefs[1].Hash, 3), wantRefs[2:5])
	equal(t, "List of region2", list(region2, openami.ZeroDigest, 0), []metadata.NodeRef{{Hash: digest(1), Gen: 100}})

	// Delete removes only the listed nodes below belowGen.
	var n int
	update(t, s, func(tx metadata.Tx) error {
		var err error
		n, err = tx.Nodes().Delete(region1, []openami.Digest{digest(0), digest(1), digest(3), digest(4), digest(99), digest(3)}, 4)
		return err
	})
	if n != 2 {
		t.Errorf("Delete removed %d nodes, want 2", n)
	}
	for i, gone := range []bool{true, false, false, true, false, false} {
		_, err := get(region1, i)
		if gone != errors.Is(err, openami.ErrNotFound) {
			t.Errorf("node %d after Delete: %v (want gone: %v)", i, err, gone)
		}
	}
	if _, err := get(region2, 1); err != nil {
		t.Errorf("other region's node after Delete: %v", err)
	}
	update(t, s, func(tx metadata.Tx) error {
		var err error
		n, err = tx.Nodes().Delete(region1, nil, 100)
		return err
	})
	if n != 0 {
		t.Errorf("Delete of no hashes removed %d", n)
	}
	// Many at once.
	var many []openami.Digest
	update(t, s, func(tx metadata.Tx) error {
		for i := 1000; i < 2200; i++ {
			many = append(many, digest(i))
			if err := tx.Nodes().Put(region1, digest(i), []byte{byte(i)}, 1); err != nil {
				return err
			}
		}
		n, err = tx.Nodes().Delete(region1, many, 2)
		return err
	})
	if n != len(many) {
		t.Errorf("Delete of %d nodes removed %d", len(many), n)
	}
	if got := list(region1, openami.ZeroDigest, 0); len(got) != 4 {
		t.Errorf("%d nodes left, want 4", len(got))
	}
}
