package cluster

import (
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DB opens the cluster's database for a test to look at what the nodes
// recorded (leases, tasks, rows a kill must not leave behind), closed
// when the test ends. Tests read through it; changing rows under running
// nodes is the test's own risk.
func (c *Cluster) DB(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// WaitLog waits until a line of the node's log (from the start of its
// current run or earlier) matches pattern and returns it; it fails the
// test after timeout. A kill at a chosen point of a task is WaitLog on
// the line the task logs there, then Kill.
func (n *Node) WaitLog(t testing.TB, pattern string, timeout time.Duration) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(n.Log.String(), "\n") {
			if re.MatchString(line) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d logged no line matching %q within %s; its log ends:\n%s", n.Index, pattern, timeout, tail(n.Log.String(), 4096))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
