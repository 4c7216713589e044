package localdisk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bases is a host's cache of base images: verified, decrypted disk images
// (an instance store-backed AMI's unpacked bundle), each kept once under
// DIR/bundle-cache/DIGEST.img and shared read-only by the copy-on-write
// disks over it (OpenOverlay). A second launch of the same image on this
// host finds its base here and costs O(1) in the image's size.
//
// The cache is bounded by bytes (the images' sizes, not the blocks they
// take: a base is sparse where the image is zero). When a new base would
// take it over the bound, the least recently used bases that nothing
// uses are deleted first. A base is in use while a caller holds it (a
// *Base not yet released) or while any overlay on disk is over it; such a
// base is never evicted, so the cache exceeds its bound when everything
// in it is in use. Which overlays are over which base is read from the
// overlays' files when eviction needs it, not kept in memory only: after
// a restart the cache finds its bases and their users again, and
// Disks.Remove (deleting an instance's overlays) is what lets a base go.
//
// A base is published whole or not at all: Fill writes a temporary file
// under DIR/bundle-cache/tmp, fsyncs it and renames it into place;
// temporaries a crash left behind are deleted by NewBases. Safe for
// concurrent use.
type Bases struct {
	dir   string // DIR/bundle-cache
	disks string // DIR/instance-store, where overlays name their bases
	limit int64

	mu      sync.Mutex
	entries map[string]*entry  // published bases by digest
	flights map[string]*flight // fills under way by digest
	total   int64              // sum of the entries' sizes
	now     func() time.Time   // the clock of last use
	onWait  func()             // called when a Fill waits on another; tests
}

// entry is one published base.
type entry struct {
	digest  string
	size    int64
	refs    int       // *Base handles not yet released
	lastUse time.Time // LRU order; persisted as the file's mtime
}

// flight is one Fill under way; later Fills of its digest wait on done.
type flight struct {
	done chan struct{}
	err  error // the fill's error, set before done is closed
}

// DefaultBasesSize is a suggested bound for the base cache (the serve
// flag's default): 20 GiB, a few dozen root images.
const DefaultBasesSize = 20 << 30

// NewBases opens the base cache under dir (the server's data directory),
// bounded by limit bytes (0: keep a base only while it is used). It
// creates DIR/bundle-cache if needed, deletes the temporaries of fills a
// crash interrupted, finds the published bases (their last use is their
// file's modification time) and evicts down to the bound.
func NewBases(dir string, limit int64) (*Bases, error) {
	if limit < 0 {
		return nil, fmt.Errorf("localdisk: negative bundle cache size %d", limit)
	}
	b := &Bases{
		dir:     filepath.Join(dir, "bundle-cache"),
		disks:   filepath.Join(dir, "instance-store"),
		limit:   limit,
		entries: map[string]*entry{},
		flights: map[string]*flight{},
		now:     time.Now,
	}
	if err := os.RemoveAll(filepath.Join(b.dir, "tmp")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(b.dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	files, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		digest, ok := strings.CutSuffix(f.Name(), ".img")
		if !ok || checkDigest(digest) != nil || !f.Type().IsRegular() {
			continue
		}
		info, err := f.Info()
		if err != nil {
			return nil, err
		}
		b.entries[digest] = &entry{digest: digest, size: info.Size(), lastUse: info.ModTime()}
		b.total += info.Size()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b, b.evict(0)
}

// checkDigest accepts a digest as the cache's key: 1 to 128 lowercase hex
// digits (a manifest's SHA-1 or SHA-256), so that it is a plain file name.
func checkDigest(digest string) error {
	if len(digest) == 0 || len(digest) > 128 || strings.Trim(digest, "0123456789abcdef") != "" {
		return fmt.Errorf("localdisk: bad base digest %q", digest)
	}
	return nil
}

// path is where the base digest is published.
func (b *Bases) path(digest string) string { return filepath.Join(b.dir, digest+".img") }

// Base is a caller's hold on a cached base image: while it is not
// released the base is not evicted. Release it once done (after opening
// the overlays over it: those keep the base in use on their own).
type Base struct {
	bases *Bases
	e     *entry
	once  sync.Once
}

// Digest returns the base's key.
func (h *Base) Digest() string { return h.e.digest }

// Size returns the base image's size in bytes.
func (h *Base) Size() int64 { return h.e.size }

// path returns the base's file.
func (h *Base) path() string { return h.bases.path(h.e.digest) }

// Release lets the base go when nothing else uses it; releasing again
// does nothing. If the cache is over its bound, it evicts what it can.
func (h *Base) Release() {
	h.once.Do(func() {
		b := h.bases
		b.mu.Lock()
		defer b.mu.Unlock()
		h.e.refs--
		if b.total > b.limit {
			b.evict(0) // best effort: the next Fill or start tries again
		}
	})
}

// hold pins e for a new handle and marks it used; b.mu is held.
func (b *Bases) hold(e *entry) *Base {
	e.refs++
	e.lastUse = b.now()
	// The mtime is the LRU order after a restart; best effort.
	os.Chtimes(b.path(e.digest), time.Time{}, e.lastUse)
	return &Base{bases: b, e: e}
}

// Get returns the base digest, held, and marks it recently used; false if
// it is not cached (or being filled: Fill waits for it).
func (b *Bases) Get(digest string) (*Base, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[digest]
	if !ok {
		return nil, false
	}
	return b.hold(e), true
}

// Fill returns the base digest, held, making it first if it is not
// cached: fill writes the image, exactly size bytes, to w in order; the
// base is published only if fill returns nil having written them all.
// Before it starts, Fill evicts unused bases to make room for size bytes.
// Fills of one digest are single-flight: a Fill that finds another under
// way waits for it (or for ctx) and shares its outcome, its error too.
// Runs of zeros fill writes are not stored (the base is sparse).
func (b *Bases) Fill(ctx context.Context, digest string, size int64, fill func(w io.Writer) error) (*Base, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("localdisk: negative base size %d", size)
	}
	for {
		b.mu.Lock()
		if e, ok := b.entries[digest]; ok {
			defer b.mu.Unlock()
			return b.hold(e), nil
		}
		fl, ok := b.flights[digest]
		if !ok {
			break // b.mu stays held
		}
		b.mu.Unlock()
		if b.onWait != nil {
			b.onWait()
		}
		select {
		case <-fl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if fl.err != nil {
			return nil, fl.err
		}
		// Published: the next round holds it (unless evicted meanwhile,
		// when it fills again).
	}
	fl := &flight{done: make(chan struct{})}
	b.flights[digest] = fl
	err := b.evict(size)
	b.mu.Unlock()

	if err == nil {
		err = b.write(digest, size, fill)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.flights, digest)
	fl.err = err
	close(fl.done)
	if err != nil {
		return nil, err
	}
	e := &entry{digest: digest, size: size}
	b.entries[digest] = e
	b.total += size
	h := b.hold(e)
	b.evict(0) // the new base is held: this only trims what else is over
	return h, nil
}

// write makes the file of base digest: a temporary file, filled, synced
// and renamed into place, the directory synced after.
func (b *Bases) write(digest string, size int64, fill func(w io.Writer) error) (err error) {
	rnd := make([]byte, 8)
	rand.Read(rnd)
	tmp := filepath.Join(b.dir, "tmp", digest+"."+hex.EncodeToString(rnd))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return err
	}
	w := &sparseWriter{f: f, size: size}
	if err := fill(w); err != nil {
		return fmt.Errorf("localdisk: filling base %s: %w", digest, err)
	}
	if w.off != size {
		return fmt.Errorf("localdisk: filling base %s: wrote %d bytes of %d", digest, w.off, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, b.path(digest)); err != nil {
		return err
	}
	return syncDir(b.dir)
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// zeroRun is the granule of zeros a sparseWriter skips rather than writes.
const zeroRun = 64 << 10

var zeros = make([]byte, zeroRun)

// sparseWriter writes a base's bytes in order into a file already
// truncated to size, skipping aligned runs of zeros (they read as zeros
// from the hole), and refuses bytes past size.
type sparseWriter struct {
	f    *os.File
	off  int64
	size int64
}

func (w *sparseWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.size-w.off {
		return 0, fmt.Errorf("localdisk: base longer than its size %d", w.size)
	}
	n := 0
	for n < len(p) {
		k := min(int(zeroRun-w.off%zeroRun), len(p)-n)
		if !bytes.Equal(p[n:n+k], zeros[:k]) {
			if _, err := w.f.WriteAt(p[n:n+k], w.off); err != nil {
				return n, err
			}
		}
		n += k
		w.off += int64(k)
	}
	return n, nil
}

// evict deletes unused bases, least recently used first, until the cache
// with room bytes more fits its bound or nothing unused is left. A base is
// used if held or if an overlay on disk is over it. b.mu is held.
func (b *Bases) evict(room int64) error {
	if b.total+room <= b.limit {
		return nil
	}
	used, err := b.overlayBases()
	if err != nil {
		return err
	}
	lru := make([]*entry, 0, len(b.entries))
	for _, e := range b.entries {
		if e.refs == 0 && !used[e.digest] {
			lru = append(lru, e)
		}
	}
	slices.SortFunc(lru, func(x, y *entry) int { return x.lastUse.Compare(y.lastUse) })
	for _, e := range lru {
		if b.total+room <= b.limit {
			break
		}
		if err := os.Remove(b.path(e.digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		delete(b.entries, e.digest)
		b.total -= e.size
	}
	return nil
}

// overlayBases reads which bases the overlays under DIR/instance-store
// are over (from each overlay's header).
func (b *Bases) overlayBases() (map[string]bool, error) {
	used := map[string]bool{}
	maps, err := filepath.Glob(filepath.Join(b.disks, "*", "*"+mapSuffix))
	if err != nil {
		return nil, err
	}
	for _, m := range maps {
		h, err := readHeader(m)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errHeader) {
			continue // removed meanwhile, or not an overlay's (it cannot open)
		}
		if err != nil {
			return nil, err
		}
		used[h.base] = true
	}
	return used, nil
}

// Bytes returns the cached bases' total size.
func (b *Bases) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}
