// Package bridge is the root mode of instances' networks: real private
// networks on the host, for operators who run openami as root
// (`openami serve --runtime qemu --network bridge`).
//
//   - Each VPC with an instance running on this host is a Linux bridge
//     (BridgeName: oab and 12 digits of the VPC's id) that carries the
//     gateway address (the subnet's base + 1) of each of its subnets with
//     an instance here. The host routes between the VPC's subnets, and
//     to the outside with masquerade (unless restricted).
//   - Each instance is a tap (TapName) enslaved to its VPC's bridge, as
//     an isolated port: guests reach each other only through the host's
//     IP layer (the bridge answers their ARP for one another: proxy ARP
//     for a private VLAN), so every packet between them meets the
//     security groups. The tap is opened by openami and handed to QEMU as
//     a file descriptor; it goes when both close it.
//   - DHCP is served on each bridge with one static lease per MAC: the
//     instance's private address, its subnet's mask and gateway, the
//     VPC's resolver, its host name and domain (runtime/dhcp, as the
//     rootless network hands out).
//   - The metadata service at 169.254.169.254:80: each bridge's
//     connections to it are redirected to a listener bound to that
//     bridge, which serves the instance whose private address the
//     connection comes from. A guest cannot send from another address or
//     MAC: the bridge family's rules drop its frames (EC2's
//     source/destination check).
//   - Security groups are nftables rules per instance (ingress and
//     egress, stateful), public addresses DNAT in and SNAT out: one
//     ruleset, generated whole from every attached instance's
//     openami.InstanceNetwork and loaded atomically with `nft -f` on
//     every change (ruleset.go).
//
// A Host is the host's whole root-mode network; Close removes every
// bridge, tap and table it made, and New removes those an earlier openami
// left.
package bridge

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
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/openami/openami"
	"github.com/openami/openami/runtime/dhcp"
)

// MetadataAddr is where the guests find their metadata service.
var MetadataAddr = netip.AddrFrom4([4]byte{169, 254, 169, 254})

// mtu is the bridges' and taps' MTU, handed out by DHCP.
const mtu = 1500

// Config configures a Host.
type Config struct {
	// Restrict cuts the guests off from the host and the outside; their
	// VPC's DHCP, DNS and metadata service still answer, and instances of
	// a VPC still reach each other as their groups allow.
	Restrict bool
	// Resolver is the host's DNS server that the VPCs' resolvers (base +
	// 2) are forwarded to; not valid reads the first nameserver of
	// /etc/resolv.conf. A loopback resolver cannot be reached from a
	// bridge: then the VPCs have none.
	Resolver netip.Addr
	// NFT is the nft binary; empty looks it up on the PATH.
	NFT string
	// Log receives the network's events.
	Log *slog.Logger
}

// Host is the host's root-mode network: its bridges, taps, DHCP and
// metadata servers, and nftables tables.
type Host struct {
	cfg      Config
	nft      string
	upstream netip.Addr

	mu      sync.Mutex
	closed  bool
	vpcs    map[string]*vpcBridge // by VPC id
	members map[string]*Attachment
	loaded  string // the ruleset last loaded
}

// New checks that the process may administer the network (CAP_NET_ADMIN)
// and that nft is there, removes what an earlier openami left (its
// bridges, taps and tables), turns on IPv4 forwarding, and loads the
// empty ruleset.
func New(cfg Config) (*Host, error) {
	if !HasNetAdmin() {
		return nil, errors.New("bridge networking needs CAP_NET_ADMIN: run openami as root (it also writes the network sysctls); the default rootless network needs no privilege")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Host{cfg: cfg, vpcs: map[string]*vpcBridge{}, members: map[string]*Attachment{}}
	h.nft = cfg.NFT
	if h.nft == "" {
		p, err := exec.LookPath("nft")
		if err != nil {
			return nil, fmt.Errorf("bridge networking needs nft (Debian: apt-get install nftables): %w", err)
		}
		h.nft = p
	}
	h.upstream = cfg.Resolver
	if !h.upstream.IsValid() {
		h.upstream = hostResolver("/etc/resolv.conf")
	}
	if h.upstream.IsValid() && (h.upstream.IsLoopback() || !h.upstream.Is4()) {
		cfg.Log.Warn("the host's resolver is on loopback, which guests on a bridge cannot reach: the VPCs' resolvers (base + 2) do not answer", "resolver", h.upstream)
		h.upstream = netip.Addr{}
	}
	h.tidy()
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("bridge networking: turn on IPv4 forwarding: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.reload(); err != nil {
		h.tidy()
		return nil, err
	}
	return h, nil
}

// HasNetAdmin reports whether this process has CAP_NET_ADMIN in its
// effective set.
func HasNetAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return false
}

// tidy removes openami's tables and every link named as its bridges and
// taps are: what an earlier process left, or this one at Close.
func (h *Host) tidy() {
	for _, fam := range []string{"inet", "bridge"} {
		h.runNFT(fmt.Sprintf("table %s %s\ndelete table %s %s\n", fam, TableName, fam, TableName))
	}
	links, err := netlink.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		name := l.Attrs().Name
		isTap := strings.HasPrefix(name, TapPrefix) && l.Type() == "tuntap"
		isBridge := strings.HasPrefix(name, BridgePrefix) && l.Type() == "bridge"
		if (isTap || isBridge) && len(name) == len(BridgePrefix)+12 {
			if err := netlink.LinkDel(l); err != nil {
				h.cfg.Log.Warn("cannot remove a link of an earlier openami", "link", name, "err", err)
			}
		}
	}
}

// Close ends every attachment, removes the bridges, taps and tables.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	vpcs := h.vpcs
	h.vpcs, h.members = map[string]*vpcBridge{}, map[string]*Attachment{}
	h.mu.Unlock()
	for _, v := range vpcs {
		for _, a := range v.members {
			if l, err := netlink.LinkByName(a.name); err == nil {
				netlink.LinkDel(l)
			}
			if a.tap != nil {
				a.tap.Close()
			}
		}
		v.close()
	}
	h.tidy()
	return nil
}

// vpcBridge is one VPC's bridge and its servers.
type vpcBridge struct {
	id, name string
	cidr     netip.Prefix
	link     netlink.Link
	gateways map[netip.Prefix]bool // subnets whose gateway address the bridge carries
	imdsLn   net.Listener
	imds     *http.Server
	imdsPort int
	dhcp     *net.UDPConn
	wg       sync.WaitGroup

	mu      sync.Mutex
	members map[netip.Addr]*Attachment // by private address
}

func (v *vpcBridge) close() {
	if v.imds != nil {
		v.imds.Close()
	}
	if v.dhcp != nil {
		v.dhcp.Close()
	}
	v.wg.Wait()
	if v.link != nil {
		netlink.LinkDel(v.link)
	}
}

func (v *vpcBridge) member(addr netip.Addr) *Attachment {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.members[addr.Unmap()]
}

func (v *vpcBridge) memberByMAC(mac net.HardwareAddr) *Attachment {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range v.members {
		if a.mac.String() == mac.String() {
			return a
		}
	}
	return nil
}

// Attachment is one instance's tap on its VPC's bridge.
type Attachment struct {
	h    *Host
	id   string
	vpc  *vpcBridge
	name string
	tap  *os.File
	mac  net.HardwareAddr
	imds http.Handler

	mu sync.Mutex
	in openami.InstanceNetwork
}

// Tap returns the tap's file: QEMU's `-netdev tap,fd=N`. It stays the
// attachment's; the caller hands a copy to QEMU (exec does).
func (a *Attachment) Tap() *os.File { return a.tap }

// Name returns the tap's interface name.
func (a *Attachment) Name() string { return a.name }

// Attach plugs an instance into its VPC's bridge (made on the VPC's first
// instance): a tap with the guest's MAC behind it, its private address
// leased by DHCP, its metadata served by imds, its security groups and
// public address in the ruleset. It fails when the instance's addresses
// are unusable, or its VPC's range overlaps another VPC's that has a
// bridge here (the host has one routing table).
func (h *Host) Attach(instanceID, vpcID, mac string, in openami.InstanceNetwork, imds http.Handler) (*Attachment, error) {
	return h.attach(instanceID, vpcID, mac, in, imds, true)
}

// attach is Attach; without tap, it plugs a link that exists already,
// named as the instance's tap (a veth, in tests).
func (h *Host) attach(instanceID, vpcID, mac string, in openami.InstanceNetwork, imds http.Handler, tap bool) (*Attachment, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("bridge: the instance's MAC address %q: %v", mac, err)
	}
	if !in.PrivateIP.Is4() || !in.Subnet.IsValid() || !in.Subnet.Contains(in.PrivateIP) || in.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("bridge: private address %v is not in a usable subnet %v", in.PrivateIP, in.Subnet)
	}
	if !in.VPC.IsValid() {
		in.VPC = in.Subnet
	}
	in.Subnet, in.VPC = in.Subnet.Masked(), in.VPC.Masked()
	if vpcID == "" {
		vpcID = "vpc-" + in.VPC.String()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("bridge: the host network is closed")
	}
	if old := h.members[instanceID]; old != nil {
		h.detach(old)
	}
	v, err := h.bridge(vpcID, in.VPC)
	if err != nil {
		return nil, err
	}
	undo := func() {
		if len(v.members) == 0 {
			v.close()
			delete(h.vpcs, vpcID)
		}
	}
	if other := v.member(in.PrivateIP); other != nil {
		undo()
		return nil, fmt.Errorf("bridge: address %v of %s is already %s's", in.PrivateIP, instanceID, other.id)
	}
	if err := v.addGateway(in.Subnet); err != nil {
		undo()
		return nil, err
	}
	a := &Attachment{h: h, id: instanceID, vpc: v, name: TapName(instanceID), mac: hw, imds: imds, in: in}
	plug := func() error { return h.plug(a.name, v) }
	if tap {
		plug = func() error { return h.plugTap(a) }
	}
	if err := plug(); err != nil {
		undo()
		return nil, err
	}
	v.mu.Lock()
	v.members[in.PrivateIP] = a
	v.mu.Unlock()
	h.members[instanceID] = a
	if in.PublicIP.IsValid() {
		// The host's own clients of the public address need a route to
		// it; the nat output chain then sends them to the private one.
		netlink.RouteReplace(&netlink.Route{LinkIndex: v.link.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(in.PublicIP, 32)), Scope: netlink.SCOPE_LINK})
	}
	if err := h.reload(); err != nil {
		h.detach(a)
		return nil, err
	}
	return a, nil
}

// Update applies the instance's network as it now is: its firewall
// (rules, and the members of the groups they reference). Its addresses
// are the VM's for as long as it runs; a change of them is ignored. The
// ruleset is reloaded only when it changes.
func (a *Attachment) Update(in openami.InstanceNetwork) error {
	h := a.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.members[a.id] != a {
		return nil
	}
	a.mu.Lock()
	a.in.Firewall = in.Firewall
	a.mu.Unlock()
	return h.reload()
}

// Close unplugs the instance: its tap goes, its rules and lease go, and
// its VPC's bridge goes with its last instance.
func (a *Attachment) Close() error {
	h := a.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members[a.id] != a {
		return nil
	}
	h.detach(a)
	return h.reload()
}

func (h *Host) detach(a *Attachment) {
	delete(h.members, a.id)
	v := a.vpc
	v.mu.Lock()
	delete(v.members, a.in.PrivateIP)
	empty := len(v.members) == 0
	v.mu.Unlock()
	if l, err := netlink.LinkByName(a.name); err == nil {
		netlink.LinkDel(l)
	}
	if a.tap != nil {
		a.tap.Close()
	}
	if a.in.PublicIP.IsValid() {
		netlink.RouteDel(&netlink.Route{LinkIndex: v.link.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(a.in.PublicIP, 32)), Scope: netlink.SCOPE_LINK})
	}
	if empty {
		v.close()
		delete(h.vpcs, v.id)
	}
}

// bridge returns the VPC's bridge, made with its servers if need be.
func (h *Host) bridge(vpcID string, cidr netip.Prefix) (*vpcBridge, error) {
	if v := h.vpcs[vpcID]; v != nil {
		return v, nil
	}
	for _, o := range h.vpcs {
		if o.cidr.Overlaps(cidr) {
			return nil, fmt.Errorf("bridge: VPC %s's range %v overlaps VPC %s's (%v), which has instances running on this host: in bridge mode, VPCs on one host need ranges of their own", vpcID, cidr, o.id, o.cidr)
		}
	}
	v := &vpcBridge{id: vpcID, name: BridgeName(vpcID), cidr: cidr, gateways: map[netip.Prefix]bool{}, members: map[netip.Addr]*Attachment{}}
	ok := false
	defer func() {
		if !ok {
			v.close()
		}
	}()
	if l, err := netlink.LinkByName(v.name); err == nil {
		netlink.LinkDel(l) // a leftover of a crash
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: v.name, MTU: mtu}}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("bridge: create %s for %s: %w", v.name, vpcID, err)
	}
	l, err := netlink.LinkByName(v.name)
	if err != nil {
		return nil, fmt.Errorf("bridge: %s: %w", v.name, err)
	}
	v.link = l
	// Guests are isolated ports: the bridge itself answers their ARP for
	// one another (proxy ARP back out of the same interface), and routes
	// their traffic, so that it meets the security groups. It sends them
	// no redirects (the output chain drops any, as the all.* sysctl may
	// still ask for them).
	for key, val := range map[string]string{"proxy_arp_pvlan": "1", "send_redirects": "0", "accept_redirects": "0"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+v.name+"/"+key, []byte(val+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("bridge: %s: %s: %w", v.name, key, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("bridge: %s up: %w", v.name, err)
	}
	if err := h.serve(v); err != nil {
		return nil, err
	}
	h.vpcs[vpcID] = v
	ok = true
	return v, nil
}

// addGateway puts the subnet's gateway address on the bridge.
func (v *vpcBridge) addGateway(subnet netip.Prefix) error {
	if v.gateways[subnet] {
		return nil
	}
	gw := netip.PrefixFrom(subnet.Addr().Next(), subnet.Bits())
	if err := netlink.AddrAdd(v.link, &netlink.Addr{IPNet: prefixIPNet(gw)}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("bridge: gateway %v on %s: %w", gw, v.name, err)
	}
	v.gateways[subnet] = true
	return nil
}

// plugTap creates the instance's tap (open, not persistent: it goes when
// openami and QEMU have both closed it) and enslaves it to the bridge.
func (h *Host) plugTap(a *Attachment) error {
	if l, err := netlink.LinkByName(a.name); err == nil {
		netlink.LinkDel(l)
	}
	tap := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: a.name, MTU: mtu},
		Mode:       netlink.TUNTAP_MODE_TAP,
		Flags:      netlink.TUNTAP_NO_PI,
		NonPersist: true,
		Queues:     1,
	}
	if err := netlink.LinkAdd(tap); err != nil {
		return fmt.Errorf("bridge: tap %s: %w", a.name, err)
	}
	if len(tap.Fds) != 1 {
		return fmt.Errorf("bridge: tap %s: no file", a.name)
	}
	a.tap = tap.Fds[0]
	if err := h.plug(a.name, a.vpc); err != nil {
		a.tap.Close()
		return err
	}
	return nil
}

// plug enslaves a link (an instance's tap; a veth in tests) to the VPC's
// bridge as an isolated port and sets it up.
func (h *Host) plug(name string, v *vpcBridge) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge: %s: %w", name, err)
	}
	if err := netlink.LinkSetMaster(l, v.link); err != nil {
		return fmt.Errorf("bridge: %s into %s: %w", name, v.name, err)
	}
	if err := netlink.LinkSetIsolated(l, true); err != nil {
		return fmt.Errorf("bridge: isolate %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge: %s up: %w", name, err)
	}
	return nil
}

// serve starts the bridge's DHCP server and metadata service, each on a
// socket bound to the bridge (SO_BINDTODEVICE), so that what they receive
// came in through it.
func (h *Host) serve(v *vpcBridge) error {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, v.name); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if network == "udp4" {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":67")
	if err != nil {
		return fmt.Errorf("bridge: DHCP server on %s: %w", v.name, err)
	}
	v.dhcp = pc.(*net.UDPConn)
	ln, err := lc.Listen(context.Background(), "tcp4", ":0")
	if err != nil {
		return fmt.Errorf("bridge: metadata service on %s: %w", v.name, err)
	}
	v.imdsLn = ln
	v.imdsPort = ln.Addr().(*net.TCPAddr).Port
	v.imds = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { v.serveIMDS(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second,
	}
	v.wg.Go(func() { v.imds.Serve(ln) })
	v.wg.Go(func() { h.serveDHCP(v) })
	return nil
}

// serveIMDS hands a guest's request to its own instance's metadata
// service: the instance whose private address, on this bridge, the
// connection comes from. Any other source gets nothing.
func (v *vpcBridge) serveIMDS(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		if a := v.member(ap.Addr()); a != nil && a.imds != nil {
			a.imds.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "", http.StatusForbidden)
}

// serveDHCP answers DHCP requests on the bridge by the client's MAC
// address, broadcast on the bridge: the client has no address yet.
func (h *Host) serveDHCP(v *vpcBridge) {
	buf := make([]byte, 1500)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcp.ClientPort}
	for {
		n, _, err := v.dhcp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || req.OpCode != dhcpv4.OpcodeBootRequest {
			continue
		}
		a := v.memberByMAC(req.ClientHWAddr)
		if a == nil {
			continue
		}
		reply := dhcp.ReplyTo(req, a.lease(h.upstream.IsValid()))
		if reply == nil {
			continue
		}
		if _, err := v.dhcp.WriteToUDP(reply.ToBytes(), bcast); err != nil {
			h.cfg.Log.Warn("DHCP reply", "bridge", v.name, "instance", a.id, "err", err)
		}
	}
}

// lease is the instance's DHCP lease.
func (a *Attachment) lease(resolver bool) dhcp.Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := dhcp.Lease{
		Addr: a.in.PrivateIP, Subnet: a.in.Subnet, Router: a.in.Subnet.Addr().Next(),
		Hostname: a.in.Hostname, Domain: a.in.Domain, MTU: mtu,
	}
	if resolver {
		l.DNS = a.in.VPC.Addr().Next().Next()
	}
	return l
}

// reload loads the ruleset of the attachments as they are, when it
// differs from the one last loaded. h.mu is held.
func (h *Host) reload() error {
	rs := ruleset{Restrict: h.cfg.Restrict}
	for _, v := range h.vpcs {
		vn := vpcNet{Bridge: v.name, IMDSPort: v.imdsPort}
		if h.upstream.IsValid() {
			vn.Resolver, vn.Upstream = v.cidr.Addr().Next().Next(), h.upstream
		}
		rs.VPCs = append(rs.VPCs, vn)
	}
	for _, a := range h.members {
		a.mu.Lock()
		rs.Members = append(rs.Members, member{Tap: a.name, MAC: a.mac, Private: a.in.PrivateIP, Public: a.in.PublicIP, VPC: a.in.VPC, Firewall: a.in.Firewall})
		a.mu.Unlock()
	}
	text := rs.text()
	if text == h.loaded {
		return nil
	}
	if err := h.runNFT(text); err != nil {
		return fmt.Errorf("bridge: load the ruleset: %w", err)
	}
	h.loaded = text
	return nil
}

// runNFT runs nft -f with the script on its standard input.
func (h *Host) runNFT(script string) error {
	cmd := exec.Command(h.nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft -f: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

func prefixNet(p netip.Prefix) *net.IPNet { return prefixIPNet(p.Masked()) }

// hostResolver returns the first IPv4 nameserver of a resolv.conf; not
// valid when it names none.
func hostResolver(path string) netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return netip.Addr{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() {
				return a
			}
		}
	}
	return netip.Addr{}
}
