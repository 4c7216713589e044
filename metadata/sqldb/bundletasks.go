package sqldb

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/openami/openami"
)

// bundleTasks stores BundleInstance's tasks: the record as JSON in doc,
// its state beside it for Active.
type bundleTasks struct{ t *tx }

func noBundleTask(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceBundleTask, "The bundle task '%s' does not exist.", id)
}

func (b bundleTasks) Create(task openami.BundleTask) error {
	doc, err := encodeDoc("bundle task", task.ID, task)
	if err != nil {
		return err
	}
	n, err := b.t.execN(`INSERT INTO bundle_tasks (region, id, account_id, state, doc) VALUES (?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`, task.Region, task.ID, task.AccountID, string(task.State), doc)
	if err != nil && !b.t.d.unique(err) {
		return fmt.Errorf("sqldb: create bundle task: %w", err)
	}
	if err == nil && n > 0 {
		return nil
	}
	return openami.Errorf(openami.Duplicate, openami.ResourceBundleTask, "The bundle task '%s' already exists.", task.ID)
}

func decodeBundleTask(doc []byte) (openami.BundleTask, error) {
	var task openami.BundleTask
	if err := json.Unmarshal(doc, &task); err != nil {
		return task, fmt.Errorf("sqldb: decode bundle task: %w", err)
	}
	task.StartTime, task.UpdateTime, task.LeaseUntil = utcTime(task.StartTime), utcTime(task.UpdateTime), utcTime(task.LeaseUntil)
	return task, nil
}

func (b bundleTasks) Get(region, id string) (openami.BundleTask, error) {
	var doc []byte
	err := b.t.get(`SELECT doc FROM bundle_tasks WHERE region = ? AND id = ?`, []any{region, id}, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return openami.BundleTask{}, noBundleTask(id)
	}
	if err != nil {
		return openami.BundleTask{}, fmt.Errorf("sqldb: get bundle task: %w", err)
	}
	return decodeBundleTask(doc)
}

func (b bundleTasks) list(query string, args ...any) ([]openami.BundleTask, error) {
	var out []openami.BundleTask
	err := b.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		task, err := decodeBundleTask(doc)
		out = append(out, task)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list bundle tasks: %w", err)
	}
	return out, nil
}

func (b bundleTasks) List(region, accountID string) ([]openami.BundleTask, error) {
	return b.list(`SELECT doc FROM bundle_tasks WHERE region = ? AND account_id = ? ORDER BY id`, region, accountID)
}

func (b bundleTasks) Active() ([]openami.BundleTask, error) {
	return b.list(`SELECT doc FROM bundle_tasks WHERE state NOT IN (?, ?) ORDER BY region, id`,
		string(openami.BundleComplete), string(openami.BundleFailed))
}

func (b bundleTasks) Update(task openami.BundleTask) error {
	doc, err := encodeDoc("bundle task", task.ID, task)
	if err != nil {
		return err
	}
	n, err := b.t.execN(`UPDATE bundle_tasks SET state = ?, doc = ? WHERE region = ? AND id = ?`, string(task.State), doc, task.Region, task.ID)
	if err != nil {
		return fmt.Errorf("sqldb: update bundle task: %w", err)
	}
	if n == 0 {
		return noBundleTask(task.ID)
	}
	return nil
}
