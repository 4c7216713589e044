package ebs

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/openami/openami"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

// VolumeDevice is a volume opened for byte-addressed block I/O, as the NBD
// export of an attached volume serves it: reads and writes of any length
// at any offset, over the volume's 512 KiB blocks.
//
// Writes go to a write-back buffer of whole blocks (read-modify-write for
// a partial one) and become durable at Flush, which stores their chunks
// and commits them to the volume's overlay in one transaction: a crash
// loses only writes not yet flushed, as a disk's cache would. The buffer
// is bounded (MaxDirtyBlocks): a write that would pass the bound flushes
// first, so memory does not grow with the volume or with what is written.
//
// Every open of a volume shares one VolumeDevice (Volumes keeps them
// by volume id), so that two clients of one volume see each other's
// writes; Close releases one open, flushing at the last.
type VolumeDevice struct {
	s          *Volumes
	region     string
	volumeID   string
	instanceID string // the instance the volume was attached to at open
	size       int64
	key        *blockstore.DataKey // the volume's data key; nil if plain

	mu    sync.Mutex // guards dirty and revoked, serializes writes and flushes
	dirty map[int64][]byte
	// revoked is set once a flush found the volume detached from the
	// instance, or the instance no longer running: the device then
	// refuses all I/O, so that a client left connected cannot write into
	// a volume that now belongs to something else.
	revoked error
	refs    int // guarded by s.devicesMu
	// clean holds the stored blocks read most recently (at most
	// maxCleanBlocks, the most recent last): a guest's reads smaller than
	// a block, such as a boot loader's, would otherwise fetch and verify
	// the same chunk again for every one. A write drops its block from
	// it; writes counts them, so that a read that raced with a write does
	// not keep what it read before. Guarded by mu.
	clean  []cleanBlock
	writes uint64
}

// cleanBlock is a stored block's bytes, as read.
type cleanBlock struct {
	index int64
	data  []byte
}

// maxCleanBlocks bounds a device's cache of read blocks: 4 MiB.
const maxCleanBlocks = 8

// cachedLocked returns the cached bytes of a block, or nil, and makes it
// the most recent.
func (d *VolumeDevice) cachedLocked(index int64) []byte {
	for k, c := range d.clean {
		if c.index == index {
			d.clean = append(append(d.clean[:k], d.clean[k+1:]...), c)
			return c.data
		}
	}
	return nil
}

// dropCachedLocked forgets a block's cached bytes.
func (d *VolumeDevice) dropCachedLocked(index int64) {
	d.clean = slices.DeleteFunc(d.clean, func(c cleanBlock) bool { return c.index == index })
}

// MaxDirtyBlocks bounds a device's write-back buffer: 64 MiB.
const MaxDirtyBlocks = 128

var blockBuffers = sync.Pool{New: func() any { return make([]byte, openami.BlockSize) }}

// OpenVolumeDevice opens a volume attached to an instance that is pending,
// running or stopping (so whose VM may run) for block I/O. It is the NBD
// export's resolver: name is the volume id, in any region. A volume that
// does not exist, or is not attached to such an instance, is NotFound.
func (s *Volumes) OpenVolumeDevice(ctx context.Context, volumeID string) (*VolumeDevice, error) {
	var v openami.Volume
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		for _, r := range s.regions {
			cur, err := tx.Volumes().Get(r.Name, volumeID)
			if errors.Is(err, openami.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if cur.InstanceID == "" || cur.State != openami.VolumeInUse {
				break // not attached, or still being filled (volumes_fill.go)
			}
			run, err := s.instanceMayRun(tx, r.Name, cur.InstanceID)
			if err != nil {
				return err
			}
			if run {
				v = cur
			}
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v.ID == "" {
		return nil, openami.Errorf(openami.NotFound, openami.ResourceVolume, "The volume '%s' is not attached to a running instance.", volumeID)
	}
	key, err := s.dataKey(ctx, v.KmsKeyID)
	if err != nil {
		return nil, err
	}
	s.devicesMu.Lock()
	defer s.devicesMu.Unlock()
	d := s.devices[v.ID]
	if d != nil && (d.instanceID != v.InstanceID || d.isRevoked()) {
		d = nil // an old client's; it keeps failing, the new one starts clean
	}
	if d == nil {
		d = &VolumeDevice{s: s, region: v.Region, volumeID: v.ID, instanceID: v.InstanceID, size: v.Size << 30, key: key, dirty: map[int64][]byte{}}
		s.devices[v.ID] = d
	}
	d.refs++
	return d, nil
}

// Dirty returns how many written blocks the device holds that Flush has
// not yet made durable: never more than MaxDirtyBlocks.
func (d *VolumeDevice) Dirty() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dirty)
}

// Size returns the volume's size in bytes.
func (d *VolumeDevice) Size() int64 { return d.size }

// ReadOnly reports false: attached volumes are writable.
func (d *VolumeDevice) ReadOnly() bool { return false }

// span calls fn for each block that [off, off+n) touches, with the block
// index and the byte range within the block and within the request.
func span(off, n int64, fn func(index int64, inBlock, inReq, length int64) error) error {
	for done := int64(0); done < n; {
		pos := off + done
		index, within := pos/openami.BlockSize, pos%openami.BlockSize
		length := min(openami.BlockSize-within, n-done)
		if err := fn(index, within, done, length); err != nil {
			return err
		}
		done += length
	}
	return nil
}

func (d *VolumeDevice) check(off, n int64) error {
	if off < 0 || n < 0 || off+n > d.size {
		return openami.Errorf(openami.InvalidParameter, "", "I/O at %d+%d is beyond the end of volume %s", off, n, d.volumeID)
	}
	return nil
}

// ReadAt reads len(p) bytes at off: written-but-unflushed data from the
// buffer, the rest from the volume's overlay and base map.
func (d *VolumeDevice) ReadAt(ctx context.Context, p []byte, off int64) error {
	if err := d.check(off, int64(len(p))); err != nil {
		return err
	}
	return span(off, int64(len(p)), func(index, inBlock, inReq, length int64) error {
		dst := p[inReq : inReq+length]
		d.mu.Lock()
		buf, ok := d.dirty[index]
		if !ok {
			buf = d.cachedLocked(index)
			ok = buf != nil
		}
		if ok {
			copy(dst, buf[inBlock:])
		}
		revoked, writes := d.revoked, d.writes
		d.mu.Unlock()
		if revoked != nil {
			return revoked
		}
		if ok {
			return nil
		}
		if length == openami.BlockSize {
			// Whole blocks (a sequential reader's) are not cached.
			return d.s.readStoredBlock(ctx, d.region, d.volumeID, d.key, index, dst)
		}
		blk := make([]byte, openami.BlockSize)
		if err := d.s.readStoredBlock(ctx, d.region, d.volumeID, d.key, index, blk); err != nil {
			return err
		}
		copy(dst, blk[inBlock:])
		d.mu.Lock()
		if d.writes == writes && d.revoked == nil && d.cachedLocked(index) == nil {
			if len(d.clean) >= maxCleanBlocks {
				d.clean = d.clean[1:]
			}
			d.clean = append(d.clean, cleanBlock{index: index, data: blk})
		}
		d.mu.Unlock()
		return nil
	})
}

// WriteAt writes p at off into the write-back buffer.
func (d *VolumeDevice) WriteAt(ctx context.Context, p []byte, off int64) error {
	if err := d.check(off, int64(len(p))); err != nil {
		return err
	}
	return d.write(ctx, off, int64(len(p)), func(buf []byte, inReq int64) { copy(buf, p[inReq:]) })
}

// WriteZeroes writes length zero bytes at off.
func (d *VolumeDevice) WriteZeroes(ctx context.Context, off, length int64) error {
	if err := d.check(off, length); err != nil {
		return err
	}
	return d.write(ctx, off, length, func(buf []byte, _ int64) { clear(buf) })
}

// Trim discards [off, off+length): it reads as zeros afterwards.
func (d *VolumeDevice) Trim(ctx context.Context, off, length int64) error {
	return d.WriteZeroes(ctx, off, length)
}

// write fills, for each block the range touches, the part of the block's
// buffer in the range with fill (given that part and its offset in the
// request), reading the rest of a block it does not wholly cover.
func (d *VolumeDevice) write(ctx context.Context, off, n int64, fill func(buf []byte, inReq int64)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.revoked != nil {
		return d.revoked
	}
	return span(off, n, func(index, inBlock, inReq, length int64) error {
		buf, ok := d.dirty[index]
		if !ok {
			if len(d.dirty) >= MaxDirtyBlocks {
				if err := d.flushLocked(ctx); err != nil {
					return err
				}
			}
			buf = blockBuffers.Get().([]byte)
			if length < openami.BlockSize {
				if c := d.cachedLocked(index); c != nil {
					copy(buf, c)
				} else if err := d.s.readStoredBlock(ctx, d.region, d.volumeID, d.key, index, buf); err != nil {
					blockBuffers.Put(buf)
					return err
				}
			}
			d.dirty[index] = buf
		}
		d.dropCachedLocked(index)
		d.writes++
		fill(buf[inBlock:inBlock+length], inReq)
		return nil
	})
}

// Flush makes every write so far durable.
func (d *VolumeDevice) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushLocked(ctx)
}

// flushLocked stores the buffered blocks' chunks and commits them to the
// volume's overlay in one transaction, then empties the buffer.
func (d *VolumeDevice) flushLocked(ctx context.Context) error {
	if d.revoked != nil {
		return d.revoked
	}
	if len(d.dirty) == 0 {
		return nil
	}
	rb, err := d.s.blocks(d.region)
	if err != nil {
		return err
	}
	indexes := make([]int64, 0, len(d.dirty))
	for index := range d.dirty {
		indexes = append(indexes, index)
	}
	refs := make([]metadata.BlockRef, len(indexes))
	stored := make([]*blockstore.ChunkRef, len(indexes))
	var chunks []*blockstore.ChunkRef
	// Hashing and compressing a block is the work of a flush: spread it
	// over the cores.
	store := func() error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(runtime.GOMAXPROCS(0))
		for k, index := range indexes {
			g.Go(func() error {
				dg, c, err := d.s.storeChunk(gctx, rb, d.key, d.dirty[index])
				refs[k], stored[k] = metadata.BlockRef{Index: index, Digest: dg}, c
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		chunks = chunks[:0]
		for _, c := range stored {
			if c != nil {
				chunks = append(chunks, c)
			}
		}
		return nil
	}
	if err := store(); err != nil {
		return err
	}
	err = d.s.commitWithChunks(ctx, rb, chunks, store, func(tx metadata.Tx) error {
		if err := d.stillAttached(tx); err != nil {
			return err
		}
		for _, r := range refs {
			if err := tx.Volumes().PutBlock(d.volumeID, r); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrRevoked) {
		d.revoked = err
		d.dropDirty() // nowhere to go
	}
	if err != nil {
		return fmt.Errorf("flush volume %s: %w", d.volumeID, err)
	}
	d.dropDirty()
	return nil
}

func (d *VolumeDevice) dropDirty() {
	for index, buf := range d.dirty {
		blockBuffers.Put(buf)
		delete(d.dirty, index)
	}
}

// ErrRevoked is a device's error once its volume left the instance it was
// opened for, or the instance stopped running.
var ErrRevoked = errors.New("the volume is no longer attached to a running instance")

// stillAttached checks, within a flush's transaction, that the volume is
// still attached to the device's instance and the instance may run.
func (d *VolumeDevice) stillAttached(tx metadata.Tx) error {
	v, err := tx.Volumes().Get(d.region, d.volumeID)
	if errors.Is(err, openami.ErrNotFound) {
		return ErrRevoked
	}
	if err != nil {
		return err
	}
	if v.InstanceID != d.instanceID || v.State != openami.VolumeInUse {
		return ErrRevoked
	}
	run, err := d.s.instanceMayRun(tx, d.region, d.instanceID)
	if err != nil {
		return err
	}
	if !run {
		return ErrRevoked
	}
	return nil
}

// Close releases one open of the device; the last flushes it. Its error
// is the flush's: the writes it could not make durable are lost.
func (d *VolumeDevice) Close() error {
	d.s.devicesMu.Lock()
	d.refs--
	last := d.refs == 0
	d.s.devicesMu.Unlock()
	if !last {
		return nil
	}
	// Flushed before it leaves the map, so that a new open cannot read
	// the store before these writes are in it; and outside devicesMu, so
	// that other volumes' opens do not wait for it (an open of this one
	// meanwhile shares the device and waits for the flush on d.mu).
	err := d.Flush(context.Background())
	d.s.devicesMu.Lock()
	if d.refs == 0 && d.s.devices[d.volumeID] == d {
		delete(d.s.devices, d.volumeID)
	}
	d.s.devicesMu.Unlock()
	return err
}

func (d *VolumeDevice) isRevoked() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.revoked != nil
}

// FlushDevices flushes the open devices of the volumes, so that what
// their clients wrote is in the store before a snapshot is taken.
func (s *Volumes) FlushDevices(ctx context.Context, volumeIDs []string) error {
	s.devicesMu.Lock()
	var open []*VolumeDevice
	for _, id := range volumeIDs {
		if d := s.devices[id]; d != nil {
			open = append(open, d)
		}
	}
	s.devicesMu.Unlock()
	for _, d := range open {
		if err := d.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readStoredBlock reads a block of a volume as committed: from its overlay
// if written since its base, else from the base map (zeros where absent).
func (s *Volumes) readStoredBlock(ctx context.Context, region, volumeID string, key *blockstore.DataKey, index int64, dst []byte) error {
	var dg openami.Digest
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		b, ok, err := tx.Volumes().Block(volumeID, index)
		if err != nil || ok {
			dg = b.Digest
			return err
		}
		v, err := tx.Volumes().Get(region, volumeID)
		if err != nil {
			return err
		}
		dg, err = s.maps.Lookup(txNodes{tx: tx, region: region}, v.Base, index)
		return err
	})
	if err != nil {
		return err
	}
	rb, err := s.blocks(region)
	if err != nil {
		return err
	}
	return readChunk(ctx, rb, key, dg, dst)
}
