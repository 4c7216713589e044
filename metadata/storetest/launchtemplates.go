package storetest

import (
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func launchTemplate(region, acct, id, name string) openami.LaunchTemplate {
	return openami.LaunchTemplate{ID: id, Region: region, AccountID: acct, Name: name, CreateTime: t0.UTC(),
		CreatedBy: "arn:aws:iam::" + acct + ":root", DefaultVersion: 1, LatestVersion: 1}
}

func templateVersion(id string, n int64, image string) openami.LaunchTemplateVersion {
	yes := true
	return openami.LaunchTemplateVersion{TemplateID: id, Number: n, CreateTime: t0.UTC(), Description: "v",
		Data: openami.LaunchTemplateData{ImageID: image, InstanceType: "t3.micro", SecurityGroupIDs: []string{"sg-1"},
			BlockDeviceMappings: []openami.LaunchTemplateMapping{{DeviceName: "/dev/sdb", Ebs: &openami.LaunchTemplateEbs{VolumeSize: 8, DeleteOnTermination: &yes}}},
			MetadataOptions:     &openami.MetadataOptions{HttpTokens: "required"},
			TagSpecifications:   []openami.LaunchTemplateTagSpec{{ResourceType: openami.ResourceInstance, Tags: []openami.Tag{{Key: "k", Value: "v"}}}}}}
}

// testLaunchTemplates: create (with the first version), get, list by
// account, ids and names in id order, update of the version numbers,
// the refusals, and delete with the versions.
func testLaunchTemplates(t *testing.T, s metadata.Store) {
	a := launchTemplate(region1, acct1, "lt-2", "web")
	b := launchTemplate(region1, acct1, "lt-1", "db")
	other := launchTemplate(region1, acct2, "lt-3", "web")
	elsewhere := launchTemplate(region2, acct1, "lt-4", "web")
	update(t, s, func(tx metadata.Tx) error {
		for _, lt := range []openami.LaunchTemplate{a, b, other, elsewhere} {
			if err := tx.LaunchTemplates().Create(lt, templateVersion(lt.ID, 1, "ami-1")); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().Create(launchTemplate(region1, acct1, "lt-5", "web"), templateVersion("lt-5", 1, "ami-1"))
	}), openami.Duplicate, openami.ResourceLaunchTemplate)
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().Create(launchTemplate(region2, acct2, "lt-1", "x"), templateVersion("lt-1", 1, "ami-1"))
	}), openami.Duplicate, openami.ResourceLaunchTemplate)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.LaunchTemplates().Get(region1, "lt-2")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Get: %+v, want %+v", got, a)
		}
		_, err = tx.LaunchTemplates().Get(region2, "lt-2")
		wantClass(t, err, openami.NotFound, openami.ResourceLaunchTemplate)
		for _, c := range []struct {
			q    metadata.LaunchTemplateQuery
			want []string
		}{
			{metadata.LaunchTemplateQuery{AccountID: acct1}, []string{"lt-1", "lt-2"}},
			{metadata.LaunchTemplateQuery{}, []string{"lt-1", "lt-2", "lt-3"}},
			{metadata.LaunchTemplateQuery{Names: []string{"web"}}, []string{"lt-2", "lt-3"}},
			{metadata.LaunchTemplateQuery{AccountID: acct1, IDs: []string{"lt-2", "lt-3"}}, []string{"lt-2"}},
			{metadata.LaunchTemplateQuery{After: "lt-1", Limit: 1}, []string{"lt-2"}},
		} {
			list, err := tx.LaunchTemplates().List(region1, c.q)
			if err != nil {
				return err
			}
			var got []string
			for _, lt := range list {
				got = append(got, lt.ID)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("List(%+v): %q, want %q", c.q, got, c.want)
			}
		}
		return nil
	})
	a.DefaultVersion, a.LatestVersion = 2, 3
	update(t, s, func(tx metadata.Tx) error { return tx.LaunchTemplates().Update(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.LaunchTemplates().Get(region1, "lt-2")
		if err == nil && (got.DefaultVersion != 2 || got.LatestVersion != 3 || got.Name != "web") {
			t.Errorf("after Update: %+v", got)
		}
		return err
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().Update(launchTemplate(region1, acct1, "lt-9", "x"))
	}), openami.NotFound, openami.ResourceLaunchTemplate)
	update(t, s, func(tx metadata.Tx) error { return tx.LaunchTemplates().Delete(region1, "lt-2") })
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.LaunchTemplates().Delete(region1, "lt-2") }),
		openami.NotFound, openami.ResourceLaunchTemplate)
	view(t, s, func(tx metadata.Tx) error {
		_, err := tx.LaunchTemplates().Version("lt-2", 1)
		wantClass(t, err, openami.NotFound, openami.ResourceLaunchTemplate)
		return nil
	})
	// The name is free again.
	update(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().Create(launchTemplate(region1, acct1, "lt-6", "web"), templateVersion("lt-6", 1, "ami-1"))
	})
}

// testLaunchTemplateVersions: versions round-trip whole, list by numbers,
// range and page, refuse a number taken or a missing template, and
// delete one by one.
func testLaunchTemplateVersions(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.LaunchTemplates().Create(launchTemplate(region1, acct1, "lt-1", "web"), templateVersion("lt-1", 1, "ami-1")); err != nil {
			return err
		}
		for n := int64(2); n <= 5; n++ {
			if err := tx.LaunchTemplates().AddVersion(templateVersion("lt-1", n, "ami-2")); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().AddVersion(templateVersion("lt-1", 3, "ami-3"))
	}),
		openami.Duplicate, openami.ResourceLaunchTemplate)
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.LaunchTemplates().AddVersion(templateVersion("lt-9", 1, "ami-3"))
	}),
		openami.NotFound, openami.ResourceLaunchTemplate)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.LaunchTemplates().Version("lt-1", 2)
		if err != nil {
			return err
		}
		if want := templateVersion("lt-1", 2, "ami-2"); !reflect.DeepEqual(got, want) {
			t.Errorf("Version: %+v, want %+v", got, want)
		}
		for _, c := range []struct {
			q    metadata.VersionQuery
			want []int64
		}{
			{metadata.VersionQuery{}, []int64{1, 2, 3, 4, 5}},
			{metadata.VersionQuery{Numbers: []int64{4, 1, 9}}, []int64{1, 4}},
			{metadata.VersionQuery{Min: 2, Max: 4}, []int64{2, 3, 4}},
			{metadata.VersionQuery{After: 2, Limit: 2}, []int64{3, 4}},
		} {
			list, err := tx.LaunchTemplates().Versions("lt-1", c.q)
			if err != nil {
				return err
			}
			var got []int64
			for _, v := range list {
				got = append(got, v.Number)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Versions(%+v): %v, want %v", c.q, got, c.want)
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.LaunchTemplates().DeleteVersion("lt-1", 3) })
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.LaunchTemplates().DeleteVersion("lt-1", 3) }),
		openami.NotFound, openami.ResourceLaunchTemplate)
}

// testLaunchTemplatesDeleteAccount: an account's templates and versions
// go with it; another's stay.
func testLaunchTemplatesDeleteAccount(t *testing.T, s metadata.Store) {
	createAccounts(t, s, acct1, acct2)
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.LaunchTemplates().Create(launchTemplate(region1, acct1, "lt-1", "web"), templateVersion("lt-1", 1, "ami-1")); err != nil {
			return err
		}
		return tx.LaunchTemplates().Create(launchTemplate(region1, acct2, "lt-2", "web"), templateVersion("lt-2", 1, "ami-1"))
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.LaunchTemplates().List(region1, metadata.LaunchTemplateQuery{})
		if err == nil && (len(list) != 1 || list[0].ID != "lt-2") {
			t.Errorf("templates after deleting %s: %+v", acct1, list)
		}
		return err
	})
}
