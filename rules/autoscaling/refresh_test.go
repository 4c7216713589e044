package autoscaling

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
)

// ready counts the group's instances ready for a refresh (in service,
// healthy, warmed up by warm at now).
func readyCount(grp openami.AutoScalingGroup, warm time.Duration, now time.Time) int {
	n := 0
	for _, m := range grp.Instances {
		if ready(m, warm, now) {
			n++
		}
	}
	return n
}

// refreshFixture is a group of 4 on version 1 of a template, in service
// and warm, with a version 2 of another image; it returns the new image.
func refreshFixture(t *testing.T) (*fixture, string) {
	f := newFixture(t, nil)
	lt := f.template(t, f.image(t, "app-v1"))
	f.newGroup(t, lt, 1, 4, 4)
	f.pass(t)
	f.clock.Add(time.Hour)
	if n := count(inService(f.group(t, "g"))); n != 4 {
		t.Fatalf("%d in service", n)
	}
	img := f.image(t, "app-v2")
	f.newVersion(t, lt, img)
	return f, img
}

// TestRefreshMinHealthy: at 50% of 4 with a 60 s warm-up, the refresh
// replaces two at a time, never leaves fewer than two ready, waits for
// the warm-up between batches, and ends with every instance on the new
// image, Successful at 100%.
func TestRefreshMinHealthy(t *testing.T) {
	ctx := context.Background()
	f, img := refreshFixture(t)
	id, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(50), InstanceWarmup: intp(60)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g"}); openami.ClassOf(err) != openami.Duplicate {
		t.Errorf("a second refresh: %v", err)
	}
	warm := 60 * time.Second
	for k := 0; k < 20; k++ {
		f.pass(t)
		grp := f.group(t, "g")
		if n := readyCount(grp, warm, f.clock.Now()); n < 2 {
			t.Fatalf("pass %d: %d ready, below 50%% of 4", k, n)
		}
		rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", []string{id})
		if rs[0].Status == openami.RefreshSuccessful {
			if rs[0].PercentageComplete != 100 || rs[0].InstancesToUpdate != 0 {
				t.Errorf("done: %+v", rs[0])
			}
			break
		}
		if rs[0].Status != openami.RefreshInProgress {
			t.Fatalf("pass %d: %+v", k, rs[0])
		}
		// Within the warm-up nothing more is replaced.
		before := grp.Instances
		f.clock.Add(30 * time.Second)
		f.pass(t)
		if terminating(f.group(t, "g")) > terminating(openami.AutoScalingGroup{Instances: before}) {
			t.Fatalf("pass %d: a batch started within the warm-up", k)
		}
		f.clock.Add(31 * time.Second)
	}
	grp := f.group(t, "g")
	if len(grp.Instances) != 4 {
		t.Fatalf("after the refresh: %+v", grp.Instances)
	}
	for _, m := range grp.Instances {
		if m.TemplateVersion != 2 || f.instance(t, m.InstanceID).ImageID != img || m.LifecycleState != openami.LifecycleInService {
			t.Errorf("instance after the refresh: %+v", m)
		}
	}
	rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", nil)
	if len(rs) != 1 || rs[0].Status != openami.RefreshSuccessful {
		t.Fatalf("refreshes %+v", rs)
	}
}

func terminating(grp openami.AutoScalingGroup) int {
	n := 0
	for _, m := range grp.Instances {
		if m.LifecycleState == openami.LifecycleTerminating {
			n++
		}
	}
	return n
}

// TestRefresh100: at 100% the refresh replaces one instance at a time.
func TestRefresh100(t *testing.T) {
	ctx := context.Background()
	f, _ := refreshFixture(t)
	if _, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(100), InstanceWarmup: intp(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.groups.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := terminating(f.group(t, "g")); n != 1 {
		t.Fatalf("%d terminating at 100%%, want 1", n)
	}
}

// TestRefreshSkipMatching: instances already on the version stay.
func TestRefreshSkipMatching(t *testing.T) {
	ctx := context.Background()
	f, _ := refreshFixture(t)
	if _, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(0), InstanceWarmup: intp(0)}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		f.pass(t)
	}
	kept := f.group(t, "g").Instances
	id, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", SkipMatching: true})
	if err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", []string{id})
	if rs[0].Status != openami.RefreshSuccessful || rs[0].Total != 0 {
		t.Errorf("matching refresh: %+v", rs[0])
	}
	for _, m := range kept {
		if !hasInstance(f.group(t, "g"), m.InstanceID) {
			t.Errorf("%s replaced though it matched", m.InstanceID)
		}
	}
}

// TestRefreshCancel: a cancelled refresh stops replacing; what it
// replaced stays, the rest keep the old version.
func TestRefreshCancel(t *testing.T) {
	ctx := context.Background()
	f, _ := refreshFixture(t)
	id, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(75), InstanceWarmup: intp(60)})
	if err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	f.pass(t)
	got, err := f.groups.CancelInstanceRefresh(ctx, f.p, "g")
	if err != nil || got != id {
		t.Fatalf("cancel: %q %v", got, err)
	}
	if rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", nil); rs[0].Status != openami.RefreshCancelling {
		t.Errorf("after cancel: %s", rs[0].Status)
	}
	if _, err := f.groups.CancelInstanceRefresh(ctx, f.p, "g"); openami.ClassOf(err) != openami.NotFound {
		t.Errorf("cancel twice: %v", err)
	}
	for range 5 {
		f.clock.Add(61 * time.Second)
		f.pass(t)
	}
	rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", nil)
	if rs[0].Status != openami.RefreshCancelled || rs[0].EndTime.IsZero() {
		t.Fatalf("cancelled: %+v", rs[0])
	}
	grp := f.group(t, "g")
	old, fresh := 0, 0
	for _, m := range grp.Instances {
		switch m.TemplateVersion {
		case 1:
			old++
		case 2:
			fresh++
		}
	}
	if old != 3 || fresh != 1 || count(inService(grp)) != 4 {
		t.Errorf("after cancel: %d old, %d new: %+v", old, fresh, grp.Instances)
	}
	if _, err := f.groups.CancelInstanceRefresh(ctx, f.p, "g"); openami.ClassOf(err) != openami.NotFound {
		t.Errorf("cancel with none running: %v", err)
	}
}

// TestRefreshSurvivesRestart: new rules over the same store (a restart)
// carry on a refresh begun before it, to the end.
func TestRefreshSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	f, img := refreshFixture(t)
	id, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(50), InstanceWarmup: intp(10)})
	if err != nil {
		t.Fatal(err)
	}
	// The first batch decided and launched, not yet seen through.
	if _, err := f.groups.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	f.machines.Wait()
	g := newFixture(t, f.env)
	g.p = f.p
	for range 10 {
		g.clock.Add(11 * time.Second)
		g.pass(t)
	}
	rs, err := g.groups.DescribeInstanceRefreshes(ctx, g.p, "g", []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Status != openami.RefreshSuccessful {
		t.Fatalf("after the restart: %+v", rs[0])
	}
	grp := g.group(t, "g")
	if len(grp.Instances) != 4 {
		t.Fatalf("instances %+v", grp.Instances)
	}
	for _, m := range grp.Instances {
		if g.instance(t, m.InstanceID).ImageID != img {
			t.Errorf("%s not on the new image", m.InstanceID)
		}
	}
	// No instance launched twice: the account has 4 live ones.
	live, err := g.machines.InstanceStatuses(ctx, g.p, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 4 {
		t.Errorf("%d live instances, want 4", len(live))
	}
}

// benchGroup is a fixture with a group of 10 over two zones of a
// template with a version 2 of another image, and the group in service
// when inService.
func benchGroup(b *testing.B, inService bool) *fixture {
	f := newFixture(b, nil)
	lt := f.template(b, f.image(b, "app-v1"))
	if err := f.groups.CreateAutoScalingGroup(context.Background(), f.p, GroupInput{Name: "g", Template: &TemplateSpec{ID: lt, Version: "$Latest"},
		MinSize: intp(0), MaxSize: intp(10), DesiredCapacity: intp(10), Zones: []string{"us-east-1a", "us-east-1b"}}); err != nil {
		b.Fatal(err)
	}
	if inService {
		f.pass(b)
	}
	f.newVersion(b, lt, f.image(b, "app-v2"))
	return f
}

// settle plays worker passes until the group has 10 in service and no
// refresh is active; it returns the passes.
func settle(b *testing.B, f *fixture) int {
	for n := 1; n <= 100; n++ {
		f.clock.Add(time.Second)
		f.pass(b)
		grp := f.group(b, "g")
		if count(inService(grp)) == 10 && len(grp.Instances) == 10 && activeRefresh(&grp) == nil {
			return n
		}
	}
	b.Fatal("the group did not settle in 100 passes")
	return 0
}

// BenchmarkReachCapacity10: a new group of 10 (none runtime) to its
// desired capacity, in worker passes (each: the controller, the
// instances' pass, the controller).
func BenchmarkReachCapacity10(b *testing.B) {
	passes := 0
	for b.Loop() {
		b.StopTimer()
		f := benchGroup(b, false)
		b.StartTimer()
		passes += settle(b, f)
	}
	b.ReportMetric(float64(passes)/float64(b.N), "passes/op")
}

// BenchmarkRefresh10: an instance refresh of 10 onto a new image at
// MinHealthyPercentage 90 (one at a time) with no warm-up.
func BenchmarkRefresh10(b *testing.B) {
	passes := 0
	for b.Loop() {
		b.StopTimer()
		f := benchGroup(b, true)
		if _, err := f.groups.StartInstanceRefresh(context.Background(), f.p, RefreshInput{Group: "g", MinHealthy: intp(90), InstanceWarmup: intp(0)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		passes += settle(b, f)
	}
	b.ReportMetric(float64(passes)/float64(b.N), "passes/op")
}

// TestRefreshLaunchFirst: at MinHealthy 100 and MaxHealthy 150 of 4 the
// refresh launches 2 ahead, never has fewer than 4 ready nor more than
// 6 instances, and ends with 4 on the new image.
func TestRefreshLaunchFirst(t *testing.T) {
	ctx := context.Background()
	f, img := refreshFixture(t)
	if _, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(100), MaxHealthy: intp(100)}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("both 100: %v", err)
	}
	if _, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(10), MaxHealthy: intp(150)}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("more than 100 apart: %v", err)
	}
	id, err := f.groups.StartInstanceRefresh(ctx, f.p, RefreshInput{Group: "g", MinHealthy: intp(100), MaxHealthy: intp(150), InstanceWarmup: intp(30)})
	if err != nil {
		t.Fatal(err)
	}
	warm := 30 * time.Second
	most := 0
	for k := 0; k < 20; k++ {
		f.clock.Add(31 * time.Second)
		f.pass(t)
		grp := f.group(t, "g")
		if n := readyCount(grp, warm, f.clock.Now()); n < 4 {
			t.Fatalf("pass %d: %d ready, below 100%% of 4", k, n)
		}
		most = max(most, len(grp.Instances))
		if len(grp.Instances) > 6 {
			t.Fatalf("pass %d: %d instances, above 150%% of 4", k, len(grp.Instances))
		}
		if rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", []string{id}); rs[0].Status == openami.RefreshSuccessful {
			break
		}
	}
	if most != 6 {
		t.Errorf("at most %d instances, want 6 (2 launched ahead)", most)
	}
	rs, _ := f.groups.DescribeInstanceRefreshes(ctx, f.p, "g", []string{id})
	grp := f.group(t, "g")
	if rs[0].Status != openami.RefreshSuccessful || len(grp.Instances) != 4 {
		t.Fatalf("refresh %s, %d instances", rs[0].Status, len(grp.Instances))
	}
	for _, m := range grp.Instances {
		if f.instance(t, m.InstanceID).ImageID != img {
			t.Errorf("%s not on the new image", m.InstanceID)
		}
	}
}
