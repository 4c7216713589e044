package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openami/openami/internal/testenv"
)

// target is a server under load, running in its own process.
type target struct {
	name     string // sqlite, postgres, moto
	endpoint string // http://127.0.0.1:PORT
	pid      int    // the server process, for its RSS and CPU time
	key      string // access key id
	secret   string
	// pgDir, for the postgres target, is the cluster's directory (the DSN's
	// host), which finds the postmaster and its backends in /proc.
	pgDir string
	dsn   string // the postgres target's database
	// dataDir and cmd are an openami target's data directory and process.
	dataDir string
	cmd     *exec.Cmd
}

// build builds ./cmd/openami into dir, as a user would, and returns the
// binary's path.
func build(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "openami")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/openami")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/openami: %v\n%s", err, out)
	}
	return bin
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// startOpenami runs `openami serve` on a new data directory, with extra
// arguments (such as --database), and returns it once it listens. The
// server is killed when b ends.
func startOpenami(b *testing.B, bin, name string, args ...string) *target {
	b.Helper()
	return startOpenamiIn(b, bin, name, b.TempDir(), args...)
}

// startOpenamiIn is startOpenami on an existing data directory, such as
// one seeded beforehand.
func startOpenamiIn(b *testing.B, bin, name, dataDir string, args ...string) *target {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stop(cmd) })

	endpoint := make(chan string, 1)
	exited := make(chan string, 1)
	go func() {
		// The server logs a line per request to stderr; keep reading it,
		// as journald would, or the server would block on a full pipe.
		re := regexp.MustCompile(`^openami listening on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		var head strings.Builder
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				endpoint <- m[1]
				io.Copy(io.Discard, stderr)
				break
			}
			head.WriteString(sc.Text() + "\n")
		}
		exited <- head.String()
	}()
	t := &target{name: name, pid: cmd.Process.Pid, dataDir: dataDir, cmd: cmd}
	select {
	case t.endpoint = <-endpoint:
	case out := <-exited:
		b.Fatalf("%s: openami exited before it listened:\n%s", name, out)
	case <-time.After(60 * time.Second):
		b.Fatalf("%s: openami did not listen within 60s", name)
	}
	creds, err := os.ReadFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		b.Fatal(err)
	}
	t.key, t.secret = parseCredentials(string(creds), "openami")
	if t.key == "" || t.secret == "" {
		b.Fatalf("%s: no [openami] credentials in %s/credentials", name, dataDir)
	}
	return t
}

// startPostgres starts openami on a new database of testenv's throwaway
// PostgreSQL cluster.
func startPostgres(b *testing.B, bin string) *target {
	dsn := testenv.Postgres(b)
	t := startOpenami(b, bin, "postgres", "--database", dsn)
	if m := regexp.MustCompile(`host=(\S+)`).FindStringSubmatch(dsn); m != nil {
		t.pgDir = m[1]
	}
	t.dsn = dsn
	return t
}

// startMoto runs moto_server on a free loopback port and returns it once
// it answers.
func startMoto(b *testing.B) *target {
	b.Helper()
	path, err := exec.LookPath("moto_server")
	if err != nil {
		b.Fatalf("moto_server is not on the PATH (pip install 'moto[server]'): %v", err)
	}
	port := freePort(b)
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// moto (werkzeug) logs a line per request; read and drop it, as for
	// openami.
	var head bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &limitedBuffer{buf: &head, max: 64 << 10}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stop(cmd) })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("moto_server did not answer within 60s: %v\n%s", err, head.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The pyenv shim execs python, so the pid is the python server's; make
	// sure, since RSS and CPU time are read from it.
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
	if !strings.Contains(filepath.Base(exe), "python") {
		b.Fatalf("moto_server pid %d runs %q, not python", cmd.Process.Pid, exe)
	}
	return &target{name: "moto", endpoint: endpoint, pid: cmd.Process.Pid, key: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
}

// stop sends SIGTERM, then SIGKILL if the process has not exited in 10s.
func stop(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// parseCredentials returns the keys of a profile of an aws CLI credentials
// file.
func parseCredentials(ini, profile string) (key, secret string) {
	in := false
	for _, line := range strings.Split(ini, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			in = line == "["+profile+"]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			key = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	return key, secret
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest.
type limitedBuffer struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// procStatusKB returns a field of /proc/PID/status in kB, such as VmHWM
// (peak resident set size) or VmRSS; pid "self" is this process.
func procStatusKB(pid, field string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times; it is 100
// on every Linux architecture Go supports.
const clockTick = 100

// procStat returns the fields of /proc/PID/stat from field 3 (state) on,
// so that field n is at index n-3.
func procStat(pid string) []string {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// procCPU returns the user+system CPU time the process has used (fields
// 14 and 15).
func procCPU(pid string) time.Duration { return statTicks(pid, 14, 15) }

// procChildrenCPU returns the user+system CPU time of the process's
// children that it has waited for (fields 16 and 17).
func procChildrenCPU(pid string) time.Duration { return statTicks(pid, 16, 17) }

func statTicks(pid string, fields ...int) time.Duration {
	f := procStat(pid)
	var ticks int64
	for _, n := range fields {
		if n-3 < len(f) {
			v, _ := strconv.ParseInt(f[n-3], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// procPPID returns the parent pid of a process (field 4).
func procPPID(pid string) string {
	if f := procStat(pid); len(f) > 1 {
		return f[1]
	}
	return ""
}

// pgProcs returns the pids of the PostgreSQL cluster in dir: its postmaster
// (whose command line names dir) and the postmaster's children (backends
// and background workers).
func pgProcs(dir string) []string {
	if dir == "" {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var postmaster string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(cl), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "postgres" && strings.Contains(string(cl), "\x00"+filepath.Join(dir, "data")+"\x00") {
			postmaster = e.Name()
			break
		}
	}
	if postmaster == "" {
		return nil
	}
	pids := []string{postmaster}
	for _, e := range ents {
		if procPPID(e.Name()) == postmaster {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// pssKB returns the proportional set size of a process: its resident
// memory with pages shared among n processes counted 1/n in each, so that
// PostgreSQL's shared buffers are counted once across its processes.
func pssKB(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
