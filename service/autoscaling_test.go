package service

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/autoscaling"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/rulestest"
	"github.com/openami/openami/rules/templates"
)

// TestAutoScalingRefreshSurvivesRestart: the worker's passes run a
// group's instance refresh; the service stops mid-refresh, a new one on
// the same store carries it on to every instance on the new image, with
// no instance launched twice.
func TestAutoScalingRefreshSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir0 := t.TempDir()
	clock := rulestest.NewClock(time.Now())
	f := newFixture(t, dir0, clock)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	image := func(name string) string {
		id, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
			BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	img1, img2 := image("fleet-1"), image("fleet-2")
	lt, err := f.svc.Templates().CreateLaunchTemplate(ctx, f.p, templates.CreateInput{LaunchTemplateName: "fleet",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img1, InstanceType: "t3.micro"}})
	if err != nil {
		t.Fatal(err)
	}
	three := 3
	if err := f.svc.AutoScaling().CreateAutoScalingGroup(ctx, f.p, autoscaling.GroupInput{Name: "g", Template: &autoscaling.TemplateSpec{ID: lt.ID, Version: "$Latest"},
		MinSize: &three, MaxSize: &three, Zones: []string{"us-east-1a", "us-east-1b"}}); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	f.svc.completions.pass(ctx)
	if _, err := f.svc.Templates().CreateLaunchTemplateVersion(ctx, f.p, templates.VersionInput{TemplateID: lt.ID, SourceVersion: "1",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img2}}); err != nil {
		t.Fatal(err)
	}
	half, warm := 50, 60
	id, err := f.svc.AutoScaling().StartInstanceRefresh(ctx, f.p, autoscaling.RefreshInput{Group: "g", MinHealthy: &half, InstanceWarmup: &warm})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx) // the first batch out, its replacement launched
	f.svc.Close()
	f.store.Close()

	g := newFixture(t, dir0, clock)
	defer g.svc.Close()
	status := ""
	for k := 0; k < 20 && status != openami.RefreshSuccessful; k++ {
		clock.Add(61 * time.Second)
		g.svc.completions.pass(ctx)
		rs, err := g.svc.AutoScaling().DescribeInstanceRefreshes(ctx, g.p, "g", []string{id})
		if err != nil {
			t.Fatal(err)
		}
		status = rs[0].Status
	}
	if status != openami.RefreshSuccessful {
		t.Fatalf("refresh after the restart: %s", status)
	}
	live, err := g.svc.Instances().InstanceStatuses(ctx, g.p, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 3 {
		t.Fatalf("%d live instances, want 3", len(live))
	}
	for _, i := range live {
		if i.ImageID != img2 {
			t.Errorf("%s runs %s, want %s", i.ID, i.ImageID, img2)
		}
	}
}
