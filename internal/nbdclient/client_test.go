package nbdclient

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
	if n, err := c.ReadAt(got[:100], int64(len(data))-40); err != io.EOF || n != 40 || !bytes.Equal(got[:40], data[len(data)-40:]) {
		t.Fatalf("ReadAt past the end: %d, %v", n, err)
	}
}

// qemuTool returns the path of a qemu-utils program; the test fails
// without it so that CI cannot silently lose it.
func qemuTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install qemu-utils: %v", name, err)
	}
	return path
}
