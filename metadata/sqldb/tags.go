package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type tags struct{ t *tx }

func (tg tags) Set(region, accountID, resourceID string, typ openami.ResourceType, ts []openami.Tag) error {
	// The last value given for a key wins; PostgreSQL refuses an upsert
	// that touches one row twice, so duplicates go before the INSERT.
	last := make(map[string]int, len(ts))
	for i, tag := range ts {
		last[tag.Key] = i
	}
	uniq := make([]openami.Tag, 0, len(last))
	for i, tag := range ts {
		if last[tag.Key] == i {
			uniq = append(uniq, tag)
		}
	}
	for len(uniq) > 0 {
		batch := uniq[:min(len(uniq), setBatch)]
		uniq = uniq[len(batch):]
		var q strings.Builder
		q.WriteString(`INSERT INTO tags (region, account_id, resource_id, resource_type, key, value) VALUES `)
		args := make([]any, 0, 6*len(batch))
		for i, tag := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, region, accountID, resourceID, string(typ), tag.Key, tag.Value)
		}
		q.WriteString(` ON CONFLICT (region, account_id, resource_id, key)
DO UPDATE SET value = excluded.value, resource_type = excluded.resource_type`)
		if _, err := tg.t.exec(q.String(), args...); err != nil {
			return fmt.Errorf("sqldb: set tags: %w", err)
		}
	}
	return nil
}

func (tg tags) Delete(region, accountID, resourceID string, keys []metadata.TagKey) error {
	for _, k := range keys {
		var err error
		if k.Value == nil {
			_, err = tg.t.exec(`DELETE FROM tags WHERE region = ? AND account_id = ? AND resource_id = ? AND key = ?`,
				region, accountID, resourceID, k.Key)
		} else {
			_, err = tg.t.exec(`DELETE FROM tags WHERE region = ? AND account_id = ? AND resource_id = ? AND key = ? AND value = ?`,
				region, accountID, resourceID, k.Key, *k.Value)
		}
		if err != nil {
			return fmt.Errorf("sqldb: delete tags: %w", err)
		}
	}
	return nil
}

func (tg tags) DeleteAll(region, accountID, resourceID string) error {
	if _, err := tg.t.exec(`DELETE FROM tags WHERE region = ? AND account_id = ? AND resource_id = ?`,
		region, accountID, resourceID); err != nil {
		return fmt.Errorf("sqldb: delete all tags: %w", err)
	}
	return nil
}

func (tg tags) Of(region, accountID string, resourceIDs []string) (map[string][]openami.Tag, error) {
	m := make(map[string][]openami.Tag)
	for len(resourceIDs) > 0 {
		chunk := resourceIDs[:min(len(resourceIDs), maxInList)]
		resourceIDs = resourceIDs[len(chunk):]
		args := make([]any, 0, 2+len(chunk))
		args = append(args, region, accountID)
		for _, id := range chunk {
			args = append(args, id)
		}
		err := tg.t.each(`SELECT resource_id, key, value FROM tags
WHERE region = ? AND account_id = ? AND resource_id IN (`+placeholders(len(chunk))+`)
ORDER BY resource_id, key`, args, func(r *sql.Rows) error {
			var id string
			var tag openami.Tag
			if err := r.Scan(&id, &tag.Key, &tag.Value); err != nil {
				return err
			}
			m[id] = append(m[id], tag)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sqldb: get tags: %w", err)
		}
	}
	return m, nil
}

func (tg tags) Scan(region, accountID string, q metadata.TagScan) ([]metadata.TagRow, error) {
	var (
		query strings.Builder
		args  = []any{region, accountID}
		// Narrowing lists too long for an IN clause are applied here
		// instead, while reading.
		ids, types, keys map[string]bool
	)
	query.WriteString(`SELECT resource_id, resource_type, key, value FROM tags WHERE region = ? AND account_id = ?`)
	if q.AfterResourceID != "" || q.AfterKey != "" {
		query.WriteString(` AND (resource_id, key) > (?, ?)`)
		args = append(args, q.AfterResourceID, q.AfterKey)
	}
	narrow := func(col string, vals []string) map[string]bool {
		switch {
		case len(vals) == 0:
			return nil
		case len(vals) <= maxInList:
			query.WriteString(` AND ` + col + ` IN (` + placeholders(len(vals)) + `)`)
			for _, v := range vals {
				args = append(args, v)
			}
			return nil
		default:
			set := make(map[string]bool, len(vals))
			for _, v := range vals {
				set[v] = true
			}
			return set
		}
	}
	ids = narrow("resource_id", q.ResourceIDs)
	typeNames := make([]string, len(q.ResourceTypes))
	for i, t := range q.ResourceTypes {
		typeNames[i] = string(t)
	}
	types = narrow("resource_type", typeNames)
	keys = narrow("key", q.Keys)
	query.WriteString(` ORDER BY resource_id, key`)
	inGo := ids != nil || types != nil || keys != nil
	if q.Limit > 0 && !inGo {
		query.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}

	var rows []metadata.TagRow
	err := tg.t.each(query.String(), args, func(r *sql.Rows) error {
		var (
			row metadata.TagRow
			typ string
		)
		if err := r.Scan(&row.ResourceID, &typ, &row.Key, &row.Value); err != nil {
			return err
		}
		row.ResourceType = openami.ResourceType(typ)
		if ids != nil && !ids[row.ResourceID] || types != nil && !types[typ] || keys != nil && !keys[row.Key] {
			return nil
		}
		rows = append(rows, row)
		if q.Limit > 0 && len(rows) >= q.Limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: scan tags: %w", err)
	}
	return rows, nil
}
