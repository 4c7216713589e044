package service

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/rulestest"
)

// TestTemporaryRestoreExpiresAcrossRestart: a snapshot restored for a day
// goes back to the archive when the day is over, though the service was
// restarted in between: the worker finds the due step in the store.
func TestTemporaryRestoreExpiresAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir0 := t.TempDir()
	clock := rulestest.NewClock(time.Now())
	f := newFixture(t, dir0, clock)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	if _, err := f.svc.EBS().ModifySnapshotTier(ctx, f.p, snap, openami.TierArchive); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	one := 1
	if _, err := f.svc.EBS().RestoreSnapshotTier(ctx, f.p, ebs.RestoreInput{SnapshotID: snap, TemporaryDays: &one}); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	tiering := func(s metadata.Store) openami.SnapshotTiering {
		var sn openami.Snapshot
		if err := s.View(ctx, func(tx metadata.Tx) error {
			var err error
			sn, err = tx.Snapshots().Get("us-east-1", snap)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return sn.Tiering
	}
	if got := tiering(f.store); got.Archived || got.Status != openami.TemporaryRestoreCompleted {
		t.Fatalf("restored: %+v", got)
	}
	f.svc.Close()
	f.store.Close()

	g := newFixture(t, dir0, clock)
	defer g.svc.Close()
	clock.Add(25 * time.Hour)
	g.svc.completions.pass(ctx)
	if got := tiering(g.store); !got.Archived || !got.Due.IsZero() {
		t.Fatalf("a day after the restore, across a restart: %+v", got)
	}
}
