// Package vnet is an instance's rootless network: a user-mode network
// per VM, built on gVisor's netstack, that plays the VPC's router for the
// guest. It replaces QEMU's libslirp, which cannot put the guest on its
// own subnet and still answer at 169.254.169.254.
//
// QEMU's NIC is joined to the network by a stream socket (QEMU's
// `-netdev stream`: each Ethernet frame preceded by its length, 4 bytes
// big-endian). Behind it, the network is:
//
//   - the subnet's gateway (its first address + 1): it answers ARP and
//     ICMP echo; only when Config.HostLoopback is set does it stand for
//     the host, a guest connection to GATEWAY:PORT reaching the host's
//     HostLoopback:PORT when the firewall's egress allows it (as QEMU's
//     user network's 10.0.2.2 does). Off by default: an instance should
//     not reach the services a host keeps to its loopback;
//   - a DHCP server that hands the guest its private address, with the
//     subnet's mask, the gateway, the resolver, its host name and domain;
//   - the VPC's DNS resolver (the VPC's base address + 2): UDP and TCP
//     port 53 are forwarded to the host's resolver (/etc/resolv.conf);
//   - the metadata service at 169.254.169.254: TCP port 80 goes to the
//     instance's IMDS http.Handler in this process, and only to it;
//   - egress: any other TCP connection or UDP flow of the guest is
//     made again from the host (a host socket per connection or flow)
//     when the firewall's egress allows it, and refused otherwise (all of
//     them when the network is restricted; the VPC's DHCP, DNS and IMDS
//     stay). Other addresses of the VPC are unreachable: instances are
//     not on one link in the rootless mode;
//   - ingress: for every TCP port the firewall's ingress allows from
//     outside the VPC, a listener on PUBLIC_IP:PORT on the host, whose
//     connections are made again from the gateway to PRIVATE_IP:PORT
//     (docs/NETWORK.md, "Rootless network").
//
// A Network is one VM's; Close ends it and everything it opened.
package vnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/openami/openami"
)

// MetadataAddr is where the guest finds its metadata service.
var MetadataAddr = netip.AddrFrom4([4]byte{169, 254, 169, 254})

// MaxListeners caps the host listeners of one instance: a rule that
// allows a wide range of ports (all of TCP) opens listeners for the
// lowest MaxListeners of them only.
const MaxListeners = 1024

// Config configures a Network.
type Config struct {
	// Conn is the network's end of the VM's stream socket. The Network
	// owns it: Close closes it.
	Conn io.ReadWriteCloser
	// Network is the instance's network when the VM starts: its
	// addresses and its firewall. Update changes the firewall later.
	Network openami.InstanceNetwork
	// IMDS serves the guest's connections to 169.254.169.254:80.
	IMDS http.Handler
	// Restrict refuses every connection of the guest to anywhere but the
	// VPC's DHCP, DNS and metadata service.
	Restrict bool
	// Resolver is the host's DNS server (host:port) that the VPC's
	// resolver forwards to; empty reads the first nameserver of
	// /etc/resolv.conf.
	Resolver string
	// HostLoopback, when valid, is where a guest connection to the
	// gateway goes on the host (127.0.0.1 as QEMU's user network does).
	// Not valid (the default): the gateway refuses connections, so that
	// guests cannot reach the services a host keeps to its loopback
	// (a database, openami's own listeners).
	HostLoopback netip.Addr
	// BindDenied, if set, is called when a listener on PUBLIC_IP:PORT
	// cannot be opened for want of privilege (a port below
	// net.ipv4.ip_unprivileged_port_start without CAP_NET_BIND_SERVICE).
	BindDenied func(port int, err error)
	// Log receives the network's events (a listener that failed, the
	// link's end).
	Log *slog.Logger
}

// Network is one VM's user-mode network.
type Network struct {
	cfg      Config
	stack    *stack.Stack
	link     *link
	mac      tcpip.LinkAddress
	private  netip.Addr
	public   netip.Addr
	gateway  netip.Addr
	resolver netip.Addr
	subnet   netip.Prefix
	vpc      netip.Prefix
	fw       atomic.Pointer[openami.Firewall]
	imds     *http.Server
	imdsLn   *connListener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the link has ended

	mu        sync.Mutex
	closed    bool
	listeners map[int]net.Listener // by port
	denied    map[int]bool         // ports not listened on for want of privilege
	failed    map[int]bool         // ports that failed otherwise, already logged
	conns     map[io.Closer]struct{}
}

// nicID is the stack's one NIC.
const nicID = 1

// New builds the network and starts pumping frames. It fails when Conn
// or IMDS is missing or the network's addresses are not usable (no
// private address in a subnet).
func New(cfg Config) (*Network, error) {
	if cfg.Conn == nil || cfg.IMDS == nil {
		return nil, errors.New("vnet: Conn and IMDS are required")
	}
	in := cfg.Network
	if !in.PrivateIP.Is4() || !in.Subnet.IsValid() || !in.Subnet.Contains(in.PrivateIP) || in.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("vnet: private address %v is not in a usable subnet %v", in.PrivateIP, in.Subnet)
	}
	if !in.VPC.IsValid() {
		in.VPC = in.Subnet
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Resolver == "" {
		cfg.Resolver = hostResolver("/etc/resolv.conf")
	}
	n := &Network{
		cfg:       cfg,
		mac:       tcpip.LinkAddress([]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}),
		private:   in.PrivateIP,
		public:    in.PublicIP,
		subnet:    in.Subnet.Masked(),
		vpc:       in.VPC.Masked(),
		gateway:   in.Subnet.Masked().Addr().Next(),
		resolver:  in.VPC.Masked().Addr().Next().Next(),
		done:      make(chan struct{}),
		listeners: map[int]net.Listener{},
		denied:    map[int]bool{},
		failed:    map[int]bool{},
		conns:     map[io.Closer]struct{}{},
	}
	if n.private == n.gateway || n.private == n.resolver {
		return nil, fmt.Errorf("vnet: private address %v is the VPC's gateway or resolver", n.private)
	}
	fw := in.Firewall
	n.fw.Store(&fw)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	n.stack = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	n.link = newLink(cfg.Conn, n.mac)
	n.link.intercept = n.intercept
	if err := n.setupStack(); err != nil {
		n.stack.Close()
		return nil, err
	}
	n.imdsLn = newConnListener()
	n.imds = &http.Server{Handler: cfg.IMDS, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	n.wg.Go(func() { n.imds.Serve(n.imdsLn) })
	n.wg.Go(func() {
		err := n.link.run(n.ctx)
		close(n.done)
		if err != nil {
			cfg.Log.Warn("guest network link ended", "err", err)
		}
	})
	n.Update(in)
	return n, nil
}

func (n *Network) setupStack() error {
	s := n.stack
	if err := s.CreateNIC(nicID, n.link.ep); err != nil {
		return fmt.Errorf("vnet: NIC: %s", err)
	}
	// The gateway first: it is the source of the network's own
	// connections to the guest (the ingress).
	addrs := []tcpip.AddressWithPrefix{
		{Address: tcpip.AddrFrom4(n.gateway.As4()), PrefixLen: n.subnet.Bits()},
		{Address: tcpip.AddrFrom4(n.resolver.As4()), PrefixLen: 32},
		{Address: tcpip.AddrFrom4(MetadataAddr.As4()), PrefixLen: 32},
	}
	for _, a := range addrs {
		if err := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: a}, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("vnet: address %v: %s", a, err)
		}
	}
	// Promiscuous and spoofing: the stack takes packets for any address
	// (the egress it forwards) and answers from any.
	if err := s.SetPromiscuousMode(nicID, true); err != nil {
		return fmt.Errorf("vnet: %s", err)
	}
	if err := s.SetSpoofing(nicID, true); err != nil {
		return fmt.Errorf("vnet: %s", err)
	}
	subnet, _ := tcpip.NewSubnet(tcpip.AddrFrom4(n.subnet.Addr().As4()), tcpip.MaskFromBytes(net.CIDRMask(n.subnet.Bits(), 32)))
	s.SetRouteTable([]tcpip.Route{{Destination: subnet, NIC: nicID}})
	tcpFwd := tcp.NewForwarder(s, 0, 1024, n.forwardTCP)
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcpFwd.HandlePacket)
	udpFwd := udp.NewForwarder(s, n.forwardUDP)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, udpFwd.HandlePacket)
	return nil
}

// Done is closed when the link to the VM has ended (QEMU exited or
// closed its end) or the network was closed.
func (n *Network) Done() <-chan struct{} { return n.done }

// Update applies the instance's network as it now is: listeners open
// for ports its firewall now allows, and close for those it no longer
// does (their established connections live on, as a security group's
// tracked connections do); egress is checked against the new firewall
// from the next connection on. Only the firewall changes: the
// addresses are the VM's for as long as it runs.
func (n *Network) Update(in openami.InstanceNetwork) {
	fw := in.Firewall
	n.fw.Store(&fw)
	want := n.ingressPorts(fw)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	for port, ln := range n.listeners {
		if !want[port] {
			ln.Close()
			delete(n.listeners, port)
		}
	}
	if !n.public.IsValid() {
		return
	}
	for port := range want {
		if n.listeners[port] != nil || n.denied[port] {
			continue
		}
		addr := netip.AddrPortFrom(n.public, uint16(port))
		ln, err := net.Listen("tcp4", addr.String())
		if err != nil {
			switch {
			case errors.Is(err, os.ErrPermission):
				// Privilege does not come while the VM runs (a sysctl
				// changed later applies from the VM's next start): not
				// tried again, and said once.
				n.denied[port] = true
				if n.cfg.BindDenied != nil {
					n.cfg.BindDenied(port, err)
				}
			case !n.failed[port]:
				// Tried again at every Update (the port may be freed);
				// said once. EADDRINUSE is most often a host service
				// listening on 0.0.0.0:PORT, which every address's PORT
				// then conflicts with.
				n.failed[port] = true
				n.cfg.Log.Warn("cannot listen on the instance's public port (a host service listening on 0.0.0.0 with that port takes it from every address)",
					"addr", addr, "err", err)
			}
			continue
		}
		delete(n.failed, port)
		n.listeners[port] = ln
		n.wg.Go(func() { n.serveIngress(ln, port) })
	}
}

// Listening returns the ports the network listens on, on its public
// address.
func (n *Network) Listening() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	ports := make([]int, 0, len(n.listeners))
	for p := range n.listeners {
		ports = append(ports, p)
	}
	return ports
}

// Close ends the network: its listeners, every connection it forwards,
// the link and the stack. It waits for all of its goroutines.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for port, ln := range n.listeners {
		ln.Close()
		delete(n.listeners, port)
	}
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.cancel()
	n.cfg.Conn.Close()
	n.imds.Close()
	n.imdsLn.Close()
	<-n.done
	n.stack.Close()
	n.wg.Wait()
	n.stack.Wait()
	return nil
}

// track registers a connection that Close must close; it returns false
// (and closes c) once the network is closed.
func (n *Network) track(c io.Closer) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		c.Close()
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Network) untrack(c io.Closer) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
	c.Close()
}

// egressAllowed says whether the guest may reach to:port over proto.
func (n *Network) egressAllowed(proto string, to netip.Addr, port uint16) bool {
	if n.cfg.Restrict {
		return false
	}
	return n.fw.Load().AllowsOut(proto, int(port), to)
}

// hostResolver returns the first nameserver of a resolv.conf as
// host:53, or 127.0.0.1:53 when it names none.
func hostResolver(path string) string {
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() {
					return netip.AddrPortFrom(a, 53).String()
				}
			}
		}
	}
	return "127.0.0.1:53"
}

// connListener is a net.Listener fed with connections by the network:
// the guest's connections to the metadata service, for its http.Server.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// offer hands c to Accept, or closes it when the listener is closed.
func (l *connListener) offer(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IP(MetadataAddr.AsSlice()), Port: 80}
}
