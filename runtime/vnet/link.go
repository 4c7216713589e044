package vnet

import (
	"bufio"
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
	fw.buf = appendFrame(fw.buf[:0], parts...)
	_, err := fw.w.Write(fw.buf)
	return err
}

// appendFrame appends a frame made of the concatenation of parts, with
// its length, to b.
func appendFrame(b []byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// streamEndpoint is the link endpoint of a stack on a framed stream: a
// channel endpoint for what comes in (InjectInbound), whose own
// outbound queue is bypassed: the stack's packets go, as frames, to a
// queue of their own that blocks the sender when full, so that a slow
// reader holds the sender back (TCP's flow control) instead of frames
// being dropped (which TCP would take for loss, and wait out). A pump
// writes what is queued, a burst in one write.
type streamEndpoint struct {
	*channel.Endpoint
	q    chan []byte
	done chan struct{} // closed when the pump has stopped
}

// WritePackets implements stack.LinkEndpoint.
func (e *streamEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var b []byte
	n := 0
	for _, pkt := range pkts.AsSlice() {
		b = appendFrame(b, pkt.AsSlices()...)
		n++
	}
	select {
	case e.q <- b:
		return n, nil
	case <-e.done:
		return 0, &tcpip.ErrClosedForSend{}
	}
}

// pump writes the queued frames to out until a write fails or stop is
// closed.
func (e *streamEndpoint) pump(out *frameWriter, stop <-chan struct{}) {
	defer close(e.done)
	for {
		var b []byte
		select {
		case b = <-e.q:
		case <-stop:
			return
		}
		out.mu.Lock()
		out.buf = append(out.buf[:0], b...)
	gather:
		for len(out.buf) < 64<<10 {
			select {
			case b = <-e.q:
				out.buf = append(out.buf, b...)
			default:
				break gather
			}
		}
		_, err := out.w.Write(out.buf)
		out.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// link joins a stack's NIC to a framed stream: the stream endpoint under
// an Ethernet endpoint (gVisor adds and strips the headers and answers
// ARP), and a pump each way. intercept, if set, sees every inbound frame
// first and keeps it from the stack by returning true (the DHCP server).
type link struct {
	ch        *channel.Endpoint
	se        *streamEndpoint
	ep        stack.LinkEndpoint
	rw        io.ReadWriter
	out       *frameWriter
	intercept func(frame []byte) bool
}

func newLink(rw io.ReadWriter, mac tcpip.LinkAddress) *link {
	ch := channel.New(1, linkMTU+header.EthernetMinimumSize, mac)
	se := &streamEndpoint{Endpoint: ch, q: make(chan []byte, 256), done: make(chan struct{})}
	return &link{ch: ch, se: se, ep: ethernet.New(se), rw: rw, out: &frameWriter{w: rw}}
}

// run pumps frames both ways until the stream ends, and returns why it
// stopped (nil when ctx was done or the stream ended cleanly). Closing
// the stream is what ends it.
func (l *link) run(ctx context.Context) error {
	stop := make(chan struct{})
	go l.se.pump(l.out, stop)
	defer func() {
		close(stop)
		<-l.se.done
	}()
	in := bufio.NewReaderSize(l.rw, 256<<10)
	var buf []byte
	var err error
	for {
		var frame []byte
		frame, err = readFrame(in, buf[:0])
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
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
