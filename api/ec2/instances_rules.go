package ec2

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/instances"
)

// Instances is what the EC2 API calls, and all it calls, of the rules of
// instances (*instances.Machines of rules/instances, which api.New takes
// from the service): launches and the life cycle of instances, their
// attributes and status, volume attachments, CreateImage and
// CreateSnapshots and instance types. Every method
// takes the caller's principal and returns *openami.Error values this
// package maps to error codes (errors.go).
type Instances interface {
	RunInstances(ctx context.Context, p openami.Principal, in instances.RunInstancesInput) (instances.Reservation, error)
	GetLaunchTemplateData(ctx context.Context, p openami.Principal, instanceID string) (openami.LaunchTemplateData, error)
	DescribeInstances(ctx context.Context, p openami.Principal, instanceIDs []string, filters []filter.Filter, words instances.TransitionWords, pg instances.Page) ([]instances.Reservation, string, error)
	StartInstances(ctx context.Context, p openami.Principal, instanceIDs []string) ([]instances.StateChange, error)
	StopInstances(ctx context.Context, p openami.Principal, instanceIDs []string, force bool) ([]instances.StateChange, error)
	TerminateInstances(ctx context.Context, p openami.Principal, instanceIDs []string) ([]instances.StateChange, error)
	RebootInstances(ctx context.Context, p openami.Principal, instanceIDs []string) error

	DescribeInstanceAttribute(ctx context.Context, p openami.Principal, id, attribute string) (openami.Instance, error)
	ModifyInstanceAttribute(ctx context.Context, p openami.Principal, in instances.ModifyInstanceAttributeInput) error
	MonitorInstances(ctx context.Context, p openami.Principal, instanceIDs []string, enable bool) ([]instances.Monitoring, error)
	ModifyInstanceMetadataOptions(ctx context.Context, p openami.Principal, id string, change openami.MetadataOptions) (openami.MetadataOptions, error)
	ConsoleOutput(ctx context.Context, p openami.Principal, id string) (openami.Instance, []byte, error)
	InstanceUefiData(ctx context.Context, p openami.Principal, id string) (string, error)
	InstanceCreditSpecifications(ctx context.Context, p openami.Principal, instanceIDs []string) ([]instances.CreditSpecification, error)
	DescribeInstanceStatus(ctx context.Context, p openami.Principal, instanceIDs []string, all bool, filters []filter.Filter, pg instances.Page) ([]instances.InstanceStatus, string, error)

	AttachVolume(ctx context.Context, p openami.Principal, volumeID, instanceID, device string) (instances.Attachment, error)
	DetachVolume(ctx context.Context, p openami.Principal, volumeID, instanceID, device string) (instances.Attachment, error)
	CreateImage(ctx context.Context, p openami.Principal, in instances.CreateImageInput) (string, error)
	CreateSnapshots(ctx context.Context, p openami.Principal, in instances.CreateSnapshotsInput) ([]ebs.SnapshotView, error)
	BundleInstance(ctx context.Context, p openami.Principal, in instances.BundleInstanceInput) (openami.BundleTask, error)
	DescribeBundleTasks(ctx context.Context, p openami.Principal, bundleIDs []string, filters []filter.Filter) ([]openami.BundleTask, error)
	CancelBundleTask(ctx context.Context, p openami.Principal, id string) (openami.BundleTask, error)

	DescribeInstanceTypes(ctx context.Context, p openami.Principal, names []string, filters []filter.Filter, pg instances.Page) ([]instances.InstanceType, string, error)
	DescribeInstanceTypeOfferings(ctx context.Context, p openami.Principal, locationType string, filters []filter.Filter, pg instances.Page) ([]instances.Offering, string, error)
}

// The rules of rules/instances are what this package needs.
var _ Instances = (*instances.Machines)(nil)
