package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/internal/testenv"
)

// TestQemuNetwork boots the test image under `openami serve --runtime
// qemu` and checks its rootless network through the EC2 API only: DHCP
// gives the guest its PrivateIpAddress (the guest prints it), its
// metadata service answers, and its public address forwards exactly the
// TCP ports its security group allows from the host. The group is made
// with CreateSecurityGroup and opened with AuthorizeSecurityGroupIngress;
// a port no rule allows, and a port allowed only from a range the host's
// client is not in, are refused; a rule authorized while the instance
// runs opens its port, and a RevokeSecurityGroupIngress closes it again,
// each within a generous deadline (the runtime refreshes every 2 s).
func TestQemuNetwork(t *testing.T) {
	const served, refused, elsewhere, later = 8080, 8081, 8083, 8082
	n := startQemuNetwork(t)
	ctx, e := context.Background(), n.e

	sg, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web ports of the guest")})
	if err != nil {
		t.Fatal(err)
	}
	group := aws.ToString(sg.GroupId)
	tcp := func(port int32, cidr string) types.IpPermission {
		return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}}
	}
	// served from anywhere; elsewhere only from a range no client of this
	// host is in (the host's own clients come from 127.0.0.1).
	if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group),
		IpPermissions: []types.IpPermission{tcp(served, "0.0.0.0/0"), tcp(elsewhere, "203.0.113.0/24")}}); err != nil {
		t.Fatal(err)
	}

	// The guest serves one page on four ports (busybox httpd daemonizes).
	userData := fmt.Sprintf("#!/bin/sh\nmkdir -p /run/www\necho served-by-the-guest > /run/www/index.html\n"+
		"for p in %d %d %d %d; do httpd -p $p -h /run/www; done\n", served, refused, elsewhere, later)
	out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(n.image), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{group},
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.Instances[0].InstanceId
	t.Cleanup(func() {
		e.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	})
	text := waitConsole(t, e, n.q, id, "openami-testimage: init done", 1)
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
	// The boot read its disk from the block store, and /metrics says how
	// much.
	if read := metric(t, n.q.url, `openami_blob_read_bytes_total{region="us-east-1"}`); read < 1<<20 {
		t.Errorf("/metrics: %v bytes read from the block store for a boot", read)
	}
	if addr, err := netip.ParseAddr(public); err != nil || !n.pool.Contains(addr) {
		t.Fatalf("public address %q is not of the pool %s", public, n.pool)
	}
	if len(inst.SecurityGroups) != 1 || aws.ToString(inst.SecurityGroups[0].GroupId) != group {
		t.Fatalf("the instance's groups are %+v, want only %s", inst.SecurityGroups, group)
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
	// waitFor polls port until its answer is what open says it should be.
	waitFor := func(port int, open bool, what string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			body, err := get(port)
			if got := err == nil && body == "served-by-the-guest\n"; got == open {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s:%d %s: %q, %v\nserver log:\n%s", public, port, what, body, err, n.q.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if body, err := get(served); err != nil || body != "served-by-the-guest\n" {
		t.Fatalf("%s:%d, allowed: %q, %v", public, served, body, err)
	}
	for _, port := range []int{refused, elsewhere, later} {
		if body, err := get(port); err == nil {
			t.Fatalf("%s:%d, which no rule allows from this host, answered %q", public, port, body)
		}
	}

	// A rule authorized while the guest runs opens its port...
	if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(group),
		IpPermissions: []types.IpPermission{tcp(later, "127.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(later, true, "after its rule was authorized")
	// ... and revoking it closes it again, the other rules untouched.
	if _, err := e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(group),
		IpPermissions: []types.IpPermission{tcp(later, "127.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(later, false, "after its rule was revoked")
	if body, err := get(served); err != nil || body != "served-by-the-guest\n" {
		t.Fatalf("%s:%d after another port's rule was revoked: %q, %v", public, served, body, err)
	}

	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)
	if left := qemuProcesses(n.dataDir); len(left) > 0 {
		t.Fatalf("QEMU processes left after terminating the instance: %v", left)
	}
	if c, err := net.Dial("tcp4", net.JoinHostPort(public, fmt.Sprint(served))); err == nil {
		c.Close()
		t.Fatalf("%s:%d still listens after the instance terminated", public, served)
	}
}

// qemuNetwork is an `openami serve --runtime qemu` process with a public
// address pool of its own and the test image registered.
type qemuNetwork struct {
	q       *qemuServer
	e       *ec2.Client
	pool    netip.Prefix
	dataDir string
	image   string // the test image, registered
}

// ownPool is a /30 of 127.0.0.0/8 for this test process's server, so
// that no other engineer's or test's openami hands out the same public
// addresses (their ports would collide): 127.78–127.79 and the process
// id. Its two usable addresses are enough for one instance at a time.
func ownPool(second byte) netip.Prefix {
	pid := os.Getpid()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, second, byte(pid >> 6), byte(pid<<2) & 0xfc}), 30)
}

// startQemuNetwork starts the binary with the qemu runtime over a pool of
// the test's own, and registers the test image.
func startQemuNetwork(tb testing.TB) *qemuNetwork {
	tb.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		tb.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(tb)
	ctx := context.Background()
	// A short data dir: the VMs' unix sockets live under it.
	dataDir, err := os.MkdirTemp("", "oqn-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dataDir) })
	n := &qemuNetwork{dataDir: dataDir, pool: ownPool(78)}
	n.q = startQemuServer(tb, dataDir, "--public-ips", n.pool.String())
	creds := readCredentials(tb, filepath.Join(dataDir, "credentials"))
	s := &server{URL: n.q.url}
	n.e = s.ec2(creds, "us-east-1")
	snap := uploadImage(tb, s, creds, img)
	reg, err := n.e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		tb.Fatal(err)
	}
	n.image = *reg.ImageId
	return n
}

// metric returns the value of the series (name and labels, as written)
// at the server's GET /metrics; 0 when it has none.
func metric(tb testing.TB, url, series string) float64 {
	tb.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("/metrics: %q", line)
			}
			return f
		}
	}
	return 0
}

// accel is the accelerator the server's runtime chose, from its banner
// ("runtime: qemu (tcg)").
func (q *qemuServer) accel(tb testing.TB) string {
	m := regexp.MustCompile(`runtime: qemu \((\w+)\)`).FindStringSubmatch(q.log())
	if m == nil {
		tb.Fatalf("the server's banner names no accelerator:\n%s", q.log())
	}
	return m[1]
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
// and openami's network (runtime/vnet; the port opened by a security
// group rule), against the same guest booted by QEMU directly with
// libslirp's hostfwd, under the accelerator the runtime picked.
// docs/BENCHMARKS.md, "Rootless network".
func BenchmarkQemuIngress(b *testing.B) {
	const size = 256 << 20
	n := startQemuNetwork(b)
	ctx := context.Background()
	b.Run("openami", func(b *testing.B) {
		sg, err := n.e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(fmt.Sprintf("sink-%d", time.Now().UnixNano())),
			Description: aws.String("sink of the guest")})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(sinkPort), ToPort: aws.Int32(sinkPort), CidrIp: aws.String("127.0.0.0/8")}); err != nil {
			b.Fatal(err)
		}
		out, err := n.e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(n.image), InstanceType: types.InstanceTypeT2Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{*sg.GroupId},
			UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(sinkUserData)))})
		if err != nil {
			b.Fatal(err)
		}
		id := *out.Instances[0].InstanceId
		defer func() {
			n.e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
			waitInstance(b, n.e, id, types.InstanceStateNameTerminated)
		}()
		waitConsole(b, n.e, n.q, id, "openami-testimage: init done", 1)
		addr := net.JoinHostPort(aws.ToString(describeOne(b, n.e, id).PublicIpAddress), fmt.Sprint(sinkPort))
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
		cmd := exec.Command("qemu-system-x86_64", "-no-user-config", "-nodefaults", "-display", "none", "-accel", n.q.accel(b),
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
