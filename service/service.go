// Package service composes openami's subsystems. New builds the rules of
// each (rules/identity, rules/kms, rules/ebs, rules/images,
// rules/instances), wires the calls one makes upward as functions, and
// hands each out through an accessor (Identity, KMS, EBS, Images,
// Instances). What stays here stands above every subsystem: the
// background worker (worker.go, ebs_work.go), which schedules passes and
// background work and calls the subsystems back for the work itself, and
// tags (tags.go), which check the ownership of every type of resource.
//
// The API layer decodes a request, calls one method of a subsystem (or
// of tags here) with the caller's openami.Principal and plain Go values,
// and encodes the result; it decides nothing. Methods return
// *openami.Error values whose class (and resource type) the API layer
// maps to wire error codes.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
	"github.com/openami/openami/rules/autoscaling"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/exports"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/imports"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/parameters"
	"github.com/openami/openami/rules/templates"
)

// Config is what a Service is built from. Store, Seal and Regions are
// required.
type Config struct {
	Store metadata.Store
	// Seal protects access-key secrets and KMS key material at rest.
	Seal *seal.Key
	// Regions are the regions this server serves, in order.
	Regions []openami.Region
	// Blobs is the blob store of each region's block store; every served
	// region needs one.
	Blobs map[string]blob.Store
	// Clock defaults to time.Now.
	Clock openami.Clock
	// LocalDir is this server's own directory (the data directory), where
	// instance-store disks live; empty means they cannot be served.
	LocalDir string
	// ImportDir holds the disk files of running import tasks ("": the
	// system's temporary directory).
	ImportDir string
	// ImportWorkers is how many import tasks run at once (0: 1).
	ImportWorkers int
	// ServeImportFile serves a disk file read-only over NBD to the
	// import's qemu programs (imports.Config.ServeFile; nil: none).
	ServeImportFile func(ctx context.Context, f *os.File, l net.Listener) error
	// BundleCacheSize bounds the cache of unpacked bundles under LocalDir
	// (localdisk.Bases, the bases of instance store-backed roots), in
	// bytes; 0 means localdisk.DefaultBasesSize.
	BundleCacheSize int64
	// PublicIPs is the pool of instances' public addresses;
	// instances.DefaultPublicPool when not valid.
	PublicIPs netip.Prefix
	// NodeID names this node in the leases of the work it does
	// (docs/LEASES.md): unique among the nodes on one database and the
	// same across this node's restarts. "" means runnerName(LocalDir),
	// or a random name when LocalDir is "" too.
	NodeID string
	// LeaseTTL is how long a lease of background work lives without
	// renewal: how soon another node takes over a dead node's work
	// (0: lease.DefaultTTL). Tests shorten it.
	LeaseTTL time.Duration
	// Wakeups, when not nil, carries wake-ups to compute hosts
	// (wakeups.go; serve sets metadata/postgres' on PostgreSQL).
	Wakeups Wakeups
}

// Service implements openami's operations over a metadata store.
type Service struct {
	store       metadata.Store
	seal        *seal.Key
	regions     []openami.Region
	now         openami.Clock
	tokens      *pagetoken.Codec
	completions *completer
	leases      *lease.Runner // runs background work under leases (leases.go)
	wakeups     Wakeups       // Config.Wakeups (wakeups.go)

	identity *identity.Accounts // accounts, access keys, key pairs, regions (rules/identity)

	objects *objects.Buckets // buckets, objects, multipart uploads, ACLs, bucket policies (rules/objects)

	network *network.Networks // VPCs, subnets, security groups (rules/network)

	kms *kms.Keys // KMS keys, aliases, policies and grants (rules/kms)

	ebs *ebs.Volumes // snapshots, volumes, their encryption and block I/O (rules/ebs)

	images *images.Registry // images, Allowed AMIs and the Recycle Bin (rules/images)

	parameters  *parameters.Parameters // SSM parameters (rules/parameters)
	imports     *imports.Imports       // ImportImage and ImportSnapshot tasks (rules/imports)
	importKicks chan struct{}
	importSlots chan struct{} // one per import task that may run at once

	templates *templates.Templates // launch templates (rules/templates)

	autoscaling *autoscaling.Groups // Auto Scaling groups (rules/autoscaling)

	instances *instances.Machines // instances, their runtime jobs and the default network (rules/instances)

	exports *exports.Exports // ExportImage tasks (rules/exports)
}

// tokenSecretSetting names the setting that holds the secret signing
// pagination tokens. It is shared through the store so that every server
// and CLI process on one database honours the others' tokens.
const tokenSecretSetting = "pagetoken-secret"

// DefaultBundleCacheSize is the default bound of the cache of unpacked
// bundles (serve's --bundle-cache-size).
const DefaultBundleCacheSize = localdisk.DefaultBasesSize

// New returns a Service. It fails if the store cannot be read or written.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Seal == nil || len(cfg.Regions) == 0 {
		return nil, fmt.Errorf("service: Store, Seal and Regions are required")
	}
	s := &Service{store: cfg.Store, seal: cfg.Seal, regions: cfg.Regions, now: cfg.Clock, wakeups: cfg.Wakeups}
	for _, r := range cfg.Regions {
		if _, ok := cfg.Blobs[r.Name]; !ok {
			return nil, fmt.Errorf("service: no blob store for region %s", r.Name)
		}
	}
	s.completions = newCompleter(s)
	s.leases = newLeases(cfg)
	var (
		disks  *localdisk.Disks
		bases  *localdisk.Bases
		runner string
	)
	if cfg.LocalDir != "" {
		runner = runnerName(cfg.LocalDir)
		disks = localdisk.New(cfg.LocalDir)
		size := cfg.BundleCacheSize
		if size == 0 {
			size = DefaultBundleCacheSize
		}
		var err error
		if bases, err = localdisk.NewBases(cfg.LocalDir, size); err != nil {
			return nil, fmt.Errorf("service: %w", err)
		}
	}
	if cfg.NodeID != "" {
		runner = cfg.NodeID // the bundle tasks' record leases name the node too
	}
	if s.now == nil {
		s.now = time.Now
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	var secret []byte
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		var err error
		secret, err = tx.Settings().PutIfAbsent(tokenSecretSetting, fresh)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("service: pagination secret: %w", err)
	}
	s.tokens = pagetoken.New(secret)
	s.identity = identity.New(identity.Config{Store: s.store, Seal: s.seal, Regions: s.regions, Clock: s.now})
	s.objects = objects.New(objects.Config{Store: s.store, Regions: s.regions, Blobs: cfg.Blobs, Clock: s.now})
	s.network = network.New(network.Config{Store: s.store, Identity: s.identity, Tokens: s.tokens,
		Instances: func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error) {
			return s.instances.LiveInstances(tx, region, accountID)
		}})
	s.kms = kms.New(kms.Config{Store: s.store, Seal: s.seal, Regions: s.regions, Tokens: s.tokens, Clock: s.now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return s.ebs.ForgetDataKey(tx, k) }})
	s.ebs, err = ebs.New(ebs.Config{Store: s.store, Regions: s.regions, Blobs: cfg.Blobs, Identity: s.identity, KMS: s.kms,
		Tokens: s.tokens, Clock: s.now, Kick: s.completions.kick, Copy: s.copyInBackground, Fill: s.fillVolumeInBackground,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return s.images.UsingSnapshot(tx, region, snapshotID)
		},
		EnabledImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return s.images.EnabledUsingSnapshot(tx, region, snapshotID)
		},
		InstanceMayRun: func(tx metadata.Tx, region, instanceID string) (bool, error) {
			return s.instances.MayRun(tx, region, instanceID)
		},
		FlushElsewhere: func(ctx context.Context, region, volumeID string) error {
			return s.instances.FlushVolumeHost(ctx, region, volumeID)
		}})
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	s.images = images.New(images.Config{Store: s.store, Regions: s.regions, Identity: s.identity, EBS: s.ebs, Tokens: s.tokens,
		Objects: s.objects, Clock: s.now, Kick: s.completions.kick, Worker: s.completions.context, Lease: s.imageCopyUnderLease})
	s.parameters = parameters.New(parameters.Config{Store: s.store, Identity: s.identity, Images: s.images, Tokens: s.tokens, Clock: s.now})
	s.importKicks = make(chan struct{}, 1)
	s.importSlots = make(chan struct{}, max(cfg.ImportWorkers, 1))
	s.imports = imports.New(imports.Config{Store: s.store, EBS: s.ebs, Images: s.images, Objects: s.objects, Tokens: s.tokens,
		TempDir: cfg.ImportDir, Kick: s.kickImports, Clock: s.now, ServeFile: cfg.ServeImportFile})
	s.templates = templates.New(templates.Config{Store: s.store, Tokens: s.tokens, Clock: s.now, ResolveSSM: s.parameters.ResolveSSM})
	var wakeHost func(string)
	if s.wakeups != nil {
		wakeHost = s.wakeHost
	}
	s.instances = instances.New(instances.Config{Store: s.store, Seal: s.seal, Regions: s.regions, Identity: s.identity,
		EBS: s.ebs, Images: s.images, Parameters: s.parameters, Networks: s.network, Templates: s.templates, Objects: s.objects, Tokens: s.tokens, Clock: s.now,
		Disks: disks, Bases: bases, Kick: s.completions.kick, PublicIPs: cfg.PublicIPs, Worker: s.completions.background, Runner: runner, WakeHost: wakeHost})
	s.autoscaling = autoscaling.New(autoscaling.Config{Store: s.store, Identity: s.identity, Networks: s.network, Templates: s.templates,
		Instances: s.instances, Clock: s.now, Kick: s.completions.kick})
	s.exports = exports.New(exports.Config{Store: s.store, Images: s.images, EBS: s.ebs, Objects: s.objects, Tokens: s.tokens,
		Clock: s.now, Kick: s.completions.kick, Worker: s.completions.background, Lease: s.exportUnderLease})
	return s, nil
}

// Exports returns the service's ExportImage tasks, whose rules live in
// rules/exports.
func (s *Service) Exports() *exports.Exports { return s.exports }

// Network returns the service's VPCs, subnets and security groups, whose
// rules live in rules/network.
func (s *Service) Network() *network.Networks { return s.network }

// Identity returns the service's accounts, access keys, key pairs,
// regions and zones, whose rules live in rules/identity.
func (s *Service) Identity() *identity.Accounts { return s.identity }

// Objects returns the service's object storage: buckets, objects,
// multipart uploads, ACLs and bucket policies, whose rules live in
// rules/objects.
func (s *Service) Objects() *objects.Buckets { return s.objects }

// KMS returns the service's KMS: keys, aliases, key policies, grants and
// the cryptographic operations, whose rules live in rules/kms.
func (s *Service) KMS() *kms.Keys { return s.kms }

// EBS returns the service's snapshots and volumes, their encryption and
// block I/O, whose rules live in rules/ebs.
func (s *Service) EBS() *ebs.Volumes { return s.ebs }

// Images returns the service's images, Allowed AMIs and Recycle Bin,
// whose rules live in rules/images.
func (s *Service) Images() *images.Registry { return s.images }

// Imports returns the service's import tasks, whose rules live in
// rules/imports.
func (s *Service) Imports() *imports.Imports { return s.imports }

// Parameters returns the service's SSM parameters, whose rules live in
// rules/parameters.
func (s *Service) Parameters() *parameters.Parameters { return s.parameters }

// Instances returns the service's instances, their runtime jobs,
// instance types and the default network, whose rules live in
// rules/instances.
func (s *Service) Instances() *instances.Machines { return s.instances }

// Templates returns the service's launch templates, whose rules live in
// rules/templates.
func (s *Service) Templates() *templates.Templates { return s.templates }

// AutoScaling returns the service's Auto Scaling groups, whose rules and
// controller live in rules/autoscaling (the worker runs the controller).
func (s *Service) AutoScaling() *autoscaling.Groups { return s.autoscaling }

// UseRuntime makes rt run the service's instances in place of
// instances.NoneRuntime, passing it on to rules/instances. It must be
// called before Start, with a non-nil rt: the worker and the instance
// operations read the runtime without a lock. A runtime that needs the
// service (its metadata service, Kick, BootFile) is built after New and
// handed over here, so that the two are wired in a plain order.
func (s *Service) UseRuntime(rt openami.Runtime) { s.instances.UseRuntime(rt) }

// Page is the pagination part of a Describe request: MaxResults (0 when
// absent) and NextToken ("" when absent).
type Page = describe.Page

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Service) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// runnerName names this server in the leases of the tasks it runs, the
// same across its restarts: a hash of the host's name and the data
// directory's absolute path (one server per data directory), so that a
// server restarted after a crash takes its own interrupted tasks back at
// once.
func runnerName(localDir string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(localDir); err == nil {
		localDir = abs
	}
	sum := sha256.Sum256([]byte(host + "\x00" + localDir))
	return "runner-" + hex.EncodeToString(sum[:8])
}
