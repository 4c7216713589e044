package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqldb"
	"github.com/openami/openami/metadata/sqldb/sqldbtest"
	"github.com/openami/openami/metadata/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store {
		s, err := Open(filepath.Join(t.TempDir(), "metadata.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMigrations(t *testing.T) {
	sqldbtest.RunMigrations(t, dialect, func(t *testing.T) *sql.DB {
		write, read, err := openPools(filepath.Join(t.TempDir(), "metadata.db"))
		if err != nil {
			t.Fatal(err)
		}
		read.Close()
		return write
	})
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	write, read, err := openPools(path)
	if err != nil {
		t.Fatal(err)
	}
	read.Close()
	if _, err := write.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`,
		len(sqldb.Migrations())+1); err != nil {
		t.Fatal(err)
	}
	write.Close()
	if s, err := Open(path); !errors.Is(err, sqldb.ErrNewerSchema) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a newer database: %v, want ErrNewerSchema", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro", filepath.Join(t.TempDir(), "no", "such", "dir", "m.db")} {
		if s, err := Open(path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestPragmas checks the settings that durability and cross-process
// concurrency rest on.
func TestPragmas(t *testing.T) {
	write, read, err := openPools(filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer write.Close()
	defer read.Close()
	pragma := func(db *sql.DB, name string) string {
		var v string
		if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct {
		db         *sql.DB
		pool, name string
		want       string
	}{
		{write, "write", "journal_mode", "wal"},
		{write, "write", "synchronous", "2"}, // FULL
		{write, "write", "busy_timeout", strconv.Itoa(busyTimeoutMS)},
		{write, "write", "foreign_keys", "1"},
		{write, "write", "query_only", "0"},
		{read, "read", "journal_mode", "wal"},
		{read, "read", "busy_timeout", strconv.Itoa(busyTimeoutMS)},
		{read, "read", "query_only", "1"},
	} {
		if got := pragma(c.db, c.name); got != c.want {
			t.Errorf("%s pool: %s = %s, want %s", c.pool, c.name, got, c.want)
		}
	}
}

// increment adds one to the setting "counter", reading it first so that the
// transaction upgrades from reading to writing.
func increment(s metadata.Store) error {
	return s.Update(context.Background(), func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		return tx.Settings().Put("counter", []byte(strconv.Itoa(n+1)))
	})
}

func counter(t *testing.T, s metadata.Store) int {
	t.Helper()
	var n int
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil {
			return err
		}
		n, err = strconv.Atoi(string(v))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoStores writes from two stores on one file at once, as the server
// and an admin command do, with readers running alongside.
func TestTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	var stores []*sqldb.Store
	for range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	const goroutines, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines*each*2)
	for _, s := range stores {
		for range goroutines {
			wg.Go(func() {
				for range each {
					errs <- increment(s)
					errs <- s.View(context.Background(), func(tx metadata.Tx) error {
						_, err := tx.Settings().Get("counter")
						if errors.Is(err, openami.ErrNotFound) {
							return nil
						}
						return err
					})
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got, want := counter(t, stores[1]), 2*goroutines*each; got != want {
		t.Errorf("counter = %d, want %d", got, want)
	}
}

const helperEnv = "OPENAMI_SQLITE_TEST_HELPER"

// TestProcesses writes from several processes on one file at once.
func TestProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const procs, each = 3, 30
	var cmds []*exec.Cmd
	outs := make([]*safeBuffer, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d", helperEnv, path, each))
		outs[i] = &safeBuffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for range each {
		if err := increment(s); err != nil {
			t.Error(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v\n%s", i, err, outs[i])
		}
	}
	if got, want := counter(t, s), (procs+1)*each; got != want {
		t.Errorf("counter = %d, want %d", got, want)
	}
}

// TestHelperProcess is not a test: TestProcesses runs the test binary with
// it to increment the counter from another process. Without the
// environment variable it does nothing.
func TestHelperProcess(t *testing.T) {
	arg := os.Getenv(helperEnv)
	if arg == "" {
		return
	}
	i := len(arg) - 1
	for arg[i] != ':' {
		i--
	}
	path := arg[:i]
	n, err := strconv.Atoi(arg[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range n {
		if err := increment(s); err != nil {
			t.Fatal(err)
		}
	}
}

type safeBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// The database and its -wal and -shm files are private to their owner,
// whatever the umask lets through.
func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "metadata.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx metadata.Tx) error {
		return tx.Settings().Put("x", []byte("y"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(name), fi.Mode().Perm())
		}
	}
}
