// Package images holds the rules of openami's machine images (AMIs):
// RegisterImage, DescribeImages (its filters, and those it pushes down to
// the store), image attributes and launch permissions, deprecation,
// deregistration and its protection, DisableImage and EnableImage, image
// block public access, Allowed AMIs (allowed.go), the Recycle Bin
// (recyclebin.go), GetImageAncestry, the operator's owner aliases and
// product codes (images_admin.go), kernel and ramdisk images
// (bootimages.go), CopyImage (images_copy.go) and the settling of pending
// images (images_lifecycle.go).
//
// The APIs call the exported methods of Registry with the caller's
// openami.Principal and plain Go values (api/ec2's image actions, api/rbin).
// Instances (rules/instances) use images through the few methods that
// take their caller's metadata.Tx (uses.go): the image a launch may use,
// its LastLaunchedTime, CreateImage's registration, the image an instance
// was launched from. Images reach EBS through rules/ebs's exported methods.
// When images need the background worker (a copy started, an image to
// settle), they call the functions given at construction; the worker that
// schedules the work stays in the service and calls back here
// (SettleImages, EmptyRecycleBin). Methods return *openami.Error values
// whose class and resource the API maps to wire error codes.
package images

import (
	"context"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/objects"
)

// Config is what a Registry is built from. Store, Regions, Identity, EBS
// and Tokens are required.
type Config struct {
	Store metadata.Store
	// Regions are the regions this server serves, in order.
	Regions []openami.Region
	// Identity answers region lookups.
	Identity *identity.Accounts
	// EBS checks, copies and reads the snapshots behind images
	// (rules/ebs/uses.go).
	EBS *ebs.Volumes
	// Tokens signs the NextTokens of DescribeImages and
	// ListImagesInRecycleBin.
	Tokens *pagetoken.Codec
	// Objects reads the manifests and checks the parts of bundles
	// (RegisterImage with ImageLocation); nil refuses them.
	Objects *objects.Buckets
	// Clock defaults to time.Now.
	Clock openami.Clock

	// Kick, when not nil, asks the background worker to look for work now
	// (an image to settle once its copied snapshots complete).
	Kick func()
	// Worker, when not nil, gives the context background work outlives
	// the pass that started it in (CopyImage's bundle copies): the
	// service's worker context, ended by its Close. Nil: the pass's own.
	Worker func() context.Context
	// Lease, when not nil, runs a bundle copy under the image's lease, so
	// that of several nodes exactly one copies it, and its result
	// commits only while the lease is held (docs/LEASES.md).
	Lease func(ctx context.Context, imageID string, fn func(context.Context) error) (bool, error)
}

// The tag rules every resource shares, by their names here.
var (
	validateTags = tagset.Validate
	tagMap       = tagset.Map
	mergeTags    = tagset.Merge
)

// Registry implements images over a metadata store.
type Registry struct {
	store    metadata.Store
	regions  []openami.Region
	identity *identity.Accounts
	ebs      *ebs.Volumes
	tokens   *pagetoken.Codec
	objects  *objects.Buckets
	now      openami.Clock
	kick     func()
	copies   bundleCopies // CopyImage's bundle copies under way (bundles_copy.go)
	worker   func() context.Context
	lease    func(ctx context.Context, imageID string, fn func(context.Context) error) (bool, error)
}

// New returns a Registry built from cfg.
func New(cfg Config) *Registry {
	s := &Registry{store: cfg.Store, regions: cfg.Regions, identity: cfg.Identity, ebs: cfg.EBS, tokens: cfg.Tokens,
		objects: cfg.Objects, now: cfg.Clock, kick: cfg.Kick, worker: cfg.Worker, lease: cfg.Lease}
	if s.now == nil {
		s.now = time.Now
	}
	if s.kick == nil {
		s.kick = func() {}
	}
	return s
}

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Registry) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// Page is the pagination part of a Describe request: MaxResults (0 when
// absent) and NextToken ("" when absent).
type Page = describe.Page
