package openami

import (
	"encoding/hex"
	"time"
)

// BlockSize is the size of every block of every volume and snapshot: 512
// KiB, the EBS direct API's block size. Block i of a volume holds its bytes
// [i*BlockSize, (i+1)*BlockSize).
const BlockSize = 512 << 10

// Digest is a SHA-256 hash: of a block's plaintext (a chunk's address) or
// of an encoded block-map node.
type Digest [32]byte

// ZeroDigest stands for an all-zero block, which is never stored. In a
// block map it shadows a parent's data at that index; a block that is
// absent from every map in a chain reads as zeros too.
var ZeroDigest Digest

// IsZero reports whether d is ZeroDigest.
func (d Digest) IsZero() bool { return d == ZeroDigest }

// String returns d in lowercase hexadecimal.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest parses 64 hexadecimal digits. Malformed otherwise.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 64 {
		return d, Errorf(Malformed, "", "digest %q is not 64 hex digits", s)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, Errorf(Malformed, "", "digest %q is not 64 hex digits", s)
	}
	return d, nil
}

// SnapshotState is the life-cycle state of a snapshot.
type SnapshotState string

// Snapshot states, as EC2 names them.
const (
	SnapshotPending   SnapshotState = "pending"
	SnapshotCompleted SnapshotState = "completed"
	SnapshotError     SnapshotState = "error"
)

// Snapshot is an immutable, point-in-time copy of a volume's blocks: a
// block map (Root, the root of a persistent tree from block index to chunk
// digest) over content-addressed chunks in its region's block store. A
// snapshot made from a volume or with a parent shares every unchanged part
// of its map, and every unchanged chunk, with its parent.
type Snapshot struct {
	ID          string // snap-…
	Region      string
	AccountID   string
	VolumeID    string // the volume it was taken from; vol-ffffffff when none
	VolumeSize  int64  // GiB
	State       SnapshotState
	StateReason string // why it is in error
	Progress    int    // percent, 0–100
	Description string
	// ParentID is the snapshot this one was built on, "" for a full one.
	ParentID string
	// Root is the block map once completed; ZeroDigest for an empty map.
	Root Digest
	// Completing is set once a pending snapshot's blocks are all in and it
	// only waits for its block map to be built; a restart finishes it.
	Completing bool
	// ClientToken makes StartSnapshot idempotent.
	ClientToken string
	// Deadline is when a pending EBS-direct snapshot that was never
	// completed turns to error.
	Deadline  time.Time
	StartTime time.Time
	// DataBytes is the number of bytes of non-zero blocks in the map.
	DataBytes int64
	Encrypted bool
	KmsKeyID  string
	// Tiering is the snapshot's storage tier and its last archive or
	// restore (zero: standard, never archived).
	Tiering SnapshotTiering
}

// StorageTier is where a snapshot is kept, as EC2 names it.
type StorageTier string

// Storage tiers. A snapshot in the archive tier cannot be used (no
// volume, copy, image, share or EBS direct read of it) until it is
// restored; openami keeps its chunks where they are (docs/EBS.md).
const (
	TierStandard StorageTier = "standard"
	TierArchive  StorageTier = "archive"
)

// TieringStatus is the status of a snapshot's last archive or restore,
// as EC2 names it.
type TieringStatus string

// Tiering statuses.
const (
	ArchivalInProgress         TieringStatus = "archival-in-progress"
	ArchivalCompleted          TieringStatus = "archival-completed"
	TemporaryRestoreInProgress TieringStatus = "temporary-restore-in-progress"
	TemporaryRestoreCompleted  TieringStatus = "temporary-restore-completed"
	PermanentRestoreInProgress TieringStatus = "permanent-restore-in-progress"
	PermanentRestoreCompleted  TieringStatus = "permanent-restore-completed"
)

// SnapshotTiering is a snapshot's place in the storage tiers and its last
// tiering operation: ModifySnapshotTier archives (archival-in-progress,
// then the archive tier), RestoreSnapshotTier restores for a number of
// days or for good (…-restore-in-progress, then standard); a temporary
// restore goes back to the archive when it expires. The worker carries
// each step out once Due has come.
type SnapshotTiering struct {
	// Archived is set while the snapshot is in the archive tier (its
	// storage tier is then archive, else standard).
	Archived bool
	// Status is the last operation's status; "" if there was none.
	Status TieringStatus
	// Started is when the last operation began; Progress its percent.
	Started  time.Time
	Progress int
	// ArchivedAt is when the snapshot last reached the archive tier.
	ArchivedAt time.Time
	// RestoreDays is a temporary restore's length in days (0 for a
	// permanent one); RestoreExpiry when it ends (zero unless
	// temporarily restored).
	RestoreDays   int
	RestoreExpiry time.Time
	// Due is when the worker next has a step to take (finishing an
	// operation, re-archiving at RestoreExpiry); zero for none.
	Due time.Time
}

// Tier is the snapshot's storage tier.
func (t SnapshotTiering) Tier() StorageTier {
	if t.Archived {
		return TierArchive
	}
	return TierStandard
}

// VolumeState is the life-cycle state of a volume.
type VolumeState string

// Volume states, as EC2 names them.
const (
	VolumeCreating  VolumeState = "creating"
	VolumeAvailable VolumeState = "available"
	VolumeInUse     VolumeState = "in-use"
	VolumeDeleting  VolumeState = "deleting"
	VolumeError     VolumeState = "error"
)

// Volume is a block device: copy-on-write over a base block map (that of
// the snapshot it was created from, or of its last snapshot), with an
// overlay of the blocks written since. Creating one costs O(1) in the
// snapshot's size; reads fall through the overlay to the base.
type Volume struct {
	ID               string // vol-…
	Region           string
	AccountID        string
	AvailabilityZone string
	Size             int64  // GiB
	Type             string // gp2, gp3, io1, io2, st1, sc1, standard
	Iops             int
	Throughput       int // MiB/s, gp3 only
	SnapshotID       string
	State            VolumeState
	// Base is the block map the overlay sits on.
	Base        Digest
	MultiAttach bool
	Encrypted   bool
	KmsKeyID    string
	ClientToken string
	CreatedAt   time.Time
	// The attachment, while InstanceID is set: the instance the volume is
	// attached to as Device (state in-use).
	InstanceID          string
	Device              string
	AttachTime          time.Time
	DeleteOnTermination bool
}
