package storetest

import (
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// testBundleTasks: create, get, list by owner, the active ones, update,
// and the refusals.
func testBundleTasks(t *testing.T, s metadata.Store) {
	mk := func(region, id, acct string, state openami.BundleTaskState) openami.BundleTask {
		return openami.BundleTask{ID: id, Region: region, AccountID: acct, InstanceID: "i-1", Bucket: "b", Prefix: "p",
			State: state, StartTime: t0, UpdateTime: t0, SnapshotID: "snap-1", Architecture: "x86_64", RootDevice: "/dev/xvda",
			Runner: "runner-1", LeaseUntil: t0.Add(time.Hour)}
	}
	a := mk("r1", "bun-a", acct1, openami.BundlePending)
	b := mk("r1", "bun-b", acct1, openami.BundleComplete)
	c := mk("r2", "bun-c", acct2, openami.BundleBundling)
	update(t, s, func(tx metadata.Tx) error {
		for _, task := range []openami.BundleTask{b, a, c} {
			if err := tx.BundleTasks().Create(task); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.BundleTasks().Create(mk("r2", "bun-a", acct2, openami.BundlePending))
	}),
		openami.Duplicate, openami.ResourceBundleTask)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.BundleTasks().Get("r1", "bun-a")
		if err != nil {
			return err
		}
		want := a
		want.StartTime, want.UpdateTime, want.LeaseUntil = t0.UTC(), t0.UTC(), t0.Add(time.Hour).UTC()
		if got != want {
			t.Errorf("Get = %+v, want %+v", got, want)
		}
		_, err = tx.BundleTasks().Get("r2", "bun-a")
		wantClass(t, err, openami.NotFound, openami.ResourceBundleTask)
		list, err := tx.BundleTasks().List("r1", acct1)
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].ID != "bun-a" || list[1].ID != "bun-b" {
			t.Errorf("List(r1, acct1) = %+v", list)
		}
		if list, _ := tx.BundleTasks().List("r1", acct2); len(list) != 0 {
			t.Errorf("List(r1, acct2) = %+v", list)
		}
		active, err := tx.BundleTasks().Active()
		if err != nil {
			return err
		}
		if len(active) != 2 || active[0].ID != "bun-a" || active[1].ID != "bun-c" {
			t.Errorf("Active = %+v", active)
		}
		return nil
	})
	a.State, a.Progress, a.Parts, a.UpdateTime = openami.BundleFailed, 40, 3, t0.Add(time.Minute)
	a.Cancelled = true
	update(t, s, func(tx metadata.Tx) error { return tx.BundleTasks().Update(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.BundleTasks().Get("r1", "bun-a")
		if err != nil {
			return err
		}
		if got.State != openami.BundleFailed || got.Progress != 40 || got.Parts != 3 || !got.Cancelled || !got.UpdateTime.Equal(a.UpdateTime) {
			t.Errorf("after Update: %+v", got)
		}
		if active, _ := tx.BundleTasks().Active(); len(active) != 1 || active[0].ID != "bun-c" {
			t.Errorf("Active after Update = %+v", active)
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		return tx.BundleTasks().Update(mk("r1", "bun-z", acct1, openami.BundlePending))
	}),
		openami.NotFound, openami.ResourceBundleTask)
}
