package imports

import (
	"context"
	"os/exec"
	"strconv"
	"sync"
)

// limits are the resource limits a qemu-img or qemu-nbd child runs
// under: it parses a file anyone with s3:PutObject wrote, so a crafted
// header must not make it eat the host's memory or CPU. OpenStack runs
// `qemu-img info` on untrusted images the same way (1 GiB address space,
// 30 s of CPU; oslo.concurrency's prlimit).
type limits struct {
	addressSpace uint64 // bytes (RLIMIT_AS)
	cpuSeconds   uint64 // RLIMIT_CPU; 0: none
}

var (
	// probeLimits bound qemu-img info and map: they read headers and
	// tables only.
	probeLimits = limits{addressSpace: 1 << 30, cpuSeconds: 60}
	// convertLimits bound qemu-nbd, which decodes the whole disk: its CPU
	// time grows with the disk's size, so only memory is limited (the
	// task's context ends it when cancelled).
	convertLimits = limits{addressSpace: 2 << 30}
)

// prlimitPath is util-linux's prlimit(1), found once ("" if missing).
var prlimitPath = sync.OnceValue(func() string {
	p, _ := exec.LookPath("prlimit")
	return p
})

// qemu returns the command that runs bin (qemu-img or qemu-nbd) with
// args under l, through prlimit(1) so that the limits hold from the
// program's first instruction. Without prlimit the command runs
// unlimited (docs/SECURITY.md). The format is always given to it by the
// caller (-f/--format): qemu never probes an uploaded file.
func (s *Imports) qemu(ctx context.Context, l limits, bin string, args ...string) *exec.Cmd {
	pl := prlimitPath()
	if pl == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	pre := []string{"--as=" + strconv.FormatUint(l.addressSpace, 10)}
	if l.cpuSeconds > 0 {
		pre = append(pre, "--cpu="+strconv.FormatUint(l.cpuSeconds, 10))
	}
	pre = append(append(pre, "--", bin), args...)
	return exec.CommandContext(ctx, pl, pre...)
}
