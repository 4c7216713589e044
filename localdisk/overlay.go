package localdisk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// An overlay is a copy-on-write disk over a cached base (an instance
// store-backed instance's root): two files under DIR/instance-store/OWNER,
//
//   - NAME.img, the overlay's data: a sparse file as large as the disk,
//     holding at its own offsets every block the disk has written;
//   - NAME.map, a 4 KiB text header (format, the base's digest, sizes,
//     block size) and then a bitmap, one bit per 64 KiB block, set when
//     the block's bytes are in NAME.img rather than in the base.
//
// A block whose bit is clear reads from the base (zeros past the base's
// end, when the disk is larger than its image); a set one from NAME.img.
// A write that covers only part of a clear block first copies the block
// up from the base. Trim and WriteZeroes punch a hole in NAME.img and set
// the bits, so the range reads zeros, never the base. Creating an overlay
// writes its header and sizes two sparse files: O(1) in the base's size.
//
// Durability: Flush fsyncs NAME.img, then writes the bitmap's changed
// pages and fsyncs NAME.map, so a bit on disk never names data that is
// not. After a crash, writes not flushed may read as the base again
// (bytes in NAME.img under a clear bit are never read, and are
// overwritten whole before their bit is set).
//
// The header is written to NAME.map.tmp, synced and renamed into place:
// NAME.map exists only whole. It is also how Bases knows that the base
// is in use: an overlay pins its base until Disks.Remove deletes it.

// blockSize is an overlay's unit of copy-on-write and of its bitmap.
const blockSize = 64 << 10

// headerSize is the space before an overlay's bitmap in NAME.map.
const headerSize = 4096

// mapSuffix and the format's first line name overlay files.
const (
	mapSuffix   = ".map"
	formatLine  = "openami-overlay 1"
	bitmapPage  = 4096 // bytes of bitmap written as one unit by Flush
	pageWords   = bitmapPage / 8
	stripeCount = 64 // block locks: one per block index modulo this
)

// header is an overlay's NAME.map header.
type header struct {
	base     string // the base's digest
	baseSize int64
	size     int64
	block    int64
}

func (h header) encode() []byte {
	s := fmt.Sprintf("%s\nbase %s\nbase-size %d\nsize %d\nblock %d\n", formatLine, h.base, h.baseSize, h.size, h.block)
	b := make([]byte, headerSize)
	copy(b, s)
	return b
}

// errHeader is a NAME.map that is not an overlay's (readHeader wraps it).
var errHeader = errors.New("not an overlay header")

// readHeader reads and checks the header of the NAME.map at path.
func readHeader(path string) (header, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	b := make([]byte, headerSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return header{}, fmt.Errorf("%s: %w (%v)", path, errHeader, err)
	}
	return parseHeader(path, b)
}

func parseHeader(path string, b []byte) (header, error) {
	text, _, _ := strings.Cut(string(b), "\x00")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var h header
	if len(lines) != 5 || lines[0] != formatLine {
		return h, fmt.Errorf("%s: %w", path, errHeader)
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		var err error
		switch k {
		case "base":
			h.base, err = v, checkDigest(v)
		case "base-size":
			h.baseSize, err = strconv.ParseInt(v, 10, 64)
		case "size":
			h.size, err = strconv.ParseInt(v, 10, 64)
		case "block":
			h.block, err = strconv.ParseInt(v, 10, 64)
		default:
			err = errHeader
		}
		if err != nil {
			return h, fmt.Errorf("%s: %w (%s)", path, errHeader, l)
		}
	}
	if h.block != blockSize || h.size < 0 || h.baseSize < 0 {
		return h, fmt.Errorf("%s: %w", path, errHeader)
	}
	return h, nil
}

// Overlay is a handle on an open copy-on-write disk over a base. Its
// methods are an NBD export's (nbd.Export), safe for concurrent use; the
// context is unused, as file I/O is not cancellable. Opening a disk that
// is already open returns another handle on the same open disk (one
// bitmap in memory, so two NBD connections to it see each other's writes
// and never overwrite each other's bits); its files close with the last
// handle.
type Overlay struct {
	*overlayFile
	ds   *Disks
	once sync.Once
	err  error
}

// overlayFile is an open overlay, shared by its handles.
type overlayFile struct {
	key  string // NAME.map's path, its key in Disks.open
	h    header
	refs int // handles not closed; guarded by Disks.mu

	data     *os.File // NAME.img
	meta     *os.File // NAME.map
	base     *os.File // the base image, read-only; kept open if evicted
	baseSize int64
	size     int64

	stripes [stripeCount]sync.Mutex // serialize writes to one block (copy-up)

	mu    sync.Mutex
	bits  []uint64 // block i is in data iff bit i%64 of bits[i/64]
	dirty []bool   // bitmap pages changed since the last Flush

	flushMu sync.Mutex
}

// OpenOverlay opens the copy-on-write disk name of owner (an instance id),
// size bytes, over base: creating it if it does not exist (O(1): nothing
// of the base is copied), else reopening it with what was written and
// flushed. An existing overlay must be over the same base and of the same
// size. base may be released once this returns: the overlay's files keep
// the base in the cache until Disks.Remove(owner). Do not Open a plain
// disk of the same name: both keep their bytes in NAME.img.
func (ds *Disks) OpenOverlay(owner, name string, base *Base, size int64) (*Overlay, error) {
	if err := checkName("owner", owner); err != nil {
		return nil, err
	}
	if err := checkName("disk", name); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("localdisk: negative disk size %d", size)
	}
	dir := filepath.Join(ds.root, owner)
	mapPath := filepath.Join(dir, name+mapSuffix)
	dataPath := filepath.Join(dir, name+".img")
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if f := ds.open[mapPath]; f != nil {
		if err := f.h.matches(owner, name, base, size); err != nil {
			return nil, err
		}
		f.refs++
		return &Overlay{overlayFile: f, ds: ds}, nil
	}
	h, err := readHeader(mapPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		h = header{base: base.Digest(), baseSize: base.Size(), size: size, block: blockSize}
		if err := createOverlay(dir, mapPath, dataPath, h); err != nil {
			return nil, fmt.Errorf("instance-store disk %s/%s: %w", owner, name, err)
		}
	case err != nil:
		return nil, err
	default:
		if err := h.matches(owner, name, base, size); err != nil {
			return nil, err
		}
	}
	f, err := openOverlay(mapPath, dataPath, base.path(), h)
	if err != nil {
		return nil, err
	}
	if ds.open == nil {
		ds.open = map[string]*overlayFile{}
	}
	f.refs = 1
	ds.open[mapPath] = f
	return &Overlay{overlayFile: f, ds: ds}, nil
}

// matches refuses to reopen an overlay over another base or size.
func (h header) matches(owner, name string, base *Base, size int64) error {
	if h.base != base.Digest() || h.size != size {
		return fmt.Errorf("instance-store disk %s/%s: an overlay of %d bytes over base %s, not %d bytes over %s",
			owner, name, h.size, h.base, size, base.Digest())
	}
	return nil
}

// createOverlay makes an overlay's files: NAME.img blank, then NAME.map
// whole (through NAME.map.tmp), both sparse.
func createOverlay(dir, mapPath, dataPath string, h header) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := os.OpenFile(dataPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = data.Truncate(h.size)
	if cerr := data.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	tmp := mapPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(h.encode(), 0)
	if err == nil {
		err = f.Truncate(headerSize + bitmapBytes(h.size))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, mapPath)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// bitmapBytes is the length of the bitmap of a disk of size bytes.
func bitmapBytes(size int64) int64 {
	blocks := (size + blockSize - 1) / blockSize
	return (blocks + 7) / 8
}

// openOverlay opens an overlay's files and loads its bitmap.
func openOverlay(mapPath, dataPath, basePath string, h header) (o *overlayFile, err error) {
	o = &overlayFile{key: mapPath, h: h, baseSize: h.baseSize, size: h.size}
	defer func() {
		if err != nil {
			for _, f := range []*os.File{o.data, o.meta, o.base} {
				if f != nil {
					f.Close()
				}
			}
		}
	}()
	if o.meta, err = os.OpenFile(mapPath, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if o.data, err = os.OpenFile(dataPath, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if o.base, err = os.Open(basePath); err != nil {
		return nil, err
	}
	n := bitmapBytes(h.size)
	raw := make([]byte, (n+7)/8*8)
	if _, err := io.ReadFull(io.NewSectionReader(o.meta, headerSize, n), raw[:n]); err != nil {
		return nil, fmt.Errorf("%s: bitmap: %w", mapPath, err)
	}
	o.bits = make([]uint64, len(raw)/8)
	for i := range o.bits {
		o.bits[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	o.dirty = make([]bool, (len(o.bits)+pageWords-1)/pageWords)
	return o, nil
}

// Size returns the disk's size in bytes.
func (o *overlayFile) Size() int64 { return o.size }

// ReadOnly reports false: an overlay is writable (its base is not).
func (o *overlayFile) ReadOnly() bool { return false }

// check refuses a range outside the disk.
func (o *overlayFile) check(off, length int64) error {
	if off < 0 || length < 0 || off > o.size-length {
		return fmt.Errorf("localdisk: range %d+%d outside a disk of %d bytes: %w", off, length, o.size, io.EOF)
	}
	return nil
}

// has reports whether block i is in the overlay's data; o.mu is held.
func (o *overlayFile) has(i int64) bool { return o.bits[i/64]&(1<<(i%64)) != 0 }

// run is a piece of a read: length bytes at off, from the data or the base.
type run struct {
	off, length int64
	data        bool
}

// ReadAt fills p from off: each block from the overlay's data if written,
// else from the base (zeros past its end).
func (o *overlayFile) ReadAt(_ context.Context, p []byte, off int64) error {
	if err := o.check(off, int64(len(p))); err != nil || len(p) == 0 {
		return err
	}
	end := off + int64(len(p))
	var runs []run
	o.mu.Lock()
	for at := off; at < end; {
		next := min((at/blockSize+1)*blockSize, end)
		in := o.has(at / blockSize)
		if k := len(runs) - 1; k >= 0 && runs[k].data == in {
			runs[k].length += next - at
		} else {
			runs = append(runs, run{at, next - at, in})
		}
		at = next
	}
	o.mu.Unlock()
	for _, r := range runs {
		b := p[r.off-off : r.off-off+r.length]
		var err error
		if r.data {
			_, err = o.data.ReadAt(b, r.off)
		} else {
			err = o.readBase(b, r.off)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readBase fills b with the base's bytes at off, zeros past its end.
func (o *overlayFile) readBase(b []byte, off int64) error {
	n := max(0, min(int64(len(b)), o.baseSize-off))
	if n > 0 {
		if _, err := o.base.ReadAt(b[:n], off); err != nil {
			return err
		}
	}
	clear(b[n:])
	return nil
}

// lock locks the block stripes of blocks first..last in stripe order (so
// that two ranges never wait on each other in a cycle); unlock undoes it.
func (o *overlayFile) lock(first, last int64) (mask [stripeCount]bool) {
	for i := first; i <= last && i < first+stripeCount; i++ {
		mask[i%stripeCount] = true
	}
	for i, m := range mask {
		if m {
			o.stripes[i].Lock()
		}
	}
	return mask
}

func (o *overlayFile) unlock(mask [stripeCount]bool) {
	for i, m := range mask {
		if m {
			o.stripes[i].Unlock()
		}
	}
}

// prepare locks the blocks of off..off+length and copies up the ones at
// either end that the range covers only in part and that still read from
// the base, so that what follows may write anywhere in the range. The
// caller writes, then calls done.
func (o *overlayFile) prepare(off, length int64) (first, last int64, mask [stripeCount]bool, err error) {
	end := off + length
	first, last = off/blockSize, (end-1)/blockSize
	mask = o.lock(first, last)
	for _, i := range []int64{first, last} {
		start, stop := i*blockSize, min((i+1)*blockSize, o.size)
		if off <= start && end >= stop {
			continue // covered whole
		}
		o.mu.Lock()
		in := o.has(i)
		o.mu.Unlock()
		if in {
			continue
		}
		buf := blockPool.Get().(*[]byte)
		b := (*buf)[:stop-start]
		if err = o.readBase(b, start); err == nil {
			_, err = o.data.WriteAt(b, start)
		}
		blockPool.Put(buf)
		if err != nil {
			o.unlock(mask)
			return 0, 0, mask, err
		}
		if first == last {
			break
		}
	}
	return first, last, mask, nil
}

// blockPool holds the buffers of copy-ups.
var blockPool = sync.Pool{New: func() any { b := make([]byte, blockSize); return &b }}

// done sets the bits of blocks first..last and unlocks them.
func (o *overlayFile) done(first, last int64, mask [stripeCount]bool) {
	o.mu.Lock()
	for i := first; i <= last; i++ {
		o.bits[i/64] |= 1 << (i % 64)
		o.dirty[i/64/pageWords] = true
	}
	o.mu.Unlock()
	o.unlock(mask)
}

// WriteAt writes p at off into the overlay's data.
func (o *overlayFile) WriteAt(_ context.Context, p []byte, off int64) error {
	if err := o.check(off, int64(len(p))); err != nil || len(p) == 0 {
		return err
	}
	first, last, mask, err := o.prepare(off, int64(len(p)))
	if err != nil {
		return err
	}
	if _, err := o.data.WriteAt(p, off); err != nil {
		o.unlock(mask)
		return err
	}
	o.done(first, last, mask)
	return nil
}

// Trim makes length bytes at off read as zeros, as WriteZeroes does: a
// trimmed block must not read as the base again.
func (o *overlayFile) Trim(ctx context.Context, off, length int64) error {
	return o.WriteZeroes(ctx, off, length)
}

// WriteZeroes makes length bytes at off read as zeros: it punches a hole
// in the overlay's data (writing zeros where the file system cannot) and
// marks the blocks written.
func (o *overlayFile) WriteZeroes(_ context.Context, off, length int64) error {
	if err := o.check(off, length); err != nil || length == 0 {
		return err
	}
	first, last, mask, err := o.prepare(off, length)
	if err != nil {
		return err
	}
	if err := punch(o.data, off, length); err != nil {
		o.unlock(mask)
		return err
	}
	o.done(first, last, mask)
	return nil
}

// punch makes length bytes of f at off read as zeros, freeing their
// blocks where the file system can punch holes.
func punch(f *os.File, off, length int64) error {
	const punchHole, keepSize = 0x02, 0x01 // FALLOC_FL_PUNCH_HOLE, FALLOC_FL_KEEP_SIZE
	err := syscall.Fallocate(int(f.Fd()), punchHole|keepSize, off, length)
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		return err
	}
	for done := int64(0); done < length; {
		n := min(int64(len(zeros)), length-done)
		if _, err := f.WriteAt(zeros[:n], off+done); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// Flush makes every completed write durable: the data first, then the
// bitmap pages that changed, so the bitmap never names unsynced data.
func (o *overlayFile) Flush(context.Context) error {
	o.flushMu.Lock()
	defer o.flushMu.Unlock()
	type page struct {
		k int
		b []byte
	}
	var pages []page
	n := bitmapBytes(o.size)
	o.mu.Lock()
	for k, d := range o.dirty {
		if !d {
			continue
		}
		o.dirty[k] = false
		words := o.bits[k*pageWords : min((k+1)*pageWords, len(o.bits))]
		b := make([]byte, 8*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		pages = append(pages, page{k, b[:min(int64(len(b)), n-int64(k)*bitmapPage)]})
	}
	o.mu.Unlock()
	err := o.data.Sync()
	for _, p := range pages {
		if err != nil {
			break
		}
		_, err = o.meta.WriteAt(p.b, headerSize+int64(p.k)*bitmapPage)
	}
	if err == nil {
		err = o.meta.Sync()
	}
	if err != nil {
		o.mu.Lock()
		for _, p := range pages {
			o.dirty[p.k] = true
		}
		o.mu.Unlock()
	}
	return err
}

// Close flushes the disk and lets go of this handle, closing the files
// with the last one; closing again does nothing and returns the first
// close's error.
func (o *Overlay) Close() error {
	o.once.Do(func() { o.err = o.ds.release(o.overlayFile) })
	return o.err
}

// release flushes f for a handle closed and closes its files if it was
// the last.
func (ds *Disks) release(f *overlayFile) error {
	err := f.Flush(context.Background())
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if f.refs--; f.refs > 0 {
		return err
	}
	if ds.open[f.key] == f {
		delete(ds.open, f.key)
	}
	for _, file := range []*os.File{f.data, f.meta, f.base} {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
