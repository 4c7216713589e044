package autoscaling

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// What a filter of DescribeAutoScalingGroups or DescribeTags selects by.
const (
	ByTagKey    = "tagKey"    // a tag's key is one of Values
	ByTagValue  = "tagValue"  // a tag's value is one of Values
	ByTag       = "tag"       // the tag of Key has one of Values
	ByGroupName = "groupName" // (DescribeTags) the group is one of Values
	ByPropagate = "propagate" // (DescribeTags) PropagateAtLaunch is one of Values ("true", "false")
)

// Filter selects groups (or tags) by what By names.
type Filter struct {
	By     string
	Key    string // ByTag's key
	Values []string
}

// Page is a request's MaxRecords (0: the default) and NextToken.
type Page struct {
	MaxRecords int
	NextToken  string
}

const (
	defaultRecords = 50
	maxRecords     = 100
)

// bounds returns a page's size (def when the request gives none) and
// where it starts: the key its token names ("" for the first page).
func (pg Page) bounds(def int) (limit int, after string, err error) {
	if limit, err = pg.limit(def); err == nil {
		after, err = pg.after()
	}
	return limit, after, err
}

func (pg Page) limit(def int) (int, error) {
	switch {
	case pg.MaxRecords == 0:
		return def, nil
	case pg.MaxRecords < 1 || pg.MaxRecords > maxRecords:
		return 0, param.Breaks("MaxRecords", strconv.Itoa(pg.MaxRecords), "must have value between 1 and 100")
	}
	return pg.MaxRecords, nil
}

// after returns where a page starts: the key its token names.
func (pg Page) after() (string, error) {
	if pg.NextToken == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(pg.NextToken)
	if err != nil || len(b) == 0 {
		return "", openami.Errorf(openami.InvalidToken, openami.ResourceAutoScalingGroup, "The token '%s' is invalid.", pg.NextToken)
	}
	return string(b), nil
}

func token(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// tagMatches reports whether a group's tags pass every filter.
func tagMatches(tags []openami.GroupTag, filters []Filter) bool {
	for _, f := range filters {
		ok := slices.ContainsFunc(tags, func(t openami.GroupTag) bool {
			switch f.By {
			case ByTagKey:
				return slices.Contains(f.Values, t.Key)
			case ByTagValue:
				return slices.Contains(f.Values, t.Value)
			case ByTag:
				return t.Key == f.Key && slices.Contains(f.Values, t.Value)
			}
			return false
		})
		if !ok {
			return false
		}
	}
	return true
}

// checkFilters refuses a filter a describe does not take.
func checkFilters(filters []Filter, allowed ...string) error {
	for _, f := range filters {
		if !slices.Contains(allowed, f.By) {
			return validationf("Filter name is invalid")
		}
	}
	return nil
}

// DescribeAutoScalingGroups returns the caller's groups of the names
// (none: every one) that pass the filters, in name order, a page at a
// time.
func (g *Groups) DescribeAutoScalingGroups(ctx context.Context, p openami.Principal, names []string, filters []Filter, pg Page) ([]openami.AutoScalingGroup, string, error) {
	if err := checkFilters(filters, ByTagKey, ByTagValue, ByTag); err != nil {
		return nil, "", err
	}
	limit, after, err := pg.bounds(defaultRecords)
	if err != nil {
		return nil, "", err
	}
	var out []openami.AutoScalingGroup
	next := ""
	err = g.store.View(ctx, func(tx metadata.Tx) error {
		out, next = nil, ""
		all, err := tx.AutoScalingGroups().List(p.Region, p.AccountID, after, 0)
		if err != nil {
			return err
		}
		for _, grp := range all {
			if len(names) > 0 && !slices.Contains(names, grp.Name) || !tagMatches(grp.Tags, filters) {
				continue
			}
			if len(out) == limit {
				next = token(out[len(out)-1].Name)
				break
			}
			out = append(out, grp)
		}
		return nil
	})
	return out, next, err
}

// GroupInstanceView is an instance of a group as
// DescribeAutoScalingInstances shows it.
type GroupInstanceView struct {
	openami.GroupInstance
	Group string
	// TemplateName is the group's template's name, when it names it so.
	TemplateName string
}

// DescribeAutoScalingInstances returns the instances of the caller's
// groups (of the ids, or every one) in id order, a page at a time.
func (g *Groups) DescribeAutoScalingInstances(ctx context.Context, p openami.Principal, ids []string, pg Page) ([]GroupInstanceView, string, error) {
	limit, after, err := pg.bounds(defaultRecords)
	if err != nil {
		return nil, "", err
	}
	var all []GroupInstanceView
	err = g.store.View(ctx, func(tx metadata.Tx) error {
		all = nil
		grps, err := tx.AutoScalingGroups().List(p.Region, p.AccountID, "", 0)
		if err != nil {
			return err
		}
		for _, grp := range grps {
			for _, m := range grp.Instances {
				if len(ids) > 0 && !slices.Contains(ids, m.InstanceID) || m.InstanceID <= after {
					continue
				}
				all = append(all, GroupInstanceView{GroupInstance: m, Group: grp.Name, TemplateName: grp.TemplateName})
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b GroupInstanceView) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	if len(all) > limit {
		return all[:limit], token(all[limit-1].InstanceID), nil
	}
	return all, "", nil
}

// ActivityView is an activity with its group.
type ActivityView struct {
	openami.ScalingActivity
	Group string
}

// DescribeScalingActivities returns the activities of the caller's
// group (every group's when ""), newest first: those of the ids, or
// every one, a page at a time (the default page is 100 long).
func (g *Groups) DescribeScalingActivities(ctx context.Context, p openami.Principal, group string, ids []string, pg Page) ([]ActivityView, string, error) {
	limit, after, err := pg.bounds(maxRecords)
	if err != nil {
		return nil, "", err
	}
	var all []ActivityView
	err = g.store.View(ctx, func(tx metadata.Tx) error {
		all = nil
		var grps []openami.AutoScalingGroup
		if group != "" {
			grp, err := tx.AutoScalingGroups().Get(p.Region, p.AccountID, group)
			if err != nil {
				return err
			}
			grps = []openami.AutoScalingGroup{grp}
		} else {
			var err error
			if grps, err = tx.AutoScalingGroups().List(p.Region, p.AccountID, "", 0); err != nil {
				return err
			}
		}
		for _, grp := range grps {
			for _, a := range grp.Activities {
				if len(ids) == 0 || slices.Contains(ids, a.ID) {
					all = append(all, ActivityView{ScalingActivity: a, Group: grp.Name})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortStableFunc(all, func(a, b ActivityView) int {
		if c := b.StartTime.Compare(a.StartTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if after != "" {
		k := slices.IndexFunc(all, func(a ActivityView) bool { return a.ID == after })
		all = all[k+1:]
	}
	if len(all) > limit {
		return all[:limit], token(all[limit-1].ID), nil
	}
	return all, "", nil
}

// maxTags is the most tags a group may have, as AWS's quota.
const maxTags = 50

// checkTags checks tags as Auto Scaling does: a key of 1 to 128
// characters not starting with aws:, a value of at most 256.
func checkTags(tags []openami.GroupTag) error {
	for _, t := range tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return param.Breaks("TagKey", t.Key, "must have length between 1 and 128")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return validationf("Tag keys starting with 'aws:' are reserved for internal use")
		case len(t.Value) > 256:
			return param.Breaks("TagValue", "", "must have length less than or equal to 256")
		}
	}
	return nil
}

// mergeGroupTags returns tags with add over them, key by key, in key
// order.
func mergeGroupTags(tags, add []openami.GroupTag) []openami.GroupTag {
	out := slices.Clone(tags)
	for _, t := range add {
		if k := slices.IndexFunc(out, func(o openami.GroupTag) bool { return o.Key == t.Key }); k >= 0 {
			out[k] = t
		} else {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b openami.GroupTag) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// GroupTagView is a tag with its group, as DescribeTags shows it.
type GroupTagView struct {
	openami.GroupTag
	Group string
}

// CreateOrUpdateTags sets tags on the caller's groups (Group of each
// names it); a group left with more than maxTags is refused.
func (g *Groups) CreateOrUpdateTags(ctx context.Context, p openami.Principal, tags []GroupTagView) error {
	return g.changeTags(ctx, p, tags, false)
}

// DeleteTags removes tags of the caller's groups by key (and value,
// when given).
func (g *Groups) DeleteTags(ctx context.Context, p openami.Principal, tags []GroupTagView) error {
	return g.changeTags(ctx, p, tags, true)
}

func (g *Groups) changeTags(ctx context.Context, p openami.Principal, tags []GroupTagView, remove bool) error {
	byGroup := map[string][]openami.GroupTag{}
	var order []string
	for _, t := range tags {
		if t.Group == "" {
			return param.Breaks("ResourceID", "", "must have length greater than or equal to 1")
		}
		if !remove {
			if err := checkTags([]openami.GroupTag{t.GroupTag}); err != nil {
				return err
			}
		}
		if _, ok := byGroup[t.Group]; !ok {
			order = append(order, t.Group)
		}
		byGroup[t.Group] = append(byGroup[t.Group], t.GroupTag)
	}
	return g.store.Update(ctx, func(tx metadata.Tx) error {
		for _, name := range order {
			grp, err := g.group(tx, p, name)
			if err != nil {
				return err
			}
			if remove {
				grp.Tags = slices.DeleteFunc(grp.Tags, func(o openami.GroupTag) bool {
					return slices.ContainsFunc(byGroup[name], func(t openami.GroupTag) bool {
						return t.Key == o.Key && (t.Value == "" || t.Value == o.Value)
					})
				})
			} else {
				grp.Tags = mergeGroupTags(grp.Tags, byGroup[name])
				if len(grp.Tags) > maxTags {
					return openami.Errorf(openami.LimitExceeded, openami.ResourceAutoScalingGroup, "The quota of %d tags for the group %s would be exceeded.", maxTags, name)
				}
			}
			if err := tx.AutoScalingGroups().Put(grp); err != nil {
				return err
			}
		}
		return nil
	})
}

// DescribeTags returns the tags of the caller's groups that pass the
// filters, in (group, key) order, a page at a time.
func (g *Groups) DescribeTags(ctx context.Context, p openami.Principal, filters []Filter, pg Page) ([]GroupTagView, string, error) {
	if err := checkFilters(filters, ByGroupName, ByTagKey, ByTagValue, ByPropagate); err != nil {
		return nil, "", err
	}
	limit, after, err := pg.bounds(defaultRecords)
	if err != nil {
		return nil, "", err
	}
	var all []GroupTagView
	err = g.store.View(ctx, func(tx metadata.Tx) error {
		all = nil
		grps, err := tx.AutoScalingGroups().List(p.Region, p.AccountID, "", 0)
		if err != nil {
			return err
		}
		for _, grp := range grps {
		tags:
			for _, t := range grp.Tags {
				for _, f := range filters {
					var v string
					switch f.By {
					case ByGroupName:
						v = grp.Name
					case ByTagKey:
						v = t.Key
					case ByTagValue:
						v = t.Value
					case ByPropagate:
						v = "false"
						if t.PropagateAtLaunch {
							v = "true"
						}
					}
					if !slices.Contains(f.Values, v) {
						continue tags
					}
				}
				if key := grp.Name + "\x00" + t.Key; key > after {
					all = append(all, GroupTagView{GroupTag: t, Group: grp.Name})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(all) > limit {
		last := all[limit-1]
		return all[:limit], token(last.Group + "\x00" + last.Key), nil
	}
	return all, "", nil
}
