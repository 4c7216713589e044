// Package tagset holds the rules every taggable resource shares: AWS's
// limits on tag keys and values, and the two shapes rules code keeps tags
// in (sorted by key, and a key → value map for filters). Tags themselves,
// and who may tag what, are package service's (service/tags.go); this
// package exists so that the rules packages (rules/identity's key pairs)
// validate tags by the same rules as the service does.
package tagset

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
)

// The attributes of a tag (one row of DescribeTags) that DescribeTags'
// filters test (see filter.Attr; api/ec2/filters.go maps EC2's filter
// names onto them). They are here, not in package service, which keeps
// tags, so that the API can name them without holding the service.
const (
	AttrKey          filter.Attr = "key"
	AttrValue        filter.Attr = "value"
	AttrResourceID   filter.Attr = "resourceID"
	AttrResourceType filter.Attr = "resourceType"
)

// RowAttrs are the attributes DescribeTags filters by. Read-only.
var RowAttrs = []filter.Attr{AttrKey, AttrValue, AttrResourceID, AttrResourceType}

// PerResource is AWS's limit of user tags on one resource.
const PerResource = 50

// Validate checks tag keys and values against AWS's rules: keys of 1–128
// characters not starting with "aws:", values of at most 256, no key
// twice (InvalidParameter otherwise), and at most PerResource tags
// (LimitExceeded about openami.ResourceTag).
func Validate(tags []openami.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" {
			return openami.Errorf(openami.InvalidParameter, "", "Tag key must not be empty")
		}
		if utf8.RuneCountInString(t.Key) > 128 {
			return openami.Errorf(openami.InvalidParameter, "", "Tag key exceeds the maximum length of 128 characters")
		}
		if utf8.RuneCountInString(t.Value) > 256 {
			return openami.Errorf(openami.InvalidParameter, "", "Tag value exceeds the maximum length of 256 characters")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return openami.Errorf(openami.InvalidParameter, "", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		if seen[t.Key] {
			return openami.Errorf(openami.InvalidParameter, "", "Duplicate tag key '%s' specified", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > PerResource {
		return openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "The maximum number of tags per resource is %d", PerResource)
	}
	return nil
}

// Sorted returns a copy of tags ordered by key.
func Sorted(tags []openami.Tag) []openami.Tag {
	out := slices.Clone(tags)
	slices.SortFunc(out, func(a, b openami.Tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Map returns tags as a key → value map, as filters match them.
func Map(tags []openami.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// Merge returns base with over's tags added, over winning on a key.
func Merge(base, over []openami.Tag) []openami.Tag {
	out := slices.Clone(over)
	for _, t := range base {
		if !slices.ContainsFunc(over, func(o openami.Tag) bool { return o.Key == t.Key }) {
			out = append(out, t)
		}
	}
	return out
}

// Spec is one TagSpecification: tags for one type of resource that an
// operation creates.
type Spec struct {
	ResourceType openami.ResourceType
	Tags         []openami.Tag
}

// For returns the tags that specs give resources of type t, checking
// that every spec names one of the allowed types (InvalidParameter
// otherwise), that each type appears once, that each has a tag (EC2
// refuses an empty TagSpecification on its Create actions), and that the
// tags are valid (Validate).
func For(specs []Spec, t openami.ResourceType, allowed ...openami.ResourceType) ([]openami.Tag, error) {
	var out []openami.Tag
	seen := map[openami.ResourceType]bool{}
	for _, s := range specs {
		if !slices.Contains(allowed, s.ResourceType) {
			return nil, openami.Errorf(openami.InvalidParameter, "", "'%s' is not a valid taggable resource type for this operation.", s.ResourceType)
		}
		if seen[s.ResourceType] {
			return nil, openami.Errorf(openami.InvalidParameter, "", "The same resource type may not be specified more than once in tag specifications")
		}
		seen[s.ResourceType] = true
		if len(s.Tags) == 0 {
			return nil, openami.Errorf(openami.InvalidParameter, "", "Tag specification must have at least one tag")
		}
		if s.ResourceType == t {
			out = s.Tags
		}
	}
	return out, Validate(out)
}
