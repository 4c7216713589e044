package instances

import (
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/templates"
)

// TestDescribeInstanceStatusFilters: DescribeInstanceStatus narrows by
// state name and by the status checks, pages in id order with
// MaxResults, and refuses MaxResults with instance ids and unknown names.
func TestDescribeInstanceStatusFilters(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := f.image(t, "status")
	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 6, MaxCount: 6})
	if err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	stopped := r.Instances[0].ID
	if _, err := f.machines.StopInstances(ctx, f.p, []string{stopped}, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	ids := func(list []InstanceStatus) []string {
		var out []string
		for _, i := range list {
			out = append(out, i.ID)
		}
		return out
	}
	list, _, err := f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, []filter.Filter{{Name: string(AttrInstanceState), Values: []string{"stopped"}}}, Page{})
	if err != nil || len(list) != 1 || list[0].ID != stopped {
		t.Fatalf("instance-state-name stopped: %v, %v", ids(list), err)
	}
	list, _, err = f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, []filter.Filter{{Name: string(AttrStatusInstance), Values: []string{"ok"}},
		{Name: string(AttrStatusSystem), Values: []string{"ok"}}}, Page{})
	if err != nil || len(list) != 5 {
		t.Fatalf("instance-status.status and system-status.status ok: %v, %v", ids(list), err)
	}
	list, _, err = f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, []filter.Filter{{Name: string(AttrStatusEvent), Values: []string{"*"}}}, Page{})
	if err != nil || len(list) != 0 {
		t.Fatalf("event filters: %v, %v", ids(list), err)
	}
	first, next, err := f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, nil, Page{MaxResults: 5})
	if err != nil || len(first) != 5 || next == "" {
		t.Fatalf("first page: %v, %q, %v", ids(first), next, err)
	}
	rest, next, err := f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, nil, Page{MaxResults: 5, NextToken: next})
	if err != nil || len(rest) != 1 || next != "" || rest[0].ID <= first[4].ID {
		t.Fatalf("second page: %v, %q, %v", ids(rest), next, err)
	}
	_, _, err = f.machines.DescribeInstanceStatus(ctx, f.p, []string{stopped}, true, nil, Page{MaxResults: 5})
	wantClass(t, "ids with MaxResults", err, openami.InvalidCombination, openami.ResourceInstance)
	_, _, err = f.machines.DescribeInstanceStatus(ctx, f.p, nil, true, []filter.Filter{{Name: "nope", Values: []string{"x"}}}, Page{})
	wantClass(t, "an unknown filter", err, openami.InvalidParameter, openami.ResourceFilter)
}

// TestDescribeInstancesSourceDestCheckFilter: source-dest-check is "true"
// until ModifyInstanceAttribute turns it off; monitoring-state is
// "disabled".
func TestDescribeInstancesSourceDestCheckFilter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	i := f.launch(t, "sdc")
	count := func(a filter.Attr, v string) int {
		rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, []filter.Filter{{Name: string(a), Values: []string{v}}}, nil, Page{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			n += len(r.Instances)
		}
		return n
	}
	if count(AttrInstanceSourceDestCheck, "true") != 1 || count(AttrInstanceSourceDestCheck, "false") != 0 || count(AttrInstanceMonitoring, "disabled") != 1 {
		t.Fatal("a new instance: source-dest-check not true, or monitoring-state not disabled")
	}
	off := false
	if err := f.machines.ModifyInstanceAttribute(ctx, f.p, ModifyInstanceAttributeInput{InstanceID: i.ID, SourceDestCheck: &off}); err != nil {
		t.Fatal(err)
	}
	if count(AttrInstanceSourceDestCheck, "false") != 1 || count(AttrInstanceSourceDestCheck, "true") != 0 {
		t.Fatal("after turning it off, source-dest-check is not false")
	}
}

// TestRunInstancesMonitoring: Monitoring.Enabled is recorded and is the
// instance's monitoring-state.
func TestRunInstancesMonitoring(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: f.image(t, "mon"), InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, Monitoring: true})
	if err != nil {
		t.Fatal(err)
	}
	if !f.instance(t, r.Instances[0].ID).Monitored {
		t.Fatal("Monitoring.Enabled not recorded")
	}
	rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, []filter.Filter{{Name: string(AttrInstanceMonitoring), Values: []string{"enabled"}}}, nil, Page{})
	if err != nil || len(rs) != 1 || len(rs[0].Instances) != 1 {
		t.Fatalf("monitoring-state enabled: %+v, %v", rs, err)
	}
	// A launch template's Monitoring.Enabled is recorded alike.
	yes := true
	lt, err := f.machines.templates.CreateLaunchTemplate(ctx, f.p, templates.CreateInput{LaunchTemplateName: "mon",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: f.image(t, "mon2"), InstanceType: "t3.micro", Monitoring: &yes}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &templates.Ref{ID: lt.ID}})
	if err != nil || !f.instance(t, r.Instances[0].ID).Monitored {
		t.Fatalf("from a template with monitoring: %v", err)
	}
}
