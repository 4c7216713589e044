package storetest

import (
	"fmt"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

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
