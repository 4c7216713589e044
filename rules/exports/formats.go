package exports

import (
	"bytes"
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
// whole number of blocks) onto w; stored are the indices of the blocks
// that will be given, in increasing order (a dynamic VHD's block table
// comes before the data).
func newDiskWriter(format string, w io.Writer, size int64, now time.Time, stored []int64) (diskWriter, error) {
	switch format {
	case openami.DiskFormatRAW:
		return &rawWriter{w: w, size: size}, nil
	case openami.DiskFormatVHD:
		return newVHDWriter(w, size, now, stored)
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

// isZero reports whether b (at most a block) is all zeros.
func isZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }
