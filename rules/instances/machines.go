// Package instances holds the rules of openami's instances: RunInstances
// (instances.go), DescribeInstances and the life cycle of Start, Stop,
// Reboot and Terminate with its state machine (instances_lifecycle.go),
// instance attributes, DescribeInstanceStatus, credit specifications,
// console output and UEFI data (instances_attrs.go), the runtime jobs
// that carry out transitions and the watcher of running VMs
// (instances_runtime.go), what the instance metadata service serves
// (InstanceMetadata), user data sealed at rest (userdata.go),
// instance-store disks over localdisk and the devices NBD serves
// (instancestore.go), instance types (instancetypes.go), AttachVolume and DetachVolume (volume_attachments.go), and CreateImage
// and CreateSnapshots, which make images and snapshots of an instance
// (images_create.go), and BundleInstance's durable tasks, which make
// instance store-backed bundles of an instance's root in a bucket
// (bundletasks.go).
//
// The APIs call the exported methods of Machines with the caller's
// openami.Principal and plain Go values (api/ec2's instance,
// attachment and CreateImage actions); the instance metadata service
// (api/imds) calls InstanceMetadata. Instances reach identity, EBS and
// images through the exported methods of rules/identity, rules/ebs and
// rules/images that take their caller's metadata.Tx; the service's tags
// ask here whether the caller owns an instance (uses.go). The runtime
// runs the instances' guests: it is handed over with UseRuntime before
// the worker starts. The worker that schedules passes stays in the
// service and calls back here (AdvanceInstances, ResealUserData, Wait);
// when instances need it (to look for work, for the context and logger
// of background jobs) they call the functions given at construction.
// Methods return *openami.Error values whose class and resource the API
// maps to wire error codes.
package instances

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/parameters"
	"github.com/openami/openami/rules/templates"
)

// Config is what Machines are built from. Store, Seal, Regions,
// Identity, EBS, Images and Tokens are required.
type Config struct {
	Store metadata.Store
	// Seal protects user data at rest (userdata.go).
	Seal *seal.Key
	// Regions are the regions this server serves, in order.
	Regions []openami.Region
	// Identity answers region and key-pair lookups.
	Identity *identity.Accounts
	// EBS makes, checks, attaches and snapshots the instances' volumes
	// (rules/ebs/uses.go).
	EBS *ebs.Volumes
	// Images says which images a launch may use and registers the images
	// of CreateImage (rules/images/uses.go).
	Images *images.Registry
	// Parameters resolves image ids given as resolve:ssm:NAME
	// (rules/parameters/uses.go); nil refuses them.
	Parameters *parameters.Parameters
	// Networks places launches in subnets and security groups and checks
	// an instance's new groups (rules/network/uses.go). Nil means
	// rules/network over the same store, identity and tokens, asking
	// these Machines for their instances (what a test wants; the service
	// builds and shares one).
	Networks *network.Networks
	// Templates resolves the launch templates of launches
	// (rules/templates/uses.go). Nil means rules/templates over the same
	// store, tokens and clock (what a test wants; the service builds and
	// shares one).
	Templates *templates.Templates
	// Tokens signs the NextTokens of DescribeInstances and
	// DescribeInstanceTypes.
	Tokens *pagetoken.Codec
	// Clock defaults to time.Now.
	Clock openami.Clock
	// Objects is object storage, where BundleInstance writes bundles; nil
	// means BundleInstance is Unsupported.
	Objects *objects.Buckets
	// Disks are the instance-store disks of this server; nil means they
	// cannot be served.
	Disks *localdisk.Disks
	// Bases is this server's cache of unpacked bundles, the bases of
	// instance store-backed instances' roots (bundleroot.go); nil means
	// they cannot launch.
	Bases *localdisk.Bases
	// Runtime runs the instances' guests; it defaults to NoneRuntime (see
	// UseRuntime).
	Runtime openami.Runtime
	// PublicIPs is the host's pool of public addresses (publicip.go);
	// DefaultPublicPool when not valid.
	PublicIPs netip.Prefix
	// Runner names this server in the leases of the bundle tasks it runs.
	// A server that keeps it across restarts (the service derives it from
	// the host and the data directory) takes back at once the tasks a
	// crash interrupted, rather than when their lease lapses. Empty: a
	// random name for this process.
	Runner string

	// Kick, when not nil, asks the background worker to look for work now
	// (an instance to move on, an image to settle).
	Kick func()
	// Worker, when not nil, returns the context the background worker
	// runs in (cancelled when the service closes) and the logger it
	// reports to: the runtime jobs an action starts (CreateImage's
	// shutdown) run in that context, and every job logs its failures
	// there. Without it jobs run in context.Background and log nowhere.
	Worker func() (context.Context, *slog.Logger)
}

// The tag rules every resource shares, by their names here.
var (
	validateTags = tagset.Validate
	sortedTags   = tagset.Sorted
	mergeTags    = tagset.Merge
)

// Machines implements instances over a metadata store and a runtime.
type Machines struct {
	store    metadata.Store
	seal     *seal.Key
	regions  []openami.Region
	identity *identity.Accounts
	ebs      *ebs.Volumes
	images   *images.Registry
	params   *parameters.Parameters
	networks *network.Networks
	// templates resolves the launch templates of launches.
	templates *templates.Templates
	tokens    *pagetoken.Codec
	now       openami.Clock
	objects   *objects.Buckets
	disks     *localdisk.Disks // instance-store disks; nil without a data directory
	bases     *localdisk.Bases // unpacked bundles; nil without a data directory
	runtime   openami.Runtime
	// publicPool is the host's pool of public addresses.
	publicPool netip.Prefix
	kick       func()
	worker     func() (context.Context, *slog.Logger)
	vmJobs     vmJobs
	// hosts is this node as a compute host (hosts.go); none until
	// RegisterHost.
	hosts      hostState
	bundleRuns bundleRuns
}

// New returns Machines built from cfg.
func New(cfg Config) *Machines {
	s := &Machines{store: cfg.Store, seal: cfg.Seal, regions: cfg.Regions, identity: cfg.Identity, ebs: cfg.EBS,
		images: cfg.Images, params: cfg.Parameters, networks: cfg.Networks, tokens: cfg.Tokens, now: cfg.Clock, objects: cfg.Objects, disks: cfg.Disks, bases: cfg.Bases, runtime: cfg.Runtime,
		kick: cfg.Kick, worker: cfg.Worker, publicPool: cfg.PublicIPs, templates: cfg.Templates}
	s.bundleRuns.id = cfg.Runner
	if !s.publicPool.IsValid() || !s.publicPool.Addr().Is4() {
		s.publicPool = DefaultPublicPool
	}
	s.publicPool = s.publicPool.Masked()
	if s.now == nil {
		s.now = time.Now
	}
	if s.networks == nil {
		s.networks = network.New(network.Config{Store: s.store, Identity: s.identity, Tokens: s.tokens, Instances: s.LiveInstances})
	}
	if s.templates == nil {
		tc := templates.Config{Store: s.store, Tokens: s.tokens, Clock: s.now}
		if s.params != nil {
			tc.ResolveSSM = s.params.ResolveSSM
		}
		s.templates = templates.New(tc)
	}
	if s.runtime == nil {
		s.runtime = NoneRuntime{}
	}
	if s.kick == nil {
		s.kick = func() {}
	}
	if s.worker == nil {
		discard := slog.New(slog.NewTextHandler(io.Discard, nil))
		s.worker = func() (context.Context, *slog.Logger) { return context.Background(), discard }
	}
	return s
}

// UseRuntime makes rt run the instances in place of the one they were
// built with. It must be called before the worker starts, with a non-nil
// rt: the worker and the instance operations read the runtime without a
// lock.
func (s *Machines) UseRuntime(rt openami.Runtime) { s.runtime = rt }

// log returns the logger of the background worker.
func (s *Machines) log() *slog.Logger {
	_, log := s.worker()
	return log
}

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Machines) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// Page is the pagination part of a Describe request: MaxResults (0 when
// absent) and NextToken ("" when absent).
type Page = describe.Page

// resolveImage returns the image id a launch names: id, or, for
// resolve:ssm:NAME, the parameter's value (rules/parameters), in tx.
func (s *Machines) resolveImage(tx metadata.Tx, p openami.Principal, id string) (string, error) {
	if !strings.HasPrefix(id, parameters.ResolvePrefix) {
		return id, nil
	}
	if s.params == nil {
		return "", openami.Errorf(openami.Unsupported, openami.ResourceParameter, "This server resolves no SSM parameters.")
	}
	return s.params.ResolveImageIn(tx, p, id)
}
