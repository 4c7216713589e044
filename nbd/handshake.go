package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// handshakeTimeout bounds the whole negotiation, so that a client that
// connects and stalls (or haggles forever) does not hold a connection.
const handshakeTimeout = 30 * time.Second

// errOptionTooBig reports an option whose data was too long to keep but
// short enough to have been skipped, so the client can be answered.
var errOptionTooBig = errors.New("nbd: option data too long")

// handshake runs the fixed newstyle negotiation. It returns the export the
// client chose with NBD_OPT_GO or NBD_OPT_EXPORT_NAME, or nil and why the
// connection must end (nil after NBD_OPT_ABORT).
func (c *conn) handshake() (Export, error) {
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})

	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:], nbdMagic)
	binary.BigEndian.PutUint64(hello[8:], optMagic)
	binary.BigEndian.PutUint16(hello[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.nc.Write(hello[:]); err != nil {
		return nil, err
	}
	var cflags [4]byte
	if _, err := io.ReadFull(c.br, cflags[:]); err != nil {
		return nil, err
	}
	flags := binary.BigEndian.Uint32(cflags[:])
	// Clients that do not set NBD_FLAG_C_FIXED_NEWSTYLE are served anyway:
	// they only send NBD_OPT_EXPORT_NAME, which is the same in both styles.
	if flags&^(flagCFixedNewstyle|flagCNoZeroes) != 0 {
		return nil, fmt.Errorf("nbd: unknown client flags %#x", flags)
	}
	c.noZeroes = flags&flagCNoZeroes != 0

	buf := make([]byte, maxOptionLen)
	for {
		opt, data, err := c.readOption(buf)
		if errors.Is(err, errOptionTooBig) && opt != optExportName {
			if err := c.optReply(opt, repErrTooBig, "option too long"); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		switch opt {
		case optExportName:
			return c.exportName(data)
		case optAbort:
			// The client may hang up without reading the ack: ignore errors.
			c.optReply(opt, repAck, "")
			return nil, nil
		case optList:
			// Export names are volume ids: listing them would reveal them.
			err = c.optReply(opt, repErrPolicy, "listing exports is not allowed")
		case optInfo, optGo:
			var e Export
			if e, err = c.infoGo(opt, data); e != nil {
				return e, nil
			}
		default:
			// Including NBD_OPT_STRUCTURED_REPLY: simple replies only.
			err = c.optReply(opt, repErrUnsup, "")
		}
		if err != nil {
			return nil, err
		}
	}
}

// readOption reads one option into buf. Data longer than buf is skipped and
// reported as errOptionTooBig, unless it is so long that skipping it is not
// worth the bandwidth, which ends the connection.
func (c *conn) readOption(buf []byte) (opt uint32, data []byte, err error) {
	var h [optHeaderLen]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	if m := binary.BigEndian.Uint64(h[0:]); m != optMagic {
		return 0, nil, fmt.Errorf("nbd: bad option magic %#x", m)
	}
	opt = binary.BigEndian.Uint32(h[8:])
	n := binary.BigEndian.Uint32(h[12:])
	switch {
	case n > maxOptionSkip:
		return opt, nil, fmt.Errorf("nbd: option %d has %d bytes of data", opt, n)
	case n > uint32(len(buf)):
		if _, err := c.br.Discard(int(n)); err != nil {
			return opt, nil, err
		}
		return opt, nil, errOptionTooBig
	}
	data = buf[:n]
	_, err = io.ReadFull(c.br, data)
	return opt, data, err
}

// optReply sends one option reply carrying msg, a string for humans (the
// spec allows one with any error reply).
func (c *conn) optReply(opt, typ uint32, msg string) error {
	return c.optReplyData(opt, typ, []byte(msg))
}

func (c *conn) optReplyData(opt, typ uint32, data []byte) error {
	b := make([]byte, 20, 20+len(data))
	binary.BigEndian.PutUint64(b[0:], repMagic)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(data)))
	_, err := c.nc.Write(append(b, data...))
	return err
}

// exportName handles NBD_OPT_EXPORT_NAME, which cannot report errors: an
// unknown export ends the connection.
func (c *conn) exportName(name []byte) (Export, error) {
	if len(name) > maxNameLen {
		return nil, fmt.Errorf("nbd: export name of %d bytes", len(name))
	}
	e, err := c.open(string(name))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 10, 10+zeroPaddingLen)
	binary.BigEndian.PutUint64(b[0:], uint64(e.Size()))
	binary.BigEndian.PutUint16(b[8:], transmissionFlags(e))
	if !c.noZeroes {
		b = b[:10+zeroPaddingLen]
	}
	if _, err := c.nc.Write(b); err != nil {
		c.closeExport(e)
		return nil, err
	}
	c.log = c.log.With("export", string(name))
	return e, nil
}

// infoGo handles NBD_OPT_INFO and NBD_OPT_GO. It returns the export to
// serve after a successful GO, and nil otherwise; the error is only set if
// the reply could not be sent.
func (c *conn) infoGo(opt uint32, data []byte) (Export, error) {
	name, ok := parseInfoRequest(data)
	if !ok {
		return nil, c.optReply(opt, repErrInvalid, "malformed request")
	}
	e, err := c.open(name)
	if err != nil {
		return nil, c.optReply(opt, repErrUnknown, "unknown export")
	}
	// The block size is sent whether or not the client asked for it (the
	// spec allows that), and every other information request is ignored.
	var export [12]byte
	binary.BigEndian.PutUint16(export[0:], infoExport)
	binary.BigEndian.PutUint64(export[2:], uint64(e.Size()))
	binary.BigEndian.PutUint16(export[10:], transmissionFlags(e))
	var sizes [14]byte
	binary.BigEndian.PutUint16(sizes[0:], infoBlockSize)
	binary.BigEndian.PutUint32(sizes[2:], minBlockSize)
	binary.BigEndian.PutUint32(sizes[6:], prefBlockSize)
	binary.BigEndian.PutUint32(sizes[10:], maxBlockSize)
	err = c.optReplyData(opt, repInfo, export[:])
	if err == nil {
		err = c.optReplyData(opt, repInfo, sizes[:])
	}
	if err != nil || opt == optInfo {
		// Closed before the final reply, so that a client that goes on
		// to NBD_OPT_GO finds the export released.
		c.closeExport(e)
		if err != nil {
			return nil, err
		}
		return nil, c.optReply(opt, repAck, "")
	}
	if err := c.optReply(opt, repAck, ""); err != nil {
		c.closeExport(e)
		return nil, err
	}
	c.log = c.log.With("export", name)
	return e, nil
}

// parseInfoRequest returns the export name of an NBD_OPT_INFO or NBD_OPT_GO
// request: a 32-bit name length, the name, a 16-bit count of information
// requests and that many 16-bit requests, nothing more.
func parseInfoRequest(data []byte) (string, bool) {
	if len(data) < 6 {
		return "", false
	}
	n := binary.BigEndian.Uint32(data)
	if n > maxNameLen || int(n) > len(data)-6 {
		return "", false
	}
	name, rest := data[4:4+n], data[4+n:]
	infos := binary.BigEndian.Uint16(rest)
	if len(rest) != 2+2*int(infos) {
		return "", false
	}
	return string(name), true
}

// open resolves name to an export the server can serve. Failures are
// logged here because the client is only told the export is unknown.
func (c *conn) open(name string) (Export, error) {
	e, err := c.srv.resolve(c.ctx, name)
	switch {
	case err != nil:
	case e == nil:
		err = errors.New("resolver returned no export")
	case e.Size() < 0:
		c.closeExport(e)
		err = fmt.Errorf("negative size %d", e.Size())
	}
	if err != nil {
		c.log.Warn("nbd: export not opened", "export", name, "err", err)
		return nil, fmt.Errorf("nbd: export %q: %w", name, err)
	}
	return e, nil
}

// transmissionFlags returns what the server advertises for e. Writes are
// advertised even on read-only exports (and refused with NBD_EPERM): the
// READ_ONLY flag already tells clients not to send them.
func transmissionFlags(e Export) uint16 {
	f := uint16(flagHasFlags | flagSendFlush | flagSendFUA | flagSendTrim | flagSendWriteZeroes)
	if e.ReadOnly() {
		f |= flagReadOnly
	}
	return f
}
