package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
)

// The worker comes back for Auto Scaling work in flight within 100 ms
// here, not 2 s: the tests wait for groups to settle.
func init() { service.AutoScalingInterval = 100 * time.Millisecond }

// autoscaling returns an Auto Scaling client for the credentials.
func (s *server) autoscaling(c identity.Credentials) *autoscaling.Client {
	return autoscaling.NewFromConfig(s.awsConfig(c, "us-east-1"))
}

// waitGroup polls the group until ok says it has settled, failing the
// test after a minute.
func waitGroup(t *testing.T, a *autoscaling.Client, name, what string, ok func(astypes.AutoScalingGroup) bool) astypes.AutoScalingGroup {
	t.Helper()
	var last astypes.AutoScalingGroup
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, err := a.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.AutoScalingGroups) == 1 {
			last = out.AutoScalingGroups[0]
			if ok(last) {
				return last
			}
		} else if ok(astypes.AutoScalingGroup{}) {
			return astypes.AutoScalingGroup{}
		}
	}
	t.Fatalf("group %s never %s: %+v", name, what, last)
	return last
}

// inService reports whether the group has n instances, all in service.
func inService(n int) func(astypes.AutoScalingGroup) bool {
	return func(g astypes.AutoScalingGroup) bool {
		if len(g.Instances) != n {
			return false
		}
		for _, i := range g.Instances {
			if i.LifecycleState != astypes.LifecycleStateInService {
				return false
			}
		}
		return true
	}
}

// TestAutoScalingSDK: a group of 2 from a launch template, spread over
// two zones; scaled to 3; an instance terminated outside the group is
// replaced; a new template version with another image rolled out by an
// instance refresh; the refusals with Auto Scaling's codes; a forced
// delete.
func TestAutoScalingSDK(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "scaler")
		e := s.ec2(c, "us-east-1")
		a := s.autoscaling(c)
		img1 := registerTestImage(t, s, e, c, "fleet-1")
		img2 := registerTestImage(t, s, e, c, "fleet-2")
		lt, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("fleet"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(img1), InstanceType: types.InstanceTypeT3Micro}})
		if err != nil {
			t.Fatal(err)
		}
		ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
		_, err = a.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("web"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")},
			MinSize:        aws.Int32(1), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2),
			AvailabilityZones: []string{"us-east-1a", "us-east-1b"}, HealthCheckGracePeriod: aws.Int32(0),
			Tags: []astypes.Tag{{Key: aws.String("team"), Value: aws.String("a"), PropagateAtLaunch: aws.Bool(true)}}})
		if err != nil {
			t.Fatal(err)
		}
		g := waitGroup(t, a, "web", "had 2 in service", inService(2))
		if aws.ToString(g.Instances[0].AvailabilityZone) == aws.ToString(g.Instances[1].AvailabilityZone) {
			t.Errorf("both instances in one zone: %+v", g.Instances)
		}
		if aws.ToString(g.LaunchTemplate.LaunchTemplateName) != "fleet" || aws.ToString(g.LaunchTemplate.Version) != "$Latest" {
			t.Errorf("launch template %+v", g.LaunchTemplate)
		}
		ds, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{aws.ToString(g.Instances[0].InstanceId)}})
		if err != nil {
			t.Fatal(err)
		}
		if tags := ds.Reservations[0].Instances[0].Tags; tagOf(tags, "aws:autoscaling:groupName") != "web" || tagOf(tags, "team") != "a" {
			t.Errorf("instance tags %+v", tags)
		}

		_, err = a.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("web"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID)},
			MinSize:        aws.Int32(0), MaxSize: aws.Int32(1), AvailabilityZones: []string{"us-east-1a"}})
		wantCode(t, err, "AlreadyExists")
		_, err = a.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(9)})
		wantCode(t, err, "ValidationError")

		if _, err := a.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(3)}); err != nil {
			t.Fatal(err)
		}
		g = waitGroup(t, a, "web", "had 3 in service", inService(3))

		// Terminated outside the group: replaced.
		gone := aws.ToString(g.Instances[0].InstanceId)
		if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{gone}}); err != nil {
			t.Fatal(err)
		}
		waitGroup(t, a, "web", "replaced "+gone, func(g astypes.AutoScalingGroup) bool {
			for _, i := range g.Instances {
				if aws.ToString(i.InstanceId) == gone {
					return false
				}
			}
			return inService(3)(g)
		})
		acts, err := a.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, act := range acts.Activities {
			found = found || aws.ToString(act.Description) == "Terminating EC2 instance: "+gone && act.StatusCode == astypes.ScalingActivityStatusCodeSuccessful
		}
		if !found || len(acts.Activities) < 5 {
			t.Errorf("activities %+v", acts.Activities)
		}

		// A new version with another image, rolled out.
		if _, err := e.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID),
			SourceVersion: aws.String("1"), LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(img2)}}); err != nil {
			t.Fatal(err)
		}
		ref, err := a.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("web"),
			Preferences: &astypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(0)}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("web")})
		wantCode(t, err, "InstanceRefreshInProgress")
		var status astypes.InstanceRefreshStatus
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && status != astypes.InstanceRefreshStatusSuccessful; time.Sleep(100 * time.Millisecond) {
			rs, err := a.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web"),
				InstanceRefreshIds: []string{aws.ToString(ref.InstanceRefreshId)}})
			if err != nil {
				t.Fatal(err)
			}
			status = rs.InstanceRefreshes[0].Status
			if status == astypes.InstanceRefreshStatusSuccessful && aws.ToInt32(rs.InstanceRefreshes[0].PercentageComplete) != 100 {
				t.Errorf("done at %d%%", aws.ToInt32(rs.InstanceRefreshes[0].PercentageComplete))
			}
		}
		if status != astypes.InstanceRefreshStatusSuccessful {
			t.Fatalf("refresh %s", status)
		}
		g = waitGroup(t, a, "web", "had 3 in service", inService(3))
		var ids []string
		for _, i := range g.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		ds, err = e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ds.Reservations {
			for _, i := range r.Instances {
				if aws.ToString(i.ImageId) != img2 {
					t.Errorf("%s runs %s after the refresh, want %s", aws.ToString(i.InstanceId), aws.ToString(i.ImageId), img2)
				}
			}
		}

		_, err = a.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("web")})
		wantCode(t, err, "ResourceInUse")
		if _, err := a.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("web"), ForceDelete: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		waitGroup(t, a, "web", "went", func(g astypes.AutoScalingGroup) bool { return g.AutoScalingGroupName == nil })
		ds, err = e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ds.Reservations {
			for _, i := range r.Instances {
				if i.State.Name != types.InstanceStateNameTerminated {
					t.Errorf("%s is %s after the forced delete", aws.ToString(i.InstanceId), i.State.Name)
				}
			}
		}
	})
}

// TestAutoScalingCLI: the aws CLI makes a group over subnets, reads it,
// its instances and activities, and deletes it with --force-delete.
func TestAutoScalingCLI(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.account(t, "cli-scaler")
	e := s.ec2(c, "us-east-1")
	img := registerTestImage(t, s, e, c, "cli-fleet")
	runCLI(t, s, c, "ec2", "create-launch-template", "--launch-template-name", "cli", "--launch-template-data",
		`{"ImageId":"`+img+`","InstanceType":"t3.micro"}`)
	subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}})
	if err != nil || len(subnets.Subnets) < 2 {
		t.Fatalf("default subnets: %+v %v", subnets, err)
	}
	vpcZones := aws.ToString(subnets.Subnets[0].SubnetId) + "," + aws.ToString(subnets.Subnets[1].SubnetId)
	runCLI(t, s, c, "autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "cli", "--launch-template",
		"LaunchTemplateName=cli,Version=$Default", "--min-size", "2", "--max-size", "2", "--vpc-zone-identifier", vpcZones)
	g := waitGroup(t, s.autoscaling(c), "cli", "had 2 in service", inService(2))
	if aws.ToString(g.VPCZoneIdentifier) != vpcZones || aws.ToString(g.Instances[0].AvailabilityZone) == aws.ToString(g.Instances[1].AvailabilityZone) {
		t.Errorf("group %+v", g)
	}
	out := runCLI(t, s, c, "autoscaling", "describe-auto-scaling-instances")
	if is, _ := out["AutoScalingInstances"].([]any); len(is) != 2 || is[0].(map[string]any)["HealthStatus"] != "HEALTHY" {
		t.Errorf("describe-auto-scaling-instances: %v", out)
	}
	out = runCLI(t, s, c, "autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", "cli")
	if as, _ := out["Activities"].([]any); len(as) != 2 {
		t.Errorf("describe-scaling-activities: %v", out)
	}
	_, err = runCLIErr(t, s, c, "autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name", "cli")
	wantCLICode(t, err, "ResourceInUse")
	runCLI(t, s, c, "autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name", "cli", "--force-delete")
	waitGroup(t, s.autoscaling(c), "cli", "went", func(g astypes.AutoScalingGroup) bool { return g.AutoScalingGroupName == nil })
}

// TestTerraformAutoScalingGroup applies aws_autoscaling_group over an
// aws_launch_template with real Terraform and the AWS provider: the
// group reaches its desired capacity, scales when desired_capacity
// changes, rolls onto a new image when the template changes (the
// instance_refresh block) and then plans without drift; destroy removes
// it. (Each terraform command starts the provider several times, seconds
// each on a busy machine: the test plans once.)
func TestTerraformAutoScalingGroup(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	e := s.ec2(s.admin, "us-east-1")
	a := s.autoscaling(s.admin)
	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "autoscaling", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	img1 := registerTestImage(t, s, e, s.admin, "tf-fleet-1")
	img2 := registerTestImage(t, s, e, s.admin, "tf-fleet-2")
	vars := map[string]any{"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey,
		"image_id": img1, "desired_capacity": 2}
	x.vars(vars)
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	name := str(t, x.outputs(), "group_name")
	waitGroup(t, a, name, "had 2 in service", inService(2))

	vars["desired_capacity"] = 3
	x.vars(vars)
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	waitGroup(t, a, name, "had 3 in service", inService(3))

	vars["image_id"] = img2
	x.vars(vars)
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	onImage := func(g astypes.AutoScalingGroup) bool {
		if !inService(3)(g) {
			return false
		}
		var ids []string
		for _, i := range g.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		ds, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ds.Reservations {
			for _, i := range r.Instances {
				if aws.ToString(i.ImageId) != img2 {
					return false
				}
			}
		}
		return true
	}
	waitGroup(t, a, name, "rolled onto "+img2, onImage)
	x.noDrift()

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	waitGroup(t, a, name, "went", func(g astypes.AutoScalingGroup) bool { return g.AutoScalingGroupName == nil })
}
