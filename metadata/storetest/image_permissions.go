package storetest

import (
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

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
