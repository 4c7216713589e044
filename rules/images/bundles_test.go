package images

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// putBundle stores b under bucket/dir as p: the parts with acl, the
// manifest private.
func (f *fixture) putBundle(t *testing.T, p openami.Principal, bucket, dir string, b rulestest.Bundle, acl objects.CannedACL) string {
	t.Helper()
	ctx := context.Background()
	if _, err := f.objects.EnsureBucket(ctx, p, bucket); err != nil {
		t.Fatal(err)
	}
	for _, name := range b.Names {
		if _, err := f.objects.Put(ctx, objects.As(p), bucket, dir+"/"+name, bytes.NewReader(b.Parts[name]), int64(len(b.Parts[name])), openami.ObjectHeaders{}, acl); err != nil {
			t.Fatal(err)
		}
	}
	key := dir + "/" + b.Manifest.Name + ".manifest.xml"
	if _, err := f.objects.Put(ctx, objects.As(p), bucket, key, bytes.NewReader(b.XML), int64(len(b.XML)), openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
	return bucket + "/" + key
}

// imageCount is how many images the region has, whoever owns them.
func (f *fixture) imageCount(t *testing.T) int {
	t.Helper()
	var n int
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		list, err := tx.Images().List("us-east-1", metadata.ImageQuery{})
		n = len(list)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testImage() []byte {
	img := make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{1}).Read(img[:200<<10]) // incompressible, then zeros
	return img
}

func TestRegisterBundle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := rulestest.NewBundle(t, f.accounts, f.p, "img", "", testImage(), 64<<10)
	loc := f.putBundle(t, f.p, "bundles-a", "x/y", b, objects.CannedAWSExecRead)
	id, err := f.images.RegisterImage(ctx, f.p, RegisterImageInput{Name: "from-bundle", ImageLocation: loc})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "ami-") {
		t.Fatalf("id %s", id)
	}
	var img openami.Image
	f.store.View(ctx, func(tx metadata.Tx) error { img, err = tx.Images().Get("us-east-1", id); return err })
	if err != nil {
		t.Fatal(err)
	}
	if img.RootDeviceType != "instance-store" || img.ImageLocation != loc || img.ImageType != "machine" || img.Architecture != "x86_64" ||
		img.RootDeviceName != "/dev/sda1" || img.State != openami.ImageAvailable {
		t.Fatalf("image %+v", img)
	}
	if len(img.BlockDeviceMappings) != 1 || img.BlockDeviceMappings[0] != (openami.BlockDeviceMapping{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"}) {
		t.Fatalf("mappings %+v", img.BlockDeviceMappings)
	}
	want := openami.ImageBundle{Owner: f.p.AccountID, Bucket: "bundles-a", ManifestKey: "x/y/img.manifest.xml", Digest: hex.EncodeToString(b.Manifest.Digest),
		Size: 300 << 10, BundledSize: b.Manifest.BundledSize, Parts: len(b.Names)}
	got := *img.Bundle
	got.ManifestSHA256 = ""
	if got != want || len(b.Names) < 2 {
		t.Fatalf("bundle %+v, want %+v", got, want)
	}

	// A kernel from a bundle is a kernel image (with an ami- id, as
	// bootimages.go's are).
	kb := rulestest.NewBundle(t, f.accounts, f.p, "vmlinuz", "kernel", testImage()[:1000], 0)
	kid, err := f.images.RegisterImage(ctx, f.p, RegisterImageInput{Name: "kernel", ImageLocation: f.putBundle(t, f.p, "bundles-a", "k", kb, objects.CannedAWSExecRead)})
	if err != nil {
		t.Fatal(err)
	}
	f.store.View(ctx, func(tx metadata.Tx) error { img, err = tx.Images().Get("us-east-1", kid); return err })
	if err != nil || img.ImageType != "kernel" || img.RootDeviceType != "instance-store" {
		t.Fatalf("kernel: %+v %v", img, err)
	}

	// CopyImage to another region copies the bundle, re-sealed to that
	// region's EC2 key: it unbundles there into the same image.
	west := f.p
	west.Region = "us-west-2"
	cid, err := f.images.CopyImage(ctx, west, CopyImageInput{SourceImageID: id, SourceRegion: "us-east-1", Name: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	var cp openami.Image
	f.store.View(ctx, func(tx metadata.Tx) error { cp, err = tx.Images().Get("us-west-2", cid); return err })
	if err != nil || cp.State != openami.ImagePending || cp.Bundle == nil || cp.Bundle.CopyFrom == nil {
		t.Fatalf("copy before the worker: %+v %v", cp, err)
	}
	f.pass(t)
	f.images.Wait()
	f.store.View(ctx, func(tx metadata.Tx) error { cp, err = tx.Images().Get("us-west-2", cid); return err })
	if err != nil || cp.State != openami.ImageAvailable || cp.RootDeviceType != "instance-store" || cp.Bundle.CopyFrom != nil ||
		cp.Bundle.Bucket != "openami-ami-copies-"+f.p.AccountID+"-us-west-2" || cp.ImageLocation != cp.Bundle.Bucket+"/"+cid+"/img.manifest.xml" {
		t.Fatalf("copy: %+v %+v %v", cp, cp.Bundle, err)
	}
	var out bytes.Buffer
	if err := f.images.Unbundle(ctx, "us-west-2", cp.Bundle, &out, nil); err != nil || !bytes.Equal(out.Bytes(), testImage()) {
		t.Fatalf("the copy's bundle unbundles in us-west-2: %v", err)
	}
	// In us-east-1 the copy's key is not this region's: the source's
	// unbundles here, the copy does not.
	if err := f.images.Unbundle(ctx, "us-east-1", cp.Bundle, io.Discard, nil); err == nil {
		t.Fatal("the copy's key opened under us-east-1's EC2 key")
	}

	// Deregistering leaves the bundle in its bucket.
	if _, err := f.images.DeregisterImage(ctx, f.p, id, false); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"x/y/img.manifest.xml", "x/y/" + b.Names[0]} {
		if _, err := f.objects.HeadObject(ctx, objects.As(f.p), "bundles-a", key, objects.Conditions{}); err != nil {
			t.Fatalf("%s after deregistration: %v", key, err)
		}
	}
}

func TestRegisterBundleRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.newAccount(t, "other")
	b := rulestest.NewBundle(t, f.accounts, f.p, "img", "", testImage(), 64<<10)
	loc := f.putBundle(t, f.p, "bundles-a", "good", b, objects.CannedAWSExecRead)

	// Parts EC2 may not read (private).
	private := f.putBundle(t, f.p, "bundles-a", "private", b, "")
	// A part missing.
	missing := f.putBundle(t, f.p, "bundles-a", "missing", b, objects.CannedAWSExecRead)
	if err := f.objects.DeleteObject(ctx, objects.As(f.p), "bundles-a", "missing/"+b.Names[1]); err != nil {
		t.Fatal(err)
	}
	// A part of another size.
	short := f.putBundle(t, f.p, "bundles-a", "short", b, objects.CannedAWSExecRead)
	last := b.Names[len(b.Names)-1]
	if _, err := f.objects.Put(ctx, objects.As(f.p), "bundles-a", "short/"+last, strings.NewReader("x"), 1, openami.ObjectHeaders{}, objects.CannedAWSExecRead); err != nil {
		t.Fatal(err)
	}
	// A manifest changed after it was signed.
	tampered := b
	tampered.XML = bytes.Replace(b.XML, []byte("<architecture>x86_64</architecture>"), []byte("<architecture>i386</architecture>"), 1)
	if bytes.Equal(tampered.XML, b.XML) {
		t.Fatal("no architecture element to change")
	}
	changed := f.putBundle(t, f.p, "bundles-a", "tampered", tampered, objects.CannedAWSExecRead)
	// The key encrypted to another region's EC2 certificate.
	west := f.p
	west.Region = "us-west-2"
	wb := rulestest.NewBundle(t, f.accounts, west, "img", "", testImage(), 64<<10)
	wrongKey := f.putBundle(t, f.p, "bundles-a", "west", wb, objects.CannedAWSExecRead)
	// Another account's copy of the bundle: not signed by its certificates.
	copied := f.putBundle(t, other, "bundles-other", "copy", b, objects.CannedAWSExecRead)

	before := f.imageCount(t)
	for _, c := range []struct {
		what string
		p    openami.Principal
		loc  string
	}{
		{"no such manifest", f.p, "bundles-a/good/nothing.manifest.xml"},
		{"no such bucket", f.p, "no-such-bucket-x/img.manifest.xml"},
		{"no key", f.p, "bundles-a"},
		{"another's manifest", other, loc},
		{"not signed by the caller", other, copied},
		{"parts EC2 may not read", f.p, private},
		{"a part missing", f.p, missing},
		{"a short part", f.p, short},
		{"changed after signing", f.p, changed},
		{"the key for another region", f.p, wrongKey},
	} {
		_, err := f.images.RegisterImage(ctx, c.p, RegisterImageInput{Name: "refused", ImageLocation: c.loc})
		t.Logf("%s: %v", c.what, err)
		rulestest.WantClass(t, c.what, err, openami.InvalidParameter, openami.ResourceImage)
		if openami.ReasonOf(err) != openami.ReasonManifest {
			t.Fatalf("%s: reason of %v", c.what, err)
		}
	}
	// EBS mappings with a bundle.
	_, err := f.images.RegisterImage(ctx, f.p, RegisterImageInput{Name: "refused", ImageLocation: loc,
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/sdf", Ebs: &openami.EbsBlockDevice{VolumeSize: 1}}}})
	rulestest.WantClass(t, "EBS mapping", err, openami.InvalidParameter, "")
	if n := f.imageCount(t); n != before {
		t.Fatalf("%d images after refusals, %d before", n, before)
	}
}

func TestBootFileFromBundle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kernel := testImage()[:70000]
	kb := rulestest.NewBundle(t, f.accounts, f.p, "vmlinuz", "kernel", kernel, 16<<10)
	id, err := f.images.RegisterImage(ctx, f.p, RegisterImageInput{Name: "kernel", ImageLocation: f.putBundle(t, f.p, "bundles-k", "k", kb, objects.CannedAWSExecRead)})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := f.images.BootFile(ctx, "us-east-1", id, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), kernel) {
		t.Fatalf("BootFile gave %d bytes, not the kernel's %d", got.Len(), len(kernel))
	}
}
