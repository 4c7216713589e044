package exports

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// settle does the worker's part after a restore: build the completed
// snapshots' maps, settle pending images.
func (f *fixture) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pending, err := f.vols.PendingSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, snap := range pending {
		if snap.Completing {
			if err := f.vols.FinishSnapshot(ctx, snap.Region, snap.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.images.SettleImages(ctx); err != nil {
		t.Fatal(err)
	}
}

// blocksOf reads the non-zero blocks of an image's root snapshot.
func (f *fixture) blocksOf(t *testing.T, imageID string) (openami.Image, openami.Snapshot, map[int64][]byte) {
	t.Helper()
	ctx := context.Background()
	var (
		img    openami.Image
		snap   openami.Snapshot
		blocks []metadata.BlockRef
	)
	err := f.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if img, err = f.images.ImageOf(tx, "us-east-1", imageID); err != nil {
			return err
		}
		if snap, err = f.vols.Snapshot(tx, "us-east-1", rootSnapshot(img)); err != nil {
			return err
		}
		blocks, err = f.vols.SnapshotBlocks(tx, snap)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64][]byte{}
	err = f.vols.EachBlock(ctx, snap, blocks, func(index int64, data []byte) error {
		got[index] = bytes.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return img, snap, got
}

// TestStoreAndRestore stores a plain and an encrypted image and restores
// them as new images of the restorer: same blocks, new ids, the
// encrypted one still under its key; the stored encrypted image holds no
// plaintext.
func TestStoreAndRestore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key, err := f.keys.CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	plain := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	sealed := f.image(t, f.p, ebs.StartSnapshotInput{Encrypted: true, KmsKeyARN: key.ARN()}, testBlocks)
	for _, src := range []string{plain, sealed} {
		objTags := []openami.Tag{{Key: "image", Value: src}, {Key: "kind", Value: "stored ami"}}
		objKey, err := f.exports.CreateStoreImageTask(ctx, f.p, CreateStoreImageTaskInput{ImageID: src, ImageBucket: "bkt", ObjectTags: objTags})
		if err != nil {
			t.Fatal(err)
		}
		if objKey != src+".bin" {
			t.Errorf("object key %s", objKey)
		}
		f.run(t)
		if got, err := f.objects.ObjectTags(ctx, objects.As(f.p), "bkt", objKey); err != nil || !reflect.DeepEqual(got, objTags) {
			t.Errorf("the stored object's tags: %v %v, want %v", got, err, objTags)
		}
		list, _, err := f.exports.DescribeStoreImageTasks(ctx, f.p, []string{src}, nil, describe.Page{})
		if err != nil || len(list) != 1 || StoreState(list[0]) != "Completed" || list[0].Progress != 100 {
			t.Fatalf("store task of %s: %+v, %v", src, list, err)
		}
		obj := f.object(t, objKey)
		if src == sealed {
			for _, b := range testBlocks {
				if bytes.Contains(obj, b[:64]) || bytes.Contains(obj, b[len(b)-64:]) {
					t.Fatalf("the stored encrypted image holds plaintext")
				}
			}
		}
		restored, err := f.exports.CreateRestoreImageTask(ctx, f.p, CreateRestoreImageTaskInput{ImageBucket: "bkt", ObjectKey: objKey, Name: "restored-" + src})
		if err != nil {
			t.Fatal(err)
		}
		f.run(t)
		f.settle(t)
		img, snap, got := f.blocksOf(t, restored)
		_, orig, _ := f.blocksOf(t, src)
		if img.State != openami.ImageAvailable || img.AccountID != f.p.AccountID || img.Name != "restored-"+src || snap.ID == orig.ID {
			t.Errorf("restored image %+v over %s", img, snap.ID)
		}
		if snap.Encrypted != orig.Encrypted || snap.KmsKeyID != orig.KmsKeyID {
			t.Errorf("restored snapshot encrypted %v under %q; the original %v under %q", snap.Encrypted, snap.KmsKeyID, orig.Encrypted, orig.KmsKeyID)
		}
		if len(got) != len(testBlocks) {
			t.Errorf("restored %d blocks, want %d", len(got), len(testBlocks))
		}
		for i, b := range testBlocks {
			if !bytes.Equal(got[i], b) {
				t.Errorf("block %d of the restored image differs", i)
			}
		}
	}
}

// TestStoreRefusals: another account may not store an encrypted image
// shared with it, nor restore a stored encrypted image without use of
// its key; nothing changes.
func TestStoreRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := rulestest.NewAccount(t, f.accounts, "other")
	key, err := f.keys.CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	sealed := f.image(t, f.p, ebs.StartSnapshotInput{Encrypted: true, KmsKeyARN: key.ARN()}, testBlocks)
	if err := f.images.ModifyImageAttribute(ctx, f.p, images.ModifyImageAttributeInput{ImageID: sealed,
		Add: []openami.LaunchPermission{{AccountID: other.AccountID}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.objects.CreateBucket(ctx, objects.As(other), "other-bkt", "us-east-1", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	_, err = f.exports.CreateStoreImageTask(ctx, other, CreateStoreImageTaskInput{ImageID: sealed, ImageBucket: "other-bkt"})
	rulestest.WantClass(t, "store another's encrypted image", err, openami.Unsupported, openami.ResourceImage)
	_, err = f.exports.CreateStoreImageTask(ctx, f.p, CreateStoreImageTaskInput{ImageID: sealed, ImageBucket: "nope"})
	rulestest.WantClass(t, "store into a missing bucket", err, openami.InvalidParameter, "")
	_, err = f.exports.CreateStoreImageTask(ctx, f.p, CreateStoreImageTaskInput{ImageID: sealed, ImageBucket: "bkt",
		ObjectTags: []openami.Tag{{Key: "aws:reserved", Value: "x"}}})
	rulestest.WantClass(t, "store with S3's refused tags", err, openami.InvalidParameter, "")
	if list, _, _ := f.exports.DescribeStoreImageTasks(ctx, f.p, []string{sealed}, nil, describe.Page{}); len(list) != 0 {
		t.Errorf("a refused store left a task: %+v", list)
	}
	objKey, err := f.exports.CreateStoreImageTask(ctx, f.p, CreateStoreImageTaskInput{ImageID: sealed, ImageBucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if err := f.objects.PutObjectACL(ctx, objects.As(f.p), "bkt", objKey, objects.ACLInput{Canned: objects.CannedPublicRead, Explicit: true}); err != nil {
		t.Fatal(err)
	}
	_, err = f.exports.CreateRestoreImageTask(ctx, other, CreateRestoreImageTaskInput{ImageBucket: "bkt", ObjectKey: objKey, Name: "stolen"})
	if err == nil {
		t.Fatal("another account restored an encrypted image without use of its key")
	}
	_, err = f.exports.CreateRestoreImageTask(ctx, f.p, CreateRestoreImageTaskInput{ImageBucket: "bkt", ObjectKey: "nope.bin", Name: "x-image"})
	if err == nil {
		t.Fatal("restored from a missing object")
	}
	err = f.store.View(ctx, func(tx metadata.Tx) error {
		snaps, err := tx.Snapshots().List("us-east-1", metadata.SnapshotQuery{OwnerIDs: []string{other.AccountID}})
		if err == nil && len(snaps) != 0 {
			t.Errorf("a refused restore left snapshots: %+v", snaps)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestoreAfterRestart: a restore a restart interrupted after it
// completed one of its two snapshots runs again to an available image
// with every block.
func TestRestoreAfterRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, root, _ := f.blocksOf(t, f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks))
	extraBlock := rulestest.Block(9)
	_, extra, _ := f.blocksOf(t, f.image(t, f.p, ebs.StartSnapshotInput{}, map[int64][]byte{9: extraBlock}))
	both, err := f.images.RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "two-disks", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{
			{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: root.ID}},
			{DeviceName: "/dev/xvdb", Ebs: &openami.EbsBlockDevice{SnapshotID: extra.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	objKey, err := f.exports.CreateStoreImageTask(ctx, f.p, CreateStoreImageTaskInput{ImageID: both, ImageBucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t)
	restored, err := f.exports.CreateRestoreImageTask(ctx, f.p, CreateRestoreImageTaskInput{ImageBucket: "bkt", ObjectKey: objKey, Name: "again"})
	if err != nil {
		t.Fatal(err)
	}
	// What a run that stopped after completing the second snapshot leaves.
	var task openami.ExportTask
	err = f.store.View(ctx, func(tx metadata.Tx) error {
		list, err := tx.ExportTasks().List("us-east-1", f.p.AccountID, "", 0)
		for _, x := range list {
			if x.Kind == openami.ExportKindRestore {
				task = x
			}
		}
		return err
	})
	if err != nil || len(task.NewSnapshots) != 2 {
		t.Fatalf("restore task %+v, %v", task, err)
	}
	if _, err := f.vols.PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{SnapshotID: task.NewSnapshots[1], Index: 9, Data: extraBlock,
		DataLength: openami.BlockSize, Checksum: rulestest.Checksum(extraBlock), ChecksumAlgorithm: "SHA256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: task.NewSnapshots[1], ChangedBlocksCount: 1}); err != nil {
		t.Fatal(err)
	}
	task.StatusMessage, task.Progress = "restoring", 50
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.ExportTasks().Update(task) }); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	f.settle(t)
	img, _, got := f.blocksOf(t, restored)
	if img.State != openami.ImageAvailable {
		t.Fatalf("restored image %s: %+v", img.State, img.StateReason)
	}
	for i, b := range testBlocks {
		if !bytes.Equal(got[i], b) {
			t.Errorf("root block %d differs", i)
		}
	}
}
