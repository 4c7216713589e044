package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func importTask(region, acct, id string) openami.ImportTask {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	return openami.ImportTask{ID: id, Region: region, AccountID: acct, Kind: openami.ImportSnapshotTask,
		Status: openami.ImportActive, StatusMessage: openami.ImportPending, Progress: "0",
		Disks:     []openami.ImportDisk{{Bucket: "b", Key: "k.qcow2", Format: "QCOW2"}},
		Principal: openami.Principal{AccountID: acct, Region: region}, Tags: []openami.Tag{{Key: "k", Value: "v"}},
		CreatedAt: at, UpdatedAt: at}
}

// testImportTasks: tasks are kept by region and id, read back whole,
// rewritten by Update, listed by account in id order with pages, and
// forgotten by Delete.
func testImportTasks(t *testing.T, s metadata.Store) {
	const a, b = "111111111111", "222222222222"
	t1, t2, t3 := importTask("r1", a, "import-snap-1"), importTask("r1", b, "import-snap-2"), importTask("r1", a, "import-snap-3")
	update(t, s, func(tx metadata.Tx) error {
		for _, it := range []openami.ImportTask{t1, t2, t3, importTask("r2", a, "import-snap-1")} {
			if err := tx.ImportTasks().Put(it); err != nil {
				return err
			}
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.ImportTasks().Put(t1) })
	if !errors.Is(err, openami.ErrDuplicate) {
		t.Errorf("Put twice: %v, want Duplicate", err)
	}
	t1.Status, t1.StatusMessage, t1.Disks[0].SnapshotID = openami.ImportCompleted, "", "snap-1"
	update(t, s, func(tx metadata.Tx) error { return tx.ImportTasks().Update(t1) })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.ImportTasks().Update(importTask("r1", a, "import-snap-9")) })
	if !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Update of none: %v, want NotFound", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.ImportTasks().Get("r1", "import-snap-1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, t1) {
			t.Errorf("Get = %+v, want %+v", got, t1)
		}
		ids := func(list []openami.ImportTask) (out []string) {
			for _, it := range list {
				out = append(out, it.Region+"/"+it.ID)
			}
			return out
		}
		all, err := tx.ImportTasks().List("r1", "", "", 0)
		if err != nil {
			return err
		}
		if got, want := ids(all), []string{"r1/import-snap-1", "r1/import-snap-2", "r1/import-snap-3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("List all = %q, want %q", got, want)
		}
		mine, err := tx.ImportTasks().List("r1", a, "import-snap-1", 1)
		if err != nil {
			return err
		}
		if got, want := ids(mine), []string{"r1/import-snap-3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("List of %s after import-snap-1 = %q, want %q", a, got, want)
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.ImportTasks().Delete("r1", "import-snap-1") })
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.ImportTasks().Get("r1", "import-snap-1"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want NotFound", err)
		}
		if _, err := tx.ImportTasks().Get("r2", "import-snap-1"); err != nil {
			t.Errorf("the other region's task: %v", err)
		}
		return nil
	})
}
