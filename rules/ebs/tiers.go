package ebs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// Snapshot tiers: ModifySnapshotTier archives a snapshot,
// RestoreSnapshotTier brings it back for some days or for good, and
// DescribeSnapshotTierStatus shows where each of the caller's snapshots
// is. What the archive means for the bytes is written in docs/EBS.md:
// openami keeps an archived snapshot's chunks where they are, so each
// step is a state change the worker carries out on its next pass
// (SettleTiers), recorded in the snapshot's row, and a restart resumes it.

// maxRestoreDays is the longest temporary restore EC2 allows.
const maxRestoreDays = 180

// The attributes DescribeSnapshotTierStatus filters by.
const (
	AttrTierSnapshotID    filter.Attr = "tierSnapshotID"
	AttrTierVolumeID      filter.Attr = "tierVolumeID"
	AttrTierLastOperation filter.Attr = "tierLastOperation"
)

// TierAttrs are the attributes DescribeSnapshotTierStatus filters by.
// Read-only.
var TierAttrs = []filter.Attr{AttrTierSnapshotID, AttrTierVolumeID, AttrTierLastOperation}

// archived is the refusal to use a snapshot in the archive tier.
func archived(id string) error {
	return &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
		Message: fmt.Sprintf("The snapshot '%s' is archived; restore it before using it.", id)}
}

// tierInProgress reports whether an archive or restore of t is under way.
func tierInProgress(t openami.SnapshotTiering) bool {
	switch t.Status {
	case openami.ArchivalInProgress, openami.TemporaryRestoreInProgress, openami.PermanentRestoreInProgress:
		return true
	}
	return false
}

// ModifySnapshotTier starts archiving a completed snapshot the caller
// owns (tier must be "archive", or "" for it) and returns when it
// started. The snapshot stays usable until the worker completes the
// archive (SettleTiers); from then on it cannot be used, and its sharing
// is removed, until RestoreSnapshotTier. A snapshot that is not
// completed, is already archived or being archived or restored, is
// IncorrectState; one that an image not disabled uses is InUse (disable
// the image first, as on EC2). A temporarily restored snapshot may be
// archived again at once.
func (s *Volumes) ModifySnapshotTier(ctx context.Context, p openami.Principal, id string, tier openami.StorageTier) (time.Time, error) {
	if tier != "" && tier != openami.TierArchive {
		return time.Time{}, param.OneOf("StorageTier", string(tier), string(openami.TierArchive))
	}
	now := s.nowUTC()
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := ownedSnapshot(tx, p, id)
		if err != nil {
			return err
		}
		t := snap.Tiering
		switch {
		case snap.State != openami.SnapshotCompleted:
			return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is %s; only a completed snapshot can be archived.", id, snap.State)
		case tierInProgress(t):
			return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is already being archived or restored (%s).", id, t.Status)
		case t.Archived:
			return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is already archived.", id)
		}
		if s.enabledImagesUsing != nil {
			users, err := s.enabledImagesUsing(tx, p.Region, id)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return openami.Errorf(openami.InUse, openami.ResourceSnapshot,
					"The snapshot %s is in use by %s; disable the image before archiving the snapshot.", id, strings.Join(users, ", "))
			}
		}
		snap.Tiering = openami.SnapshotTiering{Status: openami.ArchivalInProgress, Started: now, ArchivedAt: t.ArchivedAt, Due: now}
		return tx.Snapshots().Update(snap)
	})
	if err != nil {
		return time.Time{}, err
	}
	s.kick()
	return now, nil
}

// RestoreInput are RestoreSnapshotTier's parameters: exactly one of
// TemporaryDays (1–180) and Permanent.
type RestoreInput struct {
	SnapshotID    string
	TemporaryDays *int
	Permanent     bool
}

// Restore is RestoreSnapshotTier's answer.
type Restore struct {
	SnapshotID string
	Started    time.Time
	Days       int // a temporary restore's days; 0 for a permanent one
	Permanent  bool
}

// RestoreSnapshotTier restores an archived snapshot the caller owns, for
// TemporaryDays (it goes back to the archive then) or for good; the worker
// completes the restore (SettleTiers). On a snapshot that is temporarily
// restored it changes the restore: the days counted from now, or
// permanent at once. A snapshot that is not archived (or is being
// archived or restored) is IncorrectState.
func (s *Volumes) RestoreSnapshotTier(ctx context.Context, p openami.Principal, in RestoreInput) (Restore, error) {
	switch {
	case in.TemporaryDays != nil && in.Permanent:
		return Restore{}, param.Exclusive("TemporaryDays", "Permanent")
	case in.TemporaryDays == nil && !in.Permanent:
		return Restore{}, param.MissingEither("TemporaryDays", "Permanent")
	case in.TemporaryDays != nil && (*in.TemporaryDays < 1 || *in.TemporaryDays > maxRestoreDays):
		return Restore{}, param.Invalid("TemporaryDays", strconv.Itoa(*in.TemporaryDays), "Expecting a value between 1 and %d.", maxRestoreDays)
	}
	days := 0
	if in.TemporaryDays != nil {
		days = *in.TemporaryDays
	}
	now := s.nowUTC()
	out := Restore{SnapshotID: in.SnapshotID, Started: now, Days: days, Permanent: in.Permanent}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := ownedSnapshot(tx, p, in.SnapshotID)
		if err != nil {
			return err
		}
		t := &snap.Tiering
		switch {
		case tierInProgress(*t):
			return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is already being archived or restored (%s).", snap.ID, t.Status)
		case t.Archived:
			t.Status, t.Started, t.Progress, t.RestoreDays, t.RestoreExpiry, t.Due = openami.TemporaryRestoreInProgress, now, 0, days, time.Time{}, now
			if in.Permanent {
				t.Status = openami.PermanentRestoreInProgress
			}
		case t.Status == openami.TemporaryRestoreCompleted:
			// Restored for a while: a new period, or for good.
			t.RestoreDays, t.RestoreExpiry, t.Due = days, now.Add(time.Duration(days)*24*time.Hour), now.Add(time.Duration(days)*24*time.Hour)
			if in.Permanent {
				t.Status, t.RestoreExpiry, t.Due = openami.PermanentRestoreCompleted, time.Time{}, time.Time{}
			}
		default:
			return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is not archived.", snap.ID)
		}
		return tx.Snapshots().Update(snap)
	})
	if err != nil {
		return Restore{}, err
	}
	s.kick()
	return out, nil
}

// DescribeSnapshotTierStatus returns a page of the caller's snapshots,
// in id order, with their tiers, narrowed by filters of TierAttrs.
func (s *Volumes) DescribeSnapshotTierStatus(ctx context.Context, p openami.Principal, filters []filter.Filter, pg Page) ([]SnapshotView, string, error) {
	fs, err := filter.Compile(filters, TierAttrs...)
	if err != nil {
		return nil, "", err
	}
	var tags map[string][]openami.Tag
	kept := map[string][]openami.Tag{}
	fetch := func(after string, limit int) ([]openami.Snapshot, error) {
		var out []openami.Snapshot
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if out, err = tx.Snapshots().List(p.Region, metadata.SnapshotQuery{OwnerIDs: []string{p.AccountID}, After: after, Limit: limit}); err != nil {
				return err
			}
			tags, err = tx.Tags().Of(p.Region, p.AccountID, describe.IDs(out, func(s openami.Snapshot) string { return s.ID }))
			return err
		})
		return out, err
	}
	match := func(sn openami.Snapshot) bool {
		ok := fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrTierSnapshotID:
				return []string{sn.ID}
			case AttrTierVolumeID:
				return []string{sn.VolumeID}
			case AttrTierLastOperation:
				return []string{string(sn.Tiering.Status)}
			}
			return nil
		}, nil)
		if ok {
			kept[sn.ID] = tags[sn.ID]
		}
		return ok
	}
	scope := describe.Scope("DescribeSnapshotTierStatus", p, filters)
	snaps, next, err := describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 1000}, fetch, func(s openami.Snapshot) string { return s.ID }, match)
	if err != nil {
		return nil, "", err
	}
	out := make([]SnapshotView, len(snaps))
	for i, sn := range snaps {
		out[i] = SnapshotView{Snapshot: sn, Tags: kept[sn.ID]}
	}
	return out, next, nil
}

// SettleTiers carries out every tiering step that is due: archives
// complete (the snapshot's sharing removed), restores complete (a
// temporary one until its expiry), and expired temporary restores go back
// to the archive. Each step is its own transaction, taken only if still
// due when it runs, so a restart or a second worker repeats nothing.
func (s *Volumes) SettleTiers(ctx context.Context) error {
	now := s.nowUTC()
	var due []openami.Snapshot
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		due, err = tx.Snapshots().TieringDue(now, 1000)
		return err
	})
	if err != nil {
		return err
	}
	for _, d := range due {
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			snap, err := tx.Snapshots().Get(d.Region, d.ID)
			if err != nil || snap.Tiering.Due.IsZero() || snap.Tiering.Due.After(now) {
				return err
			}
			t := &snap.Tiering
			switch t.Status {
			case openami.ArchivalInProgress:
				t.Archived, t.Status, t.Progress, t.ArchivedAt, t.Due = true, openami.ArchivalCompleted, 100, now, time.Time{}
				t.RestoreDays, t.RestoreExpiry = 0, time.Time{}
				perms, err := tx.Snapshots().Permissions(snap.ID)
				if err != nil {
					return err
				}
				if err := tx.Snapshots().RemovePermissions(snap.ID, perms); err != nil {
					return err
				}
			case openami.TemporaryRestoreInProgress:
				t.Archived, t.Status, t.Progress = false, openami.TemporaryRestoreCompleted, 100
				t.RestoreExpiry = now.Add(time.Duration(t.RestoreDays) * 24 * time.Hour)
				t.Due = t.RestoreExpiry
			case openami.PermanentRestoreInProgress:
				t.Archived, t.Status, t.Progress, t.RestoreDays, t.RestoreExpiry, t.Due = false, openami.PermanentRestoreCompleted, 100, 0, time.Time{}, time.Time{}
			case openami.TemporaryRestoreCompleted:
				// The restore expired: back to the archive.
				t.Archived, t.Due = true, time.Time{}
			default:
				t.Due = time.Time{}
			}
			return tx.Snapshots().Update(snap)
		})
		if err != nil {
			return fmt.Errorf("snapshot %s: tiering: %w", d.ID, err)
		}
	}
	return nil
}

// RestoreExpiry is when a temporarily restored snapshot goes back to the
// archive; zero for any other.
func RestoreExpiry(sn openami.Snapshot) time.Time {
	if sn.Tiering.Archived || sn.Tiering.Status != openami.TemporaryRestoreCompleted {
		return time.Time{}
	}
	return sn.Tiering.RestoreExpiry
}
