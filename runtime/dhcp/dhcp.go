// Package dhcp answers a guest's DHCP requests with the one lease it has:
// the instance's private address in its subnet, with the VPC's gateway,
// resolver, host name and domain. Both guest networks use it: the
// rootless one (runtime/vnet) answers at its link, the root one
// (runtime/bridge) from a UDP socket on each VPC's bridge, with a lease
// per MAC address.
package dhcp

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// LeaseTime is the lease DHCP hands out. The address is the guest's for
// as long as the VM runs, so the lease is long (EC2's is an hour, and its
// clients renew; ours need not).
const LeaseTime = 24 * time.Hour

// DHCP's UDP ports.
const (
	ServerPort = 67
	ClientPort = 68
)

// Lease is what one guest is handed.
type Lease struct {
	// Addr is the guest's address, in Subnet.
	Addr   netip.Addr
	Subnet netip.Prefix
	// Router is the subnet's gateway; it is also the server's identifier.
	Router   netip.Addr
	DNS      netip.Addr // not handed out when not valid
	Hostname string     // not handed out when empty
	Domain   string     // not handed out when empty
	MTU      uint16     // not handed out when 0
}

// Reply answers one DHCP request with lease, or returns nil: an offer for
// a discover, an ack for a request of the lease's own address (a nak for
// any other), an ack without an address for an inform, nothing for a
// release or decline or a payload that is not a request. Whatever the
// client asks, the answer is the one address its lease has.
func Reply(payload []byte, lease Lease) *dhcpv4.DHCPv4 {
	req, err := dhcpv4.FromBytes(payload)
	if err != nil || req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil
	}
	return ReplyTo(req, lease)
}

// ReplyTo is Reply for a request already parsed.
func ReplyTo(req *dhcpv4.DHCPv4, lease Lease) *dhcpv4.DHCPv4 {
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		if want != nil && !want.IsUnspecified() && !want.Equal(lease.Addr.AsSlice()) {
			typ = dhcpv4.MessageTypeNak
		}
	case dhcpv4.MessageTypeInform:
		typ = dhcpv4.MessageTypeAck
	default:
		return nil
	}
	gw := net.IP(lease.Router.AsSlice())
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(gw),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
	}
	if typ != dhcpv4.MessageTypeNak {
		mods = append(mods,
			dhcpv4.WithNetmask(net.CIDRMask(lease.Subnet.Bits(), 32)),
			dhcpv4.WithRouter(gw),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(LeaseTime)),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(LeaseTime/2)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(LeaseTime*7/8)),
		)
		if lease.DNS.IsValid() {
			mods = append(mods, dhcpv4.WithDNS(net.IP(lease.DNS.AsSlice())))
		}
		if lease.MTU != 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(lease.MTU >> 8), byte(lease.MTU)})))
		}
		if req.MessageType() != dhcpv4.MessageTypeInform {
			mods = append(mods, dhcpv4.WithYourIP(net.IP(lease.Addr.AsSlice())))
		}
		if lease.Hostname != "" {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(lease.Hostname)))
		}
		if lease.Domain != "" {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(lease.Domain)))
		}
	}
	reply, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil
	}
	return reply
}
