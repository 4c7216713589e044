// Package bridge is the root mode of instances' networks: real private
// networks on the host, for operators who run openami as root
// (`openami serve --runtime qemu --network bridge`).
//
//   - Each VPC with an instance running on this host has a network
//     namespace of its own, so that VPCs whose ranges overlap (every
//     account's default VPC is 172.31.0.0/16) coexist: its own routing
//     table, neighbours, connection tracking and NAT, and its own
//     nftables ruleset. The namespace is held by a file descriptor of
//     openami's, not pinned: when openami ends, however it ends, the
//     namespace goes with everything in it.
//   - In it, the VPC is a Linux bridge (BridgeName: oab and 12 digits of
//     the VPC's id) that carries the gateway address (the subnet's base +
//     1) of each of its subnets with an instance here; the namespace
//     routes between the VPC's subnets. A veth pair joins it to the host
//     (VethName on the host's side, "host" inside), each end with an
//     address of a /30 of its own from 169.254.64.0/18 (transit.go): the
//     namespace translates its VPC's addresses to its end's (or an
//     instance's to its public address) on the way out, and the host
//     masquerades the transit addresses out of its uplink, so the host's
//     connection tracking never sees two VPCs' private addresses.
//   - Each instance is a tap (TapName) enslaved to its VPC's bridge, as
//     an isolated port: guests reach each other only through the
//     namespace's IP layer (the bridge answers their ARP for one another:
//     proxy ARP for a private VLAN), so every packet between them meets
//     the security groups. The tap is opened by openami inside the
//     namespace and handed to QEMU as a file descriptor; it goes when
//     both close it.
//   - DHCP is served on each bridge with one static lease per MAC: the
//     instance's private address, its subnet's mask and gateway, the
//     VPC's resolver, its host name and domain (runtime/dhcp, as the
//     rootless network hands out).
//   - The metadata service at 169.254.169.254:80: each bridge's
//     connections to it are redirected to a listener bound to that
//     bridge, opened inside the VPC's namespace, which serves the
//     instance whose private address the connection comes from. A guest
//     cannot send from another address or MAC: the bridge family's rules
//     drop its frames (EC2's source/destination check).
//   - Security groups are nftables rules per instance (ingress and
//     egress, stateful), public addresses DNAT in and SNAT out: one
//     ruleset per VPC, generated whole from its attached instances'
//     openami.InstanceNetwork and loaded atomically with `nft -f` inside
//     its namespace on every change (ruleset.go); the host has a small
//     fixed table of its own (masquerade of the transit range, its input
//     from the veths).
//
// A Host is the host's whole root-mode network; Close removes every
// namespace, link and table it made, and New removes those an earlier
// openami left on the host.
package bridge

import (
	"bufio"
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

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/openami/openami"
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

// Host is the host's root-mode network: its VPCs' namespaces, bridges,
// taps, DHCP and metadata servers, and nftables tables.
type Host struct {
	cfg      Config
	nft      string
	upstream netip.Addr

	mu      sync.Mutex
	closed  bool
	vpcs    map[string]*vpcBridge // by VPC id
	members map[string]*Attachment
	slots   map[int]bool // transit /30s in use
}

// New checks that the process may administer the network (CAP_NET_ADMIN)
// and that nft is there, removes what an earlier openami left on the
// host (its links and tables), turns on IPv4 forwarding, and loads the
// host's table.
func New(cfg Config) (*Host, error) {
	if !HasNetAdmin() {
		return nil, errors.New("bridge networking needs CAP_NET_ADMIN: run openami as root (it also writes the network sysctls); the default rootless network needs no privilege")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Host{cfg: cfg, vpcs: map[string]*vpcBridge{}, members: map[string]*Attachment{}, slots: map[int]bool{}}
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
	if err := h.runNFT(hostText()); err != nil {
		h.tidy()
		return nil, fmt.Errorf("bridge: load the host's table: %w", err)
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

// tidy removes openami's tables on the host and every link of the host
// named as its veths are (and as the bridges and taps of openami before
// VPCs had namespaces were): what an earlier process left, or this one
// at Close. An earlier process's namespaces went with it.
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
		isVeth := strings.HasPrefix(name, VethPrefix) && l.Type() == "veth"
		if (isTap || isBridge || isVeth) && len(name) == len(BridgePrefix)+12 {
			if err := netlink.LinkDel(l); err != nil {
				h.cfg.Log.Warn("cannot remove a link of an earlier openami", "link", name, "err", err)
			}
		}
	}
}

// Close ends every attachment, removes the namespaces (and with them the
// bridges, taps and their tables), the veths and the host's table.
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
			a.unplug()
		}
		v.close()
	}
	h.tidy()
	return nil
}

// vpcBridge is one VPC's namespace, bridge and servers.
type vpcBridge struct {
	id, name string
	cidr     netip.Prefix
	ns       netns.NsHandle
	nl       *netlink.Handle       // netlink in ns
	link     netlink.Link          // the bridge, in ns
	slot     int                   // its transit /30
	veth     string                // the host's end of the veth to ns
	gateways map[netip.Prefix]bool // subnets whose gateway address the bridge carries
	imdsLn   net.Listener
	imds     *http.Server
	imdsPort int
	dhcp     *net.UDPConn
	wg       sync.WaitGroup
	loaded   string // the ruleset last loaded in ns

	mu      sync.Mutex
	members map[netip.Addr]*Attachment // by private address
}

// close stops the VPC's servers and removes its veth and namespace (its
// bridge, its taps but those QEMU still holds, and its tables go with
// it).
func (v *vpcBridge) close() {
	if v.imds != nil {
		v.imds.Close()
	}
	if v.dhcp != nil {
		v.dhcp.Close()
	}
	v.wg.Wait()
	if v.link != nil {
		v.nl.LinkDel(v.link)
	}
	if l, err := netlink.LinkByName(v.veth); err == nil && l.Type() == "veth" {
		netlink.LinkDel(l)
	}
	if v.nl != nil {
		v.nl.Close()
	}
	if v.ns.IsOpen() {
		v.ns.Close()
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

// Name returns the tap's interface name (in its VPC's namespace).
func (a *Attachment) Name() string { return a.name }

// Attach plugs an instance into its VPC's bridge (made, in a namespace of
// its own, with the VPC's first instance): a tap with the guest's MAC
// behind it, its private address leased by DHCP, its metadata served by
// imds, its security groups and public address in its VPC's ruleset. It
// fails when the instance's addresses are unusable or another instance
// of its VPC holds its private address; other VPCs' ranges do not
// matter.
func (h *Host) Attach(instanceID, vpcID, mac string, in openami.InstanceNetwork, imds http.Handler) (*Attachment, error) {
	return h.attach(instanceID, vpcID, mac, in, imds, true)
}

// attach is Attach; without tap, it plugs a link of the host's that
// exists already, named as the instance's tap (a veth, in tests), moving
// it into the VPC's namespace.
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
			h.closeVPC(v)
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
	plug := func() error {
		l, err := netlink.LinkByName(a.name)
		if err != nil {
			return fmt.Errorf("bridge: %s: %w", a.name, err)
		}
		if err := netlink.LinkSetNsFd(l, int(v.ns)); err != nil {
			return fmt.Errorf("bridge: %s into %s's namespace: %w", a.name, vpcID, err)
		}
		return v.plug(a.name)
	}
	if tap {
		plug = func() error { return v.plugTap(a) }
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
		// The host routes the public address to the VPC's namespace,
		// which translates it to the private one.
		if err := netlink.RouteReplace(v.publicRoute(in.PublicIP)); err != nil {
			h.detach(a)
			return nil, fmt.Errorf("bridge: route public address %v to %s: %w", in.PublicIP, v.veth, err)
		}
	}
	if err := h.reload(v); err != nil {
		h.detach(a)
		return nil, err
	}
	return a, nil
}

// publicRoute is the host's route of an instance's public address: to
// the namespace's end of the VPC's veth.
func (v *vpcBridge) publicRoute(public netip.Addr) *netlink.Route {
	l, err := netlink.LinkByName(v.veth)
	idx := 0
	if err == nil {
		idx = l.Attrs().Index
	}
	return &netlink.Route{LinkIndex: idx, Dst: prefixNet(netip.PrefixFrom(public, 32)), Gw: net.IP(transitNS(v.slot).AsSlice())}
}

// Update applies the instance's network as it now is: its firewall
// (rules, and the members of the groups they reference). Its addresses
// are the VM's for as long as it runs; a change of them is ignored. Its
// VPC's ruleset is reloaded only when it changes.
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
	return h.reload(a.vpc)
}

// Close unplugs the instance: its tap goes, its rules and lease go, and
// its VPC's namespace goes with its last instance.
func (a *Attachment) Close() error {
	h := a.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members[a.id] != a {
		return nil
	}
	v := h.detach(a)
	if v == nil {
		return nil
	}
	return h.reload(v)
}

// unplug removes the instance's tap (or test link) and closes openami's
// file of it.
func (a *Attachment) unplug() {
	if l, err := a.vpc.nl.LinkByName(a.name); err == nil {
		a.vpc.nl.LinkDel(l)
	}
	if a.tap != nil {
		a.tap.Close()
	}
}

// detach unplugs a and returns its VPC, or nil when that went with it.
func (h *Host) detach(a *Attachment) *vpcBridge {
	delete(h.members, a.id)
	v := a.vpc
	v.mu.Lock()
	delete(v.members, a.in.PrivateIP)
	empty := len(v.members) == 0
	v.mu.Unlock()
	a.unplug()
	if a.in.PublicIP.IsValid() {
		netlink.RouteDel(v.publicRoute(a.in.PublicIP))
	}
	if empty {
		h.closeVPC(v)
		return nil
	}
	return v
}

// closeVPC removes the VPC's namespace and gives its transit /30 back.
func (h *Host) closeVPC(v *vpcBridge) {
	v.close()
	delete(h.slots, v.slot)
	if h.vpcs[v.id] == v {
		delete(h.vpcs, v.id)
	}
}

// bridge returns the VPC's bridge, made with its namespace, veth and
// servers if need be.
func (h *Host) bridge(vpcID string, cidr netip.Prefix) (*vpcBridge, error) {
	if v := h.vpcs[vpcID]; v != nil {
		return v, nil
	}
	slot := -1
	for i := range transitSlots {
		if !h.slots[i] {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil, fmt.Errorf("bridge: %d VPCs have instances on this host, the most it can hold", transitSlots)
	}
	v := &vpcBridge{id: vpcID, name: BridgeName(vpcID), veth: VethName(vpcID), cidr: cidr, slot: slot,
		gateways: map[netip.Prefix]bool{}, members: map[netip.Addr]*Attachment{}, ns: netns.None()}
	ok := false
	defer func() {
		if !ok {
			v.close()
		}
	}()
	var err error
	if v.ns, err = newNetns(); err != nil {
		return nil, err
	}
	if v.nl, err = netlink.NewHandleAt(v.ns); err != nil {
		return nil, fmt.Errorf("bridge: netlink in %s's namespace: %w", vpcID, err)
	}
	if l, err := netlink.LinkByName(v.veth); err == nil {
		netlink.LinkDel(l) // a leftover of a crash
	}
	// The veth to the host: its end in the namespace is made there.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.veth, MTU: mtu}, PeerName: nsUplink, PeerNamespace: netlink.NsFd(int(v.ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("bridge: veth %s for %s: %w", v.veth, vpcID, err)
	}
	hostEnd, err := netlink.LinkByName(v.veth)
	if err != nil {
		return nil, fmt.Errorf("bridge: %s: %w", v.veth, err)
	}
	if err := netlink.AddrAdd(hostEnd, &netlink.Addr{IPNet: prefixIPNet(netip.PrefixFrom(transitHost(slot), 30))}); err != nil {
		return nil, fmt.Errorf("bridge: %s's address: %w", v.veth, err)
	}
	if err := netlink.LinkSetUp(hostEnd); err != nil {
		return nil, fmt.Errorf("bridge: %s up: %w", v.veth, err)
	}
	err = inNetns(v.ns, func() error {
		// Inside: loopback, the uplink to the host (the default route),
		// forwarding, and the bridge. Guests are isolated ports: the
		// bridge itself answers their ARP for one another (proxy ARP back
		// out of the same interface), and routes their traffic, so that
		// it meets the security groups. It sends them no redirects (the
		// output chain drops any, as the all.* sysctl may still ask for
		// them).
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("bridge: loopback of %s's namespace: %w", vpcID, err)
		}
		up, err := netlink.LinkByName(nsUplink)
		if err != nil {
			return fmt.Errorf("bridge: %s's uplink: %w", vpcID, err)
		}
		if err := netlink.AddrAdd(up, &netlink.Addr{IPNet: prefixIPNet(netip.PrefixFrom(transitNS(slot), 30))}); err != nil {
			return fmt.Errorf("bridge: %s's uplink address: %w", vpcID, err)
		}
		if err := netlink.LinkSetUp(up); err != nil {
			return fmt.Errorf("bridge: %s's uplink up: %w", vpcID, err)
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Gw: net.IP(transitHost(slot).AsSlice())}); err != nil {
			return fmt.Errorf("bridge: %s's default route: %w", vpcID, err)
		}
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("bridge: forwarding in %s's namespace: %w", vpcID, err)
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: v.name, MTU: mtu}}); err != nil {
			return fmt.Errorf("bridge: create %s for %s: %w", v.name, vpcID, err)
		}
		if v.link, err = netlink.LinkByName(v.name); err != nil {
			return fmt.Errorf("bridge: %s: %w", v.name, err)
		}
		for key, val := range map[string]string{"proxy_arp_pvlan": "1", "send_redirects": "0", "accept_redirects": "0"} {
			if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+v.name+"/"+key, []byte(val+"\n"), 0o644); err != nil {
				return fmt.Errorf("bridge: %s: %s: %w", v.name, key, err)
			}
		}
		if err := netlink.LinkSetUp(v.link); err != nil {
			return fmt.Errorf("bridge: %s up: %w", v.name, err)
		}
		return h.serve(v)
	})
	if err != nil {
		return nil, err
	}
	h.vpcs[vpcID] = v
	h.slots[slot] = true
	ok = true
	// Where to look: `nsenter --net=/proc/PID/fd/N nft list ruleset`.
	h.cfg.Log.Info("a VPC's network namespace", "vpc", vpcID, "cidr", cidr, "bridge", v.name, "veth", v.veth,
		"host", transitHost(slot), "namespace", transitNS(slot), "enter", fmt.Sprintf("nsenter --net=/proc/%d/fd/%d", os.Getpid(), int(v.ns)))
	return v, nil
}

// addGateway puts the subnet's gateway address on the bridge.
func (v *vpcBridge) addGateway(subnet netip.Prefix) error {
	if v.gateways[subnet] {
		return nil
	}
	gw := netip.PrefixFrom(subnet.Addr().Next(), subnet.Bits())
	if err := v.nl.AddrAdd(v.link, &netlink.Addr{IPNet: prefixIPNet(gw)}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("bridge: gateway %v on %s: %w", gw, v.name, err)
	}
	v.gateways[subnet] = true
	return nil
}

// plugTap creates the instance's tap in the VPC's namespace (open, not
// persistent: it goes when openami and QEMU have both closed it) and
// enslaves it to the bridge.
func (v *vpcBridge) plugTap(a *Attachment) error {
	if l, err := v.nl.LinkByName(a.name); err == nil {
		v.nl.LinkDel(l)
	}
	tap := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: a.name, MTU: mtu},
		Mode:       netlink.TUNTAP_MODE_TAP,
		Flags:      netlink.TUNTAP_NO_PI,
		NonPersist: true,
		Queues:     1,
	}
	// A tap is made in the namespace of the thread that opens
	// /dev/net/tun.
	if err := inNetns(v.ns, func() error { return netlink.LinkAdd(tap) }); err != nil {
		return fmt.Errorf("bridge: tap %s: %w", a.name, err)
	}
	if len(tap.Fds) != 1 {
		return fmt.Errorf("bridge: tap %s: no file", a.name)
	}
	a.tap = tap.Fds[0]
	if err := v.plug(a.name); err != nil {
		a.tap.Close()
		return err
	}
	return nil
}

// plug enslaves a link of the VPC's namespace (an instance's tap; a veth
// in tests) to the bridge as an isolated port and sets it up.
func (v *vpcBridge) plug(name string) error {
	l, err := v.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge: %s: %w", name, err)
	}
	if err := v.nl.LinkSetMaster(l, v.link); err != nil {
		return fmt.Errorf("bridge: %s into %s: %w", name, v.name, err)
	}
	if err := v.nl.LinkSetIsolated(l, true); err != nil {
		return fmt.Errorf("bridge: isolate %s: %w", name, err)
	}
	if err := v.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge: %s up: %w", name, err)
	}
	return nil
}

// reload loads the VPC's ruleset, of its attachments as they are, in its
// namespace, when it differs from the one last loaded there. h.mu is
// held.
func (h *Host) reload(v *vpcBridge) error {
	rs := ruleset{Restrict: h.cfg.Restrict, VPC: vpcNet{Bridge: v.name, IMDSPort: v.imdsPort, CIDR: v.cidr}}
	if h.upstream.IsValid() {
		rs.VPC.Resolver, rs.VPC.Upstream = v.cidr.Addr().Next().Next(), h.upstream
	}
	v.mu.Lock()
	for _, a := range v.members {
		a.mu.Lock()
		rs.Members = append(rs.Members, member{Tap: a.name, MAC: a.mac, Private: a.in.PrivateIP, Public: a.in.PublicIP, Firewall: a.in.Firewall})
		a.mu.Unlock()
	}
	v.mu.Unlock()
	text := rs.text()
	if text == v.loaded {
		return nil
	}
	if err := inNetns(v.ns, func() error { return h.runNFT(text) }); err != nil {
		return fmt.Errorf("bridge: load %s's ruleset: %w", v.id, err)
	}
	v.loaded = text
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
