// Package testenv gives tests the real external components openami runs
// against, started in-process and thrown away afterwards.
//
// A test binary that uses it must call Main from its TestMain, so that what
// was started is stopped when the tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	mainCalled atomic.Bool

	pgOnce    sync.Once
	pgCluster *cluster
	pgErr     error
)

// Main runs the tests of m, then stops everything testenv started for them
// and removes its files, and exits with the tests' exit code. Call it from
// TestMain; it does not return.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if pgCluster != nil {
		if err := pgCluster.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}
	if minioServer != nil {
		if err := minioServer.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// Postgres returns the DSN of a new, empty database on a throwaway
// PostgreSQL 15 cluster. The first call starts the cluster (one per test
// binary, in a temporary directory, reachable only through a unix socket
// there, with fsync off); every call creates a new database. It fails the test if initdb is not installed, if the
// cluster cannot start, or if TestMain does not call Main.
func Postgres(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("testenv: Postgres needs the package's TestMain to call testenv.Main, which stops the cluster")
	}
	pgOnce.Do(func() { pgCluster, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	name := "t_" + randomHex(8)
	if err := pgCluster.admin(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	// The database is not dropped when the test ends: DROP DATABASE forces
	// a checkpoint, which costs more than the disk space, and the whole
	// cluster is removed when the test binary exits.
	return pgCluster.dsn(name)
}

// cluster is a running PostgreSQL server.
type cluster struct {
	dir    string // holds data/, the server's log and its socket
	data   string
	cred   *syscall.Credential // whom initdb, postgres and pg_ctl run as; nil for the current user
	cmd    *exec.Cmd
	exited chan struct{} // closed when the server process has exited
}

const pgPort = 5432 // only names the socket: the server listens on no TCP port

func startPostgres() (c *cluster, err error) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return nil, fmt.Errorf("testenv: initdb not found on PATH (%v); PostgreSQL 15 is needed: "+
			"apt-get install postgresql-15, then put /usr/lib/postgresql/15/bin on PATH", err)
	}
	postgres, err := exec.LookPath("postgres")
	if err != nil {
		return nil, fmt.Errorf("testenv: postgres not found on PATH next to initdb (%v); apt-get install postgresql-15", err)
	}
	if _, err := exec.LookPath("pg_ctl"); err != nil {
		return nil, fmt.Errorf("testenv: pg_ctl not found on PATH (%v); apt-get install postgresql-15", err)
	}

	// A unix socket path must fit in 107 bytes, and TMPDIR can be long.
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "openami-pg-")
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	c = &cluster{dir: dir, data: filepath.Join(dir, "data"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()

	// initdb and postgres refuse to run as root.
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("testenv: %w", err)
		}
		c.cred = cred
	}

	// --no-sync and fsync=off: the cluster is thrown away, so durability
	// only costs time.
	if out, err := c.command(initdb, "-D", c.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testenv: initdb: %v\n%s", err, out)
	}

	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	defer logFile.Close()
	c.cmd = c.command(postgres, "-D", c.data, "-k", dir, "-p", strconv.Itoa(pgPort),
		"-c", "listen_addresses=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB")
	c.cmd.Stdout = logFile
	c.cmd.Stderr = logFile
	// If the test binary dies without running Main (a panic, a timeout),
	// the kernel sends the server SIGQUIT, PostgreSQL's immediate shutdown.
	c.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start postgres: %w", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.admin("SELECT 1")
		if err == nil {
			return c, nil
		}
		select {
		case <-c.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("testenv: postgres exited during start: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("testenv: postgres not ready after 30s: %v\n%s", err, log)
		}
	}
}

// unprivileged returns the credentials of the postgres system user, or of
// nobody if there is none.
func unprivileged() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		u, err = user.Lookup("nobody")
	}
	if err != nil {
		return nil, fmt.Errorf("testenv: running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("testenv: user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// command returns a command that runs as the cluster's user, in its
// directory (a root-only working directory would be unreadable to it).
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *cluster) dsn(database string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", c.dir, pgPort, database)
}

// admin runs a statement on the cluster's postgres database.
func (c *cluster) admin(stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

// stop shuts the server down without a checkpoint and removes its files.
func (c *cluster) stop() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			out, err := c.command("pg_ctl", "stop", "-D", c.data, "-m", "immediate", "-w").CombinedOutput()
			if err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %v: %s", err, bytes.TrimSpace(out)))
				c.cmd.Process.Signal(syscall.SIGQUIT)
			}
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				c.cmd.Process.Kill()
				<-c.exited
			}
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testenv: stop postgres: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
