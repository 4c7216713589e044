package bundle

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// The fetcher reads ahead in chunks of fetchChunk bytes, at most
// fetchAhead of them queued: with the chunk being filled and the one being
// read, its memory is (fetchAhead+2) × fetchChunk = 10 MiB, whatever the
// part size.
const (
	fetchChunk = 1 << 20
	fetchAhead = 8
)

// chunk is a piece of part, in order, or the fetcher's error (err set, buf
// nil), after which it sends nothing more.
type chunk struct {
	part int // index into the parts
	buf  []byte
	err  error
}

// fetcher reads the parts one after the other in its own goroutine,
// hashing each as it reads, so that reading the parts (an object store's
// reads) and their SHA-1s overlap with decrypting and unpacking what came
// before. It is an io.Reader of the parts' bytes in order.
//
// Its checks are partsReader's: a part's SHA-1 is checked when it ends,
// and the part's bytes go downstream before that, in chunks, as they did
// from partsReader (holding a part whole until verified would cost a
// part's memory, up to MaxPartSize, per part read ahead). That is safe
// because nothing is trusted before the whole bundle is: Unbundle's
// caller throws dst away on any error (Bases.Fill publishes a base only
// when its fill returns nil), and the fetcher's digest error for a part
// reaches the reader before any byte of a later part does.
type fetcher struct {
	parts []Part
	ch    chan chunk
	free  chan []byte
	stop  chan struct{}
	done  chan struct{}
	total int64 // the goroutine's count; read once done is closed

	cur  chunk // the chunk being read: cur.buf[off:]
	off  int
	part int   // the part of the last chunk received; -1 before the first
	err  error // the first error returned
	eof  bool  // ch is closed
}

// newFetcher starts reading the parts from open.
func newFetcher(ctx context.Context, parts []Part, open OpenPart) *fetcher {
	f := &fetcher{
		parts: parts,
		ch:    make(chan chunk, fetchAhead),
		free:  make(chan []byte, fetchAhead+2),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		part:  -1,
	}
	for range fetchAhead + 2 {
		f.free <- make([]byte, fetchChunk)
	}
	go f.run(ctx, open)
	return f
}

// run is the goroutine: every part in order, then ch closed.
func (f *fetcher) run(ctx context.Context, open OpenPart) {
	defer close(f.done)
	defer close(f.ch)
	h := sha1.New()
	for i, part := range f.parts {
		if err := ctx.Err(); err != nil {
			f.send(chunk{part: i, err: err})
			return
		}
		rc, err := open(part)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %v", ErrMissingPart, err)
			}
			f.send(chunk{part: i, err: &PartError{Part: part, Err: err}})
			return
		}
		h.Reset()
		err = f.readPart(i, rc, h)
		rc.Close()
		if err == nil {
			if sum := h.Sum(nil); !bytes.Equal(sum, part.Digest) {
				err = &PartError{Part: part, Err: fmt.Errorf("%w: SHA-1 %x, the manifest says %x", ErrDigest, sum, part.Digest)}
			}
		}
		if err != nil {
			if err != errStopped {
				f.send(chunk{part: i, err: err})
			}
			return
		}
	}
}

// errStopped is readPart's word that the reader stopped the fetcher.
var errStopped = errors.New("stopped")

// readPart sends part i's bytes from rc, hashing them into h.
func (f *fetcher) readPart(i int, rc io.Reader, h io.Writer) error {
	for {
		var buf []byte
		select {
		case buf = <-f.free:
		case <-f.stop:
			return errStopped
		}
		n, err := io.ReadFull(rc, buf)
		h.Write(buf[:n])
		f.total += int64(n)
		if n > 0 {
			if !f.send(chunk{part: i, buf: buf[:n]}) {
				return errStopped
			}
		} else {
			f.free <- buf
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return &PartError{Part: f.parts[i], Err: err}
		}
	}
}

// send queues c; false if the reader stopped the fetcher.
func (f *fetcher) send(c chunk) bool {
	select {
	case f.ch <- c:
		return true
	case <-f.stop:
		return false
	}
}

// next receives the next chunk into f.cur, recycling the one read; false
// when ch is closed.
func (f *fetcher) next() bool {
	if f.cur.buf != nil {
		f.free <- f.cur.buf[:cap(f.cur.buf)]
	}
	c, ok := <-f.ch
	f.cur, f.off = c, 0
	if !ok {
		f.eof = true
		return false
	}
	f.part = c.part
	return true
}

func (f *fetcher) Read(p []byte) (int, error) {
	for f.off == len(f.cur.buf) {
		if f.err != nil {
			return 0, f.err
		}
		if f.eof || !f.next() {
			return 0, io.EOF
		}
		if f.cur.err != nil {
			f.err = f.cur.err
			return 0, f.err
		}
	}
	n := copy(p, f.cur.buf[f.off:])
	f.off += n
	return n, nil
}

// finish returns the verdict on the part under way when the reader
// stopped reading: its digest or I/O error, if the fetcher finds one
// before the part's end, or the fetcher's first error returned (nil if
// none). Like partsReader's finish, it reads on only to that part's end.
func (f *fetcher) finish() error {
	if f.err != nil || f.part < 0 {
		return f.err
	}
	for !f.eof && f.next() {
		if f.cur.part != f.part {
			break // the part ended well
		}
		if f.cur.err != nil {
			f.err = f.cur.err
			break
		}
	}
	return f.err
}

// read returns how many bytes the parts held, once the reader has read
// them all (it waits for the goroutine to end).
func (f *fetcher) read() int64 {
	<-f.done
	return f.total
}

// close stops the goroutine and waits for it, so that no part is open
// after Unbundle returns.
func (f *fetcher) close() {
	close(f.stop)
	<-f.done
}
