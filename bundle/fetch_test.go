package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestUnbundleReadsAhead checks Unbundle's read-ahead with parts of
// several chunks each: the image comes out whole; a damaged or failing
// part is named; and no part is left open when Unbundle returns, even
// when it stops early.
func TestUnbundleReadsAhead(t *testing.T) {
	user, _, _ := testIDs(t)
	img := randomImage(7 << 20)
	m, sink := bundleOf(t, img, options(t, "image", 2*fetchChunk+fetchChunk/3))
	if len(m.Parts) < 3 {
		t.Fatalf("%d parts, want several", len(m.Parts))
	}
	key, iv, err := m.UserKey(Decrypter(user.key))
	if err != nil {
		t.Fatal(err)
	}

	// open counts the parts open; damage changes what part index reads.
	var mu sync.Mutex
	openParts := 0
	opener := func(index int, damage func([]byte) io.Reader) OpenPart {
		return func(p Part) (io.ReadCloser, error) {
			rc, err := sink.open(p)
			if err != nil {
				return nil, err
			}
			var r io.Reader = rc
			if p.Index == index {
				b, _ := io.ReadAll(rc)
				r = damage(bytes.Clone(b))
			}
			mu.Lock()
			openParts++
			mu.Unlock()
			return &closer{Reader: r, close: func() { mu.Lock(); openParts--; mu.Unlock() }}, nil
		}
	}
	flip := func(b []byte) io.Reader { b[len(b)/2] ^= 1; return bytes.NewReader(b) }
	ioErr := errors.New("the disk is on fire")
	fail := func(b []byte) io.Reader {
		return io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotestErr{ioErr})
	}

	var out bytes.Buffer
	if err := Unbundle(context.Background(), m, key, iv, opener(-1, nil), &out); err != nil || !bytes.Equal(out.Bytes(), img) {
		t.Fatalf("Unbundle: %v, image equal %v", err, bytes.Equal(out.Bytes(), img))
	}
	for _, c := range []struct {
		name  string
		open  OpenPart
		key   []byte
		want  error
		index int // -1: no part named
	}{
		{"part 1 damaged mid-way", opener(1, flip), key, ErrDigest, 1},
		{"part 2 fails mid-way", opener(2, fail), key, ioErr, 2},
		{"a wrong key", opener(-1, nil), iv, ErrCorrupt, -1},
	} {
		err := Unbundle(context.Background(), m, c.key, iv, c.open, io.Discard)
		var perr *PartError
		named := errors.As(err, &perr)
		if !errors.Is(err, c.want) || named != (c.index >= 0) || named && perr.Part.Index != c.index {
			t.Errorf("%s: %v; want %v naming part %d", c.name, err, c.want, c.index)
		}
		mu.Lock()
		if openParts != 0 {
			t.Errorf("%s: %d parts still open after Unbundle returned", c.name, openParts)
		}
		mu.Unlock()
	}
}

// TestUnbundleWriteError: dst's write error comes back as it came, from
// the writer stage's goroutine.
func TestUnbundleWriteError(t *testing.T) {
	user, _, _ := testIDs(t)
	img := randomImage(5 << 20)
	m, sink := bundleOf(t, img, options(t, "image", 0))
	key, iv, err := m.UserKey(Decrypter(user.key))
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("the disk is full")
	dst := &limitWriter{n: 3 << 20, err: full}
	if err := Unbundle(context.Background(), m, key, iv, sink.open, dst); !errors.Is(err, full) {
		t.Errorf("Unbundle to a writer that fails: %v, want %v", err, full)
	}
}

// limitWriter takes n bytes, then fails with err.
type limitWriter struct {
	n   int
	err error
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

type closer struct {
	io.Reader
	close func()
}

func (c *closer) Close() error { c.close(); return nil }

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
