package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// Test blocks of different compressibility.
func randomBlock(seed uint64) []byte {
	b := make([]byte, openami.BlockSize)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	r.Read(b)
	return b
}

// halfBlock is half random, half a repeating pattern in every 4 KiB page,
// so zstd roughly halves it.
func halfBlock(seed uint64) []byte {
	b := randomBlock(seed)
	for p := 0; p < len(b); p += 4096 {
		for i := p + 2048; i < p+4096; i++ {
			b[i] = byte(i / 64)
		}
	}
	return b
}

func textBlock(seed uint64) []byte {
	b := make([]byte, 0, openami.BlockSize)
	for i := 0; len(b) < openami.BlockSize; i++ {
		b = append(b, "line "...)
		b = append(b, byte('0'+i%10), byte('0'+(i/10)%10), byte('a'+seed%26))
		b = append(b, " of a compressible block\n"...)
	}
	return b[:openami.BlockSize]
}

func TestChunksRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		data    []byte
		maxSize int64 // the stored frame must be at most this big
	}{
		{"random", randomBlock(1), maxFrameSize},
		{"half", halfBlock(2), openami.BlockSize * 6 / 10},
		{"text", textBlock(3), openami.BlockSize / 20},
		{"one byte", func() []byte { b := make([]byte, openami.BlockSize); b[12345] = 7; return b }(), 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := newMemBlobs()
			c := NewChunks(bs)
			d, stored, wrote, err := c.Put(ctx, nil, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if want := openami.Digest(sha256.Sum256(tc.data)); d != want {
				t.Fatalf("digest %s, want %s", d, want)
			}
			if !wrote || stored <= frameHeaderSize || stored > tc.maxSize {
				t.Fatalf("stored %d bytes (wrote %v), want a new chunk of at most %d", stored, wrote, tc.maxSize)
			}
			if got := int64(len(bs.raw(ChunkKey(d)))); got != stored {
				t.Fatalf("blob is %d bytes, Put said %d", got, stored)
			}
			got := make([]byte, openami.BlockSize)
			if err := c.Get(ctx, nil, d, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatal("Get returned different data")
			}

			// The same block again is not rewritten.
			d2, stored2, wrote2, err := c.Put(ctx, nil, tc.data)
			if err != nil || d2 != d || stored2 != stored || wrote2 {
				t.Fatalf("second Put = %s, %d, %v, %v; want %s, %d, false, nil", d2, stored2, wrote2, err, d, stored)
			}
			if bs.puts != 1 {
				t.Fatalf("%d blob puts, want 1", bs.puts)
			}
			stored3, wrote3, err := c.PutVerified(ctx, nil, d, tc.data)
			if err != nil || stored3 != stored || wrote3 {
				t.Fatalf("PutVerified of a stored chunk = %d, %v, %v", stored3, wrote3, err)
			}
		})
	}
}

func TestChunksPutVerified(t *testing.T) {
	ctx := context.Background()
	bs := newMemBlobs()
	c := NewChunks(bs)
	data := halfBlock(9)
	d := openami.Digest(sha256.Sum256(data))
	stored, wrote, err := c.PutVerified(ctx, nil, d, data)
	if err != nil || !wrote || stored == 0 {
		t.Fatalf("PutVerified = %d, %v, %v", stored, wrote, err)
	}
	got := make([]byte, openami.BlockSize)
	if err := c.Get(ctx, nil, d, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after PutVerified: %v", err)
	}

	// A zero block is never stored, under either name for it.
	zero := make([]byte, openami.BlockSize)
	for _, zd := range []openami.Digest{openami.ZeroDigest, sha256.Sum256(zero)} {
		if stored, wrote, err := c.PutVerified(ctx, nil, zd, zero); err != nil || wrote || stored != 0 {
			t.Fatalf("PutVerified(zero) = %d, %v, %v", stored, wrote, err)
		}
	}
	// ZeroDigest with data, or a data digest with zeros, is refused.
	if _, _, err := c.PutVerified(ctx, nil, openami.ZeroDigest, data); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("PutVerified(ZeroDigest, data): %v, want InvalidParameter", err)
	}
	if _, _, err := c.PutVerified(ctx, nil, d, zero); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("PutVerified(d, zeros): %v, want InvalidParameter", err)
	}
	if bs.puts != 1 {
		t.Fatalf("%d blob puts, want 1", bs.puts)
	}
}

func TestChunksZero(t *testing.T) {
	ctx := context.Background()
	bs := newMemBlobs()
	c := NewChunks(bs)
	zero := make([]byte, openami.BlockSize)
	d, stored, wrote, err := c.Put(ctx, nil, zero)
	if err != nil || d != openami.ZeroDigest || stored != 0 || wrote {
		t.Fatalf("Put(zeros) = %s, %d, %v, %v; want ZeroDigest, 0, false, nil", d, stored, wrote, err)
	}
	if len(bs.m) != 0 {
		t.Fatal("a zero block was stored")
	}
	dst := bytes.Repeat([]byte{0xff}, openami.BlockSize)
	if err := c.Get(ctx, nil, openami.ZeroDigest, dst); err != nil || !isZeroBlock(dst) {
		t.Fatalf("Get(ZeroDigest): %v, zeros %v", err, isZeroBlock(dst))
	}
	dst[0] = 1
	if err := c.Get(ctx, nil, zeroBlockSum, dst); err != nil || !isZeroBlock(dst) {
		t.Fatalf("Get(sha256 of zeros): %v", err)
	}
	if err := c.Delete(ctx, openami.ZeroDigest); err != nil {
		t.Fatal(err)
	}
}

func TestChunksBadArguments(t *testing.T) {
	ctx := context.Background()
	c := NewChunks(newMemBlobs())
	for _, n := range []int{0, 1, openami.BlockSize - 1, openami.BlockSize + 1} {
		if _, _, _, err := c.Put(ctx, nil, make([]byte, n)); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Put of %d bytes: %v, want InvalidParameter", n, err)
		}
		if _, _, err := c.PutVerified(ctx, nil, openami.ZeroDigest, make([]byte, n)); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("PutVerified of %d bytes: %v, want InvalidParameter", n, err)
		}
		if err := c.Get(ctx, nil, openami.ZeroDigest, make([]byte, n)); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Get into %d bytes: %v, want InvalidParameter", n, err)
		}
	}
}

func TestChunksMissingAndCorrupt(t *testing.T) {
	ctx := context.Background()
	bs := newMemBlobs()
	c := NewChunks(bs)
	dst := make([]byte, openami.BlockSize)

	missing := openami.Digest(sha256.Sum256([]byte("nothing")))
	if err := c.Get(ctx, nil, missing, dst); !errors.Is(err, openami.ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get(missing): %v, want NotFound", err)
	}

	for _, tc := range []struct {
		name string
		data []byte
	}{{"raw", randomBlock(5)}, {"zstd", halfBlock(6)}} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _, err := c.Put(ctx, nil, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			key := ChunkKey(d)
			good := bytes.Clone(bs.raw(key))

			damage := map[string]func([]byte) []byte{
				"magic":          func(b []byte) []byte { b[0] ^= 1; return b },
				"version":        func(b []byte) []byte { b[4] = 2; return b },
				"kind":           func(b []byte) []byte { b[5] = 9; return b },
				"reserved":       func(b []byte) []byte { b[7] = 1; return b },
				"length":         func(b []byte) []byte { b[9] ^= 1; return b },
				"payload first":  func(b []byte) []byte { b[frameHeaderSize] ^= 0x40; return b },
				"payload middle": func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b },
				"payload last":   func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b },
				"truncated":      func(b []byte) []byte { return b[:len(b)-1] },
				"header only":    func(b []byte) []byte { return b[:frameHeaderSize] },
				"short":          func(b []byte) []byte { return b[:3] },
				"empty":          func(b []byte) []byte { return b[:0] },
				"extended":       func(b []byte) []byte { return append(b, 0) },
				"oversized":      func(b []byte) []byte { return append(b, make([]byte, maxFrameSize)...) },
			}
			for name, f := range damage {
				bs.m[key] = f(bytes.Clone(good))
				for i := range dst {
					dst[i] = 0xaa
				}
				err := c.Get(ctx, nil, d, dst)
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: Get: %v, want ErrCorrupt", name, err)
				}
				if openami.ClassOf(err) != openami.Internal {
					t.Errorf("%s: class %v, want internal", name, openami.ClassOf(err))
				}
				if !isZeroBlock(dst) {
					t.Errorf("%s: dst was not zeroed after a corrupt read", name)
				}
			}
			bs.m[key] = good
			if err := c.Get(ctx, nil, d, dst); err != nil || !bytes.Equal(dst, tc.data) {
				t.Fatalf("restored chunk: %v", err)
			}

			// A valid frame under the wrong name is corrupt, not data.
			other := openami.Digest(sha256.Sum256([]byte(tc.name)))
			bs.m[ChunkKey(other)] = good
			if err := c.Get(ctx, nil, other, dst); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get of a chunk under the wrong digest: %v, want ErrCorrupt", err)
			}
			if !isZeroBlock(dst) {
				t.Fatal("dst holds data after a digest mismatch")
			}
			delete(bs.m, ChunkKey(other))
		})
	}
}

func TestChunksListDelete(t *testing.T) {
	ctx := context.Background()
	bs := newMemBlobs()
	c := NewChunks(bs)
	want := map[openami.Digest]bool{}
	for i := range 5 {
		d, _, _, err := c.Put(ctx, nil, halfBlock(uint64(100+i)))
		if err != nil {
			t.Fatal(err)
		}
		want[d] = true
	}
	// Keys that ChunkKey would not make are skipped.
	d0 := openami.Digest(sha256.Sum256([]byte("x"))).String()
	for _, k := range []string{
		"chunks/zz/" + d0,
		"chunks/" + d0[:2] + "/" + d0 + ".tmp",
		"chunks/" + d0[:2] + "/" + d0[:63],
		"chunks/" + d0,
		"chunks/00/" + d0,
		"chunks/" + d0[:2] + "/" + string(bytes.ToUpper([]byte(d0))),
	} {
		bs.m[k] = []byte("stray")
	}
	bs.m["other/"+d0] = []byte("stray")

	var got []openami.Digest
	err := c.List(ctx, func(d openami.Digest, info blob.Info) error {
		if info.Key != ChunkKey(d) {
			t.Errorf("key %q for digest %s", info.Key, d)
		}
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d chunks, want %d", len(got), len(want))
	}
	for i, d := range got {
		if !want[d] {
			t.Fatalf("listed unknown chunk %s", d)
		}
		if i > 0 && bytes.Compare(got[i-1][:], d[:]) >= 0 {
			t.Fatal("List is not in digest order")
		}
	}

	stop := errors.New("stop")
	n := 0
	if err := c.List(ctx, func(openami.Digest, blob.Info) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("List stopping early: %v after %d", err, n)
	}

	if err := c.Delete(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, got[0]); err != nil {
		t.Fatalf("deleting a missing chunk: %v", err)
	}
	if err := c.Get(ctx, nil, got[0], make([]byte, openami.BlockSize)); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func TestChunkKey(t *testing.T) {
	d := openami.Digest(sha256.Sum256([]byte("abc")))
	k := ChunkKey(d)
	if want := "chunks/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; k != want {
		t.Fatalf("ChunkKey = %q, want %q", k, want)
	}
	if got, ok := parseChunkKey(k); !ok || got != d {
		t.Fatalf("parseChunkKey(%q) = %s, %v", k, got, ok)
	}
}

func TestChunksConcurrent(t *testing.T) {
	ctx := context.Background()
	c := NewChunks(newMemBlobs())
	blocks := [][]byte{randomBlock(20), halfBlock(21), textBlock(22)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			dst := make([]byte, openami.BlockSize)
			for i := range 10 {
				data := blocks[(g+i)%len(blocks)]
				d, _, _, err := c.Put(ctx, nil, data)
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Get(ctx, nil, d, dst); err != nil || !bytes.Equal(dst, data) {
					t.Errorf("Get: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestChunksSteadyStateAllocation checks that Put and Get reuse their 512
// KiB buffers: the bytes allocated per call must be a small fraction of a
// block.
func TestChunksSteadyStateAllocation(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation measurement: skipped in short mode and under the race detector, which makes sync.Pool drop items")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		data []byte
	}{{"random", randomBlock(30)}, {"half", halfBlock(31)}} {
		put := NewChunks(discardBlobs{})
		bs := newMemBlobs()
		get := NewChunks(bs)
		d, _, _, err := get.Put(ctx, nil, tc.data)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, openami.BlockSize)
		perCall := func(f func()) uint64 {
			for range 20 {
				f() // warm the pools of every P the goroutine runs on
			}
			// No GC during the measurement: a GC may empty the pools,
			// which is correct behaviour but noise here.
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const n = 100
			for range n {
				f()
			}
			runtime.ReadMemStats(&after)
			return (after.TotalAlloc - before.TotalAlloc) / n
		}
		p := perCall(func() {
			if _, _, _, err := put.Put(ctx, nil, tc.data); err != nil {
				t.Fatal(err)
			}
		})
		g := perCall(func() {
			if err := get.Get(ctx, nil, d, dst); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %d bytes allocated per Put, %d per Get", tc.name, p, g)
		if p > 64<<10 || g > 64<<10 { // unpooled: ~1 MiB per Put, 512 KiB per Get
			t.Errorf("%s: %d bytes per Put, %d per Get; want well under a block", tc.name, p, g)
		}
	}
}

// FuzzDecodeChunk checks that decoding arbitrary bytes never panics and
// never yields data that does not hash to the digest asked for.
func FuzzDecodeChunk(f *testing.F) {
	seeds := [][]byte{halfBlock(40), randomBlock(41), textBlock(42)}
	digests := make([]openami.Digest, len(seeds))
	for i, s := range seeds {
		digests[i] = sha256.Sum256(s)
		f.Add(uint8(i), encodeFrame(nil, s))
	}
	f.Add(uint8(0), []byte(frameMagic+"\x01\x01\x00\x00\x00\x08\x00\x00"))
	f.Add(uint8(1), []byte{})
	dst := make([]byte, openami.BlockSize)
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		d := digests[int(which)%len(digests)]
		err := DecodeChunk(nil, d, frame, dst)
		if err == nil {
			if openami.Digest(sha256.Sum256(dst)) != d {
				t.Fatal("DecodeChunk returned data that does not hash to the digest")
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSealed) {
			t.Fatalf("DecodeChunk error %v is neither ErrCorrupt nor ErrSealed", err)
		}
		if !isZeroBlock(dst) {
			t.Fatal("DecodeChunk left data in dst after an error")
		}
		// The frame parser alone must not panic either, and must fill
		// exactly the buffer it is given.
		_ = decodeFrame(frame, dst)
	})
}
