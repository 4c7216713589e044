package vnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/openami/openami"
)

// dialTimeout bounds the host's connection attempt for a guest's
// connection, and the network's for an ingress one.
const dialTimeout = 10 * time.Second

// udpIdle is how long a UDP flow lives without a datagram either way.
const udpIdle = 60 * time.Second

// linkLocal is 169.254.0.0/16: of it, only the metadata service answers.
var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

// enter counts a goroutine that Close must wait for; false once the
// network is closed.
func (n *Network) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// addrOf converts a gVisor address.
func addrOf(a tcpip.Address) netip.Addr {
	if a.Len() != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4(a.As4())
}

// target decides where a guest's connection or flow to dst:port over
// proto goes on the host: an address to dial, or "" to refuse it.
func (n *Network) target(proto string, src, dst netip.Addr, port uint16) string {
	if src != n.private {
		return "" // a source the guest was not given (EC2's source check)
	}
	switch {
	case dst == n.resolver:
		if port == 53 {
			return n.cfg.Resolver
		}
		return ""
	case dst == n.gateway:
		if n.cfg.HostLoopback.IsValid() && n.egressAllowed(proto, dst, port) {
			return netip.AddrPortFrom(n.cfg.HostLoopback, port).String()
		}
		return ""
	case n.vpc.Contains(dst), linkLocal.Contains(dst), !dst.IsGlobalUnicast() && !dst.IsPrivate() && !dst.IsLoopback():
		return ""
	case dst.IsLoopback():
		return "" // the guest's own loopback never reaches us; refuse the odd packet that does
	}
	if n.egressAllowed(proto, dst, port) {
		return netip.AddrPortFrom(dst, port).String()
	}
	return ""
}

// forwardTCP handles a guest's TCP connection request (a SYN to any
// address): the metadata service in process, or a host connection when
// allowed; a reset otherwise.
func (n *Network) forwardTCP(r *tcp.ForwarderRequest) {
	if !n.enter() {
		r.Complete(true)
		return
	}
	defer n.wg.Done()
	id := r.ID()
	src, dst := addrOf(id.RemoteAddress), addrOf(id.LocalAddress)
	if dst == MetadataAddr {
		if id.LocalPort != 80 || src != n.private {
			r.Complete(true)
			return
		}
		c := n.acceptTCP(r)
		if c == nil {
			return
		}
		if n.track(c) {
			// The http.Server owns the connection from here; Close
			// closes it through the tracked set as well.
			n.imdsLn.offer(&untrackOnClose{Conn: c, n: n})
		}
		return
	}
	to := n.target(openami.ProtocolTCP, src, dst, id.LocalPort)
	if to == "" {
		r.Complete(true)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	host, err := (&net.Dialer{}).DialContext(ctx, "tcp4", to)
	cancel()
	if err != nil {
		r.Complete(true)
		return
	}
	guest := n.acceptTCP(r)
	if guest == nil {
		host.Close()
		return
	}
	n.splice(guest, host)
}

// acceptTCP completes a guest's handshake and returns the connection, or
// nil (the request is completed either way).
func (n *Network) acceptTCP(r *tcp.ForwarderRequest) *gonet.TCPConn {
	var wq waiter.Queue
	ep, err := r.CreateEndpoint(&wq)
	if err != nil {
		r.Complete(true)
		return nil
	}
	r.Complete(false)
	ep.SocketOptions().SetKeepAlive(true)
	return gonet.NewTCPConn(&wq, ep)
}

// untrackOnClose drops a connection from the tracked set when its user
// closes it.
type untrackOnClose struct {
	net.Conn
	n    *Network
	done atomic.Bool
}

func (c *untrackOnClose) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.n.untrack(c.Conn)
	}
	return nil
}

// halfCloser is a connection whose sending side closes alone.
type halfCloser interface {
	CloseWrite() error
}

// splice copies a and b into each other until both directions end (each
// end's EOF is passed on as a half-close), then closes both. It runs on
// the caller's goroutine and one more.
func (n *Network) splice(a, b net.Conn) {
	if !n.track(a) {
		b.Close()
		return
	}
	if !n.track(b) {
		n.untrack(a)
		return
	}
	one := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if hc, ok := dst.(halfCloser); ok {
			hc.CloseWrite()
		} else {
			dst.Close()
		}
	}
	done := make(chan struct{})
	go func() {
		one(a, b)
		close(done)
	}()
	one(b, a)
	<-done
	n.untrack(a)
	n.untrack(b)
}

// forwardUDP handles a guest's first datagram of a flow (a source and a
// destination it has not sent from and to lately): to the host's
// resolver for the VPC's DNS, or from a host socket of its own when
// allowed; dropped otherwise.
func (n *Network) forwardUDP(r *udp.ForwarderRequest) {
	id := r.ID()
	src, dst := addrOf(id.RemoteAddress), addrOf(id.LocalAddress)
	to := n.target(openami.ProtocolUDP, src, dst, id.LocalPort)
	if to == "" || !n.enter() {
		return
	}
	var wq waiter.Queue
	ep, err := r.CreateEndpoint(&wq)
	if err != nil {
		n.wg.Done()
		return
	}
	guest := gonet.NewUDPConn(&wq, ep)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
		host, err := (&net.Dialer{}).DialContext(ctx, "udp4", to)
		cancel()
		if err != nil {
			guest.Close()
			return
		}
		n.relayUDP(guest, host)
	}()
}

// relayUDP passes datagrams between the guest's flow and the host's
// socket until neither has sent one for udpIdle, or the network closes.
func (n *Network) relayUDP(guest, host net.Conn) {
	if !n.track(guest) {
		host.Close()
		return
	}
	if !n.track(host) {
		n.untrack(guest)
		return
	}
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	one := func(dst, src net.Conn) {
		buf := make([]byte, 65535)
		for {
			src.SetReadDeadline(time.Now().Add(udpIdle))
			k, err := src.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < udpIdle {
					continue
				}
				break
			}
			last.Store(time.Now().UnixNano())
			if _, err := dst.Write(buf[:k]); err != nil {
				break
			}
		}
		// Either side's end is the flow's.
		guest.Close()
		host.Close()
	}
	done := make(chan struct{})
	go func() {
		one(guest, host)
		close(done)
	}()
	one(host, guest)
	<-done
	n.untrack(guest)
	n.untrack(host)
}

// ingressPorts returns the TCP ports to listen on for a firewall: those
// an ingress rule allows from some address outside the VPC (a rule that
// names only addresses of the VPC, such as the default group's rule for
// its own members, admits no client of the host), the lowest
// MaxListeners of them.
func (n *Network) ingressPorts(fw openami.Firewall) map[int]bool {
	var allowed [65536]bool
	for _, r := range fw.Ingress {
		if r.Protocol != openami.ProtocolTCP && r.Protocol != openami.ProtocolAll {
			continue
		}
		outside := false
		for _, p := range r.Prefixes {
			if !p.Addr().Is4() {
				continue
			}
			if !(p.Bits() >= n.vpc.Bits() && n.vpc.Contains(p.Addr())) {
				outside = true
				break
			}
		}
		if !outside {
			continue
		}
		from, to := r.FromPort, r.ToPort
		if r.Protocol == openami.ProtocolAll || from == -1 {
			from, to = 1, 65535
		}
		for p := max(from, 1); p <= min(to, 65535); p++ {
			allowed[p] = true
		}
	}
	out := map[int]bool{}
	for p := 1; p < len(allowed) && len(out) < MaxListeners; p++ {
		if allowed[p] {
			out[p] = true
		}
	}
	return out
}

// serveIngress accepts the host's connections to PUBLIC_IP:port and
// makes each again to PRIVATE_IP:port from the gateway, if the firewall
// allows the client's address now (it is checked at every accept: a
// rule may have narrowed). It returns when the listener closes.
func (n *Network) serveIngress(ln net.Listener, port int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		client := netip.Addr{}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			client = ta.AddrPort().Addr().Unmap()
		}
		if !n.fw.Load().AllowsIn(openami.ProtocolTCP, port, client) {
			c.Close()
			continue
		}
		if !n.enter() {
			c.Close()
			return
		}
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
			guest, err := gonet.DialContextTCP(ctx, n.stack,
				tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(n.private.As4()), Port: uint16(port)}, ipv4.ProtocolNumber)
			cancel()
			if err != nil {
				c.Close()
				return
			}
			n.splice(c, guest)
		}()
	}
}
