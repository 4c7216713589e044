package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/openami/openami/internal/testenv"
)

// hostList is what `openami host list` prints.
type hostList struct {
	Hosts []struct {
		HostId string
		State  string
		Alive  bool
		VCpus  int
	}
}

// TestHostsBinary runs the binary as a compute host on PostgreSQL: it
// registers itself, instances launched through the SDK show it as their
// Placement.HostId, and `openami host list|drain|remove` manage it beside
// the running server (drained: InsufficientInstanceCapacity; remove
// refused while it runs an instance).
func TestHostsBinary(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	dataDir := t.TempDir()
	endpoint, _ := serveBinary(t, "--data-dir", dataDir, "--database", dsn, "--regions", "us-east-1",
		"--host", "--host-vcpus", "4", "--host-memory", "4GiB", "--host-instance-store", "0")
	cli := func(args ...string) ([]byte, error) {
		out, err := exec.Command(binary(t), append(args, "--data-dir", dataDir, "--database", dsn)...).Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Logf("openami %v: %s", args, ee.Stderr)
		}
		return out, err
	}
	out, err := cli("host", "list")
	if err != nil {
		t.Fatal(err)
	}
	var hosts hostList
	if err := json.Unmarshal(out, &hosts); err != nil || len(hosts.Hosts) != 1 {
		t.Fatalf("host list: %s, %v", out, err)
	}
	h := hosts.Hosts[0]
	if !h.Alive || h.State != "active" || h.VCpus != 4 {
		t.Fatalf("the serving host: %+v", h)
	}

	s := &server{URL: endpoint}
	creds := readCredentials(t, dataDir+"/credentials")
	e := s.ec2(creds, "us-east-1")
	img := registerTestImage(t, s, e, creds, "hosted")
	if err := ec2.NewImageAvailableWaiter(e).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	if got := aws.ToString(describeOne(t, e, id).Placement.HostId); got != h.HostId {
		t.Errorf("Placement.HostId = %q, want %q", got, h.HostId)
	}
	filtered, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("host-id"), Values: []string{h.HostId}}}})
	if err != nil || len(filtered.Reservations) != 1 {
		t.Errorf("host-id filter: %+v, %v", filtered, err)
	}

	// Drained, it takes no new instance.
	if _, err := cli("host", "drain", h.HostId); err != nil {
		t.Fatal(err)
	}
	_, err = e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InsufficientInstanceCapacity" {
		t.Errorf("RunInstances on a drained host: %v", err)
	}
	// Not removed while it runs an instance; removed once it runs none.
	if _, err := cli("host", "remove", h.HostId); err == nil {
		t.Error("removed a host that runs an instance")
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(e, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("host", "remove", h.HostId); err != nil {
		t.Fatal(err)
	}
	if out, err = cli("host", "list"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &hosts); err != nil || len(hosts.Hosts) != 0 {
		t.Fatalf("host list after remove: %s, %v", out, err)
	}
}
