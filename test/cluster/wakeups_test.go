package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestHostWakeUps: serve on PostgreSQL wakes hosts across nodes. An API
// node and a host (`--host`, a heartbeat of 10 min: it beats every
// 200 s); an instance launched through the API node runs, and then
// stops, well before the host's worker would pass on its own (30 s).
func TestHostWakeUps(t *testing.T) {
	c := Start(t, Options{Nodes: 2, Args: func(i int) []string {
		if i == 1 {
			return []string{"--host", "--host-ttl", "10m", "--host-vcpus", "8", "--host-memory", "8GiB"}
		}
		return nil
	}})
	ctx := context.Background()
	alice := c.Account(t, "alice")
	api := c.Nodes[0].EC2(alice)

	start, err := c.Nodes[0].EBS(alice).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	snap := *start.SnapshotId
	putBlock(t, c.Nodes[0].EBS(alice), snap, 0, randomBlock())
	if _, err := c.Nodes[0].EBS(alice).CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: &snap, ChangedBlocksCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, api, snap)
	img, err := api.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("woken"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(snap)})
	if err != nil {
		t.Fatal(err)
	}
	run, err := api.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: img.ImageId, InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	waitState := func(want types.InstanceStateName) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
			if err != nil {
				t.Fatal(err)
			}
			i := out.Reservations[0].Instances[0]
			if i.State.Name == want {
				if want == types.InstanceStateNameRunning && aws.ToString(i.Placement.HostId) == "" {
					t.Errorf("%s is placed on no host", id)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, not %s, 10 s on: the host was not woken", id, i.State.Name, want)
			}
		}
	}
	waitState(types.InstanceStateNameRunning)
	if _, err := api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitState(types.InstanceStateNameStopped)
	for _, n := range c.Nodes {
		if errs := n.Errors(); len(errs) > 0 {
			t.Errorf("node %d logged errors: %q", n.Index, errs)
		}
	}
}
