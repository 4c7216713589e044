// Package filter is the EC2 filter engine: it validates the Filter.N
// parameters of a Describe call against the names a resource supports, and
// matches resources against them.
//
// EC2's rules: the filters of a request are ANDed, and the values of one
// filter are ORed. Values are wildcard patterns (see Pattern). Besides the
// names a resource lists, every resource takes tag:KEY (a tag KEY whose
// value matches), tag-key (some tag key matches) and tag-value (some tag
// value matches; not in AWS's current lists, but accepted by AWS and moto
// alike, so clients use it).
package filter

import (
	"slices"
	"strings"

	"github.com/openami/openami"
)

// Limits AWS documents for one request.
const (
	// MaxFilters is the most filters a request may carry.
	MaxFilters = 50
	// MaxValues is the most values one filter may carry.
	MaxValues = 200
)

// Filter is one filter as the client sent it: Filter.N.Name and its
// Filter.N.Value.M values.
type Filter struct {
	Name   string
	Values []string
}

// Set is a validated conjunction of filters, made by Compile. The zero Set
// is empty and matches every resource. A Set is immutable and safe for
// concurrent use.
type Set struct {
	conds []cond
}

type condKind uint8

const (
	attrCond     condKind = iota // a resource attribute, via attr
	tagCond                      // tag:KEY
	tagKeyCond                   // tag-key
	tagValueCond                 // tag-value
)

// cond is one filter: it holds when any of its patterns matches.
type cond struct {
	kind   condKind
	name   string // the filter name as given
	key    string // tagCond: the tag key
	values []string
	pats   []Pattern
}

// Compile validates filters against the filter names a resource supports
// and compiles their values. known lists the exact names; tag:KEY (with a
// non-empty KEY), tag-key and tag-value are always accepted. Repeated
// names are kept as separate conditions, all of which must hold, as AWS
// does.
//
// Compile returns an *openami.Error about openami.ResourceFilter on
// failure: LimitExceeded for more than MaxFilters filters or more than
// MaxValues values in one; InvalidParameter for an unknown name ("The
// filter 'x' is invalid") or a filter with no values.
func Compile(filters []Filter, known ...string) (Set, error) {
	if len(filters) > MaxFilters {
		return Set{}, openami.Errorf(openami.LimitExceeded, openami.ResourceFilter,
			"The request has %d filters; the limit is %d", len(filters), MaxFilters)
	}
	if len(filters) == 0 {
		return Set{}, nil
	}
	conds := make([]cond, 0, len(filters))
	for _, f := range filters {
		c := cond{name: f.Name}
		switch {
		case f.Name == "tag-key":
			c.kind = tagKeyCond
		case f.Name == "tag-value":
			c.kind = tagValueCond
		case strings.HasPrefix(f.Name, "tag:") && len(f.Name) > len("tag:"):
			c.kind, c.key = tagCond, f.Name[len("tag:"):]
		case f.Name != "" && slices.Contains(known, f.Name):
			c.kind = attrCond
		default:
			return Set{}, openami.Errorf(openami.InvalidParameter, openami.ResourceFilter,
				"The filter '%s' is invalid", f.Name)
		}
		if len(f.Values) == 0 {
			return Set{}, openami.Errorf(openami.InvalidParameter, openami.ResourceFilter,
				"The filter '%s' has no values", f.Name)
		}
		if len(f.Values) > MaxValues {
			return Set{}, openami.Errorf(openami.LimitExceeded, openami.ResourceFilter,
				"The filter '%s' has %d values; the limit is %d", f.Name, len(f.Values), MaxValues)
		}
		c.values = slices.Clone(f.Values)
		c.pats = make([]Pattern, len(f.Values))
		for i, v := range f.Values {
			c.pats[i] = NewPattern(v)
		}
		conds = append(conds, c)
	}
	return Set{conds: conds}, nil
}

// Empty reports whether s has no filters, so matches everything.
func (s Set) Empty() bool { return len(s.conds) == 0 }

// Match reports whether a resource matches every filter of s: for each
// filter, some value of the resource matches some value of the filter.
// attr returns the resource's values for a filter name (none, one, or many,
// as for block-device-mapping.device-name); it is called only for names the
// caller listed as known, at most once per filter. Tag filters consult tags
// instead. A nil attr or tags means the resource has no such values. Match
// itself does not allocate.
func (s Set) Match(attr func(name string) []string, tags map[string]string) bool {
	for i := range s.conds {
		if !s.conds[i].match(attr, tags) {
			return false
		}
	}
	return true
}

func (c *cond) match(attr func(string) []string, tags map[string]string) bool {
	switch c.kind {
	case tagCond:
		v, ok := tags[c.key]
		return ok && c.any(v)
	case tagKeyCond:
		for k := range tags {
			if c.any(k) {
				return true
			}
		}
		return false
	case tagValueCond:
		for _, v := range tags {
			if c.any(v) {
				return true
			}
		}
		return false
	default:
		if attr == nil {
			return false
		}
		for _, v := range attr(c.name) {
			if c.any(v) {
				return true
			}
		}
		return false
	}
}

// any reports whether some pattern of c matches v.
func (c *cond) any(v string) bool {
	for i := range c.pats {
		if c.pats[i].Match(v) {
			return true
		}
	}
	return false
}

// Values returns the values, as sent, of every filter named name, and
// whether there is one. It is for pushing simple filters down into a store
// query. When a name is repeated the filters are ANDed, yet Values returns
// all their values together: so the values describe a superset of the
// matching resources, and a store that narrows with them (taking any of the
// values) must still run Match on what it finds.
func (s Set) Values(name string) (values []string, ok bool) {
	for i := range s.conds {
		if s.conds[i].name == name {
			values = append(values, s.conds[i].values...)
			ok = true
		}
	}
	return values, ok
}
