package exports

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Exports as service.New builds it, over a SQLite store, with
// an account p that owns a bucket "b" in us-east-1. run does what the
// worker's pass does for exports.
type fixture struct {
	exports  *Exports
	images   *images.Registry
	vols     *ebs.Volumes
	objects  *objects.Buckets
	accounts *identity.Accounts
	keys     *kms.Keys
	store    metadata.Store
	p        openami.Principal
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, accounts: env.Identity()}
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.keys = keys
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: f.accounts, KMS: keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.objects = objects.New(objects.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Clock: env.Clock.Now})
	f.images = images.New(images.Config{Store: env.Store, Regions: env.Regions, Identity: f.accounts, EBS: f.vols, Tokens: env.Tokens,
		Objects: f.objects, Clock: env.Clock.Now})
	f.exports = New(Config{Store: env.Store, Images: f.images, EBS: f.vols, Objects: f.objects, Tokens: env.Tokens, Clock: env.Clock.Now,
		PartSize: 5 << 20})
	f.p = rulestest.NewAccount(t, f.accounts, "test")
	if _, err := f.objects.CreateBucket(context.Background(), objects.As(f.p), "bkt", "us-east-1", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// image registers an image of p's over a new 1 GiB snapshot holding
// blocks (by index), and returns its id.
func (f *fixture) image(t testing.TB, p openami.Principal, in ebs.StartSnapshotInput, blocks map[int64][]byte) string {
	t.Helper()
	ctx := context.Background()
	if in.VolumeSize == 0 {
		in.VolumeSize = 1
	}
	snap, err := f.vols.StartSnapshot(ctx, p, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if _, err := f.vols.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: i, Data: b,
			DataLength: openami.BlockSize, Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.vols.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: int64(len(blocks))}); err != nil {
		t.Fatal(err)
	}
	if err := f.vols.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
		t.Fatal(err)
	}
	id, err := f.images.RegisterImage(ctx, p, images.RegisterImageInput{Name: "img-" + snap.ID, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// run runs the worker's exports to their end.
func (f *fixture) run(t testing.TB) {
	t.Helper()
	if err := f.exports.RunExports(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.exports.Wait()
}

// task returns p's task by id.
func (f *fixture) task(t testing.TB, id string) openami.ExportTask {
	t.Helper()
	list, _, err := f.exports.DescribeExportImageTasks(context.Background(), f.p, []string{id}, nil, describe.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("describe %s: %v, %v", id, list, err)
	}
	return list[0]
}

// object returns the bytes of an object of bucket b, nil if none.
func (f *fixture) object(t testing.TB, key string) []byte {
	t.Helper()
	r, err := f.objects.GetObject(context.Background(), objects.As(f.p), "bkt", key, nil, objects.Conditions{})
	if err != nil {
		return nil
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploads returns the number of multipart uploads open in bucket b.
func (f *fixture) uploads(t *testing.T) int {
	t.Helper()
	page, err := f.objects.ListUploads(context.Background(), objects.As(f.p), "bkt", "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Uploads)
}

var testBlocks = map[int64][]byte{0: rulestest.Block(1), 3: rulestest.Block(2), 2047: rulestest.Block(3)}

// rawDisk writes the 1 GiB disk of testBlocks as a sparse file.
func rawDisk(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.raw")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	for i, b := range testBlocks {
		if _, err := fh.WriteAt(b, i*openami.BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestExportImage exports an image to VMDK and to RAW (an encrypted one:
// its owner's export is its plain disk) and checks the objects against
// the disk.
func TestExportImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	sealed := f.image(t, f.p, ebs.StartSnapshotInput{Encrypted: true}, testBlocks)
	vmdk, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: plain, DiskImageFormat: "VMDK", S3Bucket: "bkt", S3Prefix: "exports/",
		RoleName: "vmimport", Tags: []openami.Tag{{Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	if vmdk.Key != "exports/"+vmdk.ID+".vmdk" || vmdk.State != openami.ExportActive {
		t.Errorf("task = %+v", vmdk)
	}
	raw, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: sealed, DiskImageFormat: "raw", S3Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t)
	for _, id := range []string{vmdk.ID, raw.ID} {
		if got := f.task(t, id); got.State != openami.ExportCompleted || got.Progress != 100 || got.UploadID != "" {
			t.Errorf("task %s after the run = %+v", id, got)
		}
	}
	disk := rawDisk(t)
	want, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.object(t, raw.Key); !bytes.Equal(got, want) {
		t.Errorf("RAW object of the encrypted image: %d bytes, not the disk", len(got))
	}
	file := filepath.Join(t.TempDir(), "disk.vmdk")
	if err := os.WriteFile(file, f.object(t, vmdk.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", disk, file).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare: %v\n%s", err, out)
		}
	}
	// A client token returns the same task.
	again, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: plain, DiskImageFormat: "VHD", S3Bucket: "bkt", ClientToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	same, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: plain, DiskImageFormat: "VHD", S3Bucket: "bkt", ClientToken: "tok"})
	if err != nil || same.ID != again.ID {
		t.Errorf("same client token: %s, %v; want %s", same.ID, err, again.ID)
	}
	// Filters: by state and by tag.
	list, _, err := f.exports.DescribeExportImageTasks(ctx, f.p, nil, filtersOf(map[string]string{string(AttrTaskState): "completed", "tag:k": "v"}), describe.Page{})
	if err != nil || len(list) != 1 || list[0].ID != vmdk.ID {
		t.Errorf("filtered = %+v, %v", list, err)
	}
}

// TestExportRefusals: each refused ExportImage leaves no task and no
// upload behind.
func TestExportRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := rulestest.NewAccount(t, f.accounts, "other")
	mine := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	theirs := f.image(t, other, ebs.StartSnapshotInput{}, testBlocks)
	key, err := f.keys.CreateKey(ctx, other, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	theirSealed := f.image(t, other, ebs.StartSnapshotInput{Encrypted: true, KmsKeyARN: key.ARN()}, testBlocks)
	// Shared with p, so p may launch it, but encrypted: not p's to export.
	if err := f.images.ModifyImageAttribute(ctx, other, images.ModifyImageAttributeInput{ImageID: theirSealed,
		Add: []openami.LaunchPermission{{AccountID: f.p.AccountID}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		in    ExportImageInput
		class openami.Class
		res   openami.ResourceType
	}{
		{"not launchable", ExportImageInput{ImageID: theirs, DiskImageFormat: "VMDK", S3Bucket: "bkt"}, openami.NotFound, openami.ResourceImage},
		{"encrypted, not the owner's", ExportImageInput{ImageID: theirSealed, DiskImageFormat: "VMDK", S3Bucket: "bkt"}, openami.Unsupported, openami.ResourceImage},
		{"missing bucket", ExportImageInput{ImageID: mine, DiskImageFormat: "VMDK", S3Bucket: "nope"}, openami.InvalidParameter, ""},
		{"bad format", ExportImageInput{ImageID: mine, DiskImageFormat: "QCOW2", S3Bucket: "bkt"}, openami.InvalidParameter, ""},
		{"no bucket", ExportImageInput{ImageID: mine, DiskImageFormat: "RAW"}, openami.MissingParameter, ""},
	} {
		_, err := f.exports.ExportImage(ctx, f.p, c.in)
		rulestest.WantClass(t, c.name, err, c.class, c.res)
	}
	if list, _, err := f.exports.DescribeExportImageTasks(ctx, f.p, nil, nil, describe.Page{}); err != nil || len(list) != 0 {
		t.Errorf("tasks after refusals: %+v, %v", list, err)
	}
	if n := f.uploads(t); n != 0 {
		t.Errorf("%d uploads after refusals", n)
	}
	_, _, err = f.exports.DescribeExportImageTasks(ctx, f.p, []string{"export-ami-0123456789abcdef0"}, nil, describe.Page{})
	rulestest.WantClass(t, "describe unknown", err, openami.NotFound, openami.ResourceExportTask)
}

// TestCancelExport: a cancelled task ends deleted with no object and no
// upload; a task no longer active cannot be cancelled.
func TestCancelExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	task, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: img, DiskImageFormat: "RAW", S3Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.exports.CancelExportTask(ctx, f.p, task.ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	got := f.task(t, task.ID)
	if got.State != openami.ExportDeleted || got.StatusMessage != Canceled {
		t.Errorf("cancelled task = %+v", got)
	}
	if f.object(t, task.Key) != nil || f.uploads(t) != 0 {
		t.Errorf("a cancelled export left an object or an upload")
	}
	err = f.exports.CancelExportTask(ctx, f.p, task.ID)
	rulestest.WantClass(t, "cancel twice", err, openami.IncorrectState, openami.ResourceExportTask)
	other := rulestest.NewAccount(t, f.accounts, "other")
	err = f.exports.CancelExportTask(ctx, other, task.ID)
	rulestest.WantClass(t, "cancel another's", err, openami.NotFound, openami.ResourceExportTask)
}

// TestExportAfterRestart: a task a restart interrupted mid-run (its
// upload holding parts) starts over: the old upload is aborted and the
// object is whole.
func TestExportAfterRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	task, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: img, DiskImageFormat: "VMDK", S3Bucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	// What a crash mid-run leaves: a part uploaded, the task converting.
	if _, err := f.objects.UploadPart(ctx, objects.As(f.p), "bkt", task.Key, task.UploadID, 1, bytes.NewReader([]byte("junk")), 4); err != nil {
		t.Fatal(err)
	}
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.ExportTasks().Get(task.Region, task.ID)
		cur.StatusMessage, cur.Progress = "converting", 40
		if err != nil {
			return err
		}
		return tx.ExportTasks().Update(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if got := f.task(t, task.ID); got.State != openami.ExportCompleted {
		t.Fatalf("task after the rerun = %+v", got)
	}
	if n := f.uploads(t); n != 0 {
		t.Errorf("%d uploads left open", n)
	}
	file := filepath.Join(t.TempDir(), "disk.vmdk")
	if err := os.WriteFile(file, f.object(t, task.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", rawDisk(t), file).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare: %v\n%s", err, out)
		}
	}
}

// filtersOf makes one filter of each name and value.
func filtersOf(m map[string]string) []filter.Filter {
	var fs []filter.Filter
	for k, v := range m {
		fs = append(fs, filter.Filter{Name: k, Values: []string{v}})
	}
	return fs
}
