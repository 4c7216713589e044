// Package blockstore stores the data behind snapshots and volumes: chunks,
// which hold the blocks, and block maps, which say which chunk each block
// of a snapshot holds; and the rules that keep chunks alive while they are
// referenced and collect them when not (Collector: chunk liveness, mark
// and sweep, fsck). It knows nothing of databases, accounts or regions;
// the service wires it to a blob store (for chunks) and to the metadata
// store (for block-map nodes, chunk rows and the collection's generation
// and lease) through small interfaces: blob.Store, NodeStore, and Records
// with its Ledger. Which records keep chunks alive is the service's rule,
// handed over as Ledger.Roots.
//
// # Chunks
//
// A chunk is one block of openami.BlockSize bytes, named by the SHA-256 of
// its plaintext and stored once per blob store under
// "chunks/<first 2 hex digits>/<64 hex digits>" (ChunkKey). Because the name
// is the hash of the content, two snapshots that hold the same block share
// one chunk, a chunk is never rewritten in place, and every read can be
// checked: Get decompresses the chunk and compares its SHA-256 with the
// name it was asked for, and returns ErrCorrupt rather than data that does
// not match. An all-zero block is never stored; ZeroDigest stands for it.
//
// A stored chunk is a small frame around the (usually compressed) block:
//
//	magic "OACK" (4 bytes) | format version (1) | kind (1) | reserved, zero (2) |
//	plaintext length, big-endian (4) | payload
//
// where kind 0 is a raw payload (used when compression would not make the
// chunk smaller, so incompressible data costs no decompression on read) and
// kind 1 is one zstd frame.
//
// An encrypted chunk (one stored under a DataKey) is named by the
// HMAC-SHA256 of its plaintext under the key's naming key instead of its
// SHA-256, and stored as a frame of kind 2: the same header, then the plain
// frame above sealed with AES-256-GCM under the key's encryption key, the
// nonce being the first 12 bytes of the name and the header and name
// authenticated as additional data (see DataKey). No plaintext of an
// encrypted chunk is ever written; reading one needs its key, and GCM's
// tag, which covers the name, checks it.
//
// # Block maps
//
// A block map is a persistent radix tree from block index (0 ≤ index <
// 2^32) to chunk digest, four levels of 256-way nodes: a level-3 root, whose
// slots pick bits 24–31 of the index, down to level-0 leaves, whose slots
// pick bits 0–7 and hold chunk digests. Nodes are immutable and
// content-addressed (a node's hash is the SHA-256 of its encoding), so a new
// version of a map rewrites only the paths to the blocks that changed and
// shares every other node with the old version: Maps.Apply costs
// O(changes × depth) node writes, never O(map size). Bytes are another
// matter: a full leaf is 8 KiB, so changes scattered one per leaf write up
// to 8 KiB each (1% of an 8 GiB map, scattered, rewrites ~90% of its leaf
// bytes), while clustered changes, the usual shape of a volume's writes,
// share their leaves (the same 1% in one run writes 2–4%).
//
// The encoding is canonical: absent and all-zero blocks have no entry, a
// node with no entries does not exist (its parent has no slot for it), and
// the empty map is ZeroDigest. Two maps with the same entries therefore have
// the same root however they were built, which makes equality a hash
// comparison and lets Maps.Diff skip every shared subtree.
//
// A node's encoding is
//
//	version (1 byte) | level (1) | count, big-endian (8) | presence bitmap (32) |
//	one 32-byte hash per present slot, in slot order
//
// where count is the number of entries beneath the node (so the root gives
// a map's number of data blocks without a walk) and bit i of the bitmap
// (byte i/8, bit i%8) says whether slot i is present. Children of interior
// nodes are node hashes; children of leaves are chunk digests. DecodeNode
// accepts only canonical encodings.
//
// # Garbage collection
//
// Collector.Collect is mark and sweep over one store, safe while writers
// commit: generations stamped on chunk rows and nodes, a lease so one
// collection runs at a time, a deleting state between a row's claim and
// its blob's removal, and writers that touch their chunks in the
// transaction that commits them (Collector.Commit) and wait out a
// collection (Collector.WaitCollected). liveness.go and gc.go say why it
// is safe; docs/BLOCKSTORE.md walks through it.
//
// # Errors
//
// A missing chunk or node is an *openami.Error of class NotFound, wrapped
// with what was being read. Data that fails verification (a bad frame or
// node, or a hash that does not match its name) is an error of class
// Internal for which errors.Is(err, ErrCorrupt) holds. A bad argument (a
// block of the wrong size, an index out of range) is InvalidParameter.
package blockstore
