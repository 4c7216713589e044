package ebs

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
)

// settle runs the worker's tiering pass.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	if err := f.vols.SettleTiers(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotTiers: an archive goes archival-in-progress (still usable)
// then archive (unusable: volume, copy, child, EBS direct read, share;
// its sharing removed); a temporary restore goes
// temporary-restore-in-progress then standard until its expiry, when it
// goes back to the archive; a permanent restore stays standard. Each
// refusal changes nothing.
func TestSnapshotTiers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	snap := f.putSnapshot(t, f.p, StartSnapshotInput{VolumeSize: 1}, map[int64][]byte{0: block(0)}, true)
	other := f.newAccount(t, "other")
	if err := f.vols.ModifySnapshotAttribute(ctx, f.p, snap.ID, []Permission{{AccountID: other.AccountID}}, nil); err != nil {
		t.Fatal(err)
	}
	tier := func() openami.SnapshotTiering { return f.snapshot(t, "us-east-1", snap.ID).Tiering }

	// Refusals: another's snapshot, a bad tier, an image using it.
	_, err := f.vols.ModifySnapshotTier(ctx, other, snap.ID, openami.TierArchive)
	wantClass(t, "archiving another's snapshot", err, openami.NotFound, openami.ResourceSnapshot)
	_, err = f.vols.ModifySnapshotTier(ctx, f.p, snap.ID, "standard")
	wantClass(t, "a tier other than archive", err, openami.InvalidParameter, "")
	f.enabledBy[snap.ID] = []string{"ami-0123456789abcdef0"}
	_, err = f.vols.ModifySnapshotTier(ctx, f.p, snap.ID, openami.TierArchive)
	wantClass(t, "a snapshot an enabled image uses", err, openami.InUse, openami.ResourceSnapshot)
	delete(f.enabledBy, snap.ID)
	_, err = f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, Permanent: true})
	wantClass(t, "restoring a snapshot never archived", err, openami.IncorrectState, openami.ResourceSnapshot)
	if got := tier(); got != (openami.SnapshotTiering{}) {
		t.Fatalf("refusals changed the tiering: %+v", got)
	}

	// Archive: in progress, still usable; then archived and unusable.
	started, err := f.vols.ModifySnapshotTier(ctx, f.p, snap.ID, "")
	if err != nil || !started.Equal(f.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("ModifySnapshotTier = %v, %v", started, err)
	}
	if got := tier(); got.Status != openami.ArchivalInProgress || got.Archived {
		t.Fatalf("after ModifySnapshotTier: %+v", got)
	}
	_, err = f.vols.ModifySnapshotTier(ctx, f.p, snap.ID, openami.TierArchive)
	wantClass(t, "archiving twice", err, openami.IncorrectState, openami.ResourceSnapshot)
	if _, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID}); err != nil {
		t.Fatalf("a volume while archiving: %v", err)
	}
	f.settle(t)
	if got := tier(); got.Status != openami.ArchivalCompleted || !got.Archived || got.Progress != 100 || got.ArchivedAt.IsZero() || !got.Due.IsZero() {
		t.Fatalf("after the worker's pass: %+v", got)
	}
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID})
	wantClass(t, "a volume of an archived snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	_, err = f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: snap.ID, SourceRegion: "us-east-1"})
	wantClass(t, "a copy of an archived snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	_, err = f.vols.ListSnapshotBlocks(ctx, f.p, snap.ID, 0, 0, "")
	wantClass(t, "an EBS direct read of an archived snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	_, err = f.vols.StartSnapshot(ctx, f.p, StartSnapshotInput{VolumeSize: 1, ParentID: snap.ID})
	wantClass(t, "a child of an archived snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	err = f.vols.ModifySnapshotAttribute(ctx, f.p, snap.ID, []Permission{{Group: "all"}}, nil)
	wantClass(t, "sharing an archived snapshot", err, openami.IncorrectState, openami.ResourceSnapshot)
	_, err = f.vols.CreateVolume(ctx, other, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID})
	wantClass(t, "the account it was shared with", err, openami.NotFound, openami.ResourceSnapshot)

	// The tier shows in DescribeSnapshots (storage-tier) and the tier status.
	ss, _, err := f.vols.DescribeSnapshots(ctx, f.p, DescribeSnapshotsInput{Filters: []filter.Filter{{Name: string(AttrSnapshotStorageTier), Values: []string{"archive"}}}})
	if err != nil || len(ss) != 1 || ss[0].ID != snap.ID {
		t.Fatalf("storage-tier archive: %+v, %v", ss, err)
	}
	st, _, err := f.vols.DescribeSnapshotTierStatus(ctx, f.p, []filter.Filter{{Name: string(AttrTierLastOperation), Values: []string{"archival-completed"}}}, Page{})
	if err != nil || len(st) != 1 || st[0].ID != snap.ID {
		t.Fatalf("last-tiering-operation archival-completed: %+v, %v", st, err)
	}

	// Restore for two days: in progress (still archived), then usable,
	// then back to the archive when the days are over.
	two := 2
	for _, bad := range []RestoreInput{{SnapshotID: snap.ID}, {SnapshotID: snap.ID, TemporaryDays: &two, Permanent: true}} {
		_, err := f.vols.RestoreSnapshotTier(ctx, f.p, bad)
		if openami.ClassOf(err) != openami.MissingParameter && openami.ClassOf(err) != openami.InvalidCombination {
			t.Errorf("RestoreSnapshotTier %+v: %v", bad, err)
		}
	}
	tooMany := 181
	_, err = f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, TemporaryDays: &tooMany})
	wantClass(t, "181 days", err, openami.InvalidParameter, "")
	r, err := f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, TemporaryDays: &two})
	if err != nil || r.Days != 2 || r.Permanent {
		t.Fatalf("RestoreSnapshotTier: %+v, %v", r, err)
	}
	if got := tier(); got.Status != openami.TemporaryRestoreInProgress || !got.Archived {
		t.Fatalf("restoring: %+v", got)
	}
	f.settle(t)
	got := tier()
	if got.Status != openami.TemporaryRestoreCompleted || got.Archived || !got.RestoreExpiry.Equal(f.clock.Now().UTC().Truncate(time.Millisecond).Add(48*time.Hour)) {
		t.Fatalf("restored: %+v", got)
	}
	if RestoreExpiry(f.snapshot(t, "us-east-1", snap.ID)).IsZero() {
		t.Error("a temporarily restored snapshot has no restore expiry")
	}
	if _, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID}); err != nil {
		t.Fatalf("a volume of a restored snapshot: %v", err)
	}
	f.clock.Add(47 * time.Hour)
	f.settle(t)
	if tier().Archived {
		t.Fatal("re-archived before the restore expired")
	}
	f.clock.Add(time.Hour)
	f.settle(t)
	if got := tier(); !got.Archived || !got.Due.IsZero() {
		t.Fatalf("after the restore expired: %+v", got)
	}

	// A permanent restore: standard for good.
	r, err = f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, Permanent: true})
	if err != nil || !r.Permanent {
		t.Fatalf("a permanent restore: %+v, %v", r, err)
	}
	f.settle(t)
	f.clock.Add(1000 * time.Hour)
	f.settle(t)
	if got := tier(); got.Status != openami.PermanentRestoreCompleted || got.Archived || !got.RestoreExpiry.IsZero() {
		t.Fatalf("permanently restored: %+v", got)
	}
	if RestoreExpiry(f.snapshot(t, "us-east-1", snap.ID)) != (time.Time{}) {
		t.Error("a permanently restored snapshot has a restore expiry")
	}
}

// TestTemporaryRestoreChanged: a temporarily restored snapshot's restore
// may be given new days (from now) or made permanent, at once.
func TestTemporaryRestoreChanged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	snap := f.putSnapshot(t, f.p, StartSnapshotInput{VolumeSize: 1}, map[int64][]byte{0: block(0)}, true)
	if _, err := f.vols.ModifySnapshotTier(ctx, f.p, snap.ID, openami.TierArchive); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	one, ten := 1, 10
	if _, err := f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, TemporaryDays: &one}); err != nil {
		t.Fatal(err)
	}
	f.settle(t)
	if _, err := f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, TemporaryDays: &ten}); err != nil {
		t.Fatal(err)
	}
	if got := f.snapshot(t, "us-east-1", snap.ID).Tiering; got.RestoreDays != 10 || !got.RestoreExpiry.Equal(f.clock.Now().UTC().Truncate(time.Millisecond).Add(240*time.Hour)) {
		t.Fatalf("after a new period: %+v", got)
	}
	if _, err := f.vols.RestoreSnapshotTier(ctx, f.p, RestoreInput{SnapshotID: snap.ID, Permanent: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.snapshot(t, "us-east-1", snap.ID).Tiering; got.Status != openami.PermanentRestoreCompleted || !got.Due.IsZero() {
		t.Fatalf("made permanent: %+v", got)
	}
}
