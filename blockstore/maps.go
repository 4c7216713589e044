package blockstore

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"

	"github.com/openami/openami"
)

// NodeStore holds the encoded nodes of block maps, named by their SHA-256.
// The service implements it over the metadata store, so that a map and the
// snapshot that names its root commit together. Its methods must be safe
// for concurrent use.
type NodeStore interface {
	// GetNode returns the encoding of the node named h; NotFound if
	// there is none. Maps does not modify or keep the returned slice.
	GetNode(h openami.Digest) ([]byte, error)
	// PutNode stores data under h, its SHA-256. Storing a node that is
	// already there is not an error. Maps does not modify data after
	// the call, so the store may keep it.
	PutNode(h openami.Digest, data []byte) error
}

// Change sets the block at Index of a map to Digest. ZeroDigest means the
// block now reads as zeros: its entry is removed.
type Change struct {
	Index  int64
	Digest openami.Digest
}

// DefaultCacheBytes is a reasonable size for the node cache of a server:
// 32 MiB holds about 4,000 full leaves, the maps of a few hundred GiB of
// written blocks.
const DefaultCacheBytes = 32 << 20

// Maps reads and writes block maps through a NodeStore. It keeps a cache
// of decoded nodes shared by every map and every NodeStore it is given,
// bounded by an estimate of their bytes and evicting the least recently
// used. It is safe for concurrent use.
//
// The cache is keyed by node hash alone: a name fixes a node's content, so
// a node verified once is valid whichever store it came from. The price is
// that reads through Maps do not prove that a particular store holds a
// node; code that must know (an integrity check, a copy between regions)
// asks the store itself. Writes never consult the cache: Apply always
// calls PutNode for the nodes it makes, so a node collected from a store
// and later made again is stored again.
type Maps struct {
	cache *nodeCache
}

// NewMaps returns a Maps whose node cache holds about cacheBytes bytes
// (DefaultCacheBytes is a good size); cacheBytes <= 0 disables the cache,
// so every node is read from its NodeStore.
func NewMaps(cacheBytes int) *Maps { return &Maps{cache: newNodeCache(cacheBytes)} }

func checkIndex(index int64) error {
	if index < 0 || index > MaxIndex {
		return openami.Errorf(openami.InvalidParameter, "", "blockstore: block index %d is outside 0 to %d", index, int64(MaxIndex))
	}
	return nil
}

// slotAt returns index's slot in a node at level.
func slotAt(index int64, level int) int { return int(index>>(slotBits*level)) & (fanout - 1) }

// load returns the node named h, which is expected at level: from the
// cache, or read from ns, verified against h and decoded. insert says
// whether a node read from ns enters the cache; a scan that visits every
// node once (Mark) should not flush the nodes that lookups keep using.
func (m *Maps) load(ns NodeStore, h openami.Digest, level int, insert bool) (*Node, error) {
	n, ok := m.cache.get(h)
	if !ok {
		data, err := ns.GetNode(h)
		if err != nil {
			return nil, fmt.Errorf("blockstore: read block-map node %s: %w", h, err)
		}
		if openami.Digest(sha256.Sum256(data)) != h {
			return nil, fmt.Errorf("blockstore: read block-map node %s: %w", h, corruptf("node does not hash to its name"))
		}
		if n, err = DecodeNode(data); err != nil {
			return nil, fmt.Errorf("blockstore: read block-map node %s: %w", h, err)
		}
		if insert {
			m.cache.add(h, n)
		}
	}
	// A node's level is part of its hash, so a mismatch means the parent
	// that named it is wrong, not the node.
	if n.Level != level {
		return nil, fmt.Errorf("blockstore: read block-map node %s: %w", h, corruptf("node is at level %d where level %d belongs", n.Level, level))
	}
	return n, nil
}

// loadOrEmpty is load, with ZeroDigest standing for an empty node.
func (m *Maps) loadOrEmpty(ns NodeStore, h openami.Digest, level int) (*Node, error) {
	if h.IsZero() {
		return &Node{Level: level}, nil
	}
	return m.load(ns, h, level, true)
}

// Lookup returns the chunk digest of block index in the map rooted at
// root, or ZeroDigest if the block has no entry. An index outside 0 to
// MaxIndex is InvalidParameter; a node missing from ns is NotFound, and one
// that fails verification is ErrCorrupt, both wrapped with the node's name.
func (m *Maps) Lookup(ns NodeStore, root openami.Digest, index int64) (openami.Digest, error) {
	if err := checkIndex(index); err != nil {
		return openami.ZeroDigest, err
	}
	h := root
	for level := rootLevel; level >= 0 && !h.IsZero(); level-- {
		n, err := m.load(ns, h, level, true)
		if err != nil {
			return openami.ZeroDigest, err
		}
		h, _ = n.Child(slotAt(index, level))
	}
	return h, nil
}

// Count returns the number of entries (non-zero blocks) in the map rooted
// at root, from the root's count, without a walk. Errors as for Lookup.
func (m *Maps) Count(ns NodeStore, root openami.Digest) (int64, error) {
	if root.IsZero() {
		return 0, nil
	}
	n, err := m.load(ns, root, rootLevel, true)
	if err != nil {
		return 0, err
	}
	return int64(n.Count), nil
}

// Apply returns the root of the map rooted at root with changes applied,
// writing to ns only the nodes that are new: at most one per level per
// distinct changed index, and only on the paths to changed entries, so its
// cost is O(len(changes) × depth), never O(map size). Changes may come in
// any order; of several for the same index, the last wins. A change that
// sets an entry to its current value writes nothing, and a subtree left
// with no entries disappears, so the result is the canonical root of the
// resulting map (ZeroDigest if it is empty).
//
// Children are written before the nodes that name them, so a failure part
// way leaves ns holding only unreferenced nodes, which garbage collection
// removes. An index outside 0 to MaxIndex is InvalidParameter and writes
// nothing; other errors are those of Lookup, or PutNode's, wrapped.
func (m *Maps) Apply(ns NodeStore, root openami.Digest, changes []Change) (openami.Digest, error) {
	if len(changes) == 0 {
		return root, nil
	}
	for _, c := range changes {
		if err := checkIndex(c.Index); err != nil {
			return root, err
		}
	}
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b Change) int { return cmp.Compare(a.Index, b.Index) })
	w := 0
	for i := range cs {
		if i+1 < len(cs) && cs[i+1].Index == cs[i].Index {
			continue // a later change to the same index wins
		}
		cs[w] = cs[i]
		w++
	}
	r, _, _, err := m.apply(ns, rootLevel, root, cs[:w])
	if err != nil {
		return root, err
	}
	return r, nil
}

// apply applies cs, sorted by index with no index twice, all beneath the
// node h at level, and returns the new node's name and the entry counts
// beneath the old and new nodes.
func (m *Maps) apply(ns NodeStore, level int, h openami.Digest, cs []Change) (nh openami.Digest, oldCount, newCount uint64, err error) {
	old, err := m.loadOrEmpty(ns, h, level)
	if err != nil {
		return h, 0, 0, err
	}
	n := &Node{Level: level, Count: old.Count, kids: make([]openami.Digest, 0, len(old.kids)+len(cs))}
	changed := false
	// Merge old's children with the changed slots, both in slot order.
	next := slotIter(old)
	oslot, ochild, ok := next()
	for i := 0; i < len(cs); {
		slot := slotAt(cs[i].Index, level)
		j := i + 1
		for j < len(cs) && slotAt(cs[j].Index, level) == slot {
			j++
		}
		for ok && oslot < slot {
			n.put(oslot, ochild)
			oslot, ochild, ok = next()
		}
		var was openami.Digest
		if ok && oslot == slot {
			was = ochild
			oslot, ochild, ok = next()
		}
		now := cs[i].Digest // a leaf slot holds exactly one index
		if level > 0 {
			var before, after uint64
			now, before, after, err = m.apply(ns, level-1, was, cs[i:j])
			if err != nil {
				return h, 0, 0, err
			}
			if n.Count < before {
				return h, 0, 0, fmt.Errorf("blockstore: update block-map node %s: %w", h, corruptf("node counts %d blocks but a child alone holds %d", n.Count, before))
			}
			n.Count = n.Count - before + after
		}
		if now != was {
			changed = true
		}
		if !now.IsZero() {
			n.put(slot, now)
		}
		i = j
	}
	for ; ok; oslot, ochild, ok = next() {
		n.put(oslot, ochild)
	}
	if !changed {
		return h, old.Count, old.Count, nil
	}
	if level == 0 {
		n.Count = uint64(len(n.kids))
	}
	if len(n.kids) == 0 {
		if n.Count != 0 {
			return h, 0, 0, fmt.Errorf("blockstore: update block-map node %s: %w", h, corruptf("empty node would count %d blocks", n.Count))
		}
		return openami.ZeroDigest, old.Count, 0, nil
	}
	if n.Count < uint64(len(n.kids)) || n.Count > uint64(len(n.kids))*capacity(level) {
		return h, 0, 0, fmt.Errorf("blockstore: update block-map node %s: %w", h, corruptf("node with %d entries would count %d blocks", len(n.kids), n.Count))
	}
	data := n.encode()
	nh = sha256.Sum256(data)
	if err := ns.PutNode(nh, data); err != nil {
		return h, 0, 0, fmt.Errorf("blockstore: write block-map node %s: %w", nh, err)
	}
	// The next Apply to this map most likely starts from this node.
	m.cache.add(nh, n)
	return nh, old.Count, n.Count, nil
}

// put appends child in slot, which must be above every slot present.
func (n *Node) put(slot int, child openami.Digest) {
	n.bitmap[slot/64] |= 1 << (slot % 64)
	n.kids = append(n.kids, child)
}

// slotIter returns a function that yields n's slots and children in
// order, then false. (iter.Pull would do, at the cost of a coroutine
// switch per child.)
func slotIter(n *Node) func() (int, openami.Digest, bool) {
	w, word, i := 0, uint64(0), 0
	if len(n.kids) > 0 {
		word = n.bitmap[0]
	}
	return func() (int, openami.Digest, bool) {
		if i >= len(n.kids) {
			return 0, openami.ZeroDigest, false
		}
		for word == 0 {
			w++
			word = n.bitmap[w]
		}
		slot := w*64 + bits.TrailingZeros64(word)
		word &= word - 1
		i++
		return slot, n.kids[i-1], true
	}
}

// Walk calls fn for every entry of the map rooted at root whose index is
// at least from, in index order, and stops at fn's first error, which it
// returns unwrapped (return a sentinel error to stop early). It reads only
// the nodes on the way to those entries. Errors reading nodes are those of
// Lookup.
func (m *Maps) Walk(ns NodeStore, root openami.Digest, from int64, fn func(index int64, d openami.Digest) error) error {
	from = max(from, 0)
	if root.IsZero() || from > MaxIndex {
		return nil
	}
	return m.walk(ns, rootLevel, root, 0, from, fn)
}

func (m *Maps) walk(ns NodeStore, level int, h openami.Digest, base, from int64, fn func(int64, openami.Digest) error) error {
	n, err := m.load(ns, h, level, true)
	if err != nil {
		return err
	}
	span := int64(capacity(level))
	for slot, child := range n.All() {
		lo := base + int64(slot)*span
		if lo+span <= from {
			continue
		}
		if level == 0 {
			err = fn(lo, child)
		} else {
			err = m.walk(ns, level-1, child, lo, from, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Diff calls fn for every index of at least from at which the maps rooted
// at a and b differ (an absent entry counts as ZeroDigest), in index order,
// with the entry in each, and stops at fn's first error, which it returns
// unwrapped. It descends only into subtrees whose names differ, so
// comparing a map with one derived from it costs time proportional to the
// changes, not to the maps. Errors reading nodes are those of Lookup.
func (m *Maps) Diff(ns NodeStore, a, b openami.Digest, from int64, fn func(index int64, da, db openami.Digest) error) error {
	from = max(from, 0)
	if from > MaxIndex {
		return nil
	}
	return m.diff(ns, rootLevel, a, b, 0, from, fn)
}

func (m *Maps) diff(ns NodeStore, level int, a, b openami.Digest, base, from int64, fn func(int64, openami.Digest, openami.Digest) error) error {
	if a == b {
		return nil
	}
	na, err := m.loadOrEmpty(ns, a, level)
	if err != nil {
		return err
	}
	nb, err := m.loadOrEmpty(ns, b, level)
	if err != nil {
		return err
	}
	span := int64(capacity(level))
	for w := range na.bitmap {
		for word := na.bitmap[w] | nb.bitmap[w]; word != 0; word &= word - 1 {
			slot := w*64 + bits.TrailingZeros64(word)
			lo := base + int64(slot)*span
			if lo+span <= from {
				continue
			}
			ca, _ := na.Child(slot)
			cb, _ := nb.Child(slot)
			switch {
			case ca == cb:
			case level == 0:
				err = fn(lo, ca, cb)
			default:
				err = m.diff(ns, level-1, ca, cb, lo, from, fn)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Mark visits the nodes and chunks of the map rooted at root, for garbage
// collection. For each node it reaches it first calls seen(h); if seen
// returns true, Mark skips the node and everything beneath it. Otherwise
// it reads and verifies the node, calls node(h), then, for a leaf, chunk(d)
// for each of its entries, and for an interior node, visits its children.
//
// seen is how a caller marking many roots that share structure does work
// proportional to the distinct nodes: record h in node and report it in
// seen. With such a seen every node is visited once even within one map
// (identical subtrees do occur, e.g. runs of identical blocks); a nil seen
// visits shared subtrees each time they are reached. chunk may be called
// more than once for the same digest. Any of the three may be nil.
//
// Mark stops at the first error, from a callback (returned unwrapped) or
// from reading a node (as for Lookup). A collector must not sweep after
// Mark fails: the nodes and chunks it did not reach are still live.
// Nodes read only by Mark do not enter the cache, so a collection does not
// evict the nodes that lookups use.
func (m *Maps) Mark(ns NodeStore, root openami.Digest, seen func(h openami.Digest) bool, node func(h openami.Digest) error, chunk func(d openami.Digest) error) error {
	if root.IsZero() {
		return nil
	}
	return m.mark(ns, rootLevel, root, seen, node, chunk)
}

func (m *Maps) mark(ns NodeStore, level int, h openami.Digest, seen func(openami.Digest) bool, node, chunk func(openami.Digest) error) error {
	if seen != nil && seen(h) {
		return nil
	}
	n, err := m.load(ns, h, level, false)
	if err != nil {
		return err
	}
	if node != nil {
		if err := node(h); err != nil {
			return err
		}
	}
	for _, child := range n.kids {
		if level == 0 {
			if chunk != nil {
				err = chunk(child)
			}
		} else {
			err = m.mark(ns, level-1, child, seen, node, chunk)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
