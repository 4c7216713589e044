package openami

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// ImageState is the life-cycle state of an image, as EC2 names it.
type ImageState string

// Image states.
const (
	ImagePending      ImageState = "pending"
	ImageAvailable    ImageState = "available"
	ImageFailed       ImageState = "failed"
	ImageDeregistered ImageState = "deregistered"
	ImageDisabled     ImageState = "disabled"
)

// EbsBlockDevice is the EBS part of a block device mapping: the volume an
// instance gets for that device, made from SnapshotID.
type EbsBlockDevice struct {
	SnapshotID          string
	VolumeSize          int64 // GiB
	VolumeType          string
	Iops                int
	Throughput          int
	DeleteOnTermination bool
	Encrypted           bool
	KmsKeyID            string
}

// BlockDeviceMapping maps a device name to an EBS volume, an instance-store
// volume (VirtualName "ephemeralN"), or nothing (NoDevice).
type BlockDeviceMapping struct {
	DeviceName  string
	VirtualName string
	NoDevice    bool
	Ebs         *EbsBlockDevice
}

// StateReason says why an image or an instance is in its state (an image
// failed, an instance terminated): Cause names what happened, in openami's
// terms, and Message adds a sentence of detail (which snapshot, what
// error). Each protocol renders the two in its own terms. The zero
// StateReason says nothing.
type StateReason struct {
	// Cause is stored under its former name, Code; a StateReason stored
	// before causes existed holds the code EC2 reported instead, which the
	// API layer passes through as it is.
	Cause   StateCause `json:"Code"`
	Message string
}

// StateCause names what put an image or an instance in its state.
type StateCause string

// The causes.
const (
	// CauseSnapshotGone: a snapshot the image's mappings use was deleted
	// before the image became available.
	CauseSnapshotGone StateCause = "snapshot-gone"
	// CauseSnapshotFailed: a snapshot the image's mappings use failed.
	CauseSnapshotFailed StateCause = "snapshot-failed"
	// CauseUserShutdown: a caller stopped or terminated the instance.
	CauseUserShutdown StateCause = "user-shutdown"
	// CauseGuestShutdown: the instance's guest shut itself down.
	CauseGuestShutdown StateCause = "guest-shutdown"
	// CauseKeyUnusable: a KMS key of one of the instance's volumes cannot
	// be used (disabled, pending deletion, or refused).
	CauseKeyUnusable StateCause = "kms-key-unusable"
	// CauseBundleCopyFailed: the bundle of an instance store-backed
	// image could not be copied (CopyImage).
	CauseBundleCopyFailed StateCause = "bundle-copy-failed"
	// CauseLaunching: a pending instance is being prepared (its bundle
	// fetched and unpacked); the message says how far.
	CauseLaunching StateCause = "launching"
	// CauseLaunchFailed: the runtime could not start the instance.
	CauseLaunchFailed StateCause = "launch-failed"
	// CauseHostFailed: the instance's compute host died (its heartbeat
	// lapsed), and with it an instance-store root (docs/HOSTS.md).
	CauseHostFailed StateCause = "host-failed"
)

// ProductCode is a marketplace product code attached to an image.
type ProductCode struct {
	ID   string
	Type string // marketplace or devpay
}

// Image is an Amazon Machine Image: a template of a root volume and other
// volumes (BlockDeviceMappings over snapshots), with the attributes an
// instance launched from it gets. Images are metadata only; their bytes
// are the snapshots'.
type Image struct {
	ID          string // ami-…
	Region      string
	AccountID   string // owner
	OwnerAlias  string // amazon, aws-marketplace, aws-backup-vault, or ""
	Name        string
	Description string
	State       ImageState
	StateReason StateReason

	Architecture       string // i386, x86_64, arm64, x86_64_mac, arm64_mac
	VirtualizationType string // hvm, paravirtual
	RootDeviceName     string
	RootDeviceType     string // ebs or instance-store
	ImageType          string // machine, kernel, ramdisk
	ImageLocation      string
	KernelID           string
	RamdiskID          string
	Platform           string // windows or ""
	BootMode           string
	TpmSupport         string
	UefiData           string
	ImdsSupport        string
	SriovNetSupport    string
	EnaSupport         bool
	BillingProducts    []string
	ProductCodes       []ProductCode

	BlockDeviceMappings []BlockDeviceMapping
	// Bundle is where an instance store-backed image's bundle is and
	// what its manifest said when it was registered; nil for EBS-backed
	// images.
	Bundle *ImageBundle `json:",omitempty"`

	SourceImageID     string
	SourceImageRegion string
	SourceInstanceID  string

	CreatedAt        time.Time
	DeprecationTime  time.Time // zero: not deprecated
	LastLaunchedTime time.Time
	// DeregistrationProtection says whether the image may be
	// deregistered.
	DeregistrationProtection DeregistrationProtection
	// Public is true while the image's launch permissions include group
	// all; it is kept on the image so listings can select on it.
	Public bool
	// RecycleBinEnterTime and RecycleBinExitTime are set while a
	// deregistered image waits in the Recycle Bin (State deregistered),
	// restorable until it is deleted for good at the exit time.
	RecycleBinEnterTime time.Time
	RecycleBinExitTime  time.Time
}

// ImageBundle is what a launch of an instance store-backed image needs of
// its bundle, recorded when the image is registered from its manifest
// (ImageLocation): the manifest's object, the SHA-256 of the manifest's
// bytes as verified then (a launch reads the manifest again and uses it
// only if it is still those bytes), the image's digest and sizes.
type ImageBundle struct {
	// Owner is the account that registered the bundle: the manifest is
	// read as that account's at launch.
	Owner          string
	Bucket         string
	ManifestKey    string
	ManifestSHA256 string // hex
	Digest         string // hex SHA-1 of the bundle's tar stream (<image><digest>)
	Size           int64  // the image file's size in bytes
	BundledSize    int64  // the parts' total size in bytes
	Parts          int
	// CopyFrom is set while CopyImage copies the bundle here (the image
	// pending): the source bundle. ManifestSHA256 is set when the copy
	// is whole.
	CopyFrom *BundleSource `json:",omitempty"`
}

// BundleSource is the bundle a copy of an instance store-backed image is
// made from: its region and a copy of its image's ImageBundle fields.
type BundleSource struct {
	Region, Owner, Bucket, ManifestKey, ManifestSHA256 string
}

// BaseKey is the key of the image's unpacked bundle in a host's base
// cache (localdisk.Bases): the SHA-256 of the owner's account id, ":" and the
// manifest's digest in hex, so that two accounts' bundles share a base only if
// they are the same account's: a crafted SHA-1 collision in one
// tenant's bundle can never put its bytes under another tenant's root.
func (b *ImageBundle) BaseKey() string {
	sum := sha256.Sum256([]byte(b.Owner + ":" + b.Digest))
	return hex.EncodeToString(sum[:])
}

// LaunchPermission lets an account, everyone (Group "all"), an
// organization or an organizational unit launch an image.
type LaunchPermission struct {
	AccountID             string
	Group                 string
	OrganizationArn       string
	OrganizationalUnitArn string
}

// Snapshots returns the ids of the snapshots the image's mappings use.
func (img *Image) Snapshots() []string {
	var out []string
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotID != "" {
			out = append(out, m.Ebs.SnapshotID)
		}
	}
	return out
}

// DeregistrationProtection says whether an image may be deregistered.
// The zero value, an image recorded without it, is not protected. Each
// protocol words it in its own terms (EC2's "disabled-until <time>",
// api/ec2).
type DeregistrationProtection struct {
	// State is "disabled", "enabled" or "enabled-with-cooldown".
	State string
	// Until is, for protection with cooldown that was then disabled,
	// when the cooldown ends: deregistration is refused until then. Zero
	// otherwise.
	Until time.Time
}

// legacyCooldown is how earlier versions stored the state of protection
// in its cooldown: this prefix, then the end in UTC to the millisecond.
const (
	legacyCooldown     = "disabled-until "
	legacyCooldownTime = "2006-01-02T15:04:05.000Z"
)

// UnmarshalJSON reads a DeregistrationProtection as it is stored now (an
// object) or as earlier versions stored it (a string: the state, or
// "disabled-until " and the end of the cooldown, read into State
// "disabled" and Until). A cooldown whose end does not parse is kept
// whole in State, which protects the image as earlier versions did. It
// fails on any other JSON value.
func (d *DeregistrationProtection) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = DeregistrationProtection{State: s}
		if end, ok := strings.CutPrefix(s, legacyCooldown); ok {
			if until, err := time.Parse(legacyCooldownTime, end); err == nil {
				*d = DeregistrationProtection{State: "disabled", Until: until}
			}
		}
		return nil
	}
	type plain DeregistrationProtection // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = DeregistrationProtection(p)
	return nil
}
