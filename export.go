package openami

import "time"

// ExportTaskState is the life-cycle state of an export task, in EC2's
// words (DescribeExportImageTasks' Status).
type ExportTaskState string

// Export task states. A task is active while it runs, completed when its
// object is in the bucket, deleting while a cancellation aborts its
// upload, and deleted once cancelled or failed (StatusMessage says why).
const (
	ExportActive    ExportTaskState = "active"
	ExportCompleted ExportTaskState = "completed"
	ExportDeleting  ExportTaskState = "deleting"
	ExportDeleted   ExportTaskState = "deleted"
)

// Disk image formats an image exports to.
const (
	DiskFormatVMDK = "vmdk"
	DiskFormatRAW  = "raw"
	DiskFormatVHD  = "vhd"
)

// ExportTask is one ExportImage: the root volume of ImageID written in
// Format to Bucket under Key (Prefix + ID + "." + Format) by the
// service's worker, which records its progress here so that a restart
// finds and reruns it.
//
// The same record holds CreateStoreImageTask's and
// CreateRestoreImageTask's tasks (Kind), which move images in and out of
// buckets the same way.
type ExportTask struct {
	ID string // export-ami-…, store-ami-…, restore-ami-…
	// Kind is ExportKindExport (""), ExportKindStore or ExportKindRestore.
	Kind      string `json:",omitempty"`
	Region    string
	AccountID string // who asked for it
	ImageID   string
	Format    string // DiskFormatVMDK, DiskFormatRAW, DiskFormatVHD
	Bucket    string
	Prefix    string
	Key       string // the object's key: Prefix + ID + "." + Format
	// RoleName is the service role the caller named; kept and returned,
	// never assumed (openami writes as the caller, docs/EXPORT.md).
	RoleName    string
	Description string
	ClientToken string
	Tags        []Tag
	State       ExportTaskState
	// StatusMessage says what the task is doing, or why it was deleted.
	StatusMessage string
	// Progress is the percentage of the disk written so far (0–100).
	Progress int
	// UploadID is the multipart upload the worker writes into, "" when
	// none is open; a cancel or a restart aborts it.
	UploadID  string
	CreatedAt time.Time
	// ImageName is the name a restore gives its image.
	ImageName string `json:",omitempty"`
	// NewImageID and NewSnapshots are what a restore made: the image
	// (pending until its snapshots complete) and its snapshots, in the
	// stored object's order.
	NewImageID   string   `json:",omitempty"`
	NewSnapshots []string `json:",omitempty"`
	// ObjectTags are the tags a store task gives the object it writes
	// (CreateStoreImageTask's S3ObjectTags).
	ObjectTags []Tag `json:",omitempty"`
}

// Kinds of image tasks (ExportTask.Kind).
const (
	ExportKindExport  = ""
	ExportKindStore   = "store"
	ExportKindRestore = "restore"
)
