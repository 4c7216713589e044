package bridge

import "net/netip"

// TransitRange holds the addresses of the veths between the host and
// the VPCs' namespaces: a /30 per VPC with instances here, the host's
// end at its base + 1 and the namespace's at + 2. It is link-local, a
// range no VPC can have (CreateVpc refuses 169.254.0.0/16), and clear of
// 169.254.169.254, the metadata address of a host that is itself a
// cloud instance. A VPC's namespace translates its instances' addresses
// to its end's (or to their public ones) on the way out, and the host
// masquerades this range out of its uplink: the host's routing and
// connection tracking see each VPC as its own address, never two VPCs'
// overlapping private ones.
var TransitRange = netip.MustParsePrefix("169.254.64.0/18")

// transitSlots is the number of /30s in TransitRange: the most VPCs with
// instances on one host.
const transitSlots = 1 << (30 - 18)

// transitHost is the host's end of a VPC's veth.
func transitHost(slot int) netip.Addr { return transitAddr(slot, 1) }

// transitNS is the VPC's namespace's end of its veth.
func transitNS(slot int) netip.Addr { return transitAddr(slot, 2) }

func transitAddr(slot, n int) netip.Addr {
	b := TransitRange.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(slot)*4 + uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
