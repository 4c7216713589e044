package exports

import (
	"errors"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
)

// An export task's tags (ExportImage's TagSpecifications of type
// export-image-task) live where every resource's tags live, the metadata
// store's Tags, under the task's id and ResourceExportTask: DescribeTags
// lists them, and CreateTags and DeleteTags change them on export-ami-…
// ids, as on EC2 (package service checks the id with OwnedExportTask).
// Tasks recorded before that kept their tags in their record; those are
// shown until the first CreateTags or DeleteTags on the task moves them.

// IsExportTaskID reports whether id has the form of an export task's id
// (export-ami-…), which CreateTags and DeleteTags take.
func IsExportTaskID(id string) bool {
	return strings.HasPrefix(id, "export-ami-") && ids.Valid("export-ami", id)
}

// OwnedExportTask checks, in the caller's transaction, that id is an
// ExportImage task of p's in p's region: NotFound (ResourceExportTask)
// otherwise. Tags an older record kept are moved to the store's Tags.
func (s *Exports) OwnedExportTask(tx metadata.Tx, p openami.Principal, id string) error {
	if !IsExportTaskID(id) {
		return taskNotFound(id)
	}
	t, err := tx.ExportTasks().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) || err == nil && (t.AccountID != p.AccountID || t.Kind != openami.ExportKindExport) {
		return taskNotFound(id)
	}
	if err != nil || len(t.Tags) == 0 {
		return err
	}
	have, err := tx.Tags().Of(p.Region, p.AccountID, []string{id})
	if err != nil {
		return err
	}
	if len(have[id]) == 0 {
		if err := tx.Tags().Set(p.Region, p.AccountID, id, openami.ResourceExportTask, t.Tags); err != nil {
			return err
		}
	}
	t.Tags = nil
	return tx.ExportTasks().Update(t)
}

// withTags fills each task's Tags from the store's Tags (an older record
// keeps its own when the store has none for it).
func withTags(tx metadata.Tx, p openami.Principal, tasks []openami.ExportTask) error {
	if len(tasks) == 0 {
		return nil
	}
	idList := make([]string, len(tasks))
	for i, t := range tasks {
		idList[i] = t.ID
	}
	tags, err := tx.Tags().Of(p.Region, p.AccountID, idList)
	if err != nil {
		return err
	}
	for i, t := range tasks {
		if tg, ok := tags[t.ID]; ok {
			tasks[i].Tags = tg
		}
	}
	return nil
}
