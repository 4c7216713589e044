package service

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

// TestUserDataSealed: user data is stored sealed, never in plain, and
// read back in plain by the metadata service and DescribeInstanceAttribute;
// a changed value is sealed too; plain user data left by an earlier
// version is sealed by ResealUserData, and a master-key rotation re-seals
// it under the new key.
func TestUserDataSealed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	secret := []byte("#!/bin/sh\necho password=hunter2-user-data\n")
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "user-data", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2, UserData: secret})
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Instances[0].ID, r.Instances[1].ID
	stored := func(id string) []byte {
		t.Helper()
		var i openami.Instance
		if err := f.store.View(ctx, func(tx metadata.Tx) (err error) { i, err = tx.Instances().Get("us-east-1", id); return err }); err != nil {
			t.Fatal(err)
		}
		return i.UserData
	}
	svc := f.svc
	readBack := func(id string) {
		t.Helper()
		got, err := svc.Instances().DescribeInstanceAttribute(ctx, f.p, id, "userData")
		if err != nil || !bytes.Equal(got.UserData, secret) {
			t.Fatalf("DescribeInstanceAttribute userData of %s: %v %q", id, err, got.UserData)
		}
		md, err := svc.Instances().InstanceMetadata(ctx, "us-east-1", id)
		if err != nil || !bytes.Equal(md.Instance.UserData, secret) {
			t.Fatalf("metadata service user data of %s: %v %q", id, err, md.Instance.UserData)
		}
	}
	for _, id := range []string{a, b} {
		if raw := stored(id); bytes.Contains(raw, []byte("hunter2")) || !bytes.HasPrefix(raw, sealedUserData) {
			t.Fatalf("user data of %s stored as %q", id, raw)
		}
		readBack(id)
	}
	// Sealed values are bound to their instance: swapped, they do not open.
	swapped := f.inst(t, a)
	own := swapped.UserData
	swapped.UserData = stored(b)
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Instances().Update(swapped) }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Instances().DescribeInstanceAttribute(ctx, f.p, a, "userData"); err == nil {
		t.Fatal("one instance's sealed user data opened as another's")
	}
	swapped.UserData = own
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Instances().Update(swapped) }); err != nil {
		t.Fatal(err)
	}
	readBack(a)

	// A record from before user data was sealed: plain, read as it is,
	// then sealed by ResealUserData.
	legacy := f.inst(t, b)
	legacy.UserData = secret
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Instances().Update(legacy) }); err != nil {
		t.Fatal(err)
	}
	readBack(b)
	if n, err := f.svc.Instances().ResealUserData(ctx, nil); err != nil || n != 1 {
		t.Fatalf("ResealUserData = %d, %v; want the one plain record", n, err)
	}
	if raw := stored(b); bytes.Contains(raw, []byte("hunter2")) {
		t.Fatal("plain user data left after ResealUserData")
	}
	readBack(b)

	// A master-key rotation: a service under the new key.
	old := f.key
	next, _ := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	svc = f.withSeal(t, next)
	if _, err := svc.Instances().DescribeInstanceAttribute(ctx, f.p, a, "userData"); err == nil {
		t.Fatal("user data under the old key opened with the new one")
	}
	if n, err := svc.Instances().ResealUserData(ctx, old); err != nil || n != 2 {
		t.Fatalf("ResealUserData(old) = %d, %v; want 2", n, err)
	}
	readBack(a)
	readBack(b)
	if n, err := svc.Instances().ResealUserData(ctx, old); err != nil || n != 0 {
		t.Fatalf("a second ResealUserData changed %d, %v", n, err)
	}
}

func (f *fixture) inst(t *testing.T, id string) openami.Instance {
	t.Helper()
	var i openami.Instance
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) { i, err = tx.Instances().Get("us-east-1", id); return err })
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// sealedUserData starts the user data that rules/instances stores sealed
// (userdata.go), which the metadata store must hold rather than plain.
var sealedUserData = []byte("\x00openami-sealed-user-data\x00")

// withSeal returns another service over the fixture's stores whose master
// key is key, as after a master-key rotation.
func (f *fixture) withSeal(t *testing.T, key *seal.Key) *Service {
	t.Helper()
	regions, _ := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		b, err := dir.New(filepath.Join(f.dir, "blocks", r.Name))
		if err != nil {
			t.Fatal(err)
		}
		blobs[r.Name] = b
	}
	svc, err := New(context.Background(), Config{Store: f.store, Seal: key, Regions: regions, Blobs: blobs, Clock: f.clock.Now, LocalDir: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}
