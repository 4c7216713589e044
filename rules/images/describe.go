package images

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// This file holds DescribeImages: which images a caller sees, the filters
// they answer to, and the part of those filters pushed down to the store.

// imageFilters are DescribeImages' filter names: every one in the EC2
// model.
var imageFilters = []string{
	"architecture", "block-device-mapping.delete-on-termination", "block-device-mapping.device-name",
	"block-device-mapping.snapshot-id", "block-device-mapping.volume-size", "block-device-mapping.volume-type",
	"block-device-mapping.encrypted", "creation-date", "description", "ena-support", "free-tier-eligible",
	"hypervisor", "image-allowed", "image-id", "image-type", "is-public", "kernel-id", "manifest-location",
	"name", "owner-alias", "owner-id", "platform", "product-code", "product-code.type", "ramdisk-id",
	"root-device-name", "root-device-type", "source-image-id", "source-image-region", "source-instance-id",
	"state", "state-reason-code", "state-reason-message", "sriov-net-support", "virtualization-type",
	"boot-mode", "deprecation-time", "imds-support", "tpm-support",
}

// imageAttr returns an image's values for a DescribeImages filter.
func imageAttr(img *openami.Image, name string) []string {
	one := func(v string) []string { return []string{v} }
	each := func(f func(m openami.BlockDeviceMapping) (string, bool)) []string {
		var out []string
		for _, m := range img.BlockDeviceMappings {
			if v, ok := f(m); ok {
				out = append(out, v)
			}
		}
		return out
	}
	switch name {
	case "architecture":
		return one(img.Architecture)
	case "block-device-mapping.delete-on-termination":
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatBool(m.Ebs != nil && m.Ebs.DeleteOnTermination), m.Ebs != nil
		})
	case "block-device-mapping.device-name":
		return each(func(m openami.BlockDeviceMapping) (string, bool) { return m.DeviceName, true })
	case "block-device-mapping.snapshot-id":
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return snapOf(m), m.Ebs != nil && m.Ebs.SnapshotID != ""
		})
	case "block-device-mapping.volume-size":
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatInt(sizeOf(m), 10), m.Ebs != nil
		})
	case "block-device-mapping.volume-type":
		return each(func(m openami.BlockDeviceMapping) (string, bool) { return typeOf(m), m.Ebs != nil })
	case "block-device-mapping.encrypted":
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatBool(m.Ebs != nil && m.Ebs.Encrypted), m.Ebs != nil
		})
	case "creation-date":
		return one(describe.Timestamp(img.CreatedAt))
	case "description":
		return one(img.Description)
	case "ena-support":
		return one(strconv.FormatBool(img.EnaSupport))
	case "free-tier-eligible":
		return one("false")
	case "hypervisor":
		return one("xen")
	case "image-id":
		return one(img.ID)
	case "image-type":
		return one(img.ImageType)
	case "is-public":
		return one(strconv.FormatBool(img.Public))
	case "kernel-id":
		return one(img.KernelID)
	case "manifest-location":
		return one(img.ImageLocation)
	case "name":
		return one(img.Name)
	case "owner-alias":
		return one(img.OwnerAlias)
	case "owner-id":
		return one(img.AccountID)
	case "platform":
		return one(img.Platform)
	case "product-code", "product-code.type":
		var out []string
		for _, pc := range img.ProductCodes {
			if name == "product-code" {
				out = append(out, pc.ID)
			} else {
				out = append(out, pc.Type)
			}
		}
		return out
	case "ramdisk-id":
		return one(img.RamdiskID)
	case "root-device-name":
		return one(img.RootDeviceName)
	case "root-device-type":
		return one(img.RootDeviceType)
	case "source-image-id":
		return one(img.SourceImageID)
	case "source-image-region":
		return one(img.SourceImageRegion)
	case "source-instance-id":
		return one(img.SourceInstanceID)
	case "state":
		return one(string(img.State))
	case "state-reason-code":
		return one(string(img.StateReason.Cause))
	case "state-reason-message":
		return one(img.StateReason.Message)
	case "sriov-net-support":
		return one(img.SriovNetSupport)
	case "virtualization-type":
		return one(img.VirtualizationType)
	case "boot-mode":
		return one(img.BootMode)
	case "deprecation-time":
		if img.DeprecationTime.IsZero() {
			return nil
		}
		return one(img.DeprecationTime.UTC().Format("2006-01-02T15:04:05.000Z"))
	case "imds-support":
		return one(img.ImdsSupport)
	case "tpm-support":
		return one(img.TpmSupport)
	}
	return nil
}

func snapOf(m openami.BlockDeviceMapping) string {
	if m.Ebs == nil {
		return ""
	}
	return m.Ebs.SnapshotID
}

func sizeOf(m openami.BlockDeviceMapping) int64 {
	if m.Ebs == nil {
		return 0
	}
	return m.Ebs.VolumeSize
}

func typeOf(m openami.BlockDeviceMapping) string {
	if m.Ebs == nil {
		return ""
	}
	return m.Ebs.VolumeType
}

// DescribeImagesInput are DescribeImages' parameters.
type DescribeImagesInput struct {
	ImageIDs []string
	// Owners: account ids, "self", or the aliases amazon,
	// aws-marketplace and aws-backup-vault.
	Owners []string
	// ExecutableUsers: account ids, "self" or "all".
	ExecutableUsers   []string
	Filters           []filter.Filter
	IncludeDeprecated bool
	IncludeDisabled   bool
	Page
}

var ownerAliases = map[string]bool{"amazon": true, "aws-marketplace": true, "aws-backup-vault": true}

// DescribeImages returns a page of the images in the region the caller may
// see: its own and those it may launch, narrowed as the input says.
// Deprecated images of others are hidden unless IncludeDeprecated, and
// disabled ones (only ever the caller's) unless IncludeDisabled. A private
// image of another account is NotFound, like one that does not exist.
func (s *Registry) DescribeImages(ctx context.Context, p openami.Principal, in DescribeImagesInput) ([]ImageView, string, error) {
	fs, err := filter.Compile(in.Filters, imageFilters...)
	if err != nil {
		return nil, "", err
	}
	for _, id := range in.ImageIDs {
		if err := checkImageID(id); err != nil {
			return nil, "", err
		}
	}
	q := metadata.ImageQuery{VisibleTo: p.AccountID, VisibleOrgs: p.Orgs, IDs: in.ImageIDs}
	pushDownImageFilters(&q, in.Filters, p)
	for _, o := range in.Owners {
		switch {
		case o == "self":
			q.OwnerIDs = append(q.OwnerIDs, p.AccountID)
		case ids.ValidAccountID(o):
			q.OwnerIDs = append(q.OwnerIDs, o)
		case ownerAliases[o]:
			q.OwnerAliases = append(q.OwnerAliases, o)
		default:
			return nil, "", openami.Errorf(openami.InvalidParameter, "", "Invalid owner: %s", o)
		}
	}
	for _, u := range in.ExecutableUsers {
		switch {
		case u == "self":
			// Shared with the caller: by name, or through its organization.
			q.ExecutableBy = append(q.ExecutableBy, p.AccountID)
			q.ExecutableOrgs = append(q.ExecutableOrgs, p.Orgs...)
		case u == "all" || ids.ValidAccountID(u):
			q.ExecutableBy = append(q.ExecutableBy, u)
		default:
			return nil, "", openami.Errorf(openami.InvalidParameter, "", "Invalid user id: %s", u)
		}
	}
	if in.MaxResults != 0 && len(in.ImageIDs) > 0 {
		return nil, "", openami.Errorf(openami.InvalidCombination, "", "The parameter imageIdsSet cannot be used with the parameter maxResults")
	}
	if len(in.ImageIDs) > 0 {
		var found []openami.Image
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = tx.Images().List(p.Region, metadata.ImageQuery{VisibleTo: p.AccountID, VisibleOrgs: p.Orgs, IDs: in.ImageIDs})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.MissingIDs(in.ImageIDs, found, func(i openami.Image) string { return i.ID }); missing != "" {
			return nil, "", imageNotFound(missing)
		}
	}
	now := s.nowUTC()
	allowed, err := s.AllowedImagesSettings(ctx, p)
	if err != nil {
		return nil, "", err
	}
	// tags holds the current batch's tags; kept those of the images that
	// matched, so the page needs no second read.
	var tags map[string][]openami.Tag
	kept := map[string][]openami.Tag{}
	fetch := func(after string, limit int) ([]openami.Image, error) {
		q.After, q.Limit = after, limit
		var out []openami.Image
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if out, err = tx.Images().List(p.Region, q); err != nil {
				return err
			}
			tags, err = tx.Tags().Of(p.Region, p.AccountID, describe.IDs(out, func(i openami.Image) string { return i.ID }))
			return err
		})
		return out, err
	}
	match := func(img openami.Image) bool {
		own := img.AccountID == p.AccountID
		if img.State == openami.ImageDisabled && (!own || !in.IncludeDisabled) || img.State == openami.ImageDeregistered {
			return false
		}
		// Allowed AMIs never restrict the account's own images.
		if allowed.State == "enabled" && !own && !allowed.allows(&img, now) {
			return false
		}
		if !own && !in.IncludeDeprecated && len(in.ImageIDs) == 0 && !img.DeprecationTime.IsZero() && !now.Before(img.DeprecationTime) {
			return false
		}
		var t map[string]string
		if own {
			t = tagMap(tags[img.ID])
		}
		ok := fs.Match(func(name string) []string {
			if name == "image-allowed" {
				return []string{strconv.FormatBool(allowed.State == "disabled" || own || allowed.allows(&img, now))}
			}
			return imageAttr(&img, name)
		}, t)
		if ok && own {
			kept[img.ID] = tags[img.ID]
		}
		return ok
	}
	scope := describe.Scope("DescribeImages", p, in.Filters, strings.Join(in.ImageIDs, ","), strings.Join(in.Owners, ","),
		strings.Join(in.ExecutableUsers, ","), fmt.Sprint(in.IncludeDeprecated, in.IncludeDisabled))
	imgs, next, err := describe.List(s.tokens, scope, in.Page, describe.Bounds{Min: 5, Max: 1000}, fetch, func(i openami.Image) string { return i.ID }, match)
	if err != nil {
		return nil, "", err
	}
	out := make([]ImageView, len(imgs))
	for i, img := range imgs {
		out[i] = ImageView{Image: img, Tags: kept[img.ID]}
		if allowed.State == "audit-mode" {
			ok := img.AccountID == p.AccountID || allowed.allows(&imgs[i], now)
			out[i].Allowed = &ok
		}
	}
	return out, next, nil
}

// pushDownImageFilters narrows q with the filters a store can apply
// through its indexes: names (exact or by prefix) and the caller's tags.
// It only ever selects a superset of what the filters match; Match still
// decides each image.
func pushDownImageFilters(q *metadata.ImageQuery, filters []filter.Filter, p openami.Principal) {
	var prefixes []string
	pushNames := true
	seenName := false
	for _, f := range filters {
		switch {
		case f.Name == "name":
			seenName = true
			for _, v := range f.Values {
				if lit, ok := filter.NewPattern(v).Literal(); ok {
					prefixes = append(prefixes, lit)
					continue
				}
				if strings.HasSuffix(v, "*") && !strings.HasSuffix(v, `\*`) {
					if lit, ok := filter.NewPattern(strings.TrimSuffix(v, "*")).Literal(); ok {
						prefixes = append(prefixes, lit)
						continue
					}
				}
				pushNames = false
			}
		case strings.HasPrefix(f.Name, "tag:"):
			// Tags are their owner's: only the caller's images can match.
			m := metadata.TagMatch{Key: strings.TrimPrefix(f.Name, "tag:")}
			pushTag := true
			for _, v := range f.Values {
				lit, ok := filter.NewPattern(v).Literal()
				if !ok {
					pushTag = false
					break
				}
				m.Values = append(m.Values, lit)
			}
			if pushTag {
				q.TagOwner = p.AccountID
				q.Tags = append(q.Tags, m)
			}
		}
	}
	if seenName && pushNames {
		q.NamePrefixes = prefixes
	}
}
