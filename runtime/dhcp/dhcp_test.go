package dhcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

var testLease = Lease{
	Addr: netip.MustParseAddr("10.9.1.10"), Subnet: netip.MustParsePrefix("10.9.1.0/24"),
	Router: netip.MustParseAddr("10.9.1.1"), DNS: netip.MustParseAddr("10.9.0.2"),
	Hostname: "ip-10-9-1-10", Domain: "ec2.internal", MTU: 1500,
}

var guestMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}

func TestReply(t *testing.T) {
	disc, _ := dhcpv4.NewDiscovery(guestMAC)
	offer := Reply(disc.ToBytes(), testLease)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("discover: %v", offer)
	}
	if offer.YourIPAddr.String() != "10.9.1.10" || net.IP(offer.SubnetMask()).String() != "255.255.255.0" ||
		offer.Router()[0].String() != "10.9.1.1" || offer.DNS()[0].String() != "10.9.0.2" ||
		offer.HostName() != "ip-10-9-1-10" || offer.DomainName() != "ec2.internal" ||
		offer.ServerIdentifier().String() != "10.9.1.1" {
		t.Errorf("offer: %s", offer.Summary())
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	if ack := Reply(req.ToBytes(), testLease); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != "10.9.1.10" {
		t.Errorf("request of its address: %v", ack)
	}
	other, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.9.1.99"))))
	if nak := Reply(other.ToBytes(), testLease); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.YourIPAddr.IsUnspecified() {
		t.Errorf("request of another address: %v", nak)
	}
	rel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithHwAddr(guestMAC))
	if r := Reply(rel.ToBytes(), testLease); r != nil {
		t.Errorf("release answered: %v", r)
	}
	// Without a resolver, no DNS option.
	noDNS := testLease
	noDNS.DNS = netip.Addr{}
	if o := Reply(disc.ToBytes(), noDNS); o == nil || len(o.DNS()) != 0 {
		t.Errorf("offer without a resolver: %v", o)
	}
	if r := Reply([]byte("not dhcp"), testLease); r != nil {
		t.Errorf("garbage answered: %v", r)
	}
}

// FuzzReply: whatever a guest sends, Reply does not panic, and any answer
// is a reply to the lease's one address (or a nak with none).
func FuzzReply(f *testing.F) {
	disc, _ := dhcpv4.NewDiscovery(guestMAC)
	f.Add(disc.ToBytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		r := Reply(payload, testLease)
		if r == nil {
			return
		}
		if r.OpCode != dhcpv4.OpcodeBootReply {
			t.Fatalf("answer is not a reply: %v", r)
		}
		if y := r.YourIPAddr; !y.IsUnspecified() && !y.Equal(testLease.Addr.AsSlice()) {
			t.Fatalf("answer hands out %v", y)
		}
	})
}
