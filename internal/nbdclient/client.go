// Package nbdclient is a minimal client of the Network Block Device
// protocol, for reading an export. openami reads the disks it imports
// through it, from a read-only qemu-nbd export of the uploaded file
// (rules/imports), so that qemu decodes the format and nothing is
// written to a temporary raw file. (The server, package nbd, is a layer
// of its own that the rules do not import.)
package nbdclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// The protocol's numbers (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
const (
	nbdMagic           = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic           = 0x49484156454f5054 // "IHAVEOPT"
	requestMagic       = 0x25609513
	simpleReplyMagic   = 0x67446698
	flagFixedNewstyle  = 1 << 0
	flagNoZeroes       = 1 << 1
	flagCFixedNewstyle = 1 << 0
	flagCNoZeroes      = 1 << 1
	optExportName      = 1
	cmdRead            = 0
	cmdDisc            = 2
	requestLen         = 28
	replyLen           = 16
	optHeaderLen       = 16
	zeroPaddingLen     = 124
	maxBlockSize       = 32 << 20 // the spec's interoperable maximum request
)

// Client reads an export: the fixed newstyle handshake with
// NBD_OPT_EXPORT_NAME, then NBD_CMD_READ requests with simple replies,
// one at a time. It neither writes nor negotiates structured replies.
// Its methods are safe for concurrent use (requests are serialized).
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	size   int64
	flags  uint16
	handle uint64
	hdr    [requestLen]byte
	rep    [replyLen]byte
}

// NewClient negotiates export name on conn and returns a client of it.
// The client owns conn from then on (Close closes it).
func NewClient(conn net.Conn, name string) (*Client, error) {
	var hello [18]byte // NBDMAGIC, IHAVEOPT, handshake flags
	if _, err := io.ReadFull(conn, hello[:]); err != nil {
		return nil, fmt.Errorf("nbd: handshake: %w", err)
	}
	if binary.BigEndian.Uint64(hello[0:]) != nbdMagic || binary.BigEndian.Uint64(hello[8:]) != optMagic {
		return nil, errors.New("nbd: handshake: not a newstyle NBD server")
	}
	hflags := binary.BigEndian.Uint16(hello[16:])
	if hflags&flagFixedNewstyle == 0 {
		return nil, errors.New("nbd: handshake: the server is not fixed newstyle")
	}
	cflags := uint32(flagCFixedNewstyle)
	noZeroes := hflags&flagNoZeroes != 0
	if noZeroes {
		cflags |= flagCNoZeroes
	}
	msg := make([]byte, 4+optHeaderLen+len(name))
	binary.BigEndian.PutUint32(msg[0:], cflags)
	binary.BigEndian.PutUint64(msg[4:], optMagic)
	binary.BigEndian.PutUint32(msg[12:], optExportName)
	binary.BigEndian.PutUint32(msg[16:], uint32(len(name)))
	copy(msg[20:], name)
	if _, err := conn.Write(msg); err != nil {
		return nil, fmt.Errorf("nbd: handshake: %w", err)
	}
	n := 10
	if !noZeroes {
		n += zeroPaddingLen
	}
	info := make([]byte, n) // export size, transmission flags[, zeroes]
	if _, err := io.ReadFull(conn, info); err != nil {
		return nil, fmt.Errorf("nbd: export %q refused: %w", name, err)
	}
	return &Client{conn: conn, size: int64(binary.BigEndian.Uint64(info)), flags: binary.BigEndian.Uint16(info[8:])}, nil
}

// Size is the export's size in bytes.
func (c *Client) Size() int64 { return c.size }

// ReadAt reads len(p) bytes at off, in requests of at most 32 MiB. A read
// past the export's end is io.EOF after what could be read; a server's
// error is an error naming its errno.
func (c *Client) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := 0
	for done < len(p) {
		if off+int64(done) >= c.size {
			return done, io.EOF
		}
		n := min(len(p)-done, maxBlockSize, int(c.size-off-int64(done)))
		if err := c.read(p[done:done+n], off+int64(done)); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// read is one NBD_CMD_READ of len(p) bytes at off.
func (c *Client) read(p []byte, off int64) error {
	c.handle++
	h := c.hdr[:]
	binary.BigEndian.PutUint32(h[0:], requestMagic)
	binary.BigEndian.PutUint16(h[4:], 0)
	binary.BigEndian.PutUint16(h[6:], cmdRead)
	binary.BigEndian.PutUint64(h[8:], c.handle)
	binary.BigEndian.PutUint64(h[16:], uint64(off))
	binary.BigEndian.PutUint32(h[24:], uint32(len(p)))
	if _, err := c.conn.Write(h); err != nil {
		return fmt.Errorf("nbd: read at %d: %w", off, err)
	}
	if _, err := io.ReadFull(c.conn, c.rep[:]); err != nil {
		return fmt.Errorf("nbd: read at %d: %w", off, err)
	}
	switch {
	case binary.BigEndian.Uint32(c.rep[0:]) != simpleReplyMagic:
		return fmt.Errorf("nbd: read at %d: not a simple reply", off)
	case binary.BigEndian.Uint64(c.rep[8:]) != c.handle:
		return fmt.Errorf("nbd: read at %d: the reply is for another request", off)
	}
	if e := binary.BigEndian.Uint32(c.rep[4:]); e != 0 {
		return fmt.Errorf("nbd: read at %d: the server failed with errno %d", off, e)
	}
	if _, err := io.ReadFull(c.conn, p); err != nil {
		return fmt.Errorf("nbd: read at %d: %w", off, err)
	}
	return nil
}

// Close ends the session (NBD_CMD_DISC) and closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var h [requestLen]byte
	binary.BigEndian.PutUint32(h[0:], requestMagic)
	binary.BigEndian.PutUint16(h[6:], cmdDisc)
	c.conn.Write(h[:]) // best effort: the server may be gone
	return c.conn.Close()
}
