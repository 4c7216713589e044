package autoscaling

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
)

// newGroup makes the group "g" of the template over zones us-east-1a and
// us-east-1b, with a propagated and a kept tag.
func (f *fixture) newGroup(t *testing.T, lt string, minSize, maxSize, desired int) {
	t.Helper()
	err := f.groups.CreateAutoScalingGroup(context.Background(), f.p, GroupInput{Name: "g", Template: &TemplateSpec{ID: lt, Version: "$Latest"},
		MinSize: intp(minSize), MaxSize: intp(maxSize), DesiredCapacity: intp(desired), Zones: []string{"us-east-1a", "us-east-1b"},
		Tags: []openami.GroupTag{{Key: "team", Value: "a", PropagateAtLaunch: true}, {Key: "cost", Value: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
}

// inService returns the group's instances in service, by zone.
func inService(grp openami.AutoScalingGroup) map[string][]openami.GroupInstance {
	out := map[string][]openami.GroupInstance{}
	for _, m := range grp.Instances {
		if m.LifecycleState == openami.LifecycleInService {
			out[m.Zone] = append(out[m.Zone], m)
		}
	}
	return out
}

func count(by map[string][]openami.GroupInstance) int {
	n := 0
	for _, ms := range by {
		n += len(ms)
	}
	return n
}

func TestScaleUpAndDown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 1, 4, 2)
	f.pass(t)
	grp := f.group(t, "g")
	by := inService(grp)
	if len(grp.Instances) != 2 || len(by["us-east-1a"]) != 1 || len(by["us-east-1b"]) != 1 {
		t.Fatalf("after a pass: %+v", grp.Instances)
	}
	i := f.instance(t, grp.Instances[0].InstanceID)
	tags := map[string]string{}
	for _, tg := range i.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags[TagGroupName] != "g" || tags["team"] != "a" || tags["cost"] != "" || tags["aws:ec2launchtemplate:id"] != lt {
		t.Errorf("instance tags %v", i.Tags)
	}
	if i.State != openami.InstanceRunning {
		t.Errorf("instance %s", i.State)
	}
	acts, _, err := f.groups.DescribeScalingActivities(ctx, f.p, "g", nil, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].StatusCode != openami.ActivitySuccessful || !strings.Contains(acts[0].Cause, "increasing the capacity from 0 to 2") ||
		!strings.HasPrefix(acts[0].Description, "Launching a new EC2 instance: i-") {
		t.Errorf("activities %+v", acts)
	}

	if err := f.groups.SetDesiredCapacity(ctx, f.p, "g", 5); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("desired above max: %v", err)
	}
	if err := f.groups.SetDesiredCapacity(ctx, f.p, "g", 4); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	by = inService(f.group(t, "g"))
	if len(by["us-east-1a"]) != 2 || len(by["us-east-1b"]) != 2 {
		t.Fatalf("scaled to 4: %v", by)
	}
	if err := f.groups.SetDesiredCapacity(ctx, f.p, "g", 1); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if len(grp.Instances) != 1 || grp.Instances[0].LifecycleState != openami.LifecycleInService {
		t.Fatalf("scaled to 1: %+v", grp.Instances)
	}
	acts, _, _ = f.groups.DescribeScalingActivities(ctx, f.p, "g", nil, Page{})
	terminated := 0
	for _, a := range acts {
		if strings.HasPrefix(a.Description, "Terminating") {
			terminated++
			if a.StatusCode != openami.ActivitySuccessful || !strings.Contains(a.Cause, "shrinking the capacity") {
				t.Errorf("termination %+v", a)
			}
		}
	}
	if terminated != 3 {
		t.Errorf("%d terminations, want 3", terminated)
	}
}

// TestZoneBalance: scale-in takes from the zone with the most instances.
func TestZoneBalance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 0, 6, 3)
	f.pass(t)
	by := inService(f.group(t, "g"))
	if len(by["us-east-1a"]) != 2 || len(by["us-east-1b"]) != 1 {
		t.Fatalf("3 over 2 zones: %v", by)
	}
	if err := f.groups.SetDesiredCapacity(ctx, f.p, "g", 2); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	by = inService(f.group(t, "g"))
	if len(by["us-east-1a"]) != 1 || len(by["us-east-1b"]) != 1 {
		t.Fatalf("2 over 2 zones: %v", by)
	}
}

func TestReplaceTerminatedStoppedImpaired(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 2, 2, 2)
	if err := f.groups.UpdateAutoScalingGroup(ctx, f.p, GroupInput{Name: "g", HealthCheckGracePeriod: intp(300)}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	grp := f.group(t, "g")
	first, second := grp.Instances[0].InstanceID, grp.Instances[1].InstanceID
	// Terminated outside the group: replaced, even within the grace period.
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{first}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if len(grp.Instances) != 2 || grp.Instances[0].InstanceID == first && grp.Instances[1].InstanceID == first {
		t.Fatalf("after an outside termination: %+v", grp.Instances)
	}
	for _, m := range grp.Instances {
		if m.InstanceID == first {
			t.Fatalf("the terminated instance is still in the group: %+v", grp.Instances)
		}
	}
	acts, _, _ := f.groups.DescribeScalingActivities(ctx, f.p, "g", nil, Page{})
	found := false
	for _, a := range acts {
		if a.Description == "Terminating EC2 instance: "+first {
			found = strings.Contains(a.Cause, "EC2 health check indicating it has been terminated or stopped")
		}
	}
	if !found {
		t.Errorf("no health-check activity for %s: %+v", first, acts)
	}
	// Impaired: kept within the grace period, replaced after it.
	f.rt.impair(second)
	f.pass(t)
	if !hasInstance(f.group(t, "g"), second) {
		t.Fatal("impaired instance replaced within the grace period")
	}
	f.clock.Add(301 * time.Second)
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if hasInstance(grp, second) || len(inService(grp)["us-east-1a"])+len(inService(grp)["us-east-1b"]) != 2 {
		t.Fatalf("impaired instance not replaced: %+v", grp.Instances)
	}
	// Stopped outside the group, after the grace period: replaced.
	third := grp.Instances[0].InstanceID
	f.clock.Add(301 * time.Second)
	if _, err := f.machines.StopInstances(ctx, f.p, []string{third}, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if hasInstance(grp, third) || count(inService(grp)) != 2 {
		t.Fatalf("stopped instance not replaced: %+v", grp.Instances)
	}
	if st := f.instance(t, third).State; st != openami.InstanceTerminated {
		t.Errorf("the stopped instance is %s, want terminated", st)
	}
}

func hasInstance(grp openami.AutoScalingGroup, id string) bool {
	for _, m := range grp.Instances {
		if m.InstanceID == id {
			return true
		}
	}
	return false
}

func TestTerminateInstanceInGroup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 1, 3, 2)
	f.pass(t)
	grp := f.group(t, "g")
	a, err := f.groups.TerminateInstanceInAutoScalingGroup(ctx, f.p, grp.Instances[0].InstanceID, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.StatusCode != openami.ActivityInProgress || !strings.Contains(a.Cause, "shrinking the capacity from 2 to 1") {
		t.Errorf("activity %+v", a)
	}
	var e *openami.Error
	if _, err := f.groups.TerminateInstanceInAutoScalingGroup(ctx, f.p, grp.Instances[1].InstanceID, true); !errors.As(err, &e) ||
		e.Class != openami.InvalidParameter || e.Field != "ShouldDecrement" || e.Detail != "1" {
		t.Errorf("below min size: %v", err)
	}
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if grp.DesiredCapacity != 1 || len(grp.Instances) != 1 {
		t.Fatalf("after decrement: %d %+v", grp.DesiredCapacity, grp.Instances)
	}
	// Without decrement: replaced.
	old := grp.Instances[0].InstanceID
	if _, err := f.groups.TerminateInstanceInAutoScalingGroup(ctx, f.p, old, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	grp = f.group(t, "g")
	if len(grp.Instances) != 1 || grp.Instances[0].InstanceID == old || grp.Instances[0].LifecycleState != openami.LifecycleInService {
		t.Fatalf("after terminate without decrement: %+v", grp.Instances)
	}
}

func TestGroupRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 1, 3, 1)
	for _, c := range []struct {
		what  string
		in    GroupInput
		class openami.Class
	}{
		{"duplicate", GroupInput{Name: "g", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.Duplicate},
		{"min above max", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(2), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"desired above max", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), DesiredCapacity: intp(2), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"no template", GroupInput{Name: "h", MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.MissingParameter},
		{"missing template", GroupInput{Name: "h", Template: &TemplateSpec{ID: "lt-0123456789abcdef0"}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"missing version", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt, Version: "7"}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"no zone", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1)}, openami.InvalidParameter},
		{"bad zone", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1z"}}, openami.InvalidParameter},
		{"bad subnet", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), Subnets: []string{"subnet-0123456789abcdef0"}}, openami.InvalidParameter},
		{"no min", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.MissingParameter},
		{"negative min", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(-1), MaxSize: intp(1), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"negative grace", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), HealthCheckGracePeriod: intp(-1), Zones: []string{"us-east-1a"}}, openami.InvalidParameter},
		{"aws: tag", GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}, Tags: []openami.GroupTag{{Key: "aws:x"}}}, openami.InvalidParameter},
	} {
		if err := f.groups.CreateAutoScalingGroup(ctx, f.p, c.in); openami.ClassOf(err) != c.class {
			t.Errorf("%s: %v, want %v", c.what, err, c.class)
		}
	}
	grps, _, _ := f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{})
	if len(grps) != 1 {
		t.Errorf("refusals made groups: %d", len(grps))
	}
	// The refusals carry values, which api/autoscaling words.
	var e *openami.Error
	err := f.groups.CreateAutoScalingGroup(ctx, f.p, GroupInput{Name: "h", Template: &TemplateSpec{ID: "lt-0123456789abcdef0"}, MinSize: intp(0), MaxSize: intp(1), Zones: []string{"us-east-1a"}})
	if !errors.As(err, &e) || e.Field != "Template" || openami.ClassOf(e.Err) != openami.NotFound {
		t.Errorf("missing template: %+v", err)
	}
	err = f.groups.CreateAutoScalingGroup(ctx, f.p, GroupInput{Name: "h", Template: &TemplateSpec{ID: lt}, MinSize: intp(0), MaxSize: intp(1), DesiredCapacity: intp(-2), Zones: []string{"us-east-1a"}})
	if !errors.As(err, &e) || e.Field != "DesiredCapacity" || e.Value != "-2" || e.Reason != openami.ReasonConstraint {
		t.Errorf("negative desired: %+v", err)
	}
}

// TestDelete: a group with an activity in progress, then with
// instances, is refused; forced, its instances go and then the group.
func TestDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app"))
	f.newGroup(t, lt, 1, 3, 2)
	f.pass(t)
	grp := f.group(t, "g")
	if _, err := f.groups.TerminateInstanceInAutoScalingGroup(ctx, f.p, grp.Instances[0].InstanceID, false); err != nil {
		t.Fatal(err)
	}
	rulestest.WantClass(t, "delete in progress", f.groups.DeleteAutoScalingGroup(ctx, f.p, "g", false), openami.IncorrectState, openami.ResourceAutoScalingGroup)
	f.pass(t)
	f.pass(t)
	rulestest.WantClass(t, "delete with instances", f.groups.DeleteAutoScalingGroup(ctx, f.p, "g", false), openami.InUse, openami.ResourceAutoScalingGroup)
	grp = f.group(t, "g")
	if len(grp.Instances) != 2 {
		t.Fatalf("refused deletes changed the group: %+v", grp.Instances)
	}
	if err := f.groups.DeleteAutoScalingGroup(ctx, f.p, "g", true); err != nil {
		t.Fatal(err)
	}
	rulestest.WantClass(t, "set desired while deleting", f.groups.SetDesiredCapacity(ctx, f.p, "g", 1), openami.IncorrectState, openami.ResourceAutoScalingGroup)
	f.pass(t)
	f.pass(t)
	grps, _, _ := f.groups.DescribeAutoScalingGroups(ctx, f.p, nil, nil, Page{})
	if len(grps) != 0 {
		t.Fatalf("forced delete left %+v", grps)
	}
	for _, m := range grp.Instances {
		if st := f.instance(t, m.InstanceID).State; st != openami.InstanceTerminated {
			t.Errorf("instance %s of the deleted group is %s", m.InstanceID, st)
		}
	}
	// An empty group goes at once.
	f.newGroup(t, lt, 0, 3, 0)
	if err := f.groups.DeleteAutoScalingGroup(ctx, f.p, "g", false); err != nil {
		t.Fatal(err)
	}
	rulestest.WantClass(t, "deleted twice", f.groups.DeleteAutoScalingGroup(ctx, f.p, "g", false), openami.NotFound, openami.ResourceAutoScalingGroup)
}
