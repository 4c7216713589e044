package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami"
	"github.com/openami/openami/api/imds"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/nbd"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/runtime/qemu"
	"github.com/openami/openami/service"
)

// TestQemuNetwork boots the test image under the qemu runtime, in this
// process, and checks its rootless network: DHCP gives the guest its
// PrivateIpAddress (the guest prints it), its metadata service answers,
// and its public address forwards exactly the TCP ports its firewall
// allows from the host, following a rule added while it runs.
//
// The default security group admits nothing from the host, and the
// networks subsystem that will let a user authorize ports is not there
// yet; so the runtime's Network is the service's InstanceNetwork with
// the test's own ingress rules added (a test-only hook, at the runtime's
// Config, which is where cmd/openami wires the service's).
func TestQemuNetwork(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(t)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "oqn-") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A pool of the test's own, so that no other test's listeners meet it.
	pool := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 78, byte(os.Getpid() >> 8), 0}), 24)

	const served, refused, later = 8080, 8081, 8082
	var laterOpen atomic.Bool
	var rt *qemu.Runtime
	nbdPath := filepath.Join(dir, "nbd.sock")
	s := startService(t, "sqlite", func(c *service.Config) { c.PublicIPs = pool }, func(svc *service.Service) {
		nln, err := net.Listen("unix", nbdPath)
		if err != nil {
			t.Fatal(err)
		}
		nbdSrv := nbd.New(func(ctx context.Context, name string) (nbd.Export, error) {
			return svc.Instances().OpenDevice(ctx, name)
		}, nil)
		go nbdSrv.Serve(nln)
		rt, err = qemu.New(ctx, qemu.Config{
			Dir: filepath.Join(dir, "vms"), NBDSocket: nbdPath, StopTimeout: 30 * time.Second, NetworkRefresh: 200 * time.Millisecond,
			Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			IMDS: func(inst openami.Instance) http.Handler { return imds.New(svc.Instances(), inst.Region, inst.ID) },
			Network: func(ctx context.Context, inst openami.Instance) (openami.InstanceNetwork, error) {
				n, err := svc.Instances().InstanceNetwork(ctx, inst.Region, inst.ID)
				host := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				n.Firewall.Ingress = append(n.Firewall.Ingress, openami.FirewallRule{Protocol: openami.ProtocolTCP, FromPort: served, ToPort: served, Prefixes: host})
				if laterOpen.Load() {
					n.Firewall.Ingress = append(n.Firewall.Ingress, openami.FirewallRule{Protocol: openami.ProtocolTCP, FromPort: later, ToPort: later, Prefixes: host})
				}
				return n, err
			},
			InstanceType: func(name string) (qemu.Shape, bool) {
				it, ok := instances.LookupInstanceType(name)
				return qemu.Shape{VCPUs: it.VCPUs, MemoryMiB: it.MemoryMiB, UEFI: slices.Contains(it.BootModes, "uefi")}, ok
			},
			OnExit: svc.Kick,
		})
		if err != nil {
			t.Fatal(err)
		}
		svc.UseRuntime(rt)
		// The worker stops before the runtime, or it would boot the
		// instances the runtime just stopped; then the disks' server.
		t.Cleanup(func() {
			svc.Close()
			rt.Close()
			nbdSrv.Close()
		})
	})
	e := s.ec2(s.admin, "us-east-1")
	snap := uploadImage(t, s, s.admin, img)
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The guest serves one page on three ports (busybox httpd daemonizes).
	userData := fmt.Sprintf("#!/bin/sh\nmkdir -p /run/www\necho served-by-the-guest > /run/www/index.html\n"+
		"for p in %d %d %d; do httpd -p $p -h /run/www; done\n", served, refused, later)
	out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.Instances[0].InstanceId
	none := &qemuServer{}
	text := waitConsole(t, e, none, id, "openami-testimage: init done", 1)
	inst := describeOne(t, e, id)
	private, public := aws.ToString(inst.PrivateIpAddress), aws.ToString(inst.PublicIpAddress)
	for _, want := range []string{
		"openami-testimage: ip eth0 " + private + "/20",
		"openami-testimage: imds v2",
		"openami-testimage: instance-id " + id,
		"openami-testimage: user-data script exit 0",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("the console lacks %q (PrivateIpAddress %s):\n%s", want, private, text)
		}
	}
	if addr, err := netip.ParseAddr(public); err != nil || !pool.Contains(addr) {
		t.Fatalf("public address %q is not of the pool %s", public, pool)
	}

	get := func(port int) (string, error) {
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s:%d/", public, port))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(served); err != nil || body != "served-by-the-guest\n" {
		t.Fatalf("%s:%d, allowed: %q, %v", public, served, body, err)
	}
	if body, err := get(refused); err == nil {
		t.Fatalf("%s:%d, which no rule allows, answered %q", public, refused, body)
	}
	// A rule added while the guest runs opens its port.
	laterOpen.Store(true)
	deadline := time.Now().Add(time.Minute)
	for {
		body, err := get(later)
		if err == nil && body == "served-by-the-guest\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:%d after its rule was added: %q, %v", public, later, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)
	if left := qemuProcesses(dir); len(left) > 0 {
		t.Fatalf("QEMU processes left after terminating the instance: %v", left)
	}
	if c, err := net.Dial("tcp4", net.JoinHostPort(public, fmt.Sprint(served))); err == nil {
		c.Close()
		t.Fatalf("%s:%d still listens after the instance terminated", public, served)
	}
}
