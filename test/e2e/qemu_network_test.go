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
	goruntime "runtime"
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
	const served, refused, later = 8080, 8081, 8082
	var laterOpen atomic.Bool
	host := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	q := startQemuInProcess(t, func() []openami.FirewallRule {
		rules := []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: served, ToPort: served, Prefixes: host}}
		if laterOpen.Load() {
			rules = append(rules, openami.FirewallRule{Protocol: openami.ProtocolTCP, FromPort: later, ToPort: later, Prefixes: host})
		}
		return rules
	})
	ctx, e, pool, dir := context.Background(), q.e, q.pool, q.dir
	reg := q.image
	// The guest serves one page on three ports (busybox httpd daemonizes).
	userData := fmt.Sprintf("#!/bin/sh\nmkdir -p /run/www\necho served-by-the-guest > /run/www/index.html\n"+
		"for p in %d %d %d; do httpd -p $p -h /run/www; done\n", served, refused, later)
	out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(reg), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.Instances[0].InstanceId
	text := waitConsole(t, e, &qemuServer{}, id, "openami-testimage: init done", 1)
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

// inProcess is an openami server in this process with the qemu runtime.
type inProcess struct {
	s     *server
	e     *ec2.Client
	rt    *qemu.Runtime
	pool  netip.Prefix
	dir   string
	image string // the test image, registered
}

// startQemuInProcess starts an openami server in this process with the
// qemu runtime over a public pool of the test's own, and registers the
// test image. Each instance's firewall is the service's, with the rules
// extra returns added to its ingress (the test-only hook; see
// TestQemuNetwork).
func startQemuInProcess(tb testing.TB, extra func() []openami.FirewallRule) *inProcess {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		tb.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(tb)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "oqn-") // short: unix socket paths
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	// A pool of the test's own, so that no other test's listeners meet it.
	q := &inProcess{dir: dir, pool: netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 78, byte(os.Getpid() >> 8), byte(os.Getpid())}), 30)}
	nbdPath := filepath.Join(dir, "nbd.sock")
	q.s = startService(tb, "sqlite", func(c *service.Config) { c.PublicIPs = q.pool }, func(svc *service.Service) {
		nln, err := net.Listen("unix", nbdPath)
		if err != nil {
			tb.Fatal(err)
		}
		nbdSrv := nbd.New(func(ctx context.Context, name string) (nbd.Export, error) {
			return svc.Instances().OpenDevice(ctx, name)
		}, nil)
		go nbdSrv.Serve(nln)
		q.rt, err = qemu.New(ctx, qemu.Config{
			Dir: filepath.Join(dir, "vms"), NBDSocket: nbdPath, StopTimeout: 30 * time.Second, NetworkRefresh: 200 * time.Millisecond,
			Log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			IMDS: func(inst openami.Instance) http.Handler { return imds.New(svc.Instances(), inst.Region, inst.ID) },
			Network: func(ctx context.Context, inst openami.Instance) (openami.InstanceNetwork, error) {
				n, err := svc.Instances().InstanceNetwork(ctx, inst.Region, inst.ID)
				n.Firewall.Ingress = append(n.Firewall.Ingress, extra()...)
				return n, err
			},
			InstanceType: func(name string) (qemu.Shape, bool) {
				it, ok := instances.LookupInstanceType(name)
				return qemu.Shape{VCPUs: it.VCPUs, MemoryMiB: it.MemoryMiB, UEFI: slices.Contains(it.BootModes, "uefi")}, ok
			},
			OnExit: svc.Kick,
		})
		if err != nil {
			tb.Fatal(err)
		}
		svc.UseRuntime(q.rt)
		// The worker stops before the runtime, or it would boot the
		// instances the runtime just stopped; then the disks' server.
		tb.Cleanup(func() {
			svc.Close()
			q.rt.Close()
			nbdSrv.Close()
		})
	})
	q.e = q.s.ec2(q.s.admin, "us-east-1")
	snap := uploadImage(tb, q.s, q.s.admin, img)
	reg, err := q.e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		tb.Fatal(err)
	}
	q.image = *reg.ImageId
	return q
}

// sinkPort is where the benchmark's guest counts what it is sent: busybox
// nc runs `wc -c` on each connection and answers with the count.
const sinkPort = 9000

// sinkUserData starts the guest's sink.
var sinkUserData = fmt.Sprintf("#!/bin/sh\nnc -ll -p %d -e wc -c </dev/null >/dev/null 2>&1 &\n", sinkPort)

// sendToGuest sends n bytes to the guest's sink at addr and checks the
// count it answers; the guest has read them all when it returns.
func sendToGuest(tb testing.TB, addr string, n int) {
	c, err := net.DialTimeout("tcp4", addr, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
			tb.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(n) {
		tb.Fatalf("the guest counted %q (%v), want %d", b, err, n)
	}
}

// BenchmarkQemuIngress: 256 MiB from the host into the test image's
// guest (busybox nc counting it), through the instance's public address
// and openami's network (runtime/vnet), against the same guest booted by
// QEMU directly with libslirp's hostfwd, under the accelerator the
// runtime picked. docs/BENCHMARKS.md, "Rootless network".
func BenchmarkQemuIngress(b *testing.B) {
	const size = 256 << 20
	q := startQemuInProcess(b, func() []openami.FirewallRule {
		return []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: sinkPort, ToPort: sinkPort,
			Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	})
	ctx := context.Background()
	b.Run("openami", func(b *testing.B) {
		out, err := q.e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(q.image), InstanceType: types.InstanceTypeT2Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(sinkUserData)))})
		if err != nil {
			b.Fatal(err)
		}
		id := *out.Instances[0].InstanceId
		defer q.e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		waitConsole(b, q.e, &qemuServer{}, id, "openami-testimage: init done", 1)
		addr := net.JoinHostPort(aws.ToString(describeOne(b, q.e, id).PublicIpAddress), fmt.Sprint(sinkPort))
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			sendToGuest(b, addr, size)
		}
	})
	b.Run("slirp", func(b *testing.B) {
		dir := b.TempDir()
		ud := filepath.Join(dir, "user-data")
		if err := os.WriteFile(ud, []byte(sinkUserData), 0o600); err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		_, file, _, _ := goruntime.Caller(0)
		fake := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "testimage", "fake_imds.py")
		console := filepath.Join(dir, "console.log")
		cmd := exec.Command("qemu-system-x86_64", "-no-user-config", "-nodefaults", "-display", "none", "-accel", q.rt.Accel(),
			"-smp", "1", "-m", "1024", "-rtc", "base=utc", "-serial", "file:"+console, "-machine", "pc",
			"-drive", "file="+testenv.TestImage(b)+",format=raw,cache=writeback,if=none,id=disk0,snapshot=on",
			"-device", "virtio-blk-pci,drive=disk0,bootindex=0",
			"-netdev", fmt.Sprintf("user,id=net0,net=169.254.0.0/16,hostfwd=tcp:127.0.0.1:%d-:%d,guestfwd=tcp:169.254.169.254:80-cmd:python3 -I %s", port, sinkPort, fake),
			"-device", "virtio-net-pci,netdev=net0,romfile=,mac=02:00:00:00:00:01")
		cmd.Env = append(os.Environ(), "FAKE_IMDS_USER_DATA="+ud)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		deadline := time.Now().Add(guestTimeout)
		for {
			text, _ := os.ReadFile(console)
			if strings.Contains(string(text), "openami-testimage: init done") {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the directly booted guest did not come up:\n%s", text)
			}
			time.Sleep(250 * time.Millisecond)
		}
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			sendToGuest(b, fmt.Sprintf("127.0.0.1:%d", port), size)
		}
	})
}
