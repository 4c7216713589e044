package storetest

import (
	"errors"
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
	img.DeregistrationProtection.Until = utcTime(img.DeregistrationProtection.Until)
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
		StateReason: openami.StateReason{Cause: openami.CauseSnapshotFailed, Message: "it failed"},

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
		DeregistrationProtection: openami.DeregistrationProtection{State: "disabled", Until: time.Date(2026, 12, 7, 10, 0, 0, 123e6, zone)},
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
			for i, at := range []time.Time{got.CreatedAt, got.DeprecationTime, got.LastLaunchedTime, got.DeregistrationProtection.Until} {
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
		StateReason: openami.StateReason{Cause: "c", Message: "m"},
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
