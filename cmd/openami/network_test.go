package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami/runtime/bridge"
)

// TestServeNetworkFlag: --network takes rootless or bridge; bridge is
// for the qemu runtime, needs CAP_NET_ADMIN and a pool the host can
// translate (not loopback); each refusal names what to change and leaves
// no data dir.
func TestServeNetworkFlag(t *testing.T) {
	start := func(rf runtimeFlags, pool string) error {
		dir := filepath.Join(t.TempDir(), "data")
		err := serve(context.Background(), &config{dataDir: dir, regions: "us-east-1", publicIPs: pool}, "127.0.0.1:0", "text", "", rf)
		if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
			t.Errorf("a refused start made its data dir: %v", serr)
		}
		return err
	}
	if err := start(runtimeFlags{kind: "none", network: "bogus"}, ""); err == nil || !strings.Contains(err.Error(), "--network") {
		t.Errorf("--network bogus: %v", err)
	}
	if err := start(runtimeFlags{kind: "none", network: "bridge"}, "198.51.100.0/24"); err == nil || !strings.Contains(err.Error(), "--runtime qemu") {
		t.Errorf("--network bridge with --runtime none: %v", err)
	}
	err := start(runtimeFlags{kind: "qemu", network: "bridge"}, "127.77.0.0/16")
	switch {
	case !bridge.HasNetAdmin():
		if err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
			t.Errorf("--network bridge without CAP_NET_ADMIN: %v", err)
		}
	case err == nil || !strings.Contains(err.Error(), "--public-ips") || !strings.Contains(err.Error(), "loopback"):
		t.Errorf("--network bridge with a loopback pool: %v", err)
	}
}

// TestServeBridgeNeedsNetAdmin runs serve --network bridge without
// CAP_NET_ADMIN (as root, with the capability dropped from the bounding
// set by setpriv): it refuses, saying so.
func TestServeBridgeNeedsNetAdmin(t *testing.T) {
	if os.Getenv("OPENAMI_TEST_NO_NET_ADMIN") == "1" {
		if bridge.HasNetAdmin() {
			t.Fatal("CAP_NET_ADMIN is still effective")
		}
		dir := filepath.Join(t.TempDir(), "data")
		err := serve(context.Background(), &config{dataDir: dir, regions: "us-east-1", publicIPs: "198.51.100.0/24"}, "127.0.0.1:0", "text", "", runtimeFlags{kind: "qemu", network: "bridge"})
		if err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
			t.Fatalf("--network bridge without CAP_NET_ADMIN: %v", err)
		}
		return
	}
	if !bridge.HasNetAdmin() {
		t.Skip("TestServeNetworkFlag covers a process without CAP_NET_ADMIN")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	cmd := exec.Command("setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--",
		os.Args[0], "-test.run", "^TestServeBridgeNeedsNetAdmin$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "OPENAMI_TEST_NO_NET_ADMIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestServeBridgeNeedsNetAdmin") {
		t.Fatalf("without CAP_NET_ADMIN: %v\n%s", err, out)
	}
}
