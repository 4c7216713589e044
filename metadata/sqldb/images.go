package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
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

func utcTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// utcImage returns img with its times in UTC, as the store returns them.
func utcImage(img openami.Image) openami.Image {
	img.CreatedAt = utcTime(img.CreatedAt)
	img.DeprecationTime = utcTime(img.DeprecationTime)
	img.LastLaunchedTime = utcTime(img.LastLaunchedTime)
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

// imageSelection is an ImageQuery made ready for SQL: lists sorted and
// deduplicated, "all" taken out of ExecutableBy, name prefixes that
// another covers dropped.
type imageSelection struct {
	q                  metadata.ImageQuery
	visible            bool // the VisibleTo clause applies
	executable         bool // the ExecutableBy clause applies
	executableByAll    bool
	perRow             bool // test visibility per row rather than select the visible ids
	ids                []string
	owners, aliases    []string
	names              []string
	prefixes           []string
	visOrgs            []string
	execUsers, execOrg []string
	tagKeys            []string   // of q.Tags, in order
	tagValues          [][]string // of each of tagKeys; nil: any value
}

// namePrefixes returns the prefixes a name must start with one of: nil for
// no condition (none given, or an empty one, which every name starts
// with), otherwise sorted, without duplicates and without prefixes that
// start with another of the list (a name starting with them starts with
// that one).
func namePrefixes(ps []string) []string {
	if slices.Contains(ps, "") {
		return nil
	}
	var out []string
	for _, p := range sortedUnique(ps) {
		// In sorted order, a prefix that starts with another comes
		// after it, with only others that start with it in between.
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// prefixEnd returns the least string above every string that starts with
// the non-empty prefix p, for the range name >= p AND name < end; ok is
// false when there is none, as for a prefix of U+10FFFF characters: then
// every name >= p starts with p.
//
// Text compares bytewise in every dialect, which for valid UTF-8 is the
// order of code points, so the end of a valid prefix is the prefix with
// its last character incremented (skipping the surrogates, which UTF-8
// cannot hold): a valid string, as PostgreSQL requires of text. A prefix
// that is not valid UTF-8 gets a bytewise end (last byte below 0xff
// incremented); PostgreSQL refuses such text, as it refuses such a name.
func prefixEnd(p string) (end string, ok bool) {
	if utf8.ValidString(p) {
		r := []rune(p)
		for len(r) > 0 {
			last := r[len(r)-1]
			if last < utf8.MaxRune {
				next := last + 1
				if next == 0xd800 {
					next = 0xe000
				}
				r[len(r)-1] = next
				return string(r), true
			}
			r = r[:len(r)-1]
		}
		return "", false
	}
	b := []byte(p)
	for len(b) > 0 {
		if b[len(b)-1] < 0xff {
			b[len(b)-1]++
			return string(b), true
		}
		b = b[:len(b)-1]
	}
	return "", false
}

// List follows ImageQuery: VisibleTo keeps owned, public, and shared
// (user, or org/ou in VisibleOrgs) images; ExecutableBy keeps only images
// shared explicitly with the accounts or ExecutableOrgs, and public ones
// for "all", never an account's own as such (EC2's ExecutableUsers).
// VisibleOrgs or ExecutableOrgs alone narrow like their clause with no
// account. NamePrefixes are ranges of the names' index; Tags are
// subqueries of the tags of TagOwner, one per entry.
//
// It runs one query in the common case. Lists too long for one IN
// clause are split, and the query run for every combination of pieces:
// each list is a disjunction, so the union of the answers is the answer,
// and as each returns the first Limit images it selects, the first Limit
// of their union are the first Limit of the whole. (The values of one
// entry of Tags are such a list too: entries are a conjunction of
// disjunctions.)
func (im images) List(region string, q metadata.ImageQuery) ([]openami.Image, error) {
	sel := imageSelection{
		q:          q,
		visible:    q.VisibleTo != "" || len(q.VisibleOrgs) > 0,
		executable: len(q.ExecutableBy) > 0 || len(q.ExecutableOrgs) > 0,
		owners:     sortedUnique(q.OwnerIDs),
		aliases:    sortedUnique(q.OwnerAliases),
		names:      sortedUnique(q.Names),
		prefixes:   namePrefixes(q.NamePrefixes),
		visOrgs:    sortedUnique(q.VisibleOrgs),
		execOrg:    sortedUnique(q.ExecutableOrgs),
	}
	// A query narrowed to a few ids, an owner's images, exact names or
	// tagged images tests each of its rows for visibility; one narrowed by
	// nothing else selects the visible ids (see list).
	sel.perRow = len(q.IDs) > 0 || len(sel.owners) > 0 || len(sel.aliases) > 0 || len(sel.names) > 0 || len(q.Tags) > 0
	for _, a := range sortedUnique(q.ExecutableBy) {
		if a == groupAll {
			sel.executableByAll = true
		} else {
			sel.execUsers = append(sel.execUsers, a)
		}
	}
	dims := [][][]string{
		splitList(sel.owners), splitList(sel.aliases), splitList(sel.names),
		splitList(sel.visOrgs), splitList(sel.execUsers), splitList(sel.execOrg),
		splitList(sel.prefixes),
	}
	const tagDims = 7 // the index in dims of Tags[0]'s values
	for _, m := range q.Tags {
		sel.tagKeys = append(sel.tagKeys, m.Key)
		dims = append(dims, splitList(sortedUnique(m.Values)))
	}
	combos := 1
	for _, d := range dims {
		combos *= len(d)
	}
	limit := max(q.Limit, 0)
	var list []openami.Image
	for _, ids := range splitList(sortedUnique(q.IDs)) {
		if len(ids) > 0 && q.After != "" && ids[len(ids)-1] <= q.After {
			continue
		}
		n := len(list)
		idx := make([]int, len(dims))
		for {
			p := sel
			p.ids = ids
			p.owners, p.aliases, p.names = dims[0][idx[0]], dims[1][idx[1]], dims[2][idx[2]]
			p.visOrgs, p.execUsers, p.execOrg = dims[3][idx[3]], dims[4][idx[4]], dims[5][idx[5]]
			p.prefixes = dims[6][idx[6]]
			p.tagValues = make([][]string, len(sel.tagKeys))
			for j := range p.tagValues {
				p.tagValues[j] = dims[tagDims+j][idx[tagDims+j]]
			}
			page, err := im.list(region, &p, limit)
			if err != nil {
				return nil, err
			}
			list = append(list, page...)
			k := 0
			for ; k < len(dims); k++ {
				if idx[k]++; idx[k] < len(dims[k]) {
					break
				}
				idx[k] = 0
			}
			if k == len(dims) {
				break
			}
		}
		if combos > 1 {
			// Pieces of one piece of ids overlap; pieces of ids do not,
			// and come in id order.
			slices.SortFunc(list[n:], func(a, b openami.Image) int { return strings.Compare(a.ID, b.ID) })
			list = slices.CompactFunc(list, func(a, b openami.Image) bool { return a.ID == b.ID })
		}
		if limit > 0 && len(list) >= limit {
			return list[:limit], nil
		}
	}
	return list, nil
}

// list runs the query of List for one piece of each list.
func (im images) list(region string, s *imageSelection, limit int) ([]openami.Image, error) {
	var b strings.Builder
	args := []any{region}
	b.WriteString(`SELECT ` + imageColumns + ` FROM images i WHERE i.region = ?`)
	in := func(column string, vals []string) {
		if len(vals) > 0 {
			b.WriteString(` AND ` + column + ` IN (` + placeholders(len(vals)) + `)`)
			args = appendStrings(args, vals)
		}
	}
	if s.q.After != "" {
		b.WriteString(` AND i.id > ?`)
		args = append(args, s.q.After)
	}
	in("i.id", s.ids)
	// Owners and aliases are one condition, as in EC2's Owners list.
	if len(s.owners) > 0 && len(s.aliases) > 0 {
		b.WriteString(` AND (i.account_id IN (` + placeholders(len(s.owners)) + `) OR i.owner_alias IN (` + placeholders(len(s.aliases)) + `))`)
		args = appendStrings(args, s.owners)
		args = appendStrings(args, s.aliases)
	} else {
		in("i.account_id", s.owners)
		in("i.owner_alias", s.aliases)
	}
	in("i.name", s.names)
	if len(s.prefixes) > 0 {
		// Ranges of images_by_name (region, name), not LIKE: LIKE is
		// case-insensitive in SQLite, and its wildcards would need
		// escaping. With Tags, the tagged ids are the better start (the
		// TagOwner's few tagged images, not every account's with the
		// prefix), which SQLite, without statistics, does not see: the
		// ranges are then written on an expression, which no index
		// serves, so that they filter the rows the tags select.
		name := `i.name`
		if len(s.tagKeys) > 0 {
			name = `(i.name || '')`
		}
		ranges := make([]string, len(s.prefixes))
		for k, p := range s.prefixes {
			args = append(args, p)
			ranges[k] = name + ` >= ?`
			if end, ok := prefixEnd(p); ok {
				args = append(args, end)
				ranges[k] = `(` + name + ` >= ? AND ` + name + ` < ?)`
			}
		}
		b.WriteString(` AND (` + strings.Join(ranges, ` OR `) + `)`)
	}
	if len(s.q.States) > 0 {
		states := make([]string, len(s.q.States))
		for i, st := range s.q.States {
			states[i] = string(st)
		}
		in("i.state", states)
	}
	// Each entry of Tags: the owner's tags with the key, from tags_by_key
	// (region, account_id, key, resource_id), or with one of the values,
	// from tags_by_value (region, account_id, key, value, resource_id).
	for j, key := range s.tagKeys {
		b.WriteString(` AND i.id IN (SELECT resource_id FROM tags WHERE region = ? AND account_id = ? AND key = ?`)
		args = append(args, region, s.q.TagOwner, key)
		if vals := s.tagValues[j]; len(vals) > 0 {
			b.WriteString(` AND value IN (` + placeholders(len(vals)) + `)`)
			args = appendStrings(args, vals)
		}
		b.WriteString(`)`)
	}
	const (
		userKind = `'` + permUser + `'`
		orgKinds = `'` + permOrg + `', '` + permOU + `'`
	)
	if s.perRow {
		// The query is narrowed to few rows by an index (ids, owners,
		// names, tags): test each for visibility, which walks that index
		// in id order and stops at the limit, rather than build the set
		// of every image the account may see.
		s.rowClauses(&b, &args)
		b.WriteString(` ORDER BY i.id`)
		return im.run(b.String(), args, limit)
	}
	// Otherwise the visibility clauses select image ids from the indexes
	// that hold them (an owner's, the public ones, those shared with an
	// account or organization) rather than test every image of the
	// region: a correlated test per image would cost a lookup of each
	// one, and most images are not visible to most accounts. after
	// narrows each branch to the ids List may return.
	after := func(column string) string {
		if s.q.After == "" {
			return ""
		}
		args = append(args, s.q.After)
		return ` AND ` + column + ` > ?`
	}
	owned := func(acct string) string {
		args = append(args, region, acct)
		return `SELECT id FROM images WHERE region = ? AND account_id = ?` + after("id")
	}
	public := func() string {
		args = append(args, region, true)
		return `SELECT id FROM images WHERE region = ? AND public = ?` + after("id")
	}
	shared := func(kinds string, vals []string) string {
		args = appendStrings(args, vals)
		return `SELECT image_id FROM image_permissions WHERE kind IN (` + kinds + `) AND value IN (` +
			placeholders(len(vals)) + `)` + after("image_id")
	}
	idIn := func(branches []string) {
		b.WriteString(` AND i.id IN (` + strings.Join(branches, ` UNION ALL `) + `)`)
	}
	if s.visible {
		var from []string
		if a := s.q.VisibleTo; a != "" {
			from = append(from, owned(a))
		}
		from = append(from, public())
		if a := s.q.VisibleTo; a != "" {
			from = append(from, shared(userKind, []string{a}))
		}
		if len(s.visOrgs) > 0 {
			from = append(from, shared(orgKinds, s.visOrgs))
		}
		idIn(from)
	}
	if s.executable {
		// Not the images an account owns: only what is shared with it,
		// or public ones for "all".
		var from []string
		if s.executableByAll {
			from = append(from, public())
		}
		if len(s.execUsers) > 0 {
			from = append(from, shared(userKind, s.execUsers))
		}
		if len(s.execOrg) > 0 {
			from = append(from, shared(orgKinds, s.execOrg))
		}
		idIn(from)
	}
	b.WriteString(` ORDER BY i.id`)
	return im.run(b.String(), args, limit)
}

// rowClauses writes the visibility and executability clauses of s as
// tests of each row i: its owner, its public column, and whether one of
// its launch permissions names the account or one of the organizations.
func (s *imageSelection) rowClauses(b *strings.Builder, args *[]any) {
	const (
		userKind = `'` + permUser + `'`
		orgKinds = `'` + permOrg + `', '` + permOU + `'`
	)
	// clause writes the disjunction of ors and of a launch permission of
	// the image matching one of perms. The permissions are a subquery
	// that does not depend on the row, which both databases evaluate once
	// (the images shared with one account are few) and probe per row,
	// where a correlated EXISTS would look up each row's permissions.
	clause := func(ors, perms []string) {
		if len(perms) > 0 {
			ors = append(ors, `i.id IN (SELECT ip.image_id FROM image_permissions ip WHERE `+
				strings.Join(perms, ` OR `)+`)`)
		}
		b.WriteString(` AND (` + strings.Join(ors, ` OR `) + `)`)
	}
	if s.visible {
		// Arguments in the order of the text: owner, public, user, orgs.
		var ors, perms []string
		if a := s.q.VisibleTo; a != "" {
			ors = append(ors, `i.account_id = ?`)
			*args = append(*args, a)
		}
		ors = append(ors, `i.public = ?`)
		*args = append(*args, true)
		if a := s.q.VisibleTo; a != "" {
			perms = append(perms, `(ip.kind = `+userKind+` AND ip.value = ?)`)
			*args = append(*args, a)
		}
		if len(s.visOrgs) > 0 {
			perms = append(perms, `(ip.kind IN (`+orgKinds+`) AND ip.value IN (`+placeholders(len(s.visOrgs))+`))`)
			*args = appendStrings(*args, s.visOrgs)
		}
		clause(ors, perms)
	}
	if s.executable {
		// Not the images an account owns: only what is shared with it,
		// or public ones for "all".
		var ors, perms []string
		if s.executableByAll {
			ors = append(ors, `i.public = ?`)
			*args = append(*args, true)
		}
		if len(s.execUsers) > 0 {
			perms = append(perms, `(ip.kind = `+userKind+` AND ip.value IN (`+placeholders(len(s.execUsers))+`))`)
			*args = appendStrings(*args, s.execUsers)
		}
		if len(s.execOrg) > 0 {
			perms = append(perms, `(ip.kind IN (`+orgKinds+`) AND ip.value IN (`+placeholders(len(s.execOrg))+`))`)
			*args = appendStrings(*args, s.execOrg)
		}
		clause(ors, perms)
	}
}

// run runs a query of list, with its limit, and decodes the images.
func (im images) run(query string, args []any, limit int) ([]openami.Image, error) {
	query, args = limitClause(query, args, limit)
	list := make([]openami.Image, 0, min(max(limit, 0), 16))
	err := im.t.each(query, args, func(r *sql.Rows) error {
		img, err := scanImage(r)
		list = append(list, img)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list images: %w", err)
	}
	return list, nil
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
