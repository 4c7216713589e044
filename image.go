package openami

import "time"

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
	// CauseLaunchFailed: the runtime could not start the instance.
	CauseLaunchFailed StateCause = "launch-failed"
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

	SourceImageID     string
	SourceImageRegion string
	SourceInstanceID  string

	CreatedAt        time.Time
	DeprecationTime  time.Time // zero: not deprecated
	LastLaunchedTime time.Time
	// DeregistrationProtection is "disabled", "enabled", or
	// "enabled-with-cooldown".
	DeregistrationProtection string
	// Public is true while the image's launch permissions include group
	// all; it is kept on the image so listings can select on it.
	Public bool
	// RecycleBinEnterTime and RecycleBinExitTime are set while a
	// deregistered image waits in the Recycle Bin (State deregistered),
	// restorable until it is deleted for good at the exit time.
	RecycleBinEnterTime time.Time
	RecycleBinExitTime  time.Time
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
