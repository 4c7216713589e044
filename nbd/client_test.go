package nbd

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestClientReadsServer reads an export of this package's server with
// Client: every byte as written, io.EOF past the end, an error for a
// refused export.
func TestClientReadsServer(t *testing.T) {
	m := newMemExport(3<<20 + 100)
	rand.Read(m.data)
	_, path := startServer(t, map[string]Export{"vol": m})
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(nc, "vol")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != int64(len(m.data)) {
		t.Fatalf("Size %d, want %d", c.Size(), len(m.data))
	}
	got := make([]byte, 1<<20)
	if n, err := c.ReadAt(got, 12345); err != nil || n != len(got) || !bytes.Equal(got, m.data[12345:12345+1<<20]) {
		t.Fatalf("ReadAt: %d, %v, equal %v", n, err, bytes.Equal(got, m.data[12345:12345+1<<20]))
	}
	n, err := c.ReadAt(got, int64(len(m.data))-10)
	if err != io.EOF || n != 10 || !bytes.Equal(got[:10], m.data[len(m.data)-10:]) {
		t.Fatalf("ReadAt at the end: %d, %v", n, err)
	}

	nc2, _ := net.Dial("unix", path)
	if _, err := NewClient(nc2, "missing"); err == nil {
		t.Fatal("NewClient of a missing export succeeded")
	}
	nc2.Close()
}

// TestClientReadsQemuNBD reads a qcow2 through a read-only qemu-nbd
// export, as rules/imports does, against the raw data it holds.
func TestClientReadsQemuNBD(t *testing.T) {
	qemuImg, qemuNBD := qemuTool(t, "qemu-img"), qemuTool(t, "qemu-nbd")
	dir := t.TempDir()
	data := make([]byte, 4<<20)
	rand.Read(data[1<<20 : 2<<20]) // data, then zeros
	raw, qcow, sock := filepath.Join(dir, "d.raw"), filepath.Join(dir, "d.qcow2"), filepath.Join(dir, "s")
	os.WriteFile(raw, data, 0o600)
	if out, err := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	cmd := exec.Command(qemuNBD, "--read-only", "--format=qcow2", "--socket="+sock, qcow)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var nc net.Conn
	var err error
	for range 200 {
		if nc, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(nc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make([]byte, len(data))
	if n, err := c.ReadAt(got, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt: %d, %v, equal %v", n, err, bytes.Equal(got, data))
	}
}
