package images

import (
	"context"
	"fmt"
	"slices"
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

// The attributes of an image that DescribeImages' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrArchitecture               filter.Attr = "architecture"
	AttrMappingDeleteOnTermination filter.Attr = "mappingDeleteOnTermination"
	AttrMappingDevice              filter.Attr = "mappingDevice"
	AttrMappingSnapshotID          filter.Attr = "mappingSnapshotID"
	AttrMappingVolumeSize          filter.Attr = "mappingVolumeSize"
	AttrMappingVolumeType          filter.Attr = "mappingVolumeType"
	AttrMappingEncrypted           filter.Attr = "mappingEncrypted"
	AttrCreated                    filter.Attr = "created"
	AttrDescription                filter.Attr = "description"
	AttrEnaSupport                 filter.Attr = "enaSupport"
	AttrFreeTier                   filter.Attr = "freeTier"
	AttrHypervisor                 filter.Attr = "hypervisor"
	AttrAllowed                    filter.Attr = "allowed"
	AttrID                         filter.Attr = "id"
	AttrType                       filter.Attr = "type"
	AttrPublic                     filter.Attr = "public"
	AttrKernelID                   filter.Attr = "kernelID"
	AttrLocation                   filter.Attr = "location"
	AttrName                       filter.Attr = "name"
	AttrOwnerAlias                 filter.Attr = "ownerAlias"
	AttrOwnerID                    filter.Attr = "ownerID"
	AttrPlatform                   filter.Attr = "platform"
	AttrProductCode                filter.Attr = "productCode"
	AttrProductCodeType            filter.Attr = "productCodeType"
	AttrRamdiskID                  filter.Attr = "ramdiskID"
	AttrRootDevice                 filter.Attr = "rootDevice"
	AttrRootDeviceType             filter.Attr = "rootDeviceType"
	AttrSourceImageID              filter.Attr = "sourceImageID"
	AttrSourceImageRegion          filter.Attr = "sourceImageRegion"
	AttrSourceInstanceID           filter.Attr = "sourceInstanceID"
	AttrState                      filter.Attr = "state"
	AttrStateCause                 filter.Attr = "stateCause"
	AttrStateMessage               filter.Attr = "stateMessage"
	AttrSriovNetSupport            filter.Attr = "sriovNetSupport"
	AttrVirtualization             filter.Attr = "virtualization"
	AttrBootMode                   filter.Attr = "bootMode"
	AttrDeprecationTime            filter.Attr = "deprecationTime"
	AttrImdsSupport                filter.Attr = "imdsSupport"
	AttrTpmSupport                 filter.Attr = "tpmSupport"
)

// ImageAttrs are the attributes DescribeImages filters by. Read-only.
var ImageAttrs = []filter.Attr{
	AttrArchitecture, AttrMappingDeleteOnTermination, AttrMappingDevice, AttrMappingSnapshotID,
	AttrMappingVolumeSize, AttrMappingVolumeType, AttrMappingEncrypted, AttrCreated, AttrDescription,
	AttrEnaSupport, AttrFreeTier, AttrHypervisor, AttrAllowed, AttrID, AttrType, AttrPublic,
	AttrKernelID, AttrLocation, AttrName, AttrOwnerAlias, AttrOwnerID, AttrPlatform, AttrProductCode,
	AttrProductCodeType, AttrRamdiskID, AttrRootDevice, AttrRootDeviceType, AttrSourceImageID,
	AttrSourceImageRegion, AttrSourceInstanceID, AttrState, AttrStateCause, AttrStateMessage,
	AttrSriovNetSupport, AttrVirtualization, AttrBootMode, AttrDeprecationTime, AttrImdsSupport,
	AttrTpmSupport,
}

// imageAttr returns an image's values for a DescribeImages filter.
func imageAttr(img *openami.Image, name filter.Attr) []string {
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
	case AttrArchitecture:
		return one(img.Architecture)
	case AttrMappingDeleteOnTermination:
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatBool(m.Ebs != nil && m.Ebs.DeleteOnTermination), m.Ebs != nil
		})
	case AttrMappingDevice:
		return each(func(m openami.BlockDeviceMapping) (string, bool) { return m.DeviceName, true })
	case AttrMappingSnapshotID:
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return snapOf(m), m.Ebs != nil && m.Ebs.SnapshotID != ""
		})
	case AttrMappingVolumeSize:
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatInt(sizeOf(m), 10), m.Ebs != nil
		})
	case AttrMappingVolumeType:
		return each(func(m openami.BlockDeviceMapping) (string, bool) { return typeOf(m), m.Ebs != nil })
	case AttrMappingEncrypted:
		return each(func(m openami.BlockDeviceMapping) (string, bool) {
			return strconv.FormatBool(m.Ebs != nil && m.Ebs.Encrypted), m.Ebs != nil
		})
	case AttrCreated:
		return one(describe.Timestamp(img.CreatedAt))
	case AttrDescription:
		return one(img.Description)
	case AttrEnaSupport:
		return one(strconv.FormatBool(img.EnaSupport))
	case AttrFreeTier:
		return one("false")
	case AttrHypervisor:
		return one("xen")
	case AttrID:
		return one(img.ID)
	case AttrType:
		return one(img.ImageType)
	case AttrPublic:
		return one(strconv.FormatBool(img.Public))
	case AttrKernelID:
		return one(img.KernelID)
	case AttrLocation:
		return one(img.ImageLocation)
	case AttrName:
		return one(img.Name)
	case AttrOwnerAlias:
		return one(img.OwnerAlias)
	case AttrOwnerID:
		return one(img.AccountID)
	case AttrPlatform:
		return one(img.Platform)
	case AttrProductCode, AttrProductCodeType:
		var out []string
		for _, pc := range img.ProductCodes {
			if name == AttrProductCode {
				out = append(out, pc.ID)
			} else {
				out = append(out, pc.Type)
			}
		}
		return out
	case AttrRamdiskID:
		return one(img.RamdiskID)
	case AttrRootDevice:
		return one(img.RootDeviceName)
	case AttrRootDeviceType:
		return one(img.RootDeviceType)
	case AttrSourceImageID:
		return one(img.SourceImageID)
	case AttrSourceImageRegion:
		return one(img.SourceImageRegion)
	case AttrSourceInstanceID:
		return one(img.SourceInstanceID)
	case AttrState:
		return one(string(img.State))
	case AttrStateCause:
		return one(string(img.StateReason.Cause))
	case AttrStateMessage:
		return one(img.StateReason.Message)
	case AttrSriovNetSupport:
		return one(img.SriovNetSupport)
	case AttrVirtualization:
		return one(img.VirtualizationType)
	case AttrBootMode:
		return one(img.BootMode)
	case AttrDeprecationTime:
		if img.DeprecationTime.IsZero() {
			return nil
		}
		return one(img.DeprecationTime.UTC().Format("2006-01-02T15:04:05.000Z"))
	case AttrImdsSupport:
		return one(img.ImdsSupport)
	case AttrTpmSupport:
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
	fs, err := filter.Compile(in.Filters, ImageAttrs...)
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
	if err := describe.CheckIDs(openami.ResourceImage, in.ImageIDs, in.Page); err != nil {
		return nil, "", err
	}
	if len(in.ImageIDs) > 0 {
		var missing []string
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			found, err := tx.Images().List(p.Region, metadata.ImageQuery{VisibleTo: p.AccountID, VisibleOrgs: p.Orgs, IDs: in.ImageIDs})
			if err != nil {
				return err
			}
			if missing = describe.Missing(in.ImageIDs, found, func(i openami.Image) string { return i.ID }); len(missing) == 0 {
				return nil
			}
			// The caller's images deregistered a moment ago answer
			// nothing, not NotFound (recentlyDeregistered).
			gone, err := readDeregistered(tx, p, s.nowUTC())
			missing = slices.DeleteFunc(missing, func(id string) bool { _, ok := gone[id]; return ok })
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if len(missing) > 0 {
			return nil, "", imagesNotFound(missing)
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
		ok := fs.Match(func(name filter.Attr) []string {
			if name == AttrAllowed {
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
		case f.Name == string(AttrName):
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
