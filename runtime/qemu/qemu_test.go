package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/nbd"
)

func TestArgs(t *testing.T) {
	m := machine{Name: "i-1", Dir: "/data/vms/i-1", Accel: "tcg", VCPUs: 2, MemoryMiB: 512, NBDSocket: "/data/nbd,sock",
		Exports: []string{"vol-root", "vol-b", "i-1/ephemeral0"}, MAC: "02:00:00:00:00:07", NetFD: 3}
	a := strings.Join(args(m), " ")
	for _, want := range []string{
		"-accel tcg", "-smp 2", "-m 512", "-nodefaults", "-display none", "-machine pc",
		"-serial chardev:console", "-qmp unix:/data/vms/i-1/qmp.sock,server=on,wait=off",
		"-drive driver=nbd,server.type=unix,server.path=/data/nbd,,sock,export=vol-root,cache=writeback,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0",
		"export=vol-b,cache=writeback,if=none,id=disk1 -device virtio-blk-pci,drive=disk1 ",
		"export=i-1/ephemeral0,",
		"-netdev stream,id=net0,server=off,addr.type=fd,addr.str=3 -device virtio-net-pci,netdev=net0,romfile=,mac=02:00:00:00:00:07",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("args lack %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "-cpu host") || strings.Contains(a, "pflash") {
		t.Errorf("TCG BIOS args with KVM or UEFI options:\n%s", a)
	}
	m.Accel, m.UEFI, m.CodePath, m.VarsPath = "kvm", true, "/ovmf/code.fd", "/data/vms/i-1/uefi-vars.fd"
	a = strings.Join(args(m), " ")
	for _, want := range []string{"-accel kvm", "-cpu host", "-machine q35", "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/code.fd",
		"if=pflash,format=raw,unit=1,file=/data/vms/i-1/uefi-vars.fd"} {
		if !strings.Contains(a, want) {
			t.Errorf("KVM UEFI args lack %q:\n%s", want, a)
		}
	}
	// In the bridge mode, the NIC's back end is the tap openami opened.
	m.NetTap = true
	a = strings.Join(args(m), " ")
	if want := "-netdev tap,id=net0,fd=3 -device virtio-net-pci,netdev=net0,romfile=,mac=02:00:00:00:00:07"; !strings.Contains(a, want) || strings.Contains(a, "stream") {
		t.Errorf("bridge-mode args lack %q:\n%s", want, a)
	}
}

// TestArgsSMBIOS: the guest's SMBIOS tables read as an EC2 instance's,
// so that cloud-init's ds-identify picks its Ec2 datasource by itself: the
// system UUID and serial number start with "ec2" and are equal (its test
// for AWS), the product is the instance type, the board's asset tag the
// instance id; the UUID is derived from the instance id, the same on
// every start and different for another instance.
func TestArgsSMBIOS(t *testing.T) {
	m := machine{Name: "i-0123456789abcdef0", Dir: "/d", Accel: "tcg", VCPUs: 1, MemoryMiB: 256, NBDSocket: "/n",
		Exports: []string{"vol-root"}, MAC: "02:00:00:00:00:01", InstanceType: "t3.micro"}
	var smbios []string
	a := args(m)
	for i, arg := range a {
		if arg == "-smbios" && i+1 < len(a) {
			smbios = append(smbios, a[i+1])
		}
	}
	fields := map[string]map[string]string{}
	for _, s := range smbios {
		kv := map[string]string{}
		for _, f := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		fields[kv["type"]] = kv
	}
	sys := fields["1"]
	if sys == nil {
		t.Fatalf("no SMBIOS type 1 (system) in %q", smbios)
	}
	uuid := sys["uuid"]
	if !regexp.MustCompile(`^ec2[0-9a-f]{5}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(uuid) {
		t.Errorf("system uuid %q: not a UUID beginning with ec2", uuid)
	}
	if !strings.EqualFold(sys["serial"], uuid) {
		t.Errorf("serial %q is not the system uuid %q (ds-identify's test for AWS)", sys["serial"], uuid)
	}
	for typ, want := range map[string]map[string]string{
		"0": {"vendor": "Amazon EC2"},
		"1": {"manufacturer": "Amazon EC2", "product": "t3.micro"},
		"2": {"manufacturer": "Amazon EC2", "asset": "i-0123456789abcdef0"},
		"3": {"manufacturer": "Amazon EC2", "asset": "Amazon EC2"},
	} {
		for k, v := range want {
			if got := fields[typ][k]; got != v {
				t.Errorf("SMBIOS type %s %s = %q, want %q", typ, k, got, v)
			}
		}
	}
	if again := systemUUID(m.Name); again != uuid {
		t.Errorf("system uuid not stable: %s, then %s", uuid, again)
	}
	if other := systemUUID("i-0123456789abcdef1"); other == uuid {
		t.Errorf("two instances share the system uuid %s", uuid)
	}
	// QEMU's option syntax: a comma in a value is doubled.
	m.InstanceType = "t3.micro,serial=x"
	if a := strings.Join(args(m), " "); !strings.Contains(a, "product=t3.micro,,serial=x,serial=ec2") {
		t.Errorf("a comma in the product name is not escaped:\n%s", a)
	}
}

// TestArgsKernel: a paravirtual guest's kernel is booted directly, and
// the root disk then gives up boot index 0 (QEMU's kernel loader takes it).
func TestArgsKernel(t *testing.T) {
	m := machine{Name: "i-1", Dir: "/d", Accel: "tcg", VCPUs: 1, MemoryMiB: 256, NBDSocket: "/n", Exports: []string{"vol-root"},
		MAC: "02:00:00:00:00:01", Kernel: "/d/kernel", Initrd: "/d/ramdisk", Append: "root=/dev/vda1 console=ttyS0,115200"}
	a := strings.Join(args(m), " ")
	for _, want := range []string{"-kernel /d/kernel", "-initrd /d/ramdisk", "-append root=/dev/vda1 console=ttyS0,115200"} {
		if !strings.Contains(a, want) {
			t.Errorf("args lack %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "bootindex") {
		t.Errorf("a boot index with a kernel:\n%s", a)
	}
	for dev, want := range map[string]string{"/dev/sda1": "/dev/vda1", "/dev/xvda": "/dev/vda", "/dev/sda": "/dev/vda", "/dev/xvda12": "/dev/vda12"} {
		if got := kernelRoot(dev); got != want {
			t.Errorf("kernelRoot(%s) = %s, want %s", dev, got, want)
		}
	}
}

func TestExports(t *testing.T) {
	inst := openami.Instance{ID: "i-1", RootDeviceName: "/dev/sda1",
		BlockDevices:   []openami.InstanceBlockDevice{{DeviceName: "/dev/sdc", VolumeID: "vol-c"}, {DeviceName: "/dev/sda1", VolumeID: "vol-root"}, {DeviceName: "/dev/sdb", VolumeID: "vol-b"}},
		InstanceStores: []openami.InstanceStore{{DeviceName: "/dev/sde", VirtualName: "ephemeral1"}, {DeviceName: "/dev/sdd", VirtualName: "ephemeral0"}}}
	got := exports(inst)
	want := []string{"vol-root", "vol-b", "vol-c", "i-1/ephemeral0", "i-1/ephemeral1"}
	if !slices.Equal(got, want) {
		t.Fatalf("exports %v, want %v", got, want)
	}
	// An instance store-backed instance boots from its root disk.
	store := openami.Instance{ID: "i-2", RootDeviceName: "/dev/sda1", RootDeviceType: "instance-store", RootBundle: &openami.ImageBundle{},
		BlockDevices:   []openami.InstanceBlockDevice{{DeviceName: "/dev/sdf", VolumeID: "vol-f"}},
		InstanceStores: []openami.InstanceStore{{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"}}}
	if got, want := exports(store), []string{"i-2/root", "vol-f", "i-2/ephemeral0"}; !slices.Equal(got, want) {
		t.Fatalf("exports %v, want %v", got, want)
	}
}

// testNetwork is a network for the runtime's tests: the instance's
// private address in the default VPC's first subnet, no public address.
func testNetwork(_ context.Context, inst openami.Instance) (openami.InstanceNetwork, error) {
	ip, err := netip.ParseAddr(inst.PrivateIP)
	if err != nil {
		ip = netip.MustParseAddr("172.31.0.9")
	}
	return openami.InstanceNetwork{PrivateIP: ip, Subnet: netip.MustParsePrefix("172.31.0.0/20"), VPC: netip.MustParsePrefix("172.31.0.0/16")}, nil
}

// freeTCPPort returns a TCP port free on addr.
func freeTCPPort(t *testing.T, addr netip.Addr) int {
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// shellQuote quotes s for a POSIX shell: the stand-in QEMU scripts'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func TestShellQuote(t *testing.T) {
	got, err := exec.Command("sh", "-c", "printf '%s|' "+shellQuote("a b")+" "+shellQuote("it's")+" "+shellQuote("$x")).Output()
	if err != nil || string(got) != "a b|it's|$x|" {
		t.Fatalf("%v %q", err, got)
	}
}

// TestConsoleBounded writes far more than the limit and reads back the
// most recent 64 KiB, from a line's start; the file stays bounded.
func TestConsoleBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	c, err := openConsole(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		fmt.Fprintf(c, "line %05d of the guest's console\r\n", i)
		if st, err := os.Stat(path); err != nil || st.Size() > 2*ConsoleLimit+64 {
			t.Fatalf("console file grew to %d bytes", st.Size())
		}
	}
	got, err := readConsole(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > ConsoleLimit || len(got) < ConsoleLimit-100 {
		t.Fatalf("read %d bytes, want about %d", len(got), ConsoleLimit)
	}
	if !strings.HasPrefix(string(got), "line ") || !strings.HasSuffix(string(got), "line 19999 of the guest's console\r\n") {
		t.Fatalf("console does not run from a line start to the last line: %.40q … %.40q", got, got[len(got)-40:])
	}
	c.Close()
	// Reopened (a VM booted again): appends.
	c, _ = openConsole(path)
	c.Write([]byte("second boot\n"))
	c.Close()
	if got, _ := readConsole(path); !strings.HasSuffix(string(got), "line 19999 of the guest's console\r\nsecond boot\n") {
		t.Fatalf("after reopening: %.60q", got[len(got)-60:])
	}
	if got, err := readConsole(filepath.Join(t.TempDir(), "none")); got != nil || err != nil {
		t.Fatalf("no console: %q %v", got, err)
	}
}

func needQEMU(t *testing.T) string {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86)")
	}
	return p
}

// memDisk is an in-memory NBD export.
type memDisk struct {
	mu sync.Mutex
	b  []byte
}

func (d *memDisk) Size() int64    { return int64(len(d.b)) }
func (d *memDisk) ReadOnly() bool { return false }
func (d *memDisk) ReadAt(_ context.Context, p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	copy(p, d.b[off:])
	return nil
}
func (d *memDisk) WriteAt(_ context.Context, p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	copy(d.b[off:], p)
	return nil
}
func (d *memDisk) Flush(context.Context) error              { return nil }
func (d *memDisk) Trim(context.Context, int64, int64) error { return nil }
func (d *memDisk) WriteZeroes(_ context.Context, off, n int64) error {
	return d.WriteAt(nil, make([]byte, n), off)
}

// TestRuntime runs real QEMU VMs that boot probeMBR from an NBD export:
// start (twice: one VM), console, reboot, a stop that times out into a
// kill (the guest has no ACPI), a VM that ends by itself, terminate; and
// a start that fails because the export is missing.
func TestRuntime(t *testing.T) {
	needQEMU(t)
	dir, err := os.MkdirTemp("", "oqt-") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "nbd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	disk := &memDisk{b: make([]byte, 1<<20)}
	copy(disk.b, probeMBR)
	srv := nbd.New(func(ctx context.Context, name string) (nbd.Export, error) {
		if name == "vol-boot" {
			return disk, nil
		}
		return nil, errors.New("no such export")
	}, nil)
	go srv.Serve(ln)
	defer srv.Close()

	var exits atomic.Int32
	// The VM's network: a public address with one port open, until the
	// test revokes its rule.
	public := netip.AddrFrom4([4]byte{127, 77, byte(os.Getpid() >> 8), byte(os.Getpid())})
	port := freeTCPPort(t, public)
	publicPort := netip.AddrPortFrom(public, uint16(port)).String()
	var revoked atomic.Bool
	network := func(ctx context.Context, inst openami.Instance) (openami.InstanceNetwork, error) {
		in, err := testNetwork(ctx, inst)
		in.PublicIP = public
		if !revoked.Load() {
			in.Firewall.Ingress = []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: port, ToPort: port,
				Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}
		}
		return in, err
	}
	listening := func() bool {
		c, err := net.Dial("tcp4", publicPort)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	rt, err := New(context.Background(), Config{Dir: filepath.Join(dir, "vms"), NBDSocket: sock, Accel: "tcg",
		Network: network, NetworkRefresh: 100 * time.Millisecond, StopTimeout: time.Second,
		IMDS:         func(openami.Instance) http.Handler { return http.NotFoundHandler() },
		InstanceType: func(string) (Shape, bool) { return Shape{VCPUs: 64, MemoryMiB: 1 << 30}, true },
		OnExit:       func() { exits.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	goroutinesBefore := goruntime.NumGoroutine()
	inst := openami.Instance{ID: "i-0123456789abcdef0", InstanceType: "x1.huge", Architecture: "x86_64", VirtualizationType: "hvm",
		RootDeviceName: "/dev/xvda", BlockDevices: []openami.InstanceBlockDevice{{DeviceName: "/dev/xvda", VolumeID: "vol-boot"}},
		MacAddress: "02:00:00:00:00:09", PrivateIP: "172.31.0.9"}
	ctx := context.Background()
	if rt.VMState(inst) != openami.VMAbsent {
		t.Fatal("a VM before Start")
	}
	if err := rt.Start(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if n := len(vmProcesses(dir)); n != 1 {
		t.Fatalf("%d QEMU processes after two Starts, want 1", n)
	}
	sh, _ := rt.shape(inst)
	if sh.VCPUs > rt.hostCPUs || sh.MemoryMiB > max(rt.hostMemMB/2, 128) {
		t.Fatalf("shape %+v not capped to the host (%d CPUs, %d MiB)", sh, rt.hostCPUs, rt.hostMemMB)
	}
	waitFor(t, func() bool { return strings.Count(consoleOf(t, rt, inst), probeMarker) == 1 }, "the guest's first console line")
	if err := rt.Reboot(ctx, inst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Count(consoleOf(t, rt, inst), probeMarker) == 2 }, "the console line after a reset")
	if rt.VMState(inst) != openami.VMRunning {
		t.Fatal("not running")
	}
	// No ACPI in this guest: the power button does nothing, so the stop
	// ends in a kill after StopTimeout.
	// The public port is forwarded while the VM runs, and closes when
	// its rule is revoked, without a reboot.
	if !listening() {
		t.Fatalf("%s does not listen while the VM runs", publicPort)
	}
	revoked.Store(true)
	waitFor(t, func() bool { return !listening() }, "the revoked port to close")
	revoked.Store(false)
	waitFor(t, listening, "the port to open again")
	if err := rt.Stop(ctx, inst, false); err != nil {
		t.Fatal(err)
	}
	if rt.VMState(inst) != openami.VMAbsent || len(vmProcesses(dir)) != 0 {
		t.Fatal("a VM after Stop")
	}
	if listening() {
		t.Fatalf("%s still listens after Stop", publicPort)
	}
	if strings.Count(consoleOf(t, rt, inst), probeMarker) != 2 {
		t.Fatal("the console did not survive the stop")
	}
	if exits.Load() != 0 {
		t.Fatal("a stop counted as the guest's own power-off")
	}

	// A VM that ends without being asked (here: QMP quit from outside).
	if err := rt.Start(ctx, inst); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	v := rt.vms[inst.ID]
	rt.mu.Unlock()
	v.qmp.execute("quit")
	waitFor(t, func() bool { return rt.VMState(inst) == openami.VMPoweredOff }, "the VM's own exit")
	waitFor(t, func() bool { return exits.Load() == 1 }, "OnExit")
	if listening() {
		t.Fatalf("%s still listens after the VM ended", publicPort)
	}

	// Start after that boots a new VM; Terminate removes everything.
	if err := rt.Start(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if rt.VMState(inst) != openami.VMRunning {
		t.Fatal("not running after a start")
	}
	if err := rt.Terminate(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vms", inst.ID)); !os.IsNotExist(err) || len(vmProcesses(dir)) != 0 {
		t.Fatalf("VM directory or process left after Terminate: %v", err)
	}
	if listening() {
		t.Fatalf("%s still listens after Terminate", publicPort)
	}
	if err := rt.Terminate(ctx, inst); err != nil {
		t.Fatalf("Terminate of an instance without a VM: %v", err)
	}
	// Nothing of the VMs is left running: their networks' goroutines
	// (pumps, listeners, the refresh) ended with them. Goroutines end
	// asynchronously (the NBD server's with QEMU's connections): wait.
	after := goruntime.NumGoroutine()
	for i := 0; i < 500 && after > goroutinesBefore; i++ {
		time.Sleep(10 * time.Millisecond)
		after = goruntime.NumGoroutine()
	}
	if after > goroutinesBefore {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before the first Start, %d after the last Terminate:\n%s", goroutinesBefore, after, buf[:goruntime.Stack(buf, true)])
	}

	// UEFI: OVMF, with the VM's own variable store, runs and looks at the
	// disk (the probe sector is no UEFI loader, so it goes on to its shell).
	if _, err := os.Stat(rt.cfg.OVMFCode); err == nil {
		u := inst
		u.ID, u.BootMode = "i-0aaaaaaaaaaaaaaa0", "uefi"
		if err := rt.Start(ctx, u); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return strings.Contains(consoleOf(t, rt, u), "BdsDxe") }, "OVMF's boot manager on the console")
		if _, err := os.Stat(filepath.Join(dir, "vms", u.ID, "uefi-vars.fd")); err != nil {
			t.Fatalf("no UEFI variable store: %v", err)
		}
		if err := rt.Terminate(ctx, u); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("no OVMF (%s): UEFI not checked; Debian: apt-get install ovmf", rt.cfg.OVMFCode)
	}

	// A missing export: QEMU gives up at start, and Start says why.
	bad := inst
	bad.ID, bad.BlockDevices = "i-0fffffffffffffff0", []openami.InstanceBlockDevice{{DeviceName: "/dev/xvda", VolumeID: "vol-missing"}}
	err = rt.Start(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "qemu exited at start") {
		t.Fatalf("start with a missing export: %v", err)
	}
	if rt.VMState(bad) != openami.VMAbsent || len(vmProcesses(dir)) != 0 {
		t.Fatal("a failed start left a VM")
	}
	para := inst
	para.VirtualizationType = "paravirtual"
	if err := rt.Start(ctx, para); err == nil {
		t.Fatal("a paravirtual instance started")
	}
}

// TestKillLeftovers: a VM process an earlier runtime left in the
// directory is killed by the next one.
func TestKillLeftovers(t *testing.T) {
	qemu := needQEMU(t)
	dir := t.TempDir()
	vmDir := filepath.Join(dir, "i-1")
	os.MkdirAll(vmDir, 0o700)
	cmd := exec.Command(qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "-m", "16",
		"-qmp", "unix:"+filepath.Join(vmDir, "qmp.sock")+",server=on,wait=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	os.WriteFile(filepath.Join(vmDir, "qemu.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o600)
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(vmDir, "qmp.sock")); return err == nil }, "QEMU's QMP socket")
	if _, err := New(context.Background(), Config{Dir: dir, NBDSocket: "x", Accel: "tcg", Network: testNetwork,
		IMDS: func(openami.Instance) http.Handler { return nil }, InstanceType: func(string) (Shape, bool) { return Shape{}, false }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the leftover VM was not killed")
	}
	if _, err := os.Stat(filepath.Join(vmDir, "qemu.pid")); !os.IsNotExist(err) {
		t.Fatal("stale pid file left")
	}
}

// TestProbeKVM: the probe decides, with a reason, and never takes long
// to fall back (here KVM may or may not work; both answers are fine).
func TestProbeKVM(t *testing.T) {
	qemu := needQEMU(t)
	ok, why := probeKVM(context.Background(), qemu)
	if why == "" {
		t.Fatal("no reason given")
	}
	t.Logf("KVM usable: %v (%s)", ok, why)
}

func consoleOf(t *testing.T, rt *Runtime, inst openami.Instance) string {
	b, err := rt.ConsoleOutput(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// vmProcesses returns the QEMU processes whose command line mentions dir.
func vmProcesses(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "qemu-system") && strings.Contains(string(b), dir) {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitFor polls cond: guests run under TCG on a loaded machine, so the
// bound is generous and never a measurement.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProbeSource: probe.bin is what probe.asm assembles to, where the
// GNU assembler and linker are at hand (Debian's binutils).
func TestProbeSource(t *testing.T) {
	as, errAs := exec.LookPath("as")
	ld, errLd := exec.LookPath("ld")
	if errAs != nil || errLd != nil {
		t.Skip("as or ld is not on the PATH (Debian: apt-get install binutils): probe.bin not checked against probe.asm")
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "probe.o"), filepath.Join(dir, "probe.bin")
	if out, err := exec.Command(as, "--32", "-o", obj, "probe.asm").CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(ld, "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", bin, obj).CombinedOutput(); err != nil {
		t.Fatalf("ld: %v\n%s", err, out)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, probeMBR) {
		t.Fatal("probe.bin is not what probe.asm assembles to: rebuild it (see probe.asm)")
	}
	if len(probeMBR) != 512 || probeMBR[510] != 0x55 || probeMBR[511] != 0xaa {
		t.Fatal("probe.bin is not a boot sector")
	}
}

// TestProbeStages boots the probe under TCG, which runs every guest: it
// must pass each stage a boot loader and kernel pass, in order, and end
// with the marker.
func TestProbeStages(t *testing.T) {
	qemu := needQEMU(t)
	disk := filepath.Join(t.TempDir(), "probe.raw")
	os.WriteFile(disk, probeMBR, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := &tailBuffer{max: 4096}
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "16", "-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "stdio,id=c,signal=off", "-serial", "chardev:c", "-drive", "file="+disk+",format=raw,if=ide,snapshot=on")
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, func() bool { return strings.Contains(out.String(), probeMarker) }, "the probe's marker")
	if got := strings.TrimSpace(out.String()); got != "16 32 irq 16 64\r\n"+probeMarker {
		t.Fatalf("probe console %q, want every stage then the marker", got)
	}
}

// fakeKVM writes a stand-in for qemu-system-x86_64 that runs everything
// under TCG but plays a host whose KVM passes the probe and then fails
// real guests: a VM (it has a QMP socket) started with -accel kvm gets
// fault on its stderr ("" for none: it just runs). Each command line is
// appended to the log file it returns.
func fakeKVM(t *testing.T, qemu, dir, fault string) (path, log string) {
	path, log = filepath.Join(dir, "fake-qemu"), filepath.Join(dir, "fake-qemu.log")
	script := `#!/bin/sh
echo "$*" >> ` + shellQuote(log) + `
kvm=; vm=; n=0
for a in "$@"; do
	case "$a" in kvm) kvm=1 ;; -qmp) vm=1 ;; esac
done
if [ -n "$kvm" ]; then
	# Drop "-cpu host" and run under TCG instead.
	for a in "$@"; do
		shift
		case "$a" in kvm) set -- "$@" tcg ;; host) set -- "$@" qemu64 ;; *) set -- "$@" "$a" ;; esac
	done
	if [ -n "$vm" ] && [ -n ` + shellQuote(fault) + ` ]; then
		echo ` + shellQuote(fault) + ` >&2
	fi
fi
exec ` + shellQuote(qemu) + ` "$@"
`
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, log
}

// TestKVMFallback: on a host whose KVM passes the probe but fails real
// guests (a fault injected by a stand-in QEMU), the runtime picks KVM,
// sees the first guest fail — by a KVM internal error, or by silence —
// switches to TCG for good, ends the VM so that the worker boots it
// again, and the guest then runs; the next runtime on the same directory
// remembers and does not probe. A guest that says nothing under TCG
// either is reported impaired, with the reason.
func TestKVMFallback(t *testing.T) {
	qemu := needQEMU(t)
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("/dev/kvm is not usable here (%v): the probe cannot pick KVM, so the fallback cannot be reached", err)
	} else {
		f.Close()
	}
	for _, tc := range []struct {
		name, fault string
		disk        []byte
		wantReason  string
	}{
		{"internal-error", "KVM internal error. Suberror: 1", probeMBR, "KVM internal error"},
		{"silent", "", nil, "wrote nothing to its console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "oqt-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			fake, log := fakeKVM(t, qemu, dir, tc.fault)
			sock := filepath.Join(dir, "nbd.sock")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			disk := &memDisk{b: make([]byte, 1<<20)}
			copy(disk.b, tc.disk)
			srv := nbd.New(func(context.Context, string) (nbd.Export, error) { return disk, nil }, nil)
			go srv.Serve(ln)
			defer srv.Close()
			var exits atomic.Int32
			cfg := Config{QEMU: fake, Dir: filepath.Join(dir, "vms"), NBDSocket: sock, Accel: "auto",
				Network: testNetwork, StopTimeout: time.Second, FirstOutputTimeout: 3 * time.Second,
				IMDS:         func(openami.Instance) http.Handler { return http.NotFoundHandler() },
				InstanceType: func(string) (Shape, bool) { return Shape{VCPUs: 1, MemoryMiB: 128}, true },
				OnExit:       func() { exits.Add(1) }}
			rt, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			if rt.Accel() != "kvm" {
				t.Fatalf("the stand-in passes the probe, yet the runtime chose %s", rt.Accel())
			}
			inst := openami.Instance{ID: "i-0123456789abcdef0", InstanceType: "t3.micro", Architecture: "x86_64", VirtualizationType: "hvm",
				RootDeviceName: "/dev/xvda", BlockDevices: []openami.InstanceBlockDevice{{DeviceName: "/dev/xvda", VolumeID: "vol-boot"}}}
			ctx := context.Background()
			if err := rt.Start(ctx, inst); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return rt.Accel() == "tcg" }, "the fall back to TCG")
			waitFor(t, func() bool { return rt.VMState(inst) == openami.VMAbsent && exits.Load() == 1 }, "the failed VM's end and the worker's kick")
			if !strings.Contains(consoleOf(t, rt, inst), "booting again under TCG") {
				t.Fatalf("the console does not say why the instance boots again: %q", consoleOf(t, rt, inst))
			}
			// What the worker does on its next pass.
			if err := rt.Start(ctx, inst); err != nil {
				t.Fatal(err)
			}
			if tc.disk != nil {
				waitFor(t, func() bool { return strings.Contains(consoleOf(t, rt, inst), probeMarker) }, "the guest under TCG")
				waitFor(t, func() bool { return rt.Health(inst).Status == openami.HealthOK }, "a passed status check")
			} else {
				waitFor(t, func() bool { return rt.Health(inst).Status == openami.HealthImpaired }, "a failed status check")
			}
			if h := rt.Health(inst); h.Status == openami.HealthImpaired && (!strings.Contains(h.Reason, tc.wantReason) || h.Since.IsZero()) {
				t.Fatalf("impaired without the reason %q or a time: %+v", tc.wantReason, h)
			}
			b, _ := os.ReadFile(log)
			if n := strings.Count(string(b), "-accel tcg"); n != 1 {
				t.Fatalf("%d QEMU runs under TCG, want 1 (the second start):\n%s", n, b)
			}
			rt.Close()

			// The next runtime on this directory does not probe again.
			os.Remove(log)
			rt2, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rt2.Close()
			if b, _ := os.ReadFile(log); rt2.Accel() != "tcg" || len(b) != 0 {
				t.Fatalf("the next runtime chose %s after running %q", rt2.Accel(), b)
			}
		})
	}
}

// TestHealth: a guest that writes to its console passes its status
// check; one that writes nothing fails it once FirstOutputTimeout has
// passed, saying why; a VM that QEMU stopped with an error fails it too.
func TestHealth(t *testing.T) {
	needQEMU(t)
	dir, err := os.MkdirTemp("", "oqt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "nbd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	talking, silent := &memDisk{b: make([]byte, 1<<20)}, &memDisk{b: make([]byte, 1<<20)}
	copy(talking.b, probeMBR)
	srv := nbd.New(func(_ context.Context, name string) (nbd.Export, error) {
		if name == "vol-talking" {
			return talking, nil
		}
		return silent, nil
	}, nil)
	go srv.Serve(ln)
	defer srv.Close()
	rt, err := New(context.Background(), Config{Dir: filepath.Join(dir, "vms"), NBDSocket: sock, Accel: "tcg",
		Network: testNetwork, StopTimeout: time.Second, FirstOutputTimeout: 3 * time.Second,
		IMDS:         func(openami.Instance) http.Handler { return http.NotFoundHandler() },
		InstanceType: func(string) (Shape, bool) { return Shape{VCPUs: 1, MemoryMiB: 128}, true }})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	inst := func(id, vol string) openami.Instance {
		return openami.Instance{ID: id, InstanceType: "t3.micro", Architecture: "x86_64", VirtualizationType: "hvm",
			RootDeviceName: "/dev/xvda", BlockDevices: []openami.InstanceBlockDevice{{DeviceName: "/dev/xvda", VolumeID: vol}}}
	}
	good, bad := inst("i-0000000000000000a", "vol-talking"), inst("i-0000000000000000b", "vol-silent")
	if h := rt.Health(good); h.Status != openami.HealthInitializing {
		t.Fatalf("health before a VM: %+v", h)
	}
	for _, i := range []openami.Instance{good, bad} {
		if err := rt.Start(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if h := rt.Health(bad); h.Status != openami.HealthInitializing {
		t.Fatalf("a silent guest just started: %+v, want initializing", h)
	}
	waitFor(t, func() bool { return rt.Health(good).Status == openami.HealthOK }, "the talking guest's passed check")
	waitFor(t, func() bool { return rt.Health(bad).Status == openami.HealthImpaired }, "the silent guest's failed check")
	if h := rt.Health(bad); !strings.Contains(h.Reason, "wrote nothing to its console within 3s") || h.Since.IsZero() {
		t.Fatalf("impaired without a reason or time: %+v", h)
	}
	if rt.Accel() != "tcg" {
		t.Fatal("a silent guest under TCG changed the accelerator")
	}
	// QEMU's own stop (as on a KVM internal error with --qemu-accel kvm,
	// or a guest panic): the check fails and says so.
	rt.mu.Lock()
	v := rt.vms[good.ID]
	rt.mu.Unlock()
	if err := v.qmp.execute("stop"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rt.Health(good).Status == openami.HealthImpaired }, "the paused VM's failed check")
	if h := rt.Health(good); !strings.Contains(h.Reason, "paused") {
		t.Fatalf("a paused VM: %+v", h)
	}
}
