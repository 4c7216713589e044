package imports

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/nbd"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Imports as service.New builds it, over rules/objects,
// rules/ebs and rules/images on a SQLite store, with an account whose
// principal in us-east-1 is p and a bucket "disks" it owns.
type fixture struct {
	imp      *Imports
	accounts *identity.Accounts
	vols     *ebs.Volumes
	images   *images.Registry
	objects  *objects.Buckets
	store    metadata.Store
	clock    *rulestest.Clock
	p        openami.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img (Debian's qemu-utils) is needed: ", err)
	}
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, clock: env.Clock}
	accounts := env.Identity()
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: accounts, KMS: keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.objects = objects.New(objects.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Clock: env.Clock.Now})
	f.images = images.New(images.Config{Store: env.Store, Regions: env.Regions, Identity: accounts, EBS: f.vols, Tokens: env.Tokens,
		Objects: f.objects, Clock: env.Clock.Now})
	f.imp = New(Config{Store: env.Store, EBS: f.vols, Images: f.images, Objects: f.objects, Tokens: env.Tokens,
		TempDir: t.TempDir(), Clock: env.Clock.Now, ServeFile: nbd.ServeFile})
	f.accounts = accounts
	f.p = rulestest.NewAccount(t, accounts, "test")
	if _, err := f.objects.CreateBucket(context.Background(), objects.As(f.p), "disks", "", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// put stores a file as an object of the bucket "disks".
func (f *fixture) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := f.objects.Put(context.Background(), objects.As(f.p), "disks", key, bytes.NewReader(data), int64(len(data)), openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
}

// run runs a task and returns it as Describe shows it.
func (f *fixture) run(t *testing.T, task openami.ImportTask) openami.ImportTask {
	t.Helper()
	ctx := context.Background()
	if err := f.imp.Run(ctx, task.Region, task.ID); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, _, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: task.Kind, IDs: []string{task.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return got[0]
}

// source is a 5 MiB raw disk: an MBR with one partition, random data in
// some blocks, zeros and holes elsewhere.
func source(t *testing.T) []byte {
	t.Helper()
	disk := make([]byte, 5<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range []int{0, 1 << 20, 3<<20 + 4096} {
		for i := off; i < off+300_000; i++ {
			disk[i] = byte(rng.Uint32())
		}
	}
	clear(disk[446:512])
	disk[446+4] = 0x83 // a Linux partition
	disk[510], disk[511] = 0x55, 0xAA
	return disk
}

// convertTo writes raw with qemu-img as format (qemu-img's name, options)
// and returns the file's bytes.
func convertTo(t *testing.T, raw []byte, format string, opts ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.raw"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"convert", "-q", "-f", "raw", "-O", format}, opts...)
	if out, err := exec.Command("qemu-img", append(args, src, dst)...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert -O %s: %v: %s", format, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshotBytes reads a snapshot back through the EBS direct API's rules,
// size bytes of it.
func (f *fixture) snapshotBytes(t *testing.T, id string, size int64) []byte {
	t.Helper()
	ctx := context.Background()
	out := make([]byte, size)
	page, err := f.vols.ListSnapshotBlocks(ctx, f.p, id, 0, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, openami.BlockSize)
	for _, b := range page.Blocks {
		if _, err := f.vols.GetSnapshotBlock(ctx, f.p, id, b.Index, b.Token, buf); err != nil {
			t.Fatal(err)
		}
		off := b.Index * openami.BlockSize
		if off >= size {
			if !allZero(buf) {
				t.Errorf("block %d past the disk's end holds data", b.Index)
			}
			continue
		}
		copy(out[off:], buf)
	}
	return out
}

// TestImportFormats imports a disk written by qemu-img in every format
// (and an OVA of a VMDK) with ImportImage, and reads each snapshot back
// byte for byte; the format is detected from the data whatever the key's
// extension or the declared format say.
func TestImportFormats(t *testing.T) {
	f := newFixture(t)
	raw := source(t)
	cases := []struct {
		name, declared, want string
		file                 []byte
	}{
		{"raw", "RAW", FormatRAW, raw},
		{"qcow2", "QCOW2", FormatQCOW2, convertTo(t, raw, "qcow2")},
		{"qcow2-declared-raw", "RAW", FormatQCOW2, convertTo(t, raw, "qcow2")},
		{"vmdk-sparse", "VMDK", FormatVMDK, convertTo(t, raw, "vmdk", "-o", "subformat=monolithicSparse")},
		{"vmdk-stream", "VMDK", FormatVMDK, convertTo(t, raw, "vmdk", "-o", "subformat=streamOptimized")},
		{"vhd-dynamic", "VHD", FormatVHD, convertTo(t, raw, "vpc", "-o", "subformat=dynamic,force_size=on")},
		{"vhd-fixed", "VHD", FormatVHD, convertTo(t, raw, "vpc", "-o", "subformat=fixed,force_size=on")},
		{"vhdx", "VHDX", FormatVHDX, convertTo(t, raw, "vhdx")},
		{"ova", "OVA", FormatVMDK, ova(t, convertTo(t, raw, "vmdk", "-o", "subformat=streamOptimized"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.put(t, c.name+".img", c.file)
			task, err := f.imp.ImportImage(context.Background(), f.p, ImportImageInput{
				Disks: []DiskContainer{{Format: c.declared, Bucket: "disks", Key: c.name + ".img"}}})
			if err != nil {
				t.Fatal(err)
			}
			if task.Status != openami.ImportActive || task.StatusMessage != openami.ImportPending {
				t.Errorf("new task: %s/%s", task.Status, task.StatusMessage)
			}
			got := f.run(t, task)
			if got.Status != openami.ImportCompleted {
				t.Fatalf("task %s: %s", got.Status, got.StatusMessage)
			}
			d := got.Disks[0]
			if d.Detected != c.want {
				t.Errorf("detected %s, want %s", d.Detected, c.want)
			}
			if d.VirtualSize < int64(len(raw)) {
				t.Fatalf("virtual size %d < %d", d.VirtualSize, len(raw))
			}
			back := f.snapshotBytes(t, d.SnapshotID, d.VirtualSize)
			if !bytes.Equal(back[:len(raw)], raw) || !allZero(back[len(raw):]) {
				t.Error("the snapshot's bytes differ from the source disk's")
			}
			var img openami.Image
			err = f.store.View(context.Background(), func(tx metadata.Tx) error {
				var err error
				img, err = tx.Images().Get(f.p.Region, got.ImageID)
				return err
			})
			if err != nil {
				t.Fatalf("image %s: %v", got.ImageID, err)
			}
			if img.RootDeviceName != "/dev/sda1" || len(img.BlockDeviceMappings) != 1 || img.BlockDeviceMappings[0].Ebs.SnapshotID != d.SnapshotID {
				t.Errorf("image: %+v", img)
			}
		})
	}
}

// ova returns a tar of an OVF descriptor and a disk.
func ova(t *testing.T, vmdk []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range []struct {
		name string
		data []byte
	}{{"vm.ovf", []byte("<Envelope/>")}, {"vm-disk1.vmdk", vmdk}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg})
		tw.Write(e.data)
	}
	tw.Close()
	return b.Bytes()
}

// TestImportFailures: a truncated or corrupt disk, a VMDK descriptor,
// and (ImportImage) a disk without a partition table fail the task with
// a clear StatusMessage and leave no snapshot; ImportSnapshot takes the
// partitionless disk.
func TestImportFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := source(t)
	qcow := convertTo(t, raw, "qcow2")
	corrupt := bytes.Clone(qcow)
	copy(corrupt[4:], []byte{0, 0, 0, 9}) // version 9
	noTable := bytes.Clone(raw)
	clear(noTable[:512])
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"data-file", qemuCreate(t, "qcow2", "data_file=%s/data.raw,data_file_raw=on"), "external data file"},
		{"backing-file", qemuCreate(t, "qcow2", "backing_file=%s/data.raw,backing_fmt=raw"), "backing file"},
		{"truncated", qcow[:len(qcow)/3], "ClientError: Disk validation failed"},
		{"corrupt", corrupt, "ClientError: Disk validation failed"},
		{"descriptor", []byte("# Disk DescriptorFile\nversion=1\n"), "VMDK descriptor"},
		{"no-partition-table", noTable, "no bootable partition table"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.put(t, c.name, c.file)
			task, err := f.imp.ImportImage(ctx, f.p, ImportImageInput{Disks: []DiskContainer{{Bucket: "disks", Key: c.name}}})
			if err != nil {
				t.Fatal(err)
			}
			got := f.run(t, task)
			if got.Status != openami.ImportDeleted || !strings.Contains(got.StatusMessage, c.want) {
				t.Errorf("task %s %q, want deleted with %q", got.Status, got.StatusMessage, c.want)
			}
			f.wantNoSnapshots(t)
		})
	}
	t.Run("snapshot-without-table", func(t *testing.T) {
		task, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{URL: "s3://disks/no-partition-table"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.run(t, task); got.Status != openami.ImportCompleted || got.Disks[0].SnapshotID == "" {
			t.Errorf("ImportSnapshot of a disk without a table: %s %q", got.Status, got.StatusMessage)
		}
	})
	_, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Format: "ISO", Bucket: "disks", Key: "x"}})
	if openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("format ISO: %v, want InvalidParameter", err)
	}
	_, err = f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "missing"}})
	if !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("a missing object: %v, want NotFound", err)
	}
}

// wantNoSnapshots fails unless the account has no snapshot.
func (f *fixture) wantNoSnapshots(t *testing.T) {
	t.Helper()
	n := 0
	f.store.View(context.Background(), func(tx metadata.Tx) error {
		list, err := tx.Snapshots().List(f.p.Region, metadata.SnapshotQuery{OwnerIDs: []string{f.p.AccountID}})
		n = len(list)
		return err
	})
	if n != 0 {
		t.Errorf("%d snapshots left", n)
	}
}

// TestImportCancel: a task cancelled before it runs, or while it runs,
// ends deleted with nothing left; a finished task cannot be cancelled.
func TestImportCancel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "d.qcow2", convertTo(t, source(t), "qcow2"))
	task, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "d.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	prev, err := f.imp.Cancel(ctx, f.p, task.ID)
	if err != nil || prev != openami.ImportActive {
		t.Fatalf("Cancel: %q, %v", prev, err)
	}
	got := f.run(t, task)
	if got.Status != openami.ImportDeleted || got.StatusMessage != openami.ImportCancelled {
		t.Errorf("cancelled task: %s %q", got.Status, got.StatusMessage)
	}
	if _, err := f.imp.Cancel(ctx, f.p, task.ID); openami.ClassOf(err) != openami.IncorrectState {
		t.Errorf("Cancel again: %v, want IncorrectState", err)
	}
	f.wantNoSnapshots(t)

	// While it runs: the task's first progress update after the snapshot
	// starts cancels it.
	task, err = f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "d.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	f.imp.afterStage = func(tk openami.ImportTask) {
		if tk.Disks[0].SnapshotID != "" {
			f.imp.afterStage = nil
			if _, err := f.imp.Cancel(ctx, f.p, tk.ID); err != nil {
				t.Error(err)
			}
		}
	}
	got = f.run(t, task)
	if got.Status != openami.ImportDeleted || got.StatusMessage != openami.ImportCancelled {
		t.Errorf("task cancelled while running: %s %q", got.Status, got.StatusMessage)
	}
	f.wantNoSnapshots(t)
}

// TestImportRestart: a task a stop interrupted after its snapshot started
// starts over on the next Run, deleting the half-written snapshot.
func TestImportRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := source(t)
	f.put(t, "d.qcow2", convertTo(t, raw, "qcow2"))
	task, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "d.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	stopCtx, stop := context.WithCancel(ctx)
	var first string
	f.imp.afterStage = func(tk openami.ImportTask) {
		if tk.Disks[0].SnapshotID != "" && first == "" {
			first = tk.Disks[0].SnapshotID
			stop() // the server stops
		}
	}
	if err := f.imp.Run(stopCtx, task.Region, task.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run stopped: %v", err)
	}
	f.imp.afterStage = nil
	pending, err := f.imp.Pending(ctx, []string{f.p.Region})
	if err != nil || len(pending) != 1 || pending[0].Status != openami.ImportActive {
		t.Fatalf("Pending after the stop: %+v, %v", pending, err)
	}
	got := f.run(t, task)
	if got.Status != openami.ImportCompleted || got.Disks[0].SnapshotID == first {
		t.Fatalf("after the restart: %s %q, snapshot %s (first %s)", got.Status, got.StatusMessage, got.Disks[0].SnapshotID, first)
	}
	if _, err := f.vols.ListSnapshotBlocks(ctx, f.p, first, 0, 0, ""); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("the first run's snapshot: %v, want NotFound", err)
	}
	if back := f.snapshotBytes(t, got.Disks[0].SnapshotID, int64(len(raw))); !bytes.Equal(back, raw) {
		t.Error("the snapshot's bytes differ from the source disk's")
	}
}

// TestImportEncryptedAndDescribe: Encrypted makes the snapshot under the
// account's default EBS key, read back equal; a bad key is the request's
// error; Describe pages through the caller's tasks of a kind, filters by
// state, and does not show another account's.
func TestImportEncryptedAndDescribe(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := source(t)
	f.put(t, "d.raw", raw)
	if _, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Encrypted: true, KmsKeyID: "alias/none",
		Disk: DiskContainer{Bucket: "disks", Key: "d.raw"}}); err == nil {
		t.Error("a key that does not exist was taken")
	}
	task, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Encrypted: true, Disk: DiskContainer{Bucket: "disks", Key: "d.raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if !task.Encrypted || task.KmsKeyARN == "" {
		t.Errorf("encrypted task: %v %q", task.Encrypted, task.KmsKeyARN)
	}
	got := f.run(t, task)
	if got.Status != openami.ImportCompleted {
		t.Fatalf("task %s %q", got.Status, got.StatusMessage)
	}
	var snap openami.Snapshot
	f.store.View(ctx, func(tx metadata.Tx) error {
		snap, err = tx.Snapshots().Get(f.p.Region, got.Disks[0].SnapshotID)
		return err
	})
	if err != nil || !snap.Encrypted || snap.KmsKeyID != task.KmsKeyARN {
		t.Errorf("snapshot: %+v, %v", snap, err)
	}
	if back := f.snapshotBytes(t, snap.ID, int64(len(raw))); !bytes.Equal(back, raw) {
		t.Error("the encrypted snapshot's bytes differ from the source disk's")
	}

	for range 2 {
		if _, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "d.raw"}}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for token := ""; ; {
		page, next, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportSnapshotTask, MaxResults: 2, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			seen = append(seen, tk.ID)
		}
		if token = next; token == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Errorf("paged through %q, want 3 tasks", seen)
	}
	done, _, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportSnapshotTask, States: []string{openami.ImportCompleted}})
	if err != nil || len(done) != 1 || done[0].ID != task.ID {
		t.Errorf("completed tasks: %+v, %v", done, err)
	}
	if imgs, _, _ := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportImageTask}); len(imgs) != 0 {
		t.Errorf("image tasks: %+v", imgs)
	}
	other := rulestest.NewAccount(t, f.accounts, "other")
	if _, _, err := f.imp.Describe(ctx, other, DescribeInput{Kind: openami.ImportSnapshotTask, IDs: []string{task.ID}}); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("another account's Describe of the task: %v, want NotFound", err)
	}
	if _, err := f.imp.Cancel(ctx, other, task.ID); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("another account's Cancel: %v, want NotFound", err)
	}
}

// TestImportImageDisks: an ImportImage of two disks registers an image
// with the first as its root (/dev/sda1) and the second as /dev/sdb,
// each over its own snapshot; the second needs no partition table.
func TestImportImageDisks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root, data := source(t), make([]byte, 3<<20)
	copy(data[1<<20:], "some data")
	f.put(t, "root.vhdx", convertTo(t, root, "vhdx"))
	f.put(t, "data.qcow2", convertTo(t, data, "qcow2"))
	task, err := f.imp.ImportImage(ctx, f.p, ImportImageInput{Architecture: "arm64", BootMode: "uefi",
		Disks: []DiskContainer{{Bucket: "disks", Key: "root.vhdx"}, {URL: "s3://disks/data.qcow2"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.run(t, task)
	if got.Status != openami.ImportCompleted || len(got.Disks) != 2 {
		t.Fatalf("task %s %q, %d disks", got.Status, got.StatusMessage, len(got.Disks))
	}
	var img openami.Image
	err = f.store.View(ctx, func(tx metadata.Tx) error {
		img, err = tx.Images().Get(f.p.Region, got.ImageID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if img.Architecture != "arm64" || img.BootMode != "uefi" || len(img.BlockDeviceMappings) != 2 ||
		img.BlockDeviceMappings[0].DeviceName != "/dev/sda1" || img.BlockDeviceMappings[0].Ebs.SnapshotID != got.Disks[0].SnapshotID ||
		img.BlockDeviceMappings[1].DeviceName != "/dev/sdb" || img.BlockDeviceMappings[1].Ebs.SnapshotID != got.Disks[1].SnapshotID {
		t.Errorf("image: %+v", img)
	}
	if back := f.snapshotBytes(t, got.Disks[1].SnapshotID, int64(len(data))); !bytes.Equal(back, data) {
		t.Error("the second disk's bytes differ")
	}
}

// qemuCreate returns a new 1 MiB disk made by qemu-img create with opts,
// in which %s stands for a temporary directory of the test's: qemu-img
// create writes an external data file it names, so no option may name a
// file outside it.
func qemuCreate(t *testing.T, format, opts string) []byte {
	t.Helper()
	dir := t.TempDir()
	opts = strings.ReplaceAll(opts, "%s", dir)
	if err := os.WriteFile(filepath.Join(dir, "data.raw"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "disk")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", format, "-o", opts, path, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create -o %s: %v: %s", opts, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
