package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openami/openami/internal/testenv"
)

// firstStepsTimeout bounds the whole of the README's first steps: the
// install, the import of a 2 GiB image and a first boot under TCG, on a
// shared machine. Never asserted on.
const firstStepsTimeout = 15 * time.Minute

// TestQemuFirstSteps runs scripts/firststeps.sh: the README's "First
// steps", read from the README and run line by line as a newcomer types
// them on a fresh home directory — go install, openami serve --runtime
// qemu, openami image import, create-key-pair, authorize port 22,
// run-instances, wait, ssh — with the locally built Debian cloud image in
// place of the download (no internet here) and its login name admin. The
// SSH login must reach the guest and print its user; the script prints
// each step's time (in the test's log). It is what keeps the README's
// commands true; its cost is one image import and one boot.
func TestQemuFirstSteps(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	for _, tool := range []string{"aws", "ssh", "go", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on the PATH (.ci/run installs it)", tool)
		}
	}
	img := testenv.CloudImage(t)
	pool := ownPool(83)
	checkPort22(t, pool.Addr().Next())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	// A short work dir: the server's unix sockets live under its HOME.
	dir, err := os.MkdirTemp("", "ofs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), firstStepsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "scripts", "firststeps.sh"))
	cmd.Env = append(os.Environ(), "FIRSTSTEPS_DIR="+dir, "FIRSTSTEPS_IMAGE="+img, "FIRSTSTEPS_LOGIN=admin",
		"OPENAMI_LISTEN="+listen, "OPENAMI_PUBLIC_IPS="+pool.String())
	// The script, its server and their VMs are one process group: a
	// timeout stops them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/firststeps.sh:\n%s", out)
	if err != nil {
		if log, lerr := os.ReadFile(filepath.Join(dir, "firststeps.log")); lerr == nil {
			t.Logf("the server's log:\n%s", log)
		}
		t.Fatalf("scripts/firststeps.sh: %v", err)
	}
	for _, want := range []string{"logged in as admin on ", "addresses: ", "First steps: each command's time", "s  ssh -i mykey.pem debian@$IP"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the first steps' output lacks %q", want)
		}
	}
}
