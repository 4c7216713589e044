package nbd

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// request is one transmission request, passed by value from the reading
// goroutine to a worker.
type request struct {
	typ, flags uint16
	handle     uint64
	off        uint64
	length     uint32
	buf        *[]byte // reads and writes of length > 0: replyLen bytes of headroom, then the data
}

// data returns the request's data buffer.
func (r *request) data() []byte {
	return (*r.buf)[replyLen : replyLen+int(r.length)]
}

// isWrite reports whether a command modifies the export, which is what a
// FLUSH must wait for.
func isWrite(typ uint16) bool {
	return typ == cmdWrite || typ == cmdTrim || typ == cmdWriteZeroes
}

// transmit serves requests until the client disconnects: one goroutine
// reads requests in order, maxInFlight workers run them against the export
// and reply in whatever order they finish. A fixed set of workers, rather
// than a goroutine per request, bounds memory and does not allocate.
func (c *conn) transmit() error {
	reqs := make(chan request)
	var workers sync.WaitGroup
	for range maxInFlight {
		workers.Go(func() {
			for r := range reqs {
				c.serve(&r)
			}
		})
	}
	err := c.receive(reqs)
	if err != nil {
		// The client is gone or broke the protocol, so nobody will read
		// the replies: stop the work in flight instead of finishing it.
		c.cancel()
	}
	// After NBD_CMD_DISC this lets every request in flight complete and
	// reply, as the spec requires.
	close(reqs)
	workers.Wait()
	return err
}

// receive reads requests and hands the valid ones to the workers, answering
// the invalid ones itself. It returns nil after NBD_CMD_DISC.
func (c *conn) receive(reqs chan<- request) error {
	for {
		r, err := c.readRequest()
		if err != nil {
			return err
		}
		if r.typ == cmdDisc {
			return nil
		}
		if errno := c.check(&r); errno != 0 {
			if err := c.refuse(&r, errno); err != nil {
				return err
			}
			continue
		}
		if r.length > 0 && (r.typ == cmdRead || r.typ == cmdWrite) {
			r.buf = getBuf(int(r.length))
		}
		if r.typ == cmdWrite && r.buf != nil {
			if _, err := io.ReadFull(c.br, r.data()); err != nil {
				putBuf(r.buf)
				return err
			}
		}
		switch {
		case r.typ == cmdFlush:
			// The spec only asks a flush to cover writes already replied
			// to, but waiting for every write received before it is
			// simpler to reason about and protects clients that do not
			// wait for their replies. Only this goroutine calls Add, so
			// Wait is not racing with it.
			c.writes.Wait()
		case isWrite(r.typ):
			c.writes.Add(1)
		}
		reqs <- r
	}
}

// readRequest reads one request header.
func (c *conn) readRequest() (request, error) {
	h := c.reqHdr[:]
	if _, err := io.ReadFull(c.br, h); err != nil {
		return request{}, err
	}
	// A bad magic means the stream is out of sync: nothing after it can be
	// trusted, so the connection ends.
	if m := binary.BigEndian.Uint32(h[0:]); m != requestMagic {
		return request{}, fmt.Errorf("nbd: bad request magic %#x", m)
	}
	return request{
		flags:  binary.BigEndian.Uint16(h[4:]),
		typ:    binary.BigEndian.Uint16(h[6:]),
		handle: binary.BigEndian.Uint64(h[8:]),
		off:    binary.BigEndian.Uint64(h[16:]),
		length: binary.BigEndian.Uint32(h[24:]),
	}, nil
}

// check validates a request before it reaches the export and returns the
// error value to refuse it with, or 0.
func (c *conn) check(r *request) uint32 {
	allowed := uint16(cmdFlagFUA) // the spec makes FUA valid on every command
	switch r.typ {
	case cmdFlush:
		if r.flags&^allowed != 0 {
			return errnoInval
		}
		return 0
	case cmdWriteZeroes:
		allowed |= cmdFlagNoHole
	case cmdRead, cmdWrite, cmdTrim:
	default:
		return errnoInval
	}
	if r.flags&^allowed != 0 {
		return errnoInval
	}
	if r.typ != cmdRead && c.readOnly {
		return errnoPerm
	}
	// The spec exempts trims from the maximum block size (they carry no
	// data), and qemu sends trims of up to 2 GiB.
	if r.typ != cmdTrim && r.length > maxBlockSize {
		return errnoInval
	}
	if r.off > c.size || uint64(r.length) > c.size-r.off {
		// ENOSPC for writes past the end is what the spec asks for.
		if r.typ == cmdWrite || r.typ == cmdWriteZeroes {
			return errnoNoSpc
		}
		return errnoInval
	}
	return 0
}

// refuse answers a request that failed check. A write's payload is read
// and dropped first so that the next request can be read: it is at most
// 4 GiB, which costs the client bandwidth but the server no memory.
func (c *conn) refuse(r *request, errno uint32) error {
	c.log.Debug("nbd: request refused", "cmd", r.typ, "flags", r.flags,
		"offset", r.off, "length", r.length, "errno", errno)
	if r.typ == cmdWrite {
		if _, err := c.br.Discard(int(r.length)); err != nil {
			return err
		}
	}
	return c.reply(r.handle, errno, nil)
}

// serve runs one valid request against the export and replies. Reply
// errors are not returned: they close the connection, which the reading
// goroutine then notices.
func (c *conn) serve(r *request) {
	if r.buf != nil {
		defer putBuf(r.buf)
	}
	if isWrite(r.typ) {
		defer c.writes.Done()
	}
	if err := c.do(r); err != nil {
		errno := errnoFor(err)
		switch {
		case c.srv.ctx.Err() != nil:
			// What the spec asks for requests cut short by a shutdown
			// (if the reply makes it before the connection closes).
			errno = errnoShut
		case c.ctx.Err() == nil:
			c.log.Warn("nbd: export failed", "cmd", r.typ, "offset", r.off, "length", r.length, "err", err)
		}
		c.reply(r.handle, errno, nil)
		return
	}
	if r.typ == cmdRead && r.buf != nil {
		c.reply(r.handle, 0, (*r.buf)[:replyLen+int(r.length)])
		return
	}
	c.reply(r.handle, 0, nil)
}

// do calls the export for a valid request.
func (c *conn) do(r *request) error {
	ctx, e := c.ctx, c.export
	if r.typ == cmdFlush {
		return e.Flush(ctx)
	}
	off, n := int64(r.off), int64(r.length)
	if n == 0 {
		// The spec leaves empty requests unspecified; there is nothing
		// to read, write or zero, so succeed without bothering the export.
		return nil
	}
	var err error
	switch r.typ {
	case cmdRead:
		return e.ReadAt(ctx, r.data(), off) // FUA means nothing for a read
	case cmdWrite:
		err = e.WriteAt(ctx, r.data(), off)
	case cmdTrim:
		err = e.Trim(ctx, off, n)
	case cmdWriteZeroes:
		// NO_HOLE is accepted but not passed on: Export has no notion of
		// provisioning, and the data reads back as zeroes either way.
		err = e.WriteZeroes(ctx, off, n)
	}
	if err == nil && r.flags&cmdFlagFUA != 0 {
		err = e.Flush(ctx)
	}
	return err
}

// reply sends a simple reply. frame is nil, or a read's buffer whose first
// replyLen bytes are free for the header, so that header and data go out
// in one write. A failed write may have sent part of a reply, after which
// the client cannot parse the stream, so it closes the connection.
func (c *conn) reply(handle uint64, errno uint32, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if frame == nil {
		frame = c.repHdr[:]
	}
	binary.BigEndian.PutUint32(frame[0:], simpleReplyMagic)
	binary.BigEndian.PutUint32(frame[4:], errno)
	binary.BigEndian.PutUint64(frame[8:], handle)
	_, err := c.nc.Write(frame)
	if err != nil {
		c.nc.Close()
	}
	return err
}
