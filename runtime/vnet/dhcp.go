package vnet

import (
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/openami/openami/runtime/dhcp"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// DHCP's UDP ports.
const (
	dhcpServerPort = dhcp.ServerPort
	dhcpClientPort = dhcp.ClientPort
)

// udpFrame returns an Ethernet frame holding an IPv4 UDP datagram.
func udpFrame(srcMAC, dstMAC tcpip.LinkAddress, src, dst netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	n := header.EthernetMinimumSize + header.IPv4MinimumSize + header.UDPMinimumSize + len(payload)
	b := make([]byte, n)
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: srcMAC, DstAddr: dstMAC, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(b[header.EthernetMinimumSize:])
	srcA, dstA := tcpip.AddrFrom4(src.As4()), tcpip.AddrFrom4(dst.As4())
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(header.IPv4MinimumSize + header.UDPMinimumSize + len(payload)),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     srcA,
		DstAddr:     dstA,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(ip[header.IPv4MinimumSize:])
	length := uint16(header.UDPMinimumSize + len(payload))
	udp.Encode(&header.UDPFields{SrcPort: srcPort, DstPort: dstPort, Length: length})
	copy(udp[header.UDPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, srcA, dstA, length)
	xsum = checksum.Checksum(payload, xsum)
	udp.SetChecksum(^udp.CalculateChecksum(xsum))
	return b
}

// parseUDP returns the UDP payload and ports of an Ethernet frame holding
// an unfragmented IPv4 UDP datagram, and false for any other frame.
func parseUDP(frame []byte) (src, dst netip.Addr, srcPort, dstPort uint16, payload []byte, ok bool) {
	eth := header.Ethernet(frame)
	if eth.Type() != header.IPv4ProtocolNumber {
		return
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if !ip.IsValid(len(ip)) || ip.Protocol() != uint8(header.UDPProtocolNumber) || ip.More() || ip.FragmentOffset() != 0 {
		return
	}
	body := ip[ip.HeaderLength():ip.TotalLength()]
	if len(body) < header.UDPMinimumSize {
		return
	}
	udp := header.UDP(body)
	if int(udp.Length()) > len(body) || udp.Length() < header.UDPMinimumSize {
		return
	}
	src, dst = netip.AddrFrom4(ip.SourceAddress().As4()), netip.AddrFrom4(ip.DestinationAddress().As4())
	return src, dst, udp.SourcePort(), udp.DestinationPort(), body[header.UDPMinimumSize:udp.Length()], true
}

// dhcpReply answers one DHCP request of the guest, or returns nil
// (runtime/dhcp): whatever the client asks, the answer is the one address
// the network has for it.
func (n *Network) dhcpReply(payload []byte) *dhcpv4.DHCPv4 {
	return dhcp.Reply(payload, dhcp.Lease{
		Addr: n.private, Subnet: n.subnet, Router: n.gateway, DNS: n.resolver,
		Hostname: n.cfg.Network.Hostname, Domain: n.cfg.Network.Domain, MTU: linkMTU,
	})
}

// intercept sees every frame of the guest before the stack does, and
// keeps from it (true) those the network answers, or ignores, itself.
func (n *Network) intercept(frame []byte) bool {
	return n.ignoreOwnARP(frame) || n.ignoreICMPElsewhere(frame) || n.interceptDHCP(frame)
}

// ignoreICMPElsewhere keeps from the stack ICMP to any address but the
// network's own (the gateway, the resolver, the metadata service): ICMP
// is not forwarded, and the stack, which takes packets for every
// address, would answer an echo to anywhere itself.
func (n *Network) ignoreICMPElsewhere(frame []byte) bool {
	if header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return false
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if len(ip) < header.IPv4MinimumSize || ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) {
		return false
	}
	dst := netip.AddrFrom4(ip.DestinationAddress().As4())
	return dst != n.gateway && dst != n.resolver && dst != MetadataAddr
}

// ignoreOwnARP keeps from the stack an ARP request for the guest's own
// address. The stack answers ARP for every address (it must, to take
// the guest's traffic to anywhere), so it would answer a guest's probe
// of the address DHCP gave it (RFC 5227, as dhcpcd and systemd-networkd
// send) and the guest would take its address for a conflict.
func (n *Network) ignoreOwnARP(frame []byte) bool {
	if header.Ethernet(frame).Type() != header.ARPProtocolNumber {
		return false
	}
	arp := header.ARP(frame[header.EthernetMinimumSize:])
	if !arp.IsValid() || arp.Op() != header.ARPRequest {
		return false
	}
	target, ok := netip.AddrFromSlice(arp.ProtocolAddressTarget())
	return ok && target == n.private
}

// interceptDHCP answers a frame that is a DHCP request (UDP to port 67)
// itself, at the link, and keeps it from the stack: the guest has no
// address yet, so the answer goes to its MAC address and the IP
// broadcast address, which every client takes.
func (n *Network) interceptDHCP(frame []byte) bool {
	_, _, srcPort, dstPort, payload, ok := parseUDP(frame)
	if !ok || dstPort != dhcpServerPort || srcPort != dhcpClientPort {
		return false
	}
	reply := n.dhcpReply(payload)
	if reply == nil {
		return true
	}
	client := header.Ethernet(frame).SourceAddress()
	b := udpFrame(n.mac, client, n.gateway, netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpServerPort, dhcpClientPort, reply.ToBytes())
	n.link.out.write(b)
	return true
}
