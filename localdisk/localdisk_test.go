package localdisk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenWriteRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ds := New(dir)
	d, err := ds.Open("i-0123456789abcdef0", "ephemeral0", 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 4<<20 || d.ReadOnly() {
		t.Fatalf("size %d, read-only %v", d.Size(), d.ReadOnly())
	}
	if err := d.WriteAt(ctx, []byte("hello"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	// Opened again, the disk keeps its bytes; zeroed, they are gone.
	d, err = ds.Open("i-0123456789abcdef0", "ephemeral0", 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := make([]byte, 5)
	if err := d.ReadAt(ctx, got, 1<<20); err != nil || string(got) != "hello" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := d.Trim(ctx, 1<<20, 5); err != nil {
		t.Fatal(err)
	}
	if err := d.ReadAt(ctx, got, 1<<20); err != nil || !bytes.Equal(got, make([]byte, 5)) {
		t.Fatalf("after trim: %q, %v", got, err)
	}
	path := filepath.Join(dir, "instance-store", "i-0123456789abcdef0", "ephemeral0.img")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := ds.Remove("i-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after Remove: %v", err)
	}
	if err := ds.Remove("i-0123456789abcdef0"); err != nil {
		t.Fatalf("removing again: %v", err)
	}
}

func TestBadNames(t *testing.T) {
	ds := New(t.TempDir())
	for _, c := range []struct{ owner, name string }{
		{"", "ephemeral0"}, {"..", "ephemeral0"}, {"i-1/..", "ephemeral0"},
		{"i-1", ""}, {"i-1", "../x"}, {"i-1", `a\b`},
	} {
		if d, err := ds.Open(c.owner, c.name, 1<<20); err == nil {
			d.Close()
			t.Errorf("Open(%q, %q) succeeded", c.owner, c.name)
		}
	}
	for _, owner := range []string{"", ".", "..", "a/b"} {
		if err := ds.Remove(owner); err == nil {
			t.Errorf("Remove(%q) succeeded", owner)
		}
	}
}
