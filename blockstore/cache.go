package blockstore

import (
	"sync"

	"github.com/openami/openami"
)

// nodeCache is an LRU cache of decoded nodes, bounded by an estimate of
// the bytes they hold. Nodes are immutable and named by their hash, so an
// entry is never stale and the cache needs no invalidation; the same name
// means the same node whichever NodeStore it was read from.
type nodeCache struct {
	mu   sync.Mutex
	max  int
	used int
	m    map[openami.Digest]*cacheEntry
	// head is the sentinel of a circular list, most recently used first.
	head cacheEntry
}

type cacheEntry struct {
	h          openami.Digest
	n          *Node
	size       int
	prev, next *cacheEntry
}

// newNodeCache returns a cache of at most max bytes, or nil (which caches
// nothing) if max <= 0.
func newNodeCache(max int) *nodeCache {
	if max <= 0 {
		return nil
	}
	c := &nodeCache{max: max, m: make(map[openami.Digest]*cacheEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *nodeCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *nodeCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *nodeCache) get(h openami.Digest) (*Node, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok {
		return nil, false
	}
	if c.head.next != e {
		c.unlink(e)
		c.pushFront(e)
	}
	return e.n, true
}

func (c *nodeCache) add(h openami.Digest, n *Node) {
	if c == nil {
		return
	}
	size := n.cacheSize()
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[h]; ok {
		return
	}
	e := &cacheEntry{h: h, n: n, size: size}
	c.m[h] = e
	c.pushFront(e)
	c.used += size
	for c.used > c.max {
		last := c.head.prev
		c.unlink(last)
		delete(c.m, last.h)
		c.used -= last.size
	}
}

// stats returns the number of cached nodes and their estimated bytes.
func (c *nodeCache) stats() (nodes, bytes int) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.used
}
