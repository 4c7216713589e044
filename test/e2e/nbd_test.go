package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// qemuIO runs qemu-io (Debian's qemu-utils) on an export of the NBD socket
// and fails the test if a command fails: qemu-io reports those on its
// output, not in its status.
func qemuIO(t *testing.T, sock, export string, cmds ...string) string {
	t.Helper()
	bin, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Fatalf("qemu-io not found: install qemu-utils (apt-get install -y qemu-utils): %v", err)
	}
	args := []string{"-f", "raw", fmt.Sprintf("nbd+unix:///%s?socket=%s", export, sock)}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "failed") || strings.Contains(string(out), "error") {
		t.Fatalf("qemu-io %s: %v\n%s", strings.Join(cmds, "; "), err, out)
	}
	return string(out)
}

// TestNBDWriteThenCreateImage runs the binary, launches an instance, writes
// its root volume with qemu-io over the NBD socket, makes an image of the
// instance, and reads the bytes back from an instance of the new image;
// the volume of a stopped instance is not served.
func TestNBDWriteThenCreateImage(t *testing.T) {
	dataDir := t.TempDir()
	endpoint, _ := serveBinary(t, "--data-dir", dataDir)
	s := &server{URL: endpoint}
	admin := readCredentials(t, filepath.Join(dataDir, "credentials"))
	sock := filepath.Join(dataDir, "nbd.sock")
	ctx := context.Background()
	e := s.ec2(admin, "us-east-1")
	img := registerTestImage(t, s, e, admin, "nbd-base")

	launch := func(image string) (string, string) {
		t.Helper()
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		id := *run.Instances[0].InstanceId
		w := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return id, *out.Reservations[0].Instances[0].BlockDeviceMappings[0].Ebs.VolumeId
	}
	id, vol := launch(img)
	// Unaligned, across a block boundary, then flushed.
	qemuIO(t, sock, vol, "write -P 0x5a 1000 600000", "flush")
	qemuIO(t, sock, vol, "read -P 0x5a 1000 600000", "read -P 0 601000 1000")

	created, err := e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("nbd-child")})
	if err != nil {
		t.Fatal(err)
	}
	w := ec2.NewImageAvailableWaiter(e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*created.ImageId}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_, childVol := launch(*created.ImageId)
	qemuIO(t, sock, childVol, "read -P 0x5a 1000 600000", "read -P 0 601000 1000")

	if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	stopped := ec2.NewInstanceStoppedWaiter(e, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := stopped.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("qemu-io", "-f", "raw", fmt.Sprintf("nbd+unix:///%s?socket=%s", vol, sock), "-c", "read 0 4k").CombinedOutput()
	if err == nil {
		t.Fatalf("the volume of a stopped instance was served:\n%s", out)
	}
}

// TestNBDInstanceStore serves an instance-store disk of an m5d.large over
// NBD: blank at launch, written and read back, not served while the
// instance is stopped, and blank again after it starts.
func TestNBDInstanceStore(t *testing.T) {
	dataDir := t.TempDir()
	endpoint, _ := serveBinary(t, "--data-dir", dataDir)
	s := &server{URL: endpoint}
	admin := readCredentials(t, filepath.Join(dataDir, "credentials"))
	sock := filepath.Join(dataDir, "nbd.sock")
	ctx := context.Background()
	e := s.ec2(admin, "us-east-1")
	img := registerTestImage(t, s, e, admin, "nvme")
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeM5dLarge,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	disk := id + "/ephemeral0"
	qemuIO(t, sock, disk, "read -P 0 0 1M", "write -P 0x33 70G 1M", "flush", "read -P 0x33 70G 1M")

	if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	stopped := ec2.NewInstanceStoppedWaiter(e, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := stopped.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-io", "-f", "raw", fmt.Sprintf("nbd+unix:///%s?socket=%s", disk, sock), "-c", "read 0 4k").CombinedOutput(); err == nil {
		t.Fatalf("the instance store of a stopped instance was served:\n%s", out)
	}
	if _, err := e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	qemuIO(t, sock, disk, "read -P 0 70G 1M")
}
