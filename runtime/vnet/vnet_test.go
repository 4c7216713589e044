package vnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/openami/openami"
)

var (
	testPrivate = netip.MustParseAddr("172.31.5.10")
	testSubnet  = netip.MustParsePrefix("172.31.0.0/20")
	testVPC     = netip.MustParsePrefix("172.31.0.0/16")
	testGateway = netip.MustParseAddr("172.31.0.1")
	testDNS     = netip.MustParseAddr("172.31.0.2")
	guestMAC    = tcpip.LinkAddress([]byte{0x02, 0x12, 0x34, 0x56, 0x78, 0x9a})
)

// socketPair returns the two ends of a unix stream socket pair, the
// wire QEMU's -netdev stream uses.
func socketPair(t testing.TB) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "vnet")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// freePublicIP returns a loopback address of its own for a test, so
// that tests' listeners never meet.
func freePublicIP(t testing.TB) netip.Addr {
	b := [4]byte{127, 77, byte(os.Getpid() >> 8), byte(os.Getpid())}
	b[3] ^= byte(len(t.Name()) * 7)
	return netip.AddrFrom4(b)
}

// freePort returns a TCP port free on addr.
func freePort(t testing.TB, addr netip.Addr) int {
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// allowIn is an ingress rule for one TCP port from prefixes.
func allowIn(port int, prefixes ...string) openami.FirewallRule {
	r := openami.FirewallRule{Protocol: openami.ProtocolTCP, FromPort: port, ToPort: port}
	for _, p := range prefixes {
		r.Prefixes = append(r.Prefixes, netip.MustParsePrefix(p))
	}
	return r
}

var egressAll = []openami.FirewallRule{{Protocol: openami.ProtocolAll, Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}

// testNetwork starts a Network for a test; the guest gets the other end
// of its wire. It is closed when the test ends.
func testNetwork(t testing.TB, fw openami.Firewall, mod func(*Config)) (*Network, net.Conn, openami.InstanceNetwork) {
	host, guest := socketPair(t)
	in := openami.InstanceNetwork{
		PrivateIP: testPrivate, Subnet: testSubnet, VPC: testVPC, PublicIP: freePublicIP(t),
		Hostname: "ip-172-31-5-10", Domain: "ec2.internal", Firewall: fw,
	}
	cfg := Config{
		Conn: host, Network: in,
		IMDS: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "metadata of i-test at %s", r.URL.Path) }),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		guest.Close()
	})
	return n, guest, in
}

// guestSide is the other side of the wire: a gVisor stack standing in
// for the guest's kernel, configured with the private address (as DHCP
// hands it out).
type guestSide struct {
	s     *stack.Stack
	close func()
}

func guestStackNoCleanup(t testing.TB, conn net.Conn) *guestSide {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	l := newLink(conn, guestMAC)
	if err := s.CreateNIC(1, l.ep); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(testPrivate.As4()), PrefixLen: testSubnet.Bits()}}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	subnet, _ := tcpip.NewSubnet(tcpip.AddrFrom4(testSubnet.Addr().As4()), tcpip.MaskFromBytes(net.CIDRMask(testSubnet.Bits(), 32)))
	s.SetRouteTable([]tcpip.Route{
		{Destination: subnet, NIC: 1},
		{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(testGateway.As4()), NIC: 1},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		l.run(ctx)
		close(done)
	}()
	return &guestSide{s: s, close: func() {
		cancel()
		conn.Close()
		<-done
		s.Close()
		s.Wait()
	}}
}

func guestStack(t testing.TB, conn net.Conn) *stack.Stack {
	g := guestStackNoCleanup(t, conn)
	t.Cleanup(g.close)
	return g.s
}

// guestListen listens on the guest stack and echoes each connection's
// bytes back, prefixed with the port.
func guestListen(t testing.TB, s *stack.Stack, port int) {
	ln, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Port: uint16(port)}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "guest:%d %s", port, line)
			}()
		}
	}()
}

// hello sends a line over a new connection to addr and returns the
// answer; an error when the connection is refused or closed unanswered.
func hello(addr string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("closed without an answer")
	}
	return string(b), nil
}

// dhcpExchange sends req as the guest (from 0.0.0.0:68 to the broadcast
// address) and returns the server's reply.
func dhcpExchange(t *testing.T, conn net.Conn, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	fw := &frameWriter{w: conn}
	frame := udpFrame(guestMAC, header.EthernetBroadcastAddress, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpClientPort, dhcpServerPort, req.ToBytes())
	if err := fw.write(frame); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	for {
		b, err := readFrame(conn, nil)
		if err != nil {
			t.Fatalf("no DHCP reply: %v", err)
		}
		src, dst, sp, dp, payload, ok := parseUDP(b)
		if !ok || sp != dhcpServerPort || dp != dhcpClientPort {
			continue // ARP or anything else the network says
		}
		if src != testGateway || dst != netip.AddrFrom4([4]byte{255, 255, 255, 255}) || header.Ethernet(b).DestinationAddress() != guestMAC {
			t.Errorf("DHCP reply from %v to %v (MAC %v): want from the gateway to the broadcast address, to the guest's MAC", src, dst, header.Ethernet(b).DestinationAddress())
		}
		reply, err := dhcpv4.FromBytes(payload)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
}

func TestDHCP(t *testing.T) {
	_, conn, _ := testNetwork(t, openami.Firewall{}, nil)
	disc, err := dhcpv4.NewDiscovery(net.HardwareAddr(guestMAC))
	if err != nil {
		t.Fatal(err)
	}
	offer := dhcpExchange(t, conn, disc)
	check := func(m *dhcpv4.DHCPv4, typ dhcpv4.MessageType) {
		t.Helper()
		if m.MessageType() != typ {
			t.Fatalf("reply %v, want %v", m.MessageType(), typ)
		}
		if !m.YourIPAddr.Equal(net.IP(testPrivate.AsSlice())) {
			t.Errorf("address %v, want %v", m.YourIPAddr, testPrivate)
		}
		if ones, _ := m.SubnetMask().Size(); ones != 20 {
			t.Errorf("mask /%d, want /20", ones)
		}
		if r := m.Router(); len(r) != 1 || !r[0].Equal(net.IP(testGateway.AsSlice())) {
			t.Errorf("router %v, want %v", r, testGateway)
		}
		if d := m.DNS(); len(d) != 1 || !d[0].Equal(net.IP(testDNS.AsSlice())) {
			t.Errorf("DNS %v, want %v", d, testDNS)
		}
		if h := m.HostName(); h != "ip-172-31-5-10" {
			t.Errorf("host name %q", h)
		}
		if d := m.DomainName(); d != "ec2.internal" {
			t.Errorf("domain %q", d)
		}
		if lt := m.IPAddressLeaseTime(0); lt < time.Hour {
			t.Errorf("lease %v, want a long one", lt)
		}
	}
	check(offer, dhcpv4.MessageTypeOffer)
	req, err := dhcpv4.NewRequestFromOffer(offer)
	if err != nil {
		t.Fatal(err)
	}
	check(dhcpExchange(t, conn, req), dhcpv4.MessageTypeAck)

	// A request for another address is refused.
	other, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(172, 31, 9, 9))))
	if m := dhcpExchange(t, conn, other); m.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("request for another address: %v, want a NAK", m.MessageType())
	}
}

// arpRequest returns a guest's ARP request for target, from sender
// (0.0.0.0 for a probe).
func arpRequest(sender, target netip.Addr) []byte {
	b := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: guestMAC, DstAddr: header.EthernetBroadcastAddress, Type: header.ARPProtocolNumber})
	a := header.ARP(b[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), guestMAC)
	copy(a.ProtocolAddressSender(), sender.AsSlice())
	copy(a.ProtocolAddressTarget(), target.AsSlice())
	return b
}

// TestARP: the network answers ARP for the gateway but not for the
// guest's own address, which a guest probes before it takes it.
func TestARP(t *testing.T) {
	_, conn, _ := testNetwork(t, openami.Firewall{}, nil)
	fw := &frameWriter{w: conn}
	// The probe first, then a request for the gateway: frames are
	// handled in order, so an answer to the probe would come first.
	if err := fw.write(arpRequest(netip.IPv4Unspecified(), testPrivate)); err != nil {
		t.Fatal(err)
	}
	if err := fw.write(arpRequest(testPrivate, testGateway)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		b, err := readFrame(conn, nil)
		if err != nil {
			t.Fatalf("no ARP reply for the gateway: %v", err)
		}
		if header.Ethernet(b).Type() != header.ARPProtocolNumber {
			continue
		}
		a := header.ARP(b[header.EthernetMinimumSize:])
		if a.Op() != header.ARPReply {
			continue
		}
		sender, _ := netip.AddrFromSlice(a.ProtocolAddressSender())
		if sender != testGateway {
			t.Fatalf("ARP reply for %v, want only the gateway's", sender)
		}
		return
	}
}

// echoFrame returns a guest's ICMP echo request to dst.
func echoFrame(dst netip.Addr, payload string) []byte {
	n := header.EthernetMinimumSize + header.IPv4MinimumSize + header.ICMPv4MinimumSize + len(payload)
	b := make([]byte, n)
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: guestMAC, DstAddr: tcpip.LinkAddress([]byte{0x02, 0, 0, 0, 0, 0xfe}), Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(n - header.EthernetMinimumSize), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(testPrivate.As4()), DstAddr: tcpip.AddrFrom4(dst.As4())})
	ip.SetChecksum(^ip.CalculateChecksum())
	icmp := header.ICMPv4(ip[header.IPv4MinimumSize:])
	icmp.SetType(header.ICMPv4Echo)
	copy(icmp.Payload(), payload)
	icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	return b
}

// TestEchoElsewhere: an echo to an address of the outside gets no
// answer (ICMP is not forwarded); one to the gateway does.
func TestEchoElsewhere(t *testing.T) {
	_, conn, _ := testNetwork(t, openami.Firewall{Egress: egressAll}, nil)
	fw := &frameWriter{w: conn}
	// The gateway's MAC address must be known to the stack's reply:
	// the guest asks first, as a kernel would.
	fw.write(arpRequest(testPrivate, testGateway))
	fw.write(echoFrame(netip.MustParseAddr("192.0.2.1"), "outside"))
	fw.write(echoFrame(testGateway, "gateway"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		b, err := readFrame(conn, nil)
		if err != nil {
			t.Fatalf("no echo reply from the gateway: %v", err)
		}
		if header.Ethernet(b).Type() != header.IPv4ProtocolNumber {
			continue
		}
		ip := header.IPv4(b[header.EthernetMinimumSize:])
		if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) {
			continue
		}
		icmp := header.ICMPv4(ip.Payload())
		if icmp.Type() != header.ICMPv4EchoReply {
			continue
		}
		if string(icmp.Payload()) != "gateway" {
			t.Fatalf("echo reply %q from %v, want only the gateway's", icmp.Payload(), ip.SourceAddress())
		}
		return
	}
}

func TestIngress(t *testing.T) {
	public := freePublicIP(t)
	open, closed, later := freePort(t, public), freePort(t, public), freePort(t, public)
	n, conn, in := testNetwork(t, openami.Firewall{Ingress: []openami.FirewallRule{allowIn(open, "0.0.0.0/0")}}, func(c *Config) {
		c.Network.PublicIP = public
	})
	g := guestStack(t, conn)
	for _, p := range []int{open, closed, later} {
		guestListen(t, g, p)
	}
	at := func(p int) string { return netip.AddrPortFrom(public, uint16(p)).String() }

	got, err := hello(at(open))
	if err != nil || got != fmt.Sprintf("guest:%d hello\n", open) {
		t.Fatalf("allowed port %d: %q, %v", open, got, err)
	}
	if got, err := hello(at(closed)); err == nil {
		t.Errorf("port %d that no rule allows answered %q", closed, got)
	}
	if ports := n.Listening(); !slices.Equal(ports, []int{open}) {
		t.Errorf("listening on %v, want [%d]", ports, open)
	}

	// A rule added while the VM runs opens its port; revoked, it closes.
	in.Firewall.Ingress = append(in.Firewall.Ingress, allowIn(later, "127.0.0.0/8"))
	n.Update(in)
	if got, err := hello(at(later)); err != nil || !strings.HasPrefix(got, fmt.Sprintf("guest:%d", later)) {
		t.Errorf("port %d after its rule was added: %q, %v", later, got, err)
	}
	in.Firewall.Ingress = in.Firewall.Ingress[:1]
	n.Update(in)
	if got, err := hello(at(later)); err == nil {
		t.Errorf("port %d after its rule was revoked answered %q", later, got)
	}

	// A rule whose prefixes do not hold the client's address: the port
	// may be listened on, but the connection is closed unanswered.
	in.Firewall.Ingress = append(in.Firewall.Ingress, allowIn(later, "10.0.0.0/8"))
	n.Update(in)
	if got, err := hello(at(later)); err == nil {
		t.Errorf("port %d allowed only from 10.0.0.0/8 answered a client of 127.0.0.1: %q", later, got)
	}

	// The default group's rule (from its own members, inside the VPC)
	// opens nothing on the host.
	in.Firewall.Ingress = []openami.FirewallRule{{Protocol: openami.ProtocolAll, Prefixes: []netip.Prefix{netip.PrefixFrom(testPrivate, 32)}}}
	n.Update(in)
	if ports := n.Listening(); len(ports) != 0 {
		t.Errorf("the default group's rules listen on %v", ports)
	}

	// All of TCP from anywhere: the lowest MaxListeners ports, 1 to
	// 1024, less those that cannot be bound (below 1024 without root; a
	// host service's on 0.0.0.0).
	in.Firewall.Ingress = []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: 0, ToPort: 65535, Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}
	n.Update(in)
	ports := n.Listening()
	if len(ports) > MaxListeners || slices.Max(append(ports, 0)) > MaxListeners || (os.Geteuid() == 0 && len(ports) < MaxListeners-32) {
		t.Errorf("all of TCP: %d listeners up to port %d, want at most (and as root about) %d, the lowest", len(ports), slices.Max(append(ports, 0)), MaxListeners)
	}
}

func TestIngressBindDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs to bind a port below 1024 for the comparison; run as root")
	}
	// Root binds port 1 and never calls BindDenied: the callback is for
	// the privilege error alone.
	denied := 0
	n, _, _ := testNetwork(t, openami.Firewall{Ingress: []openami.FirewallRule{allowIn(1, "0.0.0.0/0")}}, func(c *Config) {
		c.BindDenied = func(int, error) { denied++ }
	})
	if !slices.Equal(n.Listening(), []int{1}) || denied != 0 {
		t.Errorf("as root: listening on %v, BindDenied called %d times", n.Listening(), denied)
	}
}

func TestMetadataService(t *testing.T) {
	_, conn, _ := testNetwork(t, openami.Firewall{}, func(c *Config) { c.Restrict = true })
	g := guestStack(t, conn)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		ap := netip.MustParseAddrPort(addr)
		return gonet.DialContextTCP(ctx, g, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(ap.Addr().As4()), Port: ap.Port()}, ipv4.ProtocolNumber)
	}}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://169.254.169.254/latest/meta-data/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "metadata of i-test at /latest/meta-data/" {
		t.Errorf("IMDS answered %q", b)
	}
	// Only port 80 of it.
	if c, err := gonet.DialContextTCP(context.Background(), g, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(MetadataAddr.As4()), Port: 81}, ipv4.ProtocolNumber); err == nil {
		c.Close()
		t.Error("169.254.169.254:81 accepted a connection")
	}
}

func TestEgress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "host says hi\n")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	dialHost := func(g *stack.Stack) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := gonet.DialContextTCP(ctx, g, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(testGateway.As4()), Port: uint16(port)}, ipv4.ProtocolNumber)
		if err != nil {
			return "", err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		return string(b), err
	}
	for _, tc := range []struct {
		name     string
		egress   []openami.FirewallRule
		restrict bool
		toHost   bool // Config.HostLoopback set
		want     bool
	}{
		{"all allowed", egressAll, false, true, true},
		{"this port to the gateway", []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: port, ToPort: port, Prefixes: []netip.Prefix{netip.PrefixFrom(testGateway, 32)}}}, false, true, true},
		{"another port", []openami.FirewallRule{{Protocol: openami.ProtocolTCP, FromPort: port + 1, ToPort: port + 1, Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}, false, true, false},
		{"no egress rule", nil, false, true, false},
		{"restricted", egressAll, true, true, false},
		{"the gateway is not the host by default", egressAll, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, conn, _ := testNetwork(t, openami.Firewall{Egress: tc.egress}, func(c *Config) {
				c.Restrict, c.HostLoopback = tc.restrict, hostLoopback(tc.toHost)
			})
			g := guestStack(t, conn)
			got, err := dialHost(g)
			if tc.want && (err != nil || got != "host says hi\n") {
				t.Errorf("allowed egress: %q, %v", got, err)
			}
			if !tc.want && err == nil {
				t.Errorf("refused egress connected, read %q", got)
			}
		})
	}
}

func TestDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("answer to "), buf[:k]...), from)
		}
	}()
	// Restricted: the VPC's resolver still answers.
	_, conn, _ := testNetwork(t, openami.Firewall{}, func(c *Config) { c.Restrict = true; c.Resolver = pc.LocalAddr().String() })
	g := guestStack(t, conn)
	c, err := gonet.DialUDP(g, nil, &tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(testDNS.As4()), Port: 53}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	for i := 0; ; i++ {
		c.Write([]byte("query"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := c.Read(buf)
		if err == nil {
			if string(buf[:k]) != "answer to query" {
				t.Errorf("resolver answered %q", buf[:k])
			}
			break
		}
		if i == 10 {
			t.Fatalf("no answer from the VPC's resolver: %v", err)
		}
	}
}

func TestPing(t *testing.T) {
	_, conn, _ := testNetwork(t, openami.Firewall{}, func(c *Config) { c.Restrict = true })
	g := guestStack(t, conn)
	var wq waiter.Queue
	ep, terr := g.NewEndpoint(icmp.ProtocolNumber4, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		t.Fatal(terr)
	}
	defer ep.Close()
	if terr := ep.Connect(tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(testGateway.As4())}); terr != nil {
		t.Fatal(terr)
	}
	we, ch := waiter.NewChannelEntry(waiter.EventIn)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)
	echo := header.ICMPv4(make([]byte, header.ICMPv4MinimumSize+4))
	echo.SetType(header.ICMPv4Echo)
	copy(echo.Payload(), "ping")
	for i := 0; ; i++ {
		if _, terr := ep.Write(bytes.NewReader(echo), tcpip.WriteOptions{}); terr != nil {
			t.Fatal(terr)
		}
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			if i == 10 {
				t.Fatal("no echo reply from the gateway")
			}
			continue
		}
		var buf bytes.Buffer
		if _, terr := ep.Read(&buf, tcpip.ReadOptions{}); terr != nil {
			t.Fatal(terr)
		}
		reply := header.ICMPv4(buf.Bytes())
		if reply.Type() != header.ICMPv4EchoReply || string(reply.Payload()) != "ping" {
			t.Errorf("reply %v %q", reply.Type(), reply.Payload())
		}
		return
	}
}

// goroutines waits for the number of goroutines to fall to at most want
// and returns it (polling: goroutines end asynchronously).
func goroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestCloseReleasesEverything(t *testing.T) {
	before := goroutines(0)
	public := freePublicIP(t)
	p1, p2 := freePort(t, public), freePort(t, public)
	host, guest := socketPair(t)
	n, err := New(Config{Conn: host, IMDS: http.NotFoundHandler(), Network: openami.InstanceNetwork{
		PrivateIP: testPrivate, Subnet: testSubnet, VPC: testVPC, PublicIP: public,
		Firewall: openami.Firewall{Ingress: []openami.FirewallRule{allowIn(p1, "0.0.0.0/0"), allowIn(p2, "0.0.0.0/0")}, Egress: egressAll},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g := guestStackNoCleanup(t, guest)
	guestListen(t, g.s, p1)
	// A connection in flight when the network closes.
	c, err := net.Dial("tcp4", netip.AddrPortFrom(public, uint16(p1)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(n.Listening()) != 2 {
		t.Fatalf("listening on %v", n.Listening())
	}
	n.Close()
	select {
	case <-n.Done():
	default:
		t.Error("Done is open after Close")
	}
	for _, p := range []int{p1, p2} {
		if c, err := net.Dial("tcp4", netip.AddrPortFrom(public, uint16(p)).String()); err == nil {
			c.Close()
			t.Errorf("port %d still listens after Close", p)
		}
	}
	// Closed, by a FIN or a reset (when Close came before the accept),
	// but not left hanging.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection in flight was not closed: %v", err)
	}
	g.close()
	if after := goroutines(before); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestIngressPortTaken: a host service listening on 0.0.0.0:PORT takes
// PORT from every address, the public one included; the port is tried
// again at each Update and opens once the service is gone.
func TestIngressPortTaken(t *testing.T) {
	host, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := host.Addr().(*net.TCPAddr).Port
	n, _, in := testNetwork(t, openami.Firewall{Ingress: []openami.FirewallRule{allowIn(port, "0.0.0.0/0")}}, nil)
	if ports := n.Listening(); len(ports) != 0 {
		t.Fatalf("listening on %v while a host service holds 0.0.0.0:%d", ports, port)
	}
	host.Close()
	n.Update(in)
	if ports := n.Listening(); !slices.Equal(ports, []int{port}) {
		t.Errorf("after the host service left: listening on %v, want [%d]", ports, port)
	}
}

// hostLoopback is Config.HostLoopback for a test: 127.0.0.1, or none.
func hostLoopback(on bool) netip.Addr {
	if on {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.Addr{}
}
