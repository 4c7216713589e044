package images

import (
	"context"
	"errors"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// updateOwnedImage applies change to an image the caller owns and stores
// it.
func (s *Registry) updateOwnedImage(ctx context.Context, p openami.Principal, id string, change func(tx metadata.Tx, img *openami.Image) error) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		img, err := ownedImage(tx, p, id)
		if err != nil {
			return err
		}
		if err := change(tx, &img); err != nil {
			return err
		}
		return tx.Images().Update(img)
	})
}

// EnableImageDeprecation sets when an image the caller owns becomes
// deprecated, rounded down to the minute: not in the past, at most ten
// years ahead (two for a public image). Once deprecated, the image is
// hidden from other accounts' listings unless they ask for deprecated
// images, and still launchable.
func (s *Registry) EnableImageDeprecation(ctx context.Context, p openami.Principal, id string, at time.Time) error {
	at = at.UTC().Truncate(time.Minute)
	now := s.nowUTC()
	if at.Before(now.Truncate(time.Minute)) {
		return openami.Errorf(openami.InvalidParameter, "", "The deprecation time %s is in the past.", at.Format(time.RFC3339))
	}
	return s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		limit := now.AddDate(10, 0, 0)
		if img.Public {
			limit = now.AddDate(2, 0, 0)
		}
		if at.After(limit) {
			return openami.Errorf(openami.InvalidParameter, "", "The deprecation time must be at most %s.", limit.Format(time.RFC3339))
		}
		img.DeprecationTime = at
		return nil
	})
}

// DisableImageDeprecation cancels an image's deprecation.
func (s *Registry) DisableImageDeprecation(ctx context.Context, p openami.Principal, id string) error {
	return s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		img.DeprecationTime = time.Time{}
		return nil
	})
}

// deregistrationCooldown is how long protection "with cooldown" keeps
// blocking deregistration after it is disabled.
const deregistrationCooldown = 24 * time.Hour

// EnableImageDeregistrationProtection stops an image the caller owns from
// being deregistered until protection is disabled (and, withCooldown, 24
// hours after that). It returns the new protection.
func (s *Registry) EnableImageDeregistrationProtection(ctx context.Context, p openami.Principal, id string, withCooldown bool) (openami.DeregistrationProtection, error) {
	prot := openami.DeregistrationProtection{State: "enabled"}
	if withCooldown {
		prot.State = "enabled-with-cooldown"
	}
	return prot, s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		img.DeregistrationProtection = prot
		return nil
	})
}

// DisableImageDeregistrationProtection disables an image's protection and
// returns the new protection: disabled, and for protection with cooldown
// until the cooldown ends (Until, to the millisecond), during which
// deregistration is still refused.
func (s *Registry) DisableImageDeregistrationProtection(ctx context.Context, p openami.Principal, id string) (openami.DeregistrationProtection, error) {
	var prot openami.DeregistrationProtection
	err := s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		prot = openami.DeregistrationProtection{State: "disabled"}
		if img.DeregistrationProtection.State == "enabled-with-cooldown" {
			prot.Until = s.nowUTC().Add(deregistrationCooldown).Truncate(time.Millisecond)
		}
		img.DeregistrationProtection = prot
		return nil
	})
	return prot, err
}

// protected reports whether an image's deregistration protection still
// holds at now.
func protected(img openami.Image, now time.Time) bool {
	switch prot := img.DeregistrationProtection; {
	case !prot.Until.IsZero():
		return now.Before(prot.Until)
	case prot.State == "" || prot.State == "disabled":
		return false
	}
	return true
}

// Protected is why DeregisterImage refuses an image whose deregistration
// protection holds: the cause of that IncorrectState error about the
// image, which each protocol words.
type Protected struct {
	ImageID    string
	Protection openami.DeregistrationProtection
}

func (e *Protected) Error() string {
	if !e.Protection.Until.IsZero() {
		return "image " + e.ImageID + " is protected from deregistration until " + e.Protection.Until.Format(time.RFC3339Nano)
	}
	return "image " + e.ImageID + " is protected from deregistration (" + e.Protection.State + ")"
}

// DisableImage disables an image the caller owns: it becomes visible to
// its owner only (with IncludeDisabled), cannot be launched, and loses its
// launch permissions, which EnableImage does not restore.
func (s *Registry) DisableImage(ctx context.Context, p openami.Principal, id string) error {
	return s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		if img.State != openami.ImageAvailable && img.State != openami.ImageDisabled {
			return openami.Errorf(openami.IncorrectState, openami.ResourceImage, "Image %s is %s.", img.ID, img.State)
		}
		perms, err := tx.Images().Permissions(img.ID)
		if err != nil {
			return err
		}
		if err := tx.Images().RemovePermissions(img.ID, perms); err != nil {
			return err
		}
		img.State, img.Public = openami.ImageDisabled, false
		return nil
	})
}

// EnableImage makes a disabled image available again.
func (s *Registry) EnableImage(ctx context.Context, p openami.Principal, id string) error {
	return s.updateOwnedImage(ctx, p, id, func(tx metadata.Tx, img *openami.Image) error {
		if img.State != openami.ImageDisabled && img.State != openami.ImageAvailable {
			return openami.Errorf(openami.IncorrectState, openami.ResourceImage, "Image %s is %s.", img.ID, img.State)
		}
		img.State = openami.ImageAvailable
		return nil
	})
}

// CancelImageLaunchPermission removes the caller's own launch permission
// from an image another account shared with it.
func (s *Registry) CancelImageLaunchPermission(ctx context.Context, p openami.Principal, id string) error {
	if err := checkImageID(id); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		img, err := tx.Images().Get(p.Region, id)
		if errors.Is(err, openami.ErrNotFound) {
			return imageNotFound(id)
		}
		if err != nil {
			return err
		}
		perms, err := tx.Images().Permissions(id)
		if err != nil {
			return err
		}
		for _, lp := range perms {
			if lp.AccountID == p.AccountID && img.AccountID != p.AccountID {
				return tx.Images().RemovePermissions(id, []openami.LaunchPermission{lp})
			}
		}
		return imageNotFound(id)
	})
}

// blockPublicSetting names a region's image block-public-access setting
// for an account.
func blockPublicSetting(p openami.Principal) string {
	return "image-block-public-access/" + p.Region + "/" + p.AccountID
}

// ImageBlockPublicAccess returns the caller's setting in the region:
// "block-new-sharing" or "unblocked".
func (s *Registry) ImageBlockPublicAccess(ctx context.Context, p openami.Principal) (string, error) {
	state := "unblocked"
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get(blockPublicSetting(p))
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		state = string(v)
		return err
	})
	return state, err
}

// SetImageBlockPublicAccess sets the caller's setting in the region. While
// it is block-new-sharing, no image can be made public; images already
// public stay public.
func (s *Registry) SetImageBlockPublicAccess(ctx context.Context, p openami.Principal, state string) error {
	if err := param.OneOf("ImageBlockPublicAccessState", state, "block-new-sharing", "unblocked"); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		return tx.Settings().Put(blockPublicSetting(p), []byte(state))
	})
}

// SettleImages moves pending images on: available once every snapshot
// their mappings use is completed, failed (with a StateReason) as soon as
// one of them errored or is gone. The completer runs it after finishing
// snapshots, so an image follows its last snapshot within one pass.
// Pending images are found by the images_by_state index, a page at a time.
func (s *Registry) SettleImages(ctx context.Context) error {
	for _, r := range s.regions {
		after := ""
		for {
			var page []openami.Image
			err := s.store.View(ctx, func(tx metadata.Tx) error {
				var err error
				page, err = tx.Images().List(r.Name, metadata.ImageQuery{
					States: []openami.ImageState{openami.ImagePending}, After: after, Limit: 1000,
				})
				return err
			})
			if err != nil {
				return err
			}
			for _, img := range page {
				if err := s.SettleImage(ctx, img.Region, img.ID); err != nil {
					return err
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}

// SettleImage decides one pending image's state from its snapshots, and
// leaves it pending while any is still pending. A failed image's
// StateReason says why: CauseSnapshotGone when a snapshot was deleted,
// CauseSnapshotFailed when one failed.
func (s *Registry) SettleImage(ctx context.Context, region, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		img, err := tx.Images().Get(region, id)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		if err != nil || img.State != openami.ImagePending {
			return err
		}
		if img.Bundle != nil && img.Bundle.CopyFrom != nil {
			s.copyBundle(ctx, img) // it settles the image when done
			return nil
		}
		done := true
		for _, sid := range img.Snapshots() {
			snap, err := s.ebs.Snapshot(tx, region, sid)
			switch {
			case errors.Is(err, openami.ErrNotFound):
				img.State = openami.ImageFailed
				img.StateReason = openami.StateReason{Cause: openami.CauseSnapshotGone, Message: "The snapshot '" + sid + "' does not exist."}
			case err != nil:
				return err
			case snap.State == openami.SnapshotError:
				img.State = openami.ImageFailed
				img.StateReason = openami.StateReason{Cause: openami.CauseSnapshotFailed, Message: "The snapshot '" + sid + "' failed: " + snap.StateReason}
			case snap.State != openami.SnapshotCompleted:
				done = false
				continue
			}
			if img.State == openami.ImageFailed {
				return tx.Images().Update(img)
			}
		}
		if !done {
			return nil
		}
		img.State = openami.ImageAvailable
		return tx.Images().Update(img)
	})
}
