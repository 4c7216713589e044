package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The direct boot's metadata service: the tree openami's IMDS served its
// instance, copied once from inside that guest (crawlIMDS) and answered
// by a server in the benchmark's process (serveIMDS), reached through a
// small relay that libslirp's guestfwd runs per guest connection
// (buildRelay) — a Go binary of a few milliseconds' start-up, where
// fake_imds.py was a python3 per request. libslirp's guestfwd to a
// chardev or tcp: target is one connection for the VM's whole life, so
// a per-connection command it must be.

// crawlScript walks the metadata service from inside a guest with an
// IMDSv2 token and prints {path under /latest/: body} as JSON. In EC2's
// listings a directory ends in "/", except public-keys' "0=name".
const crawlScript = `
import json, urllib.request
B = "http://169.254.169.254/latest/"
tok = urllib.request.urlopen(urllib.request.Request(B + "api/token", method="PUT",
    headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})).read().decode()
out = {}
def get(p):
    try:
        return urllib.request.urlopen(urllib.request.Request(B + p,
            headers={"X-aws-ec2-metadata-token": tok})).read().decode()
    except urllib.error.HTTPError:
        return None
def walk(p):
    body = get(p)
    if body is None:
        return
    out[p] = body
    if not p.endswith("/"):
        return
    for e in body.splitlines():
        if "=" in e:
            e = e.split("=")[0] + "/"
        walk(p + e)
out[""] = get("")
for p in ("meta-data/", "dynamic/", "user-data"):
    walk(p)
print(json.dumps(out))
`

// crawlIMDS returns the metadata tree openami serves the guest g (one
// body per path under /latest/, directories with their trailing "/").
func (s *sshBench) crawlIMDS(g guest) map[string]string {
	cmd := exec.Command("ssh", append(s.sshArgs("-p", g), "admin@"+g.host, "python3", "-")...)
	cmd.Stdin = strings.NewReader(crawlScript)
	out, err := cmd.Output()
	if err != nil {
		s.b.Fatalf("crawl the guest's metadata service: %v", err)
	}
	tree := map[string]string{}
	if err := json.Unmarshal(out, &tree); err != nil {
		s.b.Fatalf("crawl the guest's metadata service: %v\n%s", err, out)
	}
	if tree["meta-data/network/interfaces/macs/"] == "" || tree["meta-data/public-keys/0/openssh-key"] == "" {
		s.b.Fatalf("the crawled metadata has no network/ tree or no key:\n%s", out)
	}
	return tree
}

var imdsVersion = regexp.MustCompile(`^/(latest|\d{4}-\d{2}-\d{2})/(.*)$`)

// serveIMDS answers the crawled tree under any metadata version, IMDSv2
// tokens (any token is good) and v1 alike, on a loopback port; it stops
// when b ends. It returns the port.
func serveIMDS(b *testing.B, tree map[string]string) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "EC2ws")
		if r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut {
			w.Write([]byte("AQAEAbenchbenchbenchbenchbenchbenchbench=="))
			return
		}
		if r.URL.Path == "/" {
			w.Write([]byte("latest"))
			return
		}
		m := imdsVersion.FindStringSubmatch(r.URL.Path)
		if m == nil || r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		body, ok := tree[m[2]]
		if !ok {
			body, ok = tree[m[2]+"/"]
		}
		if !ok && strings.HasSuffix(m[2], "/") {
			body, ok = tree[strings.TrimSuffix(m[2], "/")]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

const relaySource = `package main

import (
	"io"
	"net"
	"os"
)

// A guest connection on stdin/stdout, relayed to the TCP address in argv[1].
func main() {
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
}
`

// buildRelay builds the relay guestfwd runs per guest connection into
// dir and returns its path.
func buildRelay(b *testing.B, dir string) string {
	src := filepath.Join(dir, "relay")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(relaySource), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module relay\n\ngo 1.22\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "imds-relay")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build the IMDS relay: %v\n%s", err, out)
	}
	return bin
}
