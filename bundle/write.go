package bundle

import (
	"io"
	"sync"
)

// The writer stage holds writeChunk-byte buffers, writeAhead of them
// queued: (writeAhead+2) × writeChunk = 6 MiB with the one being filled
// and the one being written.
const (
	writeChunk = 1 << 20
	writeAhead = 4
)

// asyncWriter writes to w from its own goroutine, in order, so that
// writing the image (a file's writes, the page cache's copies) overlaps
// with hashing the tar stream. A write error is returned by a later Write
// and by Close; after one, what is queued is dropped.
type asyncWriter struct {
	w    io.Writer
	ch   chan []byte
	free chan []byte
	done chan struct{}
	buf  []byte // being filled by Write

	mu  sync.Mutex
	err error
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{
		w:    w,
		ch:   make(chan []byte, writeAhead),
		free: make(chan []byte, writeAhead+2), // room for every buffer, a.buf too
		done: make(chan struct{}),
		buf:  make([]byte, 0, writeChunk),
	}
	for range writeAhead + 1 {
		a.free <- make([]byte, 0, writeChunk)
	}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.ch {
		if a.failed() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(a.buf[len(a.buf):cap(a.buf)], p)
		a.buf = a.buf[:len(a.buf)+k]
		p = p[k:]
		if len(a.buf) == cap(a.buf) {
			a.ch <- a.buf
			a.buf = <-a.free
		}
	}
	return n, nil
}

// Close writes what is buffered, waits for every write to end and
// returns the first write error. It must be called once, before dst is
// used.
func (a *asyncWriter) Close() error {
	if len(a.buf) > 0 {
		a.ch <- a.buf
		a.buf = nil
	}
	close(a.ch)
	<-a.done
	return a.failed()
}
