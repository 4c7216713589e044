package ebs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// blocksPerGiB is the number of blocks in one GiB.
const blocksPerGiB = (1 << 30) / openami.BlockSize

// maxVolumeGiB is the largest volume or snapshot, as on EBS (64 TiB).
const maxVolumeGiB = 65536

// NoVolume is the volume id of snapshots not taken from a volume.
const NoVolume = "vol-ffffffff"

// SnapshotView is a snapshot with its tags.
type SnapshotView struct {
	openami.Snapshot
	Tags []openami.Tag
}

// StartSnapshotInput are the EBS direct API's StartSnapshot parameters.
type StartSnapshotInput struct {
	VolumeSize  int64 // GiB
	ParentID    string
	Description string
	Tags        []openami.Tag
	ClientToken string
	// Timeout is how long after its start the snapshot may stay
	// uncompleted before it errors; 0 means the default, 60 minutes.
	Timeout   time.Duration
	Encrypted bool
	KmsKeyARN string
	// Plain keeps the snapshot unencrypted whatever the account's
	// encryption by default: kernel and ramdisk files
	// (rules/images/bootimages.go), which the runtime hands QEMU as
	// files. The APIs never set it.
	Plain bool
}

// checkSnapshotID returns a Malformed error unless id is a snapshot id.
func checkSnapshotID(id string) error {
	if !ids.Valid("snap", id) {
		return &openami.Error{Class: openami.Malformed, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
			Message: fmt.Sprintf("Invalid id: \"%s\" (expecting \"snap-...\")", id)}
	}
	return nil
}

// The sentences of missing volumes and snapshots (describe.NotFound says
// where the plural ones come from).
var (
	volumeNotFound  = describe.NotFound{One: "The volume '%s' does not exist.", Many: "The volumes '%s' do not exist."}
	snapshotMissing = describe.NotFound{One: "The snapshot '%s' does not exist.", Many: "The snapshots '%s' do not exist."}
)

// snapshotsNotFound is NotFound naming every one of ids.
func snapshotsNotFound(ids []string) error {
	return &openami.Error{Class: openami.NotFound, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
		Message: snapshotMissing.Sentence(ids)}
}

func snapshotNotFound(id string) error { return snapshotsNotFound([]string{id}) }

// visibleSnapshot returns the snapshot if the caller owns it or may create
// volumes from it, and NotFound otherwise: the same answer for a snapshot
// that does not exist and one the caller may not see. Every use of a
// snapshot (a volume, a copy, an image, a launch mapping, an EBS direct
// read or a child) finds it here, so one in the archive tier is
// IncorrectState until it is restored (tiers.go).
func visibleSnapshot(tx metadata.Tx, p openami.Principal, region, id string) (openami.Snapshot, error) {
	if err := checkSnapshotID(id); err != nil {
		return openami.Snapshot{}, err
	}
	s, err := tx.Snapshots().Get(region, id)
	if errors.Is(err, openami.ErrNotFound) {
		return s, snapshotNotFound(id)
	}
	if err != nil {
		return s, err
	}
	if s.AccountID != p.AccountID {
		perms, err := tx.Snapshots().Permissions(id)
		if err != nil {
			return s, err
		}
		if !slices.ContainsFunc(perms, func(pm metadata.Permission) bool { return pm.Group == "all" || pm.AccountID == p.AccountID }) {
			return openami.Snapshot{}, snapshotNotFound(id)
		}
	}
	if s.Tiering.Archived {
		return s, archived(id)
	}
	return s, nil
}

// ownedSnapshot returns the caller's snapshot, NotFound for anyone else's.
func ownedSnapshot(tx metadata.Tx, p openami.Principal, id string) (openami.Snapshot, error) {
	if err := checkSnapshotID(id); err != nil {
		return openami.Snapshot{}, err
	}
	s, err := tx.Snapshots().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) || err == nil && s.AccountID != p.AccountID {
		return openami.Snapshot{}, snapshotNotFound(id)
	}
	return s, err
}

// StartSnapshot begins a snapshot that the caller fills block by block with
// PutSnapshotBlock and seals with CompleteSnapshot. With a parent, it
// starts as a copy of the parent's block map, and only changed blocks need
// to be written. A repeated ClientToken returns the snapshot it made.
func (s *Volumes) StartSnapshot(ctx context.Context, p openami.Principal, in StartSnapshotInput) (SnapshotView, error) {
	if in.VolumeSize < 1 || in.VolumeSize > maxVolumeGiB {
		return SnapshotView{}, openami.FieldErrorf(openami.InvalidParameter, "VolumeSize", "The volume size must be between 1 and %d GiB.", maxVolumeGiB)
	}
	if in.Timeout == 0 {
		in.Timeout = time.Hour
	}
	if in.Timeout < 10*time.Minute || in.Timeout > 4320*time.Minute {
		return SnapshotView{}, openami.FieldErrorf(openami.InvalidParameter, "Timeout", "The timeout must be between 10 and 4320 minutes.")
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return SnapshotView{}, err
	}
	if in.ParentID != "" {
		if err := checkSnapshotID(in.ParentID); err != nil {
			return SnapshotView{}, err
		}
	}
	now := s.nowUTC()
	snap := openami.Snapshot{
		ID:          ids.New("snap"),
		Region:      p.Region,
		AccountID:   p.AccountID,
		VolumeID:    NoVolume,
		VolumeSize:  in.VolumeSize,
		State:       openami.SnapshotPending,
		Description: in.Description,
		ParentID:    in.ParentID,
		ClientToken: in.ClientToken,
		Deadline:    now.Add(in.Timeout),
		StartTime:   now,
	}
	var out SnapshotView
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if in.ClientToken != "" {
			prev, err := tx.Snapshots().ByClientToken(p.Region, p.AccountID, in.ClientToken)
			if err == nil {
				if prev.VolumeSize != in.VolumeSize || prev.ParentID != in.ParentID || prev.Description != in.Description {
					return openami.FieldErrorf(openami.Duplicate, "ClientToken", "The request uses the same client token as a previous, but non-identical request.")
				}
				tags, err := tx.Tags().Of(p.Region, p.AccountID, []string{prev.ID})
				out = SnapshotView{Snapshot: prev, Tags: tags[prev.ID]}
				return err
			}
			if !errors.Is(err, openami.ErrNotFound) {
				return err
			}
		}
		var parent openami.Snapshot
		if in.ParentID != "" {
			var err error
			parent, err = visibleSnapshot(tx, p, p.Region, in.ParentID)
			if err != nil {
				var e *openami.Error
				if errors.As(err, &e) {
					e.Field = "ParentSnapshotId"
				}
				return err
			}
			if parent.State != openami.SnapshotCompleted {
				return openami.FieldErrorf(openami.IncorrectState, "ParentSnapshotId", "The parent snapshot '%s' is not completed.", parent.ID)
			}
			if in.VolumeSize < parent.VolumeSize {
				return openami.FieldErrorf(openami.InvalidParameter, "VolumeSize", "The volume size must be at least the parent snapshot's, %d GiB.", parent.VolumeSize)
			}
			if err := s.CheckKeyUse(tx, p, "ParentSnapshotId", parent.KmsKeyID); err != nil {
				return err
			}
		}
		// A child is encrypted as its parent is, or under the key asked
		// for; it shares the parent's map only under the same key.
		key := ""
		if !in.Plain {
			var err error
			key, err = s.TargetKey(tx, p, Target{Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyARN, Field: "KmsKeyARN"}, parent.KmsKeyID)
			if err != nil {
				return err
			}
		}
		if in.ParentID != "" && key != parent.KmsKeyID {
			if parent.KmsKeyID == "" {
				return openami.FieldErrorf(openami.InvalidParameter, "KmsKeyARN",
					"The parent snapshot is not encrypted: a child is encrypted as its parent is (copy the parent with Encrypted to encrypt it).")
			}
			return openami.FieldErrorf(openami.InvalidParameter, "KmsKeyARN",
				"A child snapshot must be encrypted under its parent's KMS key, %s.", parent.KmsKeyID)
		}
		snap.Root, snap.Encrypted, snap.KmsKeyID = parent.Root, key != "", key
		if err := tx.Snapshots().Create(snap); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			if err := tx.Tags().Set(p.Region, p.AccountID, snap.ID, openami.ResourceSnapshot, in.Tags); err != nil {
				return err
			}
		}
		out = SnapshotView{Snapshot: snap, Tags: tagset.Sorted(in.Tags)}
		return nil
	})
	return out, err
}

// PutSnapshotBlockInput are the EBS direct API's PutSnapshotBlock
// parameters.
type PutSnapshotBlockInput struct {
	SnapshotID        string
	Index             int64
	Data              []byte
	DataLength        int64
	Checksum          string // base64 SHA-256 of Data
	ChecksumAlgorithm string // SHA256
	Progress          *int
}

// PutSnapshotBlock writes one block of a pending snapshot. The data must be
// exactly one block whose SHA-256 is the checksum; otherwise nothing is
// stored. It returns the checksum.
func (s *Volumes) PutSnapshotBlock(ctx context.Context, p openami.Principal, in PutSnapshotBlockInput) (string, error) {
	if in.ChecksumAlgorithm != "SHA256" {
		return "", openami.FieldErrorf(openami.InvalidParameter, "ChecksumAlgorithm", "The checksum algorithm must be SHA256.")
	}
	if in.DataLength != openami.BlockSize || int64(len(in.Data)) != in.DataLength {
		return "", openami.FieldErrorf(openami.InvalidParameter, "DataLength", "The data length must be %d bytes, and the body exactly that long.", openami.BlockSize)
	}
	if in.Progress != nil && (*in.Progress < 0 || *in.Progress > 100) {
		return "", openami.FieldErrorf(openami.InvalidParameter, "Progress", "Progress must be between 0 and 100.")
	}
	want, err := base64.StdEncoding.DecodeString(in.Checksum)
	if err != nil || len(want) != sha256.Size {
		return "", openami.FieldErrorf(openami.InvalidParameter, "Checksum", "The checksum is not a base64 SHA-256 digest.")
	}
	sum := sha256.Sum256(in.Data)
	if string(sum[:]) != string(want) {
		return "", openami.FieldErrorf(openami.InvalidParameter, "Checksum", "The checksum does not match the block data.")
	}
	return s.putSnapshotBlock(ctx, p, in, sum)
}

// putSnapshotBlock is PutSnapshotBlock once the data is known to hash to
// sum (in.Checksum).
func (s *Volumes) putSnapshotBlock(ctx context.Context, p openami.Principal, in PutSnapshotBlockInput, sum [32]byte) (string, error) {
	if err := checkSnapshotID(in.SnapshotID); err != nil {
		return "", err
	}
	// Check the snapshot before storing anything.
	var keyARN string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		snap, err := writableSnapshot(tx, p, in.SnapshotID, in.Index)
		keyARN = snap.KmsKeyID
		return err
	})
	if err != nil {
		return "", err
	}
	rb, err := s.blocks(p.Region)
	if err != nil {
		return "", err
	}
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return "", err
	}
	// A plain block's checksum is its chunk's digest: it is stored without
	// hashing again.
	d, chunk, err := s.storeVerifiedChunk(ctx, rb, dk, sum, in.Data)
	if err != nil {
		return "", err
	}
	restore := func() error { _, _, err := s.storeVerifiedChunk(ctx, rb, dk, sum, in.Data); return err }
	err = s.commitWithChunks(ctx, rb, chunksOf(chunk), restore, func(tx metadata.Tx) error {
		snap, err := writableSnapshot(tx, p, in.SnapshotID, in.Index)
		if err != nil {
			return err
		}
		if err := tx.Snapshots().PutBlock(snap.ID, metadata.BlockRef{Index: in.Index, Digest: d, Checksum: in.Checksum}); err != nil {
			return err
		}
		if in.Progress == nil {
			return nil
		}
		snap.Progress = *in.Progress
		return tx.Snapshots().Update(snap)
	})
	return in.Checksum, err
}

// chunksOf returns the chunk as a list, empty for a zero block.
func chunksOf(c *blockstore.ChunkRef) []*blockstore.ChunkRef {
	if c == nil {
		return nil
	}
	return []*blockstore.ChunkRef{c}
}

// writableSnapshot returns the caller's snapshot if blocks may be written
// to it at index.
func writableSnapshot(tx metadata.Tx, p openami.Principal, id string, index int64) (openami.Snapshot, error) {
	snap, err := ownedSnapshot(tx, p, id)
	if err != nil {
		return snap, err
	}
	if snap.State != openami.SnapshotPending || snap.Completing {
		return snap, &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
			Message: fmt.Sprintf("The snapshot '%s' is not pending: blocks can only be written before CompleteSnapshot.", id)}
	}
	if index < 0 || index >= snap.VolumeSize*blocksPerGiB {
		return snap, openami.FieldErrorf(openami.InvalidParameter, "BlockIndex", "The block index %d is outside the snapshot's %d GiB.", index, snap.VolumeSize)
	}
	return snap, nil
}

// CompleteSnapshotInput are the EBS direct API's CompleteSnapshot
// parameters.
type CompleteSnapshotInput struct {
	SnapshotID         string
	ChangedBlocksCount int64
	// Checksum, when set, is the base64 SHA-256 of the concatenated
	// SHA-256 digests of the written blocks in index order (LINEAR).
	Checksum                  string
	ChecksumAlgorithm         string
	ChecksumAggregationMethod string
}

// CompleteSnapshot seals a pending snapshot: it checks the number of
// blocks written and, when given, their aggregate checksum, and queues the
// snapshot's block map to be built. It returns the snapshot's state, which
// stays pending until the map is built; a restart finishes the work.
func (s *Volumes) CompleteSnapshot(ctx context.Context, p openami.Principal, in CompleteSnapshotInput) (openami.SnapshotState, error) {
	if in.ChangedBlocksCount < 0 {
		return "", openami.FieldErrorf(openami.InvalidParameter, "ChangedBlocksCount", "ChangedBlocksCount must not be negative.")
	}
	if in.Checksum != "" && (in.ChecksumAlgorithm != "SHA256" || in.ChecksumAggregationMethod != "LINEAR") {
		return "", openami.FieldErrorf(openami.InvalidParameter, "ChecksumAlgorithm", "The checksum must use algorithm SHA256 and aggregation method LINEAR.")
	}
	var state openami.SnapshotState
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := ownedSnapshot(tx, p, in.SnapshotID)
		if err != nil {
			return err
		}
		if snap.State != openami.SnapshotPending {
			return &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
				Message: fmt.Sprintf("The snapshot '%s' is %s, not pending.", snap.ID, snap.State)}
		}
		if snap.Completing {
			state = snap.State // CompleteSnapshot is idempotent while the map is built
			return nil
		}
		h := sha256.New()
		var n int64
		after := int64(-1)
		for {
			blocks, err := tx.Snapshots().Blocks(snap.ID, after, 4096)
			if err != nil {
				return err
			}
			for _, b := range blocks {
				raw, err := base64.StdEncoding.DecodeString(b.Checksum)
				if err != nil {
					return fmt.Errorf("ebs: stored checksum of block %d: %w", b.Index, err)
				}
				h.Write(raw)
				n++
			}
			if len(blocks) < 4096 {
				break
			}
			after = blocks[len(blocks)-1].Index
		}
		if n != in.ChangedBlocksCount {
			return openami.FieldErrorf(openami.InvalidParameter, "ChangedBlocksCount", "ChangedBlocksCount is %d, but %d blocks were written.", in.ChangedBlocksCount, n)
		}
		if in.Checksum != "" && base64.StdEncoding.EncodeToString(h.Sum(nil)) != in.Checksum {
			return openami.FieldErrorf(openami.InvalidParameter, "Checksum", "The aggregate checksum does not match the blocks written.")
		}
		snap.Completing = true
		state = snap.State
		return tx.Snapshots().Update(snap)
	})
	if err == nil {
		s.kick()
	}
	return state, err
}

// FinishSnapshot builds the block map of a completing snapshot from its
// parent's map and its written blocks, and marks it completed.
func (s *Volumes) FinishSnapshot(ctx context.Context, region, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := tx.Snapshots().Get(region, id)
		if errors.Is(err, openami.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil || snap.State != openami.SnapshotPending || !snap.Completing {
			return err
		}
		ns, err := nodesFor(tx, region)
		if err != nil {
			return err
		}
		root, err := s.applyBlocks(ns, snap.Root, func(after int64, limit int) ([]metadata.BlockRef, error) {
			return tx.Snapshots().Blocks(snap.ID, after, limit)
		})
		if err != nil {
			return err
		}
		count, err := s.maps.Count(ns, root)
		if err != nil {
			return err
		}
		snap.Root = root
		snap.DataBytes = count * openami.BlockSize
		snap.State = openami.SnapshotCompleted
		snap.Progress = 100
		snap.Completing = false
		if err := tx.Snapshots().DeleteBlocks(snap.ID); err != nil {
			return err
		}
		return tx.Snapshots().Update(snap)
	})
}

// PendingSnapshots returns the pending snapshots of every region, whoever
// owns them: the worker finishes the completing ones (FinishSnapshot) and
// expires the overdue ones (ExpireSnapshot).
func (s *Volumes) PendingSnapshots(ctx context.Context) ([]openami.Snapshot, error) {
	var pending []openami.Snapshot
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		pending, err = tx.Snapshots().Pending()
		return err
	})
	return pending, err
}

// ExpireSnapshot turns the region's snapshot, if it is still pending, not
// completing and past its deadline, to error and drops its written
// blocks; otherwise, or when it is gone, it does nothing. It fails only
// with the store's errors.
func (s *Volumes) ExpireSnapshot(ctx context.Context, region, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := tx.Snapshots().Get(region, id)
		if err != nil || snap.State != openami.SnapshotPending || snap.Completing || !s.nowUTC().After(snap.Deadline) {
			return nil
		}
		snap.State = openami.SnapshotError
		snap.StateReason = "The snapshot was not completed before its timeout."
		if err := tx.Snapshots().DeleteBlocks(id); err != nil {
			return err
		}
		return tx.Snapshots().Update(snap)
	})
}

// BlockPage is a page of a snapshot's blocks or changed blocks.
type BlockPage struct {
	Blocks     []BlockEntry
	VolumeSize int64
	Expiry     time.Time
	NextToken  string
}

// BlockEntry is one block of a page: its index and the tokens that read it
// from the first and second snapshot ("" where a snapshot has no data).
type BlockEntry struct {
	Index       int64
	Token       string
	SecondToken string
}

// readableSnapshot returns a completed snapshot the caller may read.
func readableSnapshot(tx metadata.Tx, p openami.Principal, id string) (openami.Snapshot, error) {
	snap, err := visibleSnapshot(tx, p, p.Region, id)
	if err != nil {
		return snap, err
	}
	if snap.State != openami.SnapshotCompleted {
		return snap, &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceSnapshot, Field: "SnapshotId",
			Message: fmt.Sprintf("The snapshot '%s' is %s; only completed snapshots can be read.", id, snap.State)}
	}
	return snap, nil
}

// blockToken returns the token that lets its holder read the block of the
// snapshot at index, which holds the chunk d.
func (s *Volumes) blockToken(snapshotID string, index int64, d openami.Digest) string {
	return s.tokens.Encode(pagetoken.Scope("block", snapshotID, fmt.Sprint(index)), d[:])
}

// pageStart returns where a block listing starts: after the token's
// index, or at start.
func (s *Volumes) pageStart(scope, token string, start int64) (int64, error) {
	if token == "" {
		return max(start, 0), nil
	}
	raw, err := s.tokens.Decode(scope, token)
	if err != nil || len(raw) != 8 {
		return 0, openami.FieldErrorf(openami.InvalidToken, "NextToken", "The page token is invalid.")
	}
	return int64(binary.BigEndian.Uint64(raw)), nil
}

func (s *Volumes) pageToken(scope string, next int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(next))
	return s.tokens.Encode(scope, b[:])
}

func pageLimit(max int) (int, error) {
	if max == 0 {
		return 10000, nil
	}
	if max < 100 || max > 10000 {
		return 0, openami.FieldErrorf(openami.InvalidParameter, "MaxResults", "MaxResults must be between 100 and 10000.")
	}
	return max, nil
}

// listBlocks runs one page of a block listing: it decodes the page token
// (bound to scope) or starts at startIndex, and calls walk in a read
// transaction with the index to start from and an add function that
// returns false once the page is full (recording where the next starts).
func (s *Volumes) listBlocks(ctx context.Context, scope string, startIndex int64, maxResults int, token string,
	walk func(tx metadata.Tx, from int64, add func(BlockEntry) bool) (volumeSize int64, err error)) (BlockPage, error) {
	limit, err := pageLimit(maxResults)
	if err != nil {
		return BlockPage{}, err
	}
	from, err := s.pageStart(scope, token, startIndex)
	if err != nil {
		return BlockPage{}, err
	}
	var page BlockPage
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		page.Blocks, page.NextToken = nil, ""
		size, err := walk(tx, from, func(e BlockEntry) bool {
			if len(page.Blocks) == limit {
				page.NextToken = s.pageToken(scope, e.Index)
				return false
			}
			page.Blocks = append(page.Blocks, e)
			return true
		})
		page.VolumeSize = size
		if errors.Is(err, errStopWalk) {
			err = nil
		}
		return err
	})
	page.Expiry = s.nowUTC().Add(pagetoken.MaxAge)
	return page, err
}

var errStopWalk = errors.New("stop walk")

// ListSnapshotBlocks returns a page of the blocks of a completed snapshot
// that hold data, from startIndex on, with a token to read each.
func (s *Volumes) ListSnapshotBlocks(ctx context.Context, p openami.Principal, id string, startIndex int64, maxResults int, token string) (BlockPage, error) {
	scope := pagetoken.Scope("ListSnapshotBlocks", p.AccountID, id)
	return s.listBlocks(ctx, scope, startIndex, maxResults, token, func(tx metadata.Tx, from int64, add func(BlockEntry) bool) (int64, error) {
		snap, err := readableSnapshot(tx, p, id)
		if err != nil {
			return 0, err
		}
		return snap.VolumeSize, s.maps.Walk(txNodes{tx: tx, region: p.Region}, snap.Root, from, func(index int64, d openami.Digest) error {
			if !add(BlockEntry{Index: index, Token: s.blockToken(snap.ID, index, d)}) {
				return errStopWalk
			}
			return nil
		})
	})
}

// ListChangedBlocks returns a page of the indexes, from startIndex on,
// where the second snapshot differs from the first (or, without a first,
// where the second holds data), with tokens to read each side.
func (s *Volumes) ListChangedBlocks(ctx context.Context, p openami.Principal, firstID, secondID string, startIndex int64, maxResults int, token string) (BlockPage, error) {
	scope := pagetoken.Scope("ListChangedBlocks", p.AccountID, firstID, secondID)
	return s.listBlocks(ctx, scope, startIndex, maxResults, token, func(tx metadata.Tx, from int64, add func(BlockEntry) bool) (int64, error) {
		second, err := readableSnapshot(tx, p, secondID)
		if err != nil {
			return 0, err
		}
		var first openami.Snapshot
		if firstID != "" {
			if first, err = readableSnapshot(tx, p, firstID); err != nil {
				var e *openami.Error
				if errors.As(err, &e) {
					e.Field = "FirstSnapshotId"
				}
				return 0, err
			}
			if first.VolumeSize > second.VolumeSize {
				return 0, openami.FieldErrorf(openami.InvalidParameter, "FirstSnapshotId", "The first snapshot is larger than the second.")
			}
		}
		ns := txNodes{tx: tx, region: p.Region}
		return second.VolumeSize, s.maps.Diff(ns, first.Root, second.Root, from, func(index int64, da, db openami.Digest) error {
			e := BlockEntry{Index: index}
			if !da.IsZero() {
				e.Token = s.blockToken(first.ID, index, da)
			}
			if !db.IsZero() {
				e.SecondToken = s.blockToken(second.ID, index, db)
			}
			if !add(e) {
				return errStopWalk
			}
			return nil
		})
	})
}

// GetSnapshotBlock reads one block of a snapshot the caller may read,
// named by a token from ListSnapshotBlocks or ListChangedBlocks, into dst
// (BlockSize bytes), and returns its base64 SHA-256 checksum.
func (s *Volumes) GetSnapshotBlock(ctx context.Context, p openami.Principal, id string, index int64, token string, dst []byte) (string, error) {
	raw, err := s.tokens.Decode(pagetoken.Scope("block", id, fmt.Sprint(index)), token)
	if err != nil || len(raw) != len(openami.Digest{}) {
		return "", openami.FieldErrorf(openami.InvalidToken, "BlockToken", "The block token is invalid.")
	}
	var d openami.Digest
	copy(d[:], raw)
	var keyARN string
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		snap, err := readableSnapshot(tx, p, id)
		if err != nil {
			return err
		}
		keyARN = snap.KmsKeyID
		return s.CheckKeyUse(tx, p, "SnapshotId", keyARN)
	})
	if err != nil {
		return "", err
	}
	rb, err := s.blocks(p.Region)
	if err != nil {
		return "", err
	}
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return "", err
	}
	if err := readChunk(ctx, rb, dk, d, dst); err != nil {
		return "", fmt.Errorf("ebs: read block %d of %s: %w", index, id, err)
	}
	if dk != nil {
		// An encrypted chunk's name is not its checksum.
		d = sha256.Sum256(dst)
	}
	return base64.StdEncoding.EncodeToString(d[:]), nil
}
