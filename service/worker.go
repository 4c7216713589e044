package service

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openami/openami/rules/objects"
)

// completer runs the service's background work: it builds the block maps
// of snapshots whose blocks are all in (CompleteSnapshot, copies), turns
// pending snapshots past their deadline to error, and runs cross-region
// copies. Its state is the metadata store itself (Snapshot.Completing,
// Snapshot.Deadline), so after a restart it finds and finishes whatever a
// crash interrupted.
type completer struct {
	s     *Service
	kicks chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	loop   bool
	// running holds the ids of the volumes being filled and the snapshots
	// being copied in the background, so that each runs once.
	running map[string]bool
	// objectsSwept is when the last sweep of object storage's unnamed
	// blobs began (unix nanoseconds); it runs every objectSweepInterval.
	objectsSwept atomic.Int64
	// litterCleaned is when the last clean of the blob stores' temporary
	// files began (unix nanoseconds); see cleanLitter.
	litterCleaned atomic.Int64
	// groupsRecheck is set while a pass for Auto Scaling is scheduled.
	groupsRecheck atomic.Bool
	// resumed is when resumeTasks last looked for tasks no node runs
	// (unix nanoseconds; the completer's creation at first).
	resumed atomic.Int64
	// leasesPurged is when the chores last purged released leases (unix
	// nanoseconds; see purgeLeases).
	leasesPurged atomic.Int64
	// choresRecheck is set while a pass is scheduled because another
	// node's pass held the chores' lease (choresUnderLease).
	choresRecheck atomic.Bool
}

// claim marks the background job of id as running, and reports false if
// it already was.
func (c *completer) claim(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[id] {
		return false
	}
	if c.running == nil {
		c.running = map[string]bool{}
	}
	c.running[id] = true
	return true
}

// release marks the background job of id as done.
func (c *completer) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, id)
}

func newCompleter(s *Service) *completer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &completer{s: s, kicks: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c.resumed.Store(time.Now().UnixNano())
	return c
}

// kick asks the completer to look for work now.
func (c *completer) kick() {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

// context returns the context background work runs in; Close cancels it.
func (c *completer) context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

// background returns the context background work runs in and the logger
// it reports to (rules/instances' runtime jobs ask, through
// instances.Config.Worker).
func (c *completer) background() (context.Context, *slog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx, c.log
}

// Kick asks the background worker to look for work now, e.g. because a
// VM ended on its own. It never blocks.
func (s *Service) Kick() { s.completions.kick() }

// sweepInterval is how often the completer looks for expired snapshots
// even when nothing kicks it.
const sweepInterval = 30 * time.Second

// Start runs the service's background work until Close: finishing
// completed snapshots (including those a crash left half-done) and
// expiring abandoned ones. log receives what fails.
func (s *Service) Start(ctx context.Context, log *slog.Logger) {
	c := s.completions
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loop {
		return
	}
	c.loop, c.log = true, log
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s.importsLoop()
	}()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// User data left in plain by a version before it was sealed.
		if n, err := s.instances.ResealUserData(c.ctx, nil); err != nil && c.ctx.Err() == nil {
			log.Error("sealing user data", "error", err)
		} else if n > 0 {
			log.Info("sealed user data left in plain", "instances", n)
		}
		if err := s.ebs.ResumeFills(c.ctx); err != nil && c.ctx.Err() == nil {
			log.Error("volume fills", "error", err)
		}
		if err := s.ebs.ResumeCopies(c.ctx); err != nil && c.ctx.Err() == nil {
			log.Error("snapshot copies", "error", err)
		}
	}()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// At least once per lease TTL, to take over a dead node's tasks.
		t := time.NewTicker(min(sweepInterval, s.leases.TTL()))
		defer t.Stop()
		for {
			c.sweep(c.ctx)
			select {
			case <-c.ctx.Done():
				return
			case <-ctx.Done():
				return
			case <-c.kicks:
			case <-t.C:
			}
		}
	}()
	c.kick()
}

// Close stops the background work and waits for it, runtime jobs
// included.
func (s *Service) Close() {
	c := s.completions
	c.cancel()
	c.wg.Wait()
	s.instances.Wait()
	s.images.Wait()
	s.exports.Wait()
}

// pass is one sweep that also waits for the runtime jobs it started
// (tests use it to see a sweep's whole effect).
func (c *completer) pass(ctx context.Context) {
	c.sweep(ctx)
	c.s.instances.Wait()
	c.s.images.Wait()
	c.s.exports.Wait()
}

// sweep runs one pass of the background work: it resumes the copies
// and fills no node runs (each under its own lease), runs the chores
// over shared state under the chores' lease (chores), moves instances in
// transition on (starting runtime jobs, which it does not wait for),
// starts bundle and export tasks, and now and then sweeps object storage
// and cleans the blob stores' litter. What fails is logged and left for
// the next pass; it does not hold up the rest.
func (c *completer) sweep(ctx context.Context) {
	c.resumeTasks(ctx)
	c.choresUnderLease(ctx)
	if err := c.s.instances.AdvanceInstances(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("instances", "error", err)
	}
	if err := c.s.instances.AdvanceBundleTasks(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("bundle tasks", "error", err)
	}
	if err := c.s.exports.RunExports(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("image exports", "error", err)
	}
	c.sweepObjects(ctx)
	c.cleanLitter()
}

// chores finishes every completing snapshot and expires overdue ones,
// empties the Recycle Bin of what is due, settles pending images, takes
// the due steps of snapshot tiers, runs Auto Scaling's controller and removes KMS keys whose deletion date has
// passed. It runs under the chores' lease (ctx carries it), on one node
// at a time. A snapshot that fails is logged and left for the next
// pass; it does not hold up the others.
func (c *completer) chores(ctx context.Context) {
	pending, err := c.s.ebs.PendingSnapshots(ctx)
	if err != nil && ctx.Err() == nil {
		c.log.Error("snapshot completion", "error", err)
	}
	if err := c.s.images.EmptyRecycleBin(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("recycle bin", "error", err)
	}
	now := c.s.nowUTC()
	for _, snap := range pending {
		switch {
		case snap.Completing:
			err = c.s.ebs.FinishSnapshot(ctx, snap.Region, snap.ID)
		case now.After(snap.Deadline):
			err = c.s.ebs.ExpireSnapshot(ctx, snap.Region, snap.ID)
		default:
			continue
		}
		if err != nil && ctx.Err() == nil {
			c.log.Error("snapshot completion", "snapshot", snap.ID, "error", err)
		}
	}
	if err := c.s.images.SettleImages(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("pending images", "error", err)
	}
	if err := c.s.ebs.SettleTiers(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("snapshot tiers", "error", err)
	}
	c.reconcileGroups(ctx)
	if _, err := c.s.kms.PurgeDeletedKeys(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("kms key deletion", "error", err)
	}
}

// objectSweepInterval is how often the worker looks for object blobs no
// record names (it lists every object blob, so not on every pass).
const objectSweepInterval = 10 * time.Minute

// sweepObjects removes the object blobs a crash left unnamed, once every
// objectSweepInterval, under the sweep's lease (one node at a time).
func (c *completer) sweepObjects(ctx context.Context) {
	now := c.s.now()
	last := c.objectsSwept.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < objectSweepInterval {
		return
	}
	if !c.objectsSwept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	var swept objects.Swept
	_, err := c.s.leases.Run(ctx, objectsSweepLease, func(ctx context.Context) error {
		var err error
		swept, err = c.s.objects.Sweep(ctx, objects.SweepGrace, objects.SweepConfirm)
		return err
	})
	if err != nil && ctx.Err() == nil {
		c.log.Error("object storage sweep", "error", err)
	} else if swept.Blobs > 0 {
		c.log.Info("removed unnamed object blobs", "blobs", swept.Blobs, "bytes", swept.Bytes)
	}
}

// litterInterval is how often the worker removes the temporary files of
// blob writes a crash interrupted (a PUT's half-written object, a
// chunk). Serve's start removes them too, but only once they are older
// than blockstore.LitterAge: a crash's fresh leftovers would otherwise
// stay until the next start or `openami gc`.
const litterInterval = time.Hour

// cleanLitter removes, in the background and once every litterInterval
// (the first time an interval after the worker's first pass, since serve
// cleans at its start), every region's litter older than
// blockstore.LitterAge. It walks every blob, hence the long interval.
func (c *completer) cleanLitter() {
	now := c.s.now()
	last := c.litterCleaned.Load()
	if last == 0 {
		c.litterCleaned.CompareAndSwap(0, now.UnixNano())
		return
	}
	if now.Sub(time.Unix(0, last)) < litterInterval || !c.litterCleaned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	const id = "blob litter"
	if !c.claim(id) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.release(id)
		ctx, log := c.background()
		if ctx == nil { // not started (a test's pass)
			ctx, log = context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		for _, r := range c.s.regions {
			l, err := c.s.ebs.CleanLitter(ctx, r.Name)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("clean the block store", "region", r.Name, "error", err)
				}
				return
			}
			if l.Files > 0 {
				log.Info("removed temporary files of interrupted writes", "region", r.Name, "files", l.Files, "bytes", l.Bytes)
			}
		}
	}()
}

// AutoScalingInterval is how soon the worker comes back after a pass
// that left Auto Scaling work in flight (a launch, a termination, an
// instance warming up in a refresh), rather than waiting for the next
// sweep; tests may lower it.
var AutoScalingInterval = 2 * time.Second

// reconcileGroups runs the Auto Scaling controller's pass, and asks for
// another within AutoScalingInterval while a group has work in flight.
func (c *completer) reconcileGroups(ctx context.Context) {
	busy, err := c.s.autoscaling.Reconcile(ctx)
	if err != nil && ctx.Err() == nil {
		c.log.Error("auto scaling", "error", err)
	}
	if busy && c.groupsRecheck.CompareAndSwap(false, true) {
		time.AfterFunc(AutoScalingInterval, func() {
			c.groupsRecheck.Store(false)
			c.kick()
		})
	}
}
