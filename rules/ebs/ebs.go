// Package ebs holds the rules of openami's Elastic Block Store: snapshots
// (the EBS direct API's StartSnapshot, PutSnapshotBlock, CompleteSnapshot,
// the block listings and GetSnapshotBlock; EC2's CreateSnapshot,
// CopySnapshot, DeleteSnapshot, DescribeSnapshots and snapshot attributes),
// volumes (CreateVolume, DescribeVolumes, DeleteVolume, ModifyVolume, block
// I/O and the VolumeDevice behind NBD), the work of copies and fills, EBS
// encryption (default key, encryption by default, data keys; through
// rules/kms) and the block mechanics they share over each region's block
// store: storing chunks, committing them under the block store's liveness
// rules, and which records keep chunks alive (gc.go's Roots).
// docs/BLOCKSTORE.md and docs/ENCRYPTION.md describe the whole.
//
// The APIs call the exported methods of Volumes with the caller's
// openami.Principal and plain Go values (api/ebs, and api/ec2's snapshot,
// volume and encryption actions). Images (rules/images) and instances
// (rules/instances) use EBS through the few methods that take their
// caller's metadata.Tx (uses.go), and never read or write EBS's records
// themselves; EBS, which stands below them, asks images which of them
// use a snapshot through Config.ImagesUsing and instances whether the
// instance a volume is attached to may run through Config.InstanceMayRun. When EBS starts background work (a copy, a fill)
// or needs the worker to look for work, it calls the functions it was
// given at construction: the worker that schedules the work stays in the
// service, and calls back here for the work itself (CopyInto,
// FillVolume). Methods return *openami.Error values whose class and
// resource the API maps to wire error codes.
package ebs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/kms"
)

// Config is what Volumes are built from. Store, Regions, Blobs, Identity,
// KMS and Tokens are required.
type Config struct {
	Store metadata.Store
	// Regions are the regions this server serves, in order; each needs a
	// blob store in Blobs.
	Regions []openami.Region
	// Blobs is the blob store of each region's block store.
	Blobs map[string]blob.Store
	// Identity answers region lookups.
	Identity *identity.Accounts
	// KMS resolves, authorizes and uses the keys of encrypted snapshots
	// and volumes (rules/kms/uses.go).
	KMS *kms.Keys
	// Tokens signs the NextTokens of the Describe actions and the block
	// listings.
	Tokens *pagetoken.Codec
	// Clock defaults to time.Now.
	Clock openami.Clock

	// Kick, when not nil, asks the background worker to look for work now
	// (a snapshot completing, a copy or fill that ended).
	Kick func()
	// Copy, when not nil, starts copying src into the pending snapshot
	// dst in the background (recorded with RecordCopy): the worker calls
	// CopyInto. Without it, copies wait for a restart's ResumeCopies.
	Copy func(src, dst openami.Snapshot)
	// Fill, when not nil, starts filling a creating volume in the
	// background (recorded with RecordFill): the worker calls FillVolume.
	Fill func(region, volumeID string)
	// ImagesUsing, when not nil, returns in tx the ids of the images of
	// the region whose mappings use the snapshot (rules/images'
	// UsingSnapshot), which DeleteSnapshot refuses to delete. Without it
	// no image holds a snapshot.
	ImagesUsing func(tx metadata.Tx, region, snapshotID string) ([]string, error)
	// EnabledImagesUsing, when not nil, returns in tx the ids of the
	// images of the region that use the snapshot and are not disabled
	// (rules/images' EnabledUsingSnapshot): ModifySnapshotTier refuses to
	// archive a snapshot they use. Without it no image holds a snapshot.
	EnabledImagesUsing func(tx metadata.Tx, region, snapshotID string) ([]string, error)
	// InstanceMayRun, when not nil, reports in tx whether the instance of
	// the region exists and is pending, running or stopping, so that its
	// VM may run and use its volumes' devices (rules/instances' MayRun);
	// false, with no error, for one that does not exist. Without it no
	// instance runs, and no volume device opens.
	InstanceMayRun func(tx metadata.Tx, region, instanceID string) (bool, error)
	// FlushElsewhere, when not nil, has the node that holds a volume's
	// device open, when that is another node (the host of the instance
	// it is attached to), flush it before CreateSnapshot takes the
	// snapshot (rules/instances' FlushVolumeHost). Without it a snapshot
	// holds what this node's devices flushed.
	FlushElsewhere func(ctx context.Context, region, volumeID string) error
}

// Volumes implements EBS over a metadata store and each region's block
// store: snapshots, volumes, their encryption and their block I/O.
type Volumes struct {
	store       metadata.Store
	regions     []openami.Region
	identity    *identity.Accounts
	kms         *kms.Keys
	tokens      *pagetoken.Codec
	now         openami.Clock
	blockStores map[string]*regionBlocks
	maps        *blockstore.Maps
	kick        func()
	copy        func(src, dst openami.Snapshot)
	fill        func(region, volumeID string)
	imagesUsing func(tx metadata.Tx, region, snapshotID string) ([]string, error)
	// enabledImagesUsing is Config.EnabledImagesUsing.
	enabledImagesUsing func(tx metadata.Tx, region, snapshotID string) ([]string, error)
	// instanceMayRun is Config.InstanceMayRun.
	instanceMayRun func(tx metadata.Tx, region, instanceID string) (bool, error)
	// flushElsewhere is Config.FlushElsewhere.
	flushElsewhere func(ctx context.Context, region, volumeID string) error

	dataKeys dataKeys // unwrapped EBS data keys (ebs_encryption.go)

	devicesMu sync.Mutex
	devices   map[string]*VolumeDevice // open volume devices, by volume id
}

// mapCacheBytes bounds the cache of decoded block-map nodes shared by all
// regions: enough for the maps of many large volumes, and constant.
const mapCacheBytes = 32 << 20

// New returns Volumes built from cfg. It fails if a served region has no
// blob store.
func New(cfg Config) (*Volumes, error) {
	s := &Volumes{store: cfg.Store, regions: cfg.Regions, identity: cfg.Identity, kms: cfg.KMS, tokens: cfg.Tokens, now: cfg.Clock,
		blockStores: map[string]*regionBlocks{}, maps: blockstore.NewMaps(mapCacheBytes), devices: map[string]*VolumeDevice{},
		kick: cfg.Kick, copy: cfg.Copy, fill: cfg.Fill, imagesUsing: cfg.ImagesUsing, enabledImagesUsing: cfg.EnabledImagesUsing,
		instanceMayRun: cfg.InstanceMayRun, flushElsewhere: cfg.FlushElsewhere}
	if s.now == nil {
		s.now = time.Now
	}
	s.dataKeys.recheck = dataKeyRecheck
	if s.kick == nil {
		s.kick = func() {}
	}
	if s.copy == nil {
		s.copy = func(src, dst openami.Snapshot) {}
	}
	if s.fill == nil {
		s.fill = func(region, volumeID string) {}
	}
	if s.imagesUsing == nil {
		s.imagesUsing = func(metadata.Tx, string, string) ([]string, error) { return nil, nil }
	}
	if s.instanceMayRun == nil {
		s.instanceMayRun = func(metadata.Tx, string, string) (bool, error) { return false, nil }
	}
	for _, r := range cfg.Regions {
		b, ok := cfg.Blobs[r.Name]
		if !ok {
			return nil, fmt.Errorf("ebs: no blob store for region %s", r.Name)
		}
		s.blockStores[r.Name] = s.newRegionBlocks(r.Name, b)
	}
	return s, nil
}

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Volumes) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// Page is the pagination part of a Describe request: MaxResults (0 when
// absent) and NextToken ("" when absent).
type Page = describe.Page
