package sqldb

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/openami/openami"
)

// ImportTasks keeps each import task in one row of import_tasks: the key
// columns, and the whole openami.ImportTask as JSON.

type importTasks struct{ t *tx }

func importTaskNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceImportTask, "The import task '%s' does not exist.", id)
}

func encodeImportTask(it openami.ImportTask) (string, error) {
	it.CreatedAt, it.UpdatedAt = utcTime(it.CreatedAt), utcTime(it.UpdatedAt)
	doc, err := json.Marshal(it)
	if err != nil {
		return "", fmt.Errorf("sqldb: encode import task %s: %w", it.ID, err)
	}
	return string(doc), nil
}

func (s importTasks) Put(it openami.ImportTask) error {
	doc, err := encodeImportTask(it)
	if err != nil {
		return err
	}
	n, err := s.t.execN(`INSERT INTO import_tasks (region, id, account_id, doc) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		it.Region, it.ID, it.AccountID, doc)
	if err != nil {
		return fmt.Errorf("sqldb: put import task: %w", err)
	}
	if n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceImportTask, "The import task '%s' already exists.", it.ID)
	}
	return nil
}

func (s importTasks) Update(it openami.ImportTask) error {
	doc, err := encodeImportTask(it)
	if err != nil {
		return err
	}
	n, err := s.t.execN(`UPDATE import_tasks SET doc = ?, account_id = ? WHERE region = ? AND id = ?`, doc, it.AccountID, it.Region, it.ID)
	if err != nil {
		return fmt.Errorf("sqldb: update import task: %w", err)
	}
	if n == 0 {
		return importTaskNotFound(it.ID)
	}
	return nil
}

func (s importTasks) scan(query string, args ...any) ([]openami.ImportTask, error) {
	var list []openami.ImportTask
	err := s.t.each(query, args, func(r *sql.Rows) error {
		var doc string
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var it openami.ImportTask
		if err := json.Unmarshal([]byte(doc), &it); err != nil {
			return err
		}
		list = append(list, it)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: read import tasks: %w", err)
	}
	return list, nil
}

func (s importTasks) Get(region, id string) (openami.ImportTask, error) {
	list, err := s.scan(`SELECT doc FROM import_tasks WHERE region = ? AND id = ?`, region, id)
	if err != nil {
		return openami.ImportTask{}, err
	}
	if len(list) == 0 {
		return openami.ImportTask{}, importTaskNotFound(id)
	}
	return list[0], nil
}

func (s importTasks) List(region, accountID, after string, limit int) ([]openami.ImportTask, error) {
	q, args := `SELECT doc FROM import_tasks WHERE region = ? AND id > ?`, []any{region, after}
	if accountID != "" {
		q += ` AND account_id = ?`
		args = append(args, accountID)
	}
	q += ` ORDER BY id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.scan(q, args...)
}

func (s importTasks) Delete(region, id string) error {
	n, err := s.t.execN(`DELETE FROM import_tasks WHERE region = ? AND id = ?`, region, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete import task: %w", err)
	}
	if n == 0 {
		return importTaskNotFound(id)
	}
	return nil
}
