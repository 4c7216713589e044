package vnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The wire between QEMU and the stack is a byte stream of Ethernet
// frames, each preceded by its length as 4 bytes, big-endian: the
// framing of QEMU's `-netdev stream` (and of the older `-netdev socket`
// over a stream socket).

// maxFrame is the largest frame accepted from the stream: an Ethernet
// frame of MTU 1500 with a VLAN tag, and some slack. A length above it
// means the stream is corrupt (or not QEMU's), and ends the link.
const maxFrame = 1 << 16

// linkMTU is the link's MTU: the IP packets inside the frames.
const linkMTU = 1500

// readFrame reads one frame from r into buf (grown as needed).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes: the stream is not framed Ethernet", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// frameWriter writes frames to a stream, one at a time.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// write writes one frame made of the concatenation of parts.
func (fw *frameWriter) write(parts ...[]byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	fw.buf = binary.BigEndian.AppendUint32(fw.buf[:0], uint32(n))
	for _, p := range parts {
		fw.buf = append(fw.buf, p...)
	}
	_, err := fw.w.Write(fw.buf)
	return err
}

// link joins a stack's NIC to a framed stream: a channel endpoint under
// an Ethernet endpoint (gVisor adds and strips the headers and answers
// ARP), and two pumps, frames in and frames out. intercept, if set, sees
// every inbound frame first and keeps it from the stack by returning
// true (the DHCP server).
type link struct {
	ch        *channel.Endpoint
	ep        stack.LinkEndpoint
	rw        io.ReadWriter
	out       *frameWriter
	intercept func(frame []byte) bool
}

func newLink(rw io.ReadWriter, mac tcpip.LinkAddress) *link {
	ch := channel.New(1024, linkMTU+header.EthernetMinimumSize, mac)
	return &link{ch: ch, ep: ethernet.New(ch), rw: rw, out: &frameWriter{w: rw}}
}

// run pumps frames both ways until the stream ends or ctx is done, and
// returns why it stopped (nil when ctx ended it).
func (l *link) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outDone := make(chan error, 1)
	go func() {
		for {
			pkt := l.ch.ReadContext(ctx)
			if pkt == nil {
				outDone <- nil
				return
			}
			err := l.out.write(pkt.AsSlices()...)
			pkt.DecRef()
			if err != nil {
				outDone <- err
				return
			}
		}
	}()
	var buf []byte
	var err error
	for {
		var frame []byte
		frame, err = readFrame(l.rw, buf[:0])
		if err != nil {
			break
		}
		buf = frame
		if len(frame) < header.EthernetMinimumSize {
			continue
		}
		if l.intercept != nil && l.intercept(frame) {
			continue
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		l.ch.InjectInbound(header.Ethernet(frame).Type(), pkt)
		pkt.DecRef()
	}
	cancel()
	<-outDone
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
