package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// launchTemplates keeps launch templates and their versions one row each:
// the columns listings select on and the whole record as JSON in doc.
type launchTemplates struct{ t *tx }

func (t *tx) LaunchTemplates() metadata.LaunchTemplates { return launchTemplates{t} }

func templateMissing(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceLaunchTemplate, "The launch template '%s' does not exist", id)
}

func versionMissing(id string, n int64) error {
	return openami.Errorf(openami.NotFound, openami.ResourceLaunchTemplate, "Version %d of launch template '%s' does not exist", n, id)
}

func (l launchTemplates) Create(lt openami.LaunchTemplate, first openami.LaunchTemplateVersion) error {
	doc, err := encodeDoc("launch template", lt.ID, lt)
	if err != nil {
		return err
	}
	n, err := l.t.execN(`INSERT INTO launch_templates (region, account_id, id, name, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		lt.Region, lt.AccountID, lt.ID, lt.Name, doc)
	if err != nil && !l.t.d.unique(err) {
		return fmt.Errorf("sqldb: create launch template: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceLaunchTemplate, "The launch template '%s' (%s) already exists", lt.Name, lt.ID)
	}
	first.TemplateID = lt.ID
	return l.AddVersion(first)
}

func (l launchTemplates) Get(region, id string) (openami.LaunchTemplate, error) {
	list, err := l.List(region, metadata.LaunchTemplateQuery{IDs: []string{id}, Limit: 1})
	if err != nil {
		return openami.LaunchTemplate{}, err
	}
	if len(list) == 0 {
		return openami.LaunchTemplate{}, templateMissing(id)
	}
	return list[0], nil
}

func (l launchTemplates) Update(lt openami.LaunchTemplate) error {
	old, err := l.Get(lt.Region, lt.ID)
	if err != nil {
		return err
	}
	old.DefaultVersion, old.LatestVersion = lt.DefaultVersion, lt.LatestVersion
	doc, err := encodeDoc("launch template", lt.ID, old)
	if err != nil {
		return err
	}
	if _, err := l.t.exec(`UPDATE launch_templates SET doc = ? WHERE id = ? AND region = ?`, doc, lt.ID, lt.Region); err != nil {
		return fmt.Errorf("sqldb: update launch template: %w", err)
	}
	return nil
}

func (l launchTemplates) Delete(region, id string) error {
	if _, err := l.Get(region, id); err != nil {
		return err
	}
	if _, err := l.t.exec(`DELETE FROM launch_template_versions WHERE template_id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete launch template versions: %w", err)
	}
	if _, err := l.t.exec(`DELETE FROM launch_templates WHERE id = ? AND region = ?`, id, region); err != nil {
		return fmt.Errorf("sqldb: delete launch template: %w", err)
	}
	return nil
}

func (l launchTemplates) List(region string, q metadata.LaunchTemplateQuery) ([]openami.LaunchTemplate, error) {
	var b strings.Builder
	args := []any{region}
	b.WriteString(`SELECT doc FROM launch_templates WHERE region = ?`)
	if q.AccountID != "" {
		b.WriteString(` AND account_id = ?`)
		args = append(args, q.AccountID)
	}
	if len(q.IDs) > 0 {
		b.WriteString(` AND id IN (` + placeholders(len(q.IDs)) + `)`)
		args = appendStrings(args, q.IDs)
	}
	if len(q.Names) > 0 {
		b.WriteString(` AND name IN (` + placeholders(len(q.Names)) + `)`)
		args = appendStrings(args, q.Names)
	}
	if q.After != "" {
		b.WriteString(` AND id > ?`)
		args = append(args, q.After)
	}
	b.WriteString(` ORDER BY id`)
	query, args := limitClause(b.String(), args, q.Limit)
	out := []openami.LaunchTemplate{}
	err := l.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var lt openami.LaunchTemplate
		if err := json.Unmarshal(doc, &lt); err != nil {
			return fmt.Errorf("decode launch template: %w", err)
		}
		out = append(out, lt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list launch templates: %w", err)
	}
	return out, nil
}

func (l launchTemplates) AddVersion(v openami.LaunchTemplateVersion) error {
	var one int
	switch err := l.t.get(`SELECT 1 FROM launch_templates WHERE id = ?`, []any{v.TemplateID}, &one); {
	case err == sql.ErrNoRows:
		return templateMissing(v.TemplateID)
	case err != nil:
		return fmt.Errorf("sqldb: add launch template version: %w", err)
	}
	doc, err := encodeDoc("launch template version", v.TemplateID, v)
	if err != nil {
		return err
	}
	n, err := l.t.execN(`INSERT INTO launch_template_versions (template_id, version, doc) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		v.TemplateID, v.Number, doc)
	if err != nil && !l.t.d.unique(err) {
		return fmt.Errorf("sqldb: add launch template version: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceLaunchTemplate, "Version %d of launch template '%s' already exists", v.Number, v.TemplateID)
	}
	return nil
}

func (l launchTemplates) Version(templateID string, number int64) (openami.LaunchTemplateVersion, error) {
	list, err := l.Versions(templateID, metadata.VersionQuery{Numbers: []int64{number}, Limit: 1})
	if err != nil {
		return openami.LaunchTemplateVersion{}, err
	}
	if len(list) == 0 {
		return openami.LaunchTemplateVersion{}, versionMissing(templateID, number)
	}
	return list[0], nil
}

func (l launchTemplates) Versions(templateID string, q metadata.VersionQuery) ([]openami.LaunchTemplateVersion, error) {
	var b strings.Builder
	args := []any{templateID}
	b.WriteString(`SELECT doc FROM launch_template_versions WHERE template_id = ?`)
	if len(q.Numbers) > 0 {
		b.WriteString(` AND version IN (` + placeholders(len(q.Numbers)) + `)`)
		for _, n := range q.Numbers {
			args = append(args, n)
		}
	}
	if q.Min > 0 {
		b.WriteString(` AND version >= ?`)
		args = append(args, q.Min)
	}
	if q.Max > 0 {
		b.WriteString(` AND version <= ?`)
		args = append(args, q.Max)
	}
	if q.After > 0 {
		b.WriteString(` AND version > ?`)
		args = append(args, q.After)
	}
	b.WriteString(` ORDER BY version`)
	query, args := limitClause(b.String(), args, q.Limit)
	out := []openami.LaunchTemplateVersion{}
	err := l.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var v openami.LaunchTemplateVersion
		if err := json.Unmarshal(doc, &v); err != nil {
			return fmt.Errorf("decode launch template version: %w", err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list launch template versions: %w", err)
	}
	return out, nil
}

func (l launchTemplates) DeleteVersion(templateID string, number int64) error {
	n, err := l.t.execN(`DELETE FROM launch_template_versions WHERE template_id = ? AND version = ?`, templateID, number)
	if err != nil {
		return fmt.Errorf("sqldb: delete launch template version: %w", err)
	}
	if n == 0 {
		return versionMissing(templateID, number)
	}
	return nil
}
