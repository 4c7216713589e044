package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

// TestBootImages registers a kernel and a ramdisk from files, reads them
// back padded to whole blocks, and checks the rules around them: machine
// images name them by type, and they cannot be launched.
func TestBootImages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	// Three blocks and a bit, the second all zeros (not stored).
	file := make([]byte, 3*openami.BlockSize+1000)
	rand.Read(file[:openami.BlockSize])
	rand.Read(file[2*openami.BlockSize:])
	aki, err := f.svc.Images().RegisterBootImage(ctx, f.p, images.RegisterBootImageInput{ImageType: "kernel", Name: "vmlinuz-test", Size: int64(len(file)), Data: bytes.NewReader(file)})
	if err != nil {
		t.Fatal(err)
	}
	img := f.image(t, aki)
	if img.ImageType != "kernel" || img.State != openami.ImageAvailable || img.VirtualizationType != "paravirtual" {
		t.Fatalf("kernel image %+v", img)
	}
	var got bytes.Buffer
	if err := f.svc.Images().BootFile(ctx, "us-east-1", aki, &got); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(file), make([]byte, 4*openami.BlockSize-len(file))...)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("BootFile returned %d bytes, not the file padded to %d", got.Len(), len(want))
	}
	ari, err := f.svc.Images().RegisterBootImage(ctx, f.p, images.RegisterBootImageInput{ImageType: "ramdisk", Name: "initrd-test", Size: 10, Data: bytes.NewReader([]byte("0123456789"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []images.RegisterBootImageInput{
		{ImageType: "machine", Name: "nope", Size: 1, Data: bytes.NewReader([]byte{1})},
		{ImageType: "kernel", Name: "short", Size: 100, Data: bytes.NewReader([]byte{1})},
		{ImageType: "kernel", Name: "empty", Size: 0, Data: bytes.NewReader(nil)},
	} {
		if _, err := f.svc.Images().RegisterBootImage(ctx, f.p, bad); err == nil {
			t.Errorf("registered %+v", bad)
		}
	}

	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	pv := func(kernel, ramdisk string) (string, error) {
		return f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "pv-" + kernel + ramdisk, RootDeviceName: "/dev/sda1", VirtualizationType: "paravirtual",
			KernelID: kernel, RamdiskID: ramdisk, BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	}
	if _, err := pv(ari, ""); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Errorf("a ramdisk as the kernel: %v", err)
	}
	if _, err := pv(aki, aki); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Errorf("a kernel as the ramdisk: %v", err)
	}
	if _, err := pv("ami-0123456789abcdef0", ""); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("a missing kernel: %v", err)
	}
	id, err := pv(aki, ari)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Images().BootFile(ctx, "us-east-1", id, &got); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Errorf("BootFile of a machine image: %v", err)
	}
	if _, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: aki, InstanceType: "m1.small", MinCount: 1, MaxCount: 1}); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Errorf("launching a kernel image: %v", err)
	}
	r, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: id, InstanceType: "m1.small", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if i := r.Instances[0]; i.KernelID != aki || i.RamdiskID != ari || i.VirtualizationType != "paravirtual" {
		t.Fatalf("paravirtual instance %+v", i.Instance)
	}
}
