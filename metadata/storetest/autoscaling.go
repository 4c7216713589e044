package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func autoScalingGroup(region, acct, name string) openami.AutoScalingGroup {
	return openami.AutoScalingGroup{Name: name, Region: region, AccountID: acct, CreatedAt: t0.UTC(),
		TemplateID: "lt-1", TemplateVersion: "$Latest", MinSize: 1, MaxSize: 3, DesiredCapacity: 2,
		Zones: []string{region + "a"}, HealthCheckType: "EC2", DefaultInstanceWarmup: -1,
		Tags: []openami.GroupTag{{Key: "k", Value: "v", PropagateAtLaunch: true}},
		Instances: []openami.GroupInstance{{InstanceID: "i-1", Zone: region + "a", Slot: region + "a", TemplateID: "lt-1",
			TemplateVersion: 2, LaunchedAt: t0.UTC(), InServiceAt: t0.Add(time.Minute).UTC(), LifecycleState: openami.LifecycleInService, Healthy: true}},
		Launches:   []openami.GroupLaunch{{ActivityID: "a-1", ClientToken: "tok", Slot: region + "a"}},
		Activities: []openami.ScalingActivity{{ID: "a-1", Cause: "c", StartTime: t0.UTC(), StatusCode: openami.ActivityInProgress}},
		Refreshes:  []openami.InstanceRefresh{{ID: "r-1", Status: openami.RefreshInProgress, StartTime: t0.UTC(), MinHealthy: 90, InstanceWarmup: -1, ToReplace: []string{"i-1"}, Total: 1}}}
}

// testAutoScalingGroups: create, the duplicate refused, get the whole
// record back, put, list by region and account in name order with after
// and limit, delete, and the NotFound of a missing group.
func testAutoScalingGroups(t *testing.T, s metadata.Store) {
	a := autoScalingGroup(region1, acct1, "web")
	b := autoScalingGroup(region1, acct1, "db")
	other := autoScalingGroup(region1, acct2, "web")
	elsewhere := autoScalingGroup(region2, acct1, "web")
	update(t, s, func(tx metadata.Tx) error {
		for _, g := range []openami.AutoScalingGroup{a, b, other, elsewhere} {
			if err := tx.AutoScalingGroups().Create(g); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.AutoScalingGroups().Create(autoScalingGroup(region1, acct1, "web"))
	}), openami.Duplicate, openami.ResourceAutoScalingGroup)
	a.DesiredCapacity = 3
	a.Instances = append(a.Instances, openami.GroupInstance{InstanceID: "i-2", LifecycleState: openami.LifecyclePending})
	update(t, s, func(tx metadata.Tx) error { return tx.AutoScalingGroups().Put(a) })
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.AutoScalingGroups().Put(autoScalingGroup(region1, acct1, "nope"))
	}), openami.NotFound, openami.ResourceAutoScalingGroup)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.AutoScalingGroups().Get(region1, acct1, "web")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Get: %+v, want %+v", got, a)
		}
		_, err = tx.AutoScalingGroups().Get(region1, acct2, "db")
		wantClass(t, err, openami.NotFound, openami.ResourceAutoScalingGroup)
		names := func(gs []openami.AutoScalingGroup) (out []string) {
			for _, g := range gs {
				out = append(out, g.Region+"/"+g.AccountID+"/"+g.Name)
			}
			return out
		}
		for _, c := range []struct {
			region, acct, after string
			limit               int
			want                []string
		}{
			{region1, acct1, "", 0, []string{region1 + "/" + acct1 + "/db", region1 + "/" + acct1 + "/web"}},
			{region1, acct1, "db", 0, []string{region1 + "/" + acct1 + "/web"}},
			{region1, acct1, "", 1, []string{region1 + "/" + acct1 + "/db"}},
			{region1, "", "", 0, []string{region1 + "/" + acct1 + "/db", region1 + "/" + acct1 + "/web", region1 + "/" + acct2 + "/web"}},
			{"", acct1, "", 0, byRegion(region2+"/"+acct1+"/web", region1+"/"+acct1+"/db", region1+"/"+acct1+"/web")},
		} {
			got, err := tx.AutoScalingGroups().List(c.region, c.acct, c.after, c.limit)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(names(got), c.want) {
				t.Errorf("List(%q, %q, %q, %d) = %q, want %q", c.region, c.acct, c.after, c.limit, names(got), c.want)
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.AutoScalingGroups().Delete(region1, acct1, "web") })
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.AutoScalingGroups().Delete(region1, acct1, "web")
	}), openami.NotFound, openami.ResourceAutoScalingGroup)
	view(t, s, func(tx metadata.Tx) error {
		_, err := tx.AutoScalingGroups().Get(region1, acct1, "web")
		wantClass(t, err, openami.NotFound, openami.ResourceAutoScalingGroup)
		if _, err := tx.AutoScalingGroups().Get(region2, acct1, "web"); err != nil {
			t.Errorf("the group of another region went with it: %v", err)
		}
		return nil
	})
}

// byRegion orders "region/account/name" keys as List does.
func byRegion(keys ...string) []string {
	slices.Sort(keys)
	return keys
}
