package instances

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/bundle"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/param"
)

// BundleInstance makes an instance store-backed bundle of an instance's
// root disk in a bucket, as EC2's BundleInstance does for Windows
// instances: PREFIX.part.NN and PREFIX.manifest.xml, with the canned ACL
// aws-exec-read, the bundle's key encrypted to the region's EC2
// certificate only (EC2 makes the bundle: there is no user certificate)
// and the manifest signed with the region's EC2 key, so that
// RegisterImage takes it.
//
// openami's decisions (docs/BUNDLES.md "BundleInstance"):
//   - Any instance, running or stopped, whose root is an EBS volume (an
//     encrypted one is refused as Unsupported for now), and running
//     instance store-backed ones, whose root disk is read through its
//     device as the task runs (live, as ec2-bundle-vol reads a running
//     system). A running EBS-backed instance is not shut down: the
//     bundle is of a crash-consistent view of its root, the volume as it
//     stands when BundleInstance returns (what the guest wrote so far,
//     flushed), as CreateImage with NoReboot takes it. The view is a
//     snapshot of the root volume, made at once and deleted when the task
//     ends; it is visible in DescribeSnapshots meanwhile.
//   - The upload policy and its signature are taken and not verified:
//     the request itself is signed by its caller, and the caller, not the
//     policy, must be allowed to write PREFIX.* into the bucket (the
//     bucket's ACL and policy decide, as for a PUT); a bucket nobody has
//     is made for the caller, as the AMI tools made it.
//   - The task is durable: the worker runs it (AdvanceBundleTasks), and a
//     restart runs it again from its first part, overwriting what the
//     interrupted run stored (a bundle's key is new on every run, so its
//     parts cannot be mixed).
//
// CancelBundleTask stops it: the parts it stored and its manifest are
// removed, and it ends failed.
type BundleInstanceInput struct {
	InstanceID string
	Bucket     string
	Prefix     string
	// AccessKeyID, UploadPolicy and UploadPolicySignature are taken and
	// not checked (above).
	AccessKeyID           string
	UploadPolicy          string
	UploadPolicySignature string
}

// BundleInstance records a bundle task of the caller's instance and
// returns it, pending; the worker does the work.
func (s *Machines) BundleInstance(ctx context.Context, p openami.Principal, in BundleInstanceInput) (openami.BundleTask, error) {
	switch {
	case in.InstanceID == "":
		return openami.BundleTask{}, param.Missing("InstanceID")
	case in.Bucket == "":
		return openami.BundleTask{}, param.Missing("Bucket")
	case in.Prefix == "":
		return openami.BundleTask{}, param.Missing("Prefix")
	}
	if objects.CheckBucketName(in.Bucket) != nil {
		return openami.BundleTask{}, param.Invalid("Bucket", in.Bucket, "It is not a valid S3 bucket name.")
	}
	if strings.ContainsAny(in.Prefix, "/\\") || in.Prefix == "." || in.Prefix == ".." || len(in.Prefix) > 200 {
		return openami.BundleTask{}, param.Invalid("Prefix", in.Prefix, "The prefix must be a plain name of at most 200 characters, without slashes.")
	}
	if s.objects == nil {
		return openami.BundleTask{}, openami.Errorf(openami.Unsupported, "", "This server has no object storage to bundle into.")
	}
	var inst openami.Instance
	var vol openami.Volume
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if inst, err = ownedInstance(tx, p, in.InstanceID); err != nil {
			return err
		}
		vol, err = s.bundleRoot(tx, inst)
		return err
	})
	if err != nil {
		return openami.BundleTask{}, err
	}
	// The bucket last: making it is the one thing done before the task
	// is recorded.
	caller := objects.As(p)
	err = s.objects.Writable(ctx, caller, in.Bucket, in.Prefix+".manifest.xml")
	if errors.Is(err, openami.ErrNotFound) && openami.ResourceOf(err) == openami.ResourceBucket {
		if _, err = s.objects.EnsureBucket(ctx, p, in.Bucket); err == nil {
			err = s.objects.Writable(ctx, caller, in.Bucket, in.Prefix+".manifest.xml")
		}
	}
	if openami.ClassOf(err) == openami.Unauthorized || errors.Is(err, openami.ErrDuplicate) {
		// Another's bucket, which the caller may not write (or, when
		// nobody had it, that someone made meanwhile).
		return openami.BundleTask{}, param.Invalid("Bucket", in.Bucket, "You may not write into this bucket.")
	}
	if err != nil {
		return openami.BundleTask{}, err
	}
	if vol.ID != "" {
		if err := s.ebs.FlushDevices(ctx, []string{vol.ID}); err != nil {
			return openami.BundleTask{}, err
		}
	}
	now := s.nowUTC()
	task := openami.BundleTask{
		ID: ids.New("bun"), Region: p.Region, AccountID: p.AccountID, InstanceID: inst.ID, Bucket: in.Bucket, Prefix: in.Prefix,
		State: openami.BundlePending, StartTime: now, UpdateTime: now, Architecture: inst.Architecture, RootDevice: inst.RootDeviceName,
		StoreRoot: vol.ID == "",
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		inst, err := ownedInstance(tx, p, in.InstanceID)
		if err != nil {
			return err
		}
		v, err := s.bundleRoot(tx, inst)
		if err != nil {
			return err
		}
		if v.ID == "" {
			return tx.BundleTasks().Create(task) // an instance-store root: read as the task runs
		}
		snap, err := s.ebs.CreateAwaitedSnapshot(tx, v, fmt.Sprintf("Created by BundleInstance(%s) for %s", inst.ID, task.ID), now, now, nil)
		if err != nil {
			return err
		}
		if err := s.ebs.FillSnapshotFromVolume(tx, snap, v); err != nil {
			return err
		}
		task.SnapshotID = snap.ID
		return tx.BundleTasks().Create(task)
	})
	if err != nil {
		return openami.BundleTask{}, err
	}
	s.kickNow()
	return task, nil
}

// bundleRoot returns the root volume of an instance BundleInstance may
// bundle, in tx, or the refusal; the zero Volume for an instance
// store-backed instance (which runs: it cannot stop).
func (s *Machines) bundleRoot(tx metadata.Tx, inst openami.Instance) (openami.Volume, error) {
	if inst.State != openami.InstanceRunning && inst.State != openami.InstanceStopped {
		return openami.Volume{}, openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "The instance '%s' is not in a state from which it can be bundled (%s).", inst.ID, inst.State)
	}
	if inst.RootBundle != nil {
		return openami.Volume{}, nil
	}
	k := slices.IndexFunc(inst.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.DeviceName == inst.RootDeviceName })
	if k < 0 {
		return openami.Volume{}, openami.Errorf(openami.Unsupported, "", "The instance '%s' has no root volume to bundle.", inst.ID)
	}
	v, err := s.ebs.Volume(tx, inst.Region, inst.BlockDevices[k].VolumeID)
	if err != nil {
		return v, err
	}
	if v.Encrypted || v.KmsKeyID != "" {
		return v, openami.Errorf(openami.Unsupported, "", "The root volume '%s' of instance '%s' is encrypted: bundling it is not supported.", v.ID, inst.ID)
	}
	return v, nil
}

// kickNow asks the worker to look for work, when there is one.
func (s *Machines) kickNow() {
	if s.kick != nil {
		s.kick()
	}
}

// The attributes DescribeBundleTasks filters by.
const (
	AttrBundleID       filter.Attr = "bundleID"
	AttrBundleInstance filter.Attr = "bundleInstance"
	AttrBundleBucket   filter.Attr = "bundleBucket"
	AttrBundlePrefix   filter.Attr = "bundlePrefix"
	AttrBundleState    filter.Attr = "bundleState"
	AttrBundleProgress filter.Attr = "bundleProgress"
	AttrBundleStart    filter.Attr = "bundleStart"
	AttrBundleUpdate   filter.Attr = "bundleUpdate"
	AttrBundleError    filter.Attr = "bundleError"
)

// BundleTaskAttrs are the attributes DescribeBundleTasks filters by.
// Read-only.
var BundleTaskAttrs = []filter.Attr{AttrBundleID, AttrBundleInstance, AttrBundleBucket, AttrBundlePrefix, AttrBundleState,
	AttrBundleProgress, AttrBundleStart, AttrBundleUpdate, AttrBundleError}

// DescribeBundleTasks returns the caller's bundle tasks in its region,
// those of ids if any are given (NotFound for one it does not have), that
// the filters match, ordered by id.
func (s *Machines) DescribeBundleTasks(ctx context.Context, p openami.Principal, bundleIDs []string, filters []filter.Filter) ([]openami.BundleTask, error) {
	fs, err := filter.Compile(filters, BundleTaskAttrs...)
	if err != nil {
		return nil, err
	}
	var all []openami.BundleTask
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		all, err = tx.BundleTasks().List(p.Region, p.AccountID)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, id := range bundleIDs {
		if !slices.ContainsFunc(all, func(t openami.BundleTask) bool { return t.ID == id }) {
			return nil, bundleNotFound(id)
		}
	}
	var out []openami.BundleTask
	for _, t := range all {
		if len(bundleIDs) > 0 && !slices.Contains(bundleIDs, t.ID) {
			continue
		}
		if fs.Match(func(a filter.Attr) []string { return bundleAttr(t, a) }, nil) {
			out = append(out, t)
		}
	}
	return out, nil
}

// bundleAttr returns a task's values of an attribute.
func bundleAttr(t openami.BundleTask, a filter.Attr) []string {
	switch a {
	case AttrBundleID:
		return []string{t.ID}
	case AttrBundleInstance:
		return []string{t.InstanceID}
	case AttrBundleBucket:
		return []string{t.Bucket}
	case AttrBundlePrefix:
		return []string{t.Prefix}
	case AttrBundleState:
		return []string{string(t.State)}
	case AttrBundleProgress:
		return []string{fmt.Sprintf("%d%%", t.Progress)}
	case AttrBundleStart:
		return []string{t.StartTime.Format("2006-01-02T15:04:05.000Z")}
	case AttrBundleUpdate:
		return []string{t.UpdateTime.Format("2006-01-02T15:04:05.000Z")}
	case AttrBundleError:
		if t.Failure != "" {
			return []string{t.Failure}
		}
	}
	return nil
}

func bundleNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceBundleTask, "The bundle task '%s' does not exist.", id)
}

// CancelBundleTask cancels one of the caller's bundle tasks that has not
// ended: it turns cancelling, and the worker stops its run, removes the
// parts and manifest it stored and ends it failed (Cancelled). A task
// that has ended is IncorrectState.
func (s *Machines) CancelBundleTask(ctx context.Context, p openami.Principal, id string) (openami.BundleTask, error) {
	if id == "" {
		return openami.BundleTask{}, param.Missing("BundleID")
	}
	var task openami.BundleTask
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		var err error
		task, err = tx.BundleTasks().Get(p.Region, id)
		if errors.Is(err, openami.ErrNotFound) || err == nil && task.AccountID != p.AccountID {
			return bundleNotFound(id)
		}
		if err != nil {
			return err
		}
		if task.State.Done() || task.State == openami.BundleCancelling {
			return openami.Errorf(openami.IncorrectState, openami.ResourceBundleTask, "The bundle task '%s' is %s and cannot be cancelled.", id, task.State)
		}
		task.State, task.Cancelled, task.UpdateTime = openami.BundleCancelling, true, s.nowUTC()
		return tx.BundleTasks().Update(task)
	})
	if err != nil {
		return task, err
	}
	s.bundleRuns.cancel(id)
	s.kickNow()
	return task, nil
}

// bundleRuns are the cancel functions of the bundle runs of this server.
type bundleRuns struct {
	mu   sync.Mutex
	runs map[string]context.CancelFunc
	// id names this server's runs in the tasks' leases.
	id string
}

// runner returns the id of this server's runs.
func (b *bundleRuns) runner() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.id == "" {
		b.id = ids.New("runner")
	}
	return b.id
}

// bundleLease is how long a run holds its task without renewing the
// lease; a run renews it before each part (10 MiB) it stores.
const bundleLease = 5 * time.Minute

// errLeaseLost ends a run whose task another server took over (its lease
// lapsed): that server finishes it.
var errLeaseLost = errors.New("bundle task taken over by another server")

// claimBundle takes the lease of a task that has not ended for this
// server's run, unless another server's lease holds it.
func (s *Machines) claimBundle(ctx context.Context, t openami.BundleTask) (openami.BundleTask, bool, error) {
	me, ok := s.bundleRuns.runner(), false
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.BundleTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		now := s.now()
		if ok = !cur.State.Done() && (cur.Runner == "" || cur.Runner == me || !now.Before(cur.LeaseUntil)); !ok {
			return nil
		}
		cur.Runner, cur.LeaseUntil = me, now.Add(bundleLease).UTC()
		t = cur
		return tx.BundleTasks().Update(cur)
	})
	return t, ok, err
}

func (b *bundleRuns) start(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runs == nil {
		b.runs = map[string]context.CancelFunc{}
	}
	b.runs[id] = cancel
	return ctx, func() {
		b.mu.Lock()
		delete(b.runs, id)
		b.mu.Unlock()
		cancel()
	}
}

func (b *bundleRuns) cancel(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.runs[id]; c != nil {
		c()
	}
}

// AdvanceBundleTasks runs, each in a job, the bundle tasks that have not
// ended and that no job of this server runs: pending ones, cancelling
// ones (to clean up), and those an interrupted run left bundling or
// storing, which run again from the start. With several servers, a run
// first takes the task's lease (claimBundle): a task another server's
// live run holds is left to it. The worker calls it on every pass; Wait
// waits for the jobs.
func (s *Machines) AdvanceBundleTasks(ctx context.Context) error {
	var active []openami.BundleTask
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		active, err = tx.BundleTasks().Active()
		return err
	})
	if err != nil {
		return err
	}
	for _, t := range active {
		// Its instance's disks are its host's: only that host bundles
		// them (docs/HOSTS.md).
		if inst, err := s.instanceNow(ctx, t.Region, t.InstanceID); err == nil && !s.runsHere(inst) {
			continue
		}
		s.vmJobs.run(t.ID, func() {
			if err := s.runBundle(ctx, t); err != nil && ctx.Err() == nil {
				s.log().Error("bundle task", "bundle", t.ID, "error", err)
			}
		})
	}
	return nil
}

// errCancelled ends a run whose task was cancelled.
var errCancelled = errors.New("bundle task cancelled")

// updateBundle changes the task's record with fn and renews this run's
// lease, unless it was cancelled meanwhile (errCancelled) or another
// server took it over (errLeaseLost), and returns it.
func (s *Machines) updateBundle(ctx context.Context, t openami.BundleTask, fn func(*openami.BundleTask)) (openami.BundleTask, error) {
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.BundleTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		if cur.Runner != s.bundleRuns.runner() {
			return errLeaseLost
		}
		if cur.State == openami.BundleCancelling {
			return errCancelled
		}
		fn(&cur)
		cur.UpdateTime, cur.LeaseUntil = s.nowUTC(), s.now().Add(bundleLease).UTC()
		t = cur
		return tx.BundleTasks().Update(cur)
	})
	return t, err
}

// runBundle carries a task out, or cleans a cancelled one up.
func (s *Machines) runBundle(ctx context.Context, t openami.BundleTask) error {
	t, ok, err := s.claimBundle(ctx, t)
	if err != nil || !ok {
		return err
	}
	if t.State != openami.BundleCancelling {
		runCtx, done := s.bundleRuns.start(ctx, t.ID)
		err := s.makeBundle(runCtx, t)
		done()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err() // the server stops: the next start runs it again
		case errors.Is(err, errLeaseLost):
			return nil
		case errors.Is(err, errCancelled) || errors.Is(err, context.Canceled):
			// cleaned up below
		default:
			return s.endBundle(ctx, t, err)
		}
	}
	return s.endBundle(ctx, t, errCancelled)
}

// bundleWriter is who writes a task's objects: its account.
func bundleWriter(t openami.BundleTask) objects.Caller {
	return objects.As(openami.Principal{AccountID: t.AccountID, Region: t.Region})
}

// partKey is the key of part i of a task's bundle, as bundle.PartName
// names it.
func partKey(t openami.BundleTask, i int) string { return bundle.PartName(t.Prefix, i) }

// manifestKey is the key of a task's manifest.
func manifestKey(t openami.BundleTask) string { return t.Prefix + ".manifest.xml" }

// makeBundle makes the bundle of a task's snapshot into its bucket.
func (s *Machines) makeBundle(ctx context.Context, t openami.BundleTask) error {
	t, err := s.updateBundle(ctx, t, func(c *openami.BundleTask) { c.State, c.Progress = openami.BundleBundling, 0 })
	if err != nil {
		return err
	}
	src, size, closeSrc, err := s.bundleSource(ctx, t)
	if err != nil {
		return err
	}
	defer closeSrc()
	cert, _, err := s.identity.EC2Certificate(ctx, t.Region)
	if err != nil {
		return err
	}
	signer, err := s.identity.EC2Signer(ctx, t.Region)
	if err != nil {
		return err
	}
	read := &countReader{r: src}
	sink := &bundleSink{s: s, t: t, read: read, size: size}
	root := t.RootDevice
	opts := bundle.Options{
		ImageName: t.Prefix, User: t.AccountID, Architecture: t.Architecture,
		BlockDeviceMapping: []bundle.Mapping{{Virtual: "ami", Device: strings.TrimPrefix(root, "/dev/")}, {Virtual: "root", Device: root}},
		EC2Cert:            cert, Signer: signer, ModTime: t.StartTime,
	}
	m, err := bundle.Create(ctx, read, size, opts, sink)
	if err != nil {
		return err
	}
	raw, err := m.Marshal()
	if err != nil {
		return err
	}
	if t, err = s.updateBundle(ctx, sink.t, func(c *openami.BundleTask) { c.State = openami.BundleStoring }); err != nil {
		return err
	}
	if _, err := s.objects.Put(ctx, bundleWriter(t), t.Bucket, manifestKey(t), strings.NewReader(string(raw)), int64(len(raw)),
		openami.ObjectHeaders{ContentType: "application/xml"}, objects.CannedAWSExecRead); err != nil {
		return err
	}
	// Parts a longer, interrupted run stored past this run's last.
	for i := len(m.Parts); i < t.Parts; i++ {
		if err := s.objects.DeleteObject(ctx, bundleWriter(t), t.Bucket, partKey(t, i)); err != nil {
			return err
		}
	}
	return s.finishBundle(ctx, t, true, func(c *openami.BundleTask) {
		c.State, c.Progress, c.Parts = openami.BundleComplete, 100, len(m.Parts)
	})
}

// bundleSource returns a reader of the disk a task bundles, its size and
// what releases it: the task's snapshot of an EBS root, streamed from
// the block store one block at a time then zeros past its last stored
// block; or an instance-store root, read through its device as it is.
func (s *Machines) bundleSource(ctx context.Context, t openami.BundleTask) (io.Reader, int64, func(), error) {
	if t.StoreRoot {
		dev, err := s.OpenDevice(ctx, t.InstanceID+"/"+rootDisk)
		if err != nil {
			return nil, 0, nil, err
		}
		return &deviceReader{ctx: ctx, dev: dev}, dev.Size(), func() { dev.Close() }, nil
	}
	var snap openami.Snapshot
	var blocks []metadata.BlockRef
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if snap, err = s.ebs.Snapshot(tx, t.Region, t.SnapshotID); err != nil {
			return err
		}
		blocks, err = s.ebs.SnapshotBlocks(tx, snap)
		return err
	})
	if err != nil {
		return nil, 0, nil, err
	}
	size := snap.VolumeSize << 30
	pr, pw := io.Pipe()
	go func() {
		err := s.ebs.WritePlainBlocks(ctx, t.Region, blocks, pw)
		if err == nil {
			err = writeZeros(pw, size-int64(lastBlock(blocks))*openami.BlockSize)
		}
		pw.CloseWithError(err)
	}()
	// Closing the reader stops the writer if the bundler gave up early.
	return pr, size, func() { pr.CloseWithError(errCancelled) }, nil
}

// deviceReader reads a device from its start, a block at most at a time.
type deviceReader struct {
	ctx context.Context
	dev Device
	off int64
}

func (d *deviceReader) Read(p []byte) (int, error) {
	left := d.dev.Size() - d.off
	if left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), left, openami.BlockSize)
	if err := d.dev.ReadAt(d.ctx, p[:n], d.off); err != nil {
		return 0, err
	}
	d.off += n
	return int(n), nil
}

// endBundle ends a task that failed with cause, or was cancelled
// (errCancelled): the parts and manifest it stored are removed, and it
// is failed.
func (s *Machines) endBundle(ctx context.Context, t openami.BundleTask, cause error) error {
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		t, err = tx.BundleTasks().Get(t.Region, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	w := bundleWriter(t)
	keys := []string{manifestKey(t)}
	for i := range t.Parts {
		keys = append(keys, partKey(t, i))
	}
	for _, k := range keys {
		if err := s.objects.DeleteObject(ctx, w, t.Bucket, k); err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
	}
	return s.finishBundle(ctx, t, false, func(c *openami.BundleTask) {
		c.State = openami.BundleFailed
		if errors.Is(cause, errCancelled) {
			c.Cancelled = true
		} else {
			c.Failure = cause.Error()
		}
	})
}

// finishBundle ends a task with fn and deletes its snapshot in the same
// transaction; when cancellable, a task cancelled meanwhile is left to be
// cleaned up (errCancelled).
func (s *Machines) finishBundle(ctx context.Context, t openami.BundleTask, cancellable bool, fn func(*openami.BundleTask)) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.BundleTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		if cur.Runner != s.bundleRuns.runner() {
			return errLeaseLost
		}
		if cancellable && cur.State == openami.BundleCancelling {
			return errCancelled // cancelled while its manifest was stored
		}
		fn(&cur)
		cur.UpdateTime = s.nowUTC()
		if err := tx.BundleTasks().Update(cur); err != nil {
			return err
		}
		if cur.SnapshotID == "" {
			return nil // an instance-store root
		}
		snap, err := s.ebs.Snapshot(tx, cur.Region, cur.SnapshotID)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// The owner may have registered an image over it meanwhile: then
		// it stays, as the owner's.
		using, err := s.images.UsingSnapshot(tx, snap.Region, snap.ID)
		if err != nil || len(using) > 0 {
			return err
		}
		return s.ebs.DeleteUnusedSnapshot(tx, snap)
	})
}

// bundleSink stores a task's parts as Create makes them, and records its
// progress after each.
type bundleSink struct {
	s    *Machines
	t    openami.BundleTask
	read *countReader
	size int64
}

func (b *bundleSink) PutPart(ctx context.Context, p bundle.Part, r io.ReadSeeker) error {
	// The part is counted before it is stored, so that a cancel or a
	// failure during its PUT removes it too; its progress is that of the
	// bytes read so far.
	progress := 99
	if b.size > 0 {
		progress = min(99, int(b.read.n.Load()*100/b.size))
	}
	t, err := b.s.updateBundle(ctx, b.t, func(c *openami.BundleTask) {
		c.Progress = max(c.Progress, progress)
		c.Parts = max(c.Parts, p.Index+1)
	})
	if err != nil {
		return err
	}
	b.t = t
	_, err = b.s.objects.Put(ctx, bundleWriter(b.t), b.t.Bucket, partKey(b.t, p.Index), r, p.Size, openami.ObjectHeaders{}, objects.CannedAWSExecRead)
	return err
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// lastBlock returns one past the index of the last listed block.
func lastBlock(blocks []metadata.BlockRef) int64 {
	if len(blocks) == 0 {
		return 0
	}
	return blocks[len(blocks)-1].Index + 1
}

// writeZeros writes n zero bytes to w.
func writeZeros(w io.Writer, n int64) error {
	zeros := make([]byte, openami.BlockSize)
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
