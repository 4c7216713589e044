package imports

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// diskArg is how a qemu program names the disk file it is handed (its
// fd 3, Cmd.ExtraFiles[0]): it opens it through /proc, so it needs no
// access to the task's directory (docs/SECURITY.md).
const diskArg = "/dev/fd/3"

// unprivileged is the user and group the qemu programs run as when
// openami runs as root: nobody's (65534 if there is no such user). Nil
// otherwise: they run as openami's user.
var unprivileged = sync.OnceValue(func() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	c := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	if u, err := user.Lookup("nobody"); err == nil {
		if uid, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			c.Uid = uint32(uid)
		}
		if gid, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			c.Gid = uint32(gid)
		}
	}
	return c
})

// qemu returns the command that runs bin (qemu-img or qemu-nbd) with
// args under l, through prlimit(1) so that the limits hold from the
// program's first instruction, and as nobody when openami runs as root.
// disk, if not nil, is handed to it as diskArg; the caller closes it
// once the command has started. Without prlimit the command runs
// unlimited (docs/SECURITY.md). The format is always given to it by the
// caller (-f/--format): qemu never probes an uploaded file.
func (s *Imports) qemu(ctx context.Context, l limits, disk *os.File, bin string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if pl := prlimitPath(); pl == "" {
		cmd = exec.CommandContext(ctx, bin, args...)
	} else {
		pre := []string{"--as=" + strconv.FormatUint(l.addressSpace, 10)}
		if l.cpuSeconds > 0 {
			pre = append(pre, "--cpu="+strconv.FormatUint(l.cpuSeconds, 10))
		}
		pre = append(append(pre, "--", bin), args...)
		cmd = exec.CommandContext(ctx, pl, pre...)
	}
	if disk != nil {
		cmd.ExtraFiles = []*os.File{disk}
	}
	if c := unprivileged(); c != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c}
		if disk != nil {
			// Opening /dev/fd/3 checks the file's own mode (the server's
			// umask may have made it 0600): readable by others, who can
			// reach it only through that descriptor (DATA_DIR is 0700).
			disk.Chmod(0o644)
		}
	}
	return cmd
}

// openDisk opens a disk file for a qemu program and returns the file to
// hand it (nil: none) and the argument that names the disk. An object
// read in place (inPlacePrefix) while the qemu programs run as nobody is
// served to them over NBD on a socket of its own until ctx is done
// (Config.ServeFile): nobody cannot open the store's owner-only file, and
// the file is never made readable to others (it is a blob).
func (s *Imports) openDisk(ctx context.Context, path string) (*os.File, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	c := unprivileged()
	if c == nil || !strings.HasPrefix(path, inPlacePrefix) {
		return f, diskArg, nil
	}
	sockDir, err := os.MkdirTemp("", "openami-disk-")
	if err != nil {
		f.Close()
		return nil, "", err
	}
	sock := filepath.Join(sockDir, "s")
	l, err := net.Listen("unix", sock)
	if err == nil {
		// Only nobody (and root) reach the socket: its directory is
		// nobody's, 0700.
		err = errors.Join(os.Chown(sock, int(c.Uid), int(c.Gid)), os.Chown(sockDir, int(c.Uid), int(c.Gid)))
		if err != nil {
			l.Close()
		}
	}
	if err != nil {
		f.Close()
		os.RemoveAll(sockDir)
		return nil, "", err
	}
	go func() {
		s.cfg.ServeFile(ctx, f, l)
		f.Close()
		os.RemoveAll(sockDir)
	}()
	return nil, "nbd+unix:///?socket=" + sock, nil
}
