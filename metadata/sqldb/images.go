package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
)

// Images keeps each image in one row of images: the columns List selects
// on, and the whole openami.Image as JSON in doc. Every write of the row
// writes both, so they cannot disagree. image_snapshots holds the snapshots
// of an image's mappings, image_permissions its launch permissions; the
// group all permission and images.public (and the doc's Public) are
// written together.

type images struct{ t *tx }

func imageNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceImage, "The image id '[%s]' does not exist", id)
}

// utcImage returns img with its times in UTC, as the store returns them.
func utcImage(img openami.Image) openami.Image {
	img.CreatedAt = utcTime(img.CreatedAt)
	img.DeprecationTime = utcTime(img.DeprecationTime)
	img.LastLaunchedTime = utcTime(img.LastLaunchedTime)
	img.DeregistrationProtection.Until = utcTime(img.DeregistrationProtection.Until)
	return img
}

// encodeImage returns the doc of an image: JSON without its zero fields,
// which decodes back to the same Image (docs written before, with every
// field and nil slices as null, decode the same way). The JSON package is
// the upstream of encoding/json/v2: it decodes an image about three times
// faster than encoding/json, and DescribeImages decodes one per image it
// returns (docs/DEPENDENCIES.md).
func encodeImage(img openami.Image) (string, error) {
	b, err := json.Marshal(utcImage(img), json.OmitZeroStructFields(true), json.FormatNilSliceAsNull(true), json.FormatNilMapAsNull(true))
	if err != nil {
		return "", fmt.Errorf("sqldb: encode image %s: %w", img.ID, err)
	}
	return string(b), nil
}

// imageColumns are what scanImage reads: the columns that are the truth
// about what the store maintains itself, then the doc.
const imageColumns = `i.id, i.region, i.account_id, i.public, i.doc`

func scanImage(sc scanner) (openami.Image, error) {
	var (
		id, region, acct string
		doc              []byte
		public           bool
	)
	if err := sc.Scan(&id, &region, &acct, &public, &doc); err != nil {
		return openami.Image{}, err
	}
	var img openami.Image
	if err := json.Unmarshal(doc, &img); err != nil {
		return openami.Image{}, fmt.Errorf("decode image %s: %w", id, err)
	}
	img = utcImage(img)
	img.ID, img.Region, img.AccountID, img.Public = id, region, acct, public
	return img, nil
}

// Create records the group all permission of an image created public.
func (im images) Create(img openami.Image) error {
	doc, err := encodeImage(img)
	if err != nil {
		return err
	}
	n, err := im.t.execN(`INSERT INTO images (region, account_id, id, name, owner_alias, state, public, created_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		img.Region, img.AccountID, img.ID, img.Name, img.OwnerAlias, string(img.State), img.Public,
		nanos(img.CreatedAt), doc)
	if err != nil && !im.t.d.unique(err) {
		return fmt.Errorf("sqldb: create image: %w", err)
	}
	if err != nil {
		return openami.Errorf(openami.Duplicate, openami.ResourceImage, "The image id '[%s]' already exists", img.ID)
	}
	if n == 0 {
		return im.duplicate(img)
	}
	if err := im.putSnapshots(img.ID, img.Snapshots()); err != nil {
		return fmt.Errorf("sqldb: create image: %w", err)
	}
	if img.Public {
		if _, err := im.t.exec(`INSERT INTO image_permissions (image_id, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			img.ID, permGroup, groupAll); err != nil {
			return fmt.Errorf("sqldb: create image: permissions: %w", err)
		}
	}
	return nil
}

// duplicate returns the Duplicate error of an image that Create could not
// insert: its id is taken, or its owner has an image of its name in its
// region.
func (im images) duplicate(img openami.Image) error {
	var one int
	err := im.t.get(`SELECT 1 FROM images WHERE id = ?`, []any{img.ID}, &one)
	if err == nil {
		return openami.Errorf(openami.Duplicate, openami.ResourceImage, "The image id '[%s]' already exists", img.ID)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqldb: create image: %w", err)
	}
	return im.nameTaken(img, "")
}

// nameTaken returns the Duplicate error of a name in use by another image
// of the owner in the region than except, nil if there is none.
func (im images) nameTaken(img openami.Image, except string) error {
	var id string
	err := im.t.get(`SELECT id FROM images WHERE region = ? AND account_id = ? AND name = ? AND id <> ?`,
		[]any{img.Region, img.AccountID, img.Name, except}, &id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if except == "" {
			// Only a concurrent writer could have made Create's insert
			// fail and left nothing here; report the name anyway.
			return openami.Errorf(openami.Duplicate, openami.ResourceImage, "AMI name '%s' is already in use", img.Name)
		}
		return nil
	case err != nil:
		return fmt.Errorf("sqldb: image name: %w", err)
	}
	return openami.Errorf(openami.Duplicate, openami.ResourceImage, "AMI name '%s' is already in use by AMI %s", img.Name, id)
}

// putSnapshots records the snapshots an image uses.
func (im images) putSnapshots(imageID string, snaps []string) error {
	snaps = sortedUnique(snaps)
	for len(snaps) > 0 {
		batch := snaps[:min(len(snaps), setBatch)]
		snaps = snaps[len(batch):]
		var q strings.Builder
		q.WriteString(`INSERT INTO image_snapshots (image_id, snapshot_id) VALUES `)
		args := make([]any, 0, 2*len(batch))
		for i, s := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, imageID, s)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := im.t.exec(q.String(), args...); err != nil {
			return fmt.Errorf("snapshots: %w", err)
		}
	}
	return nil
}

func (im images) Get(region, id string) (openami.Image, error) {
	var (
		img   openami.Image
		found bool
	)
	err := im.t.each(`SELECT `+imageColumns+` FROM images i WHERE i.id = ? AND i.region = ?`, []any{id, region},
		func(r *sql.Rows) error {
			var err error
			img, err = scanImage(r)
			found = true
			return err
		})
	if err != nil {
		return openami.Image{}, fmt.Errorf("sqldb: get image: %w", err)
	}
	if !found {
		return openami.Image{}, imageNotFound(id)
	}
	return img, nil
}

// Update also keeps the group all permission in step with img.Public,
// adding or removing it, so that Public and the permissions never
// disagree.
func (im images) Update(img openami.Image) error {
	err := im.t.get(`SELECT account_id FROM images WHERE id = ? AND region = ?`, []any{img.ID, img.Region}, &img.AccountID)
	if errors.Is(err, sql.ErrNoRows) {
		return imageNotFound(img.ID)
	}
	if err != nil {
		return fmt.Errorf("sqldb: update image: %w", err)
	}
	// Check the name rather than let the unique constraint fail, which
	// would abort a PostgreSQL transaction.
	if err := im.nameTaken(img, img.ID); err != nil {
		return err
	}
	doc, err := encodeImage(img)
	if err != nil {
		return err
	}
	if _, err := im.t.exec(`UPDATE images SET name = ?, owner_alias = ?, state = ?, public = ?, created_at = ?, doc = ?
WHERE id = ?`,
		img.Name, img.OwnerAlias, string(img.State), img.Public, nanos(img.CreatedAt), doc, img.ID); err != nil {
		return fmt.Errorf("sqldb: update image: %w", err)
	}
	if _, err := im.t.exec(`DELETE FROM image_snapshots WHERE image_id = ?`, img.ID); err != nil {
		return fmt.Errorf("sqldb: update image: snapshots: %w", err)
	}
	if err := im.putSnapshots(img.ID, img.Snapshots()); err != nil {
		return fmt.Errorf("sqldb: update image: %w", err)
	}
	// Public and the group all permission go together.
	stmt := `DELETE FROM image_permissions WHERE image_id = ? AND kind = ? AND value = ?`
	if img.Public {
		stmt = `INSERT INTO image_permissions (image_id, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	}
	if _, err := im.t.exec(stmt, img.ID, permGroup, groupAll); err != nil {
		return fmt.Errorf("sqldb: update image: permissions: %w", err)
	}
	return nil
}

func (im images) Delete(region, id string) error {
	// Children first: they reference the image. If it is not there in
	// this region, none of them may be removed.
	var one int
	err := im.t.get(`SELECT 1 FROM images WHERE id = ? AND region = ?`, []any{id, region}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return imageNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("sqldb: delete image: %w", err)
	}
	for _, table := range []string{"image_permissions", "image_snapshots"} {
		if _, err := im.t.exec(`DELETE FROM `+table+` WHERE image_id = ?`, id); err != nil {
			return fmt.Errorf("sqldb: delete image: %s: %w", table, err)
		}
	}
	if _, err := im.t.exec(`DELETE FROM images WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete image: %w", err)
	}
	return nil
}

func (im images) UsingSnapshot(region, snapshotID string) ([]string, error) {
	ids := []string{}
	err := im.t.each(`SELECT s.image_id FROM image_snapshots s JOIN images i ON i.id = s.image_id
WHERE s.snapshot_id = ? AND i.region = ? ORDER BY s.image_id`, []any{snapshotID, region}, func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: images using snapshot: %w", err)
	}
	return ids, nil
}
