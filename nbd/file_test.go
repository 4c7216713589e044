package nbd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openami/openami/internal/nbdclient"
)

// ServeFile serves a file's bytes read-only until its context ends, then
// returns.
func TestServeFile(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(dir, "disk")
	if err := os.WriteFile(path, data, 0o400); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeFile(ctx, f, l) }()

	conn, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := nbdclient.NewClient(conn, "any")
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", c.Size(), len(data))
	}
	got := make([]byte, 1<<20)
	if _, err := c.ReadAt(got, 2<<20+5); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data[2<<20+5:3<<20+5]) {
		t.Fatal("read back different bytes")
	}
	c.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeFile after its context ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeFile still serving 10 s after its context ended")
	}
}
