package blockstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/openami/openami"
)

// dig returns a distinct non-zero digest for v.
func dig(v uint64) openami.Digest {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return sha256.Sum256(b[:])
}

// model is the plain map a block map must behave like.
type model map[int64]openami.Digest

func (m model) apply(cs []Change) {
	for _, c := range cs {
		if c.Digest.IsZero() {
			delete(m, c.Index)
		} else {
			m[c.Index] = c.Digest
		}
	}
}

func (m model) changes() []Change {
	cs := make([]Change, 0, len(m))
	for i, d := range m {
		cs = append(cs, Change{i, d})
	}
	return cs
}

func (m model) sortedFrom(from int64) []int64 {
	var idx []int64
	for i := range m {
		if i >= from {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx
}

// interesting are indices on the edges of slots at every level.
var interesting = []int64{0, 1, 254, 255, 256, 257, 65535, 65536, 65537, 1<<24 - 1, 1 << 24, 1<<24 + 1, 1<<27 - 1, 1 << 27, MaxIndex - 256, MaxIndex - 1, MaxIndex}

// randomChanges returns n changes over a mix of clustered, spread and
// edge indices, with some zeros (removals) and repeated indices.
func randomChanges(rng *rand.Rand, n int, existing model) []Change {
	keys := slices.Collect(maps.Keys(existing))
	slices.Sort(keys)
	cs := make([]Change, 0, n)
	clusterBase := rng.Int64N(MaxIndex - 4096)
	for range n {
		var idx int64
		switch r := rng.IntN(10); {
		case r < 3 && len(keys) > 0:
			idx = keys[rng.IntN(len(keys))]
		case r < 5:
			idx = clusterBase + rng.Int64N(4096)
		case r < 6:
			idx = interesting[rng.IntN(len(interesting))]
		case r < 8:
			idx = rng.Int64N(1 << 27)
		default:
			idx = rng.Int64N(MaxIndex + 1)
		}
		var d openami.Digest
		if rng.IntN(4) != 0 {
			d = dig(rng.Uint64N(64)) // few distinct digests, so leaves repeat
		}
		cs = append(cs, Change{idx, d})
		if rng.IntN(20) == 0 { // the same index again; the later one wins
			cs = append(cs, Change{idx, dig(rng.Uint64())})
		}
	}
	return cs
}

// check compares the map rooted at root with want, through every read
// operation.
func check(t *testing.T, m *Maps, ns NodeStore, root openami.Digest, want model, rng *rand.Rand) {
	t.Helper()
	n, err := m.Count(ns, root)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) {
		t.Fatalf("Count = %d, want %d", n, len(want))
	}
	if (len(want) == 0) != root.IsZero() {
		t.Fatalf("root %s for a map of %d entries", root, len(want))
	}
	for i, d := range want {
		got, err := m.Lookup(ns, root, i)
		if err != nil {
			t.Fatal(err)
		}
		if got != d {
			t.Fatalf("Lookup(%d) = %s, want %s", i, got, d)
		}
	}
	for range 50 {
		i := rng.Int64N(MaxIndex + 1)
		got, err := m.Lookup(ns, root, i)
		if err != nil {
			t.Fatal(err)
		}
		if got != want[i] {
			t.Fatalf("Lookup(%d) = %s, want %s", i, got, want[i])
		}
	}
	froms := []int64{-5, 0, 1, 256, MaxIndex, MaxIndex + 1, rng.Int64N(MaxIndex + 1)}
	for i := range want {
		froms = append(froms, i, i+1)
		if len(froms) > 12 {
			break
		}
	}
	for _, from := range froms {
		var got []int64
		err := m.Walk(ns, root, from, func(i int64, d openami.Digest) error {
			if want[i] != d {
				t.Fatalf("Walk: entry %d = %s, want %s", i, d, want[i])
			}
			got = append(got, i)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if w := want.sortedFrom(from); !slices.Equal(got, w) {
			t.Fatalf("Walk from %d visited %d entries, want %d", from, len(got), len(w))
		}
	}
}

func checkDiff(t *testing.T, m *Maps, ns NodeStore, a, b openami.Digest, ma, mb model, from int64) {
	t.Helper()
	want := model{}
	for i := range ma {
		if ma[i] != mb[i] && i >= from {
			want[i] = ma[i]
		}
	}
	for i := range mb {
		if ma[i] != mb[i] && i >= from {
			want[i] = mb[i]
		}
	}
	var got []int64
	err := m.Diff(ns, a, b, from, func(i int64, da, db openami.Digest) error {
		if da != ma[i] || db != mb[i] {
			t.Fatalf("Diff at %d = %s, %s; want %s, %s", i, da, db, ma[i], mb[i])
		}
		if da == db {
			t.Fatalf("Diff reported equal entries at %d", i)
		}
		got = append(got, i)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w := want.sortedFrom(0); !slices.Equal(got, w) {
		t.Fatalf("Diff from %d reported %d indices, want %d", from, len(got), len(w))
	}
}

// TestMapsModel applies random change sets and checks every version
// against the model: lookups, walks from offsets, counts, canonical roots
// and diffs between versions.
func TestMapsModel(t *testing.T) {
	for _, cacheBytes := range []int{DefaultCacheBytes, 0, 20000} {
		rng := rand.New(rand.NewPCG(uint64(cacheBytes), 1))
		m := NewMaps(cacheBytes)
		ns := newMemNodes()
		type version struct {
			root openami.Digest
			m    model
		}
		versions := []version{{openami.ZeroDigest, model{}}}
		cur := model{}
		root := openami.ZeroDigest
		for round := range 40 {
			cs := randomChanges(rng, rng.IntN(300), cur)
			if round%10 == 9 { // now and then, remove most of what is there
				for i := range cur {
					if rng.IntN(10) != 0 {
						cs = append(cs, Change{i, openami.ZeroDigest})
					}
				}
			}
			cur.apply(cs)
			var err error
			root, err = m.Apply(ns, root, cs)
			if err != nil {
				t.Fatal(err)
			}
			check(t, m, ns, root, cur, rng)

			// The same map built at once, in a shuffled order, has the
			// same root.
			all := cur.changes()
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			fresh, err := m.Apply(newMemNodes(), openami.ZeroDigest, all)
			if err != nil {
				t.Fatal(err)
			}
			if fresh != root {
				t.Fatalf("round %d: map built at once has root %s, built incrementally %s", round, fresh, root)
			}
			versions = append(versions, version{root, maps.Clone(cur)})
		}
		for range 30 {
			a := versions[rng.IntN(len(versions))]
			b := versions[rng.IntN(len(versions))]
			from := int64(0)
			if rng.IntN(2) == 0 {
				from = rng.Int64N(MaxIndex + 1)
			}
			checkDiff(t, m, ns, a.root, b.root, a.m, b.m, from)
		}
		// Removing everything leaves the empty map.
		var rm []Change
		for i := range cur {
			rm = append(rm, Change{i, openami.ZeroDigest})
		}
		root, err := m.Apply(ns, root, rm)
		if err != nil {
			t.Fatal(err)
		}
		if root != openami.ZeroDigest {
			t.Fatalf("map with everything removed has root %s", root)
		}
	}
}

func TestMapsCanonicalHistories(t *testing.T) {
	m := NewMaps(DefaultCacheBytes)
	ns := newMemNodes()
	apply := func(root openami.Digest, cs ...Change) openami.Digest {
		t.Helper()
		r, err := m.Apply(ns, root, cs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := dig(1), dig(2), dig(3)
	z := openami.ZeroDigest

	direct := apply(z, Change{5, a}, Change{70000, b})
	for name, root := range map[string]openami.Digest{
		"reversed":           apply(z, Change{70000, b}, Change{5, a}),
		"one at a time":      apply(apply(z, Change{5, a}), Change{70000, b}),
		"overwritten":        apply(apply(z, Change{5, c}, Change{70000, c}), Change{5, a}, Change{70000, b}),
		"later wins":         apply(z, Change{5, c}, Change{70000, b}, Change{5, a}),
		"added then removed": apply(apply(z, Change{5, a}, Change{70000, b}, Change{1 << 30, c}, Change{6, c}), Change{1 << 30, z}, Change{6, z}),
		"removed in batch":   apply(z, Change{MaxIndex, c}, Change{5, a}, Change{70000, b}, Change{MaxIndex, z}),
		"zeros of absent":    apply(direct, Change{9, z}, Change{1 << 20, z}),
		"no-op value":        apply(direct, Change{5, a}),
	} {
		if root != direct {
			t.Errorf("%s: root %s, want %s", name, root, direct)
		}
	}
	if r := apply(direct, Change{5, z}, Change{70000, z}); r != z {
		t.Fatalf("removing everything: root %s, want ZeroDigest", r)
	}
	if r := apply(z, Change{5, z}); r != z {
		t.Fatal("removing from the empty map made a node")
	}
	if r := apply(direct); r != direct {
		t.Fatal("no changes changed the root")
	}

	// A no-op Apply writes nothing.
	ns.resetCounts()
	apply(direct, Change{5, a}, Change{42, z})
	if ns.puts != 0 {
		t.Fatalf("no-op Apply wrote %d nodes", ns.puts)
	}
}

func TestMapsBadIndex(t *testing.T) {
	m := NewMaps(DefaultCacheBytes)
	ns := newMemNodes()
	root, err := m.Apply(ns, openami.ZeroDigest, []Change{{1, dig(1)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{-1, MaxIndex + 1, 1 << 40} {
		ns.resetCounts()
		if _, err := m.Apply(ns, root, []Change{{2, dig(2)}, {i, dig(1)}}); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Apply at %d: %v, want InvalidParameter", i, err)
		}
		if ns.puts != 0 {
			t.Errorf("a refused Apply wrote %d nodes", ns.puts)
		}
		if _, err := m.Lookup(ns, root, i); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Lookup at %d: %v, want InvalidParameter", i, err)
		}
	}
}

// TestMapsBadNodes checks that missing nodes are NotFound and damaged ones
// ErrCorrupt, through every operation, with the cache off so every read
// reaches the store.
func TestMapsBadNodes(t *testing.T) {
	m := NewMaps(0)
	ns := newMemNodes()
	root, err := m.Apply(ns, openami.ZeroDigest, []Change{{1, dig(1)}, {300, dig(2)}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Apply(ns, openami.ZeroDigest, []Change{{1, dig(3)}})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(root openami.Digest) error{
		"Lookup": func(r openami.Digest) error { _, err := m.Lookup(ns, r, 300); return err },
		"Count":  func(r openami.Digest) error { _, err := m.Count(ns, r); return err },
		"Walk": func(r openami.Digest) error {
			return m.Walk(ns, r, 0, func(int64, openami.Digest) error { return nil })
		},
		"Diff": func(r openami.Digest) error {
			return m.Diff(ns, r, other, 0, func(int64, openami.Digest, openami.Digest) error { return nil })
		},
		"Apply": func(r openami.Digest) error { _, err := m.Apply(ns, r, []Change{{300, dig(9)}}); return err },
		"Mark":  func(r openami.Digest) error { return m.Mark(ns, r, nil, nil, nil) },
	}

	good := maps.Clone(ns.m)
	restore := func() { ns.m = maps.Clone(good) }

	missing := dig(12345)
	for name, op := range ops {
		if err := op(missing); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("%s of a missing root: %v, want NotFound", name, err)
		}
	}

	damage := map[string]func(h openami.Digest, b []byte) (openami.Digest, []byte){
		"flipped byte": func(h openami.Digest, b []byte) (openami.Digest, []byte) {
			b = bytes.Clone(b)
			b[len(b)-1] ^= 1
			return h, b
		},
		// A well-formed node re-hashed under its new name, placed where
		// a parent names the old one: a hash mismatch.
		"other node": func(h openami.Digest, b []byte) (openami.Digest, []byte) {
			return h, good[other]
		},
		"truncated": func(h openami.Digest, b []byte) (openami.Digest, []byte) { return h, b[:len(b)-32] },
	}
	for dname, f := range damage {
		for name, op := range ops {
			restore()
			h, b := f(root, ns.m[root])
			ns.m[h] = b
			if err := op(root); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s with the root %s: %v, want ErrCorrupt", name, dname, err)
			}
		}
	}
	restore()

	// A node at the wrong level, under its true name: the parent lies.
	leaf := &Node{Level: 0, Count: 1}
	leaf.put(7, dig(1))
	data := leaf.encode()
	lh := openami.Digest(sha256.Sum256(data))
	ns.m[lh] = data
	for name, op := range ops {
		if err := op(lh); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s of a leaf as root: %v, want ErrCorrupt", name, err)
		}
	}

	// A missing interior node under a good root.
	restore()
	rootNode, _ := DecodeNode(ns.m[root])
	child, _ := rootNode.Child(0)
	delete(ns.m, child)
	if _, err := m.Lookup(ns, root, 300); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Lookup under a missing node: %v, want NotFound", err)
	}
}

// TestMapsStructureSharing builds an 8 GiB map (16384 blocks) and applies
// 1% changes to it, scattered and clustered, checking that Apply writes
// only nodes on the changed paths.
func TestMapsStructureSharing(t *testing.T) {
	const blocks = 16384
	const changes = 164 // 1%, rounded up
	m := NewMaps(DefaultCacheBytes)
	ns := newMemNodes()
	full := model{}
	for i := range int64(blocks) {
		full[i] = dig(uint64(i) + 1e6)
	}
	base, err := m.Apply(ns, openami.ZeroDigest, full.changes())
	if err != nil {
		t.Fatal(err)
	}
	fullNodes, fullBytes := ns.newNodes, ns.newBytes
	// 64 full leaves, one level-1 node, one level-2 node, the root.
	if fullNodes != 67 {
		t.Fatalf("full map has %d nodes, want 67", fullNodes)
	}
	t.Logf("full map: %d blocks, %d nodes, %d node bytes", blocks, fullNodes, fullBytes)

	leafBytes := int64(nodeHeaderSize + 256*32)

	rng := rand.New(rand.NewPCG(7, 7))
	scattered := func() []int64 {
		var idx []int64
		for _, p := range rng.Perm(blocks)[:changes] {
			idx = append(idx, int64(p))
		}
		return idx
	}
	clustered := func(start int64) func() []int64 {
		return func() []int64 {
			var idx []int64
			for i := range int64(changes) {
				idx = append(idx, start+i)
			}
			return idx
		}
	}
	for _, tc := range []struct {
		name      string
		indices   func() []int64
		maxLeaves int64
	}{
		{"scattered", scattered, 64},
		{"clustered, leaf-aligned", clustered(4096), 1},
		{"clustered, straddling", clustered(4096 + 200), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := tc.indices()
			cs := make([]Change, len(idx))
			want := maps.Clone(full)
			leaves := map[int64]bool{}
			for i, x := range idx {
				cs[i] = Change{x, dig(uint64(x) + 2e6)}
				leaves[x>>8] = true
			}
			want.apply(cs)
			ns.resetCounts()
			root, err := m.Apply(ns, base, cs)
			if err != nil {
				t.Fatal(err)
			}
			// Every new node is on the path to a changed leaf: the
			// touched leaves, plus the level-1, level-2 and root nodes.
			wantNodes := len(leaves) + 3
			if ns.newNodes != wantNodes || ns.puts != wantNodes {
				t.Fatalf("wrote %d nodes (%d new), want %d", ns.puts, ns.newNodes, wantNodes)
			}
			if ns.newNodes > 4*len(cs) {
				t.Fatalf("wrote %d nodes for %d changes, more than 4 per change", ns.newNodes, len(cs))
			}
			maxBytes := tc.maxLeaves*leafBytes + fullBytes - 64*leafBytes
			if ns.newBytes > maxBytes {
				t.Fatalf("wrote %d bytes, want at most %d", ns.newBytes, maxBytes)
			}
			t.Logf("%d changes touching %d leaves: %d new nodes, %d new bytes = %.1f%% of the full map's node bytes",
				len(cs), len(leaves), ns.newNodes, ns.newBytes, 100*float64(ns.newBytes)/float64(fullBytes))

			check(t, m, ns, root, want, rng)
			var diffs int
			if err := m.Diff(ns, base, root, 0, func(int64, openami.Digest, openami.Digest) error { diffs++; return nil }); err != nil {
				t.Fatal(err)
			}
			if diffs != len(cs) {
				t.Fatalf("Diff found %d differences, want %d", diffs, len(cs))
			}
		})
	}
}

func TestMapsWalkStops(t *testing.T) {
	m := NewMaps(DefaultCacheBytes)
	ns := newMemNodes()
	root, err := m.Apply(ns, openami.ZeroDigest, []Change{{1, dig(1)}, {2, dig(2)}, {1 << 20, dig(3)}})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	var seen []int64
	err = m.Walk(ns, root, 0, func(i int64, d openami.Digest) error {
		seen = append(seen, i)
		if i == 2 {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(seen, []int64{1, 2}) {
		t.Fatalf("Walk = %v after %v, want stop after [1 2]", err, seen)
	}
	other, err := m.Apply(ns, root, []Change{{1, dig(9)}, {1 << 20, openami.ZeroDigest}})
	if err != nil {
		t.Fatal(err)
	}
	seen = nil
	err = m.Diff(ns, root, other, 0, func(i int64, da, db openami.Digest) error {
		seen = append(seen, i)
		return stop
	})
	if err != stop || !slices.Equal(seen, []int64{1}) {
		t.Fatalf("Diff = %v after %v, want stop after [1]", err, seen)
	}
}

// TestMapsMark checks that Mark reaches every node and chunk of a map, and
// that with a recording seen, marking many versions that share structure
// visits each distinct node once.
func TestMapsMark(t *testing.T) {
	m := NewMaps(DefaultCacheBytes)
	ns := newMemNodes()
	rng := rand.New(rand.NewPCG(3, 3))
	cur := model{}
	var roots []openami.Digest
	root := openami.ZeroDigest
	for range 10 {
		cs := randomChanges(rng, 100, cur)
		cur.apply(cs)
		var err error
		if root, err = m.Apply(ns, root, cs); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}

	// One map: its chunks are exactly the model's values.
	chunks := map[openami.Digest]bool{}
	nodes := map[openami.Digest]int{}
	err := m.Mark(ns, root, nil, func(h openami.Digest) error { nodes[h]++; return nil },
		func(d openami.Digest) error { chunks[d] = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := map[openami.Digest]bool{}
	for _, d := range cur {
		want[d] = true
	}
	if !maps.Equal(chunks, want) {
		t.Fatalf("Mark found %d distinct chunks, want %d", len(chunks), len(want))
	}

	// All versions, with a recording seen: every stored node is
	// reachable (Apply writes nothing else), and each is visited once.
	marked := map[openami.Digest]int{}
	calls := 0
	seen := func(h openami.Digest) bool { calls++; return marked[h] > 0 }
	for _, r := range roots {
		if err := m.Mark(ns, r, seen, func(h openami.Digest) error { marked[h]++; return nil }, nil); err != nil {
			t.Fatal(err)
		}
	}
	for h, n := range marked {
		if n != 1 {
			t.Fatalf("node %s marked %d times", h, n)
		}
	}
	if len(marked) != len(ns.m) {
		t.Fatalf("marked %d nodes, store holds %d", len(marked), len(ns.m))
	}
	t.Logf("%d versions, %d distinct nodes, %d seen calls", len(roots), len(marked), calls)

	// Marking the same roots again with everything seen reads nothing.
	ns.resetCounts()
	for _, r := range roots {
		if err := m.Mark(ns, r, seen, func(openami.Digest) error { t.Fatal("node visited twice"); return nil }, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ns.gets != 0 {
		t.Fatalf("marking seen roots read %d nodes", ns.gets)
	}

	// Mark does not fill the cache.
	m2 := NewMaps(DefaultCacheBytes)
	if err := m2.Mark(ns, root, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := m2.cache.stats(); n != 0 {
		t.Fatalf("Mark cached %d nodes", n)
	}
}

func TestMapsCacheBound(t *testing.T) {
	const limit = 100 << 10
	m := NewMaps(limit)
	ns := newMemNodes()
	cs := make([]Change, 0, 8192)
	for i := range int64(8192) {
		cs = append(cs, Change{i * 3, dig(uint64(i) + 1)})
	}
	root, err := m.Apply(ns, openami.ZeroDigest, cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if d, err := m.Lookup(ns, root, c.Index); err != nil || d != c.Digest {
			t.Fatalf("Lookup(%d) = %s, %v", c.Index, d, err)
		}
	}
	n, used := m.cache.stats()
	if used > limit || n == 0 {
		t.Fatalf("cache holds %d nodes, %d bytes; limit %d", n, used, limit)
	}
	// A repeated lookup of a hot path reads nothing from the store.
	if _, err := m.Lookup(ns, root, 0); err != nil {
		t.Fatal(err)
	}
	ns.resetCounts()
	for range 10 {
		if _, err := m.Lookup(ns, root, 0); err != nil {
			t.Fatal(err)
		}
	}
	if ns.gets != 0 {
		t.Fatalf("cached lookups read %d nodes", ns.gets)
	}
}

func TestNodeEncoding(t *testing.T) {
	n := &Node{Level: 1, Count: 300}
	n.put(0, dig(1))
	n.put(3, dig(2))
	n.put(255, dig(3))
	data := n.encode()
	if len(data) != nodeHeaderSize+3*32 {
		t.Fatalf("encoding is %d bytes", len(data))
	}
	// version, level, count, bitmap: slots 0, 3 (byte 0 bits 0 and 3) and
	// 255 (byte 31 bit 7).
	head := []byte{1, 1, 0, 0, 0, 0, 0, 0, 1, 44, 0x09}
	if !bytes.Equal(data[:len(head)], head) || data[nodeHeaderSize-1] != 0x80 {
		t.Fatalf("header % x", data[:nodeHeaderSize])
	}
	got, err := DecodeNode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Level != 1 || got.Count != 300 || got.Len() != 3 {
		t.Fatalf("decoded %v", got)
	}
	for slot, want := range map[int]openami.Digest{0: dig(1), 3: dig(2), 255: dig(3), 1: {}, -1: {}, 256: {}} {
		if c, ok := got.Child(slot); c != want || ok == want.IsZero() {
			t.Errorf("Child(%d) = %s, %v", slot, c, ok)
		}
	}
	var slots []int
	for s := range got.All() {
		slots = append(slots, s)
	}
	if !slices.Equal(slots, []int{0, 3, 255}) {
		t.Fatalf("All yields slots %v", slots)
	}

	bad := map[string][]byte{
		"empty":         {},
		"short header":  data[:nodeHeaderSize-1],
		"no entries":    func() []byte { b := bytes.Clone(data[:nodeHeaderSize]); clear(b[10:]); return b }(),
		"version":       func() []byte { b := bytes.Clone(data); b[0] = 2; return b }(),
		"level":         func() []byte { b := bytes.Clone(data); b[1] = 4; return b }(),
		"count too low": func() []byte { b := bytes.Clone(data); b[9], b[8] = 2, 0; return b }(),
		"count too high": func() []byte {
			b := bytes.Clone(data)
			binary.BigEndian.PutUint64(b[2:], 3*256+1)
			return b
		}(),
		"leaf count": func() []byte {
			b := bytes.Clone(data)
			b[1] = 0
			return b // a leaf with 3 entries counting 300
		}(),
		"extra bit":    func() []byte { b := bytes.Clone(data); b[10] |= 2; return b }(),
		"missing bit":  func() []byte { b := bytes.Clone(data); b[10] &^= 1; return b }(),
		"trailing":     append(bytes.Clone(data), 0),
		"zero child":   func() []byte { b := bytes.Clone(data); clear(b[nodeHeaderSize : nodeHeaderSize+32]); return b }(),
		"truncated":    data[:len(data)-1],
		"root at 2^32": func() []byte { b := bytes.Clone(data); b[1] = 3; binary.BigEndian.PutUint64(b[2:], 1<<40); return b }(),
	}
	for name, b := range bad {
		if _, err := DecodeNode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeNode: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeNode checks that DecodeNode never panics and accepts only
// canonical encodings: whatever it accepts re-encodes to the same bytes.
func FuzzDecodeNode(f *testing.F) {
	n := &Node{Level: 0, Count: 2}
	n.put(1, dig(1))
	n.put(200, dig(2))
	f.Add(n.encode())
	n = &Node{Level: 3, Count: 1 << 20}
	n.put(0, dig(3))
	f.Add(n.encode())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeNode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(n.encode(), data) {
			t.Fatal("an accepted node does not re-encode to the same bytes")
		}
		i := 0
		for slot, c := range n.All() {
			if got, ok := n.Child(slot); !ok || got != c {
				t.Fatal("Child disagrees with All")
			}
			i++
		}
		if i != n.Len() {
			t.Fatal("All yields the wrong number of children")
		}
	})
}

// FuzzApply drives Apply with change sets decoded from the input and
// checks each version against the model, and that the same map built at
// once has the same root.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 3})
	f.Add([]byte{0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0x80, 1, 2, 3, 0xc4, 0x80, 1, 2, 3, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMaps(64 << 10)
		ns := newMemNodes()
		cur := model{}
		root := openami.ZeroDigest
		var batch []Change
		flush := func() {
			cur.apply(batch)
			var err error
			if root, err = m.Apply(ns, root, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
			n, err := m.Count(ns, root)
			if err != nil || n != int64(len(cur)) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(cur))
			}
			for i, d := range cur {
				if got, err := m.Lookup(ns, root, i); err != nil || got != d {
					t.Fatalf("Lookup(%d) = %s, %v; want %s", i, got, err, d)
				}
			}
			var walked int
			if err := m.Walk(ns, root, 0, func(i int64, d openami.Digest) error {
				if cur[i] != d {
					t.Fatalf("Walk: %d = %s, want %s", i, d, cur[i])
				}
				walked++
				return nil
			}); err != nil || walked != len(cur) {
				t.Fatalf("Walk visited %d, %v; want %d", walked, err, len(cur))
			}
			fresh, err := m.Apply(newMemNodes(), openami.ZeroDigest, cur.changes())
			if err != nil || fresh != root {
				t.Fatalf("canonical root %s, %v; incremental %s", fresh, err, root)
			}
		}
		// Each record is 5 bytes: 4 of index, then one whose top bit ends
		// the batch after this change, whose next bit folds the index
		// into a small range (so changes collide and share nodes), and
		// whose low 4 bits pick the digest (0 removes; few values, so
		// that leaves repeat).
		for len(data) >= 5 {
			idx := int64(binary.BigEndian.Uint32(data))
			if data[4]&0x40 != 0 {
				idx &= 0x0003_03ff
			}
			var d openami.Digest
			if v := data[4] & 0x0f; v != 0 {
				d = dig(uint64(v))
			}
			batch = append(batch, Change{idx, d})
			if data[4]&0x80 != 0 {
				flush()
			}
			data = data[5:]
		}
		flush()
	})
}
