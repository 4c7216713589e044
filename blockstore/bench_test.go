package blockstore

// Benchmarks. Reproduce with
//
//	go test -run '^$' -bench . -benchmem ./blockstore/
//
// Chunk benchmarks run over in-memory stores (Put over one that discards,
// so every call compresses, verifies and writes), so they measure Chunks
// itself: hashing, zstd and framing. Results are in docs/BENCHMARKS.md
// ("Block store internals").

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/openami/openami"
)

var benchBlocks = []struct {
	name string
	data func() []byte
}{
	{"random", func() []byte { return randomBlock(1000) }},
	{"half", func() []byte { return halfBlock(1001) }},
}

func BenchmarkChunksPut(b *testing.B) {
	ctx := context.Background()
	for _, bb := range benchBlocks {
		b.Run(bb.name, func(b *testing.B) {
			c := NewChunks(discardBlobs{})
			data := bb.data()
			b.SetBytes(openami.BlockSize)
			b.ReportAllocs()
			var stored int64
			for b.Loop() {
				_, n, _, err := c.Put(ctx, nil, data)
				if err != nil {
					b.Fatal(err)
				}
				stored = n
			}
			b.ReportMetric(float64(stored)/openami.BlockSize, "ratio")
		})
	}
}

// BenchmarkChunksPutExisting measures Put of a block already stored: a
// hash and a Stat.
func BenchmarkChunksPutExisting(b *testing.B) {
	ctx := context.Background()
	c := NewChunks(newMemBlobs())
	data := halfBlock(1002)
	if _, _, _, err := c.Put(ctx, nil, data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(openami.BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := c.Put(ctx, nil, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunksGet(b *testing.B) {
	ctx := context.Background()
	for _, bb := range benchBlocks {
		b.Run(bb.name, func(b *testing.B) {
			c := NewChunks(newMemBlobs())
			d, _, _, err := c.Put(ctx, nil, bb.data())
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, openami.BlockSize)
			b.SetBytes(openami.BlockSize)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Get(ctx, nil, d, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchMap returns a store holding an 8 GiB map: 16384 consecutive blocks.
func benchMap(b *testing.B, m *Maps) (*memNodes, openami.Digest) {
	ns := newMemNodes()
	cs := make([]Change, 16384)
	for i := range cs {
		cs[i] = Change{int64(i), dig(uint64(i) + 1)}
	}
	root, err := m.Apply(ns, openami.ZeroDigest, cs)
	if err != nil {
		b.Fatal(err)
	}
	return ns, root
}

func BenchmarkMapsLookup(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cached", DefaultCacheBytes}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewMaps(bc.cache)
			ns, root := benchMap(b, m)
			rng := rand.New(rand.NewPCG(1, 2))
			idx := make([]int64, 4096)
			for i := range idx {
				idx[i] = rng.Int64N(16384)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := m.Lookup(ns, root, idx[i%len(idx)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkMapsApply applies 164 (1%) random changes to a 16384-block map.
func BenchmarkMapsApply(b *testing.B) {
	m := NewMaps(DefaultCacheBytes)
	ns, root := benchMap(b, m)
	rng := rand.New(rand.NewPCG(3, 4))
	sets := make([][]Change, 64)
	for s := range sets {
		sets[s] = make([]Change, 164)
		for i := range sets[s] {
			sets[s][i] = Change{rng.Int64N(16384), dig(rng.Uint64())}
		}
	}
	// Drop the new nodes, so that memory stays flat however many
	// iterations run; the base map stays readable.
	dropping := dropPuts{ns}
	b.ReportAllocs()
	s := 0
	for b.Loop() {
		if _, err := m.Apply(dropping, root, sets[s%len(sets)]); err != nil {
			b.Fatal(err)
		}
		s++
	}
}

// dropPuts is a NodeStore that reads from a memNodes and drops writes.
type dropPuts struct{ *memNodes }

func (dropPuts) PutNode(openami.Digest, []byte) error { return nil }
