package exports

import (
	"context"
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/rulestest"
)

// TestExportTaskTags: ExportImage's tags go to the store's Tags (where
// DescribeTags finds them) and DescribeExportImageTasks reads them from
// there; OwnedExportTask takes only the caller's export-ami ids, and
// moves the tags an older record kept.
func TestExportTaskTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, f.p, ebs.StartSnapshotInput{}, testBlocks)
	tags := []openami.Tag{{Key: "k", Value: "v"}}
	task, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: img, DiskImageFormat: "RAW", S3Bucket: "bkt", Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(task.Tags, tags) {
		t.Errorf("ExportImage's answer: tags %v", task.Tags)
	}
	if rec := f.record(t, task.ID); len(rec.Tags) != 0 {
		t.Errorf("the record keeps tags %v", rec.Tags)
	}
	var rows map[string][]openami.Tag
	f.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		rows, err = tx.Tags().Of(f.p.Region, f.p.AccountID, []string{task.ID})
		return err
	})
	if !reflect.DeepEqual(rows[task.ID], tags) {
		t.Errorf("the store's tags of the task: %v", rows)
	}
	f.run(t)

	// An older record with its own tags: shown, and moved on the first
	// OwnedExportTask.
	legacy := f.task(t, task.ID)
	legacy.ID = "export-ami-0123456789abcdef0"
	legacy.Tags = []openami.Tag{{Key: "old", Value: "1"}}
	err = f.store.Update(ctx, func(tx metadata.Tx) error { return tx.ExportTasks().Create(legacy) })
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := f.exports.DescribeExportImageTasks(ctx, f.p, []string{task.ID, legacy.ID}, nil, describe.Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("describe: %v %v", list, err)
	}
	for _, got := range list {
		want := tags
		if got.ID == legacy.ID {
			want = legacy.Tags
		}
		if !reflect.DeepEqual(got.Tags, want) {
			t.Errorf("%s: tags %v, want %v", got.ID, got.Tags, want)
		}
	}
	other := rulestest.NewAccount(t, f.accounts, "other")
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		rulestest.WantClass(t, "another's task", f.exports.OwnedExportTask(tx, other, task.ID), openami.NotFound, openami.ResourceExportTask)
		rulestest.WantClass(t, "not an export id", f.exports.OwnedExportTask(tx, f.p, "store-ami-0123456789abcdef0"), openami.NotFound, openami.ResourceExportTask)
		return f.exports.OwnedExportTask(tx, f.p, legacy.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.record(t, legacy.ID); len(rec.Tags) != 0 {
		t.Errorf("the older record still keeps tags %v", rec.Tags)
	}
	f.store.View(ctx, func(tx metadata.Tx) error {
		rows, err = tx.Tags().Of(f.p.Region, f.p.AccountID, []string{legacy.ID})
		return err
	})
	if !reflect.DeepEqual(rows[legacy.ID], legacy.Tags) {
		t.Errorf("the older record's tags were not moved: %v", rows)
	}
}

// record reads a task's record as the store keeps it.
func (f *fixture) record(t *testing.T, id string) openami.ExportTask {
	t.Helper()
	var rec openami.ExportTask
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		rec, err = tx.ExportTasks().Get(f.p.Region, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
