package bridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/openami/openami"
)

// guest is a network namespace standing in for a VM: a veth whose host
// end is named as the instance's tap.
type guest struct {
	id   string
	ns   netns.NsHandle
	mac  string
	addr netip.Prefix // its address with its subnet's length
	gw   netip.Addr
}

// newNS makes a network namespace (held by its handle until the process
// ends) with its loopback up.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	runtime := func() {
		var err error
		ns, err = netns.New() // switches this thread; inNS switches back
		if err != nil {
			t.Fatal(err)
		}
	}
	orig, _ := netns.Get()
	inNS(t, orig, runtime)
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	lo, _ := nl.LinkByName("lo")
	nl.LinkSetUp(lo)
	return ns
}

// newGuest makes the guest's namespace and its veth, the host end named
// TapName(id); the guest's end gets mac, and the address is not set
// (DHCP or configure sets it).
func newGuest(t *testing.T, id, mac string, addr netip.Prefix) *guest {
	t.Helper()
	g := &guest{id: id, ns: newNS(t), mac: mac, addr: addr, gw: addr.Masked().Addr().Next()}
	hw, _ := net.ParseMAC(mac)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: TapName(id)}, PeerName: "eth0", PeerHardwareAddr: hw}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth for %s: %v", id, err)
	}
	peer, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(g.ns)); err != nil {
		t.Fatal(err)
	}
	nl, _ := netlink.NewHandleAt(g.ns)
	eth, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	nl.LinkSetUp(eth)
	return g
}

// configure gives the guest its address and its default route.
func (g *guest) configure(t *testing.T) {
	t.Helper()
	nl, _ := netlink.NewHandleAt(g.ns)
	eth, _ := nl.LinkByName("eth0")
	if err := nl.AddrAdd(eth, &netlink.Addr{IPNet: prefixIPNet(g.addr)}); err != nil {
		t.Fatal(err)
	}
	if err := nl.RouteAdd(&netlink.Route{Gw: net.IP(g.gw.AsSlice())}); err != nil {
		t.Fatal(err)
	}
}

// listen serves each TCP connection to port in the namespace with the
// address it came from, and closes it.
func listen(t *testing.T, ns netns.NsHandle, port int) { listenAs(t, ns, port, "") }

// dial connects from the namespace (from src, when valid) and returns
// the source address the listener saw, or an error.
func dial(t *testing.T, ns netns.NsHandle, src netip.Addr, to string) (string, error) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: net.IP(src.AsSlice())}
	}
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = d.Dial("tcp4", to) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// reaches dials and wants a connection, and the source the listener saw.
func reaches(t *testing.T, ns netns.NsHandle, to, wantSource string) {
	t.Helper()
	got, err := dial(t, ns, netip.Addr{}, to)
	if err != nil {
		t.Errorf("connect to %s: %v; want a connection", to, err)
	} else if got != wantSource {
		t.Errorf("connect to %s: the listener saw %s; want %s", to, got, wantSource)
	}
}

// blocked dials and wants no connection.
func blocked(t *testing.T, ns netns.NsHandle, src netip.Addr, to string) {
	t.Helper()
	if got, err := dial(t, ns, src, to); err == nil {
		t.Errorf("connect to %s from %v: connected (the listener saw %s); want it blocked", to, src, got)
	}
}

func rule(proto string, from, to int, prefixes ...string) openami.FirewallRule {
	r := openami.FirewallRule{Protocol: proto, FromPort: from, ToPort: to}
	for _, p := range prefixes {
		r.Prefixes = append(r.Prefixes, netip.MustParsePrefix(p))
	}
	return r
}

// imdsOf is a metadata service that answers with the instance's id.
func imdsOf(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, id) })
}

// TestHost runs the root-mode network with real bridges and nftables, in
// a network namespace of its own, with namespaces standing in for
// guests: DHCP, the metadata service, security groups between instances
// across subnets, group references, public addresses both ways, source
// checks, live updates, and that Close leaves nothing.
func TestHost(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	for _, cmd := range [][]string{{"ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	// What a crashed openami left: a bridge and a table of its names.
	// New removes them.
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName("vpc-0ffffffffffffffff")}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: VethName("vpc-0ffffffffffffffff")}, PeerName: "stale0"}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "add", "table", "inet", TableName).CombinedOutput(); err != nil {
		t.Fatalf("nft add table: %v %s", err, out)
	}
	if out, err := exec.Command("nft", "add", "chain", "inet", TableName, "stale").CombinedOutput(); err != nil {
		t.Fatalf("nft add chain: %v %s", err, out)
	}
	h, err := New(Config{Resolver: netip.MustParseAddr("192.0.2.53")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := netlink.LinkByName(BridgeName("vpc-0ffffffffffffffff")); err == nil {
		t.Errorf("New left a stale bridge")
	}
	if _, err := netlink.LinkByName(VethName("vpc-0ffffffffffffffff")); err == nil {
		t.Errorf("New left a stale veth")
	}
	if out, _ := exec.Command("nft", "list", "table", "inet", TableName).CombinedOutput(); strings.Contains(string(out), "stale") {
		t.Errorf("New left a stale table:\n%s", out)
	}

	// The outside: a namespace behind a veth of the host's, with a
	// client and a server.
	ext := newNS(t)
	{
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "ext0"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
		up, _ := netlink.LinkByName("uplink")
		netlink.AddrAdd(up, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.1/24"))})
		netlink.LinkSetUp(up)
		peer, _ := netlink.LinkByName("ext0")
		netlink.LinkSetNsFd(peer, int(ext))
		nl, _ := netlink.NewHandleAt(ext)
		e, _ := nl.LinkByName("ext0")
		nl.AddrAdd(e, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.2/24"))})
		nl.LinkSetUp(e)
		nl.RouteAdd(&netlink.Route{Gw: net.ParseIP("192.0.2.1")})
	}
	listen(t, ext, 7000)

	vpc := netip.MustParsePrefix("10.9.0.0/16")
	a := newGuest(t, "i-0aaaaaaaaaaaaaaaa", "02:00:00:00:00:0a", netip.MustParsePrefix("10.9.1.10/24"))
	b := newGuest(t, "i-0bbbbbbbbbbbbbbbb", "02:00:00:00:00:0b", netip.MustParsePrefix("10.9.2.20/24"))
	c := newGuest(t, "i-0cccccccccccccccc", "02:00:00:00:00:0c", netip.MustParsePrefix("10.9.1.11/24"))
	egressAll := []openami.FirewallRule{rule("-1", 0, 0, "0.0.0.0/0")}
	netOf := func(g *guest, public string, ingress, egress []openami.FirewallRule) openami.InstanceNetwork {
		in := openami.InstanceNetwork{PrivateIP: g.addr.Addr(), Subnet: g.addr.Masked(), VPC: vpc,
			Hostname: "ip-" + strings.ReplaceAll(g.addr.Addr().String(), ".", "-"), Domain: "ec2.internal",
			Firewall: openami.Firewall{Ingress: ingress, Egress: egress}}
		if public != "" {
			in.PublicIP = netip.MustParseAddr(public)
		}
		return in
	}
	// B: 8080 from A's group (A's address), 9090 from the outside's
	// range, ICMP from the VPC; 8081 from no one.
	bIngress := []openami.FirewallRule{
		rule("tcp", 8080, 8080, "10.9.1.10/32"),
		rule("tcp", 9090, 9090, "192.0.2.0/24", "192.0.2.2/32"), // nested: merged
		rule("icmp", -1, -1, "10.9.0.0/16"),
		rule("udp", 5353, 5353, "10.9.1.10/32"),
	}
	attach := func(g *guest, in openami.InstanceNetwork) *Attachment {
		att, err := h.attach(g.id, "vpc-0123456789abcdef0", g.mac, in, imdsOf(g.id), false)
		if err != nil {
			t.Fatalf("attach %s: %v", g.id, err)
		}
		return att
	}
	attA := attach(a, netOf(a, "198.51.100.4", nil, egressAll))
	attB := attach(b, netOf(b, "198.51.100.5", bIngress, egressAll))
	// C may open nothing but TCP 8080 into the VPC.
	attach(c, netOf(c, "", nil, []openami.FirewallRule{rule("tcp", 8080, 8080, "10.9.0.0/16")}))
	for _, port := range []int{8080, 8081, 9090} {
		listen(t, b.ns, port)
	}
	udpEcho(t, b.ns, ":5353")
	udpEcho(t, b.ns, ":5354")
	// The host's resolver, outside.
	{
		nl, _ := netlink.NewHandleAt(ext)
		e, _ := nl.LinkByName("ext0")
		nl.AddrAdd(e, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.53/32"))})
		udpEcho(t, ext, "192.0.2.53:53")
	}

	// DHCP: A asks on its link and gets its lease.
	inNS(t, a.ns, func() {
		cl, err := nclient4.New("eth0", nclient4.WithTimeout(5*time.Second), nclient4.WithRetry(3))
		if err != nil {
			t.Fatalf("DHCP client: %v", err)
		}
		defer cl.Close()
		lease, err := cl.Request(context.Background(), dhcpv4.WithOption(dhcpv4.OptParameterRequestList(dhcpv4.OptionHostName, dhcpv4.OptionDomainName)))
		if err != nil {
			t.Fatalf("DHCP: %v", err)
		}
		ack := lease.ACK
		if got := ack.YourIPAddr.String(); got != "10.9.1.10" {
			t.Errorf("DHCP address %s, want 10.9.1.10", got)
		}
		if r := ack.Router(); len(r) != 1 || r[0].String() != "10.9.1.1" {
			t.Errorf("DHCP router %v, want 10.9.1.1", r)
		}
		if m := net.IP(ack.SubnetMask()).String(); m != "255.255.255.0" {
			t.Errorf("DHCP mask %s", m)
		}
		if d := ack.DNS(); len(d) != 1 || d[0].String() != "10.9.0.2" {
			t.Errorf("DHCP DNS %v, want 10.9.0.2", d)
		}
		if hn := ack.HostName(); hn != "ip-10-9-1-10" {
			t.Errorf("DHCP host name %q", hn)
		}
	})
	// C asks for A's lease: a client that takes A's MAC for its own (in
	// the request's chaddr; the kernel still writes C's MAC in the frame)
	// gets no answer.
	inNS(t, c.ns, func() {
		hw, _ := net.ParseMAC(a.mac)
		cl, err := nclient4.New("eth0", nclient4.WithHWAddr(hw), nclient4.WithTimeout(time.Second), nclient4.WithRetry(2))
		if err != nil {
			t.Fatalf("DHCP client: %v", err)
		}
		defer cl.Close()
		if lease, err := cl.Request(context.Background()); err == nil {
			t.Errorf("C asking as A got a lease: %v", lease.ACK.Summary())
		}
	})
	for _, g := range []*guest{a, b, c} {
		g.configure(t)
	}

	// The metadata service answers each instance about itself.
	for _, g := range []*guest{a, b} {
		got, err := httpGet(t, g.ns, netip.Addr{}, "http://169.254.169.254/latest/meta-data/instance-id")
		if err != nil || got != g.id {
			t.Errorf("%s's metadata: %q, %v; want its id", g.id, got, err)
		}
	}

	// Security groups: A reaches B's 8080 across subnets by private
	// address, not 8081; C (not in B's rule) does not reach 8080.
	reaches(t, a.ns, "10.9.2.20:8080", "10.9.1.10")
	blocked(t, a.ns, netip.Addr{}, "10.9.2.20:8081")
	blocked(t, c.ns, netip.Addr{}, "10.9.2.20:8080")
	// C's egress allows nothing but TCP 8080 into the VPC: not the outside.
	blocked(t, c.ns, netip.Addr{}, "192.0.2.2:7000")
	// Nothing is allowed into A: B, whose egress allows all, cannot reach it.
	listen(t, a.ns, 8080)
	blocked(t, b.ns, netip.Addr{}, "10.9.1.10:8080")
	// Replies to A's own connections come back (established).
	reaches(t, a.ns, "192.0.2.2:7000", "198.51.100.4") // and leave as A's public address

	// Anti-spoofing: C takes A's address as its own and tries B's 8080,
	// which A may open, and A's metadata.
	{
		nl, _ := netlink.NewHandleAt(c.ns)
		eth, _ := nl.LinkByName("eth0")
		if err := nl.AddrAdd(eth, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("10.9.1.10/32"))}); err != nil {
			t.Fatal(err)
		}
		spoof := netip.MustParseAddr("10.9.1.10")
		blocked(t, c.ns, spoof, "10.9.2.20:8080")
		if got, err := httpGet(t, c.ns, spoof, "http://169.254.169.254/latest/meta-data/instance-id"); err == nil {
			t.Errorf("C spoofing A's address read metadata %q", got)
		}
		nl.AddrDel(eth, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("10.9.1.10/32"))})
		// C reads its own metadata, and no longer once it sends from
		// another MAC (A's) than its own.
		if got, err := httpGet(t, c.ns, netip.Addr{}, "http://169.254.169.254/latest/meta-data/instance-id"); err != nil || got != c.id {
			t.Errorf("C's metadata: %q, %v", got, err)
		}
		hw, _ := net.ParseMAC(a.mac)
		if err := nl.LinkSetHardwareAddr(eth, hw); err != nil {
			t.Fatal(err)
		}
		// The gateway's MAC as a static neighbour: C sends IP frames
		// from A's MAC at once, without asking by ARP (whose check would
		// stop it first).
		vnl := h.vpcHandle(t, "vpc-0123456789abcdef0")
		br, err := vnl.LinkByName(BridgeName("vpc-0123456789abcdef0"))
		if err != nil {
			t.Fatal(err)
		}
		if err := nl.NeighSet(&netlink.Neigh{LinkIndex: eth.Attrs().Index, IP: net.IP(c.gw.AsSlice()), HardwareAddr: br.Attrs().HardwareAddr,
			State: netlink.NUD_PERMANENT, Family: unix.AF_INET}); err != nil {
			t.Fatal(err)
		}
		if got, err := httpGet(t, c.ns, netip.Addr{}, "http://169.254.169.254/latest/meta-data/instance-id"); err == nil {
			t.Errorf("C sending from A's MAC read metadata %q", got)
		}
		// Its frames went no further than its port: the bridge did not
		// learn A's MAC there (which would steal A's traffic).
		port, _ := vnl.LinkByName(TapName(c.id))
		fdb, err := vnl.NeighList(port.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range fdb {
			if n.HardwareAddr.String() == a.mac {
				t.Errorf("the bridge learned A's MAC on C's port: C's spoofed frames got through")
			}
		}
		hw, _ = net.ParseMAC(c.mac)
		nl.LinkSetHardwareAddr(eth, hw)
	}

	// UDP and ICMP: A's datagrams to B's 5353 are answered, not to 5354;
	// A's ping of B is answered (ICMP from the VPC), C's is not (its
	// egress allows only TCP), nor the outside's of B's public address.
	if got, err := udpAsk(t, a.ns, "10.9.2.20:5353"); err != nil || got != "10.9.1.10" {
		t.Errorf("UDP from A to B's 5353: %q, %v", got, err)
	}
	if got, err := udpAsk(t, a.ns, "10.9.2.20:5354"); err == nil {
		t.Errorf("UDP from A to B's 5354, which no rule allows, was answered %q", got)
	}
	if !ping(t, a.ns, "10.9.2.20") {
		t.Errorf("A's ping of B, which B's group allows from the VPC, got no answer")
	}
	if ping(t, c.ns, "10.9.2.20") {
		t.Errorf("C's ping of B, which C's egress does not allow, was answered")
	}
	if ping(t, ext, "198.51.100.5") {
		t.Errorf("the outside's ping of B's public address, which no rule allows, was answered")
	}
	// The VPC's resolver (base + 2) is the host's, whatever the groups
	// say: C, whose egress allows only TCP 8080, asks it too. The
	// resolver sees A's public address (SNAT) and C masqueraded as the
	// host's uplink address.
	for g, want := range map[*guest]string{a: "198.51.100.4", c: "192.0.2.1"} {
		if got, err := udpAsk(t, g.ns, "10.9.0.2:53"); err != nil || got != want {
			t.Errorf("%s's DNS through the VPC's resolver: the resolver saw %q (%v); want %s", g.id, got, err, want)
		}
	}

	// Public addresses: the outside reaches B's 9090 on its public
	// address (and B sees the client), not 8080.
	reaches(t, ext, "198.51.100.5:9090", "192.0.2.2")
	blocked(t, ext, netip.Addr{}, "198.51.100.5:8080")

	// Live: the rule for A is revoked; A can no longer connect.
	if err := attB.Update(netOf(b, "198.51.100.5", bIngress[1:], egressAll)); err != nil {
		t.Fatal(err)
	}
	blocked(t, a.ns, netip.Addr{}, "10.9.2.20:8080")
	reaches(t, ext, "198.51.100.5:9090", "192.0.2.2")

	// An instance whose address another of its VPC holds is refused.
	dup := netOf(c, "", nil, egressAll)
	if _, err := h.attach("i-0dddddddddddddddd", "vpc-0123456789abcdef0", "02:00:00:00:00:0d", dup, imdsOf("d"), true); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("an instance at another's address of its VPC: %v", err)
	}

	// Detaching A takes its tap away; closing the host, everything.
	vnl := h.vpcHandle(t, "vpc-0123456789abcdef0")
	if err := attA.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := vnl.LinkByName(TapName(a.id)); err == nil {
		t.Errorf("A's interface is still there after Close")
	}
	h.Close()
	noneLeft(t)
}

// vpcHandle returns netlink in the namespace of the VPC's bridge.
func (h *Host) vpcHandle(t *testing.T, vpcID string) *netlink.Handle {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.vpcs[vpcID]
	if v == nil {
		t.Fatalf("no bridge for %s", vpcID)
	}
	return v.nl
}

// noneLeft checks that nothing of openami's is left in the test's
// namespace (standing in for the host): no bridge, tap or veth, no
// table.
func noneLeft(t *testing.T) {
	t.Helper()
	links, _ := netlink.LinkList()
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, BridgePrefix) || strings.HasPrefix(n, TapPrefix) || strings.HasPrefix(n, VethPrefix) {
			t.Errorf("link %s is left after Close", n)
		}
	}
	if out, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), TableName) {
		t.Errorf("tables left after Close:\n%s", out)
	}
}

// httpGet makes a GET from the namespace (from src, when valid).
func httpGet(t *testing.T, ns netns.NsHandle, src netip.Addr, url string) (string, error) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: net.IP(src.AsSlice())}
	}
	var conn net.Conn
	var err error
	inNS(t, ns, func() { conn, err = d.Dial("tcp4", "169.254.169.254:80") })
	if err != nil {
		return "", err
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil },
	}}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// TestHostRestricted: with Restrict, a guest reaches nothing outside its
// VPC, though its egress rules allow all; its DHCP and metadata service
// still answer, and the outside still reaches its public address where
// its ingress allows.
func TestHostRestricted(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	exec.Command("ip", "link", "set", "lo", "up").Run()
	h, err := New(Config{Restrict: true, Resolver: netip.MustParseAddr("192.0.2.53")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ext := outside(t)
	listen(t, ext, 7000)

	g := newGuest(t, "i-0aaaaaaaaaaaaaaaa", "02:00:00:00:00:0a", netip.MustParsePrefix("172.31.0.10/20"))
	in := openami.InstanceNetwork{PrivateIP: g.addr.Addr(), Subnet: g.addr.Masked(), VPC: netip.MustParsePrefix("172.31.0.0/16"),
		PublicIP: netip.MustParseAddr("198.51.100.9"),
		Firewall: openami.Firewall{Ingress: []openami.FirewallRule{rule("tcp", 8080, 8080, "0.0.0.0/0")}, Egress: []openami.FirewallRule{rule("-1", 0, 0, "0.0.0.0/0")}}}
	if _, err := h.attach(g.id, "vpc-0123456789abcdef0", g.mac, in, imdsOf(g.id), false); err != nil {
		t.Fatal(err)
	}
	g.configure(t)
	listen(t, g.ns, 8080)
	if got, err := httpGet(t, g.ns, netip.Addr{}, "http://169.254.169.254/latest/meta-data/instance-id"); err != nil || got != g.id {
		t.Errorf("metadata: %q, %v", got, err)
	}
	blocked(t, g.ns, netip.Addr{}, "192.0.2.2:7000")
	reaches(t, ext, "198.51.100.9:8080", "192.0.2.2")
}

// udpEcho answers each datagram to addr in the namespace with the
// address it came from.
func udpEcho(t *testing.T, ns netns.NsHandle, addr string) {
	t.Helper()
	var pc net.PacketConn
	inNS(t, ns, func() {
		var err error
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()), from)
		}
	}()
}

// udpAsk sends a datagram from the namespace and returns the answer.
func udpAsk(t *testing.T, ns netns.NsHandle, to string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = net.Dial("udp4", to) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 512)
	for try := 0; try < 3; try++ {
		c.Write([]byte("?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no answer from %s", to)
}

// ping sends ICMP echoes from the namespace and reports whether one was
// answered.
func ping(t *testing.T, ns netns.NsHandle, to string) bool {
	t.Helper()
	var c *icmp.PacketConn
	var err error
	inNS(t, ns, func() { c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0") })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(to)}
	buf := make([]byte, 1500)
	for seq := 1; seq <= 3; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x0a4d, Seq: seq, Data: []byte("openami")}}
		b, _ := msg.Marshal(nil)
		c.WriteTo(b, dst)
		deadline := time.Now().Add(time.Second)
		for {
			c.SetReadDeadline(deadline)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err == nil && m.Type == ipv4.ICMPTypeEchoReply && from.String() == to {
				return true
			}
		}
	}
	return false
}

// outside makes the host's uplink ("uplink", 192.0.2.1/24) to a
// namespace standing in for the outside (192.0.2.2, its default route
// through the host), and returns that namespace.
func outside(t *testing.T) netns.NsHandle {
	t.Helper()
	ext := newNS(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "ext0"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	up, _ := netlink.LinkByName("uplink")
	netlink.AddrAdd(up, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.1/24"))})
	netlink.LinkSetUp(up)
	peer, _ := netlink.LinkByName("ext0")
	netlink.LinkSetNsFd(peer, int(ext))
	nl, _ := netlink.NewHandleAt(ext)
	e, _ := nl.LinkByName("ext0")
	nl.AddrAdd(e, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.2/24"))})
	nl.AddrAdd(e, &netlink.Addr{IPNet: prefixIPNet(netip.MustParsePrefix("192.0.2.53/32"))})
	nl.LinkSetUp(e)
	if err := nl.RouteAdd(&netlink.Route{Gw: net.ParseIP("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	return ext
}

// listenAs serves each TCP connection to port in the namespace with
// name and the address it came from ("NAME ADDR", or "ADDR" for no
// name), and closes it.
func listenAs(t *testing.T, ns netns.NsHandle, port int, name string) {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() {
		var err error
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			addr := c.RemoteAddr().(*net.TCPAddr).IP.String()
			if name != "" {
				addr = name + " " + addr
			}
			io.WriteString(c, addr)
			c.Close()
		}
	}()
}

// TestHostOverlapping runs two VPCs with the same range at once, as two
// accounts' default VPCs are (172.31.0.0/16): in each, an instance at
// 172.31.0.10 (the two with the same MAC, too) and one at 172.31.0.11.
// Each gets its own lease and its own metadata; each reaches its own
// VPC's peer at 172.31.0.11 and never the other VPC's; both reach the
// outside through NAT, with the same private address and port at the
// same time; each public address reaches its own instance; and the host
// holds no route of the VPCs' range.
func TestHostOverlapping(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	exec.Command("ip", "link", "set", "lo", "up").Run()
	h, err := New(Config{Resolver: netip.MustParseAddr("192.0.2.53")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ext := outside(t)
	udpEcho(t, ext, "192.0.2.53:53")

	vpc := netip.MustParsePrefix("172.31.0.0/16")
	type inst struct {
		g      *guest
		vpcID  string
		name   string
		public string
	}
	const vpcA, vpcB = "vpc-0aaaaaaaaaaaaaaa0", "vpc-0bbbbbbbbbbbbbbb0"
	insts := []inst{
		{newGuest(t, "i-0a1a1a1a1a1a1a1a1", "02:00:00:00:00:10", netip.MustParsePrefix("172.31.0.10/20")), vpcA, "a1", "198.51.100.4"},
		{newGuest(t, "i-0a2a2a2a2a2a2a2a2", "02:00:00:00:00:11", netip.MustParsePrefix("172.31.0.11/20")), vpcA, "a2", ""},
		{newGuest(t, "i-0b1b1b1b1b1b1b1b1", "02:00:00:00:00:10", netip.MustParsePrefix("172.31.0.10/20")), vpcB, "b1", "198.51.100.5"},
		{newGuest(t, "i-0b2b2b2b2b2b2b2b2", "02:00:00:00:00:12", netip.MustParsePrefix("172.31.0.11/20")), vpcB, "b2", ""},
	}
	a1, a2, b1, b2 := insts[0].g, insts[1].g, insts[2].g, insts[3].g
	for _, x := range insts {
		in := openami.InstanceNetwork{PrivateIP: x.g.addr.Addr(), Subnet: x.g.addr.Masked(), VPC: vpc,
			Hostname: x.name, Domain: "ec2.internal",
			Firewall: openami.Firewall{
				Ingress: []openami.FirewallRule{rule("tcp", 8080, 8081, "0.0.0.0/0")},
				Egress:  []openami.FirewallRule{rule("-1", 0, 0, "0.0.0.0/0")},
			}}
		if x.public != "" {
			in.PublicIP = netip.MustParseAddr(x.public)
		}
		if _, err := h.attach(x.g.id, x.vpcID, x.g.mac, in, imdsOf(x.g.id), false); err != nil {
			t.Fatalf("attach %s to %s: %v", x.name, x.vpcID, err)
		}
		listenAs(t, x.g.ns, 8080, x.name)
	}
	// Only B's 172.31.0.11 serves 8081: a connection from A that got
	// there would have crossed into B.
	listenAs(t, b2.ns, 8081, "b2")

	// DHCP: each 172.31.0.10, with the same MAC, gets its own VPC's
	// lease (its host name tells which).
	for _, x := range []inst{insts[0], insts[2]} {
		inNS(t, x.g.ns, func() {
			cl, err := nclient4.New("eth0", nclient4.WithTimeout(5*time.Second), nclient4.WithRetry(3))
			if err != nil {
				t.Fatalf("DHCP client: %v", err)
			}
			defer cl.Close()
			lease, err := cl.Request(context.Background(), dhcpv4.WithOption(dhcpv4.OptParameterRequestList(dhcpv4.OptionHostName)))
			if err != nil {
				t.Fatalf("%s's DHCP: %v", x.name, err)
			}
			if got, hn := lease.ACK.YourIPAddr.String(), lease.ACK.HostName(); got != "172.31.0.10" || hn != x.name {
				t.Errorf("%s's DHCP lease: %s named %q; want 172.31.0.10 named %q", x.name, got, hn, x.name)
			}
		})
	}
	for _, x := range insts {
		x.g.configure(t)
	}

	// The metadata service answers each about itself.
	for _, x := range insts {
		if got, err := httpGet(t, x.g.ns, netip.Addr{}, "http://169.254.169.254/latest/meta-data/instance-id"); err != nil || got != x.g.id {
			t.Errorf("%s's metadata: %q, %v; want %s", x.name, got, err, x.g.id)
		}
	}

	// Each 172.31.0.10 reaches its own VPC's 172.31.0.11, and never the
	// other's.
	reaches(t, a1.ns, "172.31.0.11:8080", "a2 172.31.0.10")
	reaches(t, b1.ns, "172.31.0.11:8080", "b2 172.31.0.10")
	blocked(t, a1.ns, netip.Addr{}, "172.31.0.11:8081")
	reaches(t, b1.ns, "172.31.0.11:8081", "b2 172.31.0.10")
	reaches(t, a2.ns, "172.31.0.10:8080", "a1 172.31.0.11")
	reaches(t, b2.ns, "172.31.0.10:8080", "b1 172.31.0.11")

	// The outside: the instances with public addresses leave as them,
	// the others masqueraded as the host's uplink address.
	listen(t, ext, 7000)
	for x, want := range map[*guest]string{a1: "198.51.100.4", b1: "198.51.100.5", a2: "192.0.2.1", b2: "192.0.2.1"} {
		reaches(t, x.ns, "192.0.2.2:7000", want)
	}
	// The same private address and port in both VPCs, to the same
	// server, at the same time: two connections, each with its own
	// replies.
	{
		var ln net.Listener
		inNS(t, ext, func() {
			if ln, err = net.Listen("tcp4", "192.0.2.2:7001"); err != nil {
				t.Fatal(err)
			}
		})
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.WriteString(c, c.RemoteAddr().String()+"\n")
					io.Copy(io.Discard, c) // until the client closes
				}()
			}
		}()
		var seen []string
		for _, g := range []*guest{a2, b2} {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IP(g.addr.Addr().AsSlice()), Port: 40000}}
			var c net.Conn
			inNS(t, g.ns, func() { c, err = d.Dial("tcp4", "192.0.2.2:7001") })
			if err != nil {
				t.Fatalf("%s from port 40000 to the outside: %v", g.id, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("%s's connection from port 40000: %v", g.id, err)
			}
			seen = append(seen, strings.TrimSpace(line))
		}
		if len(seen) == 2 && (seen[0] == seen[1] || !strings.HasPrefix(seen[0], "192.0.2.1:") || !strings.HasPrefix(seen[1], "192.0.2.1:")) {
			t.Errorf("two VPCs' connections from 172.31.0.11:40000 at once: the server saw %v; want two masqueraded ports of 192.0.2.1", seen)
		}
	}
	// The VPCs' resolvers: both are the host's.
	for x, want := range map[*guest]string{a1: "198.51.100.4", b2: "192.0.2.1"} {
		if got, err := udpAsk(t, x.ns, "172.31.0.2:53"); err != nil || got != want {
			t.Errorf("%s's DNS through its VPC's resolver: the resolver saw %q (%v); want %s", x.id, got, err, want)
		}
	}

	// Each public address reaches its own instance, from the outside
	// and from the host.
	reaches(t, ext, "198.51.100.4:8080", "a1 192.0.2.2")
	reaches(t, ext, "198.51.100.5:8080", "b1 192.0.2.2")
	for addr, name := range map[string]string{"198.51.100.4:8080": "a1 ", "198.51.100.5:8080": "b1 "} {
		orig, _ := netns.Get()
		got, err := dial(t, orig, netip.Addr{}, addr)
		orig.Close()
		if err != nil || !strings.HasPrefix(got, name) {
			t.Errorf("the host's connection to %s: %q, %v; want %s…", addr, got, err, name)
		}
	}

	// The host itself has no route into the VPCs' range: they are the
	// namespaces' own.
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && vpc.Overlaps(netip.MustParsePrefix(r.Dst.String())) {
			t.Errorf("the host routes %v (%v)", r.Dst, r)
		}
	}

	// A's instances go, and its namespace with them; B goes on.
	for _, x := range insts[:2] {
		h.mu.Lock()
		att := h.members[x.g.id]
		h.mu.Unlock()
		if err := att.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := netlink.LinkByName(VethName(vpcA)); err == nil {
		t.Errorf("VPC A's veth is left after its last instance went")
	}
	reaches(t, b1.ns, "172.31.0.11:8080", "b2 172.31.0.10")
	reaches(t, ext, "198.51.100.5:8080", "b1 192.0.2.2")
	h.Close()
	noneLeft(t)
}
