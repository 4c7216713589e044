package blockstore

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"

	"github.com/openami/openami"
)

// The shape of a block map; doc.go describes the encoding.
const (
	nodeVersion = 1
	// rootLevel is the level of every root: four levels of 8 bits cover
	// a 32-bit index, so every map has the same height and an index has
	// exactly one path, which keeps roots canonical.
	rootLevel      = 3
	slotBits       = 8
	fanout         = 1 << slotBits
	nodeHeaderSize = 1 + 1 + 8 + fanout/8
	maxNodeSize    = nodeHeaderSize + fanout*len(openami.Digest{})
)

// MaxIndex is the largest block index a block map holds: 2^32 − 1, far
// beyond the 2^27 blocks of the largest (64 TiB) EBS volume.
const MaxIndex = 1<<(slotBits*(rootLevel+1)) - 1

// Node is a decoded block-map node. Level 0 is a leaf, whose children are
// chunk digests; levels 1 to 3 are interior nodes, whose children are the
// hashes of nodes one level down; a root is at level 3.
type Node struct {
	// Level is the node's height above the leaves, 0 to 3.
	Level int
	// Count is the number of entries (non-zero blocks) beneath the node.
	Count uint64
	// bitmap has bit s%64 of word s/64 set when slot s is present.
	bitmap [fanout / 64]uint64
	// kids holds the present children in slot order.
	kids []openami.Digest
}

// Len returns the number of present slots.
func (n *Node) Len() int { return len(n.kids) }

// Child returns the child in slot (0 to 255), or ZeroDigest and false if
// the slot is absent or out of range.
func (n *Node) Child(slot int) (openami.Digest, bool) {
	if slot < 0 || slot >= fanout || n.bitmap[slot/64]&(1<<(slot%64)) == 0 {
		return openami.ZeroDigest, false
	}
	return n.kids[n.rank(slot)], true
}

// rank returns the number of present slots before slot: the index of
// slot's child in kids.
func (n *Node) rank(slot int) int {
	r := 0
	for w := 0; w < slot/64; w++ {
		r += bits.OnesCount64(n.bitmap[w])
	}
	return r + bits.OnesCount64(n.bitmap[slot/64]&(1<<(slot%64)-1))
}

// All yields the present slots and their children in slot order.
func (n *Node) All() iter.Seq2[int, openami.Digest] {
	return func(yield func(int, openami.Digest) bool) {
		i := 0
		for w, word := range n.bitmap {
			for word != 0 {
				slot := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				if !yield(slot, n.kids[i]) {
					return
				}
				i++
			}
		}
	}
}

// capacity returns how many entries can lie beneath one child of a node at
// level: 1 for a leaf, 256^level for an interior node.
func capacity(level int) uint64 { return 1 << (slotBits * level) }

// cacheSize estimates the memory a cached node holds: its children plus
// the node, map entry and list links.
func (n *Node) cacheSize() int { return len(n.kids)*len(openami.Digest{}) + 160 }

// encode returns n's canonical encoding.
func (n *Node) encode() []byte {
	b := make([]byte, nodeHeaderSize, nodeHeaderSize+len(n.kids)*len(openami.Digest{}))
	b[0] = nodeVersion
	b[1] = byte(n.Level)
	binary.BigEndian.PutUint64(b[2:], n.Count)
	for w, word := range n.bitmap {
		binary.LittleEndian.PutUint64(b[10+8*w:], word)
	}
	for _, k := range n.kids {
		b = append(b, k[:]...)
	}
	return b
}

// DecodeNode decodes a block-map node, accepting only the canonical
// encoding that Maps writes: a known version, a level from 0 to 3, at
// least one present slot, exactly one 32-byte hash per present slot, no
// ZeroDigest child (an absent entry has no slot), and a count consistent
// with the slots (equal to them in a leaf; between them and their
// capacity above). Anything else is an error for which
// errors.Is(err, ErrCorrupt) holds. It does not check data's hash; the
// caller knows what name data was read under.
func DecodeNode(data []byte) (*Node, error) {
	if len(data) < nodeHeaderSize {
		return nil, corruptf("block-map node of %d bytes is shorter than its header", len(data))
	}
	if data[0] != nodeVersion {
		return nil, corruptf("block-map node has unknown version %d", data[0])
	}
	n := &Node{Level: int(data[1]), Count: binary.BigEndian.Uint64(data[2:])}
	if n.Level > rootLevel {
		return nil, corruptf("block-map node has level %d, above the root's %d", n.Level, rootLevel)
	}
	present := 0
	for w := range n.bitmap {
		n.bitmap[w] = binary.LittleEndian.Uint64(data[10+8*w:])
		present += bits.OnesCount64(n.bitmap[w])
	}
	if present == 0 {
		return nil, corruptf("block-map node has no entries")
	}
	if want := nodeHeaderSize + present*len(openami.Digest{}); len(data) != want {
		return nil, corruptf("block-map node with %d entries is %d bytes, want %d", present, len(data), want)
	}
	if lo, hi := uint64(present), uint64(present)*capacity(n.Level); n.Count < lo || n.Count > hi {
		return nil, corruptf("block-map node at level %d with %d entries counts %d blocks beneath it", n.Level, present, n.Count)
	}
	n.kids = make([]openami.Digest, present)
	for i := range n.kids {
		copy(n.kids[i][:], data[nodeHeaderSize+32*i:])
		if n.kids[i].IsZero() {
			return nil, corruptf("block-map node has a zero child in entry %d", i)
		}
	}
	return n, nil
}

// String describes n for debugging.
func (n *Node) String() string {
	return fmt.Sprintf("node(level %d, %d slots, count %d)", n.Level, len(n.kids), n.Count)
}
