package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A data directory's lock is held by one opener at a time, which names
// its pid; closing it frees it for the next.
func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to open files: a second open conflicts, even in
	// this process.
	_, err = lockDataDir(dir)
	var held *heldError
	if !errors.As(err, &held) || held.pid != os.Getpid() {
		t.Fatalf("second lock: %v, want a heldError naming pid %d", err, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the pid and the dir", err)
	}
	first.Close()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder closed it: %v", err)
	}
	again.Close()
}

// An installation made before openami was strict about modes becomes
// private at the next start: directories 0700, files without group and
// other bits.
func TestHoldDataDirTightensModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	files := map[string]os.FileMode{
		"metadata.db":                   0o644,
		"metadata.db-wal":               0o644,
		"metadata.db-shm":               0o644,
		"config":                        0o644,
		"credentials":                   0o600,
		"vms/i-1/console.log":           0o644,
		"blocks/us-east-1/chunks/ab/ab": 0o400,
	}
	for name, mode := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dd, err := holdDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	if dd.fresh {
		t.Error("a data dir holding an installation was taken for a fresh one")
	}
	want := map[string]os.FileMode{
		".": 0o700, "vms": 0o700, "vms/i-1": 0o700, "blocks": 0o700, "blocks/us-east-1": 0o700,
		"metadata.db": 0o600, "metadata.db-wal": 0o600, "metadata.db-shm": 0o600, "config": 0o600,
		"credentials": 0o600, "vms/i-1/console.log": 0o600, "lock": 0o600,
		"blocks/us-east-1/chunks/ab/ab": 0o400,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
}

// Operator commands refuse a data dir with no installation, naming it,
// and create nothing there.
func TestOperatorCommandsRefuseEmptyDataDir(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "")
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "wrong", "path")
	for _, dir := range []string{missing, empty} {
		cfg := &config{dataDir: dir, regions: "us-east-1"}
		e, err := cfg.open(context.Background())
		if err == nil {
			e.Close()
			t.Fatalf("open of %s succeeded", dir)
		}
		want := dir + " holds no openami installation (no metadata.db); start one with openami serve --data-dir " + dir
		if err.Error() != want {
			t.Errorf("open of %s: %q, want %q", dir, err, want)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("open made %s: %v", missing, err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("open left %v in an empty dir", entries)
	}
	if err := rotateMasterKey(context.Background(), &config{dataDir: empty, regions: "us-east-1"}); err == nil || !strings.Contains(err.Error(), "holds no openami installation") {
		t.Errorf("master-key rotate of an empty dir: %v", err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("master-key rotate left %v in an empty dir", entries)
	}
}

// startServe runs serve in this process until the test ends, and waits
// until it holds its data dir and has written its aws config.
func startServe(t *testing.T, cfg *config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, "127.0.0.1:0", "text", "", runtimeFlags{kind: "none"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(cfg.dataDir, "nbd.sock")); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned before it served: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not start")
		}
	}
}

// A second server on a held data dir names the holder's pid and changes
// nothing: not the aws config, not the NBD socket.
func TestSecondServerRefused(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "")
	dir := filepath.Join(t.TempDir(), "data")
	cfg := &config{dataDir: dir, regions: "us-east-1"}
	startServe(t, cfg)
	conf, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), &config{dataDir: dir, regions: "us-east-1"}, "127.0.0.1:0", "text", "", runtimeFlags{kind: "none"})
	var held *heldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second serve: %v, want a heldError naming pid %d", err, os.Getpid())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "config")); string(after) != string(conf) {
		t.Errorf("the second server rewrote the aws config:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(dir, "nbd.sock")); err != nil {
		t.Errorf("the second server removed the NBD socket: %v", err)
	}
	// Operator commands work beside the server.
	e, err := cfg.open(context.Background())
	if err != nil {
		t.Fatalf("operator open beside a server: %v", err)
	}
	e.Close()
	if err := rotateMasterKey(context.Background(), &config{dataDir: dir, regions: "us-east-1"}); err == nil || !strings.Contains(err.Error(), "with the servers stopped") {
		t.Errorf("master-key rotate beside a server: %v", err)
	}
	// Everything the server wrote is owner-only.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, _ := d.Info()
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, not owner-only", p, fi.Mode().Perm())
		}
		return nil
	})
}

// A server that cannot start leaves no half-made data dir behind: not when
// its port is taken, nor when it fails after it began the installation.
func TestFailedStartLeavesNothing(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "data")
	err = serve(context.Background(), &config{dataDir: dir, regions: "us-east-1"}, taken.Addr().String(), "text", "", runtimeFlags{kind: "none"})
	if err == nil {
		t.Fatal("serve on a taken port succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("serve on a taken port made the data dir: %v", err)
	}

	// A path too long for the NBD socket (unix socket paths end at 108
	// bytes) fails after the database and key exist.
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	err = serve(context.Background(), &config{dataDir: long, regions: "us-east-1"}, "127.0.0.1:0", "text", "", runtimeFlags{kind: "none"})
	if err == nil || !strings.Contains(err.Error(), "nbd socket") {
		t.Fatalf("serve with an overlong socket path: %v", err)
	}
	if _, err := os.Stat(long); !os.IsNotExist(err) {
		t.Errorf("a failed start left its data dir: %v", err)
	}
	// A bad --public-ips fails the start, with the flag's name.
	bad := filepath.Join(t.TempDir(), "bad-pool")
	err = serve(context.Background(), &config{dataDir: bad, regions: "us-east-1", publicIPs: "127.77.0.0/31"}, "127.0.0.1:0", "text", "", runtimeFlags{kind: "none"})
	if err == nil || !strings.Contains(err.Error(), "--public-ips") {
		t.Fatalf("serve with a /31 public pool: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed start left its data dir: %v", err)
	}
	// An existing empty dir is emptied again, not removed.
	empty := filepath.Join(t.TempDir(), strings.Repeat("e", 120))
	os.Mkdir(empty, 0o700)
	serve(context.Background(), &config{dataDir: empty, regions: "us-east-1"}, "127.0.0.1:0", "text", "", runtimeFlags{kind: "none"})
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("a failed start left %v in a dir that was empty (%v)", entries, err)
	}
}

// A server removes at start the temporary files that a crash left in its
// block stores, once they are old enough that no write can own them.
func TestServeCleansStaleTemporaryFiles(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "")
	dir := filepath.Join(t.TempDir(), "data")
	stale := filepath.Join(dir, "blocks", "us-east-1", "chunks", "ab", ".put~1")
	fresh := filepath.Join(dir, "blocks", "us-east-1", "chunks", "ab", ".put~2")
	for _, p := range []string{stale, fresh} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half a block"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	startServe(t, &config{dataDir: dir, regions: "us-east-1"})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(stale); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server left a stale temporary file")
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("the server removed a fresh temporary file: %v", err)
	}
}

// A data dir reached through a symbolic link is tightened where it leads.
func TestTightenModesThroughSymlink(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(real, 0o755)
	if err := os.WriteFile(filepath.Join(real, "metadata.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(real, "metadata.db"), 0o644)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := tightenModes(link); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{real: 0o700, filepath.Join(real, "metadata.db"): 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
}
