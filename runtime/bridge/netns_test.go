package bridge

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// netnsEnv names the test that runs, re-executed, inside a network
// namespace of its own.
const netnsEnv = "OPENAMI_BRIDGE_TEST_NETNS"

// inFreshNetns runs the calling test again in a child process inside a
// network namespace (and mount namespace) of its own, and reports
// whether the caller is that child: the child runs the test's body, the
// parent waits for it and checks that the host's links and nftables
// ruleset are as they were. Everything the body makes (bridges, taps,
// veths, namespaces, tables) goes with the child's namespace when it
// exits, whatever happens to it.
func inFreshNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, bridges and nftables")
	}
	for _, tool := range []string{"unshare", "nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian: util-linux, nftables, iproute2): %v", tool, err)
		}
	}
	before := hostState(t)
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace:\n%s", out)
	if err != nil {
		t.Errorf("the test in its network namespace failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Errorf("the test did not pass in its network namespace")
	}
	if after := hostState(t); after != before {
		t.Errorf("the host's links or ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	return false
}

// hostState is the host's links and nftables ruleset, as text.
func hostState(t *testing.T) string {
	t.Helper()
	links, err := exec.Command("ip", "-j", "link").Output()
	if err != nil {
		t.Fatalf("ip -j link: %v", err)
	}
	rules, err := exec.Command("nft", "list", "ruleset").Output()
	if err != nil {
		t.Fatalf("nft list ruleset: %v", err)
	}
	return string(links) + "\n" + string(rules)
}

// inNS runs f on a thread in network namespace ns: sockets f opens are
// that namespace's.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked, and dies with the goroutine
	}()
	f()
}
