package openami

import "time"

// ResourceLaunchTemplate: a launch template (lt-…), whose versions hold
// the parameters of a launch.
const ResourceLaunchTemplate ResourceType = "launch-template"

// LaunchTemplate is a named, versioned set of launch parameters of one
// account in one region. Its versions are numbered from 1 and never
// renumbered: a deleted version's number is not reused, and LatestVersion
// only grows.
type LaunchTemplate struct {
	ID        string // lt-…
	Region    string
	AccountID string
	// Name is unique among the account's templates in the region.
	Name       string
	CreateTime time.Time
	// CreatedBy is the ARN of the principal that created it.
	CreatedBy string
	// DefaultVersion is the version a launch uses when it names none
	// (or $Default); LatestVersion the highest number ever made.
	DefaultVersion int64
	LatestVersion  int64
	// ClientToken is the idempotency token of CreateLaunchTemplate ("" for
	// none).
	ClientToken string
}

// LaunchTemplateVersion is one immutable version of a launch template.
type LaunchTemplateVersion struct {
	TemplateID  string
	Number      int64
	Description string
	CreateTime  time.Time
	CreatedBy   string
	// ClientToken is the idempotency token of CreateLaunchTemplateVersion
	// ("" for none).
	ClientToken string
	Data        LaunchTemplateData
}

// LaunchTemplateData are the launch parameters a template version holds.
// Every field may be absent (zero, nil): a launch takes it from its own
// request or the defaults. EC2 checks most of them only when a launch
// uses them, and so does openami.
type LaunchTemplateData struct {
	// ImageID is an AMI id, or "resolve:ssm:NAME[:VERSION]": an SSM
	// parameter that holds one.
	ImageID             string
	InstanceType        string
	KeyName             string
	SecurityGroupIDs    []string
	SecurityGroups      []string // names
	NetworkInterfaces   []LaunchTemplateNetworkInterface
	BlockDeviceMappings []LaunchTemplateMapping
	// UserData is the user data as the client gave it: base64.
	UserData string
	// MetadataOptions: empty fields are unset.
	MetadataOptions                   *MetadataOptions
	TagSpecifications                 []LaunchTemplateTagSpec
	AvailabilityZone                  string // Placement.AvailabilityZone
	DisableAPITermination             *bool
	DisableAPIStop                    *bool
	InstanceInitiatedShutdownBehavior string
	EbsOptimized                      *bool
	Monitoring                        *bool // detailed monitoring enabled
	CPUCredits                        string
}

// LaunchTemplateNetworkInterface is a network interface of a template:
// the primary one (DeviceIndex 0) carries the subnet and groups of the
// launch.
type LaunchTemplateNetworkInterface struct {
	DeviceIndex              int
	SubnetID                 string
	Groups                   []string
	AssociatePublicIPAddress *bool
	DeleteOnTermination      *bool
	PrivateIPAddress         string
	Description              string
}

// LaunchTemplateMapping is a block device mapping of a template: it
// changes the image's mapping of DeviceName or adds a device, as
// RunInstances' mappings do.
type LaunchTemplateMapping struct {
	DeviceName  string
	VirtualName string
	NoDevice    bool
	Ebs         *LaunchTemplateEbs
}

// LaunchTemplateEbs is the EBS part of a template's mapping: nil or zero
// fields keep the image's value.
type LaunchTemplateEbs struct {
	SnapshotID          string
	VolumeSize          int64
	VolumeType          string
	Iops                *int
	Throughput          *int
	DeleteOnTermination *bool
	Encrypted           *bool
	KmsKeyID            string
}

// LaunchTemplateTagSpec is the tags a launch from the template puts on
// the resources of one type (instance, volume, …).
type LaunchTemplateTagSpec struct {
	ResourceType ResourceType
	Tags         []Tag
}
