package ec2

import (
	"context"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/ebs"
)

// EBS is what the EC2 API calls, and all it calls, of the rules of EBS
// (*ebs.Volumes of rules/ebs, which api.New takes from the service):
// snapshots, volumes and EBS encryption. Attaching and detaching volumes
// changes instances too, and stays with the service. Every method takes
// the caller's principal and returns *openami.Error values this package
// maps to error codes (errors.go).
type EBS interface {
	CreateSnapshot(ctx context.Context, p openami.Principal, volumeID, description string, tags []openami.Tag) (ebs.SnapshotView, error)
	DescribeSnapshots(ctx context.Context, p openami.Principal, in ebs.DescribeSnapshotsInput) ([]ebs.SnapshotView, string, error)
	DeleteSnapshot(ctx context.Context, p openami.Principal, id string) error
	CopySnapshot(ctx context.Context, p openami.Principal, in ebs.CopySnapshotInput) (ebs.SnapshotView, error)
	DescribeSnapshotAttribute(ctx context.Context, p openami.Principal, id, attribute string) ([]ebs.Permission, error)
	ModifySnapshotAttribute(ctx context.Context, p openami.Principal, id string, add, remove []ebs.Permission) error
	ModifySnapshotTier(ctx context.Context, p openami.Principal, id string, tier openami.StorageTier) (time.Time, error)
	RestoreSnapshotTier(ctx context.Context, p openami.Principal, in ebs.RestoreInput) (ebs.Restore, error)
	DescribeSnapshotTierStatus(ctx context.Context, p openami.Principal, filters []filter.Filter, pg ebs.Page) ([]ebs.SnapshotView, string, error)
	ResetSnapshotAttribute(ctx context.Context, p openami.Principal, id, attribute string) error

	CreateVolume(ctx context.Context, p openami.Principal, in ebs.CreateVolumeInput) (ebs.VolumeView, error)
	DescribeVolumes(ctx context.Context, p openami.Principal, volumeIDs []string, filters []filter.Filter, pg ebs.Page) ([]ebs.VolumeView, string, error)
	DeleteVolume(ctx context.Context, p openami.Principal, id string) error
	ModifyVolume(ctx context.Context, p openami.Principal, in ebs.ModifyVolumeInput) (before, after openami.Volume, err error)

	GetEbsEncryptionByDefault(ctx context.Context, p openami.Principal) (bool, error)
	SetEbsEncryptionByDefault(ctx context.Context, p openami.Principal, on bool) (bool, error)
	GetEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal) (string, error)
	ModifyEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal, keyID string) (string, error)
	ResetEbsDefaultKmsKeyID(ctx context.Context, p openami.Principal) (string, error)
}

// The rules of rules/ebs are what this package needs.
var _ EBS = (*ebs.Volumes)(nil)
