package service

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
)

// TestDeviceReadCache: small reads of a block are served from the
// device's cache of read blocks after the first (here, with the chunk
// files gone, nothing else could serve them), and a write to a cached
// block is what later reads see, before and after the flush.
func TestDeviceReadCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	inst := f.launch(t, "cached", f.snapshot(t, map[int64][]byte{0: block(1), 1: block(2)}, true))
	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, inst.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	small := make([]byte, 4096)
	if err := dev.ReadAt(ctx, small, 8192); err != nil || !bytes.Equal(small, block(1)[8192:8192+4096]) {
		t.Fatalf("first read: %v", err)
	}
	// The chunks go: only the cache can answer for block 0 now.
	filepath.WalkDir(filepath.Join(f.dir, "blocks"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "chunks" {
			os.Remove(path)
		}
		return nil
	})
	for off := int64(0); off < openami.BlockSize; off += 64 << 10 {
		if err := dev.ReadAt(ctx, small, off); err != nil || !bytes.Equal(small, block(1)[off:off+4096]) {
			t.Fatalf("cached read at %d: %v", off, err)
		}
	}
	if err := dev.ReadAt(ctx, small, openami.BlockSize); err == nil {
		t.Fatal("block 1 was read without its chunk: the cache holds what it was not given")
	}
	// A partial write of the cached block reads the rest from the cache.
	msg := []byte("over the cache")
	if err := dev.WriteAt(ctx, msg, 100); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(block(1)[:4096])
	copy(want[100:], msg)
	if err := dev.ReadAt(ctx, small, 0); err != nil || !bytes.Equal(small, want) {
		t.Fatalf("read after write: %v", err)
	}
	if err := dev.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dev.ReadAt(ctx, small, 0); err != nil || !bytes.Equal(small, want) {
		t.Fatalf("read after flush: %v %q", err, small[100:114])
	}
}
