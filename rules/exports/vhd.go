package exports

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/openami/openami"
)

// A VHD export is a *dynamic* VHD (Microsoft's Virtual Hard Disk Image
// Format Specification 1.0), as AWS's VM Export writes VHDs for Citrix
// Xen and Hyper-V: only the 2 MiB blocks that hold data are in the file,
// so a mostly empty disk is a small file (a fixed VHD costs the disk's
// whole size), and qemu recognizes it by its content (it probes only
// dynamic VHDs). It streams: the blocks that will hold data are known
// from the snapshot's block map before the first byte, so the block
// allocation table is written ahead of them and nothing is sought back
// to. Layout:
//
//	0                 a copy of the footer (512 bytes)
//	512               the dynamic disk header (1024 bytes)
//	1536              the block allocation table: one big-endian sector
//	                  offset per 2 MiB block (0xFFFFFFFF: none), padded
//	                  to a sector
//	then, per block   its sector bitmap (512 bytes, every sector present)
//	with data, in     and its 2 MiB of data
//	order
//	end               the footer (512 bytes)

const (
	// vhdBlockSize is the size of a dynamic VHD's blocks: 2 MiB, the
	// specification's default and what Hyper-V and qemu write.
	vhdBlockSize = 2 << 20
	// vhdBitmapSize is a block's sector bitmap: one bit per sector,
	// rounded up to a sector.
	vhdBitmapSize = 512
	// vhdHeaderAt and vhdTableAt are the offsets of the dynamic disk
	// header and of the block allocation table.
	vhdHeaderAt = 512
	vhdTableAt  = vhdHeaderAt + 1024
	// perVHDBlock is the number of snapshot blocks in a VHD block.
	perVHDBlock = vhdBlockSize / openami.BlockSize
	// vhdMaxSize is the largest disk a VHD holds (the specification's
	// 2040 GiB; its sector offsets are 32 bits).
	vhdMaxSize = 2040 << 30
)

// vhdWriter writes a dynamic VHD.
type vhdWriter struct {
	w      io.Writer
	size   int64
	footer []byte
	cur    int64 // the VHD block being written, -1 before the first
	next   int64 // the next snapshot block of cur to write
}

// newVHDWriter writes the footer copy, the header and the block table of
// a dynamic VHD of size bytes whose blocks of data are those holding the
// snapshot blocks stored (increasing indices).
func newVHDWriter(w io.Writer, size int64, now time.Time, stored []int64) (*vhdWriter, error) {
	if size%vhdBlockSize != 0 || size > vhdMaxSize {
		return nil, fmt.Errorf("exports: a disk of %d bytes does not fit a VHD (whole 2 MiB blocks, at most 2040 GiB)", size)
	}
	entries := size / vhdBlockSize
	tableSize := (entries*4 + 511) &^ 511
	table := make([]byte, tableSize)
	for i := range table {
		table[i] = 0xff
	}
	sector := (vhdTableAt + tableSize) / 512
	last := int64(-1)
	for _, idx := range stored {
		b := idx / perVHDBlock
		if b == last {
			continue
		}
		if b < last || b >= entries {
			return nil, fmt.Errorf("exports: block %d out of order or past the disk's end", idx)
		}
		binary.BigEndian.PutUint32(table[b*4:], uint32(sector))
		sector += (vhdBitmapSize + vhdBlockSize) / 512
		last = b
	}
	v := &vhdWriter{w: w, size: size, footer: vhdFooter(size, now), cur: -1}
	for _, part := range [][]byte{v.footer, vhdHeader(entries), table} {
		if _, err := w.Write(part); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// bitmapAllSet is the sector bitmap of a block whose sectors are all
// present: what the writer writes for every block it writes.
var bitmapAllSet = func() []byte {
	b := make([]byte, vhdBitmapSize)
	for i := range b {
		b[i] = 0xff
	}
	return b
}()

// finish writes zeros for the rest of the current VHD block.
func (v *vhdWriter) finish() error {
	if v.cur < 0 {
		return nil
	}
	for ; v.next < (v.cur+1)*perVHDBlock; v.next++ {
		if _, err := v.w.Write(zeroBlock); err != nil {
			return err
		}
	}
	return nil
}

func (v *vhdWriter) block(index int64, data []byte) error {
	if index < v.next || (index+1)*openami.BlockSize > v.size {
		return fmt.Errorf("exports: block %d out of order or past the disk's end", index)
	}
	if b := index / perVHDBlock; b != v.cur {
		if err := v.finish(); err != nil {
			return err
		}
		if _, err := v.w.Write(bitmapAllSet); err != nil {
			return err
		}
		v.cur, v.next = b, b*perVHDBlock
	}
	for ; v.next < index; v.next++ {
		if _, err := v.w.Write(zeroBlock); err != nil {
			return err
		}
	}
	v.next = index + 1
	_, err := v.w.Write(data)
	return err
}

func (v *vhdWriter) close() error {
	if err := v.finish(); err != nil {
		return err
	}
	_, err := v.w.Write(v.footer)
	return err
}

// vhdEpoch is the origin of VHD time stamps.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// vhdChecksum is the specification's checksum of a footer or header: the
// ones' complement of the sum of its bytes, its checksum field zero.
func vhdChecksum(b []byte) uint32 {
	var sum uint32
	for _, c := range b {
		sum += uint32(c)
	}
	return ^sum
}

// vhdFooter returns the hard disk footer of a dynamic VHD of size bytes,
// its dynamic disk header at vhdHeaderAt. The creator application is
// "win " (as Hyper-V writes), which tells readers such as qemu to take
// the size from the footer, not from the rounded CHS geometry.
func vhdFooter(size int64, now time.Time) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)            // features: reserved bit always set
	be.PutUint32(f[12:], 0x00010000)  // file format version 1.0
	be.PutUint64(f[16:], vhdHeaderAt) // data offset: the dynamic disk header
	be.PutUint32(f[24:], uint32(now.Sub(vhdEpoch)/time.Second))
	copy(f[28:], "win ")
	be.PutUint32(f[32:], 0x000a0000)
	copy(f[36:], "Wi2k")
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := chs(size / 512)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 3) // disk type: dynamic
	var id [16]byte
	binary.BigEndian.PutUint64(id[:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint64(id[8:], uint64(size))
	copy(f[68:], id[:])
	be.PutUint32(f[64:], vhdChecksum(f))
	return f
}

// vhdHeader returns the dynamic disk header of a VHD of entries 2 MiB
// blocks, its block allocation table at vhdTableAt, with no parent.
func vhdHeader(entries int64) []byte {
	h := make([]byte, 1024)
	be := binary.BigEndian
	copy(h[0:], "cxsparse")
	be.PutUint64(h[8:], ^uint64(0)) // data offset: unused
	be.PutUint64(h[16:], vhdTableAt)
	be.PutUint32(h[24:], 0x00010000) // header version 1.0
	be.PutUint32(h[28:], uint32(entries))
	be.PutUint32(h[32:], vhdBlockSize)
	be.PutUint32(h[36:], vhdChecksum(h))
	return h
}

// chs is the VHD specification's CHS geometry of a disk of sectors
// sectors (its appendix's algorithm).
func chs(sectors int64) (cylinders uint16, heads, perTrack uint8) {
	if sectors > 65535*16*255 {
		sectors = 65535 * 16 * 255
	}
	var spt, hds, cth int64
	if sectors >= 65535*16*63 {
		spt, hds = 255, 16
		cth = sectors / spt
	} else {
		spt = 17
		cth = sectors / spt
		hds = (cth + 1023) / 1024
		if hds < 4 {
			hds = 4
		}
		if cth >= hds*1024 || hds > 16 {
			spt, hds = 31, 16
			cth = sectors / spt
		}
		if cth >= hds*1024 {
			spt, hds = 63, 16
			cth = sectors / spt
		}
	}
	return uint16(cth / hds), uint8(hds), uint8(spt)
}
