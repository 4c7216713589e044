package qemu

import (
	"context"
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// probeMBR is the boot sector of the KVM probe, assembled from
// probe.asm: real mode, protected mode with interrupts, a thunk back to
// real mode, long mode, each announced on COM1, then probeMarker.
//
//go:embed probe.bin
var probeMBR []byte

const probeMarker = "openami-kvm-probe-ok"

// probeTimeout bounds the KVM probe's boot.
const probeTimeout = 15 * time.Second

// probeKVM reports whether QEMU can run guests with KVM here, and why it
// decided so. A /dev/kvm that exists is not enough (inside some VMs
// `-cpu host` makes QEMU abort at once, and on others KVM fails a guest's
// first protected-mode interrupt return), so it boots probeMBR with
// `-accel kvm -cpu host`, as the runtime would, and accepts KVM only when
// the marker reaches the console. A failure the probe cannot see is
// caught by the watch on every VM (health.go), which falls back to TCG.
func probeKVM(ctx context.Context, qemu string) (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, "/dev/kvm is not usable: " + err.Error()
	}
	f.Close()
	dir, err := os.MkdirTemp("", "openami-kvm-probe-")
	if err != nil {
		return false, err.Error()
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "probe.raw")
	if err := os.WriteFile(disk, probeMBR, 0o600); err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, stderr := &tailBuffer{max: 4096}, &tailBuffer{max: 4096}
	cmd := exec.CommandContext(ctx, qemu, "-accel", "kvm", "-cpu", "host", "-m", "16", "-nodefaults", "-no-user-config",
		"-display", "none", "-chardev", "stdio,id=c,signal=off", "-serial", "chardev:c",
		"-drive", "file="+optValue(disk)+",format=raw,if=ide,snapshot=on")
	cmd.Stdout, cmd.Stderr = out, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return false, err.Error()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if strings.Contains(out.String(), probeMarker) {
				return true, "a KVM probe guest booted"
			}
			return false, "QEMU with KVM failed: " + firstLine(stderr.String(), err)
		case <-ctx.Done():
			cmd.Process.Kill()
			<-done
			return false, "a KVM probe guest did not boot within " + probeTimeout.String() + " (it printed " + strconv.Quote(strings.TrimSpace(out.String())) + ")"
		case <-tick.C:
			if strings.Contains(out.String(), probeMarker) {
				cmd.Process.Kill()
				<-done
				return true, "a KVM probe guest booted"
			}
			if strings.Contains(stderr.String(), "KVM internal error") {
				cmd.Process.Kill()
				<-done
				return false, "KVM internal error in the probe guest after " + strconv.Quote(strings.TrimSpace(out.String()))
			}
		}
	}
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" && err != nil {
		return err.Error()
	}
	return s
}
