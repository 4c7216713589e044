package localdisk

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// benchBase fills a base of size bytes: random bytes if dense, else zeros
// but for one random 4 KiB page per MiB (a sparse file, made fast).
func benchBase(b *testing.B, size int64, dense bool) (*Disks, *Base) {
	b.Helper()
	dir := b.TempDir()
	bs, err := NewBases(dir, 1<<40)
	if err != nil {
		b.Fatal(err)
	}
	page := randomBytes(3, 1<<20)
	if !dense {
		clear(page[4096:])
	}
	h, err := bs.Fill(context.Background(), digestOf(fmt.Sprint(size, dense)), size, func(w io.Writer) error {
		for off := int64(0); off < size; off += int64(len(page)) {
			if _, err := w.Write(page[:min(int64(len(page)), size-off)]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Release)
	return New(dir), h
}

// BenchmarkOverlayCreate creates (and closes) an overlay twice the size
// of its base, over a 1 MiB and a 1 GiB base: O(1) in the base's size.
func BenchmarkOverlayCreate(b *testing.B) {
	for _, size := range []int64{1 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("base=%dMiB", size>>20), func(b *testing.B) {
			ds, base := benchBase(b, size, false)
			b.ResetTimer()
			for i := range b.N {
				o, err := ds.OpenOverlay(fmt.Sprintf("i-%d", i), "root", base, 2*size)
				if err != nil {
					b.Fatal(err)
				}
				if err := o.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSequentialRead reads a 256 MiB disk of random bytes from start
// to end in 1 MiB requests: a fresh overlay (every block from the base),
// an overlay written whole (every block from its own data) and a plain
// disk, all in the page cache.
func BenchmarkSequentialRead(b *testing.B) {
	const size = 256 << 20
	ctx := context.Background()
	ds, base := benchBase(b, size, true)
	fresh, err := ds.OpenOverlay("i-fresh", "root", base, size)
	if err != nil {
		b.Fatal(err)
	}
	defer fresh.Close()
	written, _ := ds.OpenOverlay("i-written", "root", base, size)
	defer written.Close()
	plain, _ := ds.Open("i-plain", "ephemeral0", size)
	defer plain.Close()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		fresh.ReadAt(ctx, buf, off)
		written.WriteAt(ctx, buf, off)
		plain.WriteAt(ctx, buf, off)
	}
	for _, c := range []struct {
		name string
		d    interface {
			ReadAt(context.Context, []byte, int64) error
		}
	}{{"overlay-fresh", fresh}, {"overlay-written", written}, {"plain", plain}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			for range b.N {
				for off := int64(0); off < size; off += int64(len(buf)) {
					if err := c.d.ReadAt(ctx, buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRandomWrite4K writes 4 KiB at random 4 KiB-aligned offsets of
// a 1 GiB disk, with a Flush every 256 writes: over a fresh overlay
// (most writes copy a 64 KiB block up from the base first) and a plain
// disk.
func BenchmarkRandomWrite4K(b *testing.B) {
	const size = 1 << 30
	ctx := context.Background()
	ds, base := benchBase(b, size, false)
	p := randomBytes(5, 4096)
	runs := 0 // each run writes a new disk
	for _, name := range []string{"overlay", "plain"} {
		b.Run(name, func(b *testing.B) {
			var d interface {
				WriteAt(context.Context, []byte, int64) error
				Flush(context.Context) error
				Close() error
			}
			var err error
			runs++
			owner := fmt.Sprintf("i-%d", runs)
			if name == "overlay" {
				d, err = ds.OpenOverlay(owner, "root", base, size)
			} else {
				d, err = ds.Open(owner, "ephemeral0", size)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			r := rand.New(rand.NewPCG(9, 9))
			b.SetBytes(4096)
			b.ResetTimer()
			for i := range b.N {
				if err := d.WriteAt(ctx, p, r.Int64N(size/4096)*4096); err != nil {
					b.Fatal(err)
				}
				if i%256 == 255 {
					if err := d.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
