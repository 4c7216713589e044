package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
	"github.com/openami/openami/rules/ebs"
)

// Background work under leases (docs/LEASES.md). Of several nodes on one
// database, each durable task is done by the one node that holds its
// lease, and taken over by another when that node dies; every
// transaction of the work carries the lease in its context and commits
// only while the lease is held (fencing, metadata/lease). On one node
// alone (the SQLite default) every lease is free, and the work runs as
// it always did.
//
// The lease names, one per task so that tasks spread over the nodes:
//
//	copy/<snapshot id>     a cross-region copy into that snapshot
//	fill/<volume id>       a volume's fill from its snapshot
//	import/<task id>       an ImportImage or ImportSnapshot task
//	export/<task id>       an ExportImage, store or restore task
//	imagecopy/<image id>   CopyImage's copy of an instance store-backed
//	                       image's bundle into the destination region
//	worker/chores          the worker's pass over shared state: snapshot
//	                       completion and expiry, the Recycle Bin, image
//	                       settling, Auto Scaling's controller, KMS key
//	                       deletion
//	objects/sweep          the sweep of object storage's unnamed blobs
//	gc/<region>            a garbage collection of the region's blocks
//
// Not here: instance state transitions and VM jobs (their instance's
// host's), bundle tasks (they bundle an instance's disks, on its host,
// and keep their own lease in their record, checked in every write),
// and the blob stores' temporary-file litter, which is each node's own.
// Block garbage collection is not the worker's: `openami gc` runs it, on
// whichever node, under gc/<region> (CollectGarbage).

// Lease names of the tasks above.
const (
	choresLease       = "worker/chores"
	objectsSweepLease = "objects/sweep"
)

func copyLease(snapshotID string) string   { return "copy/" + snapshotID }
func fillLease(volumeID string) string     { return "fill/" + volumeID }
func importLease(taskID string) string     { return "import/" + taskID }
func exportLease(taskID string) string     { return "export/" + taskID }
func imageCopyLease(imageID string) string { return "imagecopy/" + imageID }

// newLeases returns the runner of cfg's node.
func newLeases(cfg Config) *lease.Runner {
	node := cfg.NodeID
	switch {
	case node != "":
	case cfg.LocalDir != "":
		node = runnerName(cfg.LocalDir)
	default:
		b := make([]byte, 8)
		rand.Read(b)
		node = "node-" + hex.EncodeToString(b)
	}
	return lease.New(lease.Config{Store: cfg.Store, Holder: node, TTL: cfg.LeaseTTL})
}

// NodeID returns the name this node holds leases under.
func (s *Service) NodeID() string { return s.leases.Holder() }

// exportUnderLease runs an export task's run under its lease
// (exports.Config.Lease).
func (s *Service) exportUnderLease(ctx context.Context, taskID string, fn func(context.Context) error) (bool, error) {
	return s.leases.Run(ctx, exportLease(taskID), fn)
}

// imageCopyUnderLease runs CopyImage's bundle copy into imageID under
// its lease (images.Config.Lease).
func (s *Service) imageCopyUnderLease(ctx context.Context, imageID string, fn func(context.Context) error) (bool, error) {
	return s.leases.Run(ctx, imageCopyLease(imageID), fn)
}

// leaseRetention is how long a released lease is kept before the worker
// purges it (metadata.Leases.Purge): far longer than any node may be
// paused, since a purged name starts again at epoch 1.
const leaseRetention = 7 * 24 * time.Hour

// leasePurgeInterval is how often the chores purge released leases.
const leasePurgeInterval = time.Hour

// purgeLeases removes, once every leasePurgeInterval, the leases
// released more than leaseRetention ago: one is left behind by every
// task, whose name is never used again once it has ended.
func (c *completer) purgeLeases(ctx context.Context) {
	now, last := time.Now(), c.leasesPurged.Load()
	if now.Sub(time.Unix(0, last)) < leasePurgeInterval || !c.leasesPurged.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	err := c.s.store.Update(ctx, func(tx metadata.Tx) error {
		_, err := tx.Leases().Purge(leaseRetention)
		return err
	})
	if err != nil && ctx.Err() == nil {
		c.log.Error("purge released leases", "error", err)
	}
}

// choresRetry is how soon a pass that found the chores' lease held by
// another node's pass comes back: that pass may have read the state
// before the change that kicked this one.
const choresRetry = time.Second

// choresUnderLease runs the pass's chores under the chores' lease. When
// another node's pass holds it, it comes back within choresRetry, once.
func (c *completer) choresUnderLease(ctx context.Context) {
	ran, err := c.s.leases.Run(ctx, choresLease, func(ctx context.Context) error {
		c.chores(ctx)
		c.purgeLeases(ctx)
		return nil
	})
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Error("background chores", "error", err)
	case !ran && c.choresRecheck.CompareAndSwap(false, true):
		time.AfterFunc(choresRetry, func() {
			c.choresRecheck.Store(false)
			c.kick()
		})
	}
}

// resumeTasks starts the copies and fills that no node of this service
// is running: those a dead node held (their leases have expired). Each
// starts under its own lease, so a task another node runs is left to it.
// It looks once per lease TTL at most (it lists every volume): a dead
// node's lease frees no sooner. Start resumes this node's own at once.
func (c *completer) resumeTasks(ctx context.Context) {
	now, last := time.Now(), c.resumed.Load()
	if now.Sub(time.Unix(0, last)) < c.s.leases.TTL() || !c.resumed.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if err := c.s.ebs.ResumeFills(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("volume fills", "error", err)
	}
	if err := c.s.ebs.ResumeCopies(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("snapshot copies", "error", err)
	}
}

// CollectGarbage collects the garbage of one region's block store
// (ebs.Volumes.GC) under the region's lease (ebs.GCLease), as a holder of
// its own (this node's id and a random suffix, so that two `openami gc`
// on one data directory exclude each other too). It fails with an
// IncorrectState error while another collection of the region holds the
// lease; a collection whose holder died is taken over once its lease
// expires (the block store's own, longer lease is superseded). It
// returns what it did, or the collection's error.
func (s *Service) CollectGarbage(ctx context.Context, region string) (ebs.GCResult, error) {
	b := make([]byte, 4)
	rand.Read(b)
	r := lease.New(lease.Config{Store: s.store, Holder: s.leases.Holder() + "/gc-" + hex.EncodeToString(b), TTL: s.leases.TTL()})
	var res ebs.GCResult
	ran, err := r.Run(ctx, ebs.GCLease(region), func(ctx context.Context) error {
		var err error
		res, err = s.ebs.GC(ctx, region)
		return err
	})
	if err == nil && !ran {
		err = openami.Errorf(openami.IncorrectState, "", "a garbage collection of %s is already running", region)
	}
	return res, err
}
