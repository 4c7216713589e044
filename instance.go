package openami

import (
	"bytes"
	"encoding/json"
	"time"
)

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
	// StateTransition is what last changed the instance's state at a
	// caller's or its guest's hand, and when. It is stored under the name
	// of the free text earlier versions kept in its place
	// (StateTransition.Text).
	StateTransition  StateTransition `json:"StateTransitionReason"`
	AvailabilityZone string
	// HostID is the compute host the instance is placed on (docs/HOSTS.md):
	// "" when no host is registered (one node runs every instance, as
	// before hosts) or while it is stopped.
	HostID           string `json:",omitempty"`
	VpcID            string
	SubnetID         string
	SecurityGroupIDs []string
	PrivateIP        string
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
	RootDeviceType     string // ebs or instance-store
	// RootBundle is, for an instance store-backed instance, the bundle
	// its root is unpacked from (a copy of its image's, so that a launch
	// needs no image that may since be deregistered), and RootBase the
	// key of the unpacked bundle in the host's base cache
	// (ImageBundle.BaseKey).
	RootBundle      *ImageBundle `json:",omitempty"`
	RootBase        string       `json:",omitempty"`
	BlockDevices    []InstanceBlockDevice
	InstanceStores  []InstanceStore
	KernelID        string
	RamdiskID       string
	EnaSupport      bool
	SriovNetSupport string
	TpmSupport      string
	MetadataOptions MetadataOptions
	EbsOptimized    bool
	ClientToken     string

	DisableAPITermination             bool
	DisableAPIStop                    bool
	InstanceInitiatedShutdownBehavior string // stop or terminate
	// CPUCredits is a burstable instance's credit option (standard or
	// unlimited); "" for others.
	CPUCredits string
	// NoSourceDestCheck records ModifyInstanceAttribute's SourceDestCheck
	// false (checked is EC2's default).
	NoSourceDestCheck bool
	// Monitored records RunInstances' Monitoring.Enabled (or the last
	// Monitor/UnmonitorInstances): detailed
	// monitoring asked for, reported as the monitoring state "enabled".
	// openami gathers no CloudWatch metrics either way.
	Monitored bool
	// ForceStop is set while a StopInstances with Force is carried out:
	// the runtime kills the VM instead of asking its guest to shut down.
	ForceStop bool
	// RebootAsked is set by a RebootInstances that a node other than the
	// instance's host received, until the host's worker has rebooted the
	// VM (docs/HOSTS.md).
	RebootAsked bool `json:",omitempty"`
}

// StateTransition records the last change of an instance's state that a
// caller or the instance's guest made (a stop, a terminate, a shutdown
// from inside): what caused it, in openami's terms, and when. Each
// protocol words it in its own terms (EC2's "User initiated (… GMT)",
// api/ec2/statereasons.go). The zero StateTransition says nothing.
type StateTransition struct {
	Cause StateCause
	At    time.Time
	// Text is the wording an earlier version stored in place of Cause and
	// At (EC2's free text, e.g. "User initiated (2026-11-22 10:00:00
	// GMT)"); it is read from such a record and passed through as it is.
	// New records never set it.
	Text string
}

// UnmarshalJSON reads a StateTransition as it is stored now (an object)
// or as earlier versions stored it (a string of EC2's free text, kept in
// Text). It fails on any other JSON value.
func (t *StateTransition) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*t = StateTransition{}
		return json.Unmarshal(b, &t.Text)
	}
	type plain StateTransition // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = StateTransition(p)
	return nil
}

// MonitoringState is the state of an instance's detailed monitoring, as
// EC2 names it.
type MonitoringState string

// Monitoring states: pending and disabling are transitional (openami
// answers them to Monitor/UnmonitorInstances; an instance's own state
// is enabled or disabled).
const (
	MonitoringDisabled  MonitoringState = "disabled"
	MonitoringDisabling MonitoringState = "disabling"
	MonitoringEnabled   MonitoringState = "enabled"
	MonitoringPending   MonitoringState = "pending"
)
