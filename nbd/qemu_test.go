package nbd

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests drive the server with the real clients it is written for.
// They need qemu-img and qemu-io, from Debian's qemu-utils package, and
// fail rather than skip without them so that CI cannot silently lose them.

// qemuTool returns the path of a qemu-utils program.
func qemuTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install qemu-utils (apt-get install -y qemu-utils): %v", name, err)
	}
	return path
}

// nbdURI is how qemu names export name on the unix socket at sock.
func nbdURI(name, sock string) string {
	return fmt.Sprintf("nbd+unix:///%s?socket=%s", name, sock)
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestQemuIO(t *testing.T) {
	qemuIO := qemuTool(t, "qemu-io")
	e := newMemExport(4 << 20)
	_, sock := startServer(t, map[string]Export{"vol-0123": e})

	out := run(t, qemuIO, "-f", "raw", nbdURI("vol-0123", sock),
		"-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M", "-c", "flush")
	// qemu-io reports failed commands on its output, not in its status.
	if strings.Contains(out, "failed") || strings.Contains(out, "error") {
		t.Fatalf("qemu-io:\n%s", out)
	}
	if !bytes.Equal(e.bytes(0, 1<<20), bytes.Repeat([]byte{0xab}, 1<<20)) {
		t.Fatal("export does not hold the written bytes")
	}
	if _, flushes, _ := e.snapshot(); len(flushes) == 0 {
		t.Fatal("flush did not reach the export")
	}
}

func TestQemuIOReadOnlyExport(t *testing.T) {
	qemuIO := qemuTool(t, "qemu-io")
	e := newMemExport(1 << 20)
	copy(e.data, bytes.Repeat([]byte{0x5a}, 1<<20))
	e.ro = true
	_, sock := startServer(t, map[string]Export{"vol-ro": e})

	out := run(t, qemuIO, "-r", "-f", "raw", nbdURI("vol-ro", sock), "-c", "read -P 0x5a 0 1M")
	if strings.Contains(out, "failed") {
		t.Fatalf("qemu-io read:\n%s", out)
	}
	// qemu refuses to open a read-only export for writing.
	cmd := exec.Command(qemuIO, "-f", "raw", nbdURI("vol-ro", sock), "-c", "write -P 1 0 4k")
	if out, err := cmd.CombinedOutput(); err == nil && !strings.Contains(string(out), "failed") {
		t.Fatalf("write to a read-only export succeeded:\n%s", out)
	}
	if ops, _, _ := e.snapshot(); strings.Contains(strings.Join(ops, ","), "write") {
		t.Fatalf("export written: %q", ops)
	}
}

func TestQemuIOUnknownExport(t *testing.T) {
	qemuIO := qemuTool(t, "qemu-io")
	_, sock := startServer(t, map[string]Export{})
	out, err := exec.Command(qemuIO, "-f", "raw", nbdURI("vol-nope", sock), "-c", "read 0 4k").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown export") {
		t.Fatalf("opening an unknown export: %v\n%s", err, out)
	}
}

func TestQemuIODiscardLargerThanMaxBlock(t *testing.T) {
	qemuIO := qemuTool(t, "qemu-io")
	e := newMemExport(64 << 20)
	_, sock := startServer(t, map[string]Export{"vol-trim": e})
	out := run(t, qemuIO, "-f", "raw", nbdURI("vol-trim", sock),
		"-c", "discard 0 64M", "-c", "write -z 0 64M")
	if strings.Contains(out, "failed") {
		t.Fatalf("qemu-io:\n%s", out)
	}
	t.Logf("qemu-io:\n%s", out)
}

func TestQemuImgConvert(t *testing.T) {
	qemuImg := qemuTool(t, "qemu-img")
	const size = 16 << 20
	src := make([]byte, size)
	rand.Read(src)
	// A zeroed stretch makes qemu-img use WRITE_ZEROES on the way in.
	clear(src[4<<20 : 6<<20])
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src.raw"), src)

	e := newMemExport(size)
	copy(e.data, bytes.Repeat([]byte{0xff}, size)) // so zeroes must really be written
	_, sock := startServer(t, map[string]Export{"vol-convert": e})
	uri := nbdURI("vol-convert", sock)

	run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", "-n", filepath.Join(dir, "src.raw"), uri)
	if !bytes.Equal(e.bytes(0, size), src) {
		t.Fatal("export differs from the source after qemu-img convert in")
	}
	ops, flushes, _ := e.snapshot()
	if !strings.Contains(strings.Join(ops, ","), "zero") || len(flushes) == 0 {
		t.Errorf("expected zeroing and a flush; export calls: %q", ops)
	}

	run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", uri, filepath.Join(dir, "out.raw"))
	out, err := os.ReadFile(filepath.Join(dir, "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, src) {
		t.Fatal("qemu-img convert out of the export differs from the source")
	}
}
