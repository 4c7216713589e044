package openami

import "net/netip"

// InstanceNetwork is an instance's network as a runtime needs it to wire
// the VM: the addresses the guest is handed, and what its security groups
// allow. A runtime asks for it when the VM starts and again from time to
// time while it runs, so that a rule authorized or revoked takes effect
// without a reboot.
type InstanceNetwork struct {
	// PrivateIP is the guest's address in its subnet (DHCP hands it out).
	PrivateIP netip.Addr
	// Subnet is the CIDR of the instance's subnet: the guest's netmask,
	// and its gateway (the subnet's first address + 1), as in a VPC.
	Subnet netip.Prefix
	// VPC is the CIDR of the instance's VPC; its DNS resolver is the
	// VPC's base address + 2.
	VPC netip.Prefix
	// PublicIP is the instance's public address; not valid when it has
	// none. Traffic to PublicIP:PORT reaches PrivateIP:PORT where the
	// firewall allows it.
	PublicIP netip.Addr
	// Hostname is the guest's host name (ip-172-31-5-10, as EC2 names it).
	Hostname string
	// Domain is the DNS domain DHCP hands out (ec2.internal in us-east-1,
	// REGION.compute.internal elsewhere).
	Domain   string
	Firewall Firewall
}

// Firewall is what an instance's security groups allow, resolved to
// addresses. Security groups are stateful: replies to allowed traffic
// are always allowed, so rules speak of the side that opens a connection.
type Firewall struct {
	// Ingress allows connections to the instance from the rules' prefixes.
	Ingress []FirewallRule
	// Egress allows connections from the instance to the rules' prefixes.
	Egress []FirewallRule
}

// Protocols of a firewall rule, as EC2 names them (ProtocolAll is EC2's -1).
const (
	ProtocolTCP  = "tcp"
	ProtocolUDP  = "udp"
	ProtocolICMP = "icmp"
	ProtocolAll  = "-1"
)

// FirewallRule allows a protocol on a range of ports, from (ingress) or
// to (egress) a set of addresses.
type FirewallRule struct {
	Protocol string // ProtocolTCP, ProtocolUDP, ProtocolICMP or ProtocolAll
	// FromPort and ToPort bound the ports, inclusive (for ICMP, the type
	// and code; -1 means any). They do not apply to ProtocolAll.
	FromPort, ToPort int
	// Prefixes are the rule's CIDR ranges and the private addresses (as
	// /32s) of the instances in the security groups it references.
	Prefixes []netip.Prefix
}

// Allows reports whether the rule allows protocol proto on port with the
// peer at addr.
func (r FirewallRule) Allows(proto string, port int, addr netip.Addr) bool {
	if r.Protocol != ProtocolAll {
		if r.Protocol != proto {
			return false
		}
		if r.FromPort != -1 && (port < r.FromPort || port > r.ToPort) {
			return false
		}
	}
	for _, p := range r.Prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// AllowsIn reports whether a connection of proto to port may be opened
// to the instance from addr.
func (f Firewall) AllowsIn(proto string, port int, from netip.Addr) bool {
	return allows(f.Ingress, proto, port, from)
}

// AllowsOut reports whether the instance may open a connection of proto
// to port at addr.
func (f Firewall) AllowsOut(proto string, port int, to netip.Addr) bool {
	return allows(f.Egress, proto, port, to)
}

func allows(rules []FirewallRule, proto string, port int, addr netip.Addr) bool {
	for _, r := range rules {
		if r.Allows(proto, port, addr) {
			return true
		}
	}
	return false
}
