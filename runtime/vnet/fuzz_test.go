package vnet

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/openami/openami"
)

// FuzzGuestFrame feeds what a guest can send, any bytes as one frame, to
// the code that reads frames before the stack does (parseUDP, the DHCP
// server): it must not panic, and a DHCP answer, if any, is to the guest's
// one address.
func FuzzGuestFrame(f *testing.F) {
	disc, _ := dhcpv4.NewDiscovery(net.HardwareAddr(guestMAC))
	f.Add(udpFrame(guestMAC, header.EthernetBroadcastAddress, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, disc.ToBytes()))
	f.Add(udpFrame(guestMAC, header.EthernetBroadcastAddress, testPrivate, testDNS, 5353, 53, []byte("query")))
	f.Add(make([]byte, 14))
	var out bytes.Buffer
	n := &Network{
		cfg:     Config{Network: openami.InstanceNetwork{Hostname: "ip-172-31-5-10", Domain: "ec2.internal"}},
		private: testPrivate, gateway: testGateway, resolver: testDNS, subnet: testSubnet, vpc: testVPC,
		link: &link{out: &frameWriter{w: &out}},
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < header.EthernetMinimumSize {
			return
		}
		out.Reset()
		parseUDP(frame)
		n.intercept(frame)
		if out.Len() == 0 {
			return
		}
		b, err := readFrame(&out, nil)
		if err != nil {
			t.Fatalf("the DHCP answer is no frame: %v", err)
		}
		_, _, _, _, payload, ok := parseUDP(b)
		if !ok {
			t.Fatal("the DHCP answer is no UDP datagram")
		}
		m, err := dhcpv4.FromBytes(payload)
		if err != nil {
			t.Fatalf("the DHCP answer does not parse: %v", err)
		}
		if m.MessageType() != dhcpv4.MessageTypeNak && !m.YourIPAddr.IsUnspecified() && !m.YourIPAddr.Equal(net.IP(testPrivate.AsSlice())) {
			t.Fatalf("DHCP offered %v", m.YourIPAddr)
		}
	})
}

// FuzzStream feeds any bytes as the stream from QEMU to the frame reader:
// frames come out no longer than maxFrame, or an error ends the stream.
func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			b, err := readFrame(r, nil)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && len(b) != 0 {
					t.Fatalf("error %v with a frame", err)
				}
				return
			}
			if len(b) > maxFrame {
				t.Fatalf("frame of %d bytes", len(b))
			}
		}
	})
}
