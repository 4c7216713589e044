package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/openami/openami"
)

func testDataKey(t testing.TB, seed byte) *DataKey {
	t.Helper()
	secret := bytes.Repeat([]byte{seed}, DataKeySize)
	k, err := NewDataKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewDataKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewDataKey(make([]byte, n)); err == nil {
			t.Errorf("NewDataKey of %d bytes: no error", n)
		}
	}
}

// TestSealedRoundTrip stores blocks under a data key and checks what is at
// rest: no plaintext, names unrelated to the SHA-256 and to another key's
// names, deduplication within the key only, and reads that give the block
// back.
func TestSealedRoundTrip(t *testing.T) {
	ctx := context.Background()
	k1, k2 := testDataKey(t, 1), testDataKey(t, 2)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"random", randomBlock(1)}, {"half", halfBlock(2)}, {"text", textBlock(3)}} {
		t.Run(tc.name, func(t *testing.T) {
			bs := newMemBlobs()
			c := NewChunks(bs)
			d1, stored, wrote, err := c.Put(ctx, k1, tc.data)
			if err != nil || !wrote || stored <= 0 {
				t.Fatalf("Put = %v, %d, %v", err, stored, wrote)
			}
			if d1 != k1.Name(tc.data) || d1 == openami.Digest(sha256.Sum256(tc.data)) {
				t.Fatalf("name %s is not the block's name under the key", d1)
			}
			blob := bs.m[ChunkKey(d1)]
			if int64(len(blob)) != stored || stored > maxStoredSize {
				t.Fatalf("stored %d bytes, blob has %d", stored, len(blob))
			}
			// No 64-byte run of the plaintext is at rest (text blocks
			// repeat a 33-byte line, so look for a longer window).
			for off := 0; off+64 <= len(tc.data); off += 4096 {
				if bytes.Contains(blob, tc.data[off:off+64]) {
					t.Fatalf("plaintext at offset %d is stored in the sealed chunk", off)
				}
			}
			// Deduplicated under the same key, not across keys.
			if _, _, wrote, err := c.Put(ctx, k1, tc.data); err != nil || wrote {
				t.Fatalf("second Put under the same key: wrote=%v err=%v", wrote, err)
			}
			d2, _, wrote, err := c.Put(ctx, k2, tc.data)
			if err != nil || !wrote || d2 == d1 {
				t.Fatalf("Put under another key: %s wrote=%v err=%v", d2, wrote, err)
			}
			dst := make([]byte, openami.BlockSize)
			if err := c.Get(ctx, k1, d1, dst); err != nil || !bytes.Equal(dst, tc.data) {
				t.Fatalf("Get = %v, equal %v", err, bytes.Equal(dst, tc.data))
			}
			// Without the key, or with the wrong one, nothing comes out.
			if err := c.Get(ctx, nil, d1, dst); !errors.Is(err, ErrSealed) || !isZeroBlock(dst) {
				t.Fatalf("Get without key = %v", err)
			}
			if err := c.Get(ctx, k2, d1, dst); !errors.Is(err, ErrCorrupt) || !isZeroBlock(dst) {
				t.Fatalf("Get with another key = %v", err)
			}
			// PutVerified with the name computed by the caller.
			c2 := NewChunks(newMemBlobs())
			if _, wrote, err := c2.PutVerified(ctx, k1, d1, tc.data); err != nil || !wrote {
				t.Fatalf("PutVerified = %v, %v", wrote, err)
			}
			if err := c2.Get(ctx, k1, d1, dst); err != nil || !bytes.Equal(dst, tc.data) {
				t.Fatalf("Get after PutVerified = %v", err)
			}
			// A wrong name under a key is refused, never stored.
			if _, _, err := c2.PutVerified(ctx, k1, d2, tc.data); !errors.Is(err, openami.ErrInvalidParameter) {
				t.Fatalf("PutVerified under a wrong name = %v", err)
			}
		})
	}
}

func TestSealedZeroAndPlainMix(t *testing.T) {
	ctx := context.Background()
	k := testDataKey(t, 3)
	c := NewChunks(newMemBlobs())
	zero := make([]byte, openami.BlockSize)
	if d, _, wrote, err := c.Put(ctx, k, zero); err != nil || wrote || !d.IsZero() {
		t.Fatalf("Put of zeros = %s %v %v", d, wrote, err)
	}
	if _, wrote, err := c.PutVerified(ctx, k, k.Name(zero), zero); err != nil || wrote {
		t.Fatalf("PutVerified of zeros by name = %v %v", wrote, err)
	}
	// A plain chunk read as if encrypted is refused: an encrypted volume
	// never returns data that was not sealed under its key.
	data := halfBlock(4)
	d, _, _, err := c.Put(ctx, nil, data)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, openami.BlockSize)
	if err := c.Get(ctx, k, d, dst); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("plain chunk read with a key = %v", err)
	}
}

// TestSealedTamper flips every kind of byte of a sealed chunk and checks
// that each is caught, and that a chunk stored under one name cannot be
// read under another.
func TestSealedTamper(t *testing.T) {
	ctx := context.Background()
	k := testDataKey(t, 5)
	bs := newMemBlobs()
	c := NewChunks(bs)
	a, b := halfBlock(6), randomBlock(7)
	da, _, _, err := c.Put(ctx, k, a)
	if err != nil {
		t.Fatal(err)
	}
	db, _, _, err := c.Put(ctx, k, b)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(bs.m[ChunkKey(da)])
	dst := make([]byte, openami.BlockSize)
	for _, off := range []int{5, 8, 11, frameHeaderSize, frameHeaderSize + 100, len(good) - 1} {
		bad := bytes.Clone(good)
		bad[off] ^= 0x40
		bs.m[ChunkKey(da)] = bad
		if err := c.Get(ctx, k, da, dst); err == nil || !isZeroBlock(dst) {
			t.Errorf("flipped byte %d: Get = %v", off, err)
		}
	}
	// Swap: b's sealed bytes under a's name.
	bs.m[ChunkKey(da)] = bs.m[ChunkKey(db)]
	if err := c.Get(ctx, k, da, dst); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped chunk: Get = %v", err)
	}
	bs.m[ChunkKey(da)] = good
	if err := c.Get(ctx, k, da, dst); err != nil || !bytes.Equal(dst, a) {
		t.Fatalf("restored chunk: Get = %v", err)
	}
}

// FuzzDecodeSealedChunk checks that decoding arbitrary bytes under a key
// never panics and never yields data that does not match the name.
func FuzzDecodeSealedChunk(f *testing.F) {
	k, err := NewDataKey(bytes.Repeat([]byte{9}, DataKeySize))
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{halfBlock(40), randomBlock(41), textBlock(42)}
	names := make([]openami.Digest, len(seeds))
	for i, s := range seeds {
		names[i] = k.Name(s)
		f.Add(uint8(i), k.sealFrame(nil, nil, names[i], s))
	}
	f.Add(uint8(0), encodeFrame(nil, seeds[0]))
	dst := make([]byte, openami.BlockSize)
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		d := names[int(which)%len(names)]
		err := DecodeChunk(k, d, frame, dst)
		if err == nil {
			if k.Name(dst) != d {
				t.Fatal("DecodeChunk returned data that does not match the name")
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeChunk error %v is not ErrCorrupt", err)
		}
		if !isZeroBlock(dst) {
			t.Fatal("DecodeChunk left data in dst after an error")
		}
	})
}
