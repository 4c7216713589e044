package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/openami/openami"
)

// Kinds of launch permission, the kind column of image_permissions.
const (
	permUser  = "user"  // value: an account id
	permGroup = "group" // value: "all"
	permOrg   = "org"   // value: an organization ARN
	permOU    = "ou"    // value: an organizational unit ARN
)

// permRow returns the kind and value a launch permission is stored as. It
// refuses one that names nothing, more than one thing, or a group other
// than all, before the table's check constraints would (an error that
// would abort a PostgreSQL transaction).
func permRow(p openami.LaunchPermission) (kind, value string, err error) {
	n := 0
	for _, f := range []struct{ kind, value string }{
		{permUser, p.AccountID}, {permGroup, p.Group}, {permOrg, p.OrganizationArn}, {permOU, p.OrganizationalUnitArn},
	} {
		if f.value != "" {
			n++
			kind, value = f.kind, f.value
		}
	}
	if n != 1 || kind == permGroup && value != groupAll {
		return "", "", fmt.Errorf("sqldb: invalid launch permission %+v: want one of an account id, group %q, an organization ARN or an OU ARN", p, groupAll)
	}
	return kind, value, nil
}

func permFromRow(kind, value string) openami.LaunchPermission {
	switch kind {
	case permUser:
		return openami.LaunchPermission{AccountID: value}
	case permGroup:
		return openami.LaunchPermission{Group: value}
	case permOrg:
		return openami.LaunchPermission{OrganizationArn: value}
	default:
		return openami.LaunchPermission{OrganizationalUnitArn: value}
	}
}

// Permissions returns the launch permissions by kind (group, org, ou,
// user), then value.
func (im images) Permissions(imageID string) ([]openami.LaunchPermission, error) {
	var list []openami.LaunchPermission
	err := im.t.each(`SELECT kind, value FROM image_permissions WHERE image_id = ? ORDER BY kind, value`,
		[]any{imageID}, func(r *sql.Rows) error {
			var kind, value string
			if err := r.Scan(&kind, &value); err != nil {
				return err
			}
			list = append(list, permFromRow(kind, value))
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list launch permissions: %w", err)
	}
	return list, nil
}

// permRows returns the rows of permissions, and whether group all is among
// them.
func permRows(ps []openami.LaunchPermission) (kinds, values []string, all bool, err error) {
	for _, p := range ps {
		kind, value, err := permRow(p)
		if err != nil {
			return nil, nil, false, err
		}
		kinds = append(kinds, kind)
		values = append(values, value)
		all = all || kind == permGroup
	}
	return kinds, values, all, nil
}

func (im images) AddPermissions(imageID string, ps []openami.LaunchPermission) error {
	kinds, values, all, err := permRows(ps)
	if err != nil {
		return err
	}
	// Check the image rather than let the foreign key fail, which would
	// abort a PostgreSQL transaction.
	var public bool
	err = im.t.get(`SELECT public FROM images WHERE id = ?`, []any{imageID}, &public)
	if errors.Is(err, sql.ErrNoRows) {
		return imageNotFound(imageID)
	}
	if err != nil {
		return fmt.Errorf("sqldb: add launch permissions: %w", err)
	}
	for len(kinds) > 0 {
		n := min(len(kinds), setBatch)
		var q strings.Builder
		q.WriteString(`INSERT INTO image_permissions (image_id, kind, value) VALUES `)
		args := make([]any, 0, 3*n)
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, imageID, kinds[i], values[i])
		}
		// DO NOTHING, unlike DO UPDATE, accepts a row twice in one INSERT.
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := im.t.exec(q.String(), args...); err != nil {
			return fmt.Errorf("sqldb: add launch permissions: %w", err)
		}
		kinds, values = kinds[n:], values[n:]
	}
	if all && !public {
		return im.setPublic(imageID, true)
	}
	return nil
}

func (im images) RemovePermissions(imageID string, ps []openami.LaunchPermission) error {
	kinds, values, all, err := permRows(ps)
	if err != nil {
		return err
	}
	for i := range kinds {
		if _, err := im.t.exec(`DELETE FROM image_permissions WHERE image_id = ? AND kind = ? AND value = ?`,
			imageID, kinds[i], values[i]); err != nil {
			return fmt.Errorf("sqldb: remove launch permissions: %w", err)
		}
	}
	if all {
		return im.setPublic(imageID, false)
	}
	return nil
}

// setPublic sets an image's public column and its doc's Public, if the
// image exists.
func (im images) setPublic(imageID string, public bool) error {
	var (
		img openami.Image
		was bool
	)
	found := false
	err := im.t.each(`SELECT `+imageColumns+` FROM images i WHERE i.id = ?`, []any{imageID}, func(r *sql.Rows) error {
		var err error
		img, err = scanImage(r)
		was = img.Public
		found = true
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: set image public: %w", err)
	}
	if !found || was == public {
		return nil
	}
	img.Public = public
	doc, err := encodeImage(img)
	if err != nil {
		return err
	}
	if _, err := im.t.exec(`UPDATE images SET public = ?, doc = ? WHERE id = ?`, public, doc, imageID); err != nil {
		return fmt.Errorf("sqldb: set image public: %w", err)
	}
	return nil
}
