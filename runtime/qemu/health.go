package qemu

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openami/openami"
)

// watchInterval is how often each VM is looked at: its QEMU status, its
// stderr and whether its guest has written to the console.
const watchInterval = 500 * time.Millisecond

// DefaultFirstOutputTimeout is how long a guest may take to write its
// first byte to the serial console. Stock cloud images (GRUB, the
// kernel with console=ttyS0, OVMF) and the test image all write within
// seconds of power-on even under TCG; a guest that has written nothing
// after this long is stuck before or in its boot loader.
const DefaultFirstOutputTimeout = 90 * time.Second

// fallbackFile, in Dir, remembers that a guest failed under KVM on this
// host, so that the next openami start on the same kernel goes straight
// to TCG instead of failing its first guest again.
const fallbackFile = "kvm-failed"

// watch looks at a VM until it ends: it keeps its health (the instance
// status check) and, for a VM under KVM whose guest KVM cannot run,
// switches the whole host to TCG and has the instance booted again.
func (r *Runtime) watch(v *vm) {
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-tick.C:
		}
		if fault := r.check(v); fault != "" {
			r.fallBack(v, fault)
			return
		}
	}
}

// check updates v's health and returns why its guest failed under KVM in
// a way TCG may not ("" when it did not).
func (r *Runtime) check(v *vm) (kvmFault string) {
	if v.exited() {
		return ""
	}
	// Only a runtime that chose KVM itself gives it up; with --qemu-accel
	// kvm the guest is reported impaired instead.
	kvm := v.accel == "kvm" && r.auto
	var (
		status string
		reason string
	)
	raw, err := v.qmp.query("query-status")
	if err == nil {
		var st struct{ Status string }
		if json.Unmarshal(raw, &st) == nil {
			status = st.Status
		}
	}
	stderr := v.stderr.String()
	switch {
	case v.exited():
		return ""
	case strings.Contains(stderr, "KVM internal error"):
		reason = "KVM internal error: " + firstLine(stderr[strings.Index(stderr, "KVM internal error"):], nil)
		if kvm {
			return reason
		}
	case err != nil:
		reason = "QEMU does not answer on its monitor: " + err.Error()
	case status == "internal-error":
		reason = "the VM stopped with an internal error"
		if kvm {
			return reason + " under KVM"
		}
	case status == "guest-panicked":
		reason = "the guest's kernel panicked"
	case status == "shutdown":
		return "" // powering off: QEMU exits next
	case status != "running":
		reason = "the VM is " + status + ", not running"
	case v.console.Written() > 0:
		if kvm {
			r.kvmWorks.Store(true)
		}
		v.setHealth(r, openami.Health{Status: openami.HealthOK})
		return ""
	case time.Since(v.started) < r.cfg.FirstOutputTimeout:
		v.setHealth(r, openami.Health{Status: openami.HealthInitializing})
		return ""
	default:
		if kvm && !r.kvmWorks.Load() {
			return "the guest wrote nothing to its console within " + r.cfg.FirstOutputTimeout.String() + " under KVM"
		}
		reason = "the guest wrote nothing to its console within " + r.cfg.FirstOutputTimeout.String() + " of power-on"
	}
	v.setHealth(r, openami.Health{Status: openami.HealthImpaired, Reason: reason})
	return ""
}

// setHealth records h, keeping the time an impairment began, and logs
// the moment a VM becomes impaired.
func (v *vm) setHealth(r *Runtime, h openami.Health) {
	v.mu.Lock()
	prev := v.health
	if h.Status == openami.HealthImpaired {
		h.Since = time.Now()
		if prev.Status == openami.HealthImpaired {
			h.Since = prev.Since
		}
	}
	v.health = h
	v.mu.Unlock()
	if h.Status == openami.HealthImpaired && prev.Status != openami.HealthImpaired {
		r.cfg.Log.Warn("instance status check failed", "instance", v.id, "reason", h.Reason)
	}
}

// Health returns the instance status check of a running instance's VM:
// initializing until its guest writes to the console (or while no VM runs
// yet: the worker is booting it), ok once it has, impaired when it wrote
// nothing within FirstOutputTimeout or QEMU stopped, panicked or died.
func (r *Runtime) Health(inst openami.Instance) openami.Health {
	r.mu.Lock()
	v := r.vms[inst.ID]
	r.mu.Unlock()
	if v == nil {
		return openami.Health{Status: openami.HealthInitializing}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.exited() && !v.asked {
		return openami.Health{Status: openami.HealthImpaired, Reason: "QEMU exited: " + firstLine(v.stderr.String(), v.exitErr), Since: v.health.Since}
	}
	return v.health
}

// fallBack switches the runtime to TCG for good, because v's guest could
// not run under KVM (fault says why), and ends v so that the worker,
// finding no VM for its running instance, boots it again — under TCG. A
// VM that a Stop or Terminate has taken meanwhile is theirs to end.
func (r *Runtime) fallBack(v *vm, fault string) {
	r.mu.Lock()
	if r.vms[v.id] != v {
		r.mu.Unlock()
		return
	}
	delete(r.vms, v.id)
	first := r.accel == "kvm"
	r.accel = "tcg"
	r.mu.Unlock()
	if first {
		r.cfg.Log.Warn("KVM cannot run this host's guests: every VM runs under TCG from now on",
			"reason", fault, "instance", v.id, "remembered_in", filepath.Join(r.cfg.Dir, fallbackFile))
		rememberFallback(r.cfg.Dir, fault)
	}
	v.console.Write([]byte("\r\nopenami: " + fault + "; booting again under TCG\r\n"))
	v.kill()
	v.release()
	if r.cfg.OnExit != nil {
		r.cfg.OnExit()
	}
}

// kernelRelease names the running kernel: KVM's abilities go with it.
func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// rememberFallback writes the fallback file: the kernel it applies to,
// then the reason.
func rememberFallback(dir, fault string) {
	os.WriteFile(filepath.Join(dir, fallbackFile), []byte(kernelRelease()+"\n"+fault+"\n"), 0o600)
}

// rememberedFallback returns why an earlier guest failed under KVM on
// this kernel, or "" (removing a file left by another kernel).
func rememberedFallback(dir string) string {
	path := filepath.Join(dir, fallbackFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	kernel, fault, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if kernel != kernelRelease() {
		os.Remove(path)
		return ""
	}
	return "a guest failed under KVM on this kernel before (" + fault + "); remove " + path + " to probe again"
}
