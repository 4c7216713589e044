package openami

import "time"

// ResourceImportTask: an import task (ImportImage, ImportSnapshot).
const ResourceImportTask ResourceType = "import-task"

// ImportKind says which API started an import task.
type ImportKind string

// The kinds of import task.
const (
	ImportSnapshotTask ImportKind = "snapshot" // ImportSnapshot: one disk, one snapshot
	ImportImageTask    ImportKind = "image"    // ImportImage: disks, their snapshots, an AMI
)

// The Status values of an import task, as EC2 reports them: active while
// it runs, completed when done, deleting while a cancel or a failure
// cleans up, deleted at rest after a cancel or a failure (StatusMessage
// says which).
const (
	ImportActive    = "active"
	ImportCompleted = "completed"
	ImportDeleting  = "deleting"
	ImportDeleted   = "deleted"
)

// The StatusMessage values of an active import task, in the order it
// goes through them (docs/IMPORT.md). openami does not modify or boot the
// guest, so AWS's "updating", "booting" and "booted" stages are skipped.
const (
	ImportPending    = "pending"
	ImportValidating = "validating"
	ImportValidated  = "validated"
	ImportConverting = "converting"
	ImportPreparing  = "preparing ami"
	// ImportCancelled is the StatusMessage of a cancelled task, as
	// CancelImportTask leaves it.
	ImportCancelled = "User initiated task cancelation"
)

// ImportDisk is one disk of an import task: where its file is, what it
// turned out to be, and the snapshot made of it.
type ImportDisk struct {
	// Bucket and Key name the object holding the disk file.
	Bucket string
	Key    string
	// Format is the format the request declared ("" if none), Detected
	// the one read from the file's data (RAW, QCOW2, VMDK, VHD, VHDX).
	Format   string
	Detected string
	// DeviceName is the device the disk is mapped to in the image
	// (ImportImage: /dev/sda1 for the first, then /dev/sdb...).
	DeviceName string
	// Size is the file's size in bytes, VirtualSize the disk's.
	Size        int64
	VirtualSize int64
	// SnapshotID is the snapshot being made or made of the disk.
	SnapshotID  string
	Description string
	// OVAIndex is, for the second and later disks of an OVA, the disk's
	// place in it (from 1): they are added to the task when the OVA is
	// opened, after the OVA's own entry (its first disk).
	OVAIndex int `json:",omitempty"`
}

// ImportTask is an ImportImage or ImportSnapshot task, recorded so that it
// survives a restart and is described for a week after it ends.
type ImportTask struct {
	ID        string // import-ami-... or import-snap-...
	Region    string
	AccountID string
	Kind      ImportKind
	// Status is one of the Import* status values; StatusMessage the stage
	// of an active task or why a deleted one ended.
	Status        string
	StatusMessage string
	// Progress is a percentage of the work done ("" when not active).
	Progress    string
	Description string
	Disks       []ImportDisk
	// Encrypted and KmsKeyARN ask for encrypted snapshots (KmsKeyARN ""
	// for the account's default key).
	Encrypted bool
	KmsKeyARN string
	// ImageID is the AMI an ImportImage task registered; the rest are its
	// settings as the request gave them.
	ImageID      string
	Architecture string
	Platform     string
	BootMode     string
	LicenseType  string
	Tags         []Tag
	// ClientToken is the request's idempotency token ("" for none), and
	// RequestHash a digest of the rest of the request: the same token
	// with the same request is the same task, with another one
	// IdempotentParameterMismatch.
	ClientToken string `json:",omitempty"`
	RequestHash string `json:",omitempty"`
	// Principal is the caller who started the task, on whose behalf the
	// worker reads the objects and writes the snapshots and the image.
	Principal Principal
	CreatedAt time.Time
	// Updated is when the task last changed.
	UpdatedAt time.Time
}

// Active reports whether the task still has work to do.
func (t ImportTask) Active() bool { return t.Status == ImportActive }
