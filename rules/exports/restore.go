package exports

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/param"
)

// CreateRestoreImageTaskInput is CreateRestoreImageTask's request.
type CreateRestoreImageTaskInput struct {
	ImageBucket string // the bucket
	ObjectKey   string
	// Name is the new image's name; "" keeps the stored image's.
	Name string
	Tags []openami.Tag
}

// restoreTimeout is how long a restore's pending snapshots may wait for
// their blocks before they error.
const restoreTimeout = 24 * time.Hour

// CreateRestoreImageTask reads the header of a stored image the caller may
// read, and registers a new image of the caller's over new pending
// snapshots (new ids, encrypted under the stored snapshots' keys, which
// the caller must be able to use), and records a task that writes their
// blocks; the image is pending until they complete, as on EC2. It returns
// the new image's id.
func (s *Exports) CreateRestoreImageTask(ctx context.Context, p openami.Principal, in CreateRestoreImageTaskInput) (string, error) {
	switch {
	case in.ImageBucket == "":
		return "", param.Missing("ImageBucket")
	case in.ObjectKey == "":
		return "", param.Missing("ObjectKey")
	}
	h, err := s.readHeader(ctx, p, in.ImageBucket, in.ObjectKey)
	if err != nil {
		return "", err
	}
	name := in.Name
	if name == "" {
		name = h.Image.Name
	}
	if err := images.CheckImageName(name); err != nil {
		return "", err
	}
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		for _, snap := range h.Snapshots {
			if err := s.ebs.CheckKeyUse(tx, p, "ObjectKey", snap.KmsKeyID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	t := openami.ExportTask{ID: ids.New("restore-ami"), Kind: openami.ExportKindRestore, Region: p.Region, AccountID: p.AccountID,
		ImageID: h.Image.ID, Bucket: in.ImageBucket, Key: in.ObjectKey, ImageName: name, State: openami.ExportActive,
		StatusMessage: "pending", CreatedAt: s.now().UTC(), Tags: in.Tags}
	newID := map[string]string{}
	for _, snap := range h.Snapshots {
		v, err := s.ebs.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: snap.VolumeSize, Encrypted: snap.Encrypted,
			KmsKeyARN: snap.KmsKeyID, Timeout: restoreTimeout, Description: "Restored from " + snap.ID + " of " + h.Image.ID})
		if err != nil {
			s.failSnapshots(t, "restore refused")
			return "", err
		}
		t.NewSnapshots = append(t.NewSnapshots, v.ID)
		newID[snap.ID] = v.ID
	}
	var mappings []openami.BlockDeviceMapping
	for _, m := range h.Image.BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotID != "" {
			e := *m.Ebs
			e.SnapshotID = newID[e.SnapshotID]
			e.KmsKeyID, e.Encrypted = "", false // the snapshot's own
			m.Ebs = &e
		}
		mappings = append(mappings, m)
	}
	img := h.Image
	t.NewImageID, err = s.images.RegisterImage(ctx, p, images.RegisterImageInput{Name: name, Description: img.Description,
		Architecture: img.Architecture, RootDeviceName: img.RootDeviceName, VirtualizationType: img.VirtualizationType,
		BootMode: img.BootMode, TpmSupport: img.TpmSupport, ImdsSupport: img.ImdsSupport, SriovNetSupport: img.SriovNetSupport,
		EnaSupport: img.EnaSupport, BlockDeviceMappings: mappings, Tags: in.Tags})
	if err != nil {
		s.failSnapshots(t, "restore refused")
		return "", err
	}
	if err := s.store.Update(ctx, func(tx metadata.Tx) error { return tx.ExportTasks().Create(t) }); err != nil {
		s.failSnapshots(t, "restore failed")
		return "", err
	}
	s.kick()
	return t.NewImageID, nil
}

// readHeader reads the header of a stored image p may read.
func (s *Exports) readHeader(ctx context.Context, p openami.Principal, bucket, key string) (storeHeader, error) {
	r, err := s.objects.GetObject(ctx, objects.As(p), bucket, key, nil, objects.Conditions{})
	if err != nil {
		return storeHeader{}, err
	}
	defer r.Body.Close()
	sr, err := newStoreReader(r.Body)
	if err != nil {
		return storeHeader{}, param.Invalid("ObjectKey", key, "The object is not an image stored by CreateStoreImageTask.")
	}
	h := sr.header
	if len(h.Snapshots) == 0 || h.Image.RootDeviceName == "" {
		return h, param.Invalid("ObjectKey", key, "The object is not an image stored by CreateStoreImageTask.")
	}
	return h, nil
}

// failSnapshots turns the pending snapshots a restore made to error, so
// that its image fails.
func (s *Exports) failSnapshots(t openami.ExportTask, reason string) {
	if len(t.NewSnapshots) == 0 {
		return
	}
	s.store.Update(context.Background(), func(tx metadata.Tx) error { return s.failSnapshotsIn(tx, t, reason) })
}

func (s *Exports) failSnapshotsIn(tx metadata.Tx, t openami.ExportTask, reason string) error {
	for _, id := range t.NewSnapshots {
		snap, err := s.ebs.Snapshot(tx, t.Region, id)
		if errors.Is(err, openami.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if snap.State == openami.SnapshotPending && !snap.Completing {
			if err := s.ebs.FailSnapshot(tx, snap, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// runRestore writes the stored blocks into the restore's snapshots and
// completes them; the worker then builds their maps and the image turns
// available. A rerun writes the blocks again (a block written twice is
// the same block).
func (s *Exports) runRestore(ctx context.Context, t openami.ExportTask) error {
	p := openami.Principal{AccountID: t.AccountID, Region: t.Region}
	t.StatusMessage = "restoring"
	t, err := s.progress(ctx, t)
	if err != nil {
		return s.ended(ctx, t, err)
	}
	r, err := s.objects.GetObject(ctx, objects.As(p), t.Bucket, t.Key, nil, objects.Conditions{})
	if err != nil {
		return s.ended(ctx, t, err)
	}
	defer r.Body.Close()
	sr, err := newStoreReader(r.Body)
	if err != nil {
		return s.ended(ctx, t, err)
	}
	if len(sr.header.Snapshots) != len(t.NewSnapshots) {
		return s.ended(ctx, t, fmt.Errorf("%w: the object changed since the restore began", errBadStore))
	}
	var total int64
	for _, snap := range sr.header.Snapshots {
		total += snap.Blocks
	}
	// A snapshot a run before this one completed is left as it is.
	open := make([]bool, len(t.NewSnapshots))
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		for i, id := range t.NewSnapshots {
			snap, err := s.ebs.Snapshot(tx, t.Region, id)
			if err != nil {
				return err
			}
			open[i] = snap.State == openami.SnapshotPending && !snap.Completing
		}
		return nil
	})
	if err != nil {
		return s.ended(ctx, t, err)
	}
	buf := make([]byte, openami.BlockSize)
	written := make([]int64, len(t.NewSnapshots))
	var done int64
	for i, snap := range sr.header.Snapshots {
		for range snap.Blocks {
			index, d, frame, err := sr.next()
			if err != nil {
				return s.ended(ctx, t, err)
			}
			if done++; done%progressEvery == 0 {
				t.Progress = int(done * 99 / max(total, 1))
				if t, err = s.progress(ctx, t); err != nil {
					return s.ended(ctx, t, err)
				}
			}
			if len(frame) == 0 || !open[i] {
				continue // a block of zeros, or a snapshot already complete
			}
			if err := s.ebs.DecodeFrame(ctx, snap.KmsKeyID, d, frame, buf); err != nil {
				return s.ended(ctx, t, err)
			}
			sum := sha256.Sum256(buf)
			_, err = s.ebs.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: t.NewSnapshots[i], Index: index, Data: buf,
				DataLength: openami.BlockSize, Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256"})
			if err != nil {
				return s.ended(ctx, t, err)
			}
			written[i]++
		}
	}
	if err := sr.close(); err != nil {
		return s.ended(ctx, t, err)
	}
	for i, id := range t.NewSnapshots {
		if !open[i] {
			continue
		}
		if _, err := s.ebs.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: id, ChangedBlocksCount: written[i]}); err != nil {
			return s.ended(ctx, t, err)
		}
	}
	return s.store.Update(context.WithoutCancel(ctx), func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(t.Region, t.ID)
		if err != nil {
			return err
		}
		cur.State, cur.StatusMessage, cur.Progress = openami.ExportCompleted, "", 100
		return tx.ExportTasks().Update(cur)
	})
}
