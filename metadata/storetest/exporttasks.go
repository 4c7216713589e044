package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// testExportTasks: a task is created once, read back whole, updated,
// listed by owner in id order after a cursor, and found by the worker
// while active or deleting.
func testExportTasks(t *testing.T, s metadata.Store) {
	const acct = "111111111111"
	task := func(id string, state openami.ExportTaskState) openami.ExportTask {
		return openami.ExportTask{ID: id, Region: "r1", AccountID: acct, ImageID: "ami-1", Format: openami.DiskFormatVMDK,
			Bucket: "b", Prefix: "p/", Key: "p/" + id + ".vmdk", State: state, Tags: []openami.Tag{{Key: "k", Value: "v"}},
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	}
	a, b, c := task("export-ami-a", openami.ExportActive), task("export-ami-b", openami.ExportCompleted), task("export-ami-c", openami.ExportDeleting)
	other := task("export-ami-d", openami.ExportActive)
	other.AccountID = "222222222222"
	update(t, s, func(tx metadata.Tx) error {
		for _, e := range []openami.ExportTask{a, b, c, other} {
			if err := tx.ExportTasks().Create(e); err != nil {
				return err
			}
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.ExportTasks().Create(a) })
	if !errors.Is(err, openami.ErrDuplicate) {
		t.Errorf("Create twice: %v", err)
	}
	a.Progress, a.StatusMessage, a.UploadID = 40, "converting", "up-1"
	update(t, s, func(tx metadata.Tx) error { return tx.ExportTasks().Update(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.ExportTasks().Get("r1", a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("Get = %+v, %v; want %+v", got, err, a)
		}
		if _, err := tx.ExportTasks().Get("r2", a.ID); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get in another region: %v", err)
		}
		list, err := tx.ExportTasks().List("r1", acct, a.ID, 1)
		if err != nil || len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("List after a, limit 1 = %+v, %v", list, err)
		}
		active, err := tx.ExportTasks().Active()
		var ids []string
		for _, e := range active {
			ids = append(ids, e.ID)
		}
		if err != nil || !reflect.DeepEqual(ids, []string{a.ID, c.ID, other.ID}) {
			t.Errorf("Active = %q, %v", ids, err)
		}
		return nil
	})
	missing := task("export-ami-z", openami.ExportActive)
	if err := updateErr(t, s, func(tx metadata.Tx) error { return tx.ExportTasks().Update(missing) }); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Update missing: %v", err)
	}
}
