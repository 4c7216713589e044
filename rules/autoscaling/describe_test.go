package autoscaling

import (
	"context"
	"reflect"
	"testing"

	"github.com/openami/openami"
)

func groupNames(grps []openami.AutoScalingGroup) []string {
	var out []string
	for _, g := range grps {
		out = append(out, g.Name)
	}
	return out
}

// TestDescribeFiltersPagesTags: DescribeAutoScalingGroups by names, tag
// filters and pages; CreateOrUpdateTags, DeleteTags and DescribeTags.
func TestDescribeFiltersPagesTags(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.template(t, f.image(t, "app"))
	for _, c := range []struct{ name, team string }{{"a", "x"}, {"b", "y"}, {"c", "x"}} {
		if err := f.groups.CreateAutoScalingGroup(ctx, f.p, GroupInput{Name: c.name, Template: &TemplateSpec{Name: "web"},
			MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}, Tags: []openami.GroupTag{{Key: "team", Value: c.team}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		names   []string
		filters []Filter
		want    []string
	}{
		{nil, nil, []string{"a", "b", "c"}},
		{[]string{"c", "a", "nope"}, nil, []string{"a", "c"}},
		{nil, []Filter{{By: ByTag, Key: "team", Values: []string{"x"}}}, []string{"a", "c"}},
		{nil, []Filter{{By: ByTagValue, Values: []string{"y"}}}, []string{"b"}},
		{nil, []Filter{{By: ByTagKey, Values: []string{"other"}}}, nil},
	} {
		got, _, err := f.groups.DescribeAutoScalingGroups(ctx, f.p, c.names, c.filters, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(groupNames(got), c.want) {
			t.Errorf("names %v filters %+v: %v, want %v", c.names, c.filters, groupNames(got), c.want)
		}
	}
	page, next, err := f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{MaxRecords: 2})
	if err != nil || next == "" || !reflect.DeepEqual(groupNames(page), []string{"a", "b"}) {
		t.Fatalf("first page %v %q %v", groupNames(page), next, err)
	}
	page, next, err = f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{MaxRecords: 2, NextToken: next})
	if err != nil || next != "" || !reflect.DeepEqual(groupNames(page), []string{"c"}) {
		t.Fatalf("second page %v %q %v", groupNames(page), next, err)
	}
	if _, _, err := f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{MaxRecords: 101}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("MaxRecords 101: %v", err)
	}
	if _, _, err := f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{NextToken: "!!"}); openami.ClassOf(err) != openami.InvalidToken {
		t.Errorf("bad token: %v", err)
	}

	if err := f.groups.CreateOrUpdateTags(ctx, f.p, []GroupTagView{{Group: "a", GroupTag: openami.GroupTag{Key: "env", Value: "prod", PropagateAtLaunch: true}},
		{Group: "a", GroupTag: openami.GroupTag{Key: "team", Value: "z"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.groups.CreateOrUpdateTags(ctx, f.p, []GroupTagView{{Group: "a", GroupTag: openami.GroupTag{Key: "aws:x"}}}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("aws: tag: %v", err)
	}
	if err := f.groups.CreateOrUpdateTags(ctx, f.p, []GroupTagView{{Group: "nope", GroupTag: openami.GroupTag{Key: "k"}}}); openami.ClassOf(err) != openami.NotFound {
		t.Errorf("tag of a missing group: %v", err)
	}
	tags, _, err := f.groups.DescribeTags(ctx, f.p, []Filter{{By: ByGroupName, Values: []string{"a"}}}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []GroupTagView{{Group: "a", GroupTag: openami.GroupTag{Key: "env", Value: "prod", PropagateAtLaunch: true}}, {Group: "a", GroupTag: openami.GroupTag{Key: "team", Value: "z"}}}
	if !reflect.DeepEqual(tags, want) {
		t.Errorf("tags of a: %+v", tags)
	}
	tags, _, _ = f.groups.DescribeTags(ctx, f.p, []Filter{{By: ByPropagate, Values: []string{"true"}}}, Page{})
	if len(tags) != 1 || tags[0].Key != "env" {
		t.Errorf("propagated tags: %+v", tags)
	}
	if err := f.groups.DeleteTags(ctx, f.p, []GroupTagView{{Group: "a", GroupTag: openami.GroupTag{Key: "env"}}}); err != nil {
		t.Fatal(err)
	}
	if g := f.group(t, "a"); !reflect.DeepEqual(g.Tags, []openami.GroupTag{{Key: "team", Value: "z"}}) {
		t.Errorf("after DeleteTags: %+v", g.Tags)
	}
}
