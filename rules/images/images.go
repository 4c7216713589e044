package images

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
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
// uses snapshots the caller owns or may create volumes from, or, with an
// ImageLocation, an instance store-backed image from the bundle whose
// manifest it names (bundles.go). The image is
// available at once when its snapshots are completed; with one of the
// caller's own snapshots still pending (being written through the EBS
// direct API, or copied from another region) it is pending until they
// complete, and failed if one of them errors (SettleImages).
func (s *Registry) RegisterImage(ctx context.Context, p openami.Principal, in RegisterImageInput) (string, error) {
	if err := checkImageName(in.Name); err != nil {
		return "", err
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
		BlockDeviceMappings: in.BlockDeviceMappings, CreatedAt: s.nowUTC(), DeregistrationProtection: openami.DeregistrationProtection{State: "disabled"},
	}
	if in.ImageLocation != "" {
		if err := s.registerBundle(ctx, p, in, &img); err != nil {
			return "", err
		}
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
		param.OneOf("ImageType", img.ImageType, "machine", "kernel", "ramdisk"),
		param.OneOf("Architecture", img.Architecture, "i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"),
		param.OneOf("VirtualizationType", img.VirtualizationType, "hvm", "paravirtual"),
	}
	if img.BootMode != "" {
		checks = append(checks, param.OneOf("BootMode", img.BootMode, "legacy-bios", "uefi", "uefi-preferred"))
	}
	if img.TpmSupport != "" {
		checks = append(checks, param.OneOf("TpmSupport", img.TpmSupport, "v2.0"))
		if img.BootMode != "uefi" {
			checks = append(checks, openami.Errorf(openami.InvalidCombination, "", "TpmSupport requires BootMode uefi."))
		}
	}
	if img.ImdsSupport != "" {
		checks = append(checks, param.OneOf("ImdsSupport", img.ImdsSupport, "v2.0"))
	}
	if img.SriovNetSupport != "" {
		checks = append(checks, param.OneOf("SriovNetSupport", img.SriovNetSupport, "simple"))
	}
	if err := param.FirstError(checks); err != nil {
		return "", err
	}
	if err := validateTags(in.Tags); err != nil {
		return "", err
	}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		check := s.checkMappings
		if img.Bundle != nil {
			check = checkStoreMappings
		}
		if err := check(tx, p, &img); err != nil {
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
			if err := s.ebs.CheckKeyUse(tx, p, "MappingKmsKeyID", snap.KmsKeyID); err != nil {
				return err
			}
			if e.Encrypted && !snap.Encrypted {
				return BadMapping("The snapshot %s of %s is not encrypted; copy it with Encrypted to make an encrypted image.", snap.ID, m.DeviceName)
			}
			if e.KmsKeyID != "" {
				k, err := s.ebs.UsableKeyToDecrypt(tx, p, "MappingKmsKeyID", e.KmsKeyID)
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
			key, err := s.ebs.TargetKey(tx, p, ebs.Target{Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID, Field: "MappingKmsKeyID"}, "")
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

// imagesNotFound is NotFound naming every missing image, worded as EC2
// words it: "The image id '[ami-1]' does not exist" for one, "The image
// ids '[ami-1, ami-2]' do not exist" for several.
func imagesNotFound(ids []string) error {
	if len(ids) == 1 {
		return imageNotFound(ids[0])
	}
	return openami.Errorf(openami.NotFound, openami.ResourceImage, "The image ids '[%s]' do not exist", strings.Join(ids, ", "))
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
			return &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceImage, Err: &Protected{ImageID: id, Protection: img.DeregistrationProtection}}
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
		if err := rememberDeregistered(tx, p, id, s.nowUTC()); err != nil {
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
