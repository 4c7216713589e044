package localdisk

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// abandon closes o's files without flushing, as a crash would leave them.
func (o *Overlay) abandon() {
	o.once.Do(func() {
		o.ds.mu.Lock()
		delete(o.ds.open, o.key)
		o.ds.mu.Unlock()
		o.data.Close()
		o.meta.Close()
		o.base.Close()
	})
}

// readAll reads the whole of o.
func readAll(t testing.TB, o *Overlay) []byte {
	t.Helper()
	b := make([]byte, o.Size())
	if err := o.ReadAt(context.Background(), b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// overlayFixture returns disks and a held base of baseSize random bytes.
func overlayFixture(t testing.TB, baseSize int) (*Disks, *Base, []byte) {
	dir := t.TempDir()
	bs, err := NewBases(dir, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(7, baseSize)
	b := fillWith(t, bs, "base", data)
	t.Cleanup(b.Release)
	return New(dir), b, data
}

func TestOverlaySemantics(t *testing.T) {
	ctx := context.Background()
	// Neither size is a multiple of the block size; the disk is larger
	// than its base.
	ds, base, data := overlayFixture(t, 3*blockSize+1000)
	size := int64(6*blockSize + 300)
	o, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != size || o.ReadOnly() {
		t.Fatalf("size %d read-only %v", o.Size(), o.ReadOnly())
	}
	want := make([]byte, size)
	copy(want, data) // unwritten: the base, then zeros
	if got := readAll(t, o); !bytes.Equal(got, want) {
		t.Fatal("a fresh overlay does not read as its base")
	}
	write := func(off int64, p []byte) {
		t.Helper()
		if err := o.WriteAt(ctx, p, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], p)
	}
	zero := func(off, n int64, trim bool) {
		t.Helper()
		f := o.WriteZeroes
		if trim {
			f = o.Trim
		}
		if err := f(ctx, off, n); err != nil {
			t.Fatal(err)
		}
		clear(want[off : off+n])
	}
	write(100, []byte("partial block 0"))                         // copy-up, rest from the base
	write(blockSize, bytes.Repeat([]byte{1}, blockSize))          // a whole block
	write(2*blockSize-5, []byte("straddles blocks 1 and 2"))      // across a boundary
	write(3*blockSize+900, []byte("across the base's end"))       // copy-up of a short base block
	write(5*blockSize+7, []byte("past the base: zeros around"))   // copy-up past the base
	zero(2*blockSize+100, 3*blockSize, true)                      // trim over the base, partial edges
	zero(size-200, 200, false)                                    // the disk's last short block
	write(2*blockSize+200, []byte("written over a trimmed part")) // after trim
	if got := readAll(t, o); !bytes.Equal(got, want) {
		t.Fatal("reads differ from what was written")
	}
	// Small reads at odd offsets see the same.
	for off := int64(0); off < size; off += 4093 {
		n := min(5000, size-off)
		b := make([]byte, n)
		if err := o.ReadAt(ctx, b, off); err != nil || !bytes.Equal(b, want[off:off+n]) {
			t.Fatalf("read %d+%d: %v", off, n, err)
		}
	}
	if err := o.ReadAt(ctx, make([]byte, 2), size-1); err == nil {
		t.Fatal("read past the end succeeded")
	}
	if err := o.WriteAt(ctx, []byte("x"), -1); err == nil {
		t.Fatal("write before the start succeeded")
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	// Reopened (the instance or openami restarts), it reads the same; the
	// base is untouched.
	o, err = ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); !bytes.Equal(got, want) {
		t.Fatal("reopened overlay differs")
	}
	if b, _ := os.ReadFile(base.path()); !bytes.Equal(b, data) {
		t.Fatal("the base changed")
	}
	// A second overlay over the same base sees none of the first's writes.
	o2, err := ds.OpenOverlay("i-2", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	fresh := make([]byte, size)
	copy(fresh, data)
	if got := readAll(t, o2); !bytes.Equal(got, fresh) {
		t.Fatal("the second overlay sees the first's writes")
	}
	o2.WriteAt(ctx, []byte("mine"), 0)
	if got := readAll(t, o); !bytes.Equal(got, want) {
		t.Fatal("the first overlay sees the second's writes")
	}
	o.Close()
	o2.Close()

	// Another size or base is refused; so are bad names.
	if _, err := ds.OpenOverlay("i-1", "root", base, size+blockSize); err == nil {
		t.Fatal("reopened with another size")
	}
	if _, err := ds.OpenOverlay("..", "root", base, size); err == nil {
		t.Fatal("bad owner accepted")
	}
	// Remove deletes both files.
	if err := ds.Remove("i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ds.root, "i-1")); !os.IsNotExist(err) {
		t.Fatalf("after Remove: %v", err)
	}
}

// TestOverlayCrash: what was flushed survives a crash; what was not may
// read as either its old or its new bytes, block by block, never as
// anything else.
func TestOverlayCrash(t *testing.T) {
	ctx := context.Background()
	ds, base, data := overlayFixture(t, 4*blockSize)
	size := int64(4 * blockSize)
	o, _ := ds.OpenOverlay("i-1", "root", base, size)
	flushed := bytes.Clone(data)
	p := bytes.Repeat([]byte{0xaa}, 1000)
	o.WriteAt(ctx, p, 10)
	copy(flushed[10:], p)
	o.WriteZeroes(ctx, 3*blockSize, blockSize)
	clear(flushed[3*blockSize:])
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	later := bytes.Clone(flushed)
	q := bytes.Repeat([]byte{0xbb}, blockSize)
	o.WriteAt(ctx, q, blockSize+blockSize/2)
	copy(later[blockSize+blockSize/2:], q)
	o.abandon()

	o, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got := readAll(t, o)
	for i := int64(0); i < size; i += blockSize {
		g, f, l := got[i:i+blockSize], flushed[i:i+blockSize], later[i:i+blockSize]
		if !bytes.Equal(g, f) && !bytes.Equal(g, l) {
			t.Fatalf("block %d after a crash is neither the flushed nor the later bytes", i/blockSize)
		}
	}
	if !bytes.Equal(got[:blockSize], flushed[:blockSize]) || !bytes.Equal(got[3*blockSize:], make([]byte, blockSize)) {
		t.Fatal("flushed writes lost in a crash")
	}
}

// TestOverlayModel compares an overlay with a plain byte slice under
// random writes, zeroing, trims, reads, flushes and reopens, some
// concurrent.
func TestOverlayModel(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 1))
		baseSize := r.IntN(5*blockSize) + 1
		ds, base, data := overlayFixture(t, baseSize)
		size := int64(r.IntN(8*blockSize) + 1)
		model := make([]byte, size)
		copy(model, data)
		o, err := ds.OpenOverlay("i-m", "root", base, size)
		if err != nil {
			t.Fatal(err)
		}
		span := func() (int64, int64) {
			off := r.Int64N(size)
			n := r.Int64N(min(size-off, 3*blockSize)) + 1
			return off, n
		}
		for step := range 400 {
			switch op := r.IntN(10); {
			case op < 4:
				off, n := span()
				p := randomBytes(uint64(step), int(n))
				if err := o.WriteAt(ctx, p, off); err != nil {
					t.Fatal(err)
				}
				copy(model[off:], p)
			case op < 6:
				off, n := span()
				f := o.Trim
				if op == 5 {
					f = o.WriteZeroes
				}
				if err := f(ctx, off, n); err != nil {
					t.Fatal(err)
				}
				clear(model[off : off+n])
			case op < 8:
				off, n := span()
				b := make([]byte, n)
				if err := o.ReadAt(ctx, b, off); err != nil || !bytes.Equal(b, model[off:off+n]) {
					t.Fatalf("seed %d step %d: read %d+%d differs (%v)", seed, step, off, n, err)
				}
			case op == 8:
				if err := o.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			default:
				if err := o.Close(); err != nil {
					t.Fatal(err)
				}
				if o, err = ds.OpenOverlay("i-m", "root", base, size); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Concurrent writes to disjoint ranges that share blocks (the
		// copy-up of one must not undo another).
		done := make(chan error)
		writes := 0
		for k := range int64(8) {
			off := k*blockSize/3 + 17
			p := bytes.Repeat([]byte{byte(k + 1)}, int(blockSize/3))
			if off+int64(len(p)) > size {
				break
			}
			copy(model[off:], p)
			writes++
			go func() { done <- o.WriteAt(ctx, p, off) }()
		}
		for range writes {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if got := readAll(t, o); !bytes.Equal(got, model) {
			t.Fatalf("seed %d: after concurrent writes the overlay differs", seed)
		}
		o.Close()
	}
}

// TestOverlayHandles: two opens of one disk (two NBD connections, or a
// reconnect before the old one is closed) share it; Remove while it is
// open leaves the open handles working and the next open makes a new disk.
func TestOverlayHandles(t *testing.T) {
	ctx := context.Background()
	ds, base, data := overlayFixture(t, 2*blockSize)
	size := int64(2 * blockSize)
	a, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.OpenOverlay("i-1", "root", base, 2*size); err == nil {
		t.Fatal("opened an open overlay with another size")
	}
	a.WriteAt(ctx, []byte("from a"), 10)
	got := make([]byte, 6)
	if b.ReadAt(ctx, got, 10); string(got) != "from a" {
		t.Fatalf("b reads %q", got)
	}
	// a's close flushes; b's writes, made after, must survive b's close
	// and a's bits must survive b's flush.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.WriteAt(ctx, []byte("from b"), blockSize+10)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(data)
	copy(want[10:], "from a")
	copy(want[blockSize+10:], "from b")
	if !bytes.Equal(readAll(t, c), want) {
		t.Fatal("after both handles closed the disk differs")
	}

	// Removed while open: c still reads its disk; a new open is fresh.
	if err := ds.Remove("i-1"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, c), want) {
		t.Fatal("an open handle lost its disk to Remove")
	}
	d, err := ds.OpenOverlay("i-1", "root", base, size)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, d), data) {
		t.Fatal("an overlay opened after Remove is not fresh")
	}
	c.Close()
	d.Close()
}
