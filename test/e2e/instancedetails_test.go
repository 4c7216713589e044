package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestInstanceMetadataOptionsAndStatusFilters: through the SDK,
// ModifyInstanceMetadataOptions answers the settings in force and
// DescribeInstances shows them; DescribeInstanceStatus narrows by
// instance-state-name and instance-status.status.
func TestInstanceMetadataOptionsAndStatusFilters(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "imds")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "imds")
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		id := *run.Instances[0].InstanceId
		running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		mod, err := e.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id),
			HttpTokens: types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2)})
		if err != nil || aws.ToString(mod.InstanceId) != id || mod.InstanceMetadataOptions.HttpTokens != types.HttpTokensStateRequired ||
			aws.ToInt32(mod.InstanceMetadataOptions.HttpPutResponseHopLimit) != 2 {
			t.Fatalf("ModifyInstanceMetadataOptions: %+v, %v", mod, err)
		}
		d, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || d.Reservations[0].Instances[0].MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
			t.Fatalf("DescribeInstances after the change: %v", err)
		}
		count := func(name, value string) int {
			st, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
				Filters: []types.Filter{{Name: aws.String(name), Values: []string{value}}}})
			if err != nil {
				t.Fatalf("DescribeInstanceStatus %s=%s: %v", name, value, err)
			}
			return len(st.InstanceStatuses)
		}
		if count("instance-state-name", "running") != 1 || count("instance-state-name", "stopped") != 0 ||
			count("system-status.status", "ok") != 1 {
			t.Fatal("DescribeInstanceStatus filters do not narrow")
		}
	})
}
