package images

import (
	"context"
	"errors"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/param"
)

// This file holds image attributes: reading and changing them, launch
// permissions among them, and an image's ancestry.

// ImageAttribute is what DescribeImageAttribute returns.
type ImageAttribute struct {
	Image             openami.Image
	LaunchPermissions []openami.LaunchPermission
}

// imageAttributes are the attribute names DescribeImageAttribute takes.
var imageAttributes = []string{"description", "kernel", "ramdisk", "launchPermission", "productCodes",
	"blockDeviceMapping", "sriovNetSupport", "bootMode", "tpmSupport", "uefiData", "lastLaunchedTime",
	"imdsSupport", "deregistrationProtection"}

// launcherAttributes are the attributes of another account's image that
// an account which may launch it (public, or shared with it or its
// organizations) may read: those DescribeImages shows it anyway. The rest
// are the owner's: EC2 answers AuthFailure ("Not authorized for
// image:ami-…") for another account's launchPermission, documents
// AuthFailure for blockDeviceMapping, and refuses tpmSupport on a public
// image; uefiData, lastLaunchedTime, imdsSupport and
// deregistrationProtection are refused alike here.
var launcherAttributes = []string{"description", "kernel", "ramdisk", "productCodes", "sriovNetSupport", "bootMode"}

// DescribeImageAttribute returns an attribute of an image the caller owns,
// or one of launcherAttributes of an image it may launch. Any other
// attribute of an image it may launch is Unauthorized; an image it may
// not see is NotFound.
func (s *Registry) DescribeImageAttribute(ctx context.Context, p openami.Principal, id, attribute string) (ImageAttribute, error) {
	if err := param.OneOf("Attribute", attribute, imageAttributes...); err != nil {
		return ImageAttribute{}, err
	}
	var out ImageAttribute
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		img, err := ownedImage(tx, p, id)
		if errors.Is(err, openami.ErrNotFound) {
			launchable, lerr := s.LaunchableImage(tx, p, id)
			if lerr != nil {
				return err
			}
			if !slices.Contains(launcherAttributes, attribute) {
				return openami.Errorf(openami.Unauthorized, "", "Not authorized for image:%s", id)
			}
			out.Image = launchable
			return nil
		}
		if err != nil {
			return err
		}
		out.Image = img
		if attribute == "launchPermission" {
			out.LaunchPermissions, err = tx.Images().Permissions(id)
		}
		return err
	})
	return out, err
}

// ModifyImageAttributeInput are ModifyImageAttribute's changes.
type ModifyImageAttributeInput struct {
	ImageID     string
	Add, Remove []openami.LaunchPermission
	Description *string
}

// ModifyImageAttribute changes an image the caller owns: its launch
// permissions (accounts, group all, organizations and OUs) or description.
// A bad permission changes nothing.
func (s *Registry) ModifyImageAttribute(ctx context.Context, p openami.Principal, in ModifyImageAttributeInput) error {
	for _, lp := range append(append([]openami.LaunchPermission(nil), in.Add...), in.Remove...) {
		if err := checkLaunchPermission(lp); err != nil {
			return err
		}
	}
	if in.Description != nil && len(*in.Description) > 255 {
		return openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		img, err := ownedImage(tx, p, in.ImageID)
		if err != nil {
			return err
		}
		for _, lp := range in.Add {
			if lp.Group != "all" || img.Public {
				continue
			}
			v, err := tx.Settings().Get(blockPublicSetting(p))
			if err != nil && !errors.Is(err, openami.ErrNotFound) {
				return err
			}
			if string(v) == "block-new-sharing" {
				return openami.Errorf(openami.Unauthorized, openami.ResourceImage, "Image block public access is enabled for this account and region: images cannot be made public.")
			}
		}
		// An encrypted image is never public, nor shared under an
		// AWS managed key.
		for _, m := range img.BlockDeviceMappings {
			if m.Ebs == nil || m.Ebs.KmsKeyID == "" {
				continue
			}
			var add []ebs.Permission
			for _, lp := range in.Add {
				add = append(add, ebs.Permission{AccountID: lp.AccountID, Group: lp.Group})
			}
			if err := s.ebs.CheckShareEncrypted(tx, m.Ebs.KmsKeyID, add, "image "+img.ID); err != nil {
				return err
			}
		}
		if img.State == openami.ImageDisabled && len(in.Add) > 0 {
			return openami.Errorf(openami.IncorrectState, openami.ResourceImage, "Image %s is disabled.", img.ID)
		}
		if in.Description != nil {
			img.Description = *in.Description
			if err := tx.Images().Update(img); err != nil {
				return err
			}
		}
		if err := tx.Images().AddPermissions(img.ID, in.Add); err != nil {
			return err
		}
		return tx.Images().RemovePermissions(img.ID, in.Remove)
	})
}

// checkLaunchPermission checks that a permission names exactly one of a
// 12-digit account, group all, an organization ARN or an OU ARN.
func checkLaunchPermission(lp openami.LaunchPermission) error {
	bad := func(format string, args ...any) error {
		return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceImage, openami.ReasonLaunchPermission, format, args...)
	}
	n := 0
	for _, v := range []string{lp.AccountID, lp.Group, lp.OrganizationArn, lp.OrganizationalUnitArn} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return bad("A launch permission names exactly one of UserId, Group, OrganizationArn and OrganizationalUnitArn.")
	case lp.AccountID != "" && !ids.ValidAccountID(lp.AccountID):
		return bad("Invalid user id: %s", lp.AccountID)
	case lp.Group != "" && lp.Group != "all":
		return bad("Invalid group: %s (only 'all' is supported)", lp.Group)
	case lp.OrganizationArn != "" && !identity.IsOrganizationArn(lp.OrganizationArn):
		return bad("Invalid organization ARN: %s", lp.OrganizationArn)
	case lp.OrganizationalUnitArn != "" && !identity.IsOUArn(lp.OrganizationalUnitArn):
		return bad("Invalid organizational unit ARN: %s", lp.OrganizationalUnitArn)
	}
	return nil
}

// ResetImageAttribute removes every launch permission of an image the
// caller owns, making it private.
func (s *Registry) ResetImageAttribute(ctx context.Context, p openami.Principal, id, attribute string) error {
	if attribute != "launchPermission" {
		return param.Invalid("Attribute", attribute, "Only launchPermission can be reset.")
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := ownedImage(tx, p, id); err != nil {
			return err
		}
		perms, err := tx.Images().Permissions(id)
		if err != nil {
			return err
		}
		return tx.Images().RemovePermissions(id, perms)
	})
}

// maxAncestry bounds how far GetImageAncestry follows copies.
const maxAncestry = 100

// ImageAncestry returns an image the caller may see and the images it was
// copied from (SourceImageId in SourceImageRegion), newest first, as far
// back as they still exist.
func (s *Registry) ImageAncestry(ctx context.Context, p openami.Principal, id string) ([]openami.Image, error) {
	if err := checkImageID(id); err != nil {
		return nil, err
	}
	var out []openami.Image
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		imgs, err := tx.Images().List(p.Region, metadata.ImageQuery{VisibleTo: p.AccountID, VisibleOrgs: p.Orgs, IDs: []string{id}})
		if err != nil {
			return err
		}
		if len(imgs) == 0 || imgs[0].State == openami.ImageDeregistered {
			return imageNotFound(id)
		}
		cur := imgs[0]
		for len(out) < maxAncestry {
			out = append(out, cur)
			if cur.SourceImageID == "" {
				return nil
			}
			cur, err = tx.Images().Get(cur.SourceImageRegion, cur.SourceImageID)
			if errors.Is(err, openami.ErrNotFound) {
				return nil // the chain ends where a source was deregistered
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
