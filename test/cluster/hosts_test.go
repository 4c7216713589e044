package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/internal/testenv"
)

// hostTTL is the host heartbeat of TestHostKill's compute hosts: short,
// so that a killed host is declared dead within seconds.
const hostTTL = 6 * time.Second

// guestWait bounds every wait on a guest: a boot under TCG on a loaded
// machine takes a minute or more.
const guestWait = 5 * time.Minute

// TestHostKill runs two compute hosts (--runtime qemu --host; the
// runtime's probe picks KVM or TCG) and one API node on PostgreSQL and
// MinIO. Two instances of the test image, launched through the two
// hosts' APIs, land one on each host; A's user data writes a token to
// its EBS root volume and syncs it. A's host is killed -9:
// DescribeInstanceStatus through the API node shows A's system status
// impaired, StopInstances and StartInstances bring A up on the other
// host, where its user data finds the token, B runs on undisturbed, and
// the killed host restarted (a new tenure) runs no VM of A (fencing).
func TestHostKill(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 is not installed; .ci/run installs it (qemu-system-x86)")
	}
	img := testenv.TestImage(t)
	c := Start(t, Options{Nodes: 3, Args: func(i int) []string {
		args := []string{"--node-id", fmt.Sprintf("node%d", i), "--lease-ttl", killTTL.String()}
		if i == 0 {
			return append(args, "--runtime", "none")
		}
		return append(args, "--runtime", "qemu", "--host", "--host-ttl", hostTTL.String(), "--host-vcpus", "4")
	}})
	ctx := context.Background()
	alice := c.Account(t, "alice")
	api, h1, h2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	e := api.EC2(alice)

	imageID := registerRaw(t, api, alice, img)
	token := make([]byte, 6)
	rand.Read(token)
	proof := hex.EncodeToString(token)
	// Written on the first boot, found on every later one.
	userData := fmt.Sprintf("#!/bin/sh\nif [ -f /data/proof ]; then echo \"found-proof $(cat /data/proof)\"; else echo %s > /data/proof; sync; echo wrote-proof; fi\n", proof)
	launch := func(n *Node) string {
		out, err := n.EC2(alice).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &imageID, InstanceType: types.InstanceTypeT2Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
		if err != nil {
			t.Fatalf("RunInstances through node %d: %v", n.Index, err)
		}
		return *out.Instances[0].InstanceId
	}
	a, b := launch(h1), launch(h2)
	waitConsoleText(t, e, a, "wrote-proof")
	waitConsoleText(t, e, b, "wrote-proof")
	hostA, hostB := hostOf(t, e, a), hostOf(t, e, b)
	if hostA == "" || hostB == "" || hostA == hostB {
		t.Fatalf("instances placed on hosts %q and %q, want one on each", hostA, hostB)
	}
	victim, survivor := c.nodeByHost(t, hostA), c.nodeByHost(t, hostB)
	if n := len(qemuProcesses(victim.DataDir)); n != 1 {
		t.Fatalf("%d QEMU processes under the victim host's data dir, want 1", n)
	}

	st, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{a}})
	if err != nil || len(st.InstanceStatuses) != 1 || st.InstanceStatuses[0].SystemStatus.Status != types.SummaryStatusOk {
		t.Fatalf("A's status with its host alive: %v %+v, want the system status ok", err, st)
	}

	// A's host dies.
	victim.Kill(t)
	killed := time.Now()
	waitFor(t, "QEMU of the killed host to exit", time.Minute, func() bool { return len(qemuProcesses(victim.DataDir)) == 0 })
	waitFor(t, "A's system status impaired", 2*time.Minute, func() bool {
		out, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{a}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.InstanceStatuses) == 1 && out.InstanceStatuses[0].SystemStatus.Status == types.SummaryStatusImpaired
	})
	impaired := time.Since(killed)

	// Stopped and started again through the API node: on the other host,
	// with the token it had written and synced.
	if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, a, types.InstanceStateNameStopped)
	if _, err := e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, a, types.InstanceStateNameRunning)
	running := time.Since(killed)
	if h := hostOf(t, e, a); h != hostB {
		t.Fatalf("A started on host %q, want the live host %s", h, hostB)
	}
	text := waitConsoleText(t, e, a, "found-proof")
	if !strings.Contains(text, "found-proof "+proof) {
		t.Fatalf("A on the other host did not find its token %s:\n%s", proof, text)
	}
	booted := time.Since(killed)
	t.Logf("host killed: A's system status impaired after %.1f s, running on the other host after %.1f s, its guest up with its data after %.1f s (host TTL %s)",
		impaired.Seconds(), running.Seconds(), booted.Seconds(), hostTTL)

	// The killed host restarts: registered again, it runs no VM of A.
	victim.Restart(t)
	waitFor(t, "the restarted host alive", 2*time.Minute, func() bool { return hostAlive(t, c, hostA) })
	// Its worker has had passes over its instances (none are its own).
	time.Sleep(2 * hostTTL)
	if n := len(qemuProcesses(victim.DataDir)); n != 0 {
		t.Fatalf("the restarted host runs %d QEMU processes, want none: A moved", n)
	}
	if h := hostOf(t, e, a); h != hostB {
		t.Fatalf("after the old host's return A is on %q, want %s", h, hostB)
	}
	waitState(t, e, a, types.InstanceStateNameRunning)
	waitState(t, e, b, types.InstanceStateNameRunning)
	if n := len(qemuProcesses(survivor.DataDir)); n != 2 {
		t.Fatalf("the surviving host runs %d QEMU processes, want 2 (A and B)", n)
	}
	for _, n := range []*Node{api, survivor} {
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a, b}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, a, types.InstanceStateNameTerminated)
	waitState(t, e, b, types.InstanceStateNameTerminated)
}

// registerRaw uploads a raw disk image's non-zero blocks as a snapshot
// through node n's EBS direct API and registers a BIOS image over it.
func registerRaw(t *testing.T, n *Node, cr Credentials, path string) string {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 512 << 10
	cl := n.EBS(cr)
	start, err := cl.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	snap := *start.SnapshotId
	zero, count := make([]byte, bs), int32(0)
	for i := 0; i*bs < len(raw); i++ {
		blk := make([]byte, bs)
		copy(blk, raw[i*bs:])
		if bytes.Equal(blk, zero) {
			continue
		}
		putBlock(t, cl, snap, int32(i), blk)
		count++
	}
	if _, err := cl.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: &snap, ChangedBlocksCount: aws.Int32(count)}); err != nil {
		t.Fatal(err)
	}
	waitSnapshotState(t, n.EC2(cr), snap, 2*time.Minute)
	reg, err := n.EC2(cr).RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(snap)})
	if err != nil {
		t.Fatal(err)
	}
	return *reg.ImageId
}

// nodeByHost returns the node whose host id is id (`openami host
// list` names each host's node id).
func (c *Cluster) nodeByHost(t *testing.T, id string) *Node {
	t.Helper()
	for _, h := range c.hosts(t) {
		if h.HostId == id {
			return c.nodeByID(t, h.Node)
		}
	}
	t.Fatalf("no host %s in host list", id)
	return nil
}

type hostRow struct {
	HostId, Node string
	Alive        bool
	Epoch        int64
}

func (c *Cluster) hosts(t *testing.T) []hostRow {
	t.Helper()
	out, err := c.Command("host", "list").Output()
	if err != nil {
		t.Fatalf("host list: %v %s", err, stderrOf(err))
	}
	var list struct{ Hosts []hostRow }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("host list printed %s: %v", out, err)
	}
	return list.Hosts
}

func hostAlive(t *testing.T, c *Cluster, id string) bool {
	for _, h := range c.hosts(t) {
		if h.HostId == id {
			return h.Alive
		}
	}
	return false
}

// hostOf returns the instance's Placement.HostId ("" for none).
func hostOf(t *testing.T, e *ec2.Client, id string) string {
	t.Helper()
	out, err := e.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	inst := out.Reservations[0].Instances[0]
	if inst.Placement == nil {
		return ""
	}
	return aws.ToString(inst.Placement.HostId)
}

func waitState(t *testing.T, e *ec2.Client, id string, state types.InstanceStateName) {
	t.Helper()
	var got types.InstanceStateName
	waitFor(t, fmt.Sprintf("%s %s", id, state), guestWait, func() bool {
		out, err := e.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		got = out.Reservations[0].Instances[0].State.Name
		return got == state
	})
}

// waitConsoleText waits until the instance's console output (as the
// API answers it, whichever node runs the guest) contains want after
// its last boot, and returns it.
func waitConsoleText(t *testing.T, e *ec2.Client, id, want string) string {
	t.Helper()
	var text string
	waitFor(t, fmt.Sprintf("%q on %s's console", want, id), guestWait, func() bool {
		out, err := e.GetConsoleOutput(context.Background(), &ec2.GetConsoleOutputInput{InstanceId: &id, Latest: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		text = string(b)
		return strings.Contains(text, want)
	})
	return text
}

// waitFor polls cond every 200 ms until it holds, failing after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// qemuProcesses returns the QEMU processes whose command line names dir
// (a node's data dir: its VMs' sockets and disks live under it).
func qemuProcesses(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("qemu-system")) && bytes.Contains(b, []byte(dir)) {
			out = append(out, e.Name())
		}
	}
	return out
}
