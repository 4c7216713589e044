package images

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/param"
)

// ImageView is an image with its tags (for its owner only) as Describe
// returns it.
type ImageView struct {
	openami.Image
	Tags []openami.Tag
	// Allowed is set in Allowed AMIs audit mode: whether the criteria
	// allow the image.
	Allowed *bool
}

// RegisterImageInput are RegisterImage's parameters.
type RegisterImageInput struct {
	Name                string
	Description         string
	ImageLocation       string
	Architecture        string
	RootDeviceName      string
	VirtualizationType  string
	BlockDeviceMappings []openami.BlockDeviceMapping
	KernelID            string
	RamdiskID           string
	BootMode            string
	TpmSupport          string
	UefiData            string
	ImdsSupport         string
	SriovNetSupport     string
	EnaSupport          bool
	BillingProducts     []string
	Tags                []openami.Tag
	// ImageType is machine (the default, and all the EC2 API registers),
	// or kernel or ramdisk for the boot files of paravirtual images
	// (RegisterBootImage).
	ImageType string
}

var (
	imageNameChars = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)
	ephemeralName  = regexp.MustCompile(`^ephemeral([0-9]|1[0-9]|2[0-3])$`)
	deviceName     = regexp.MustCompile(`^/dev/(sd[a-z]|xvd[a-z]|sd[a-z][0-9]{1,2}|xvd[a-z][0-9]{1,2}|nvme[0-9]+n[0-9]+|hd[a-z])$|^[a-z]{2,4}[a-z0-9]*$`)
)

// checkImageName applies AWS's rule for image names: 3–128 characters of
// letters, digits, ( ) [ ] space . / - ' @ _.
func checkImageName(name string) error {
	if !imageNameChars.MatchString(name) {
		return openami.ReasonErrorf(openami.Malformed, openami.ResourceImage, openami.ReasonName, "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '@', '_', '[', ']', spaces and single quotes: %q", name)
	}
	return nil
}

// BadMapping is the error of a bad block device mapping: an image's, or
// a launch's or CreateImage's overrides of one.
func BadMapping(format string, args ...any) error {
	return openami.ReasonErrorf(openami.InvalidParameter, "", openami.ReasonMapping, format, args...)
}

// IsDeviceName says whether name is a device name a block device mapping
// may use (/dev/sdf, /dev/xvda1, /dev/nvme0n1, xvdb …).
func IsDeviceName(name string) bool { return deviceName.MatchString(name) }

// IsEphemeralName says whether name names an instance-store volume
// (ephemeral0 to ephemeral23).
func IsEphemeralName(name string) bool { return ephemeralName.MatchString(name) }

// RegisterImage registers an EBS-backed image whose block device mapping
// uses snapshots the caller owns or may create volumes from. The image is
// available at once when its snapshots are completed; with one of the
// caller's own snapshots still pending (being written through the EBS
// direct API, or copied from another region) it is pending until they
// complete, and failed if one of them errors (SettleImages).
func (s *Registry) RegisterImage(ctx context.Context, p openami.Principal, in RegisterImageInput) (string, error) {
	if err := checkImageName(in.Name); err != nil {
		return "", err
	}
	if in.ImageLocation != "" {
		return "", openami.Errorf(openami.Unsupported, "", "Registering instance-store images from a bundle (ImageLocation) is not supported yet.")
	}
	if len(in.Description) > 255 {
		return "", openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	img := openami.Image{
		ID: ids.New("ami"), Region: p.Region, AccountID: p.AccountID, Name: in.Name, Description: in.Description,
		State: openami.ImageAvailable, Architecture: in.Architecture, VirtualizationType: in.VirtualizationType,
		RootDeviceName: in.RootDeviceName, RootDeviceType: "ebs", ImageType: in.ImageType,
		ImageLocation: p.AccountID + "/" + in.Name, KernelID: in.KernelID, RamdiskID: in.RamdiskID,
		BootMode: in.BootMode, TpmSupport: in.TpmSupport, UefiData: in.UefiData, ImdsSupport: in.ImdsSupport,
		SriovNetSupport: in.SriovNetSupport, EnaSupport: in.EnaSupport, BillingProducts: in.BillingProducts,
		BlockDeviceMappings: in.BlockDeviceMappings, CreatedAt: s.nowUTC(), DeregistrationProtection: "disabled",
	}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	if img.VirtualizationType == "" {
		img.VirtualizationType = "hvm"
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = "/dev/sda1"
	}
	if img.ImageType == "" {
		img.ImageType = "machine"
	}
	checks := []error{
		param.OneOf("imageType", img.ImageType, "machine", "kernel", "ramdisk"),
		param.OneOf("architecture", img.Architecture, "i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"),
		param.OneOf("virtualizationType", img.VirtualizationType, "hvm", "paravirtual"),
	}
	if img.BootMode != "" {
		checks = append(checks, param.OneOf("bootMode", img.BootMode, "legacy-bios", "uefi", "uefi-preferred"))
	}
	if img.TpmSupport != "" {
		checks = append(checks, param.OneOf("tpmSupport", img.TpmSupport, "v2.0"))
		if img.BootMode != "uefi" {
			checks = append(checks, openami.Errorf(openami.InvalidCombination, "", "TpmSupport requires BootMode uefi."))
		}
	}
	if img.ImdsSupport != "" {
		checks = append(checks, param.OneOf("imdsSupport", img.ImdsSupport, "v2.0"))
	}
	if img.SriovNetSupport != "" {
		checks = append(checks, param.OneOf("sriovNetSupport", img.SriovNetSupport, "simple"))
	}
	if err := param.FirstError(checks); err != nil {
		return "", err
	}
	if err := validateTags(in.Tags); err != nil {
		return "", err
	}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if err := s.checkMappings(tx, p, &img); err != nil {
			return err
		}
		if err := s.checkBootImages(tx, p, img); err != nil {
			return err
		}
		if err := tx.Images().Create(img); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			return tx.Tags().Set(p.Region, p.AccountID, img.ID, openami.ResourceImage, in.Tags)
		}
		return nil
	})
	return img.ID, err
}

// checkMappings validates an image's block device mapping against AWS's
// rules and the caller's snapshots, and fills in the defaults: each EBS
// device from a snapshot the caller may use (its size by default, never
// smaller), the root device among them with a snapshot.
func (s *Registry) checkMappings(tx metadata.Tx, p openami.Principal, img *openami.Image) error {
	if len(img.BlockDeviceMappings) == 0 {
		return BadMapping("An EBS-backed image needs a block device mapping with its root device %s.", img.RootDeviceName)
	}
	seen := map[string]bool{}
	rootOK := false
	for i := range img.BlockDeviceMappings {
		m := &img.BlockDeviceMappings[i]
		if m.DeviceName == "" {
			return BadMapping("Every block device mapping needs a DeviceName.")
		}
		if !deviceName.MatchString(m.DeviceName) {
			return BadMapping("Invalid device name %s.", m.DeviceName)
		}
		if seen[m.DeviceName] {
			return BadMapping("The device name %s is mapped twice.", m.DeviceName)
		}
		seen[m.DeviceName] = true
		kinds := 0
		if m.NoDevice {
			kinds++
		}
		if m.VirtualName != "" {
			kinds++
			if !ephemeralName.MatchString(m.VirtualName) {
				return BadMapping("Invalid virtual name %s: expecting ephemeral0 to ephemeral23.", m.VirtualName)
			}
		}
		if m.Ebs != nil {
			kinds++
		}
		if kinds != 1 {
			return BadMapping("The mapping of %s must have exactly one of Ebs, VirtualName and NoDevice.", m.DeviceName)
		}
		if m.Ebs == nil {
			if m.DeviceName == img.RootDeviceName {
				return BadMapping("The root device %s must be an EBS volume.", m.DeviceName)
			}
			continue
		}
		e := m.Ebs
		if e.SnapshotID != "" {
			snap, err := s.ebs.VisibleSnapshot(tx, p, p.Region, e.SnapshotID)
			if err != nil {
				return err
			}
			switch {
			case snap.State == openami.SnapshotPending && snap.AccountID == p.AccountID:
				img.State = openami.ImagePending
			case snap.State != openami.SnapshotCompleted:
				return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "Snapshot '%s' is not completed.", snap.ID)
			}
			if e.VolumeSize == 0 {
				e.VolumeSize = snap.VolumeSize
			}
			if e.VolumeSize < snap.VolumeSize {
				return BadMapping("Volume of size %dGiB is smaller than snapshot '%s', expect size >= %dGiB", e.VolumeSize, snap.ID, snap.VolumeSize)
			}
			// A snapshot's mapping is encrypted exactly as the
			// snapshot is: encrypting or re-keying takes a copy.
			if err := s.ebs.CheckKeyUse(tx, p, "BlockDeviceMapping.Ebs.KmsKeyId", snap.KmsKeyID); err != nil {
				return err
			}
			if e.Encrypted && !snap.Encrypted {
				return BadMapping("The snapshot %s of %s is not encrypted; copy it with Encrypted to make an encrypted image.", snap.ID, m.DeviceName)
			}
			if e.KmsKeyID != "" {
				k, err := s.ebs.UsableKeyToDecrypt(tx, p, "BlockDeviceMapping.Ebs.KmsKeyId", e.KmsKeyID)
				if err != nil {
					return err
				}
				if k.ARN() != snap.KmsKeyID {
					return BadMapping("The KMS key of %s must be its snapshot's, %s.", m.DeviceName, snap.KmsKeyID)
				}
			}
			e.Encrypted, e.KmsKeyID = snap.Encrypted, snap.KmsKeyID
		} else if e.VolumeSize == 0 {
			return BadMapping("The EBS mapping of %s needs a SnapshotId or a VolumeSize.", m.DeviceName)
		} else if e.KmsKeyID != "" || e.Encrypted {
			// An empty volume: encrypted at launch under this key.
			key, err := s.ebs.TargetKey(tx, p, ebs.Target{Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID, Field: "BlockDeviceMapping.Ebs.KmsKeyId"}, "")
			if err != nil {
				return err
			}
			e.KmsKeyID = key
		}
		if err := ebs.ShapeMapping(e); err != nil {
			return err
		}
		if m.DeviceName == img.RootDeviceName {
			if e.SnapshotID == "" {
				return BadMapping("The root device %s must be made from a snapshot.", m.DeviceName)
			}
			rootOK = true
		}
	}
	if !rootOK {
		return BadMapping("The root device %s is not in the block device mapping.", img.RootDeviceName)
	}
	return nil
}

func checkImageID(id string) error {
	if !ids.Valid("ami", id) {
		return openami.Errorf(openami.Malformed, openami.ResourceImage, "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	return nil
}

func imageNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceImage, "The image id '[%s]' does not exist", id)
}

// ownedImage returns the caller's image, NotFound for anyone else's.
func ownedImage(tx metadata.Tx, p openami.Principal, id string) (openami.Image, error) {
	if err := checkImageID(id); err != nil {
		return openami.Image{}, err
	}
	img, err := tx.Images().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) || err == nil && img.AccountID != p.AccountID {
		return openami.Image{}, imageNotFound(id)
	}
	if err == nil && img.State == openami.ImageDeregistered {
		return openami.Image{}, openami.ReasonErrorf(openami.IncorrectState, openami.ResourceImage, openami.ReasonUnavailable, "The image id '[%s]' is no longer available", id)
	}
	return img, err
}

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

// DeleteSnapshotResult reports what DeregisterImage did with one of the
// image's snapshots: success, skipped (another image uses it),
// missing-permissions (the caller does not own it), or client-error.
type DeleteSnapshotResult struct {
	SnapshotID string
	ReturnCode string
}

// DeregisterImage deregisters an image the caller owns. Instances launched
// from it are unaffected. With deleteSnapshots, it also deletes the
// image's snapshots that the caller owns and no other image uses, and
// reports what it did with each.
func (s *Registry) DeregisterImage(ctx context.Context, p openami.Principal, id string, deleteSnapshots bool) ([]DeleteSnapshotResult, error) {
	var results []DeleteSnapshotResult
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		results = nil
		img, err := ownedImage(tx, p, id)
		if err != nil {
			return err
		}
		if protected(img, s.nowUTC()) {
			return openami.Errorf(openami.IncorrectState, openami.ResourceImage, "Image %s has deregistration protection enabled (%s).", id, img.DeregistrationProtection)
		}
		rules, err := readRules(tx, p)
		if err != nil {
			return err
		}
		tags, err := tx.Tags().Of(p.Region, p.AccountID, []string{id})
		if err != nil {
			return err
		}
		if keep := retention(rules, "EC2_IMAGE", tagMap(tags[id])); keep > 0 {
			// Into the Recycle Bin: restorable until keep runs out. Its
			// snapshots stay, as the image still uses them.
			now := s.nowUTC()
			img.State, img.RecycleBinEnterTime, img.RecycleBinExitTime = openami.ImageDeregistered, now, now.Add(keep)
			if err := tx.Images().Update(img); err != nil {
				return err
			}
			if deleteSnapshots {
				for _, sid := range img.Snapshots() {
					results = append(results, DeleteSnapshotResult{SnapshotID: sid, ReturnCode: "skipped"})
				}
			}
			return nil
		}
		if err := tx.Tags().DeleteAll(p.Region, p.AccountID, id); err != nil {
			return err
		}
		if err := tx.Images().Delete(p.Region, id); err != nil {
			return err
		}
		if !deleteSnapshots {
			return nil
		}
		for _, sid := range img.Snapshots() {
			r := DeleteSnapshotResult{SnapshotID: sid, ReturnCode: "success"}
			snap, err := s.ebs.Snapshot(tx, p.Region, sid)
			users, uerr := tx.Images().UsingSnapshot(p.Region, sid)
			switch {
			case errors.Is(err, openami.ErrNotFound):
				r.ReturnCode = "client-error"
			case err != nil:
				return err
			case uerr != nil:
				return uerr
			case snap.AccountID != p.AccountID:
				r.ReturnCode = "missing-permissions"
			case len(users) > 0:
				r.ReturnCode = "skipped"
			default:
				if err := s.ebs.DeleteUnusedSnapshot(tx, snap); err != nil {
					return err
				}
			}
			results = append(results, r)
		}
		return nil
	})
	return results, err
}

// ImageAttribute is what DescribeImageAttribute returns.
type ImageAttribute struct {
	Image             openami.Image
	LaunchPermissions []openami.LaunchPermission
}

// imageAttributes are the attribute names DescribeImageAttribute takes.
var imageAttributes = []string{"description", "kernel", "ramdisk", "launchPermission", "productCodes",
	"blockDeviceMapping", "sriovNetSupport", "bootMode", "tpmSupport", "uefiData", "lastLaunchedTime",
	"imdsSupport", "deregistrationProtection"}

// DescribeImageAttribute returns an attribute of an image the caller owns.
func (s *Registry) DescribeImageAttribute(ctx context.Context, p openami.Principal, id, attribute string) (ImageAttribute, error) {
	if err := param.OneOf("attribute", attribute, imageAttributes...); err != nil {
		return ImageAttribute{}, err
	}
	var out ImageAttribute
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		img, err := ownedImage(tx, p, id)
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
		return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter attribute is invalid. Only launchPermission can be reset.", attribute)
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
