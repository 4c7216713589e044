package instances

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/bundle"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// bundleTask reads a task's record.
func (f *fixture) bundleTask(t testing.TB, id string) openami.BundleTask {
	t.Helper()
	var task openami.BundleTask
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		task, err = tx.BundleTasks().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// bundlePass is the worker's pass over bundle tasks, whole.
func (f *fixture) bundlePass(t *testing.T) {
	t.Helper()
	if err := f.machines.AdvanceBundleTasks(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.machines.Wait()
}

// keys lists the keys of a bucket that start with prefix.
func (f *fixture) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	page, err := f.objects.ListObjects(context.Background(), objects.As(f.p), bucket, objects.ListInput{Prefix: prefix, MaxKeys: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range page.Objects {
		out = append(out, o.Key)
	}
	return out
}

// unbundleAsEC2 reads a bundle from the bucket as EC2 does to launch it:
// the manifest must verify under the region's EC2 certificate, its key
// open with the region's EC2 key, and every part be readable by EC2
// (aws-exec-read). It returns the SHA-256 and size of the image.
func (f *fixture) unbundleAsEC2(t *testing.T, bucket, prefix string) ([]byte, int64) {
	t.Helper()
	ctx := context.Background()
	r, _, err := f.objects.Open(ctx, objects.EC2(), bucket, prefix+".manifest.xml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := f.accounts.EC2Certificate(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(cert); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	key, iv, err := m.EC2Key(func(c []byte) ([]byte, error) { return f.accounts.EC2Decrypt(ctx, "us-east-1", c) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m.UserEncryptedKey) != 0 || len(m.UserEncryptedIV) != 0 {
		t.Error("the manifest has a user key: EC2 made it for nobody else")
	}
	h := sha256.New()
	n := &countWriter{w: h}
	open := func(p bundle.Part) (io.ReadCloser, error) {
		r, _, err := f.objects.Open(ctx, objects.EC2(), bucket, p.Filename)
		return r, err
	}
	if err := bundle.Unbundle(ctx, m, key, iv, open, n); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil), n.n
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// block0 reads block 0 of the caller's volume (the image's random block).
func (f *fixture) block0(t *testing.T, vol string) []byte {
	t.Helper()
	b := make([]byte, openami.BlockSize)
	if err := f.vols.ReadVolumeBlock(context.Background(), f.p, vol, 0, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// volumeDigest is the SHA-256 of a 1 GiB volume holding blocks (by
// index), zeros elsewhere.
func volumeDigest(blocks map[int64][]byte) []byte {
	h := sha256.New()
	zeros := make([]byte, openami.BlockSize)
	for i := range int64(1<<30) / openami.BlockSize {
		if b, ok := blocks[i]; ok {
			h.Write(b)
		} else {
			h.Write(zeros)
		}
	}
	return h.Sum(nil)
}

// TestBundleInstance: the refusals change nothing; a task of a running
// instance completes, its bundle (written after BundleInstance returned
// not in it) opens with EC2's key to the root volume's bytes; its
// snapshot goes with it; a completed task cannot be cancelled.
func TestBundleInstance(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := f.launch(t, "bundled")
	vol := inst.BlockDevices[0].VolumeID
	first, written := f.block0(t, vol), rulestest.Block(5)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol, 5, written); err != nil {
		t.Fatal(err)
	}
	other := rulestest.NewAccount(t, f.accounts, "other")
	if _, err := f.objects.CreateBucket(ctx, objects.As(other), "others-bucket", "", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}

	in := BundleInstanceInput{InstanceID: inst.ID, Bucket: "my-bundles", Prefix: "web"}
	for _, c := range []struct {
		what     string
		in       BundleInstanceInput
		class    openami.Class
		resource openami.ResourceType
	}{
		{"no bucket", BundleInstanceInput{InstanceID: inst.ID, Prefix: "web"}, openami.MissingParameter, ""},
		{"no prefix", BundleInstanceInput{InstanceID: inst.ID, Bucket: "bk1"}, openami.MissingParameter, ""},
		{"slash in prefix", BundleInstanceInput{InstanceID: inst.ID, Bucket: "bk1", Prefix: "a/b"}, openami.InvalidParameter, ""},
		{"bad bucket name", BundleInstanceInput{InstanceID: inst.ID, Bucket: "B_", Prefix: "web"}, openami.InvalidParameter, ""},
		{"unknown instance", BundleInstanceInput{InstanceID: "i-0123456789abcdef0", Bucket: "bk1", Prefix: "web"}, openami.NotFound, openami.ResourceInstance},
		{"another's bucket", BundleInstanceInput{InstanceID: inst.ID, Bucket: "others-bucket", Prefix: "web"}, openami.InvalidParameter, ""},
	} {
		_, err := f.machines.BundleInstance(ctx, f.p, c.in)
		wantClass(t, c.what, err, c.class, c.resource)
	}
	if tasks, err := f.machines.DescribeBundleTasks(ctx, f.p, nil, nil); err != nil || len(tasks) != 0 {
		t.Fatalf("after the refusals: %v, %v", tasks, err)
	}
	if b, err := f.objects.ListBuckets(ctx, objects.As(f.p)); err != nil || len(b) != 0 {
		t.Fatalf("after the refusals the caller has buckets %v (%v)", b, err)
	}

	task, err := f.machines.BundleInstance(ctx, f.p, in)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != openami.BundlePending || !strings.HasPrefix(task.ID, "bun-") || task.SnapshotID == "" {
		t.Fatalf("BundleInstance = %+v", task)
	}
	// Written after BundleInstance returned: not in the bundle.
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol, 6, rulestest.Block(6)); err != nil {
		t.Fatal(err)
	}
	got, err := f.machines.DescribeBundleTasks(ctx, f.p, []string{task.ID}, []filter.Filter{{Name: string(AttrBundleState), Values: []string{"pending"}}})
	if err != nil || len(got) != 1 {
		t.Fatalf("DescribeBundleTasks pending: %v, %v", got, err)
	}
	_, err = f.machines.DescribeBundleTasks(ctx, f.p, []string{"bun-0123456789abcdef0"}, nil)
	wantClass(t, "describe an unknown task", err, openami.NotFound, openami.ResourceBundleTask)

	f.bundlePass(t)
	done := f.bundleTask(t, task.ID)
	if done.State != openami.BundleComplete || done.Progress != 100 || done.Parts == 0 || done.Failure != "" {
		t.Fatalf("after the pass: %+v", done)
	}
	want := []string{"web.manifest.xml"}
	for i := range done.Parts {
		want = append(want, bundle.PartName("web", i))
	}
	if keys := f.keys(t, "my-bundles", "web"); !slices.Equal(keys, want) {
		t.Errorf("bucket holds %q, want %q", keys, want)
	}
	sum, size := f.unbundleAsEC2(t, "my-bundles", "web")
	if size != 1<<30 || !bytes.Equal(sum, volumeDigest(map[int64][]byte{0: first, 5: written})) {
		t.Errorf("the bundle holds %d bytes that are not the root volume's when bundled", size)
	}
	if _, err := f.volume(t, vol); err != nil {
		t.Fatal(err)
	}
	err = f.store.View(ctx, func(tx metadata.Tx) error {
		_, err := f.vols.Snapshot(tx, "us-east-1", task.SnapshotID)
		return err
	})
	if !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("the task's snapshot after it completed: %v", err)
	}
	_, err = f.machines.CancelBundleTask(ctx, f.p, task.ID)
	wantClass(t, "cancel a completed task", err, openami.IncorrectState, openami.ResourceBundleTask)
	_, err = f.machines.CancelBundleTask(ctx, other, task.ID)
	wantClass(t, "cancel another's task", err, openami.NotFound, openami.ResourceBundleTask)
}

// TestBundleInstanceCancel: a cancelled task stores nothing more, and the
// parts and manifest it stored are removed; it ends failed.
func TestBundleInstanceCancel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, task := f.startBundle(t)
	// As if a run had stored two parts before the cancel.
	for i := range 2 {
		if _, err := f.objects.Put(ctx, objects.As(f.p), "my-bundles", bundle.PartName("web", i), strings.NewReader("part"), 4, openami.ObjectHeaders{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	f.setBundle(t, task.ID, func(b *openami.BundleTask) { b.State, b.Parts = openami.BundleBundling, 2 })
	c, err := f.machines.CancelBundleTask(ctx, f.p, task.ID)
	if err != nil || c.State != openami.BundleCancelling {
		t.Fatalf("CancelBundleTask = %+v, %v", c, err)
	}
	_, err = f.machines.CancelBundleTask(ctx, f.p, task.ID)
	wantClass(t, "cancel twice", err, openami.IncorrectState, openami.ResourceBundleTask)
	f.bundlePass(t)
	done := f.bundleTask(t, task.ID)
	if done.State != openami.BundleFailed || !done.Cancelled {
		t.Fatalf("after the pass: %+v", done)
	}
	if keys := f.keys(t, "my-bundles", "web"); len(keys) != 0 {
		t.Errorf("a cancelled task left %q", keys)
	}
	err = f.store.View(ctx, func(tx metadata.Tx) error {
		_, err := f.vols.Snapshot(tx, "us-east-1", task.SnapshotID)
		return err
	})
	if !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("the task's snapshot after it was cancelled: %v", err)
	}
}

// startBundle launches an instance and asks to bundle it into
// my-bundles under the prefix web.
func (f *fixture) startBundle(t *testing.T) (openami.Instance, openami.BundleTask) {
	t.Helper()
	inst := f.launch(t, "bundled")
	task, err := f.machines.BundleInstance(context.Background(), f.p, BundleInstanceInput{InstanceID: inst.ID, Bucket: "my-bundles", Prefix: "web"})
	if err != nil {
		t.Fatal(err)
	}
	return inst, task
}

// setBundle changes a task's record as a run would have.
func (f *fixture) setBundle(t *testing.T, id string, fn func(*openami.BundleTask)) {
	t.Helper()
	err := f.store.Update(context.Background(), func(tx metadata.Tx) error {
		b, err := tx.BundleTasks().Get("us-east-1", id)
		if err != nil {
			return err
		}
		fn(&b)
		return tx.BundleTasks().Update(b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBundleInstanceRestart: a task a restart interrupted (left bundling,
// with more parts stored than the new run makes) runs again from the
// start: it completes, the stale part is gone, and the bundle is whole.
func TestBundleInstanceRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst, task := f.startBundle(t)
	stale := bundle.PartName("web", 150)
	if _, err := f.objects.Put(ctx, objects.As(f.p), "my-bundles", stale, strings.NewReader("stale"), 5, openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
	f.setBundle(t, task.ID, func(b *openami.BundleTask) { b.State, b.Parts, b.Progress = openami.BundleBundling, 151, 40 })
	f.bundlePass(t)
	done := f.bundleTask(t, task.ID)
	if done.State != openami.BundleComplete || done.Parts >= 150 {
		t.Fatalf("after the pass: %+v", done)
	}
	for _, k := range f.keys(t, "my-bundles", "web") {
		if k == stale {
			t.Errorf("the stale part %s is still there", k)
		}
	}
	sum, size := f.unbundleAsEC2(t, "my-bundles", "web")
	if size != 1<<30 || !bytes.Equal(sum, volumeDigest(map[int64][]byte{0: f.block0(t, inst.BlockDevices[0].VolumeID)})) {
		t.Errorf("the bundle holds %d bytes that are not the root volume's", size)
	}
}

// TestBundleInstanceCancelWhileStoring: a task cancelled while its run
// stores a part stops; the part it was storing is removed with the rest,
// and it ends failed (cancelled).
func TestBundleInstanceCancelWhileStoring(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, task := f.startBundle(t)
	entered := f.gate.Close()
	if err := f.machines.AdvanceBundleTasks(ctx); err != nil {
		t.Fatal(err)
	}
	<-entered // the run is storing part 00
	if got := f.bundleTask(t, task.ID); got.State != openami.BundleBundling || got.Parts != 1 {
		t.Fatalf("while storing: %+v", got)
	}
	if _, err := f.machines.CancelBundleTask(ctx, f.p, task.ID); err != nil {
		t.Fatal(err)
	}
	f.gate.Open()
	f.machines.Wait()
	done := f.bundleTask(t, task.ID)
	if done.State != openami.BundleFailed || !done.Cancelled {
		t.Fatalf("after the run: %+v", done)
	}
	if keys := f.keys(t, "my-bundles", "web"); len(keys) != 0 {
		t.Errorf("a cancelled task left %q", keys)
	}
}

// TestBundleInstanceLease: a task another server's run holds is left to
// it while its lease lasts, and taken over once it lapses.
func TestBundleInstanceLease(t *testing.T) {
	f := newFixture(t)
	_, task := f.startBundle(t)
	f.setBundle(t, task.ID, func(b *openami.BundleTask) {
		b.State, b.Runner, b.LeaseUntil = openami.BundleBundling, "runner-elsewhere", f.clock.Now().Add(bundleLease)
	})
	f.bundlePass(t)
	if got := f.bundleTask(t, task.ID); got.State != openami.BundleBundling || got.Runner != "runner-elsewhere" {
		t.Fatalf("a task leased elsewhere after a pass: %+v", got)
	}
	f.clock.Add(bundleLease)
	f.bundlePass(t)
	got := f.bundleTask(t, task.ID)
	if got.State != openami.BundleComplete || got.Runner == "runner-elsewhere" {
		t.Fatalf("after the lease lapsed: %+v", got)
	}
}

// TestBundleInstanceOwnLease: a server restarted under the same runner
// name (Config.Runner) takes back at once a task its previous process
// held, without waiting for the lease to lapse.
func TestBundleInstanceOwnLease(t *testing.T) {
	f := newFixture(t)
	_, task := f.startBundle(t)
	f.machines.bundleRuns.id = "runner-here" // as Config.Runner sets it
	f.setBundle(t, task.ID, func(b *openami.BundleTask) {
		b.State, b.Parts, b.Runner, b.LeaseUntil = openami.BundleBundling, 3, "runner-here", f.clock.Now().Add(bundleLease)
	})
	f.bundlePass(t)
	if got := f.bundleTask(t, task.ID); got.State != openami.BundleComplete {
		t.Fatalf("a task of this runner's, interrupted, after a pass: %+v", got)
	}
}

// TestBundleInstanceStoreRoot: an instance store-backed instance is
// bundled from its root disk as it is (the launched image with what the
// guest wrote), with no snapshot; the bundle registers again.
func TestBundleInstanceStoreRoot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img, _ := f.storeImage(t, bundleImage())
	inst := f.runStore(t, img)
	if inst.State != openami.InstanceRunning {
		t.Fatalf("instance-store instance: %s", inst.State)
	}
	d, err := f.machines.OpenDevice(ctx, inst.ID+"/root")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAt(ctx, []byte("written by the guest"), 350<<10); err != nil {
		t.Fatal(err)
	}
	d.Close()
	root := f.readRoot(t, inst.ID)
	task, err := f.machines.BundleInstance(ctx, f.p, BundleInstanceInput{InstanceID: inst.ID, Bucket: "my-bundles", Prefix: "store"})
	if err != nil {
		t.Fatal(err)
	}
	if !task.StoreRoot || task.SnapshotID != "" {
		t.Fatalf("BundleInstance of an instance-store root = %+v", task)
	}
	f.bundlePass(t)
	if done := f.bundleTask(t, task.ID); done.State != openami.BundleComplete {
		t.Fatalf("after the pass: %+v", done)
	}
	sum, size := f.unbundleAsEC2(t, "my-bundles", "store")
	want := sha256.Sum256(root)
	if size != int64(len(root)) || !bytes.Equal(sum, want[:]) {
		t.Errorf("the bundle holds %d bytes that are not the root disk's %d", size, len(root))
	}
	if _, err := f.images.RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "rebundled", ImageLocation: "my-bundles/store.manifest.xml"}); err != nil {
		t.Errorf("RegisterImage of the bundle: %v", err)
	}
}
