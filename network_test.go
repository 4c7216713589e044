package openami

import (
	"net/netip"
	"testing"
)

func TestFirewallAllows(t *testing.T) {
	any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	lan := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f := Firewall{
		Ingress: []FirewallRule{
			{Protocol: ProtocolTCP, FromPort: 22, ToPort: 22, Prefixes: any4},
			{Protocol: ProtocolTCP, FromPort: 8000, ToPort: 8010, Prefixes: lan},
		},
		Egress: []FirewallRule{{Protocol: ProtocolAll, Prefixes: any4}},
	}
	local, inLAN := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3")
	cases := []struct {
		proto string
		port  int
		from  netip.Addr
		want  bool
	}{
		{ProtocolTCP, 22, local, true},
		{ProtocolUDP, 22, local, false},
		{ProtocolTCP, 23, local, false},
		{ProtocolTCP, 8005, local, false},
		{ProtocolTCP, 8005, inLAN, true},
		{ProtocolTCP, 8010, inLAN, true},
		{ProtocolTCP, 8011, inLAN, false},
	}
	for _, c := range cases {
		if got := f.AllowsIn(c.proto, c.port, c.from); got != c.want {
			t.Errorf("AllowsIn(%s, %d, %s) = %v, want %v", c.proto, c.port, c.from, got, c.want)
		}
	}
	if !f.AllowsOut(ProtocolUDP, 53, local) || (Firewall{}).AllowsOut(ProtocolTCP, 80, local) {
		t.Error("egress: all-traffic rule must allow anything, no rule nothing")
	}
	icmpAny := FirewallRule{Protocol: ProtocolICMP, FromPort: -1, ToPort: -1, Prefixes: any4}
	if !icmpAny.Allows(ProtocolICMP, 8, local) {
		t.Error("an icmp rule with -1 must allow every type")
	}
}
