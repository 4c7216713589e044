// Package cluster starts a real openami cluster for tests and benchmarks:
// a throwaway PostgreSQL and MinIO (internal/testenv) and N `openami
// serve` binaries on loopback that share the database (--database), the
// block store (--blob-store s3://… on MinIO) and the master key
// (OPENAMI_MASTER_KEY), each with its own data directory, as
// docs/SCALING.md describes a deployment.
//
// A test starts one with Start, makes accounts with Cluster.Account (the
// `openami account create` command against the shared database, as an
// operator would), talks to any node through the SDK clients of Node, and
// kills (kill -9), stops or restarts nodes by index. Options.Args and
// Options.Env give each node its own flags, so a test can make some nodes
// compute hosts (--runtime qemu, a host address) and others API nodes
// only:
//
//	c := cluster.Start(t, cluster.Options{Nodes: 3, Args: func(i int) []string {
//		if i > 0 { return []string{"--runtime", "qemu"} }
//		return nil
//	}})
//	creds := c.Account(t, "alice")
//	out, err := c.Nodes[1].EC2(creds).DescribeImages(ctx, &ec2.DescribeImagesInput{})
//	c.Nodes[1].Kill(t)     // kill -9, in the middle of whatever it does
//	c.Nodes[1].Restart(t)  // same data dir, same address
//
// A test binary that uses it must call testenv.Main from its TestMain.
package cluster

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
)

// Options say how to start a cluster. The zero value is one node serving
// us-east-1 with the none runtime.
type Options struct {
	// Nodes is how many serve processes to start (at least 1).
	Nodes int
	// Regions is serve's --regions, the same on every node
	// ("us-east-1" when empty).
	Regions string
	// Args returns node i's extra serve flags (nil: none).
	Args func(i int) []string
	// Env returns node i's extra environment, KEY=VALUE each (nil: none).
	Env func(i int) []string
	// Together starts the nodes all at once rather than one after the
	// other, so that they race to migrate the new database and make the
	// administrator.
	Together bool
	// Versioned creates the block store's bucket with S3 versioning on
	// before any node starts, so that every write of a blob leaves a
	// version a test can count (Cluster.BlobWrites): a blob written twice
	// has two.
	Versioned bool
}

// Cluster is a running cluster: the shared database, block store and
// master key, and the nodes.
type Cluster struct {
	// DSN is the PostgreSQL database every node uses.
	DSN string
	// MinIO is the S3 server that holds every node's blocks, in
	// MinIO.Bucket under the prefix "openami".
	MinIO testenv.MinIOServer
	// MasterKey is the shared OPENAMI_MASTER_KEY (base64).
	MasterKey string
	// Regions is the nodes' --regions.
	Regions string
	// Nodes are the serve processes, in the order started.
	Nodes []*Node
	bin   string
}

// Node is one `openami serve` process of a cluster.
type Node struct {
	// Index is the node's place in Cluster.Nodes.
	Index int
	// DataDir is the node's own data directory.
	DataDir string
	// Endpoint is the node's base URL, http://127.0.0.1:PORT; the same
	// across restarts.
	Endpoint string
	// Log holds the end of what the node wrote to stderr, across its
	// restarts.
	Log *SyncBuffer

	c    *Cluster
	args []string
	env  []string
	bare bool // configured by env alone (AddNodeFromEnv)
	// errors are the node's first maxErrorLines ERROR log lines.
	errors []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
}

// Start starts PostgreSQL, MinIO and opts.Nodes serve processes, one
// after the other (the first creates the schema and the administrator)
// unless opts.Together, and kills the nodes when the test ends
// (testenv.Main stops the rest).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes < 1 {
		opts.Nodes = 1
	}
	if opts.Regions == "" {
		opts.Regions = "us-east-1"
	}
	c := &Cluster{DSN: testenv.Postgres(t), MinIO: testenv.MinIO(t), Regions: opts.Regions,
		MasterKey: base64.StdEncoding.EncodeToString(seal.Generate()), bin: Binary(t)}
	if opts.Versioned {
		c.versionBucket(t)
	}
	nodes := make([]*Node, opts.Nodes)
	for i := range nodes {
		var args, env []string
		if opts.Args != nil {
			args = opts.Args(i)
		}
		if opts.Env != nil {
			env = opts.Env(i)
		}
		nodes[i] = c.newNode(t, args, env)
		if !opts.Together {
			if err := nodes[i].start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if opts.Together {
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = n.start("127.0.0.1:0")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// newNode adds a node that is not started yet to the cluster, to be
// killed when the test ends.
func (c *Cluster) newNode(t testing.TB, args, env []string) *Node {
	dataDir := t.TempDir()
	n := &Node{Index: len(c.Nodes), DataDir: dataDir, Log: &SyncBuffer{}, c: c, env: env,
		args: append([]string{"--regions", c.Regions, "--data-dir", dataDir, "--database", c.DSN,
			"--blob-store", "s3://" + c.MinIO.Bucket + "/openami", "--s3-endpoint", c.MinIO.Endpoint, "--s3-region", c.MinIO.Region}, args...)}
	c.Nodes = append(c.Nodes, n)
	t.Cleanup(func() { n.Kill(t) })
	return n
}

// AddNodeFromEnv starts one more node configured by its environment
// alone, as examples/cluster's systemd unit and compose file configure
// theirs: `openami serve --listen 127.0.0.1:0` (a free port; the only
// flag) with env (KEY=VALUE each) in place of every OPENAMI_ variable of
// this process's environment. env must name the cluster's database,
// block store and master key itself.
func (c *Cluster) AddNodeFromEnv(t testing.TB, env []string) *Node {
	t.Helper()
	n := &Node{Index: len(c.Nodes), Log: &SyncBuffer{}, c: c, bare: true, env: env}
	c.Nodes = append(c.Nodes, n)
	t.Cleanup(func() { n.Kill(t) })
	if err := n.start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return n
}

// Env returns the environment every openami process of the cluster runs
// with: the shared master key and MinIO's credentials.
func (c *Cluster) Env() []string {
	return append(os.Environ(), "OPENAMI_MASTER_KEY="+c.MasterKey,
		"OPENAMI_S3_ACCESS_KEY_ID="+c.MinIO.AccessKeyID, "OPENAMI_S3_SECRET_ACCESS_KEY="+c.MinIO.SecretAccessKey)
}

// Command returns an operator command (`openami ARGS… --database DSN`
// and the block store's flags) against the cluster's database and block
// store, with the cluster's environment, run beside node 0.
func (c *Cluster) Command(args ...string) *exec.Cmd { return c.CommandOn(c.Nodes[0], args...) }

// CommandOn is Command run beside node n: with n's data directory (and
// so, unless --node-id is among args, n's default node id in the leases
// it takes, with a suffix of its own).
func (c *Cluster) CommandOn(n *Node, args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, append(args, "--database", c.DSN, "--data-dir", n.DataDir, "--regions", c.Regions,
		"--blob-store", "s3://"+c.MinIO.Bucket+"/openami", "--s3-endpoint", c.MinIO.Endpoint, "--s3-region", c.MinIO.Region)...)
	cmd.Env = c.Env()
	return cmd
}

// Credentials are an account's id and one of its access keys.
type Credentials struct {
	AccountID       string `json:"AccountId"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Account creates an account named name with `openami account create`
// and returns its credentials, good on every node.
func (c *Cluster) Account(t testing.TB, name string) Credentials {
	t.Helper()
	out, err := c.Command("account", "create", "--name", name).Output()
	if err != nil {
		t.Fatalf("account create %s: %v %s", name, err, stderrOf(err))
	}
	var cr Credentials
	if err := json.Unmarshal(out, &cr); err != nil || cr.AccessKeyID == "" {
		t.Fatalf("account create printed %q: %v", out, err)
	}
	return cr
}

// start runs the node's serve process on addr and waits until it
// listens; it fails if the process exits first or takes over a minute.
func (n *Node) start(addr string) error {
	cmd := exec.Command(n.c.bin, append([]string{"serve", "--listen", addr}, n.args...)...)
	cmd.Env = append(n.c.Env(), n.env...)
	if n.bare {
		cmd.Env = n.env
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OPENAMI_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	endpoint := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		re := regexp.MustCompile(`^openami listening on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(n.Log, "%s\n", sc.Text())
			if line := sc.Text(); strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
				n.mu.Lock()
				if len(n.errors) < maxErrorLines {
					n.errors = append(n.errors, line)
				}
				n.mu.Unlock()
			}
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case endpoint <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	select {
	case ep := <-endpoint:
		n.Endpoint = ep
		return nil
	case <-done:
		return fmt.Errorf("node %d exited before it listened:\n%s", n.Index, n.Log)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("node %d did not listen within a minute:\n%s", n.Index, n.Log)
	}
}

// Kill kills the node's process with SIGKILL (kill -9) and waits for it
// to exit; a node already stopped is left alone.
func (n *Node) Kill(t testing.TB) { n.signal(t, syscall.SIGKILL) }

func (n *Node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("node %d did not exit within 90 s of %v", n.Index, sig)
	}
	n.mu.Lock()
	if n.cmd == cmd {
		n.cmd = nil
	}
	n.mu.Unlock()
}

// Restart starts a stopped or killed node again with its data dir,
// flags and address (killing it first if it still runs).
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Kill(t)
	if err := n.start(strings.TrimPrefix(n.Endpoint, "http://")); err != nil {
		t.Fatal(err)
	}
}

// maxErrorLines is how many ERROR lines a Node keeps for Errors.
const maxErrorLines = 100

// Errors returns the first ERROR lines the node logged (at most 100),
// across its restarts: an error nobody classified (a 500) logs one.
func (n *Node) Errors() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.errors)
}

// Running reports whether the node's process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// PID is the node's process id (0 when it does not run), for
// benchmarks that read its RSS and CPU time in /proc.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// SyncBuffer keeps the last logTail bytes written to it (a node logs
// every request: a benchmark's would not fit), safe for one writer and
// many readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  []byte
}

// logTail is how much of a node's log a SyncBuffer keeps.
const logTail = 256 << 10

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	if len(s.b) > 2*logTail {
		s.b = append(s.b[:0:0], s.b[len(s.b)-logTail:]...)
	}
	return len(p), nil
}

// String returns the end of the log, at least the last logTail bytes
// written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/openami once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "openami-cluster-bin-")
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		binPath = filepath.Join(dir, "openami")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/openami")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
