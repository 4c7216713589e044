package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func volume(region, acct, id string) openami.Volume {
	return openami.Volume{
		ID: id, Region: region, AccountID: acct,
		AvailabilityZone: region + "a",
		Size:             8,
		Type:             "gp3",
		Iops:             3000,
		Throughput:       125,
		State:            openami.VolumeAvailable,
		Base:             digest(len(id)),
		CreatedAt:        t0,
	}
}

func utcVolume(v openami.Volume) openami.Volume {
	v.CreatedAt, v.AttachTime = utcTime(v.CreatedAt), utcTime(v.AttachTime)
	return v
}

func createVolumes(t *testing.T, s metadata.Store, vols ...openami.Volume) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, v := range vols {
			if err := tx.Volumes().Create(v); err != nil {
				return err
			}
		}
		return nil
	})
}

func testVolumeCreateGet(t *testing.T, s metadata.Store) {
	full := openami.Volume{
		ID: "vol-0123456789abcdef0", Region: region1, AccountID: acct1,
		AvailabilityZone: "us-east-1b",
		Size:             16384,
		Type:             "io2",
		Iops:             64000,
		Throughput:       1000,
		SnapshotID:       "snap-0123456789abcdef0",
		State:            openami.VolumeInUse,
		Base:             openami.Digest{0xff, 31: 1},
		MultiAttach:      true,
		Encrypted:        true,
		KmsKeyID:         "alias/k",
		ClientToken:      "tok",
		CreatedAt:        t0,

		InstanceID:          "i-0123456789abcdef0",
		Device:              "/dev/sdf",
		AttachTime:          t0.Add(time.Second),
		DeleteOnTermination: true,
	}
	empty := openami.Volume{ID: "vol-1", Region: region1, AccountID: acct1}
	createVolumes(t, s, full, empty)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Volume{full, empty} {
			got, err := tx.Volumes().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcVolume(want))
		}
		return nil
	})
}

func testVolumeDuplicate(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"))
	update(t, s, func(tx metadata.Tx) error {
		for _, dup := range []openami.Volume{volume(region1, acct1, "vol-1"), volume(region2, acct2, "vol-1")} {
			err := tx.Volumes().Create(dup)
			wantClass(t, err, openami.Duplicate, openami.ResourceVolume)
			wantMessage(t, err, "The volume 'vol-1' already exists.")
		}
		return tx.Volumes().Create(volume(region1, acct1, "vol-2"))
	})
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Volumes().List(region1, metadata.VolumeQuery{})
		if err != nil {
			return err
		}
		equal(t, "List after duplicates", list, []openami.Volume{
			utcVolume(volume(region1, acct1, "vol-1")), utcVolume(volume(region1, acct1, "vol-2")),
		})
		return nil
	})
}

func testVolumeNotFound(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"))
	for _, fn := range []func(metadata.Volumes) error{
		func(v metadata.Volumes) error { _, err := v.Get(region1, "vol-none"); return err },
		func(v metadata.Volumes) error { return v.Update(volume(region1, acct1, "vol-none")) },
		func(v metadata.Volumes) error { return v.Delete(region1, "vol-none") },
		func(v metadata.Volumes) error {
			return v.PutBlock("vol-none", metadata.BlockRef{Index: 1, Digest: digest(1)})
		},
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Volumes()) })
		wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		wantMessage(t, err, "The volume 'vol-none' does not exist.")
	}
	other := volume(region2, acct1, "vol-1")
	other.Size = 99
	for _, fn := range []func(metadata.Volumes) error{
		func(v metadata.Volumes) error { _, err := v.Get(region2, "vol-1"); return err },
		func(v metadata.Volumes) error { return v.Update(other) },
		func(v metadata.Volumes) error { return v.Delete(region2, "vol-1") },
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return fn(tx.Volumes()) })
		wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		wantMessage(t, err, "The volume 'vol-1' does not exist.")
	}
	update(t, s, func(tx metadata.Tx) error {
		// A handled NotFound leaves the transaction usable.
		if err := tx.Volumes().PutBlock("vol-none", blockRefs(1)[0]); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("PutBlock of a missing volume: %v", err)
		}
		if err := tx.Volumes().DeleteBlocks("vol-none"); err != nil {
			return err
		}
		return tx.Volumes().PutBlock("vol-1", blockRefs(1)[0])
	})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Volumes().Get(region1, "vol-1")
		if err != nil {
			return err
		}
		equal(t, "volume after failed calls", got, utcVolume(volume(region1, acct1, "vol-1")))
		bs, err := tx.Volumes().Blocks("vol-1", -1, 0)
		if err != nil {
			return err
		}
		equal(t, "Blocks", bs, blockRefs(1))
		bs, err = tx.Volumes().Blocks("vol-none", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a missing volume: %v, %v", bs, err)
		}
		return nil
	})
}

func testVolumeByClientToken(t *testing.T, s metadata.Store) {
	a := volume(region1, acct1, "vol-a")
	a.ClientToken = "tok"
	b := volume(region1, acct2, "vol-b")
	b.ClientToken = "tok"
	c := volume(region2, acct1, "vol-c")
	c.ClientToken = "tok"
	createVolumes(t, s, a, b, c, volume(region1, acct1, "vol-d"))
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Volume{a, b, c} {
			got, err := tx.Volumes().ByClientToken(want.Region, want.AccountID, "tok")
			if err != nil {
				return err
			}
			equal(t, "ByClientToken", got, utcVolume(want))
		}
		for _, c := range []struct{ region, acct, token string }{
			{region1, acct1, "other"}, {region1, acct3, "tok"}, {"ap-south-1", acct1, "tok"}, {region1, acct1, ""},
		} {
			_, err := tx.Volumes().ByClientToken(c.region, c.acct, c.token)
			wantClass(t, err, openami.NotFound, openami.ResourceVolume)
		}
		return nil
	})
}

func testVolumeUpdate(t *testing.T, s metadata.Store) {
	orig := volume(region1, acct1, "vol-1")
	createVolumes(t, s, orig, volume(region1, acct1, "vol-2"))
	changed := openami.Volume{
		ID: orig.ID, Region: region1, AccountID: acct2,
		AvailabilityZone: "us-east-1c",
		Size:             100,
		Type:             "gp2",
		Iops:             300,
		Throughput:       0,
		SnapshotID:       "snap-9",
		State:            openami.VolumeInUse,
		Base:             openami.ZeroDigest,
		MultiAttach:      true,
		Encrypted:        true,
		KmsKeyID:         "k",
		ClientToken:      "tok2",
		CreatedAt:        t0.Add(time.Minute),

		InstanceID:          "i-1",
		Device:              "/dev/xvda",
		AttachTime:          t0.Add(2 * time.Minute),
		DeleteOnTermination: true,
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Volumes().Update(changed) })
	want := changed
	want.AccountID = acct1
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Volumes().Get(region1, orig.ID)
		if err != nil {
			return err
		}
		equal(t, "Get after Update", got, utcVolume(want))
		got, err = tx.Volumes().Get(region1, "vol-2")
		if err != nil {
			return err
		}
		equal(t, "other volume after Update", got, utcVolume(volume(region1, acct1, "vol-2")))
		return nil
	})
}

func testVolumeDelete(t *testing.T, s metadata.Store) {
	createVolumes(t, s, volume(region1, acct1, "vol-1"), volume(region1, acct1, "vol-2"))
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"vol-1", "vol-2"} {
			for _, b := range blockRefs(0, 1, 2) {
				if err := tx.Volumes().PutBlock(id, b); err != nil {
					return err
				}
			}
		}
		return tx.Volumes().Delete(region1, "vol-1")
	})
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Volumes().Get(region1, "vol-1"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get of a deleted volume: %v", err)
		}
		if b, ok, err := tx.Volumes().Block("vol-1", 1); ok || err != nil {
			t.Errorf("Block of a deleted volume: %v, %v, %v", b, ok, err)
		}
		bs, err := tx.Volumes().Blocks("vol-2", -1, 0)
		if err != nil {
			return err
		}
		equal(t, "other volume's Blocks", bs, blockRefs(0, 1, 2))
		return nil
	})
	// The id can be used again, with an empty overlay.
	createVolumes(t, s, volume(region2, acct1, "vol-1"))
	view(t, s, func(tx metadata.Tx) error {
		bs, err := tx.Volumes().Blocks("vol-1", -1, 0)
		if err != nil || len(bs) != 0 {
			t.Errorf("Blocks of a re-created volume: %v, %v", bs, err)
		}
		return nil
	})
}

func volIDs(list []openami.Volume) []string {
	ids := []string{}
	for _, v := range list {
		ids = append(ids, v.ID)
	}
	return ids
}

func testVolumeList(t *testing.T, s metadata.Store) {
	var vols []openami.Volume
	for i := range 20 {
		vols = append(vols, volume(region1, []string{acct1, acct2}[i%2], fmt.Sprintf("vol-%03d", 19-i)))
	}
	vols = append(vols, volume(region2, acct1, "vol-100"))
	createVolumes(t, s, vols...)
	list := func(q metadata.VolumeQuery) []string {
		var list []openami.Volume
		view(t, s, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Volumes().List(region1, q)
			return err
		})
		if q.Limit > 0 && len(list) > q.Limit {
			t.Fatalf("List with Limit %d returned %d", q.Limit, len(list))
		}
		return volIDs(list)
	}
	var all, mine []string
	for i := range 20 {
		id := fmt.Sprintf("vol-%03d", i)
		all = append(all, id)
		if i%2 == 0 { // created by acct2
			continue
		}
		mine = append(mine, id)
	}
	equal(t, "List", list(metadata.VolumeQuery{}), all)
	equal(t, "List AccountID", list(metadata.VolumeQuery{AccountID: acct1}), mine)
	equal(t, "List IDs", list(metadata.VolumeQuery{IDs: []string{"vol-007", "vol-002", "vol-100", "vol-none", "vol-002"}}),
		[]string{"vol-002", "vol-007"})
	equal(t, "List IDs, AccountID", list(metadata.VolumeQuery{AccountID: acct1, IDs: []string{"vol-007", "vol-002"}}),
		[]string{"vol-007"})
	equal(t, "List After", list(metadata.VolumeQuery{After: "vol-016"}), all[17:])
	equal(t, "List After, Limit", list(metadata.VolumeQuery{AccountID: acct1, After: "vol-004", Limit: 3}),
		[]string{"vol-005", "vol-007", "vol-009"})
	if got := list(metadata.VolumeQuery{AccountID: acct3}); len(got) != 0 {
		t.Errorf("List of an account without volumes: %v", got)
	}
	// Paging, and ids beyond one IN clause.
	long := []string{"vol-003", "vol-011", "vol-018"}
	for i := range 1500 {
		long = append(long, fmt.Sprintf("vol-x%04d", i))
	}
	for _, c := range []struct {
		q    metadata.VolumeQuery
		want []string
	}{
		{metadata.VolumeQuery{}, all},
		{metadata.VolumeQuery{AccountID: acct1}, mine},
		{metadata.VolumeQuery{IDs: long}, []string{"vol-003", "vol-011", "vol-018"}},
		{metadata.VolumeQuery{IDs: append(long, "vol-000")}, []string{"vol-000", "vol-003", "vol-011", "vol-018"}},
	} {
		for _, limit := range []int{0, 1, 3, 20} {
			q := c.q
			q.Limit = limit
			var got []string
			for pages := 0; ; pages++ {
				page := list(q)
				got = append(got, page...)
				if limit == 0 || len(page) < limit {
					break
				}
				q.After = page[len(page)-1]
				if pages > 100 {
					t.Fatal("List does not advance")
				}
			}
			equal(t, fmt.Sprintf("%d ids, account %q, paged by %d", len(c.q.IDs), c.q.AccountID, limit), got, c.want)
		}
	}
}

// testAccountDeleteBlockStorage checks that deleting an account deletes its
// snapshots and volumes with their permissions and blocks, and the
// permissions it was granted, and nothing of other accounts.
func testAccountDeleteBlockStorage(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			for _, r := range []string{region1, region2} {
				sid, vid := "snap-"+id+r[:2], "vol-"+id+r[:2]
				if err := tx.Snapshots().Create(snapshot(r, id, sid)); err != nil {
					return err
				}
				if err := tx.Snapshots().AddPermissions(sid, []metadata.Permission{{Group: "all"}, {AccountID: acct3}}); err != nil {
					return err
				}
				if err := tx.Snapshots().PutBlock(sid, blockRefs(1)[0]); err != nil {
					return err
				}
				if err := tx.Volumes().Create(volume(r, id, vid)); err != nil {
					return err
				}
				if err := tx.Volumes().PutBlock(vid, blockRefs(1)[0]); err != nil {
					return err
				}
			}
		}
		// acct2 shares a snapshot with acct1.
		return tx.Snapshots().AddPermissions("snap-"+acct2+region1[:2], []metadata.Permission{{AccountID: acct1}})
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	view(t, s, func(tx metadata.Tx) error {
		for _, r := range []string{region1, region2} {
			snaps, err := tx.Snapshots().List(r, metadata.SnapshotQuery{})
			if err != nil {
				return err
			}
			equal(t, "snapshots left in "+r, snapIDs(snaps), []string{"snap-" + acct2 + r[:2]})
			vols, err := tx.Volumes().List(r, metadata.VolumeQuery{})
			if err != nil {
				return err
			}
			equal(t, "volumes left in "+r, volIDs(vols), []string{"vol-" + acct2 + r[:2]})
			for _, id := range []string{acct1, acct2} {
				sid, vid := "snap-"+id+r[:2], "vol-"+id+r[:2]
				ps, err := tx.Snapshots().Permissions(sid)
				if err != nil {
					return err
				}
				bs, err := tx.Snapshots().Blocks(sid, -1, 0)
				if err != nil {
					return err
				}
				vbs, err := tx.Volumes().Blocks(vid, -1, 0)
				if err != nil {
					return err
				}
				want := 0
				if id == acct2 {
					want = 1
				}
				// acct2's snapshots keep all and acct3, not acct1.
				if len(ps) != 2*want || len(bs) != want || len(vbs) != want {
					t.Errorf("%s: %d permissions, %d snapshot blocks, %d volume blocks; want %d, %d, %d",
						id, len(ps), len(bs), len(vbs), 2*want, want, want)
				}
			}
		}
		return nil
	})
}
