package sqldb

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/openami/openami"
)

// exportTasks keeps each ExportImage task in one row of export_tasks: the
// columns listings and the worker select on, and the whole
// openami.ExportTask as JSON.
type exportTasks struct{ t *tx }

func exportTaskNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceExportTask, "The export task ID '%s' does not exist", id)
}

func encodeExportTask(e openami.ExportTask) (string, error) {
	e.CreatedAt = utcTime(e.CreatedAt)
	doc, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("sqldb: encode export task %s: %w", e.ID, err)
	}
	return string(doc), nil
}

func (es exportTasks) Create(e openami.ExportTask) error {
	doc, err := encodeExportTask(e)
	if err != nil {
		return err
	}
	n, err := es.t.execN(`INSERT INTO export_tasks (region, account_id, id, state, doc) VALUES (?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`, e.Region, e.AccountID, e.ID, string(e.State), doc)
	if err != nil {
		return fmt.Errorf("sqldb: create export task: %w", err)
	}
	if n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceExportTask, "The export task %s already exists.", e.ID)
	}
	return nil
}

func (es exportTasks) Update(e openami.ExportTask) error {
	doc, err := encodeExportTask(e)
	if err != nil {
		return err
	}
	n, err := es.t.execN(`UPDATE export_tasks SET state = ?, doc = ? WHERE region = ? AND id = ?`, string(e.State), doc, e.Region, e.ID)
	if err != nil {
		return fmt.Errorf("sqldb: update export task: %w", err)
	}
	if n == 0 {
		return exportTaskNotFound(e.ID)
	}
	return nil
}

// scan returns the tasks a query returns.
func (es exportTasks) scan(query string, args ...any) ([]openami.ExportTask, error) {
	var list []openami.ExportTask
	err := es.t.each(query, args, func(r *sql.Rows) error {
		var doc string
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var e openami.ExportTask
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			return err
		}
		list = append(list, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: read export tasks: %w", err)
	}
	return list, nil
}

func (es exportTasks) Get(region, id string) (openami.ExportTask, error) {
	list, err := es.scan(`SELECT doc FROM export_tasks WHERE region = ? AND id = ?`, region, id)
	if err != nil {
		return openami.ExportTask{}, err
	}
	if len(list) == 0 {
		return openami.ExportTask{}, exportTaskNotFound(id)
	}
	return list[0], nil
}

func (es exportTasks) List(region, accountID, after string, limit int) ([]openami.ExportTask, error) {
	q := `SELECT doc FROM export_tasks WHERE region = ? AND account_id = ? AND id > ? ORDER BY id`
	args := []any{region, accountID, after}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return es.scan(q, args...)
}

func (es exportTasks) Active() ([]openami.ExportTask, error) {
	return es.scan(`SELECT doc FROM export_tasks WHERE state IN (?, ?) ORDER BY id`, string(openami.ExportActive), string(openami.ExportDeleting))
}
