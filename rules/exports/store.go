package exports

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/param"
)

// CreateStoreImageTaskInput is CreateStoreImageTask's request.
type CreateStoreImageTaskInput struct {
	ImageID     string
	ImageBucket string // the bucket
	// ObjectTags are the stored object's tags (S3's tag rules apply).
	ObjectTags []openami.Tag
}

// CreateStoreImageTask records a task that writes the image, its block
// device mapping and every snapshot of it, as one object IMAGE_ID.bin in
// the bucket (docs/STORE.md), and returns the object's key. The caller
// must be able to launch the image (as ExportImage); an image with an
// encrypted snapshot only its owner may store, with use of each key; the
// bucket must exist in the region and take the caller's writes. A refusal
// changes nothing.
func (s *Exports) CreateStoreImageTask(ctx context.Context, p openami.Principal, in CreateStoreImageTaskInput) (string, error) {
	if in.ImageID == "" {
		return "", param.Missing("ImageID")
	}
	if in.ImageBucket == "" {
		return "", param.Missing("ImageBucket")
	}
	if err := objects.CheckTags(in.ObjectTags); err != nil {
		return "", param.Invalid("ObjectTags", "", "%s.", err.Error())
	}
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		_, _, err := s.storable(tx, p, in.ImageID)
		return err
	})
	if err != nil {
		return "", err
	}
	if missing, err := s.bucketMissing(ctx, p, in.ImageBucket); missing {
		return "", param.Invalid("ImageBucket", in.ImageBucket, "The bucket does not exist in region %s.", p.Region)
	} else if err != nil {
		return "", err
	}
	t := openami.ExportTask{ID: ids.New("store-ami"), Kind: openami.ExportKindStore, Region: p.Region, AccountID: p.AccountID,
		ImageID: in.ImageID, Bucket: in.ImageBucket, Key: in.ImageID + ".bin", State: openami.ExportActive, StatusMessage: "pending",
		CreatedAt: s.now().UTC(), ObjectTags: in.ObjectTags}
	up, err := s.objects.CreateUpload(ctx, objects.As(p), t.Bucket, t.Key, openami.ObjectHeaders{Tags: t.ObjectTags}, objects.ACLInput{}, openami.Checksum{})
	if err != nil {
		return "", err
	}
	t.UploadID = up.ID
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, _, err := s.storable(tx, p, in.ImageID); err != nil {
			return err
		}
		return tx.ExportTasks().Create(t)
	})
	if err != nil {
		s.objects.AbortUpload(context.WithoutCancel(ctx), objects.As(p), t.Bucket, t.Key, t.UploadID)
		return "", err
	}
	s.kick()
	return t.Key, nil
}

// bucketMissing reports whether a bucket does not exist in p's region,
// or the error of looking (AccessDenied for one p may not list).
func (s *Exports) bucketMissing(ctx context.Context, p openami.Principal, name string) (bool, error) {
	b, err := s.objects.HeadBucket(ctx, objects.As(p), name)
	if errors.Is(err, openami.ErrNotFound) || err == nil && b.Region != p.Region {
		return true, nil
	}
	return false, err
}

// storable returns, in tx, the image p may store and its EBS snapshots
// (in mapping order).
func (s *Exports) storable(tx metadata.Tx, p openami.Principal, id string) (openami.Image, []openami.Snapshot, error) {
	img, err := s.images.LaunchableImage(tx, p, id)
	if err != nil {
		return img, nil, err
	}
	if rootSnapshot(img) == "" {
		return img, nil, openami.Errorf(openami.Unsupported, openami.ResourceImage,
			"The image %s is not EBS-backed: only EBS-backed images can be stored.", id)
	}
	snaps, err := s.snapshotsOf(tx, img)
	if err != nil {
		return img, nil, err
	}
	for _, snap := range snaps {
		if !snap.Encrypted {
			continue
		}
		if img.AccountID != p.AccountID {
			return img, nil, openami.Errorf(openami.Unsupported, openami.ResourceImage,
				"The image %s has encrypted snapshots: only its owner may store it.", id)
		}
		if err := s.ebs.CheckKeyUse(tx, p, "ImageID", snap.KmsKeyID); err != nil {
			return img, nil, err
		}
	}
	return img, snaps, nil
}

// snapshotsOf returns the snapshots of an image's EBS mappings, in order.
func (s *Exports) snapshotsOf(tx metadata.Tx, img openami.Image) ([]openami.Snapshot, error) {
	var snaps []openami.Snapshot
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs == nil || m.Ebs.SnapshotID == "" || slices.ContainsFunc(snaps, func(x openami.Snapshot) bool { return x.ID == m.Ebs.SnapshotID }) {
			continue
		}
		snap, err := s.ebs.Snapshot(tx, img.Region, m.Ebs.SnapshotID)
		if err != nil {
			return nil, fmt.Errorf("image %s: snapshot %s: %w", img.ID, m.Ebs.SnapshotID, err)
		}
		snaps = append(snaps, snap)
	}
	return snaps, nil
}

// The attributes of a store task that DescribeStoreImageTasks' filters
// test.
const (
	AttrStoreTaskState filter.Attr = "storeTaskState"
	AttrStoreBucket    filter.Attr = "storeBucket"
)

// StoreTaskAttrs are the attributes DescribeStoreImageTasks filters by.
// Read-only.
var StoreTaskAttrs = []filter.Attr{AttrStoreTaskState, AttrStoreBucket}

// StoreState is a store task's StoreTaskState in EC2's words.
func StoreState(t openami.ExportTask) string {
	switch t.State {
	case openami.ExportCompleted:
		return "Completed"
	case openami.ExportDeleted, openami.ExportDeleting:
		return "Failed"
	}
	return "InProgress"
}

// DescribeStoreImageTasks returns a page of the caller's store tasks in
// the region, all or those of the named images, that match the filters.
func (s *Exports) DescribeStoreImageTasks(ctx context.Context, p openami.Principal, imageIDs []string, filters []filter.Filter, pg describe.Page) ([]openami.ExportTask, string, error) {
	fs, err := filter.Compile(filters, StoreTaskAttrs...)
	if err != nil {
		return nil, "", err
	}
	if err := describe.CheckIDs(openami.ResourceImage, imageIDs, pg); err != nil {
		return nil, "", err
	}
	var all []openami.ExportTask
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		list, err := tx.ExportTasks().List(p.Region, p.AccountID, "", 0)
		for _, t := range list {
			if t.Kind == openami.ExportKindStore && (len(imageIDs) == 0 || slices.Contains(imageIDs, t.ImageID)) {
				all = append(all, t)
			}
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	id := func(t openami.ExportTask) string { return t.ID }
	scope := describe.Scope("DescribeStoreImageTasks", p, filters, strings.Join(imageIDs, ","))
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 200}, describe.Slice(all, nil, id), id, func(t openami.ExportTask) bool {
		return fs.Match(func(a filter.Attr) []string {
			switch a {
			case AttrStoreTaskState:
				return []string{StoreState(t)}
			case AttrStoreBucket:
				return []string{t.Bucket}
			}
			return nil
		}, nil)
	})
}

// runStore writes the stored-image object of t into its upload.
func (s *Exports) runStore(ctx context.Context, t openami.ExportTask, parts *partWriter) error {
	var (
		img    openami.Image
		snaps  []openami.Snapshot
		blocks [][]metadata.BlockRef
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if img, err = s.images.ImageOf(tx, t.Region, t.ImageID); err != nil {
			return err
		}
		if snaps, err = s.snapshotsOf(tx, img); err != nil {
			return err
		}
		blocks = make([][]metadata.BlockRef, len(snaps))
		for i, snap := range snaps {
			list, err := s.ebs.SnapshotBlocks(tx, snap)
			if err != nil {
				return err
			}
			blocks[i] = slices.DeleteFunc(list, func(b metadata.BlockRef) bool { return b.Digest.IsZero() })
		}
		return nil
	})
	if err != nil {
		return err
	}
	h := storeHeader{Image: storedImage{ID: img.ID, Region: img.Region, OwnerID: img.AccountID, Name: img.Name, Description: img.Description,
		Architecture: img.Architecture, VirtualizationType: img.VirtualizationType, RootDeviceName: img.RootDeviceName,
		BootMode: img.BootMode, TpmSupport: img.TpmSupport, ImdsSupport: img.ImdsSupport, SriovNetSupport: img.SriovNetSupport,
		EnaSupport: img.EnaSupport, BlockDeviceMappings: img.BlockDeviceMappings}}
	var total int64
	for i, snap := range snaps {
		h.Snapshots = append(h.Snapshots, storedSnapshot{ID: snap.ID, VolumeSize: snap.VolumeSize, Encrypted: snap.Encrypted,
			KmsKeyID: snap.KmsKeyID, Blocks: int64(len(blocks[i]))})
		total += int64(len(blocks[i]))
	}
	w, err := newStoreWriter(parts, h)
	if err != nil {
		return err
	}
	var done int64
	for i, snap := range snaps {
		n := int64(0)
		err := s.ebs.EachFrame(ctx, snap, blocks[i], func(index int64, d openami.Digest, frame []byte) error {
			n++
			if err := w.block(index, d, frame); err != nil {
				return err
			}
			if done++; done%progressEvery == 0 {
				t.Progress = int(done * 99 / max(total, 1))
				var err error
				t, err = s.progress(ctx, t)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != h.Snapshots[i].Blocks {
			// EachFrame skips the zero block's name: none is listed here.
			return fmt.Errorf("snapshot %s: wrote %d blocks of %d", snap.ID, n, h.Snapshots[i].Blocks)
		}
	}
	return w.close()
}
