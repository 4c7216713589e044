package storetest

import (
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// testSnapshotTiering: a snapshot's tiering is kept whole by Create and
// Update, and TieringDue lists, across regions and earliest first, the
// snapshots whose step is due by then; none once the step is done.
func testSnapshotTiering(t *testing.T, s metadata.Store) {
	at := func(m int) time.Time { return t0.UTC().Add(time.Duration(m) * time.Minute) }
	archiving := snapshot(region1, acct1, "snap-1")
	archiving.Tiering = openami.SnapshotTiering{Status: openami.ArchivalInProgress, Started: at(0), Due: at(0)}
	restored := snapshot(region2, acct1, "snap-2")
	restored.Tiering = openami.SnapshotTiering{Status: openami.TemporaryRestoreCompleted, Started: at(1), Progress: 100,
		ArchivedAt: at(-10), RestoreDays: 3, RestoreExpiry: at(30), Due: at(30)}
	later := snapshot(region1, acct1, "snap-3")
	later.Tiering = openami.SnapshotTiering{Archived: true, Status: openami.PermanentRestoreInProgress, Started: at(2), Due: at(60)}
	createSnapshots(t, s, archiving, restored, later, snapshot(region1, acct1, "snap-4"))
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Snapshots().Get(region2, "snap-2")
		if err != nil {
			return err
		}
		equal(t, "a snapshot's tiering", got.Tiering, restored.Tiering)
		return nil
	})
	due := func(before time.Time, limit int) []string {
		var list []openami.Snapshot
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Snapshots().TieringDue(before, limit)
			return err
		})
		return snapIDs(list)
	}
	equal(t, "due at 0", due(at(0), 0), []string{"snap-1"})
	equal(t, "due at 30", due(at(30), 0), []string{"snap-1", "snap-2"})
	equal(t, "due at 60, two", due(at(60), 2), []string{"snap-1", "snap-2"})
	archiving.Tiering = openami.SnapshotTiering{Archived: true, Status: openami.ArchivalCompleted, Started: at(0), Progress: 100, ArchivedAt: at(1)}
	update(t, s, func(tx metadata.Tx) error { return tx.Snapshots().Update(archiving) })
	equal(t, "due at 60 after one step", due(at(60), 0), []string{"snap-2", "snap-3"})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Snapshots().Get(region1, "snap-1")
		if err != nil {
			return err
		}
		equal(t, "an updated tiering", got.Tiering, archiving.Tiering)
		return nil
	})
}
