package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Block storage: snapshots, volumes, chunks and block-map nodes.

const acct3 = "333333333333"

// digest returns a distinct digest for each i.
func digest(i int) openami.Digest { return sha256.Sum256(fmt.Appendf(nil, "block %d", i)) }

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

func volume(region, acct, id string) openami.Volume {
	return openami.Volume{
		ID: id, Region: region, AccountID: acct,
		AvailabilityZone: region + "a",
		Size:             8,
		Type:             "gp3",
		Iops:             3000,
		Throughput:       125,
		State:            openami.VolumeAvailable,
		Base:             digest(len(id)),
		CreatedAt:        t0,
	}
}

func utcSnapshot(s openami.Snapshot) openami.Snapshot {
	s.StartTime = utcTime(s.StartTime)
	s.Deadline = utcTime(s.Deadline)
	return s
}

func utcVolume(v openami.Volume) openami.Volume {
	v.CreatedAt, v.AttachTime = utcTime(v.CreatedAt), utcTime(v.AttachTime)
	return v
}

func utcTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
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

func createVolumes(t *testing.T, s metadata.Store, vols ...openami.Volume) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, v := range vols {
			if err := tx.Volumes().Create(v); err != nil {
				return err
			}
		}
		return nil
	})
}

func viewErr(s metadata.Store, fn func(metadata.Tx) error) error {
	return s.View(context.Background(), fn)
}

// Snapshots.

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

func snapIDs(list []openami.Snapshot) []string {
	ids := []string{}
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

func listSnapshots(t *testing.T, s metadata.Store, region string, q metadata.SnapshotQuery) []openami.Snapshot {
	t.Helper()
	var list []openami.Snapshot
	view(t, s, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Snapshots().List(region, q)
		return err
	})
	return list
}

// visibilityFixture: acct1 owns a1, a2 (and a3 in region2); acct2 owns b1
// shared with acct1, b2 public, b3 private, b4 shared with acct3 and acct1
// then unshared from acct1; acct3 owns c1, private.
func visibilityFixture(t *testing.T, s metadata.Store) {
	createSnapshots(t, s,
		snapshot(region1, acct1, "snap-a1"), snapshot(region1, acct1, "snap-a2"), snapshot(region2, acct1, "snap-a3"),
		snapshot(region1, acct2, "snap-b1"), snapshot(region1, acct2, "snap-b2"), snapshot(region1, acct2, "snap-b3"),
		snapshot(region1, acct2, "snap-b4"), snapshot(region1, acct3, "snap-c1"))
	update(t, s, func(tx metadata.Tx) error {
		sn := tx.Snapshots()
		for _, p := range []struct {
			id string
			p  metadata.Permission
		}{
			{"snap-b1", metadata.Permission{AccountID: acct1}},
			{"snap-b2", metadata.Permission{Group: "all"}},
			{"snap-b4", metadata.Permission{AccountID: acct3}},
			{"snap-b4", metadata.Permission{AccountID: acct1}},
			{"snap-a3", metadata.Permission{Group: "all"}},
		} {
			if err := sn.AddPermissions(p.id, []metadata.Permission{p.p}); err != nil {
				return err
			}
		}
		return sn.RemovePermissions("snap-b4", []metadata.Permission{{AccountID: acct1}})
	})
}

func testSnapshotListVisibility(t *testing.T, s metadata.Store) {
	visibilityFixture(t, s)
	for _, c := range []struct {
		name string
		q    metadata.SnapshotQuery
		want []string
	}{
		{"everything", metadata.SnapshotQuery{}, []string{"snap-a1", "snap-a2", "snap-b1", "snap-b2", "snap-b3", "snap-b4", "snap-c1"}},
		{"VisibleTo acct1", metadata.SnapshotQuery{VisibleTo: acct1}, []string{"snap-a1", "snap-a2", "snap-b1", "snap-b2"}},
		{"VisibleTo acct3", metadata.SnapshotQuery{VisibleTo: acct3}, []string{"snap-b2", "snap-b4", "snap-c1"}},
		{"VisibleTo a stranger", metadata.SnapshotQuery{VisibleTo: "999999999999"}, []string{"snap-b2"}},
		{"OwnerIDs acct2", metadata.SnapshotQuery{OwnerIDs: []string{acct2}}, []string{"snap-b1", "snap-b2", "snap-b3", "snap-b4"}},
		{"OwnerIDs acct1 acct3", metadata.SnapshotQuery{OwnerIDs: []string{acct3, acct1, acct3}}, []string{"snap-a1", "snap-a2", "snap-c1"}},
		{"OwnerIDs acct2, VisibleTo acct1", metadata.SnapshotQuery{VisibleTo: acct1, OwnerIDs: []string{acct2}}, []string{"snap-b1", "snap-b2"}},
		{"RestorableBy acct1", metadata.SnapshotQuery{RestorableBy: []string{acct1}}, []string{"snap-a1", "snap-a2", "snap-b1", "snap-b2"}},
		{"RestorableBy acct1 acct3", metadata.SnapshotQuery{RestorableBy: []string{acct1, acct3}},
			[]string{"snap-a1", "snap-a2", "snap-b1", "snap-b2", "snap-b4", "snap-c1"}},
		{"RestorableBy acct2, VisibleTo acct1", metadata.SnapshotQuery{VisibleTo: acct1, RestorableBy: []string{acct2}},
			[]string{"snap-b1", "snap-b2"}},
		{"RestorableBy acct3, OwnerIDs acct2", metadata.SnapshotQuery{OwnerIDs: []string{acct2}, RestorableBy: []string{acct3}},
			[]string{"snap-b2", "snap-b4"}},
		{"IDs", metadata.SnapshotQuery{IDs: []string{"snap-b3", "snap-a1", "snap-none", "snap-a3"}}, []string{"snap-a1", "snap-b3"}},
		{"IDs, VisibleTo acct1", metadata.SnapshotQuery{VisibleTo: acct1, IDs: []string{"snap-b3", "snap-a1", "snap-b1"}}, []string{"snap-a1", "snap-b1"}},
		{"After", metadata.SnapshotQuery{VisibleTo: acct1, After: "snap-a2"}, []string{"snap-b1", "snap-b2"}},
		{"After, not an id", metadata.SnapshotQuery{After: "snap-b"}, []string{"snap-b1", "snap-b2", "snap-b3", "snap-b4", "snap-c1"}},
		{"After, Limit", metadata.SnapshotQuery{After: "snap-a1", Limit: 2}, []string{"snap-a2", "snap-b1"}},
		{"IDs, After, Limit", metadata.SnapshotQuery{IDs: []string{"snap-c1", "snap-b4", "snap-a1", "snap-b2"}, After: "snap-a2", Limit: 2},
			[]string{"snap-b2", "snap-b4"}},
		{"nothing", metadata.SnapshotQuery{OwnerIDs: []string{"999999999999"}}, []string{}},
	} {
		equal(t, c.name, snapIDs(listSnapshots(t, s, region1, c.q)), c.want)
	}
	// Another region has its own snapshots; full records come back.
	got := listSnapshots(t, s, region2, metadata.SnapshotQuery{VisibleTo: acct2})
	equal(t, "region2", got, []openami.Snapshot{utcSnapshot(snapshot(region2, acct1, "snap-a3"))})
	if got := listSnapshots(t, s, "ap-south-1", metadata.SnapshotQuery{}); len(got) != 0 {
		t.Errorf("List of an empty region: %v", got)
	}
}

// pageSnapshots pages through q, limit at a time, and returns the ids.
func pageSnapshots(t *testing.T, s metadata.Store, q metadata.SnapshotQuery, limit int) []string {
	t.Helper()
	return pageIDs(t, limit, q.After, func(after string) []string {
		q.After, q.Limit = after, limit
		return snapIDs(listSnapshots(t, s, region1, q))
	})
}

// pageIDs pages through a listing from after, limit at a time, with list
// returning the ids of the page after an id, and returns all the ids.
func pageIDs(t *testing.T, limit int, after string, list func(after string) []string) []string {
	t.Helper()
	ids := []string{}
	for pages := 0; ; pages++ {
		page := list(after)
		if len(page) > limit {
			t.Fatalf("List with Limit %d returned %d", limit, len(page))
		}
		ids = append(ids, page...)
		if len(page) < limit {
			return ids
		}
		after = page[len(page)-1]
		if pages > 1000 {
			t.Fatal("List does not advance")
		}
	}
}

func testSnapshotListPages(t *testing.T, s metadata.Store) {
	var snaps []openami.Snapshot
	for i := range 30 {
		snaps = append(snaps, snapshot(region1, []string{acct1, acct2, acct3}[i%3], fmt.Sprintf("snap-%03d", i)))
	}
	createSnapshots(t, s, snaps...)
	update(t, s, func(tx metadata.Tx) error {
		for i := range 30 {
			var p metadata.Permission
			switch i % 5 {
			case 1:
				p.AccountID = acct1
			case 2:
				p.Group = "all"
			default:
				continue
			}
			if err := tx.Snapshots().AddPermissions(fmt.Sprintf("snap-%03d", i), []metadata.Permission{p}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, q := range []metadata.SnapshotQuery{
		{},
		{VisibleTo: acct1},
		{VisibleTo: acct2},
		{OwnerIDs: []string{acct2, acct3}},
		{RestorableBy: []string{acct3}},
		{VisibleTo: acct1, IDs: []string{"snap-001", "snap-002", "snap-004", "snap-010", "snap-011", "snap-027"}},
	} {
		all := snapIDs(listSnapshots(t, s, region1, q))
		for _, limit := range []int{1, 2, 7, 30, 31} {
			equal(t, fmt.Sprintf("%+v paged by %d", q, limit), pageSnapshots(t, s, q, limit), all)
		}
	}
}

// testSnapshotListLongLists selects by more ids and accounts than fit one
// SQL statement comfortably, which an implementation may handle
// differently.
func testSnapshotListLongLists(t *testing.T, s metadata.Store) {
	visibilityFixture(t, s)
	ids := []string{"snap-b3", "snap-a2"}
	owners := []string{acct2, acct3}
	var restorers []string
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("snap-x%04d", i))
		owners = append(owners, fmt.Sprintf("9%011d", i))
		restorers = append(restorers, fmt.Sprintf("9%011d", i))
	}
	restorers = append(restorers, acct3)
	for _, c := range []struct {
		name string
		q    metadata.SnapshotQuery
		want []string
	}{
		{"IDs", metadata.SnapshotQuery{IDs: ids}, []string{"snap-a2", "snap-b3"}},
		{"OwnerIDs", metadata.SnapshotQuery{OwnerIDs: owners}, []string{"snap-b1", "snap-b2", "snap-b3", "snap-b4", "snap-c1"}},
		{"RestorableBy", metadata.SnapshotQuery{RestorableBy: restorers}, []string{"snap-b2", "snap-b4", "snap-c1"}},
		{"all three", metadata.SnapshotQuery{IDs: append(ids, "snap-b4", "snap-c1"), OwnerIDs: owners, RestorableBy: restorers},
			[]string{"snap-b4", "snap-c1"}},
	} {
		equal(t, c.name, snapIDs(listSnapshots(t, s, region1, c.q)), c.want)
		for _, limit := range []int{1, 2} {
			equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageSnapshots(t, s, c.q, limit), c.want)
		}
	}
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

// Volumes.

func testVolumeCreateGet(t *testing.T, s metadata.Store) {
	full := openami.Volume{
		ID: "vol-0123456789abcdef0", Region: region1, AccountID: acct1,
		AvailabilityZone: "us-east-1b",
		Size:             16384,
		Type:             "io2",
		Iops:             64000,
		Throughput:       1000,
		SnapshotID:       "snap-0123456789abcdef0",
		State:            openami.VolumeInUse,
		Base:             openami.Digest{0xff, 31: 1},
		MultiAttach:      true,
		Encrypted:        true,
		KmsKeyID:         "alias/k",
		ClientToken:      "tok",
		CreatedAt:        t0,

		InstanceID:          "i-0123456789abcdef0",
		Device:              "/dev/sdf",
		AttachTime:          t0.Add(time.Second),
		DeleteOnTermination: true,
	}
	empty := openami.Volume{ID: "vol-1", Region: region1, AccountID: acct1}
	createVolumes(t, s, full, empty)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Volume{full, empty} {
			got, err := tx.Volumes().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcVolume(want))
		}
		return nil
	})
}

func testVolumeDuplicate(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"))
	update(t, s, func(tx metadata.Tx) error {
		for _, dup := range []openami.Volume{volume(region1, acct1, "vol-1"), volume(region2, acct2, "vol-1")} {
			err := tx.Volumes().Create(dup)
			wantClass(t, err, openami.Duplicate, openami.ResourceVolume)
			wantMessage(t, err, "The volume 'vol-1' already exists.")
		}
		return tx.Volumes().Create(volume(region1, acct1, "vol-2"))
	})
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Volumes().List(region1, metadata.VolumeQuery{})
		if err != nil {
			return err
		}
		equal(t, "List after duplicates", list, []openami.Volume{
			utcVolume(volume(region1, acct1, "vol-1")), utcVolume(volume(region1, acct1, "vol-2")),
		})
		return nil
	})
}

func testVolumeNotFound(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"))
	for _, fn := range []func(metadata.Volumes) error{
		func(v metadata.Volumes) error { _, err := v.Get(region1, "vol-none"); return err },
		func(v metadata.Volumes) error { return v.Update(volume(region1, acct1, "vol-none")) },
		func(v metadata.Volumes) error { return v.Delete(region1, "vol-none") },
		func(v metadata.Volumes) error {
			return v.PutBlock("vol-none", metadata.BlockRef{Index: 1, Digest: digest(1)})
		},
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Volumes()) })
		wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		wantMessage(t, err, "The volume 'vol-none' does not exist.")
	}
	other := volume(region2, acct1, "vol-1")
	other.Size = 99
	for _, fn := range []func(metadata.Volumes) error{
		func(v metadata.Volumes) error { _, err := v.Get(region2, "vol-1"); return err },
		func(v metadata.Volumes) error { return v.Update(other) },
		func(v metadata.Volumes) error { return v.Delete(region2, "vol-1") },
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Volumes()) })
		wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		wantMessage(t, err, "The volume 'vol-1' does not exist.")
	}
	update(t, s, func(tx metadata.Tx) error {
		// A handled NotFound leaves the transaction usable.
		if err := tx.Volumes().PutBlock("vol-none", blockRefs(1)[0]); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("PutBlock of a missing volume: %v", err)
		}
		if err := tx.Volumes().DeleteBlocks("vol-none"); err != nil {
			return err
		}
		return tx.Volumes().PutBlock("vol-1", blockRefs(1)[0])
	})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Volumes().Get(region1, "vol-1")
		if err != nil {
			return err
		}
		equal(t, "volume after failed calls", got, utcVolume(volume(region1, acct1, "vol-1")))
		bs, err := tx.Volumes().Blocks("vol-1", -1, 0)
		if err != nil {
			return err
		}
		equal(t, "Blocks", bs, blockRefs(1))
		bs, err = tx.Volumes().Blocks("vol-none", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a missing volume: %v, %v", bs, err)
		}
		return nil
	})
}

func testVolumeByClientToken(t *testing.T, s metadata.Store) {
	a := volume(region1, acct1, "vol-a")
	a.ClientToken = "tok"
	b := volume(region1, acct2, "vol-b")
	b.ClientToken = "tok"
	c := volume(region2, acct1, "vol-c")
	c.ClientToken = "tok"
	createVolumes(t, s, a, b, c, volume(region1, acct1, "vol-d"))
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Volume{a, b, c} {
			got, err := tx.Volumes().ByClientToken(want.Region, want.AccountID, "tok")
			if err != nil {
				return err
			}
			equal(t, "ByClientToken", got, utcVolume(want))
		}
		for _, c := range []struct{ region, acct, token string }{
			{region1, acct1, "other"}, {region1, acct3, "tok"}, {"ap-south-1", acct1, "tok"}, {region1, acct1, ""},
		} {
			_, err := tx.Volumes().ByClientToken(c.region, c.acct, c.token)
			wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		}
		return nil
	})
}

func testVolumeUpdate(t *testing.T, s metadata.Store) {
	orig := volume(region1, acct1, "vol-1")
	createVolumes(t, s, orig, volume(region1, acct1, "vol-2"))
	changed := openami.Volume{
		ID: orig.ID, Region: region1, AccountID: acct2,
		AvailabilityZone: "us-east-1c",
		Size:             100,
		Type:             "gp2",
		Iops:             300,
		Throughput:       0,
		SnapshotID:       "snap-9",
		State:            openami.VolumeInUse,
		Base:             openami.ZeroDigest,
		MultiAttach:      true,
		Encrypted:        true,
		KmsKeyID:         "k",
		ClientToken:      "tok2",
		CreatedAt:        t0.Add(time.Minute),

		InstanceID:          "i-1",
		Device:              "/dev/xvda",
		AttachTime:          t0.Add(2 * time.Minute),
		DeleteOnTermination: true,
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Volumes().Update(changed) })
	want := changed
	want.AccountID = acct1
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Volumes().Get(region1, orig.ID)
		if err != nil {
			return err
		}
		equal(t, "Get after Update", got, utcVolume(want))
		got, err = tx.Volumes().Get(region1, "vol-2")
		if err != nil {
			return err
		}
		equal(t, "other volume after Update", got, utcVolume(volume(region1, acct1, "vol-2")))
		return nil
	})
}

func testVolumeDelete(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"), volume(region1, acct1, "vol-2"))
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"vol-1", "vol-2"} {
			for _, b := range blockRefs(0, 1, 2) {
				if err := tx.Volumes().PutBlock(id, b); err != nil {
					return err
				}
			}
		}
		return tx.Volumes().Delete(region1, "vol-1")
	})
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Volumes().Get(region1, "vol-1"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get of a deleted volume: %v", err)
		}
		if b, ok, err := tx.Volumes().Block("vol-1", 1); ok || err != nil {
			t.Errorf("Block of a deleted volume: %v, %v, %v", b, ok, err)
		}
		bs, err := tx.Volumes().Blocks("vol-2", -1, 0)
		if err != nil {
			return err
		}
		equal(t, "other volume's Blocks", bs, blockRefs(0, 1, 2))
		return nil
	})
	// The id can be used again, with an empty overlay.
	createVolumes(t, s, volume(region2, acct1, "vol-1"))
	view(t, s, func(tx metadata.Tx) error {
		bs, err := tx.Volumes().Blocks("vol-1", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a re-created volume: %v, %v", bs, err)
		}
		return nil
	})
}

func volIDs(list []openami.Volume) []string {
	ids := []string{}
	for _, v := range list {
		ids = append(ids, v.ID)
	}
	return ids
}

func testVolumeList(t *testing.T, s metadata.Store) {
	var vols []openami.Volume
	for i := range 20 {
		vols = append(vols, volume(region1, []string{acct1, acct2}[i%2], fmt.Sprintf("vol-%03d", 19-i)))
	}
	vols = append(vols, volume(region2, acct1, "vol-100"))
	createVolumes(t, s, vols...)
	list := func(q metadata.VolumeQuery) []string {
		var list []openami.Volume
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Volumes().List(region1, q)
			return err
		})
		if q.Limit > 0 && len(list) > q.Limit {
			t.Fatalf("List with Limit %d returned %d", q.Limit, len(list))
		}
		return volIDs(list)
	}
	var all, mine []string
	for i := range 20 {
		id := fmt.Sprintf("vol-%03d", i)
		all = append(all, id)
		if i%2 == 0 { // created by acct2
			continue
		}
		mine = append(mine, id)
	}
	equal(t, "List", list(metadata.VolumeQuery{}), all)
	equal(t, "List AccountID", list(metadata.VolumeQuery{AccountID: acct1}), mine)
	equal(t, "List IDs", list(metadata.VolumeQuery{IDs: []string{"vol-007", "vol-002", "vol-100", "vol-none", "vol-002"}}),
		[]string{"vol-002", "vol-007"})
	equal(t, "List IDs, AccountID", list(metadata.VolumeQuery{AccountID: acct1, IDs: []string{"vol-007", "vol-002"}}),
		[]string{"vol-007"})
	equal(t, "List After", list(metadata.VolumeQuery{After: "vol-016"}), all[17:])
	equal(t, "List After, Limit", list(metadata.VolumeQuery{AccountID: acct1, After: "vol-004", Limit: 3}),
		[]string{"vol-005", "vol-007", "vol-009"})
	if got := list(metadata.VolumeQuery{AccountID: acct3}); len(got) != 0 {
		t.Errorf("List of an account without volumes: %v", got)
	}
	// Paging, and ids beyond one IN clause.
	long := []string{"vol-003", "vol-011", "vol-018"}
	for i := range 1500 {
		long = append(long, fmt.Sprintf("vol-x%04d", i))
	}
	for _, c := range []struct {
		q    metadata.VolumeQuery
		want []string
	}{
		{metadata.VolumeQuery{}, all},
		{metadata.VolumeQuery{AccountID: acct1}, mine},
		{metadata.VolumeQuery{IDs: long}, []string{"vol-003", "vol-011", "vol-018"}},
		{metadata.VolumeQuery{IDs: append(long, "vol-000")}, []string{"vol-000", "vol-003", "vol-011", "vol-018"}},
	} {
		for _, limit := range []int{0, 1, 3, 20} {
			q := c.q
			q.Limit = limit
			var got []string
			for pages := 0; ; pages++ {
				page := list(q)
				got = append(got, page...)
				if limit == 0 || len(page) < limit {
					break
				}
				q.After = page[len(page)-1]
				if pages > 100 {
					t.Fatal("List does not advance")
				}
			}
			equal(t, fmt.Sprintf("%d ids, account %q, paged by %d", len(c.q.IDs), c.q.AccountID, limit), got, c.want)
		}
	}
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

// testAccountDeleteBlockStorage checks that deleting an account deletes its
// snapshots and volumes with their permissions and blocks, and the
// permissions it was granted, and nothing of other accounts.
func testAccountDeleteBlockStorage(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			for _, r := range []string{region1, region2} {
				sid, vid := "snap-"+id+r[:2], "vol-"+id+r[:2]
				if err := tx.Snapshots().Create(snapshot(r, id, sid)); err != nil {
					return err
				}
				if err := tx.Snapshots().AddPermissions(sid, []metadata.Permission{{Group: "all"}, {AccountID: acct3}}); err != nil {
					return err
				}
				if err := tx.Snapshots().PutBlock(sid, blockRefs(1)[0]); err != nil {
					return err
				}
				if err := tx.Volumes().Create(volume(r, id, vid)); err != nil {
					return err
				}
				if err := tx.Volumes().PutBlock(vid, blockRefs(1)[0]); err != nil {
					return err
				}
			}
		}
		// acct2 shares a snapshot with acct1.
		return tx.Snapshots().AddPermissions("snap-"+acct2+region1[:2], []metadata.Permission{{AccountID: acct1}})
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	view(t, s, func(tx metadata.Tx) error {
		for _, r := range []string{region1, region2} {
			snaps, err := tx.Snapshots().List(r, metadata.SnapshotQuery{})
			if err != nil {
				return err
			}
			equal(t, "snapshots left in "+r, snapIDs(snaps), []string{"snap-" + acct2 + r[:2]})
			vols, err := tx.Volumes().List(r, metadata.VolumeQuery{})
			if err != nil {
				return err
			}
			equal(t, "volumes left in "+r, volIDs(vols), []string{"vol-" + acct2 + r[:2]})
			for _, id := range []string{acct1, acct2} {
				sid, vid := "snap-"+id+r[:2], "vol-"+id+r[:2]
				ps, err := tx.Snapshots().Permissions(sid)
				if err != nil {
					return err
				}
				bs, err := tx.Snapshots().Blocks(sid, -1, 0)
				if err != nil {
					return err
				}
				vbs, err := tx.Volumes().Blocks(vid, -1, 0)
				if err != nil {
					return err
				}
				want := 0
				if id == acct2 {
					want = 1
				}
				// acct2's snapshots keep all and acct3, not acct1.
				if len(ps) != 2*want || len(bs) != want || len(vbs) != want {
					t.Errorf("%s: %d permissions, %d snapshot blocks, %d volume blocks; want %d, %d, %d",
						id, len(ps), len(bs), len(vbs), 2*want, want, want)
				}
			}
		}
		return nil
	})
}

// Chunks.

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
