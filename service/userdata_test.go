package service

import (
	"bytes"
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/images"
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
	r, err := f.svc.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2, UserData: secret})
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
	readBack := func(id string) {
		t.Helper()
		got, err := f.svc.DescribeInstanceAttribute(ctx, f.p, id, "userData")
		if err != nil || !bytes.Equal(got.UserData, secret) {
			t.Fatalf("DescribeInstanceAttribute userData of %s: %v %q", id, err, got.UserData)
		}
		md, err := f.svc.InstanceMetadata(ctx, "us-east-1", id)
		if err != nil || !bytes.Equal(md.Instance.UserData, secret) {
			t.Fatalf("metadata service user data of %s: %v %q", id, err, md.Instance.UserData)
		}
	}
	for _, id := range []string{a, b} {
		if raw := stored(id); bytes.Contains(raw, []byte("hunter2")) || !bytes.HasPrefix(raw, userDataMagic) {
			t.Fatalf("user data of %s stored as %q", id, raw)
		}
		readBack(id)
	}
	// Sealed values are bound to their instance: swapped, they do not open.
	swapped := f.inst(t, a)
	swapped.UserData = stored(b)
	if _, err := openUserData(f.svc.seal, swapped); err == nil {
		t.Fatal("one instance's sealed user data opened as another's")
	}

	// A record from before user data was sealed: plain, read as it is,
	// then sealed by ResealUserData.
	legacy := f.inst(t, b)
	legacy.UserData = secret
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Instances().Update(legacy) }); err != nil {
		t.Fatal(err)
	}
	readBack(b)
	if n, err := f.svc.ResealUserData(ctx, nil); err != nil || n != 1 {
		t.Fatalf("ResealUserData = %d, %v; want the one plain record", n, err)
	}
	if raw := stored(b); bytes.Contains(raw, []byte("hunter2")) {
		t.Fatal("plain user data left after ResealUserData")
	}
	readBack(b)

	// A master-key rotation.
	old := f.svc.seal
	next, _ := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	f.svc.seal = next
	if _, err := f.svc.DescribeInstanceAttribute(ctx, f.p, a, "userData"); err == nil {
		t.Fatal("user data under the old key opened with the new one")
	}
	if n, err := f.svc.ResealUserData(ctx, old); err != nil || n != 2 {
		t.Fatalf("ResealUserData(old) = %d, %v; want 2", n, err)
	}
	readBack(a)
	readBack(b)
	if n, err := f.svc.ResealUserData(ctx, old); err != nil || n != 0 {
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
