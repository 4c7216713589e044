package openami

import "time"

// ResourceBundleTask is a bundle task (BundleInstance's).
const ResourceBundleTask ResourceType = "bundle-task"

// BundleTaskState is where a bundle task is in its life.
type BundleTaskState string

// The states of a bundle task, EC2's. openami never shuts an instance
// down to bundle it, so a task is never waiting-for-shutdown; it is
// pending until the worker takes it, bundling while it makes and stores
// the parts, storing while it stores the manifest.
const (
	BundlePending            BundleTaskState = "pending"
	BundleWaitingForShutdown BundleTaskState = "waiting-for-shutdown"
	BundleBundling           BundleTaskState = "bundling"
	BundleStoring            BundleTaskState = "storing"
	BundleCancelling         BundleTaskState = "cancelling"
	BundleComplete           BundleTaskState = "complete"
	BundleFailed             BundleTaskState = "failed"
)

// Done reports whether a task in the state has ended.
func (s BundleTaskState) Done() bool { return s == BundleComplete || s == BundleFailed }

// BundleTask is a BundleInstance: the durable task that makes an
// instance store-backed bundle of an instance's root disk in a bucket,
// as PREFIX.part.NN and PREFIX.manifest.xml.
type BundleTask struct {
	ID         string // bun-…
	Region     string
	AccountID  string
	InstanceID string
	Bucket     string
	Prefix     string
	State      BundleTaskState
	// Progress is the percentage done, 0 to 100.
	Progress   int
	StartTime  time.Time
	UpdateTime time.Time
	// SnapshotID is the point-in-time copy of the root volume, taken
	// when the task was made, that the bundle is made of; it is deleted
	// when the task ends.
	SnapshotID string
	// StoreRoot is set for an instance store-backed instance: its root
	// disk (a copy-on-write disk on the server that runs it) is read as
	// it is while the task runs, and there is no snapshot.
	StoreRoot bool
	// Architecture and RootDevice are the instance's, for the manifest.
	Architecture string
	RootDevice   string
	// Parts is the most parts any run of the task stored: what a cancel
	// or a shorter rerun removes.
	Parts int
	// Cancelled is set by CancelBundleTask; Failure says why a failed
	// task failed (empty for complete and cancelled ones).
	Cancelled bool
	Failure   string
	// Runner is the server whose run holds the task until LeaseUntil:
	// with several servers, one runs it; another takes it over when the
	// lease lapses (its runner died).
	Runner     string
	LeaseUntil time.Time
}
