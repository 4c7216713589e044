// Package qemu runs instances as QEMU virtual machines: the qemu runtime
// of `openami serve --runtime qemu` (openami.Runtime and openami.Watcher).
//
// Each running instance is one qemu-system-x86_64 process, started with
// the Linux parent-death signal so that it never outlives openami. Its
// disks are the instance's volumes, read and written over openami's NBD
// socket (lazily: a boot reads only the blocks the guest touches); its
// serial console goes to a bounded log file; a QMP socket powers it down,
// resets or quits it; its NIC is joined by a socket pair to a network of
// its own (runtime/vnet), which hands the guest its private address,
// serves its own metadata at 169.254.169.254 in process, and forwards
// the ports its security groups allow from its public address.
// Everything of one VM lives in DIR/INSTANCE-ID/. docs/RUNTIME.md has the
// whole story: boot, IMDS wiring, stop and restart behaviour, limits.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/runtime/bridge"
)

// Shape is what an instance type gives a VM.
type Shape struct {
	VCPUs     int
	MemoryMiB int64
	// UEFI says the type can boot UEFI (it resolves an image's
	// uefi-preferred boot mode).
	UEFI bool
}

// Config configures a Runtime. Dir, NBDSocket, IMDS, Network and
// InstanceType are required.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary; empty looks it up on PATH.
	QEMU string
	// Dir holds one directory per VM (DATA_DIR/vms).
	Dir string
	// NBDSocket is openami's NBD server, where the instances' volumes are.
	NBDSocket string
	// Accel is auto (probe KVM, fall back to TCG), kvm or tcg.
	Accel string
	// IMDS returns the metadata service of an instance.
	IMDS func(inst openami.Instance) http.Handler
	// Network returns an instance's network: its addresses and what its
	// security groups allow. It is asked when the VM starts and every
	// NetworkRefresh while it runs, so that a rule authorized or revoked
	// opens or closes its port without a reboot.
	Network func(ctx context.Context, inst openami.Instance) (openami.InstanceNetwork, error)
	// NetworkRefresh is how often a running VM's network is asked for
	// again. Default 2 s.
	NetworkRefresh time.Duration
	// InstanceType returns the shape of an instance type.
	InstanceType func(name string) (Shape, bool)
	// BootFile writes the file a kernel or ramdisk image holds to w: what
	// a paravirtual instance boots. Without it, paravirtual instances
	// fail to start.
	BootFile func(ctx context.Context, region, imageID string, w io.Writer) error
	// StopTimeout is how long Stop waits for the guest to power off after
	// the ACPI power button before it kills the VM. Default 60 s.
	StopTimeout time.Duration
	// OVMFCode and OVMFVars are the UEFI firmware and its variable-store
	// template; defaults are Debian's ovmf package's 4 MiB builds.
	OVMFCode, OVMFVars string
	// RestrictNetwork cuts guests off from the host and the outside; the
	// VPC's DHCP, DNS and metadata service still answer.
	RestrictNetwork bool
	// GatewayToHost lets a guest of the rootless network reach the
	// host's 127.0.0.1:PORT at its gateway's address (as QEMU's user
	// network's 10.0.2.2), where its egress rules allow. Off by default:
	// guests do not reach the services a host keeps to its loopback.
	GatewayToHost bool
	// NetworkMode is how guests are networked: NetworkRootless (the
	// default: each VM a user-mode network of its own, runtime/vnet) or
	// NetworkBridge (as root: a namespace and bridge per VPC, a tap per VM
	// and nftables, runtime/bridge).
	NetworkMode string
	// FirstOutputTimeout is how long a guest may take to write to its
	// serial console before its instance status check fails (and, under
	// KVM not yet seen to work, before the host falls back to TCG).
	// Default DefaultFirstOutputTimeout.
	FirstOutputTimeout time.Duration
	// OnExit is called, from its own goroutine, when a VM ends without
	// being asked (the guest powered off, or it is to boot again under
	// TCG): openami kicks its worker.
	OnExit func()
	// Log receives the accelerator decision and VM events.
	Log *slog.Logger
}

// Runtime runs instances as QEMU VMs. It is safe for concurrent use;
// the service calls Start, Stop and Terminate one at a time per instance.
type Runtime struct {
	cfg       Config
	hostCPUs  int
	hostMemMB int64
	// auto: the accelerator was the runtime's choice (Accel auto), so it
	// may change its mind.
	auto bool
	// kvmWorks is set once a guest under KVM has written to its console:
	// from then on a silent guest is the guest's fault, not KVM's.
	kvmWorks atomic.Bool

	mu    sync.Mutex
	accel string // kvm or tcg; kvm turns into tcg for good (health.go)
	vms   map[string]*vm

	// bindDenied is set once the runtime has said that a public port
	// below the unprivileged range cannot be listened on.
	bindDenied atomic.Bool
	// bridges is the host's root-mode network, with NetworkBridge.
	bridges *bridge.Host
}

// vm is one QEMU process.
type vm struct {
	id      string
	dir     string
	accel   string
	started time.Time
	cmd     *exec.Cmd
	done    chan struct{} // closed once QEMU has exited
	exitErr error         // set before done is closed
	console *consoleLog
	stderr  *tailBuffer
	net     guestNetwork
	stopNet context.CancelFunc // ends the network's refresh
	netDone chan struct{}      // closed when the refresh has ended
	qmp     *qmp

	mu     sync.Mutex
	asked  bool           // a Stop, Terminate or Close is ending it: not the guest's doing
	health openami.Health // kept by watch
}

func (v *vm) exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// New returns a qemu runtime: it checks that QEMU is there, decides the
// accelerator (with Accel auto, a short KVM boot; TCG when that fails),
// and kills whatever VM an earlier openami process left running in Dir
// (the parent-death signal normally spares that), so that no instance
// ever runs twice.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Dir == "" || cfg.NBDSocket == "" || cfg.IMDS == nil || cfg.Network == nil || cfg.InstanceType == nil {
		return nil, errors.New("qemu: Dir, NBDSocket, IMDS, Network and InstanceType are required")
	}
	if cfg.NetworkRefresh <= 0 {
		cfg.NetworkRefresh = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.QEMU == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			return nil, fmt.Errorf("qemu: qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86): %w", err)
		}
		cfg.QEMU = p
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 60 * time.Second
	}
	if cfg.FirstOutputTimeout <= 0 {
		cfg.FirstOutputTimeout = DefaultFirstOutputTimeout
	}
	if cfg.OVMFCode == "" {
		cfg.OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	}
	if cfg.OVMFVars == "" {
		cfg.OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	r := &Runtime{cfg: cfg, vms: map[string]*vm{}, hostCPUs: goruntime.NumCPU(), hostMemMB: hostMemoryMiB()}
	switch cfg.Accel {
	case "", "auto":
		r.accel, r.auto = "tcg", true
		why := rememberedFallback(cfg.Dir)
		if why == "" {
			var ok bool
			if ok, why = probeKVM(ctx, cfg.QEMU); ok {
				r.accel = "kvm"
			}
		}
		cfg.Log.Info("qemu runtime accelerator", "accel", r.accel, "why", why)
	case "kvm", "tcg":
		r.accel = cfg.Accel
		cfg.Log.Info("qemu runtime accelerator", "accel", r.accel, "why", "set by --qemu-accel")
	default:
		return nil, fmt.Errorf("qemu: accelerator %q: want auto, kvm or tcg", cfg.Accel)
	}
	r.killLeftovers()
	switch cfg.NetworkMode {
	case "", NetworkRootless:
	case NetworkBridge:
		h, err := bridge.New(bridge.Config{Restrict: cfg.RestrictNetwork, Log: cfg.Log})
		if err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
		r.bridges = h
		cfg.Log.Info("guest network: bridges and nftables (root mode)")
	default:
		return nil, fmt.Errorf("qemu: network mode %q: want %s or %s", cfg.NetworkMode, NetworkRootless, NetworkBridge)
	}
	return r, nil
}

// Network modes (Config.NetworkMode).
const (
	NetworkRootless = "rootless"
	NetworkBridge   = "bridge"
)

// Name returns "qemu".
func (r *Runtime) Name() string { return "qemu" }

// NetworkMode returns how guests are networked: NetworkRootless or
// NetworkBridge.
func (r *Runtime) NetworkMode() string {
	if r.bridges != nil {
		return NetworkBridge
	}
	return NetworkRootless
}

// Accel returns the accelerator new VMs run with: kvm or tcg.
func (r *Runtime) Accel() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accel
}

// shape returns the vCPUs and memory of an instance's VM: its type's,
// capped to the host's CPUs and to half the host's memory (QEMU commits
// guest memory only as the guest touches it, but a cap keeps one large
// type from being able to take the host down).
func (r *Runtime) shape(inst openami.Instance) (Shape, error) {
	sh, ok := r.cfg.InstanceType(inst.InstanceType)
	if !ok {
		return sh, fmt.Errorf("unknown instance type %s", inst.InstanceType)
	}
	sh.VCPUs = max(1, min(sh.VCPUs, r.hostCPUs))
	if r.hostMemMB > 0 {
		sh.MemoryMiB = min(sh.MemoryMiB, max(r.hostMemMB/2, 128))
	}
	sh.MemoryMiB = max(sh.MemoryMiB, 128)
	return sh, nil
}

// uefi decides the firmware: UEFI for uefi images, and for
// uefi-preferred ones on types that can; SeaBIOS otherwise.
func uefi(inst openami.Instance, sh Shape) bool {
	return inst.BootMode == "uefi" || inst.BootMode == "uefi-preferred" && sh.UEFI
}

// vmDir is the VM's directory.
func (r *Runtime) vmDir(id string) string { return filepath.Join(r.cfg.Dir, id) }

// Start boots the instance's VM and returns once QEMU runs and answers on
// its QMP socket, without waiting for the guest. A VM that already runs
// is left alone.
func (r *Runtime) Start(ctx context.Context, inst openami.Instance) error {
	if inst.Architecture != "" && inst.Architecture != "x86_64" && inst.Architecture != "i386" {
		return fmt.Errorf("the qemu runtime runs x86_64 and i386 guests, not %s", inst.Architecture)
	}
	r.mu.Lock()
	if v := r.vms[inst.ID]; v != nil {
		if !v.exited() {
			r.mu.Unlock()
			return nil
		}
		delete(r.vms, inst.ID)
		r.mu.Unlock()
		v.release()
	} else {
		r.mu.Unlock()
	}
	sh, err := r.shape(inst)
	if err != nil {
		return err
	}
	dir := r.vmDir(inst.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	m := machine{
		Name: inst.ID, Dir: dir, Accel: r.Accel(), VCPUs: sh.VCPUs, MemoryMiB: sh.MemoryMiB,
		NBDSocket: r.cfg.NBDSocket, Exports: exports(inst), MAC: inst.MacAddress,
		NetFD:  3, // the first of ExtraFiles
		NetTap: r.bridges != nil,
	}
	if len(m.Exports) == 0 {
		return errors.New("the instance has no volume to boot from")
	}
	if m.MAC == "" {
		m.MAC = "02:00:00:00:00:01"
	}
	if uefi(inst, sh) {
		m.UEFI, m.CodePath, m.VarsPath = true, r.cfg.OVMFCode, filepath.Join(dir, "uefi-vars.fd")
		if _, err := os.Stat(m.VarsPath); os.IsNotExist(err) {
			if err := copyFile(r.cfg.OVMFVars, m.VarsPath); err != nil {
				return fmt.Errorf("UEFI variable store (Debian: apt-get install ovmf): %w", err)
			}
		}
	}
	m.InstanceType = inst.InstanceType
	if inst.VirtualizationType == "paravirtual" {
		if err := r.bootFiles(ctx, inst, &m); err != nil {
			return err
		}
	}
	qmpPath := filepath.Join(dir, "qmp.sock")
	if len(qmpPath) > 107 {
		return fmt.Errorf("socket path %s is longer than a unix socket allows (107 bytes): use a shorter --data-dir", qmpPath)
	}
	os.Remove(qmpPath)
	network, err := r.cfg.Network(ctx, inst)
	if err != nil {
		return fmt.Errorf("the instance's network: %w", err)
	}

	v := &vm{id: inst.ID, dir: dir, accel: m.Accel, started: time.Now(), done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10},
		health: openami.Health{Status: openami.HealthInitializing}}
	ok := false
	defer func() {
		if !ok {
			v.kill()
			v.release()
		}
	}()
	qemuEnd, err := r.startNetwork(inst, v, network)
	if err != nil {
		return err
	}
	defer qemuEnd.Close() // QEMU has its own copy once it runs
	if v.console, err = openConsole(filepath.Join(dir, "console.log")); err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	v.cmd = exec.Command(r.cfg.QEMU, args(m)...)
	v.cmd.Dir = dir
	v.cmd.Stdout, v.cmd.Stderr = v.console, v.stderr
	v.cmd.ExtraFiles = []*os.File{qemuEnd}
	v.cmd.SysProcAttr = sysProcAttr()
	if err := startTied(v.cmd, func(err error) {
		v.exitErr = err
		close(v.done)
		// No guest, no network: its public ports close with the VM.
		v.net.Close()
		v.mu.Lock()
		asked := v.asked
		v.mu.Unlock()
		if !asked {
			r.cfg.Log.Info("VM ended by itself", "instance", v.id, "exit", err, "stderr", v.stderr.String())
			if r.cfg.OnExit != nil {
				r.cfg.OnExit()
			}
		}
	}); err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	os.WriteFile(filepath.Join(dir, "qemu.pid"), []byte(strconv.Itoa(v.cmd.Process.Pid)+"\n"), 0o600)
	// QEMU creates the QMP socket during its start-up; wait for it, or
	// for QEMU to give up (bad arguments, a missing export).
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, err := dialQMP(qmpPath)
		if err == nil {
			v.qmp = q
			if err := v.waitRunning(deadline); err != nil {
				return fmt.Errorf("qemu failed at start (%v): %s", err, strings.TrimSpace(v.stderr.String()))
			}
			break
		}
		select {
		case <-v.done:
			return fmt.Errorf("qemu exited at start (%v): %s", v.exitErr, strings.TrimSpace(v.stderr.String()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("qemu did not open its QMP socket within a minute: %v", err)
		}
	}
	r.mu.Lock()
	r.vms[inst.ID] = v
	r.mu.Unlock()
	ok = true
	go r.watch(v)
	r.cfg.Log.Info("VM started", "instance", inst.ID, "accel", m.Accel, "vcpus", sh.VCPUs, "memory_mib", sh.MemoryMiB,
		"firmware", map[bool]string{true: "ovmf", false: "seabios"}[m.UEFI], "disks", len(m.Exports), "pid", v.cmd.Process.Pid)
	return nil
}

// waitRunning waits for QEMU to report the VM running. QMP can answer
// while QEMU is still building the machine (status prelaunch: it serves
// its monitor while it waits on the NBD server); a device QEMU then
// refuses ends it, which fails the start here rather than looking like a
// guest's power-off later.
func (v *vm) waitRunning(deadline time.Time) error {
	for {
		var st struct{ Status string }
		raw, err := v.qmp.query("query-status")
		if err == nil {
			err = json.Unmarshal(raw, &st)
		}
		if err != nil {
			return err
		}
		switch st.Status {
		case "running":
			return nil
		case "prelaunch", "inmigrate":
		default:
			return fmt.Errorf("the VM is %s, not running", st.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the VM is still %s", st.Status)
		}
		select {
		case <-v.done:
			return errors.New("qemu exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bootFiles writes a paravirtual instance's kernel and ramdisk into its
// VM directory (afresh at every start: the images are immutable, but the
// files are small and this keeps no stale copy) and sets the machine's
// direct kernel boot.
func (r *Runtime) bootFiles(ctx context.Context, inst openami.Instance, m *machine) error {
	if inst.KernelID == "" {
		return errors.New("a paravirtual instance needs a kernel image (the image's KernelId)")
	}
	if r.cfg.BootFile == nil {
		return errors.New("this runtime cannot read kernel images")
	}
	write := func(imageID, name string) (string, error) {
		path := filepath.Join(m.Dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return "", err
		}
		err = r.cfg.BootFile(ctx, inst.Region, imageID, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("%s of %s: %w", name, imageID, err)
		}
		return path, nil
	}
	var err error
	if m.Kernel, err = write(inst.KernelID, "kernel"); err != nil {
		return err
	}
	if inst.RamdiskID != "" {
		if m.Initrd, err = write(inst.RamdiskID, "ramdisk"); err != nil {
			return err
		}
	}
	m.Append = "root=" + kernelRoot(inst.RootDeviceName) + " console=ttyS0,115200"
	return nil
}

// kernelRoot maps the image's root device name onto the first virtio
// disk, keeping its partition number: /dev/sda1 → /dev/vda1, /dev/xvda →
// /dev/vda.
func kernelRoot(rootDevice string) string {
	i := len(rootDevice)
	for i > 0 && rootDevice[i-1] >= '0' && rootDevice[i-1] <= '9' {
		i--
	}
	return "/dev/vda" + rootDevice[i:]
}

// Stop shuts the VM down: the ACPI power button (pressed again every few
// seconds: a guest may miss a press early in its boot), then, if the
// guest has not powered off within StopTimeout, a kill. With force, the
// kill comes at once. Its console log stays.
func (r *Runtime) Stop(ctx context.Context, inst openami.Instance, force bool) error {
	v := r.take(inst.ID)
	if v == nil {
		return nil
	}
	if !force {
		v.powerdown(ctx, r.cfg.StopTimeout)
	}
	v.kill()
	v.release()
	r.cfg.Log.Info("VM stopped", "instance", inst.ID, "exit", v.exitErr)
	return ctx.Err()
}

// Terminate kills the VM and removes its directory, console log included.
func (r *Runtime) Terminate(ctx context.Context, inst openami.Instance) error {
	if v := r.take(inst.ID); v != nil {
		v.kill()
		v.release()
	}
	return os.RemoveAll(r.vmDir(inst.ID))
}

// Reboot resets the VM (QMP system_reset: a hard reset, as a reboot that
// a guest does not act on ends up on EC2). An instance without a VM is
// left to the worker, which boots it.
func (r *Runtime) Reboot(ctx context.Context, inst openami.Instance) error {
	r.mu.Lock()
	v := r.vms[inst.ID]
	r.mu.Unlock()
	if v == nil || v.exited() {
		return nil
	}
	return v.qmp.execute("system_reset")
}

// ConsoleOutput returns the last ConsoleLimit bytes of the instance's
// serial console, written by the running VM or left by the last one.
func (r *Runtime) ConsoleOutput(ctx context.Context, inst openami.Instance) ([]byte, error) {
	return readConsole(filepath.Join(r.vmDir(inst.ID), "console.log"))
}

// VMState says whether the instance's VM runs, ended by itself, or is
// not this process's (openami restarted).
func (r *Runtime) VMState(inst openami.Instance) openami.VMState {
	r.mu.Lock()
	v := r.vms[inst.ID]
	r.mu.Unlock()
	switch {
	case v == nil:
		return openami.VMAbsent
	case v.exited():
		v.mu.Lock()
		defer v.mu.Unlock()
		if !v.asked {
			return openami.VMPoweredOff
		}
	}
	return openami.VMRunning
}

// Close powers every VM down (ACPI, at most StopTimeout, then a kill), all
// at once, and waits for them: openami's shutdown. Their instances stay
// running in the store, and are booted again when openami starts.
func (r *Runtime) Close() error {
	r.mu.Lock()
	all := make([]*vm, 0, len(r.vms))
	for id, v := range r.vms {
		all = append(all, v)
		delete(r.vms, id)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range all {
		v.mu.Lock()
		v.asked = true
		v.mu.Unlock()
		wg.Go(func() {
			v.powerdown(context.Background(), min(r.cfg.StopTimeout, 30*time.Second))
			v.kill()
			v.release()
		})
	}
	wg.Wait()
	if r.bridges != nil {
		r.bridges.Close()
	}
	return nil
}

// take removes the instance's VM from the table, marked as asked to end.
func (r *Runtime) take(id string) *vm {
	r.mu.Lock()
	v := r.vms[id]
	delete(r.vms, id)
	r.mu.Unlock()
	if v != nil {
		v.mu.Lock()
		v.asked = true
		v.mu.Unlock()
	}
	return v
}

// powerdownRepeat is how often the power button is pressed again.
const powerdownRepeat = 5 * time.Second

// powerdown presses the ACPI power button and waits for the VM to exit,
// at most timeout.
func (v *vm) powerdown(ctx context.Context, timeout time.Duration) {
	if v.qmp == nil || v.exited() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		v.qmp.execute("system_powerdown")
		select {
		case <-v.done:
			return
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		case <-time.After(powerdownRepeat):
		}
	}
}

// kill kills QEMU, if it runs, and waits for it to be gone.
func (v *vm) kill() {
	v.mu.Lock()
	v.asked = true
	v.mu.Unlock()
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	if !v.exited() {
		v.cmd.Process.Kill()
	}
	<-v.done
}

// release frees what the VM held besides its process: QMP, its network
// (listeners, forwarded connections, the metadata service), the console
// file, the sockets and the pid file.
func (v *vm) release() {
	if v.qmp != nil {
		v.qmp.Close()
	}
	if v.stopNet != nil {
		v.stopNet()
		<-v.netDone
	}
	if v.net != nil {
		v.net.Close()
	}
	if v.console != nil {
		v.console.Close()
	}
	for _, f := range []string{"qmp.sock", "qemu.pid", "kernel", "ramdisk"} {
		os.Remove(filepath.Join(v.dir, f))
	}
}

// startTied starts cmd from a goroutine locked to its OS thread, and
// keeps that thread until cmd exits: the parent-death signal (Linux)
// fires when the thread that forked the child ends, not the process, so
// the thread must live as long as the child. exited gets cmd.Wait's
// result.
func startTied(cmd *exec.Cmd, exited func(error)) error {
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine, after
		// QEMU has exited.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}

// killLeftovers kills QEMU processes that an earlier openami left behind
// in Dir (pid files whose process is a QEMU of that VM directory), and
// removes their stale sockets and pid files.
func (r *Runtime) killLeftovers() {
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(r.cfg.Dir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "qemu.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if strings.Contains(string(cmdline), "qemu") && strings.Contains(string(cmdline), filepath.Join(dir, "qmp.sock")) {
				r.cfg.Log.Warn("killing a VM left by an earlier openami process", "instance", e.Name(), "pid", pid)
				syscall.Kill(pid, syscall.SIGKILL)
				for i := 0; i < 100; i++ {
					if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		// imds.sock: the metadata socket of versions before runtime/vnet.
		for _, f := range []string{"imds.sock", "qmp.sock", "qemu.pid"} {
			os.Remove(filepath.Join(dir, f))
		}
	}
}

// tailBuffer keeps the last max bytes written to it (QEMU's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// hostMemoryMiB returns MemTotal from /proc/meminfo, 0 if unknown.
func hostMemoryMiB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb / 1024
			}
		}
	}
	return 0
}
