package exports

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/openami/openami"
)

// diskWriter writes a disk of a known size in a file format, as a stream:
// blocks come in increasing index order, those never given are zeros, and
// nothing is ever sought back to. Each format holds O(1) blocks of memory
// (the VMDK writer also one grain table and the grain directory: 4 bytes
// per 32 MiB of disk).
type diskWriter interface {
	// block writes block index (openami.BlockSize bytes of data).
	block(index int64, data []byte) error
	// close writes the rest of the disk and the format's trailer.
	close() error
}

// newDiskWriter returns the writer of format for a disk of size bytes (a
// whole number of blocks) onto w.
func newDiskWriter(format string, w io.Writer, size int64, now time.Time) (diskWriter, error) {
	switch format {
	case openami.DiskFormatRAW:
		return &rawWriter{w: w, size: size}, nil
	case openami.DiskFormatVHD:
		return &vhdWriter{rawWriter: rawWriter{w: w, size: size}, now: now}, nil
	case openami.DiskFormatVMDK:
		return newVMDKWriter(w, size), nil
	}
	return nil, fmt.Errorf("exports: no writer for format %q", format)
}

// zeroBlock is a block of zeros that writers copy gaps from.
var zeroBlock = make([]byte, openami.BlockSize)

// rawWriter writes the disk's bytes: RAW.
type rawWriter struct {
	w    io.Writer
	size int64
	next int64 // the index of the next block to write
}

func (r *rawWriter) zerosUpTo(index int64) error {
	for ; r.next < index; r.next++ {
		if _, err := r.w.Write(zeroBlock); err != nil {
			return err
		}
	}
	return nil
}

func (r *rawWriter) block(index int64, data []byte) error {
	if index < r.next || (index+1)*openami.BlockSize > r.size {
		return fmt.Errorf("exports: block %d out of order or past the disk's end", index)
	}
	if err := r.zerosUpTo(index); err != nil {
		return err
	}
	r.next = index + 1
	_, err := r.w.Write(data)
	return err
}

func (r *rawWriter) close() error { return r.zerosUpTo(r.size / openami.BlockSize) }

// vhdWriter writes a fixed VHD (Microsoft's Virtual Hard Disk Image Format
// Specification 1.0): the disk's bytes and a 512-byte footer. Fixed, not
// dynamic, because it is what Azure and Hyper-V take as is and streams
// with no table ahead of the data.
type vhdWriter struct {
	rawWriter
	now time.Time
}

func (v *vhdWriter) close() error {
	if err := v.rawWriter.close(); err != nil {
		return err
	}
	_, err := v.w.Write(vhdFooter(v.size, v.now))
	return err
}

// vhdEpoch is the origin of VHD time stamps.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// vhdFooter returns the hard disk footer of a fixed VHD of size bytes.
// The creator application is "win " (as Hyper-V writes), which tells
// readers such as qemu to take the size from the footer, not from the
// rounded CHS geometry.
func vhdFooter(size int64, now time.Time) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit always set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none for a fixed disk
	be.PutUint32(f[24:], uint32(now.Sub(vhdEpoch)/time.Second))
	copy(f[28:], "win ")
	be.PutUint32(f[32:], 0x000a0000)
	copy(f[36:], "Wi2k")
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := chs(size / 512)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // fixed hard disk
	var id [16]byte
	binary.BigEndian.PutUint64(id[:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint64(id[8:], uint64(size))
	copy(f[68:], id[:])
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	be.PutUint32(f[64:], ^sum)
	return f
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

// isZero reports whether b (at most a block) is all zeros.
func isZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }
