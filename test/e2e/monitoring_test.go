package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// TestMonitorInstancesSDK: through the SDK, MonitorInstances answers
// pending and the instance's Monitoring.State is then enabled (and
// monitoring-state finds it); UnmonitorInstances answers disabling, then
// disabled; two unknown ids are both named in InvalidInstanceID.NotFound.
func TestMonitorInstancesSDK(t *testing.T) {
	ctx := context.Background()
	s := start(t, "sqlite")
	c := s.account(t, "mon")
	e := s.ec2(c, "us-east-1")
	img := registerTestImage(t, s, e, c, "mon")
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	state := func() types.MonitoringState {
		d, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return d.Reservations[0].Instances[0].Monitoring.State
	}
	if got := state(); got != types.MonitoringStateDisabled {
		t.Fatalf("a new instance's monitoring: %s", got)
	}
	mon, err := e.MonitorInstances(ctx, &ec2.MonitorInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(mon.InstanceMonitorings) != 1 || aws.ToString(mon.InstanceMonitorings[0].InstanceId) != id ||
		mon.InstanceMonitorings[0].Monitoring.State != types.MonitoringStatePending {
		t.Fatalf("MonitorInstances: %+v, %v", mon, err)
	}
	if got := state(); got != types.MonitoringStateEnabled {
		t.Fatalf("after MonitorInstances: %s", got)
	}
	d, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("monitoring-state"), Values: []string{"enabled"}}}})
	if err != nil || len(d.Reservations) != 1 {
		t.Fatalf("monitoring-state enabled: %+v, %v", d, err)
	}
	un, err := e.UnmonitorInstances(ctx, &ec2.UnmonitorInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(un.InstanceMonitorings) != 1 || un.InstanceMonitorings[0].Monitoring.State != types.MonitoringStateDisabling {
		t.Fatalf("UnmonitorInstances: %+v, %v", un, err)
	}
	if got := state(); got != types.MonitoringStateDisabled {
		t.Fatalf("after UnmonitorInstances: %s", got)
	}
	_, err = e.MonitorInstances(ctx, &ec2.MonitorInstancesInput{InstanceIds: []string{"i-0000000000000000a", "i-0000000000000000b"}})
	var ae smithy.APIError
	if !errorsAs(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" ||
		ae.ErrorMessage() != "The instance IDs 'i-0000000000000000a, i-0000000000000000b' do not exist" {
		t.Errorf("two unknown instances: %v", err)
	}
}
