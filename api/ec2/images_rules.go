package ec2

import (
	"context"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
)

// Images is what the EC2 API calls, and all it calls, of the rules of
// images (*images.Registry of rules/images, which api.New takes from the
// service): registration, description, attributes and launch
// permissions, the lifecycle of images, Allowed AMIs, CopyImage and the
// images of the Recycle Bin. CreateImage makes an image of an instance
// and stays with the service. Every method takes the caller's principal
// and returns *openami.Error values this package maps to error codes
// (errors.go).
type Images interface {
	RegisterImage(ctx context.Context, p openami.Principal, in images.RegisterImageInput) (string, error)
	DescribeImages(ctx context.Context, p openami.Principal, in images.DescribeImagesInput) ([]images.ImageView, string, error)
	DeregisterImage(ctx context.Context, p openami.Principal, id string, deleteSnapshots bool) ([]images.DeleteSnapshotResult, error)
	DescribeImageAttribute(ctx context.Context, p openami.Principal, id, attribute string) (images.ImageAttribute, error)
	ModifyImageAttribute(ctx context.Context, p openami.Principal, in images.ModifyImageAttributeInput) error
	ResetImageAttribute(ctx context.Context, p openami.Principal, id, attribute string) error
	CancelImageLaunchPermission(ctx context.Context, p openami.Principal, id string) error
	ImageAncestry(ctx context.Context, p openami.Principal, id string) ([]openami.Image, error)
	CopyImage(ctx context.Context, p openami.Principal, in images.CopyImageInput) (string, error)

	EnableImageDeprecation(ctx context.Context, p openami.Principal, id string, at time.Time) error
	DisableImageDeprecation(ctx context.Context, p openami.Principal, id string) error
	EnableImageDeregistrationProtection(ctx context.Context, p openami.Principal, id string, withCooldown bool) (openami.DeregistrationProtection, error)
	DisableImageDeregistrationProtection(ctx context.Context, p openami.Principal, id string) (openami.DeregistrationProtection, error)
	DisableImage(ctx context.Context, p openami.Principal, id string) error
	EnableImage(ctx context.Context, p openami.Principal, id string) error
	ImageBlockPublicAccess(ctx context.Context, p openami.Principal) (string, error)
	SetImageBlockPublicAccess(ctx context.Context, p openami.Principal, state string) error

	AllowedImagesSettings(ctx context.Context, p openami.Principal) (images.AllowedImages, error)
	SetAllowedImagesState(ctx context.Context, p openami.Principal, state string) error
	ReplaceImageCriteria(ctx context.Context, p openami.Principal, criteria []images.ImageCriterion) error

	ImagesInRecycleBin(ctx context.Context, p openami.Principal, imageIDs []string, pg images.Page) ([]openami.Image, string, error)
	RestoreImageFromRecycleBin(ctx context.Context, p openami.Principal, id string) error
}

// The rules of rules/images are what this package needs.
var _ Images = (*images.Registry)(nil)
