package ebs

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// Permission is a createVolumePermission: an account id, or group "all".
type Permission = metadata.Permission

// The attributes of a snapshot that DescribeSnapshots' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrSnapshotDescription  filter.Attr = "snapshotDescription"
	AttrSnapshotEncrypted    filter.Attr = "snapshotEncrypted"
	AttrSnapshotOwnerAlias   filter.Attr = "snapshotOwnerAlias"
	AttrSnapshotOwnerID      filter.Attr = "snapshotOwnerID"
	AttrSnapshotProgress     filter.Attr = "snapshotProgress"
	AttrSnapshotID           filter.Attr = "snapshotID"
	AttrSnapshotStarted      filter.Attr = "snapshotStarted"
	AttrSnapshotState        filter.Attr = "snapshotState"
	AttrSnapshotStorageTier  filter.Attr = "snapshotStorageTier"
	AttrSnapshotTransferType filter.Attr = "snapshotTransferType"
	AttrSnapshotVolumeID     filter.Attr = "snapshotVolumeID"
	AttrSnapshotVolumeSize   filter.Attr = "snapshotVolumeSize"
	AttrSnapshotKeyID        filter.Attr = "snapshotKeyID"
)

// SnapshotAttrs are the attributes DescribeSnapshots filters by. Read-only.
var SnapshotAttrs = []filter.Attr{
	AttrSnapshotDescription, AttrSnapshotEncrypted, AttrSnapshotOwnerAlias, AttrSnapshotOwnerID,
	AttrSnapshotProgress, AttrSnapshotID, AttrSnapshotStarted, AttrSnapshotState,
	AttrSnapshotStorageTier, AttrSnapshotTransferType, AttrSnapshotVolumeID, AttrSnapshotVolumeSize,
	AttrSnapshotKeyID,
}

// DescribeSnapshotsInput are DescribeSnapshots' parameters.
type DescribeSnapshotsInput struct {
	SnapshotIDs []string
	// OwnerIDs: account ids, or "self".
	OwnerIDs []string
	// RestorableBy: account ids, "self" or "all".
	RestorableBy []string
	Filters      []filter.Filter
	Page
}

// DescribeSnapshots returns a page of the snapshots in the region that the
// caller owns or may create volumes from, narrowed as the input says.
func (s *Volumes) DescribeSnapshots(ctx context.Context, p openami.Principal, in DescribeSnapshotsInput) ([]SnapshotView, string, error) {
	fs, err := filter.Compile(in.Filters, SnapshotAttrs...)
	if err != nil {
		return nil, "", err
	}
	for _, id := range in.SnapshotIDs {
		if err := checkSnapshotID(id); err != nil {
			return nil, "", err
		}
	}
	if err := describe.CheckIDs(openami.ResourceSnapshot, in.SnapshotIDs, in.Page); err != nil {
		return nil, "", err
	}
	q := metadata.SnapshotQuery{VisibleTo: p.AccountID, IDs: in.SnapshotIDs}
	for _, o := range in.OwnerIDs {
		switch {
		case o == "self":
			q.OwnerIDs = append(q.OwnerIDs, p.AccountID)
		case ids.ValidAccountID(o):
			q.OwnerIDs = append(q.OwnerIDs, o)
		case o == "amazon" || o == "aws-marketplace" || o == "aws-backup-vault":
			q.OwnerIDs = append(q.OwnerIDs, "none:"+o) // no snapshots are published under aliases yet
		default:
			return nil, "", openami.Errorf(openami.InvalidParameter, "", "Invalid owner id: %s", o)
		}
	}
	onlyPublic := false
	for _, r := range in.RestorableBy {
		switch {
		case r == "self":
			q.RestorableBy = append(q.RestorableBy, p.AccountID)
		case r == "all":
			onlyPublic = true
		case ids.ValidAccountID(r):
			q.RestorableBy = append(q.RestorableBy, r)
		default:
			return nil, "", openami.Errorf(openami.InvalidParameter, "", "Invalid user id: %s", r)
		}
	}
	if len(in.SnapshotIDs) > 0 {
		var found []openami.Snapshot
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = tx.Snapshots().List(p.Region, metadata.SnapshotQuery{VisibleTo: p.AccountID, IDs: in.SnapshotIDs})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.Missing(in.SnapshotIDs, found, func(s openami.Snapshot) string { return s.ID }); len(missing) > 0 {
			return nil, "", snapshotsNotFound(missing)
		}
	}
	// tags holds the current batch's tags; kept those of the caller's
	// snapshots that matched, so the page needs no second read.
	var tags map[string][]openami.Tag
	kept := map[string][]openami.Tag{}
	var public map[string]bool
	fetch := func(after string, limit int) ([]openami.Snapshot, error) {
		q.After, q.Limit = after, limit
		var out []openami.Snapshot
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if out, err = tx.Snapshots().List(p.Region, q); err != nil {
				return err
			}
			tags, err = tx.Tags().Of(p.Region, p.AccountID, describe.IDs(out, func(s openami.Snapshot) string { return s.ID }))
			if err != nil || !onlyPublic {
				return err
			}
			public = map[string]bool{}
			for _, sn := range out {
				perms, err := tx.Snapshots().Permissions(sn.ID)
				if err != nil {
					return err
				}
				for _, pm := range perms {
					public[sn.ID] = public[sn.ID] || pm.Group == "all"
				}
			}
			return nil
		})
		return out, err
	}
	match := func(sn openami.Snapshot) bool {
		if onlyPublic && !public[sn.ID] {
			return false
		}
		var own map[string]string
		if sn.AccountID == p.AccountID {
			own = tagset.Map(tags[sn.ID]) // tags are the owner's; others see none
		}
		ok := fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrSnapshotDescription:
				return []string{sn.Description}
			case AttrSnapshotEncrypted:
				return []string{strconv.FormatBool(sn.Encrypted)}
			case AttrSnapshotOwnerID:
				return []string{sn.AccountID}
			case AttrSnapshotProgress:
				return []string{strconv.Itoa(sn.Progress) + "%"}
			case AttrSnapshotID:
				return []string{sn.ID}
			case AttrSnapshotStarted:
				return []string{describe.Timestamp(sn.StartTime)}
			case AttrSnapshotState:
				return []string{string(sn.State)}
			case AttrSnapshotStorageTier:
				return []string{string(sn.Tiering.Tier())}
			case AttrSnapshotTransferType:
				return []string{"standard"}
			case AttrSnapshotVolumeID:
				return []string{sn.VolumeID}
			case AttrSnapshotVolumeSize:
				return []string{strconv.FormatInt(sn.VolumeSize, 10)}
			case AttrSnapshotKeyID:
				return []string{sn.KmsKeyID}
			}
			return nil
		}, own)
		if ok && sn.AccountID == p.AccountID {
			kept[sn.ID] = tags[sn.ID]
		}
		return ok
	}
	scope := describe.Scope("DescribeSnapshots", p, in.Filters, strings.Join(in.SnapshotIDs, ","), strings.Join(in.OwnerIDs, ","), strings.Join(in.RestorableBy, ","))
	snaps, next, err := describe.List(s.tokens, scope, in.Page, describe.Bounds{Min: 5, Max: 1000}, fetch, func(s openami.Snapshot) string { return s.ID }, match)
	if err != nil {
		return nil, "", err
	}
	out := make([]SnapshotView, len(snaps))
	for i, sn := range snaps {
		out[i] = SnapshotView{Snapshot: sn, Tags: kept[sn.ID]}
	}
	return out, next, nil
}

// DeleteSnapshot deletes a snapshot the caller owns and no registered image
// uses (InUse otherwise); its blocks are freed by the next garbage
// collection unless other snapshots share them.
func (s *Volumes) DeleteSnapshot(ctx context.Context, p openami.Principal, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := ownedSnapshot(tx, p, id); err != nil {
			return err
		}
		users, err := s.imagesUsing(tx, p.Region, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return openami.Errorf(openami.InUse, openami.ResourceSnapshot, "The snapshot %s is currently in use by %s", id, users[0])
		}
		if err := tx.Tags().DeleteAll(p.Region, p.AccountID, id); err != nil {
			return err
		}
		return tx.Snapshots().Delete(p.Region, id)
	})
}

// CopySnapshotInput are CopySnapshot's parameters.
type CopySnapshotInput struct {
	SourceSnapshotID string
	SourceRegion     string
	Description      string
	Encrypted        bool
	KmsKeyID         string
	Tags             []openami.Tag
}

// CopySnapshot copies a completed snapshot the caller may use into the
// caller's account and region. Within a region, under the same key, the
// copy shares the source's block map and chunks, so no data moves and it
// is completed at once. Across regions it is pending while the background
// moves only the chunks the destination region lacks; under another key
// (encrypting a plain snapshot, or re-keying) every block is read and
// sealed anew (see CopyInto). Encrypted data is never copied in plain.
func (s *Volumes) CopySnapshot(ctx context.Context, p openami.Principal, in CopySnapshotInput) (SnapshotView, error) {
	if in.SourceRegion == "" {
		return SnapshotView{}, param.Missing("SourceRegion")
	}
	if _, ok := s.identity.Region(in.SourceRegion); !ok {
		return SnapshotView{}, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceRegion, openami.ReasonCopySource, "Invalid region: %s", in.SourceRegion)
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return SnapshotView{}, err
	}
	srcP := p
	srcP.Region = in.SourceRegion
	var src openami.Snapshot
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		src, err = completedSnapshot(tx, srcP, in.SourceSnapshotID)
		return err
	})
	if err != nil {
		return SnapshotView{}, err
	}
	desc := in.Description
	if desc == "" {
		desc = "[Copied " + src.ID + " from " + in.SourceRegion + "]"
	}
	cross := in.SourceRegion != p.Region
	now := s.nowUTC()
	snap := openami.Snapshot{
		ID: ids.New("snap"), Region: p.Region, AccountID: p.AccountID, VolumeID: NoVolume,
		VolumeSize: src.VolumeSize, State: openami.SnapshotCompleted, Progress: 100, Description: desc,
		Root: src.Root, StartTime: now, Deadline: now, DataBytes: src.DataBytes,
	}
	var out openami.Snapshot
	background := cross
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		snap := snap
		if err := s.CheckKeyUse(tx, srcP, "SourceSnapshotID", src.KmsKeyID); err != nil {
			return err
		}
		key, err := s.CopyKey(tx, p, src, cross, in.Encrypted, in.KmsKeyID)
		if err != nil {
			return err
		}
		snap.Encrypted, snap.KmsKeyID = key != "", key
		background = cross || key != src.KmsKeyID
		if background {
			// Filled in the background; the completer builds its map.
			snap.State, snap.Progress, snap.Root, snap.DataBytes = openami.SnapshotPending, 0, openami.ZeroDigest, 0
			snap.Deadline = now.Add(CopyDeadline)
		} else if _, err := completedSnapshot(tx, srcP, in.SourceSnapshotID); err != nil {
			// The copy shares the source's map, which must still exist
			// when the copy commits.
			return err
		}
		out = snap
		if background {
			if err := RecordCopy(tx, src, snap); err != nil {
				return err
			}
		}
		if err := tx.Snapshots().Create(snap); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			return tx.Tags().Set(p.Region, p.AccountID, snap.ID, openami.ResourceSnapshot, in.Tags)
		}
		return nil
	})
	if err != nil {
		return SnapshotView{}, err
	}
	if background {
		s.copy(src, out)
	}
	return SnapshotView{Snapshot: out, Tags: tagset.Sorted(in.Tags)}, nil
}

// CopyKey decides the KMS key of a copy of src into p's region: the key
// asked for (Encrypted with KmsKeyId), else, within a region, the
// source's; across regions an encrypted source (KMS keys are regional)
// or Encrypted takes the account's default key in the destination. A
// copy of encrypted data is always encrypted.
func (s *Volumes) CopyKey(tx metadata.Tx, p openami.Principal, src openami.Snapshot, cross, encrypted bool, keyID string) (string, error) {
	sameKey := src.KmsKeyID
	if cross {
		sameKey = ""
	}
	if keyID != "" && !encrypted {
		return "", param.Requires("KmsKeyID", "Encrypted")
	}
	return s.TargetKey(tx, p, Target{Encrypted: encrypted || src.Encrypted, KmsKeyID: keyID}, sameKey)
}

// CopyDeadline is how long a cross-region copy may take before it errors.
const CopyDeadline = 24 * time.Hour

// completedSnapshot returns a completed snapshot the caller may use, in
// the principal's region.
func completedSnapshot(tx metadata.Tx, p openami.Principal, id string) (openami.Snapshot, error) {
	src, err := visibleSnapshot(tx, p, p.Region, id)
	if err != nil {
		return src, err
	}
	if src.State != openami.SnapshotCompleted {
		return src, openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "Snapshot '%s' is not completed.", src.ID)
	}
	return src, nil
}

// DescribeSnapshotAttribute returns a snapshot's createVolumePermissions
// (the only attribute besides productCodes, which is always empty). Only
// the owner may read them.
func (s *Volumes) DescribeSnapshotAttribute(ctx context.Context, p openami.Principal, id, attribute string) ([]Permission, error) {
	if attribute != "createVolumePermission" && attribute != "productCodes" {
		return nil, param.OneOf("Attribute", attribute, "createVolumePermission", "productCodes")
	}
	var perms []Permission
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		if _, err := ownedSnapshot(tx, p, id); err != nil {
			return err
		}
		if attribute != "createVolumePermission" {
			return nil
		}
		var err error
		perms, err = tx.Snapshots().Permissions(id)
		return err
	})
	return perms, err
}

// ModifySnapshotAttribute adds and removes createVolumePermissions of a
// snapshot the caller owns. A permission names a 12-digit account or group
// "all"; anything else is an InvalidParameter error and changes nothing.
func (s *Volumes) ModifySnapshotAttribute(ctx context.Context, p openami.Principal, id string, add, remove []Permission) error {
	for _, pm := range append(append([]Permission(nil), add...), remove...) {
		switch {
		case pm.Group != "" && pm.Group != "all":
			return param.Invalid("Group", pm.Group, "Only 'all' is supported.")
		case pm.Group == "" && !ids.ValidAccountID(pm.AccountID):
			return param.Invalid("AccountID", pm.AccountID, "Expecting a 12-digit account id.")
		}
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := ownedSnapshot(tx, p, id)
		if err != nil {
			return err
		}
		if snap.Tiering.Archived && len(add) > 0 {
			return archived(snap.ID) // archived snapshots are not shared
		}
		if err := s.CheckShareEncrypted(tx, snap.KmsKeyID, add, "snapshot "+snap.ID); err != nil {
			return err
		}
		if err := tx.Snapshots().AddPermissions(id, add); err != nil {
			return err
		}
		return tx.Snapshots().RemovePermissions(id, remove)
	})
}

// ResetSnapshotAttribute removes every createVolumePermission of a
// snapshot the caller owns.
func (s *Volumes) ResetSnapshotAttribute(ctx context.Context, p openami.Principal, id, attribute string) error {
	if attribute != "createVolumePermission" {
		return param.Invalid("Attribute", attribute, "Only createVolumePermission can be reset.")
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := ownedSnapshot(tx, p, id); err != nil {
			return err
		}
		perms, err := tx.Snapshots().Permissions(id)
		if err != nil {
			return err
		}
		return tx.Snapshots().RemovePermissions(id, perms)
	})
}

// CheckShareEncrypted refuses to share data encrypted under keyARN as add
// would: encrypted snapshots and images are never public, and data under
// an AWS managed key (whose policy cannot name other accounts) is never
// shared with another account.
func (s *Volumes) CheckShareEncrypted(tx metadata.Tx, keyARN string, add []Permission, what string) error {
	if keyARN == "" {
		return nil
	}
	for _, pm := range add {
		if pm.Group == "all" {
			return openami.Errorf(openami.InvalidParameter, "", "The %s is encrypted: encrypted snapshots and images cannot be made public.", what)
		}
	}
	if len(add) == 0 {
		return nil
	}
	region, _, id, ok := keyOfARN(keyARN)
	if !ok {
		return nil
	}
	aws, err := s.kms.ManagedByAWS(tx, region, id)
	if err != nil {
		return err
	}
	if aws {
		return openami.Errorf(openami.InvalidParameter, "",
			"The %s is encrypted with the AWS managed key %s, which cannot be shared; copy it under a customer managed key first.", what, keyARN)
	}
	return nil
}
