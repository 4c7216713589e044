package instances

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// bundleImage is a test image: incompressible bytes, then zeros.
func bundleImage() []byte {
	img := make([]byte, 400<<10)
	rand.NewChaCha8([32]byte{7}).Read(img[:300<<10])
	return img
}

// storeImage bundles img into the bucket bundles-i (parts aws-exec-read)
// and registers it; it returns the image id and the bundle.
func (f *fixture) storeImage(t *testing.T, img []byte) (string, rulestest.Bundle) {
	t.Helper()
	ctx := context.Background()
	b := rulestest.NewBundle(t, f.accounts, f.p, "img", "", img, 64<<10)
	if _, err := f.objects.EnsureBucket(ctx, f.p, "bundles-i"); err != nil {
		t.Fatal(err)
	}
	for _, name := range b.Names {
		f.putPart(t, name, b.Parts[name])
	}
	if _, err := f.objects.Put(ctx, objects.As(f.p), "bundles-i", "b/img.manifest.xml", bytes.NewReader(b.XML), int64(len(b.XML)), openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
	id, err := f.images.RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "bundled", ImageLocation: "bundles-i/b/img.manifest.xml"})
	if err != nil {
		t.Fatal(err)
	}
	return id, b
}

// putPart stores a part of the bundle in bundles-i/b, aws-exec-read.
func (f *fixture) putPart(t *testing.T, name string, data []byte) {
	t.Helper()
	if _, err := f.objects.Put(context.Background(), objects.As(f.p), "bundles-i", "b/"+name, bytes.NewReader(data), int64(len(data)), openami.ObjectHeaders{}, objects.CannedAWSExecRead); err != nil {
		t.Fatal(err)
	}
}

// runStore runs one m1.small instance of an instance store-backed image
// and a pass.
func (f *fixture) runStore(t *testing.T, img string) openami.Instance {
	t.Helper()
	r, err := f.machines.RunInstances(context.Background(), f.p, RunInstancesInput{ImageID: img, InstanceType: "m1.small", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if i := r.Instances[0]; i.State != openami.InstancePending || i.RootDeviceType != "instance-store" {
		t.Fatalf("launched %s, root %s", i.State, i.RootDeviceType)
	}
	f.pass(t)
	return f.instance(t, r.Instances[0].ID)
}

// readRoot reads an instance's whole root disk through OpenDevice.
func (f *fixture) readRoot(t *testing.T, id string) []byte {
	t.Helper()
	d, err := f.machines.OpenDevice(context.Background(), id+"/root")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, d.Size())
	if err := d.ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf
}

// basesLeft reports which bases a fresh cache with no room keeps: those
// an instance's root still uses.
func basesLeft(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := localdisk.NewBases(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInstanceStoreLaunch(t *testing.T) {
	f := newFixture(t)
	rt := newFakeRuntime()
	f.machines.UseRuntime(rt)
	ctx := context.Background()
	data := bundleImage()
	img, b := f.storeImage(t, data)

	// The type must take an instance-store root.
	_, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	wantClass(t, "t3.micro", err, openami.Unsupported, "")

	// Its root is the bundle: no mapping may replace it.
	_, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "m1.small", MinCount: 1, MaxCount: 1,
		BlockDeviceMappings: []MappingOverride{{DeviceName: "/dev/sda1", Ebs: &EbsOverride{VolumeSize: 8}}}})
	wantClass(t, "root mapped", err, openami.InvalidParameter, "")

	one := f.runStore(t, img)
	if one.State != openami.InstanceRunning || one.StateReason != (openami.StateReason{}) {
		t.Fatalf("first launch: %s %+v", one.State, one.StateReason)
	}
	if got := f.readRoot(t, one.ID); !bytes.Equal(got, data) {
		t.Fatal("the root is not the image")
	}
	if f.bases.Bytes() != int64(len(data)) {
		t.Fatalf("cache holds %d bytes", f.bases.Bytes())
	}

	// The second launch reads no part: they are gone from the bucket.
	for _, name := range b.Names {
		if err := f.objects.DeleteObject(ctx, objects.As(f.p), "bundles-i", "b/"+name); err != nil {
			t.Fatal(err)
		}
	}
	two := f.runStore(t, img)
	if two.State != openami.InstanceRunning {
		t.Fatalf("second launch: %s %+v", two.State, two.StateReason)
	}
	// Copy-on-write: one's writes are its own.
	d, err := f.machines.OpenDevice(ctx, one.ID+"/root")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAt(ctx, []byte("written by one"), 4096); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := f.readRoot(t, two.ID); !bytes.Equal(got, data) {
		t.Fatal("two's root changed with one's")
	}
	if got := f.readRoot(t, one.ID); !bytes.Equal(got[4096:4110], []byte("written by one")) {
		t.Fatal("one's write is lost")
	}

	// No stop, no CreateImage; reboot is fine.
	_, err = f.machines.StopInstances(ctx, f.p, []string{one.ID}, false)
	wantClass(t, "stop", err, openami.Unsupported, "")
	_, err = f.machines.CreateImage(ctx, f.p, CreateImageInput{InstanceID: one.ID, Name: "of-store"})
	wantClass(t, "create image", err, openami.Unsupported, "")
	if err := f.machines.RebootInstances(ctx, f.p, []string{one.ID}); err != nil {
		t.Fatal(err)
	}

	// Termination takes the root; the base goes once no root uses it.
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{one.ID}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if _, err := f.machines.OpenDevice(ctx, one.ID+"/root"); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("one's root after termination: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "instance-store", one.ID)); !os.IsNotExist(err) {
		t.Fatalf("one's disks after termination: %v", err)
	}
	if n := basesLeft(t, f.dir); n != int64(len(data)) {
		t.Fatalf("base in use by two: %d bytes kept", n)
	}
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{two.ID}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if n := basesLeft(t, f.dir); n != 0 {
		t.Fatalf("base used by nothing: %d bytes kept", n)
	}
}

func TestInstanceStoreLaunchFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img, b := f.storeImage(t, bundleImage())

	// A damaged part (same size): the instance terminates, no base.
	bad := bytes.Clone(b.Parts[b.Names[1]])
	bad[100] ^= 1
	f.putPart(t, b.Names[1], bad)
	i := f.runStore(t, img)
	if i.State != openami.InstanceTerminated || i.StateReason.Cause != openami.CauseLaunchFailed {
		t.Fatalf("damaged part: %s %+v", i.State, i.StateReason)
	}
	t.Logf("damaged: %s", i.StateReason.Message)

	// A missing part: the same.
	if err := f.objects.DeleteObject(ctx, objects.As(f.p), "bundles-i", "b/"+b.Names[2]); err != nil {
		t.Fatal(err)
	}
	f.putPart(t, b.Names[1], b.Parts[b.Names[1]])
	i = f.runStore(t, img)
	if i.State != openami.InstanceTerminated || i.StateReason.Cause != openami.CauseLaunchFailed {
		t.Fatalf("missing part: %s %+v", i.State, i.StateReason)
	}
	t.Logf("missing: %s", i.StateReason.Message)
	if f.bases.Bytes() != 0 || basesLeft(t, f.dir) != 0 {
		t.Fatalf("a base after failed launches: %d bytes", f.bases.Bytes())
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "instance-store"))
	if len(entries) != 0 {
		t.Fatalf("instance-store disks after failed launches: %v", entries)
	}

	// Whole again: it launches.
	f.putPart(t, b.Names[2], b.Parts[b.Names[2]])
	if i = f.runStore(t, img); i.State != openami.InstanceRunning {
		t.Fatalf("whole bundle: %s %+v", i.State, i.StateReason)
	}
}
