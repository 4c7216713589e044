package openami

import "time"

// InstanceState is the life-cycle state of an instance, as EC2 names it.
type InstanceState string

// Instance states. pending, stopping and shutting-down are transitions
// the runtime carries out; the others are where it rests.
const (
	InstancePending      InstanceState = "pending"
	InstanceRunning      InstanceState = "running"
	InstanceStopping     InstanceState = "stopping"
	InstanceStopped      InstanceState = "stopped"
	InstanceShuttingDown InstanceState = "shutting-down"
	InstanceTerminated   InstanceState = "terminated"
)

// StateCode is the numeric code EC2 reports with each instance state.
func (s InstanceState) StateCode() int {
	switch s {
	case InstancePending:
		return 0
	case InstanceRunning:
		return 16
	case InstanceShuttingDown:
		return 32
	case InstanceTerminated:
		return 48
	case InstanceStopping:
		return 64
	case InstanceStopped:
		return 80
	}
	return 0
}

// InstanceBlockDevice is an EBS volume attached to an instance.
type InstanceBlockDevice struct {
	DeviceName          string
	VolumeID            string
	DeleteOnTermination bool
	AttachTime          time.Time
}

// InstanceStore is an instance-store volume: blank at launch, gone with
// the instance.
type InstanceStore struct {
	DeviceName  string
	VirtualName string // ephemeralN
	Size        int64  // GiB
}

// MetadataOptions are an instance's instance metadata service settings.
type MetadataOptions struct {
	HttpTokens              string // optional or required
	HttpPutResponseHopLimit int
	HttpEndpoint            string // enabled or disabled
	InstanceMetadataTags    string // enabled or disabled
}

// Instance is a virtual machine launched from an image. Its EBS volumes
// are copy-on-write clones of the image's snapshots; the runtime runs it
// (or, with the none runtime, only plays its states).
type Instance struct {
	ID            string // i-…
	Region        string
	AccountID     string
	ReservationID string // r-…, shared by the instances of one RunInstances
	ImageID       string
	InstanceType  string
	KeyName       string
	State         InstanceState
	StateReason   StateReason
	// StateTransitionReason is EC2's free-text reason for the last
	// change, e.g. "User initiated (2026-11-22 10:00:00 GMT)".
	StateTransitionReason string
	AvailabilityZone      string
	VpcID                 string
	SubnetID              string
	SecurityGroupIDs      []string
	PrivateIP             string
	// PublicIP is the instance's public address, from the host's public
	// pool, while it is pending or running; "" otherwise (a stop or
	// terminate releases it, and a start takes a new one, as on EC2).
	PublicIP   string
	MacAddress string
	UserData   []byte
	LaunchTime time.Time
	// TerminatedAt is when the instance reached terminated; it stays
	// visible for a while after.
	TerminatedAt       time.Time
	AmiLaunchIndex     int
	Architecture       string
	VirtualizationType string
	Platform           string // "" or windows
	BootMode           string // the image's: legacy-bios, uefi, uefi-preferred, or ""
	RootDeviceName     string
	RootDeviceType     string // ebs
	BlockDevices       []InstanceBlockDevice
	InstanceStores     []InstanceStore
	KernelID           string
	RamdiskID          string
	EnaSupport         bool
	SriovNetSupport    string
	TpmSupport         string
	MetadataOptions    MetadataOptions
	EbsOptimized       bool
	ClientToken        string

	DisableAPITermination             bool
	DisableAPIStop                    bool
	InstanceInitiatedShutdownBehavior string // stop or terminate
	// CPUCredits is a burstable instance's credit option (standard or
	// unlimited); "" for others.
	CPUCredits string
	// NoSourceDestCheck records ModifyInstanceAttribute's SourceDestCheck
	// false (checked is EC2's default).
	NoSourceDestCheck bool
	// ForceStop is set while a StopInstances with Force is carried out:
	// the runtime kills the VM instead of asking its guest to shut down.
	ForceStop bool
}
