package images

import (
	"errors"
	"slices"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// This file is what instances (rules/instances) and the worker use of
// images beyond the actions the APIs call: the image a launch may use,
// its LastLaunchedTime, CreateImage's registration and the image an
// instance was launched from, read and written here in the caller's
// transaction so that the rules of images are decided in one place.
// (SettleImage, SettleImages and EmptyRecycleBin, the worker's, are where
// they are written.)

// LaunchableImage returns an image the caller may launch: its own, public,
// or shared with it or its organizations; available; and, with Allowed
// AMIs enabled, one the criteria allow (own images always are). An image
// the caller may not see, or that Allowed AMIs hide, is NotFound, as
// DescribeImages would have it; a pending, failed, disabled or binned one
// is InvalidAMIID.Unavailable.
func (s *Registry) LaunchableImage(tx metadata.Tx, p openami.Principal, id string) (openami.Image, error) {
	if err := checkImageID(id); err != nil {
		return openami.Image{}, err
	}
	img, err := tx.Images().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) {
		return img, imageNotFound(id)
	}
	if err != nil {
		return img, err
	}
	own := img.AccountID == p.AccountID
	if !own {
		ok := img.Public
		if !ok {
			perms, err := tx.Images().Permissions(id)
			if err != nil {
				return img, err
			}
			ok = slices.ContainsFunc(perms, func(lp openami.LaunchPermission) bool {
				return lp.AccountID == p.AccountID || lp.OrganizationArn != "" && slices.Contains(p.Orgs, lp.OrganizationArn) ||
					lp.OrganizationalUnitArn != "" && slices.Contains(p.Orgs, lp.OrganizationalUnitArn)
			})
		}
		if !ok || img.State == openami.ImageDisabled || img.State == openami.ImageDeregistered && img.RecycleBinExitTime.IsZero() {
			return img, imageNotFound(id)
		}
		allowed, err := readAllowed(tx, p)
		if err != nil {
			return img, err
		}
		if allowed.State == "enabled" && !allowed.allows(&img, s.nowUTC()) {
			return img, imageNotFound(id)
		}
	}
	if img.State != openami.ImageAvailable {
		return img, openami.ReasonErrorf(openami.IncorrectState, openami.ResourceImage, openami.ReasonUnavailable, "The image id '[%s]' is not available (state %s)", id, img.State)
	}
	return img, nil
}

// LaunchedGranularity is how stale an image's LastLaunchedTime may be:
// a launch records its time only when the image's is older than this.
// EC2 itself reports the time up to 24 hours late. Writing the image's
// record at every launch made every two concurrent launches of one image
// conflict (two transactions updating one row); now only the first
// launch of each hour writes it.
const LaunchedGranularity = time.Hour

// Launched records that an instance was launched from img at, in tx
// that launches it (LastLaunchedTime), at most once per
// LaunchedGranularity.
func (s *Registry) Launched(tx metadata.Tx, img openami.Image, at time.Time) error {
	if !img.LastLaunchedTime.IsZero() && at.Sub(img.LastLaunchedTime) < LaunchedGranularity && !at.Before(img.LastLaunchedTime) {
		return nil
	}
	img.LastLaunchedTime = at
	return tx.Images().Update(img)
}

// ImageOf returns the image of the region with the id, whatever its
// owner or state (an instance's, which it was launched from), or an error
// wrapping openami.ErrNotFound when it is gone.
func (s *Registry) ImageOf(tx metadata.Tx, region, id string) (openami.Image, error) {
	return tx.Images().Get(region, id)
}

// PendingImages returns, in tx, the pending images of the region,
// whoever owns them (the worker resumes the deferred CreateImages among
// them).
func (s *Registry) PendingImages(tx metadata.Tx, region string) ([]openami.Image, error) {
	return tx.Images().List(region, metadata.ImageQuery{States: []openami.ImageState{openami.ImagePending}})
}

// OwnedImage returns the caller's image, NotFound for anyone else's.
func (s *Registry) OwnedImage(tx metadata.Tx, p openami.Principal, id string) (openami.Image, error) {
	return ownedImage(tx, p, id)
}

// CheckImageName applies AWS's rule for image names (CreateImage's too).
func CheckImageName(name string) error { return checkImageName(name) }

// RegisterCreated registers img, which CreateImage made of an instance,
// in tx: its mapping is checked and completed as RegisterImage's is, and
// the image is stored with tags.
func (s *Registry) RegisterCreated(tx metadata.Tx, p openami.Principal, img *openami.Image, tags []openami.Tag) error {
	if err := s.checkMappings(tx, p, img); err != nil {
		return err
	}
	if err := tx.Images().Create(*img); err != nil {
		return err
	}
	if len(tags) > 0 {
		return tx.Tags().Set(p.Region, p.AccountID, img.ID, openami.ResourceImage, tags)
	}
	return nil
}

// UsingSnapshot returns the ids of the images of the region whose
// mappings use the snapshot (rules/ebs's DeleteSnapshot asks, through
// ebs.Config.ImagesUsing).
func (s *Registry) UsingSnapshot(tx metadata.Tx, region, snapshotID string) ([]string, error) {
	return tx.Images().UsingSnapshot(region, snapshotID)
}

// EnabledUsingSnapshot returns the ids of the images of the region whose
// mappings use the snapshot and that are pending or available: those
// that keep it from being archived (rules/ebs's ModifySnapshotTier asks,
// through ebs.Config.EnabledImagesUsing; EC2 asks for them to be
// disabled first).
func (s *Registry) EnabledUsingSnapshot(tx metadata.Tx, region, snapshotID string) ([]string, error) {
	ids, err := tx.Images().UsingSnapshot(region, snapshotID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		img, err := tx.Images().Get(region, id)
		if err != nil {
			return nil, err
		}
		if img.State == openami.ImagePending || img.State == openami.ImageAvailable {
			out = append(out, id)
		}
	}
	return out, nil
}
