package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Images.

const (
	org1 = "arn:aws:organizations::111111111111:organization/o-abc"
	ou1  = "arn:aws:organizations::111111111111:ou/o-abc/ou-xyz"
)

// image returns a small image: one EBS root mapping over snapshot snap-<id>.
func image(region, acct, id, name string) openami.Image {
	return openami.Image{
		ID: id, Region: region, AccountID: acct, Name: name,
		State:              openami.ImageAvailable,
		Architecture:       "x86_64",
		VirtualizationType: "hvm",
		RootDeviceName:     "/dev/xvda",
		RootDeviceType:     "ebs",
		ImageType:          "machine",
		BlockDeviceMappings: []openami.BlockDeviceMapping{
			{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-" + id, VolumeSize: 8, VolumeType: "gp3"}},
		},
		CreatedAt: t0,
	}
}

func utcImage(img openami.Image) openami.Image {
	img.CreatedAt = utcTime(img.CreatedAt)
	img.DeprecationTime = utcTime(img.DeprecationTime)
	img.LastLaunchedTime = utcTime(img.LastLaunchedTime)
	return img
}

func createImages(t *testing.T, s metadata.Store, imgs ...openami.Image) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, img := range imgs {
			if err := tx.Images().Create(img); err != nil {
				return err
			}
		}
		return nil
	})
}

func getImage(t *testing.T, s metadata.Store, region, id string) openami.Image {
	t.Helper()
	var img openami.Image
	view(t, s, func(tx metadata.Tx) error {
		var err error
		img, err = tx.Images().Get(region, id)
		return err
	})
	return img
}

func imageIDs(list []openami.Image) []string {
	ids := []string{}
	for _, img := range list {
		ids = append(ids, img.ID)
	}
	return ids
}

func listImages(t *testing.T, s metadata.Store, region string, q metadata.ImageQuery) []openami.Image {
	t.Helper()
	var list []openami.Image
	view(t, s, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Images().List(region, q)
		return err
	})
	return list
}

func launchPermissions(t *testing.T, s metadata.Store, id string) []openami.LaunchPermission {
	t.Helper()
	var ps []openami.LaunchPermission
	view(t, s, func(tx metadata.Tx) error {
		var err error
		ps, err = tx.Images().Permissions(id)
		return err
	})
	// Group all, organizations, OUs, accounts; then by value.
	ps = slices.Clone(ps)
	key := func(p openami.LaunchPermission) string {
		switch {
		case p.Group != "":
			return "0" + p.Group
		case p.OrganizationArn != "":
			return "1" + p.OrganizationArn
		case p.OrganizationalUnitArn != "":
			return "2" + p.OrganizationalUnitArn
		}
		return "3" + p.AccountID
	}
	slices.SortFunc(ps, func(a, b openami.LaunchPermission) int { return strings.Compare(key(a), key(b)) })
	return ps
}

func usingSnapshot(t *testing.T, s metadata.Store, region, snap string) []string {
	t.Helper()
	var ids []string
	view(t, s, func(tx metadata.Tx) error {
		var err error
		ids, err = tx.Images().UsingSnapshot(region, snap)
		return err
	})
	if ids == nil {
		ids = []string{}
	}
	return ids
}

func testImageCreateGet(t *testing.T, s metadata.Store) {
	zone := time.FixedZone("W", -7*3600)
	full := openami.Image{
		ID: "ami-0123456789abcdef0", Region: region1, AccountID: acct1,
		OwnerAlias:  "amazon",
		Name:        "full/image ✓ (1)",
		Description: `all "fields" ✓`,
		State:       openami.ImageFailed,
		StateReason: openami.StateReason{Code: "Client.Error", Message: "it failed"},

		Architecture:       "arm64",
		VirtualizationType: "hvm",
		RootDeviceName:     "/dev/sda1",
		RootDeviceType:     "ebs",
		ImageType:          "machine",
		ImageLocation:      "111111111111/full",
		KernelID:           "aki-1",
		RamdiskID:          "ari-1",
		Platform:           "windows",
		BootMode:           "uefi",
		TpmSupport:         "v2.0",
		UefiData:           "QUJD",
		ImdsSupport:        "v2.0",
		SriovNetSupport:    "simple",
		EnaSupport:         true,
		BillingProducts:    []string{"bp-1", "bp-2"},
		ProductCodes: []openami.ProductCode{
			{ID: "pc-1", Type: "marketplace"}, {ID: "pc-2", Type: "devpay"},
		},
		BlockDeviceMappings: []openami.BlockDeviceMapping{
			{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{
				SnapshotID: "snap-1", VolumeSize: 30, VolumeType: "io2", Iops: 16000, Throughput: 0,
				DeleteOnTermination: true, Encrypted: true, KmsKeyID: "arn:aws:kms:us-east-1:111111111111:key/k",
			}},
			{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"},
			{DeviceName: "/dev/sdc", NoDevice: true},
			{DeviceName: "/dev/sdd", Ebs: &openami.EbsBlockDevice{VolumeSize: 100, VolumeType: "gp3", Throughput: 500}},
			{DeviceName: "/dev/sde", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-2", VolumeType: "st1"}},
			{DeviceName: "/dev/sdf", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-1"}},
		},

		SourceImageID:     "ami-source",
		SourceImageRegion: region2,
		SourceInstanceID:  "i-1",

		CreatedAt:                t0,
		DeprecationTime:          time.Date(2030, 1, 2, 3, 4, 5, 6, zone),
		LastLaunchedTime:         time.Date(2026, 6, 7, 8, 9, 10, 11, time.UTC),
		DeregistrationProtection: "enabled-with-cooldown",
	}
	// Zero values everywhere they may be: no mappings, zero times.
	empty := openami.Image{ID: "ami-1", Region: region1, AccountID: acct1, State: openami.ImagePending}
	// Empty, not nil, lists.
	lists := image(region1, acct2, "ami-2", "lists")
	lists.BillingProducts = []string{}
	lists.ProductCodes = []openami.ProductCode{}
	lists.BlockDeviceMappings = []openami.BlockDeviceMapping{}
	createImages(t, s, full, empty, lists)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Image{full, empty, lists} {
			got, err := tx.Images().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcImage(want))
			for i, at := range []time.Time{got.CreatedAt, got.DeprecationTime, got.LastLaunchedTime} {
				if !at.IsZero() && at.Location() != time.UTC {
					t.Errorf("%s: time %d in %v, want UTC", want.ID, i, at.Location())
				}
			}
		}
		list, err := tx.Images().List(region1, metadata.ImageQuery{})
		if err != nil {
			return err
		}
		equal(t, "List", list, []openami.Image{utcImage(full), utcImage(empty), utcImage(lists)})
		return nil
	})
	equal(t, "UsingSnapshot snap-1", usingSnapshot(t, s, region1, "snap-1"), []string{full.ID})
	equal(t, "UsingSnapshot snap-2", usingSnapshot(t, s, region1, "snap-2"), []string{full.ID})
}

func testImageDuplicate(t *testing.T, s metadata.Store) {
	createImages(t, s, image(region1, acct1, "ami-1", "web"))
	// Ids are unique across regions and accounts.
	for _, dup := range []openami.Image{image(region1, acct1, "ami-1", "other"), image(region2, acct2, "ami-1", "web")} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Create(dup) })
		wantClass(t, err, openami.Duplicate, openami.ResourceImage)
	}
	// Names are unique per owner and region.
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Create(image(region1, acct1, "ami-2", "web")) })
	wantClass(t, err, openami.Duplicate, openami.ResourceImage)
	wantMessage(t, err, "AMI name 'web' is already in use by AMI ami-1")
	// The same name is fine for another account or region, and names
	// differing in case are different; the transaction goes on after a
	// Duplicate.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Images().Create(image(region1, acct1, "ami-3", "web")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate name: %v", err)
		}
		if err := tx.Images().Create(image(region1, acct1, "ami-1", "x")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate id: %v", err)
		}
		for _, img := range []openami.Image{
			image(region1, acct2, "ami-4", "web"),
			image(region2, acct1, "ami-5", "web"),
			image(region1, acct1, "ami-6", "Web"),
		} {
			if err := tx.Images().Create(img); err != nil {
				return err
			}
		}
		return nil
	})
	equal(t, "images", imageIDs(listImages(t, s, region1, metadata.ImageQuery{})), []string{"ami-1", "ami-4", "ami-6"})
	equal(t, "ami-1 after duplicates", getImage(t, s, region1, "ami-1"), utcImage(image(region1, acct1, "ami-1", "web")))
	// A duplicate that would have been public leaves nothing behind.
	pub := image(region1, acct1, "ami-1", "pub")
	pub.Public = true
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Create(pub) })
	wantClass(t, err, openami.Duplicate, openami.ResourceImage)
	if ps := launchPermissions(t, s, "ami-1"); len(ps) != 0 {
		t.Errorf("permissions after a duplicate public Create: %v", ps)
	}
}

func testImageNotFound(t *testing.T, s metadata.Store) {
	createImages(t, s, image(region1, acct1, "ami-1", "one"))
	const msg = "The image id '[ami-none]' does not exist"
	for _, fn := range map[string]func(metadata.Images) error{
		"Get":    func(im metadata.Images) error { _, err := im.Get(region1, "ami-none"); return err },
		"Update": func(im metadata.Images) error { return im.Update(image(region1, acct1, "ami-none", "none")) },
		"Delete": func(im metadata.Images) error { return im.Delete(region1, "ami-none") },
		"AddPermissions": func(im metadata.Images) error {
			return im.AddPermissions("ami-none", []openami.LaunchPermission{{Group: "all"}})
		},
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Images()) })
		wantClass(t, err, openami.NotFound, openami.ResourceImage)
		wantMessage(t, err, msg)
	}
	// An image of another region is not found either, and is left alone.
	err := viewErr(s, func(tx metadata.Tx) error { _, err := tx.Images().Get(region2, "ami-1"); return err })
	wantClass(t, err, openami.NotFound, openami.ResourceImage)
	wantMessage(t, err, "The image id '[ami-1]' does not exist")
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Delete(region2, "ami-1") })
	wantClass(t, err, openami.NotFound, openami.ResourceImage)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Update(image(region2, acct1, "ami-1", "changed")) })
	wantClass(t, err, openami.NotFound, openami.ResourceImage)
	equal(t, "image after failed calls", getImage(t, s, region1, "ami-1"), utcImage(image(region1, acct1, "ami-1", "one")))
	if ps := launchPermissions(t, s, "ami-none"); len(ps) != 0 {
		t.Errorf("Permissions of a missing image: %v", ps)
	}
	// Removing permissions of a missing image does nothing.
	update(t, s, func(tx metadata.Tx) error {
		return tx.Images().RemovePermissions("ami-none", []openami.LaunchPermission{{AccountID: acct2}, {Group: "all"}})
	})
	equal(t, "UsingSnapshot in another region", usingSnapshot(t, s, region2, "snap-ami-1"), []string{})
	equal(t, "UsingSnapshot of an unused snapshot", usingSnapshot(t, s, region1, "snap-none"), []string{})
}

func testImageUpdate(t *testing.T, s metadata.Store) {
	orig := image(region1, acct1, "ami-1", "one")
	createImages(t, s, orig, image(region1, acct1, "ami-2", "two"), image(region1, acct2, "ami-3", "three"))
	changed := openami.Image{
		ID: orig.ID, Region: orig.Region, AccountID: acct2, // AccountID is not changed
		OwnerAlias:  "aws-marketplace",
		Name:        "three", // taken by acct2, not by acct1
		Description: "new",
		State:       openami.ImageDeregistered,
		StateReason: openami.StateReason{Code: "c", Message: "m"},
		BlockDeviceMappings: []openami.BlockDeviceMapping{
			{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-new"}},
			{DeviceName: "/dev/sdb", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-ami-2"}},
		},
		ProductCodes:    []openami.ProductCode{{ID: "p", Type: "marketplace"}},
		CreatedAt:       t0.Add(time.Second),
		DeprecationTime: t0.Add(time.Hour),
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Images().Update(changed) })
	want := changed
	want.AccountID = acct1
	equal(t, "Get after Update", getImage(t, s, region1, orig.ID), utcImage(want))
	equal(t, "other image after Update", getImage(t, s, region1, "ami-2"), utcImage(image(region1, acct1, "ami-2", "two")))
	// The indexed columns follow.
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"new name", metadata.ImageQuery{Names: []string{"three"}}, []string{"ami-1", "ami-3"}},
		{"old name", metadata.ImageQuery{Names: []string{"one"}}, []string{}},
		{"alias", metadata.ImageQuery{OwnerAliases: []string{"aws-marketplace"}}, []string{"ami-1"}},
		{"owner", metadata.ImageQuery{OwnerIDs: []string{acct1}}, []string{"ami-1", "ami-2"}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
	}
	// So do the snapshots it uses.
	equal(t, "UsingSnapshot old", usingSnapshot(t, s, region1, "snap-ami-1"), []string{})
	equal(t, "UsingSnapshot new", usingSnapshot(t, s, region1, "snap-new"), []string{"ami-1"})
	equal(t, "UsingSnapshot shared", usingSnapshot(t, s, region1, "snap-ami-2"), []string{"ami-1", "ami-2"})

	// A rename to a name the owner uses is Duplicate and changes nothing;
	// the transaction goes on. Keeping its own name is fine.
	clash := want
	clash.Name = "two"
	clash.Description = "clash"
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Images().Update(clash) })
	wantClass(t, err, openami.Duplicate, openami.ResourceImage)
	wantMessage(t, err, "AMI name 'two' is already in use by AMI ami-2")
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Images().Update(clash); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Update to a taken name: %v", err)
		}
		same := want
		same.Description = "same name"
		return tx.Images().Update(same)
	})
	want.Description = "same name"
	equal(t, "Get after a clash", getImage(t, s, region1, orig.ID), utcImage(want))

	// Update sets Public, and the group all permission with it.
	pub := want
	pub.Public = true
	update(t, s, func(tx metadata.Tx) error { return tx.Images().Update(pub) })
	equal(t, "Get after Update to public", getImage(t, s, region1, orig.ID), utcImage(pub))
	equal(t, "permissions after Update to public", launchPermissions(t, s, orig.ID), []openami.LaunchPermission{{Group: "all"}})
	update(t, s, func(tx metadata.Tx) error { return tx.Images().Update(want) })
	equal(t, "Get after Update to private", getImage(t, s, region1, orig.ID), utcImage(want))
	if ps := launchPermissions(t, s, orig.ID); len(ps) != 0 {
		t.Errorf("permissions after Update to private: %v", ps)
	}
}

func testImageDelete(t *testing.T, s metadata.Store) {
	createImages(t, s, image(region1, acct1, "ami-1", "one"), image(region1, acct1, "ami-2", "two"))
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"ami-1", "ami-2"} {
			if err := tx.Images().AddPermissions(id, []openami.LaunchPermission{{AccountID: acct2}, {Group: "all"}, {OrganizationArn: org1}}); err != nil {
				return err
			}
		}
		return tx.Images().Delete(region1, "ami-1")
	})
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Images().Get(region1, "ami-1"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get of a deleted image: %v", err)
		}
		list, err := tx.Images().List(region1, metadata.ImageQuery{VisibleTo: acct2})
		if err != nil {
			return err
		}
		equal(t, "visible after Delete", imageIDs(list), []string{"ami-2"})
		return nil
	})
	if ps := launchPermissions(t, s, "ami-1"); len(ps) != 0 {
		t.Errorf("Permissions of a deleted image: %v", ps)
	}
	if ps := launchPermissions(t, s, "ami-2"); len(ps) != 3 {
		t.Errorf("Permissions of the other image: %v", ps)
	}
	equal(t, "UsingSnapshot of a deleted image's snapshot", usingSnapshot(t, s, region1, "snap-ami-1"), []string{})
	// The id and the name can be used again, and nothing of the old image
	// shows.
	createImages(t, s, image(region1, acct1, "ami-3", "one"), image(region2, acct2, "ami-1", "x"))
	if ps := launchPermissions(t, s, "ami-1"); len(ps) != 0 {
		t.Errorf("Permissions of a re-created image: %v", ps)
	}
	if img := getImage(t, s, region2, "ami-1"); img.Public {
		t.Error("re-created image is public")
	}
}

func testImagePermissions(t *testing.T, s metadata.Store) {
	createImages(t, s, image(region1, acct1, "ami-1", "one"), image(region1, acct1, "ami-2", "two"))
	if ps := launchPermissions(t, s, "ami-1"); len(ps) != 0 {
		t.Fatalf("Permissions of a new image: %v", ps)
	}
	public := func(id string) bool {
		t.Helper()
		img := getImage(t, s, region1, id)
		byList := slices.Contains(imageIDs(listImages(t, s, region1, metadata.ImageQuery{ExecutableBy: []string{"all"}})), id)
		if byList != img.Public {
			t.Fatalf("%s: Public %v, but List of public images says %v", id, img.Public, byList)
		}
		return img.Public
	}
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Images().AddPermissions("ami-1", []openami.LaunchPermission{
			{AccountID: acct3}, {AccountID: acct2}, {AccountID: acct2}, {OrganizationArn: org1}, {OrganizationalUnitArn: ou1},
		}); err != nil {
			return err
		}
		// Ones it has are ignored; the transaction goes on.
		if err := tx.Images().AddPermissions("ami-1", []openami.LaunchPermission{{AccountID: acct2}, {OrganizationArn: org1}}); err != nil {
			return err
		}
		return tx.Images().AddPermissions("ami-2", []openami.LaunchPermission{{AccountID: acct3}})
	})
	all := []openami.LaunchPermission{
		{OrganizationArn: org1}, {OrganizationalUnitArn: ou1}, {AccountID: acct2}, {AccountID: acct3},
	}
	equal(t, "Permissions", launchPermissions(t, s, "ami-1"), all)
	if public("ami-1") {
		t.Error("image public without group all")
	}
	// Group all makes it public, in the row and in the record.
	update(t, s, func(tx metadata.Tx) error {
		return tx.Images().AddPermissions("ami-1", []openami.LaunchPermission{{Group: "all"}, {AccountID: acct2}})
	})
	equal(t, "Permissions with all", launchPermissions(t, s, "ami-1"), append([]openami.LaunchPermission{{Group: "all"}}, all...))
	if !public("ami-1") || public("ami-2") {
		t.Error("group all did not make just ami-1 public")
	}
	want := utcImage(image(region1, acct1, "ami-1", "one"))
	want.Public = true
	equal(t, "Get of a public image", getImage(t, s, region1, "ami-1"), want)
	update(t, s, func(tx metadata.Tx) error { // again: no change
		return tx.Images().AddPermissions("ami-1", []openami.LaunchPermission{{Group: "all"}})
	})
	if !public("ami-1") {
		t.Error("adding group all twice made the image private")
	}
	// Removing others leaves it public; removing group all does not.
	update(t, s, func(tx metadata.Tx) error {
		return tx.Images().RemovePermissions("ami-1", []openami.LaunchPermission{
			{AccountID: acct3}, {OrganizationArn: org1}, {AccountID: "999999999999"}, {OrganizationalUnitArn: "arn:other"},
		})
	})
	equal(t, "Permissions after Remove", launchPermissions(t, s, "ami-1"),
		[]openami.LaunchPermission{{Group: "all"}, {OrganizationalUnitArn: ou1}, {AccountID: acct2}})
	if !public("ami-1") {
		t.Error("removing accounts made the image private")
	}
	update(t, s, func(tx metadata.Tx) error {
		return tx.Images().RemovePermissions("ami-1", []openami.LaunchPermission{{Group: "all"}})
	})
	if public("ami-1") {
		t.Error("image still public after removing group all")
	}
	equal(t, "Get after removing all", getImage(t, s, region1, "ami-1"), utcImage(image(region1, acct1, "ami-1", "one")))
	equal(t, "other image's Permissions", launchPermissions(t, s, "ami-2"), []openami.LaunchPermission{{AccountID: acct3}})
	// Updating an image keeps its permissions.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Images().AddPermissions("ami-1", []openami.LaunchPermission{{Group: "all"}}); err != nil {
			return err
		}
		img, err := tx.Images().Get(region1, "ami-1")
		if err != nil {
			return err
		}
		img.Description = "changed"
		return tx.Images().Update(img)
	})
	if !public("ami-1") || len(launchPermissions(t, s, "ami-1")) != 3 {
		t.Error("Update changed the permissions")
	}
	// An image created public has the group all permission.
	pub := image(region1, acct2, "ami-3", "pub")
	pub.Public = true
	createImages(t, s, pub)
	equal(t, "created public", launchPermissions(t, s, "ami-3"), []openami.LaunchPermission{{Group: "all"}})
	if !public("ami-3") {
		t.Error("image created public is not")
	}
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Images().AddPermissions("ami-1", nil); err != nil {
			return err
		}
		return tx.Images().RemovePermissions("ami-1", nil)
	})
	if len(launchPermissions(t, s, "ami-1")) != 3 {
		t.Error("empty calls changed the permissions")
	}
	// Permissions that name nothing, two things or another group are
	// refused.
	for _, bad := range []openami.LaunchPermission{
		{}, {AccountID: acct2, Group: "all"}, {OrganizationArn: org1, OrganizationalUnitArn: ou1}, {Group: "admins"},
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error {
			return tx.Images().AddPermissions("ami-2", []openami.LaunchPermission{{AccountID: acct2}, bad})
		})
		if err == nil {
			t.Errorf("AddPermissions of %+v succeeded", bad)
		}
	}
	equal(t, "Permissions after refused calls", launchPermissions(t, s, "ami-2"), []openami.LaunchPermission{{AccountID: acct3}})
}

// imageFixture, region1: acct1 owns a1 "alpha" (private) and a2 "beta"
// (public); acct2 owns b1 (shared with acct1), b2 (public, alias amazon),
// b3 (private), b4 "alpha" (shared with org1), b5 (shared with ou1 and
// acct3; and acct1, then unshared), b6 (public, then private); acct3 owns
// c1 (alias aws-marketplace, shared with acct1) and c2 (public, alias
// amazon). region2: acct1 owns a3 "alpha", public.
//
// Tags, set by the images' owners: a1 env=prod team=web, a2 env=test; b1
// env=prod, b2 env=prod team=web, b4 env=dev, b5 env=prod team=db; c2
// env=prod; in region2, a3 env=prod. acct1 also has env=prod on b3, which
// it does not own (the store does not check), and a tag env=prod on a key
// pair.
func imageFixture(t *testing.T, s metadata.Store) {
	named := func(region, acct, id, name, alias string) openami.Image {
		img := image(region, acct, id, name)
		img.OwnerAlias = alias
		return img
	}
	createImages(t, s,
		named(region1, acct1, "ami-a1", "alpha", ""), named(region1, acct1, "ami-a2", "beta", ""),
		named(region2, acct1, "ami-a3", "alpha", ""),
		named(region1, acct2, "ami-b1", "b1", ""), named(region1, acct2, "ami-b2", "b2", "amazon"),
		named(region1, acct2, "ami-b3", "b3", ""), named(region1, acct2, "ami-b4", "alpha", ""),
		named(region1, acct2, "ami-b5", "b5", ""), named(region1, acct2, "ami-b6", "b6", ""),
		named(region1, acct3, "ami-c1", "c1", "aws-marketplace"), named(region1, acct3, "ami-c2", "c2", "amazon"))
	update(t, s, func(tx metadata.Tx) error {
		im := tx.Images()
		for _, p := range []struct {
			id string
			p  openami.LaunchPermission
		}{
			{"ami-a2", openami.LaunchPermission{Group: "all"}},
			{"ami-a3", openami.LaunchPermission{Group: "all"}},
			{"ami-b1", openami.LaunchPermission{AccountID: acct1}},
			{"ami-b2", openami.LaunchPermission{Group: "all"}},
			{"ami-b4", openami.LaunchPermission{OrganizationArn: org1}},
			{"ami-b5", openami.LaunchPermission{OrganizationalUnitArn: ou1}},
			{"ami-b5", openami.LaunchPermission{AccountID: acct3}},
			{"ami-b5", openami.LaunchPermission{AccountID: acct1}},
			{"ami-b6", openami.LaunchPermission{Group: "all"}},
			{"ami-c1", openami.LaunchPermission{AccountID: acct1}},
			{"ami-c2", openami.LaunchPermission{Group: "all"}},
		} {
			if err := im.AddPermissions(p.id, []openami.LaunchPermission{p.p}); err != nil {
				return err
			}
		}
		if err := im.RemovePermissions("ami-b6", []openami.LaunchPermission{{Group: "all"}}); err != nil {
			return err
		}
		if err := im.RemovePermissions("ami-b5", []openami.LaunchPermission{{AccountID: acct1}}); err != nil {
			return err
		}
		for _, tg := range []struct {
			region, acct, id string
			tags             []openami.Tag
		}{
			{region1, acct1, "ami-a1", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "web"}}},
			{region1, acct1, "ami-a2", []openami.Tag{{Key: "env", Value: "test"}}},
			{region1, acct2, "ami-b1", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region1, acct2, "ami-b2", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "web"}}},
			{region1, acct2, "ami-b4", []openami.Tag{{Key: "env", Value: "dev"}}},
			{region1, acct2, "ami-b5", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "db"}}},
			{region1, acct3, "ami-c2", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region2, acct1, "ami-a3", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region1, acct1, "ami-b3", []openami.Tag{{Key: "env", Value: "prod"}}},
		} {
			if err := tx.Tags().Set(tg.region, tg.acct, tg.id, openami.ResourceImage, tg.tags); err != nil {
				return err
			}
		}
		return tx.Tags().Set(region1, acct1, "key-1", openami.ResourceKeyPair, []openami.Tag{{Key: "env", Value: "prod"}})
	})
}

func testImageListSelections(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	const stranger = "999999999999"
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"everything", metadata.ImageQuery{},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},

		{"VisibleTo acct1", metadata.ImageQuery{VisibleTo: acct1},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"VisibleTo acct1, VisibleOrgs org1", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{org1}},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b4", "ami-c1", "ami-c2"}},
		{"VisibleTo acct1, VisibleOrgs ou1 and another", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{"arn:other", ou1}},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b5", "ami-c1", "ami-c2"}},
		{"VisibleTo acct2", metadata.ImageQuery{VisibleTo: acct2},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c2"}},
		{"VisibleTo acct3", metadata.ImageQuery{VisibleTo: acct3}, []string{"ami-a2", "ami-b2", "ami-b5", "ami-c1", "ami-c2"}},
		{"VisibleTo a stranger", metadata.ImageQuery{VisibleTo: stranger}, []string{"ami-a2", "ami-b2", "ami-c2"}},
		{"VisibleOrgs alone", metadata.ImageQuery{VisibleOrgs: []string{org1}}, []string{"ami-a2", "ami-b2", "ami-b4", "ami-c2"}},

		{"OwnerIDs acct2", metadata.ImageQuery{OwnerIDs: []string{acct2}},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6"}},
		{"OwnerIDs acct3 acct1", metadata.ImageQuery{OwnerIDs: []string{acct3, acct1, acct3}},
			[]string{"ami-a1", "ami-a2", "ami-c1", "ami-c2"}},
		{"OwnerAliases amazon", metadata.ImageQuery{OwnerAliases: []string{"amazon"}}, []string{"ami-b2", "ami-c2"}},
		{"OwnerAliases two", metadata.ImageQuery{OwnerAliases: []string{"aws-marketplace", "amazon"}},
			[]string{"ami-b2", "ami-c1", "ami-c2"}},
		{"States none", metadata.ImageQuery{States: []openami.ImageState{openami.ImageFailed}}, []string{}},
		{"States available", metadata.ImageQuery{States: []openami.ImageState{openami.ImageAvailable}, OwnerIDs: []string{acct3}},
			[]string{"ami-c1", "ami-c2"}},
		{"OwnerIDs or OwnerAliases", metadata.ImageQuery{OwnerIDs: []string{acct3}, OwnerAliases: []string{"amazon"}},
			[]string{"ami-b2", "ami-c1", "ami-c2"}},

		{"ExecutableBy acct1", metadata.ImageQuery{ExecutableBy: []string{acct1}}, []string{"ami-b1", "ami-c1"}},
		{"ExecutableBy all", metadata.ImageQuery{ExecutableBy: []string{"all"}}, []string{"ami-a2", "ami-b2", "ami-c2"}},
		{"ExecutableBy acct1 all", metadata.ImageQuery{ExecutableBy: []string{"all", acct1}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"ExecutableBy an owner", metadata.ImageQuery{ExecutableBy: []string{acct2}}, []string{}},
		{"ExecutableBy acct3", metadata.ImageQuery{ExecutableBy: []string{acct3}}, []string{"ami-b5"}},
		{"ExecutableBy acct3, ExecutableOrgs org1", metadata.ImageQuery{ExecutableBy: []string{acct3}, ExecutableOrgs: []string{org1}},
			[]string{"ami-b4", "ami-b5"}},
		{"ExecutableOrgs alone", metadata.ImageQuery{ExecutableOrgs: []string{ou1, org1}}, []string{"ami-b4", "ami-b5"}},
		{"ExecutableBy acct1 acct3", metadata.ImageQuery{ExecutableBy: []string{acct3, acct1}},
			[]string{"ami-b1", "ami-b5", "ami-c1"}},

		{"IDs", metadata.ImageQuery{IDs: []string{"ami-b3", "ami-a1", "ami-none", "ami-a3", "ami-b3"}}, []string{"ami-a1", "ami-b3"}},
		{"Names alpha", metadata.ImageQuery{Names: []string{"alpha"}}, []string{"ami-a1", "ami-b4"}},
		{"Names three", metadata.ImageQuery{Names: []string{"c2", "alpha", "none", "ALPHA"}}, []string{"ami-a1", "ami-b4", "ami-c2"}},

		{"VisibleTo acct1, Names alpha", metadata.ImageQuery{VisibleTo: acct1, Names: []string{"alpha"}}, []string{"ami-a1"}},
		{"VisibleTo acct1, OwnerIDs acct2", metadata.ImageQuery{VisibleTo: acct1, OwnerIDs: []string{acct2}},
			[]string{"ami-b1", "ami-b2"}},
		{"VisibleTo acct1, ExecutableBy all", metadata.ImageQuery{VisibleTo: acct1, ExecutableBy: []string{"all"}},
			[]string{"ami-a2", "ami-b2", "ami-c2"}},
		{"VisibleTo acct1, ExecutableBy acct1", metadata.ImageQuery{VisibleTo: acct1, ExecutableBy: []string{acct1}},
			[]string{"ami-b1", "ami-c1"}},
		{"VisibleTo acct3, ExecutableOrgs ou1", metadata.ImageQuery{VisibleTo: acct3, ExecutableOrgs: []string{ou1}},
			[]string{"ami-b5"}},
		{"VisibleTo stranger, ExecutableOrgs org1", metadata.ImageQuery{VisibleTo: stranger, ExecutableOrgs: []string{org1}},
			[]string{}},
		{"OwnerAliases amazon, ExecutableBy all, IDs", metadata.ImageQuery{
			OwnerAliases: []string{"amazon"}, ExecutableBy: []string{"all"}, IDs: []string{"ami-c2", "ami-a2", "ami-b2"}},
			[]string{"ami-b2", "ami-c2"}},
		{"every field", metadata.ImageQuery{
			VisibleTo: acct1, VisibleOrgs: []string{org1},
			OwnerIDs: []string{acct2, acct3}, OwnerAliases: []string{"", "amazon"},
			ExecutableBy: []string{acct1, "all"}, ExecutableOrgs: []string{org1},
			IDs:   []string{"ami-b1", "ami-b2", "ami-b4", "ami-c1", "ami-c2", "ami-a2"},
			Names: []string{"b1", "alpha", "c2", "c1", "beta"},
			After: "ami-b1", Limit: 2,
		}, []string{"ami-b4", "ami-c1"}},

		{"After", metadata.ImageQuery{VisibleTo: acct1, After: "ami-b1"}, []string{"ami-b2", "ami-c1", "ami-c2"}},
		{"After, not an id", metadata.ImageQuery{After: "ami-b"},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},
		{"After the last", metadata.ImageQuery{After: "ami-c2"}, []string{}},
		{"Limit", metadata.ImageQuery{Limit: 3}, []string{"ami-a1", "ami-a2", "ami-b1"}},
		{"After, Limit", metadata.ImageQuery{After: "ami-a1", Limit: 2}, []string{"ami-a2", "ami-b1"}},
		{"IDs, After, Limit", metadata.ImageQuery{IDs: []string{"ami-c1", "ami-b4", "ami-a1", "ami-b2"}, After: "ami-a2", Limit: 2},
			[]string{"ami-b2", "ami-b4"}},
		{"nothing", metadata.ImageQuery{OwnerIDs: []string{stranger}}, []string{}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
	}
	// Another region has its own images; full records come back.
	got := listImages(t, s, region2, metadata.ImageQuery{VisibleTo: acct2})
	want := utcImage(image(region2, acct1, "ami-a3", "alpha"))
	want.Public = true
	equal(t, "region2", got, []openami.Image{want})
	equal(t, "region2 by name", imageIDs(listImages(t, s, region2, metadata.ImageQuery{Names: []string{"alpha"}})), []string{"ami-a3"})
	if got := listImages(t, s, "ap-south-1", metadata.ImageQuery{}); len(got) != 0 {
		t.Errorf("List of an empty region: %v", got)
	}
}

// pageImages pages through q, limit at a time, and returns the ids.
func pageImages(t *testing.T, s metadata.Store, q metadata.ImageQuery, limit int) []string {
	t.Helper()
	return pageIDs(t, limit, q.After, func(after string) []string {
		q.After, q.Limit = after, limit
		return imageIDs(listImages(t, s, region1, q))
	})
}

func testImageListPages(t *testing.T, s metadata.Store) {
	var imgs []openami.Image
	for i := range 30 {
		img := image(region1, []string{acct1, acct2, acct3}[i%3], fmt.Sprintf("ami-%03d", i), fmt.Sprintf("n%02d", i))
		if i%7 == 0 {
			img.OwnerAlias = "amazon"
		}
		imgs = append(imgs, img)
	}
	createImages(t, s, imgs...)
	update(t, s, func(tx metadata.Tx) error {
		for i := range 30 {
			// The owner's tag k=v0…v3 on every image but every fifth.
			if i%5 != 4 {
				if err := tx.Tags().Set(region1, []string{acct1, acct2, acct3}[i%3], fmt.Sprintf("ami-%03d", i),
					openami.ResourceImage, []openami.Tag{{Key: "k", Value: fmt.Sprintf("v%d", i%4)}}); err != nil {
					return err
				}
			}
			var p openami.LaunchPermission
			switch i % 5 {
			case 1:
				p.AccountID = acct1
			case 2:
				p.Group = "all"
			case 3:
				p.OrganizationArn = org1
			default:
				continue
			}
			if err := tx.Images().AddPermissions(fmt.Sprintf("ami-%03d", i), []openami.LaunchPermission{p}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, q := range []metadata.ImageQuery{
		{},
		{VisibleTo: acct1},
		{VisibleTo: acct2, VisibleOrgs: []string{org1}},
		{OwnerIDs: []string{acct2, acct3}},
		{OwnerAliases: []string{"amazon"}},
		{ExecutableBy: []string{acct1, "all"}},
		{ExecutableOrgs: []string{org1}},
		{Names: []string{"n01", "n02", "n05", "n13", "n17", "n20", "n29", "n30"}},
		{VisibleTo: acct1, IDs: []string{"ami-001", "ami-002", "ami-004", "ami-010", "ami-011", "ami-027"}},
		{NamePrefixes: []string{"n0", "n2"}},
		{VisibleTo: acct1, NamePrefixes: []string{"n1", "n2"}},
		{TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "k"}}},
		{VisibleTo: acct1, TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "k", Values: []string{"v0", "v1", "v2"}}}},
		{VisibleTo: acct1, VisibleOrgs: []string{org1}, TagOwner: acct3, Tags: []metadata.TagMatch{{Key: "k", Values: []string{"v1", "v2"}}},
			NamePrefixes: []string{"n1", "n2"}},
		{ExecutableBy: []string{acct1, "all"}, OwnerIDs: []string{acct2, acct3}},
	} {
		all := imageIDs(listImages(t, s, region1, q))
		if len(all) == 0 {
			t.Fatalf("%+v selects nothing", q)
		}
		for _, limit := range []int{1, 2, 7, 30, 31} {
			equal(t, fmt.Sprintf("%+v paged by %d", q, limit), pageImages(t, s, q, limit), all)
		}
	}
}

// testImageListLongLists selects by more values than fit one SQL statement
// comfortably, which an implementation may handle differently.
func testImageListLongLists(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	long := func(prefix string, real ...string) []string {
		out := slices.Clone(real)
		for i := range 1100 {
			out = append(out, fmt.Sprintf("%s%04d", prefix, i))
		}
		return out
	}
	ids := long("ami-x", "ami-b3", "ami-a2", "ami-b5", "ami-c1")
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"IDs", metadata.ImageQuery{IDs: ids}, []string{"ami-a2", "ami-b3", "ami-b5", "ami-c1"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: long("9", acct3)}, []string{"ami-c1", "ami-c2"}},
		{"OwnerAliases", metadata.ImageQuery{OwnerAliases: long("alias", "amazon")}, []string{"ami-b2", "ami-c2"}},
		{"Names", metadata.ImageQuery{Names: long("name", "alpha")}, []string{"ami-a1", "ami-b4"}},
		{"VisibleOrgs", metadata.ImageQuery{VisibleTo: acct3, VisibleOrgs: long("arn:", org1)},
			[]string{"ami-a2", "ami-b2", "ami-b4", "ami-b5", "ami-c1", "ami-c2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: long("8", acct3, "all")}, []string{"ami-a2", "ami-b2", "ami-b5", "ami-c2"}},
		{"ExecutableOrgs", metadata.ImageQuery{ExecutableBy: []string{acct1}, ExecutableOrgs: long("arn:", ou1)},
			[]string{"ami-b1", "ami-b5", "ami-c1"}},
		{"several", metadata.ImageQuery{IDs: ids, OwnerIDs: long("9", acct2, acct3), ExecutableBy: long("8", acct3, acct1)},
			[]string{"ami-b5", "ami-c1"}},
		{"NamePrefixes", metadata.ImageQuery{NamePrefixes: long("zz", "b")},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6"}},
		{"NamePrefixes, VisibleTo", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: long("zz", "c", "b")},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"Tags values", metadata.ImageQuery{TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "env", Values: long("v", "dev", "prod")}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"Tags values, two entries", metadata.ImageQuery{VisibleTo: acct3, TagOwner: acct2, Tags: []metadata.TagMatch{
			{Key: "env", Values: long("v", "prod")}, {Key: "team", Values: long("t", "web", "db")}}},
			[]string{"ami-b2", "ami-b5"}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		for _, limit := range []int{1, 3} {
			equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
		}
	}
}

func testImageUsingSnapshot(t *testing.T, s metadata.Store) {
	twoSnaps := func(region, acct, id, a, b string) openami.Image {
		img := image(region, acct, id, id)
		img.BlockDeviceMappings = []openami.BlockDeviceMapping{
			{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{SnapshotID: a}},
			{DeviceName: "/dev/sdb", Ebs: &openami.EbsBlockDevice{SnapshotID: b}},
			{DeviceName: "/dev/sdc", VirtualName: "ephemeral0"},
			{DeviceName: "/dev/sdd", NoDevice: true},
			{DeviceName: "/dev/sde", Ebs: &openami.EbsBlockDevice{VolumeSize: 10}},
		}
		return img
	}
	createImages(t, s,
		twoSnaps(region1, acct1, "ami-3", "snap-1", "snap-2"),
		twoSnaps(region1, acct2, "ami-1", "snap-1", "snap-1"), // twice in one image
		twoSnaps(region1, acct1, "ami-2", "snap-3", "snap-2"),
		twoSnaps(region2, acct1, "ami-4", "snap-1", "snap-3"),
	)
	for _, c := range []struct {
		region, snap string
		want         []string
	}{
		{region1, "snap-1", []string{"ami-1", "ami-3"}},
		{region1, "snap-2", []string{"ami-2", "ami-3"}},
		{region1, "snap-3", []string{"ami-2"}},
		{region2, "snap-1", []string{"ami-4"}},
		{region2, "snap-2", []string{}},
		{region1, "", []string{}},
	} {
		equal(t, c.region+" "+c.snap, usingSnapshot(t, s, c.region, c.snap), c.want)
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Images().Delete(region1, "ami-3") })
	equal(t, "after Delete", usingSnapshot(t, s, region1, "snap-1"), []string{"ami-1"})
}

func testAccountDeleteImages(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			for _, r := range []string{region1, region2} {
				img := image(r, id, "ami-"+id+r[:2], "img")
				if err := tx.Images().Create(img); err != nil {
					return err
				}
				if err := tx.Images().AddPermissions(img.ID, []openami.LaunchPermission{{Group: "all"}, {AccountID: acct3}}); err != nil {
					return err
				}
			}
		}
		// acct2 shares an image with acct1.
		return tx.Images().AddPermissions("ami-"+acct2+region1[:2], []openami.LaunchPermission{{AccountID: acct1}})
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	for _, r := range []string{region1, region2} {
		equal(t, "images left in "+r, imageIDs(listImages(t, s, r, metadata.ImageQuery{})), []string{"ami-" + acct2 + r[:2]})
		equal(t, "snapshot use in "+r, usingSnapshot(t, s, r, "snap-ami-"+acct1+r[:2]), []string{})
		equal(t, "images shared with the deleted account in "+r,
			imageIDs(listImages(t, s, r, metadata.ImageQuery{ExecutableBy: []string{acct1}})), []string{})
		// acct2's images keep all and acct3, not acct1.
		equal(t, "permissions of acct2's image in "+r, launchPermissions(t, s, "ami-"+acct2+r[:2]),
			[]openami.LaunchPermission{{Group: "all"}, {AccountID: acct3}})
		if ps := launchPermissions(t, s, "ami-"+acct1+r[:2]); len(ps) != 0 {
			t.Errorf("permissions of a deleted account's image: %v", ps)
		}
	}
	// The deleted account's ids and names can be used again.
	createImages(t, s, image(region1, acct1, "ami-"+acct1+region1[:2], "img"))
	if ps := launchPermissions(t, s, "ami-"+acct1+region1[:2]); len(ps) != 0 {
		t.Errorf("permissions of a re-created image: %v", ps)
	}
}

// testImageListNamePrefixes selects by name prefixes: bytewise, with no
// wildcards, alone and with other fields.
func testImageListNamePrefixes(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	createImages(t, s,
		image(region1, acct3, "ami-d1", "50%_off"),
		image(region1, acct3, "ami-d2", "50x_off"),
		image(region1, acct3, "ami-d3", "50%Xoff"),
		image(region1, acct3, "ami-d4", "é-café"),
		image(region1, acct3, "ami-d5", "éa"),
		image(region1, acct3, "ami-d6", "e-plain"),
		image(region1, acct3, "ami-d7", "\x7f-del"),
		image(region1, acct3, "ami-d8", "\u0080x"),
		image(region1, acct3, "ami-d9", "5_0"),
		image(region1, acct3, "ami-e1", "\ud7ffq"),
		image(region1, acct3, "ami-e2", "\ue000x"),
		image(region1, acct3, "ami-e3", "\U0010ffffz"),
		image(region1, acct3, "ami-e4", "\U0010ffff"),
		image(region1, acct3, "ami-e5", "zeta"),
	)
	everything := []string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2",
		"ami-d1", "ami-d2", "ami-d3", "ami-d4", "ami-d5", "ami-d6", "ami-d7", "ami-d8", "ami-d9",
		"ami-e1", "ami-e2", "ami-e3", "ami-e4", "ami-e5"}
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"one", metadata.ImageQuery{NamePrefixes: []string{"alp"}}, []string{"ami-a1", "ami-b4"}},
		{"whole name", metadata.ImageQuery{NamePrefixes: []string{"alpha"}}, []string{"ami-a1", "ami-b4"}},
		{"longer than the name", metadata.ImageQuery{NamePrefixes: []string{"alphabet"}}, []string{}},
		{"case-sensitive", metadata.ImageQuery{NamePrefixes: []string{"Alp", "ALPHA"}}, []string{}},
		{"several", metadata.ImageQuery{NamePrefixes: []string{"c", "b"}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},
		{"overlapping", metadata.ImageQuery{NamePrefixes: []string{"alpha", "al", "alp", "al", "b1"}},
			[]string{"ami-a1", "ami-b1", "ami-b4"}},
		{"none match", metadata.ImageQuery{NamePrefixes: []string{"zzz", "a-"}}, []string{}},
		{"empty", metadata.ImageQuery{NamePrefixes: []string{""}}, everything},
		{"empty among others", metadata.ImageQuery{NamePrefixes: []string{"zzz", ""}}, everything},
		{"last letter", metadata.ImageQuery{NamePrefixes: []string{"z"}}, []string{"ami-e5"}},

		// LIKE's wildcards are literal.
		{"percent", metadata.ImageQuery{NamePrefixes: []string{"50%"}}, []string{"ami-d1", "ami-d3"}},
		{"percent underscore", metadata.ImageQuery{NamePrefixes: []string{"50%_"}}, []string{"ami-d1"}},
		{"underscore", metadata.ImageQuery{NamePrefixes: []string{"5_"}}, []string{"ami-d9"}},
		{"digit", metadata.ImageQuery{NamePrefixes: []string{"5"}}, []string{"ami-d1", "ami-d2", "ami-d3", "ami-d9"}},
		{"percent alone", metadata.ImageQuery{NamePrefixes: []string{"%"}}, []string{}},

		// Not ASCII: whole characters, compared bytewise.
		{"é", metadata.ImageQuery{NamePrefixes: []string{"é"}}, []string{"ami-d4", "ami-d5"}},
		{"é-", metadata.ImageQuery{NamePrefixes: []string{"é-"}}, []string{"ami-d4"}},
		{"e is not é", metadata.ImageQuery{NamePrefixes: []string{"e"}}, []string{"ami-d6"}},
		{"DEL, before U+0080", metadata.ImageQuery{NamePrefixes: []string{"\x7f"}}, []string{"ami-d7"}},
		{"U+0080", metadata.ImageQuery{NamePrefixes: []string{"\u0080"}}, []string{"ami-d8"}},
		{"before the surrogates", metadata.ImageQuery{NamePrefixes: []string{"\ud7ff"}}, []string{"ami-e1"}},
		{"after the surrogates", metadata.ImageQuery{NamePrefixes: []string{"\ue000"}}, []string{"ami-e2"}},
		{"the last character", metadata.ImageQuery{NamePrefixes: []string{"\U0010ffff"}}, []string{"ami-e3", "ami-e4"}},
		{"the last character twice", metadata.ImageQuery{NamePrefixes: []string{"\U0010ffff\U0010ffff"}}, []string{}},

		// With other fields.
		{"VisibleTo", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"b", "c"}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"VisibleTo, VisibleOrgs", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{org1}, NamePrefixes: []string{"alp"}},
			[]string{"ami-a1", "ami-b4"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: []string{acct2}, NamePrefixes: []string{"b"}},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6"}},
		{"OwnerIDs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, OwnerIDs: []string{acct2}, NamePrefixes: []string{"b"}},
			[]string{"ami-b2", "ami-b5"}},
		{"IDs", metadata.ImageQuery{IDs: []string{"ami-a1", "ami-a2", "ami-d1", "ami-d2"}, NamePrefixes: []string{"50", "be"}},
			[]string{"ami-a2", "ami-d1", "ami-d2"}},
		{"Names", metadata.ImageQuery{Names: []string{"alpha", "beta"}, NamePrefixes: []string{"be"}}, []string{"ami-a2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: []string{acct1, "all"}, NamePrefixes: []string{"c"}},
			[]string{"ami-c1", "ami-c2"}},
		{"States", metadata.ImageQuery{States: []openami.ImageState{openami.ImageFailed}, NamePrefixes: []string{"b"}}, []string{}},
		{"After, Limit", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"b", "c"}, After: "ami-a2", Limit: 2},
			[]string{"ami-b1", "ami-b2"}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		for _, limit := range []int{1, 2} {
			if c.q.Limit == 0 {
				equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
			}
		}
	}
	equal(t, "region2", imageIDs(listImages(t, s, region2, metadata.ImageQuery{NamePrefixes: []string{"al"}})), []string{"ami-a3"})
}

// testImageListTags selects by the tags of an account, alone and with
// other fields.
func testImageListTags(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	const stranger = "999999999999"
	type tm = metadata.TagMatch
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"key and value", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-b1", "ami-b2", "ami-b5"}},
		{"key", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"key, empty values", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "team", Values: []string{}}}},
			[]string{"ami-b2", "ami-b5"}},
		{"two values", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"dev", "prod", "dev"}}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"two entries", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{
			{Key: "env", Values: []string{"prod"}}, {Key: "team", Values: []string{"web"}}}}, []string{"ami-b2"}},
		{"two entries, one without values", metadata.ImageQuery{TagOwner: acct1, Tags: []tm{
			{Key: "team"}, {Key: "env", Values: []string{"prod"}}}}, []string{"ami-a1"}},
		{"the same key twice", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{
			{Key: "env", Values: []string{"prod", "dev"}}, {Key: "env", Values: []string{"dev", "test"}}}}, []string{"ami-b4"}},
		{"values are case-sensitive", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"Prod"}}}},
			[]string{}},
		{"keys are case-sensitive", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "Env"}}}, []string{}},
		{"no such value", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"test"}}}}, []string{}},
		// Tags are the TagOwner's, whoever owns the image.
		{"another account's tags", metadata.ImageQuery{TagOwner: acct3, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-c2"}},
		{"an account without tags", metadata.ImageQuery{TagOwner: stranger, Tags: []tm{{Key: "env"}}}, []string{}},
		{"no TagOwner", metadata.ImageQuery{Tags: []tm{{Key: "env"}}}, []string{}},
		{"a tag on an image the TagOwner does not own", metadata.ImageQuery{TagOwner: acct1, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-a1", "ami-b3"}},
		{"TagOwner alone", metadata.ImageQuery{TagOwner: acct1, Limit: 3}, []string{"ami-a1", "ami-a2", "ami-b1"}},

		// With visibility.
		{"VisibleTo the owner", metadata.ImageQuery{VisibleTo: acct1, TagOwner: acct1, Tags: []tm{{Key: "env"}}},
			[]string{"ami-a1", "ami-a2"}},
		{"VisibleTo, OwnerIDs", metadata.ImageQuery{VisibleTo: acct1, OwnerIDs: []string{acct1}, TagOwner: acct1, Tags: []tm{{Key: "env"}}},
			[]string{"ami-a1", "ami-a2"}},
		{"VisibleTo another", metadata.ImageQuery{VisibleTo: acct3, TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-b2", "ami-b5"}},
		{"VisibleTo, VisibleOrgs", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{ou1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1", "ami-b2", "ami-b5"}},
		{"VisibleOrgs alone", metadata.ImageQuery{VisibleOrgs: []string{org1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2", "ami-b4"}},
		{"VisibleTo a stranger", metadata.ImageQuery{VisibleTo: stranger, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: []string{acct1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1"}},
		{"ExecutableBy all", metadata.ImageQuery{ExecutableBy: []string{"all"}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"ExecutableBy the owner", metadata.ImageQuery{ExecutableBy: []string{acct2}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{}},
		{"ExecutableOrgs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, ExecutableBy: []string{acct3}, ExecutableOrgs: []string{org1},
			TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{"ami-b5"}},

		// With other fields.
		{"IDs", metadata.ImageQuery{IDs: []string{"ami-b1", "ami-b4", "ami-a1", "ami-none"}, TagOwner: acct2,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-b1"}},
		{"IDs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, IDs: []string{"ami-b1", "ami-b2", "ami-b5"}, TagOwner: acct2,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-b2", "ami-b5"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: []string{acct1, acct3}, TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{}},
		{"OwnerAliases", metadata.ImageQuery{OwnerAliases: []string{"amazon"}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"NamePrefixes", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"al", "b"}, TagOwner: acct1,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-a1"}},
		{"Names, States", metadata.ImageQuery{Names: []string{"b4", "alpha"}, States: []openami.ImageState{openami.ImageAvailable},
			TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{"ami-b4"}},
		{"After, Limit", metadata.ImageQuery{VisibleTo: acct1, TagOwner: acct2, Tags: []tm{{Key: "env"}}, After: "ami-b1", Limit: 1},
			[]string{"ami-b2"}},
		{"After the last", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}, After: "ami-b5"}, []string{}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		if c.q.Limit == 0 {
			for _, limit := range []int{1, 2} {
				equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
			}
		}
	}
	equal(t, "region2", imageIDs(listImages(t, s, region2, metadata.ImageQuery{TagOwner: acct1, Tags: []tm{{Key: "env"}}})),
		[]string{"ami-a3"})
	equal(t, "region2, another account", imageIDs(listImages(t, s, region2, metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}})),
		[]string{})
}
