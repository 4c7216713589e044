package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func snapshot(region, acct, id string) openami.Snapshot {
	return openami.Snapshot{
		ID: id, Region: region, AccountID: acct,
		VolumeID:    "vol-ffffffff",
		VolumeSize:  8,
		State:       openami.SnapshotCompleted,
		Progress:    100,
		Description: "snapshot " + id,
		Root:        digest(len(id)),
		StartTime:   t0,
		DataBytes:   3 * openami.BlockSize,
	}
}

func utcSnapshot(s openami.Snapshot) openami.Snapshot {
	s.StartTime = utcTime(s.StartTime)
	s.Deadline = utcTime(s.Deadline)
	return s
}

func createSnapshots(t *testing.T, s metadata.Store, snaps ...openami.Snapshot) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, sn := range snaps {
			if err := tx.Snapshots().Create(sn); err != nil {
				return err
			}
		}
		return nil
	})
}

func testSnapshotCreateGet(t *testing.T, s metadata.Store) {
	full := openami.Snapshot{
		ID: "snap-0123456789abcdef0", Region: region1, AccountID: acct1,
		VolumeID:    "vol-0123456789abcdef0",
		VolumeSize:  16384,
		State:       openami.SnapshotPending,
		StateReason: "because",
		Progress:    42,
		Description: "all fields ✓",
		ParentID:    "snap-00000000000000001",
		Root:        openami.Digest{0xff, 1, 2, 3, 31: 0xfe},
		Completing:  true,
		ClientToken: "token-1",
		Deadline:    t0.Add(24 * time.Hour),
		StartTime:   t0,
		DataBytes:   1 << 40,
		Encrypted:   true,
		KmsKeyID:    "arn:aws:kms:us-east-1:111111111111:key/abc",
	}
	// Zero values everywhere they may be: ZeroDigest root, zero times.
	empty := openami.Snapshot{ID: "snap-1", Region: region1, AccountID: acct1, State: openami.SnapshotCompleted}
	createSnapshots(t, s, full, empty)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Snapshot{full, empty} {
			got, err := tx.Snapshots().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcSnapshot(want))
		}
		return nil
	})
}

func testSnapshotDuplicate(t *testing.T, s metadata.Store) {
	createSnapshots(t, s, snapshot(region1, acct1, "snap-1"))
	// Ids are unique across regions and accounts.
	for _, dup := range []openami.Snapshot{snapshot(region1, acct1, "snap-1"), snapshot(region2, acct2, "snap-1")} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Create(dup) })
		wantClass(t, err, openami.Duplicate, openami.ResourceSnapshot)
		wantMessage(t, err, "The snapshot 'snap-1' already exists.")
	}
	// The transaction goes on after a Duplicate.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Snapshots().Create(snapshot(region1, acct1, "snap-1")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate: %v", err)
		}
		return tx.Snapshots().Create(snapshot(region1, acct1, "snap-2"))
	})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Snapshots().Get(region1, "snap-1")
		if err != nil {
			return err
		}
		equal(t, "snapshot after duplicates", got, utcSnapshot(snapshot(region1, acct1, "snap-1")))
		_, err = tx.Snapshots().Get(region1, "snap-2")
		return err
	})
}

func testSnapshotNotFound(t *testing.T, s metadata.Store) {
	createSnapshots(t, s, snapshot(region1, acct1, "snap-1"))
	const msg = "The snapshot 'snap-none' does not exist."
	for name, fn := range map[string]func(metadata.Snapshots) error{
		"Get":    func(sn metadata.Snapshots) error { _, err := sn.Get(region1, "snap-none"); return err },
		"Update": func(sn metadata.Snapshots) error { return sn.Update(snapshot(region1, acct1, "snap-none")) },
		"Delete": func(sn metadata.Snapshots) error { return sn.Delete(region1, "snap-none") },
		"AddPermissions": func(sn metadata.Snapshots) error {
			return sn.AddPermissions("snap-none", []metadata.Permission{{Group: "all"}})
		},
		"PutBlock": func(sn metadata.Snapshots) error {
			return sn.PutBlock("snap-none", metadata.BlockRef{Index: 1, Digest: digest(1)})
		},
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Snapshots()) })
		wantClass(t, err, openami.NotFound, openami.ResourceSnapshot)
		if name != "Update" || messageOf(err) != "" {
			wantMessage(t, err, msg)
		}
	}
	// A snapshot of another region is not found either, and is left alone.
	err := viewErr(s, func(tx metadata.Tx) error { _, err := tx.Snapshots().Get(region2, "snap-1"); return err })
	wantClass(t, err, openami.NotFound, openami.ResourceSnapshot)
	wantMessage(t, err, "The snapshot 'snap-1' does not exist.")
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Delete(region2, "snap-1") })
	wantClass(t, err, openami.NotFound, openami.ResourceSnapshot)
	other := snapshot(region2, acct1, "snap-1")
	other.Description = "changed"
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Update(other) })
	wantClass(t, err, openami.NotFound, openami.ResourceSnapshot)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Snapshots().Get(region1, "snap-1")
		if err != nil {
			return err
		}
		equal(t, "snapshot after failed calls", got, utcSnapshot(snapshot(region1, acct1, "snap-1")))
		// Reads of what a missing snapshot would have are empty.
		ps, err := tx.Snapshots().Permissions("snap-none")
		if err != nil || len(ps) != 0 {
			t.Errorf("Permissions of a missing snapshot: %v, %v", ps, err)
		}
		bs, err := tx.Snapshots().Blocks("snap-none", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a missing snapshot: %v, %v", bs, err)
		}
		return nil
	})
	// Removing permissions or blocks of a missing snapshot does nothing.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Snapshots().RemovePermissions("snap-none", []metadata.Permission{{AccountID: acct2}}); err != nil {
			return err
		}
		return tx.Snapshots().DeleteBlocks("snap-none")
	})
}

func testSnapshotByClientToken(t *testing.T, s metadata.Store) {
	a := snapshot(region1, acct1, "snap-a")
	a.ClientToken = "tok"
	b := snapshot(region1, acct2, "snap-b")
	b.ClientToken = "tok"
	c := snapshot(region2, acct1, "snap-c")
	c.ClientToken = "tok"
	none := snapshot(region1, acct1, "snap-d") // no token
	createSnapshots(t, s, a, b, c, none)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Snapshot{a, b, c} {
			got, err := tx.Snapshots().ByClientToken(want.Region, want.AccountID, "tok")
			if err != nil {
				return err
			}
			equal(t, "ByClientToken", got, utcSnapshot(want))
		}
		for _, c := range []struct{ region, acct, token string }{
			{region1, acct1, "other"},
			{region1, acct3, "tok"},
			{"ap-south-1", acct1, "tok"},
			{region1, acct1, ""},
		} {
			_, err := tx.Snapshots().ByClientToken(c.region, c.acct, c.token)
			wantClass(t, err, openami.NotFound, openami.ResourceSnapshot)
		}
		return nil
	})
}

func testSnapshotUpdate(t *testing.T, s metadata.Store) {
	orig := snapshot(region1, acct1, "snap-1")
	orig.State = openami.SnapshotPending
	orig.Deadline = t0.Add(time.Hour)
	createSnapshots(t, s, orig, snapshot(region1, acct1, "snap-2"))
	changed := openami.Snapshot{
		ID: orig.ID, Region: orig.Region, AccountID: acct2, // AccountID is not changed
		VolumeID:    "vol-2",
		VolumeSize:  9,
		State:       openami.SnapshotError,
		StateReason: "failed",
		Progress:    7,
		Description: "new",
		ParentID:    "snap-0",
		Root:        openami.ZeroDigest,
		Completing:  true,
		ClientToken: "tok2",
		Deadline:    time.Time{},
		StartTime:   t0.Add(time.Second),
		DataBytes:   5,
		Encrypted:   true,
		KmsKeyID:    "k",
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Update(changed) })
	want := changed
	want.AccountID = acct1
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Snapshots().Get(region1, orig.ID)
		if err != nil {
			return err
		}
		equal(t, "Get after Update", got, utcSnapshot(want))
		got, err = tx.Snapshots().Get(region1, "snap-2")
		if err != nil {
			return err
		}
		equal(t, "other snapshot after Update", got, utcSnapshot(snapshot(region1, acct1, "snap-2")))
		// The new token finds it; the old one no longer does.
		got, err = tx.Snapshots().ByClientToken(region1, acct1, "tok2")
		if err != nil {
			return err
		}
		equal(t, "ByClientToken after Update", got.ID, orig.ID)
		return nil
	})
}

func testSnapshotDelete(t *testing.T, s metadata.Store) {
	createSnapshots(t, s, snapshot(region1, acct1, "snap-1"), snapshot(region1, acct1, "snap-2"))
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"snap-1", "snap-2"} {
			if err := tx.Snapshots().AddPermissions(id, []metadata.Permission{{AccountID: acct2}, {Group: "all"}}); err != nil {
				return err
			}
			for i := range 3 {
				if err := tx.Snapshots().PutBlock(id, metadata.BlockRef{Index: int64(i), Digest: digest(i), Checksum: "c"}); err != nil {
					return err
				}
			}
		}
		return tx.Snapshots().Delete(region1, "snap-1")
	})
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Snapshots().Get(region1, "snap-1"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get of a deleted snapshot: %v", err)
		}
		ps, err := tx.Snapshots().Permissions("snap-1")
		if err != nil || len(ps) != 0 {
			t.Errorf("Permissions of a deleted snapshot: %v, %v", ps, err)
		}
		bs, err := tx.Snapshots().Blocks("snap-1", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a deleted snapshot: %v, %v", bs, err)
		}
		ps, err = tx.Snapshots().Permissions("snap-2")
		if err != nil || len(ps) != 2 {
			t.Errorf("Permissions of the other snapshot: %v, %v", ps, err)
		}
		bs, err = tx.Snapshots().Blocks("snap-2", -1, 0)
		if err != nil || len(bs) != 3 {
			t.Errorf("Blocks of the other snapshot: %v, %v", bs, err)
		}
		list, err := tx.Snapshots().List(region1, metadata.SnapshotQuery{VisibleTo: acct2})
		if err != nil {
			return err
		}
		equal(t, "visible after Delete", snapIDs(list), []string{"snap-2"})
		return nil
	})
	// The id can be used again, and nothing of the old snapshot shows.
	createSnapshots(t, s, snapshot(region2, acct2, "snap-1"))
	view(t, s, func(tx metadata.Tx) error {
		ps, err := tx.Snapshots().Permissions("snap-1")
		if err != nil || len(ps) != 0 {
			t.Errorf("Permissions of a re-created snapshot: %v, %v", ps, err)
		}
		return nil
	})
}

func sortedPermissions(ps []metadata.Permission) []metadata.Permission {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b metadata.Permission) int {
		if c := strings.Compare(a.AccountID, b.AccountID); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	return ps
}

func testSnapshotPermissions(t *testing.T, s metadata.Store) {
	createSnapshots(t, s, snapshot(region1, acct1, "snap-1"), snapshot(region1, acct1, "snap-2"))
	perms := func(id string) []metadata.Permission {
		var ps []metadata.Permission
		view(t, s, func(tx metadata.Tx) error {
			var err error
			ps, err = tx.Snapshots().Permissions(id)
			return err
		})
		return sortedPermissions(ps)
	}
	if ps := perms("snap-1"); len(ps) != 0 {
		t.Fatalf("Permissions of a new snapshot: %v", ps)
	}
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Snapshots().AddPermissions("snap-1", []metadata.Permission{{AccountID: acct3}, {AccountID: acct2}, {AccountID: acct2}}); err != nil {
			return err
		}
		// Ones it has are ignored; the transaction goes on.
		if err := tx.Snapshots().AddPermissions("snap-1", []metadata.Permission{{AccountID: acct2}, {Group: "all"}}); err != nil {
			return err
		}
		return tx.Snapshots().AddPermissions("snap-2", []metadata.Permission{{AccountID: acct3}})
	})
	equal(t, "Permissions", perms("snap-1"), []metadata.Permission{{Group: "all"}, {AccountID: acct2}, {AccountID: acct3}})
	update(t, s, func(tx metadata.Tx) error {
		return tx.Snapshots().RemovePermissions("snap-1", []metadata.Permission{{Group: "all"}, {AccountID: acct3}, {AccountID: "999999999999"}})
	})
	equal(t, "Permissions after Remove", perms("snap-1"), []metadata.Permission{{AccountID: acct2}})
	equal(t, "other snapshot's Permissions", perms("snap-2"), []metadata.Permission{{AccountID: acct3}})
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Snapshots().AddPermissions("snap-1", nil); err != nil {
			return err
		}
		return tx.Snapshots().RemovePermissions("snap-1", nil)
	})
	equal(t, "Permissions after empty calls", perms("snap-1"), []metadata.Permission{{AccountID: acct2}})
}

func testSnapshotPending(t *testing.T, s metadata.Store) {
	pending := func(region, id string) openami.Snapshot {
		sn := snapshot(region, acct1, id)
		sn.State = openami.SnapshotPending
		sn.Progress = 0
		sn.Deadline = t0.Add(time.Hour)
		return sn
	}
	failed := snapshot(region1, acct1, "snap-4")
	failed.State = openami.SnapshotError
	createSnapshots(t, s, pending(region2, "snap-3"), snapshot(region1, acct1, "snap-2"), failed,
		pending(region1, "snap-5"), pending(region1, "snap-1"))
	list := func() []openami.Snapshot {
		var list []openami.Snapshot
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Snapshots().Pending()
			return err
		})
		return list
	}
	equal(t, "Pending", list(), []openami.Snapshot{
		utcSnapshot(pending(region1, "snap-1")), utcSnapshot(pending(region2, "snap-3")), utcSnapshot(pending(region1, "snap-5")),
	})
	done := pending(region2, "snap-3")
	done.State = openami.SnapshotCompleted
	update(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Update(done) })
	equal(t, "Pending after one completed", snapIDs(list()), []string{"snap-1", "snap-5"})
}
