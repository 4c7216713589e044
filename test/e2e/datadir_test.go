package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBinaryDataDir drives the binary through the rules of its data
// directory: one server at a time, naming the holder's pid; nothing made
// by a server that cannot listen; operator commands refuse a directory
// with no installation and work beside a server; everything private; and
// the temporary files of interrupted writes reported by fsck and removed
// by gc.
func TestBinaryDataDir(t *testing.T) {
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), args...).CombinedOutput()
		return string(out), err
	}

	// A port already taken: the server fails before it creates anything.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	if out, err := run("serve", "--data-dir", dataDir, "--listen", taken.Addr().String()); err == nil {
		t.Fatalf("serve on a taken port succeeded:\n%s", out)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("serve on a taken port left %s: %v", dataDir, err)
	}

	// Operator commands refuse a place with no installation, creating none.
	for _, args := range [][]string{{"account", "list"}, {"account", "create", "--name", "x"}, {"gc"}, {"fsck"}} {
		out, err := run(append(args, "--data-dir", dataDir)...)
		if err == nil || !strings.Contains(out, dataDir+" holds no openami installation") {
			t.Errorf("%v on a wrong dir: %v\n%s", args, err, out)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("operator commands made %s: %v", dataDir, err)
	}

	_, cmd := serveBinary(t, "--data-dir", dataDir, "--regions", "us-east-1")
	conf, err := os.ReadFile(filepath.Join(dataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	// A second server names the first's pid and changes nothing.
	out, err := run("serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--regions", "us-east-1")
	if err == nil || !strings.Contains(out, "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("a second server: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dataDir, "config")); string(after) != string(conf) {
		t.Errorf("the second server rewrote the aws config")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "nbd.sock")); err != nil {
		t.Errorf("the second server removed the NBD socket: %v", err)
	}
	if out, err := run("master-key", "rotate", "--data-dir", dataDir, "--regions", "us-east-1"); err == nil || !strings.Contains(out, "with the servers stopped") {
		t.Errorf("master-key rotate beside a server: %v\n%s", err, out)
	}

	// A write a crash interrupted, long ago.
	tmp := filepath.Join(dataDir, "blocks", "us-east-1", ".put~crashed")
	if err := os.WriteFile(tmp, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(tmp, old, old)
	out, err = run("fsck", "--data-dir", dataDir, "--regions", "us-east-1")
	if err != nil || !strings.Contains(out, `"TemporaryFiles": 1`) || !strings.Contains(out, `"TemporaryBytes": 4096`) {
		t.Fatalf("fsck beside a server with a stale temporary file: %v\n%s", err, out)
	}
	out, err = run("gc", "--data-dir", dataDir, "--regions", "us-east-1")
	if err != nil || !strings.Contains(out, `"DeletedTemporaryFiles": 1`) {
		t.Fatalf("gc beside a server with a stale temporary file: %v\n%s", err, out)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("gc left the temporary file: %v", err)
	}
	out, err = run("account", "list", "--data-dir", dataDir, "--regions", "us-east-1")
	var accounts any
	if err != nil || json.Unmarshal([]byte(out), &accounts) != nil {
		t.Fatalf("account list beside a server: %v\n%s", err, out)
	}

	// Everything in the data dir is its user's alone.
	filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, not owner-only", p, fi.Mode().Perm())
		}
		return nil
	})
}

// TestBinaryVersion: `openami version` names the module version and the
// commit, or says it has none (a build with -buildvcs=false, as GOFLAGS
// sets on some machines, or in a git worktree, which the go command does
// not stamp).
func TestBinaryVersion(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "openami ") {
		t.Fatalf("openami version: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "commit unknown") {
		return
	}
	head, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to compare with: %v", err)
	}
	if !strings.Contains(string(out), "commit "+strings.TrimSpace(string(head))) {
		t.Errorf("openami version = %q, want commit %s", out, head)
	}
}
