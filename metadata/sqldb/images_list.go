package sqldb

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

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
