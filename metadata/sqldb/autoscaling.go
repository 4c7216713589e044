package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// autoScalingGroups keeps each Auto Scaling group as one row: its key
// and the whole record as JSON in doc.
type autoScalingGroups struct{ t *tx }

func (t *tx) AutoScalingGroups() metadata.AutoScalingGroups { return autoScalingGroups{t} }

func groupMissing(name string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceAutoScalingGroup, "AutoScalingGroup name not found - %s", name)
}

func (a autoScalingGroups) Create(g openami.AutoScalingGroup) error {
	doc, err := encodeDoc("auto scaling group", g.Name, g)
	if err != nil {
		return err
	}
	n, err := a.t.execN(`INSERT INTO autoscaling_groups (region, account_id, name, doc) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.Region, g.AccountID, g.Name, doc)
	if err != nil && !a.t.d.unique(err) {
		return fmt.Errorf("sqldb: create auto scaling group: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceAutoScalingGroup, "AutoScalingGroup by this name already exists - A group with the name %s already exists", g.Name)
	}
	return nil
}

func (a autoScalingGroups) Get(region, accountID, name string) (openami.AutoScalingGroup, error) {
	var doc []byte
	err := a.t.each(`SELECT doc FROM autoscaling_groups WHERE region = ? AND account_id = ? AND name = ?`,
		[]any{region, accountID, name}, func(r *sql.Rows) error { return r.Scan(&doc) })
	if err != nil {
		return openami.AutoScalingGroup{}, fmt.Errorf("sqldb: get auto scaling group: %w", err)
	}
	if doc == nil {
		return openami.AutoScalingGroup{}, groupMissing(name)
	}
	var g openami.AutoScalingGroup
	if err := json.Unmarshal(doc, &g); err != nil {
		return g, fmt.Errorf("sqldb: decode auto scaling group %s: %w", name, err)
	}
	return g, nil
}

func (a autoScalingGroups) Put(g openami.AutoScalingGroup) error {
	doc, err := encodeDoc("auto scaling group", g.Name, g)
	if err != nil {
		return err
	}
	n, err := a.t.execN(`UPDATE autoscaling_groups SET doc = ? WHERE region = ? AND account_id = ? AND name = ?`, doc, g.Region, g.AccountID, g.Name)
	if err != nil {
		return fmt.Errorf("sqldb: update auto scaling group: %w", err)
	}
	if n == 0 {
		return groupMissing(g.Name)
	}
	return nil
}

func (a autoScalingGroups) Delete(region, accountID, name string) error {
	n, err := a.t.execN(`DELETE FROM autoscaling_groups WHERE region = ? AND account_id = ? AND name = ?`, region, accountID, name)
	if err != nil {
		return fmt.Errorf("sqldb: delete auto scaling group: %w", err)
	}
	if n == 0 {
		return groupMissing(name)
	}
	return nil
}

func (a autoScalingGroups) List(region, accountID, after string, limit int) ([]openami.AutoScalingGroup, error) {
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT doc FROM autoscaling_groups WHERE 1 = 1`)
	if region != "" {
		b.WriteString(` AND region = ?`)
		args = append(args, region)
	}
	if accountID != "" {
		b.WriteString(` AND account_id = ?`)
		args = append(args, accountID)
	}
	if after != "" {
		b.WriteString(` AND name > ?`)
		args = append(args, after)
	}
	b.WriteString(` ORDER BY region, account_id, name`)
	query, args := limitClause(b.String(), args, limit)
	out := []openami.AutoScalingGroup{}
	err := a.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var g openami.AutoScalingGroup
		if err := json.Unmarshal(doc, &g); err != nil {
			return fmt.Errorf("decode auto scaling group: %w", err)
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list auto scaling groups: %w", err)
	}
	return out, nil
}
