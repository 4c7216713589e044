package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIOVersion is the version of github.com/minio/minio that MinIO builds
// when no minio binary is installed. .ci/run pre-builds the same one; change
// both together. It is the module proxy's @latest when it was pinned, and
// builds with Go 1.26.
const MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// MinIOServer is where a test reaches the throwaway MinIO server, with the
// name of a bucket no other caller was given.
type MinIOServer struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT"; address
	// buckets in the path (path-style), not the host name.
	Endpoint string
	// AccessKeyID and SecretAccessKey are the server's root credentials.
	AccessKeyID     string
	SecretAccessKey string
	// Region is the one the server answers to, "us-east-1".
	Region string
	// Bucket is a fresh name, unique to this call. The bucket does not
	// exist yet: creating it is the code under test's job.
	Bucket string
	// PID is the server's process, for benchmarks that read its peak
	// RSS and CPU time in /proc (its data directory is under
	// os.TempDir(), on the same disk as t.TempDir()'s).
	PID int
}

var (
	minioOnce   sync.Once
	minioServer *minioProc
	minioErr    error
)

// MinIO returns a way into a throwaway MinIO server and a fresh bucket
// name. The first call in a test binary starts the server (one per
// binary, over a temporary directory, on a random loopback port); Main
// stops it and removes its files.
//
// The binary is minio from the PATH, else from GOBIN or GOPATH/bin, else
// built there with go install at MinIOVersion (a few minutes, once per
// machine). MinIO fails the test, and never skips it, if MinIO can be
// neither found nor built, if it does not start, or if TestMain does not
// call Main.
func MinIO(t testing.TB) MinIOServer {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("testenv: MinIO needs the package's TestMain to call testenv.Main, which stops the server")
	}
	minioOnce.Do(func() { minioServer, minioErr = startMinIO() })
	if minioErr != nil {
		t.Fatal(minioErr)
	}
	return MinIOServer{
		Endpoint:        minioServer.endpoint,
		AccessKeyID:     minioUser,
		SecretAccessKey: minioPassword,
		Region:          "us-east-1",
		Bucket:          "t-" + randomHex(8),
		PID:             minioServer.cmd.Process.Pid,
	}
}

const (
	minioUser     = "openami-test"
	minioPassword = "openami-test-secret"
)

// minioProc is a running MinIO server.
type minioProc struct {
	dir      string // holds data/ and the server's log
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
}

func startMinIO() (*minioProc, error) {
	bin, err := minioBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "openami-minio-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	// A port picked by listening on port 0 may be taken by someone else
	// before MinIO binds it; try again with another.
	var errs []error
	for range 3 {
		p, err := launchMinIO(bin, dir)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("testenv: start minio (%s): %w", bin, errors.Join(errs...))
}

func launchMinIO(bin, dir string) (p *minioProc, err error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p = &minioProc{dir: dir, endpoint: "http://" + addr, exited: make(chan struct{})}
	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	p.cmd = exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", addr,
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--quiet")
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+minioUser,
		"MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	// If the test binary dies without running Main (a panic, a timeout),
	// the kernel kills the server: it holds nothing worth a clean shutdown.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	defer func() {
		if err != nil {
			p.kill()
		}
	}()

	health := p.endpoint + "/minio/health/live"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("minio exited during start: %s", bytes.TrimSpace(log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("minio not live after 60s (%v): %s", err, bytes.TrimSpace(log))
		}
	}
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// kill stops the server at once, without the graceful shutdown that
// would wait for its clients, and waits for it to exit: its data is
// thrown away.
func (p *minioProc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// stop shuts the server down and removes its files.
func (p *minioProc) stop() error {
	p.kill()
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("testenv: stop minio: %w", err)
	}
	return nil
}

// minioBinary finds the minio binary, building it if there is none.
func minioBinary() (string, error) {
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	goBin, err := goBinDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(goBin, "minio")
	if isExecutable(p) {
		return p, nil
	}

	// Test binaries of several packages run at once under go test ./...;
	// the lock makes all but one wait for the first build rather than
	// repeat it.
	if err := os.MkdirAll(goBin, 0o755); err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "openami-minio-build.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return "", fmt.Errorf("testenv: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testenv: lock the minio build: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(p) {
		return p, nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	fmt.Fprintf(os.Stderr, "testenv: minio is not installed; building github.com/minio/minio@%s into %s (minutes, once)\n", MinIOVersion, goBin)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/minio/minio@"+MinIOVersion)
	// Outside any module, so that the build neither reads nor changes
	// the caller's go.mod.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+goBin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testenv: minio is not installed and go install github.com/minio/minio@%s failed "+
			"(put a minio binary on the PATH instead): %v\n%s", MinIOVersion, err, out)
	}
	fmt.Fprintf(os.Stderr, "testenv: built minio in %v\n", time.Since(start).Round(time.Second))
	if !isExecutable(p) {
		return "", fmt.Errorf("testenv: go install github.com/minio/minio@%s succeeded but %s is not there", MinIOVersion, p)
	}
	return p, nil
}

// goBinDir returns where go install puts binaries: GOBIN, or the first
// GOPATH entry's bin.
func goBinDir() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("testenv: minio is not on the PATH, and go env failed: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 2 && lines[0] != "" {
		return lines[0], nil
	}
	if len(lines) == 2 && lines[1] != "" {
		return filepath.Join(filepath.SplitList(lines[1])[0], "bin"), nil
	}
	return "", fmt.Errorf("testenv: minio is not on the PATH, and go env gives neither GOBIN nor GOPATH")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
