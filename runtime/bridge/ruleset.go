package bridge

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
)

// TableName is the name of openami's nftables tables: in each VPC's
// namespace, one in the inet family (security groups, NAT, the
// namespace's own input from the bridge) and one in the bridge family
// (the source check of every tap); on the host, one in the inet family
// (masquerade of the transit range, the host's input from the veths).
const TableName = "openami"

// vpcNet is one VPC's bridge as the ruleset sees it.
type vpcNet struct {
	Bridge string
	// CIDR is the VPC's range, translated to the namespace's transit
	// address on the way out.
	CIDR netip.Prefix
	// IMDSPort is the host port the bridge's metadata service listens
	// on; a guest's connection to 169.254.169.254:80 is redirected there.
	IMDSPort int
	// Resolver is the VPC's DNS address (its base + 2) and Upstream the
	// host's resolver it is forwarded to; no forward when Upstream is not
	// valid.
	Resolver, Upstream netip.Addr
}

// member is one instance's interface as the ruleset sees it.
type member struct {
	Tap      string
	MAC      net.HardwareAddr
	Private  netip.Addr
	Public   netip.Addr // not valid: none
	Firewall openami.Firewall
}

// ruleset is everything a VPC's namespace's nftables tables are made
// from.
type ruleset struct {
	VPC     vpcNet
	Members []member
	// Restrict cuts the guests off from the host and the outside:
	// nothing from the bridge is forwarded to the host but the VPC's
	// resolver's translated queries.
	Restrict bool
}

// text returns the nft script that replaces openami's tables in a VPC's
// namespace with the ruleset, atomically (nft -f applies a script as one transaction): it
// declares each table (so that its deletion cannot fail), deletes it,
// and writes it again whole. Connections already tracked keep their
// state and NAT across a reload.
func (rs ruleset) text() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	members := slices.Clone(rs.Members)
	slices.SortFunc(members, func(a, b member) int { return cmp.Compare(a.Tap, b.Tap) })
	v := rs.VPC

	w("# openami's root-mode network (runtime/bridge), a VPC's namespace: generated, replaced whole on every change.")
	w("table inet %s", TableName)
	w("delete table inet %s", TableName)
	w("table bridge %s", TableName)
	w("delete table bridge %s", TableName)
	w("")

	// The bridge family sees each frame as it enters from a tap: a guest
	// sends from its own MAC and private address only (EC2's
	// source/destination check), ARP included; DHCP's discover from
	// 0.0.0.0 is the one exception, for the guest's own MAC. Frames of any other type (IPv6,
	// VLANs) are dropped. Every other rule below trusts the source
	// address because of this.
	w("table bridge %s {", TableName)
	w("\tchain prerouting {")
	w("\t\ttype filter hook prerouting priority -200; policy accept;")
	for _, m := range members {
		w("\t\tiifname %q jump src_%s", m.Tap, m.Tap)
	}
	w("\t\tiifname %q drop", TapPrefix+"*")
	w("\t}")
	for _, m := range members {
		w("\tchain src_%s {", m.Tap)
		w("\t\tether saddr != %s drop", m.MAC)
		// A DHCP request's client hardware address (BOOTP's chaddr, 28
		// bytes into the payload) is the frame's: a guest asks for its
		// own lease only.
		w("\t\tether type ip udp dport 67 @ih,224,48 != 0x%s drop", hex.EncodeToString(m.MAC))
		w("\t\tether type arp arp saddr ether %s arp saddr ip { %s, 0.0.0.0 } accept", m.MAC, m.Private)
		w("\t\tether type ip ip saddr %s accept", m.Private)
		w("\t\tether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport %d udp dport %d accept", 68, 67)
		w("\t\tdrop")
		w("\t}")
	}
	w("}")
	w("")

	br := BridgePrefix + "*"
	w("table inet %s {", TableName)

	// NAT: the metadata address to the bridge's metadata service, the
	// VPC's resolver to the host's, public addresses (which the host
	// routes here) to private ones; on the way out to the host, an
	// instance's private address to its public one, any other of the
	// VPC's to the namespace's transit address (which the host
	// masquerades again: even under Restrict, for the resolver).
	w("\tchain prerouting_nat {")
	w("\t\ttype nat hook prerouting priority dstnat; policy accept;")
	w("\t\tiifname %q ip daddr 169.254.169.254 tcp dport 80 redirect to :%d", v.Bridge, v.IMDSPort)
	if v.Upstream.IsValid() {
		w("\t\tiifname %q ip daddr %s meta l4proto { tcp, udp } th dport 53 dnat ip to %s", v.Bridge, v.Resolver, v.Upstream)
	}
	for _, m := range members {
		if m.Public.IsValid() {
			w("\t\tip daddr %s dnat ip to %s", m.Public, m.Private)
		}
	}
	w("\t}")
	w("\tchain postrouting_nat {")
	w("\t\ttype nat hook postrouting priority srcnat; policy accept;")
	w("\t\toifname %q return", br)
	for _, m := range members {
		if m.Public.IsValid() {
			w("\t\tip saddr %s snat ip to %s", m.Private, m.Public)
		}
	}
	if v.CIDR.IsValid() {
		w("\t\tip saddr %s masquerade", v.CIDR)
	}
	w("\t}")

	// The namespace itself, from the bridge: DHCP, the metadata service,
	// the resolver's forward, ping of the gateways. Nothing else is
	// reachable from a guest.
	w("\tchain input {")
	w("\t\ttype filter hook input priority filter; policy accept;")
	w("\t\tiifname != %q accept", br)
	w("\t\tct state established,related accept")
	w("\t\tudp dport 67 accept")
	w("\t\tiifname %q tcp dport %d accept", v.Bridge, v.IMDSPort)
	w("\t\ticmp type echo-request accept")
	w("\t\tdrop")
	w("\t}")

	// Between instances, and between them and the outside: the
	// destination's ingress rules, then the source's egress rules, each
	// keyed by a private address (which the bridge family vouches for).
	// Replies pass as established. Routed traffic that is no instance's
	// (neither interface a bridge) is none of this table's business.
	w("\tchain forward {")
	w("\t\ttype filter hook forward priority filter; policy accept;")
	w("\t\tiifname != %q oifname != %q accept", br, br)
	w("\t\tct state established,related accept")
	w("\t\tct state invalid drop")
	if v.Upstream.IsValid() {
		// The VPC's resolver, as on AWS, whatever the groups say.
		w("\t\tiifname %q ct status dnat ct original ip daddr %s meta l4proto { tcp, udp } th dport 53 accept", v.Bridge, v.Resolver)
	}
	if len(members) > 0 {
		w("\t\tip daddr vmap { %s }", vmap(members, "in_"))
	}
	if rs.Restrict {
		w("\t\tiifname %q oifname != %q drop", br, br)
	}
	if len(members) > 0 {
		w("\t\tiifname %q ip saddr vmap { %s }", br, vmap(members, "out_"))
	}
	// From the bridge, an address no instance has (none passes the
	// bridge family's check); from the host, to an instance whose
	// ingress allowed it (or to an address of the VPC that no instance
	// holds).
	w("\t\tiifname %q drop", br)
	w("\t}")

	// The namespace sends no ICMP redirects to guests (every guest's
	// traffic is routed by it, back out of the bridge it came from); its
	// own connections to instances (there are none) would meet their
	// ingress rules.
	w("\tchain output {")
	w("\t\ttype filter hook output priority filter; policy accept;")
	w("\t\toifname != %q accept", br)
	w("\t\ticmp type redirect drop")
	w("\t\tct state established,related accept")
	if len(members) > 0 {
		w("\t\tip daddr vmap { %s }", vmap(members, "in_"))
	}
	w("\t}")

	for _, m := range members {
		// Ingress: a rule that allows returns to the caller, which goes on
		// to the source's egress (forward) or accepts (output).
		w("\tchain in_%s {", m.Tap)
		for _, r := range m.Firewall.Ingress {
			if line := ruleLine(r, "saddr", "return"); line != "" {
				w("\t\t%s", line)
			}
		}
		w("\t\tdrop")
		w("\t}")
		w("\tchain out_%s {", m.Tap)
		for _, r := range m.Firewall.Egress {
			if line := ruleLine(r, "daddr", "accept"); line != "" {
				w("\t\t%s", line)
			}
		}
		w("\t\tdrop")
		w("\t}")
	}
	w("}")
	return b.String()
}

// vmap returns the elements of a verdict map from the members' private
// addresses to their chains named prefix+tap.
func vmap(members []member, prefix string) string {
	els := make([]string, len(members))
	for i, m := range members {
		els[i] = fmt.Sprintf("%s : jump %s%s", m.Private, prefix, m.Tap)
	}
	return strings.Join(els, ", ")
}

// hostText returns the nft script of the host's own table, loaded once
// at New: the transit range (whatever leaves a VPC's namespace without a
// public address) masqueraded out of every interface but the veths, and
// the host closed to the namespaces but for replies. What crosses the
// host between a namespace and the outside is routed, not filtered
// here: each namespace's ruleset decides.
func hostText() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	veths := VethPrefix + "*"
	w("# openami's root-mode network (runtime/bridge), the host's table: generated.")
	w("table inet %s", TableName)
	w("delete table inet %s", TableName)
	w("")
	w("table inet %s {", TableName)
	w("\tchain postrouting_nat {")
	w("\t\ttype nat hook postrouting priority srcnat; policy accept;")
	w("\t\toifname %q return", veths)
	w("\t\tip saddr %s masquerade", TransitRange)
	w("\t}")
	w("\tchain input {")
	w("\t\ttype filter hook input priority filter; policy accept;")
	w("\t\tiifname != %q accept", veths)
	w("\t\tct state established,related accept")
	w("\t\tdrop")
	w("\t}")
	w("}")
	return b.String()
}

// ruleLine returns the nft rule of one firewall rule: its peers (the
// source of an ingress rule, dir "saddr"; the destination of an egress
// one, "daddr"), protocol and ports, ending in verdict; "" for a rule
// that can match nothing here (IPv6 ranges only).
func ruleLine(r openami.FirewallRule, dir, verdict string) string {
	peers := mergePrefixes(r.Prefixes)
	if len(peers) == 0 {
		return ""
	}
	var parts []string
	if len(peers) != 1 || peers[0].Bits() != 0 {
		els := make([]string, len(peers))
		for i, p := range peers {
			els[i] = prefixString(p)
		}
		parts = append(parts, fmt.Sprintf("ip %s { %s }", dir, strings.Join(els, ", ")))
	}
	switch r.Protocol {
	case openami.ProtocolAll:
	case openami.ProtocolTCP, openami.ProtocolUDP:
		parts = append(parts, "meta l4proto "+r.Protocol)
		if r.FromPort != -1 && !(r.FromPort <= 0 && r.ToPort >= 65535) {
			parts = append(parts, "th dport "+portRange(r.FromPort, r.ToPort))
		}
	case openami.ProtocolICMP:
		parts = append(parts, "meta l4proto icmp")
		// For ICMP, FromPort is the type and ToPort the code (-1: any).
		if r.FromPort != -1 {
			parts = append(parts, "icmp type "+strconv.Itoa(r.FromPort))
			if r.ToPort != -1 {
				parts = append(parts, "icmp code "+strconv.Itoa(r.ToPort))
			}
		}
	default:
		n, err := strconv.Atoi(r.Protocol)
		if err != nil || n < 0 || n > 255 {
			return ""
		}
		parts = append(parts, "meta l4proto "+strconv.Itoa(n))
	}
	parts = append(parts, verdict)
	return strings.Join(parts, " ")
}

func portRange(from, to int) string {
	from, to = max(from, 0), min(to, 65535)
	if from == to {
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

func prefixString(p netip.Prefix) string {
	if p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

// mergePrefixes returns the IPv4 prefixes of ps, masked, without those
// another one holds: an nft interval set refuses overlapping elements.
// Two prefixes either nest or are disjoint, so what is left is disjoint.
func mergePrefixes(ps []netip.Prefix) []netip.Prefix {
	var v4 []netip.Prefix
	for _, p := range ps {
		if p.IsValid() && p.Addr().Is4() {
			v4 = append(v4, p.Masked())
		}
	}
	// Widest first, then by address: a prefix is kept unless one kept
	// before holds it.
	slices.SortFunc(v4, func(a, b netip.Prefix) int {
		if c := cmp.Compare(a.Bits(), b.Bits()); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	var out []netip.Prefix
	for _, p := range v4 {
		if !slices.ContainsFunc(out, func(q netip.Prefix) bool { return q.Contains(p.Addr()) }) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}
