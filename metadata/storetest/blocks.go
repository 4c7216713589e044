package storetest

import (
	"fmt"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func blockRefs(idx ...int) []metadata.BlockRef {
	var bs []metadata.BlockRef
	for _, i := range idx {
		bs = append(bs, metadata.BlockRef{Index: int64(i), Digest: digest(i), Checksum: fmt.Sprint("sum", i)})
	}
	return bs
}

// testBlocks tests the blocks of a pending snapshot or a volume overlay,
// through put, list and deleteAll bound to one owner each, and get (nil for
// snapshots) .
func testBlocks(t *testing.T, s metadata.Store, owners []string,
	put func(tx metadata.Tx, owner string, b metadata.BlockRef) error,
	list func(tx metadata.Tx, owner string, after int64, limit int) ([]metadata.BlockRef, error),
	deleteAll func(tx metadata.Tx, owner string) error,
	get func(tx metadata.Tx, owner string, index int64) (metadata.BlockRef, bool, error),
) {
	a, b := owners[0], owners[1]
	const far = int64(1) << 40 // beyond 32 bits
	update(t, s, func(tx metadata.Tx) error {
		for _, ref := range blockRefs(5, 1, 3, 0) {
			if err := put(tx, a, ref); err != nil {
				return err
			}
		}
		// Replaced: a new digest, a zero block, a volume write without
		// checksum.
		if err := put(tx, a, metadata.BlockRef{Index: 3, Digest: openami.ZeroDigest, Checksum: ""}); err != nil {
			return err
		}
		if err := put(tx, a, metadata.BlockRef{Index: far, Digest: digest(9), Checksum: "x"}); err != nil {
			return err
		}
		return put(tx, b, blockRefs(3)[0])
	})
	want := append(blockRefs(0, 1), metadata.BlockRef{Index: 3, Digest: openami.ZeroDigest})
	want = append(want, blockRefs(5)...)
	want = append(want, metadata.BlockRef{Index: far, Digest: digest(9), Checksum: "x"})
	view(t, s, func(tx metadata.Tx) error {
		for _, c := range []struct {
			after int64
			limit int
			want  []metadata.BlockRef
		}{
			{-1, 0, want},
			{-1, 2, want[:2]},
			{0, 2, want[1:3]},
			{1, 0, want[2:]},
			{2, 1, want[2:3]},
			{5, 10, want[4:]},
			{far, 0, nil},
		} {
			got, err := list(tx, a, c.after, c.limit)
			if err != nil {
				return err
			}
			equal(t, fmt.Sprintf("Blocks after %d limit %d", c.after, c.limit), got, c.want)
		}
		got, err := list(tx, b, -1, 0)
		if err != nil {
			return err
		}
		equal(t, "other owner's Blocks", got, blockRefs(3))
		if get != nil {
			for _, w := range want {
				got, ok, err := get(tx, a, w.Index)
				if err != nil {
					return err
				}
				if !ok {
					t.Fatalf("Block %d: not found", w.Index)
				}
				equal(t, fmt.Sprintf("Block %d", w.Index), got, w)
			}
			for _, idx := range []int64{2, 4, far + 1, far - 1} {
				got, ok, err := get(tx, a, idx)
				if err != nil || ok {
					t.Errorf("Block %d of an overlay without it: %v, %v, %v", idx, got, ok, err)
				}
			}
			if got, ok, err := get(tx, "vol-none", 1); err != nil || ok {
				t.Errorf("Block of a missing volume: %v, %v, %v", got, ok, err)
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return deleteAll(tx, a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := list(tx, a, -1, 0)
		if err != nil || len(got) != 0 {
			t.Errorf("Blocks after DeleteBlocks: %v, %v", got, err)
		}
		got, err = list(tx, b, -1, 0)
		if err != nil {
			return err
		}
		equal(t, "other owner's Blocks after DeleteBlocks", got, blockRefs(3))
		return nil
	})
}

func testSnapshotBlocks(t *testing.T, s metadata.Store) {
	a := snapshot(region1, acct1, "snap-1")
	a.State = openami.SnapshotPending
	b := snapshot(region2, acct2, "snap-2")
	b.State = openami.SnapshotPending
	createSnapshots(t, s, a, b)
	testBlocks(t, s, []string{"snap-1", "snap-2"},
		func(tx metadata.Tx, id string, b metadata.BlockRef) error { return tx.Snapshots().PutBlock(id, b) },
		func(tx metadata.Tx, id string, after int64, limit int) ([]metadata.BlockRef, error) {
			return tx.Snapshots().Blocks(id, after, limit)
		},
		func(tx metadata.Tx, id string) error { return tx.Snapshots().DeleteBlocks(id) },
		nil)
}

func testVolumeBlocks(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"), volume(region2, acct2, "vol-2"))
	testBlocks(t, s, []string{"vol-1", "vol-2"},
		func(tx metadata.Tx, id string, b metadata.BlockRef) error { return tx.Volumes().PutBlock(id, b) },
		func(tx metadata.Tx, id string, after int64, limit int) ([]metadata.BlockRef, error) {
			return tx.Volumes().Blocks(id, after, limit)
		},
		func(tx metadata.Tx, id string) error { return tx.Volumes().DeleteBlocks(id) },
		func(tx metadata.Tx, id string, index int64) (metadata.BlockRef, bool, error) {
			return tx.Volumes().Block(id, index)
		})
}
