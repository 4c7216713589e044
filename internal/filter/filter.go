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
//
// The engine knows no resource's filter names. The rules name the
// attributes a resource may be filtered by as Attr constants, in their own
// words, and compile and match filters by those; a protocol maps the names
// its clients send onto them with Rename before calling the rules (EC2's
// tables are api/ec2/filters.go). The tag forms are the engine's and pass
// through Rename as sent.
package filter

import (
	"slices"
	"strings"
	"time"

	"github.com/openami/openami"
)

// Limits AWS documents for one request.
const (
	// MaxFilters is the most filters a request may carry.
	MaxFilters = 50
	// MaxValues is the most values one filter may carry.
	MaxValues = 200
)

// Attr names an attribute of a resource that filters may test, in the
// rules' own words: each rules package declares its resources' Attr
// constants (images.AttrArchitecture, …) and the list of them a Describe
// accepts. By convention an Attr's value is its constant's name without
// "Attr", in lower camel case ("architecture", "mappingSnapshotID"); it
// is not a wire name and need not equal one.
type Attr string

// Filter is one filter: Filter.N.Name and its Filter.N.Value.M values.
// Name is an Attr, or one of the tag forms (tag:KEY, tag-key, tag-value):
// as the client sent it before Rename, in the rules' terms after.
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
	name   Attr   // attrCond: the attribute
	key    string // tagCond: the tag key
	values []string
	pats   []Pattern
	// times holds, for each value that is a literal RFC 3339 time, that
	// time (zero for the others); hasTime says whether any is.
	times   []time.Time
	hasTime bool
}

// Compile validates filters against the attributes a resource supports
// and compiles their values. known lists the attributes; tag:KEY (with a
// non-empty KEY), tag-key and tag-value are always accepted. Repeated
// names are kept as separate conditions, all of which must hold, as AWS
// does.
//
// Compile returns an *openami.Error about openami.ResourceFilter on
// failure: LimitExceeded for more than MaxFilters filters or more than
// MaxValues values in one; InvalidParameter for an unknown name ("The
// filter 'x' is invalid") or a filter with no values.
func Compile(filters []Filter, known ...Attr) (Set, error) {
	if err := check(filters, func(name string) bool { return slices.Contains(known, Attr(name)) }); err != nil {
		return Set{}, err
	}
	if len(filters) == 0 {
		return Set{}, nil
	}
	conds := make([]cond, 0, len(filters))
	for _, f := range filters {
		c := cond{kind: kindOf(f.Name)}
		switch c.kind {
		case tagCond:
			c.key = f.Name[len("tag:"):]
		case attrCond:
			c.name = Attr(f.Name)
		}
		c.values = slices.Clone(f.Values)
		c.pats = make([]Pattern, len(f.Values))
		c.times = make([]time.Time, len(f.Values))
		for i, v := range f.Values {
			c.pats[i] = NewPattern(v)
			if lit, ok := c.pats[i].Literal(); ok {
				if t, err := time.Parse(time.RFC3339Nano, lit); err == nil {
					c.times[i], c.hasTime = t, true
				}
			}
		}
		conds = append(conds, c)
	}
	return Set{conds: conds}, nil
}

// Rename maps the names of filters, as a protocol's client sent them, to
// the rules' attributes through names (a protocol's table for one action),
// keeping the tag forms as sent. It refuses what Compile would refuse, in
// the same order and with the same errors, naming the filters as sent; so
// an unknown name is "The filter 'x' is invalid". Several names may map to
// one attribute (an old alias beside the current name).
func Rename(filters []Filter, names map[string]Attr) ([]Filter, error) {
	known := func(name string) bool { _, ok := names[name]; return ok }
	if err := check(filters, known); err != nil {
		return nil, err
	}
	if filters == nil {
		return nil, nil
	}
	out := make([]Filter, len(filters))
	for i, f := range filters {
		out[i] = f
		if kindOf(f.Name) == attrCond {
			out[i].Name = string(names[f.Name])
		}
	}
	return out, nil
}

// kindOf returns the kind of condition a filter name makes: a tag form, or
// else an attribute.
func kindOf(name string) condKind {
	switch {
	case name == "tag-key":
		return tagKeyCond
	case name == "tag-value":
		return tagValueCond
	case strings.HasPrefix(name, "tag:") && len(name) > len("tag:"):
		return tagCond
	}
	return attrCond
}

// check validates filters: their number, their names (a tag form, or a
// non-empty name known accepts) and their values.
func check(filters []Filter, known func(name string) bool) error {
	if len(filters) > MaxFilters {
		return openami.Errorf(openami.LimitExceeded, openami.ResourceFilter,
			"The request has %d filters; the limit is %d", len(filters), MaxFilters)
	}
	for _, f := range filters {
		if kindOf(f.Name) == attrCond && (f.Name == "" || !known(f.Name)) {
			return openami.Errorf(openami.InvalidParameter, openami.ResourceFilter,
				"The filter '%s' is invalid", f.Name)
		}
		if len(f.Values) == 0 {
			return openami.Errorf(openami.InvalidParameter, openami.ResourceFilter,
				"The filter '%s' has no values", f.Name)
		}
		if len(f.Values) > MaxValues {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceFilter,
				"The filter '%s' has %d values; the limit is %d", f.Name, len(f.Values), MaxValues)
		}
	}
	return nil
}

// Empty reports whether s has no filters, so matches everything.
func (s Set) Empty() bool { return len(s.conds) == 0 }

// Match reports whether a resource matches every filter of s: for each
// filter, some value of the resource matches some value of the filter.
// attr returns the resource's values for an attribute (none, one, or many,
// as for an image's block device names); it is called only for attributes
// the caller listed as known, at most once per filter. Tag filters consult tags
// instead. A nil attr or tags means the resource has no such values. Match
// itself does not allocate.
func (s Set) Match(attr func(Attr) []string, tags map[string]string) bool {
	for i := range s.conds {
		if !s.conds[i].match(attr, tags) {
			return false
		}
	}
	return true
}

func (c *cond) match(attr func(Attr) []string, tags map[string]string) bool {
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

// any reports whether some pattern of c matches v. A time stamp
// (attachment.attach-time, start-time, launch-time …) matches a literal
// time value at the same instant whatever its form, so a client that
// sends the whole-second form ("2024-05-01T10:00:00Z") of a time EC2
// writes with milliseconds ("2024-05-01T10:00:00.000Z"), or another
// offset, still finds it; wildcard values ("2024-05-*") match the text.
func (c *cond) any(v string) bool {
	for i := range c.pats {
		if c.pats[i].Match(v) {
			return true
		}
	}
	if c.hasTime && len(v) >= len("2006-01-02T15:04:05Z") && v[4] == '-' {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			for i := range c.times {
				if !c.times[i].IsZero() && c.times[i].Equal(t) {
					return true
				}
			}
		}
	}
	return false
}

// Values returns the values, as sent, of every filter of the attribute
// name, and whether there is one. It is for pushing simple filters down into a store
// query. When a name is repeated the filters are ANDed, yet Values returns
// all their values together: so the values describe a superset of the
// matching resources, and a store that narrows with them (taking any of the
// values) must still run Match on what it finds.
func (s Set) Values(name Attr) (values []string, ok bool) {
	for i := range s.conds {
		if s.conds[i].kind == attrCond && s.conds[i].name == name {
			values = append(values, s.conds[i].values...)
			ok = true
		}
	}
	return values, ok
}
