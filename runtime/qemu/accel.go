package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// probeMBR is a 512-byte boot sector that prints probeMarker on COM1 and
// halts. Hand-assembled 16-bit code, loaded at 0x7c00:
//
//	fa          cli
//	31 c0       xor ax, ax
//	8e d8       mov ds, ax
//	be 16 7c    mov si, 0x7c16      ; msg
//	ba f8 03    mov dx, 0x3f8       ; COM1 data port
//	ac          lodsb               ; loop:
//	84 c0       test al, al
//	74 03       jz done
//	ee          out dx, al
//	eb f8       jmp loop
//	f4          hlt                 ; done:
//	eb fd       jmp done
//	            msg: probeMarker, CR LF, 0
var probeMBR = func() []byte {
	b := make([]byte, 512)
	code := []byte{0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x16, 0x7c, 0xba, 0xf8, 0x03,
		0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd}
	n := copy(b, code)
	copy(b[n:], probeMarker+"\r\n\x00")
	b[510], b[511] = 0x55, 0xaa
	return b
}()

const probeMarker = "openami-kvm-probe-ok"

// probeTimeout bounds the KVM probe's boot.
const probeTimeout = 15 * time.Second

// probeKVM reports whether QEMU can run guests with KVM here, and why it
// decided so. A /dev/kvm that exists is not enough (inside some VMs
// `-cpu host` makes QEMU abort at once, and KVM without it can hang a
// guest), so it boots probeMBR with `-accel kvm -cpu host`, as the
// runtime would, and accepts KVM only when the marker reaches the
// console. It cannot see every failure a real guest could meet
// (docs/RUNTIME.md); --qemu-accel tcg overrides it.
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
			return false, "a KVM probe guest did not boot within " + probeTimeout.String()
		case <-tick.C:
			if strings.Contains(out.String(), probeMarker) {
				cmd.Process.Kill()
				<-done
				return true, "a KVM probe guest booted"
			}
			if strings.Contains(stderr.String(), "KVM internal error") {
				cmd.Process.Kill()
				<-done
				return false, "KVM internal error in the probe guest"
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
