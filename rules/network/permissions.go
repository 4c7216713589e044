package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Permission is one of EC2's IpPermissions: a protocol and port range,
// allowed from (ingress) or to (egress) each of its ranges and groups.
// Each range and group becomes one SecurityGroupRule.
type Permission struct {
	// Protocol is tcp, udp, icmp, -1 (all) or an IP protocol number
	// (6, 17 and 1 are tcp, udp and icmp).
	Protocol string
	// FromPort and ToPort are nil when not given.
	FromPort, ToPort *int
	IPRanges         []Range
	IPv6Ranges       []Range
	Groups           []GroupPair
}

// Range is a CIDR block of a Permission, with its rule's description.
type Range struct {
	CIDR        string
	Description string
}

// GroupPair names a security group of a Permission, by id or (in the
// default VPC) by name, with its rule's description. UserID, when given,
// must be the caller's account: groups of other accounts cannot be
// referenced here.
type GroupPair struct {
	GroupID     string
	GroupName   string
	UserID      string
	Description string
}

// maxRulesPerDirection is AWS's default quota of rules per group and
// direction.
const maxRulesPerDirection = 60

// protocolOf returns the protocol a rule keeps for an IpProtocol: the
// names for TCP, UDP and ICMP (also given as 6, 17 and 1), -1 for all
// (also "all"), and other protocol numbers (0–255) as given.
func protocolOf(s string) (string, error) {
	switch strings.ToLower(s) {
	case "tcp", "6":
		return openami.ProtocolTCP, nil
	case "udp", "17":
		return openami.ProtocolUDP, nil
	case "icmp", "1":
		return openami.ProtocolICMP, nil
	case "-1", "all":
		return openami.ProtocolAll, nil
	case "":
		return "", openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter ipProtocol")
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 255 {
		return strconv.Itoa(n), nil
	}
	return "", openami.Errorf(openami.InvalidParameter, "", "Invalid value '%s' for IP protocol. Unknown protocol.", s)
}

// portsOf checks a permission's ports for its protocol and returns what
// the rule keeps: TCP and UDP need both, 0–65535, from ≤ to; ICMP takes a
// type and a code, each -1 (any) to 255, -1 when absent; other protocols
// take none (-1, -1).
func portsOf(proto string, from, to *int) (int, int, error) {
	val := func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	}
	switch proto {
	case openami.ProtocolTCP, openami.ProtocolUDP:
		if from == nil || to == nil {
			return 0, 0, openami.Errorf(openami.InvalidParameter, "", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
		}
		if *from < 0 || *from > 65535 || *to < 0 || *to > 65535 {
			return 0, 0, openami.Errorf(openami.InvalidParameter, "", "Invalid value for portRange. Must be between 0 and 65535: from %d, to %d.", *from, *to)
		}
		if *from > *to {
			return 0, 0, openami.Errorf(openami.InvalidParameter, "", "Invalid TCP/UDP port range: the from port %d is greater than the to port %d.", *from, *to)
		}
		return *from, *to, nil
	case openami.ProtocolICMP:
		f, t := val(from), val(to)
		if f < -1 || f > 255 || t < -1 || t > 255 {
			return 0, 0, openami.Errorf(openami.InvalidParameter, "", "Invalid value for ICMP type (%d) or code (%d): each must be -1 or between 0 and 255.", f, t)
		}
		return f, t, nil
	}
	return -1, -1, nil
}

// parseRuleCIDR parses a rule's CIDR block, IPv4 or IPv6 as v6 says,
// into canonical form. InvalidParameter otherwise.
func parseRuleCIDR(s string, v6 bool) (string, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil || pfx.Addr().Is4() == v6 || pfx.Addr().Is4In6() {
		kind := "CIDR block"
		if v6 {
			kind = "IPv6 CIDR block"
		}
		return "", openami.Errorf(openami.InvalidParameter, "", "Invalid %s %s: it is malformed.", kind, s)
	}
	return pfx.Masked().String(), nil
}

// expand turns permissions into the rules of group g they ask for, each
// checked: protocol, ports, CIDR blocks, and referenced groups, which
// must be the caller's and in g's VPC (NotFound of the group otherwise,
// as EC2 answers InvalidGroup.NotFound). The rules have no ids yet.
func (n *Networks) expand(tx metadata.Tx, p openami.Principal, g openami.SecurityGroup, egress bool, perms []Permission) ([]openami.SecurityGroupRule, error) {
	if len(perms) == 0 {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter ipPermissions")
	}
	var out []openami.SecurityGroupRule
	for _, pm := range perms {
		proto, err := protocolOf(pm.Protocol)
		if err != nil {
			return nil, err
		}
		from, to, err := portsOf(proto, pm.FromPort, pm.ToPort)
		if err != nil {
			return nil, err
		}
		base := openami.SecurityGroupRule{Egress: egress, Protocol: proto, FromPort: from, ToPort: to}
		if len(pm.IPRanges)+len(pm.IPv6Ranges)+len(pm.Groups) == 0 {
			return nil, openami.Errorf(openami.InvalidParameter, "", "The permission for protocol %s names no CIDR block and no security group.", pm.Protocol)
		}
		for _, r := range pm.IPRanges {
			c, err := parseRuleCIDR(r.CIDR, false)
			if err != nil {
				return nil, err
			}
			rule := base
			rule.CIDR, rule.Description = c, r.Description
			out = append(out, rule)
		}
		for _, r := range pm.IPv6Ranges {
			c, err := parseRuleCIDR(r.CIDR, true)
			if err != nil {
				return nil, err
			}
			rule := base
			rule.IPv6CIDR, rule.Description = c, r.Description
			out = append(out, rule)
		}
		for _, gp := range pm.Groups {
			ref, err := n.referenced(tx, p, g, gp)
			if err != nil {
				return nil, err
			}
			rule := base
			rule.GroupID, rule.Description = ref.ID, gp.Description
			out = append(out, rule)
		}
	}
	for _, r := range out {
		if err := checkDescription(r.Description); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkDescription checks a rule's or group's description: at most 255
// characters of the set EC2 allows (a-z, A-Z, 0-9, spaces and
// ._-:/()#,@[]+=&;{}!$*).
func checkDescription(s string) error {
	if len(s) > 255 {
		return openami.Errorf(openami.InvalidParameter, "", "Invalid rule description. Valid descriptions are strings less than 256 characters.")
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", c)) {
			return openami.Errorf(openami.InvalidParameter, "", "Invalid rule description %q: character %q is not allowed.", s, c)
		}
	}
	return nil
}

// referenced resolves a group a rule of g names: by id, or by name in
// g's VPC. It must be the caller's and in g's VPC.
func (n *Networks) referenced(tx metadata.Tx, p openami.Principal, g openami.SecurityGroup, gp GroupPair) (openami.SecurityGroup, error) {
	if gp.UserID != "" && gp.UserID != p.AccountID {
		return openami.SecurityGroup{}, openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "The security group '%s%s' of account %s cannot be referenced: only the caller's own groups can.", gp.GroupID, gp.GroupName, gp.UserID)
	}
	var (
		ref openami.SecurityGroup
		err error
	)
	switch {
	case gp.GroupID != "":
		ref, err = n.groupOf(tx, p, gp.GroupID)
	case gp.GroupName != "":
		ref, err = n.groupNamed(tx, p, g.VpcID, gp.GroupName)
	default:
		return ref, openami.Errorf(openami.MissingParameter, "", "A referenced security group needs a GroupId or a GroupName.")
	}
	if err != nil {
		return ref, err
	}
	if ref.VpcID != g.VpcID {
		return ref, openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "You have specified two resources that belong to different networks: security group %s is in VPC %s, not %s.", ref.ID, ref.VpcID, g.VpcID)
	}
	return ref, nil
}

// sameRule reports whether two rules allow the same thing (descriptions
// and ids aside).
func sameRule(a, b openami.SecurityGroupRule) bool {
	return a.Egress == b.Egress && a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort &&
		a.CIDR == b.CIDR && a.IPv6CIDR == b.IPv6CIDR && a.GroupID == b.GroupID
}

// describeRule is a rule in the words of EC2's InvalidPermission errors.
func describeRule(r openami.SecurityGroupRule) string {
	peer := r.CIDR + r.IPv6CIDR + r.GroupID
	proto := strings.ToUpper(r.Protocol)
	if r.Protocol == openami.ProtocolAll {
		proto = "ALL"
	}
	if r.FromPort == -1 && r.ToPort == -1 {
		return fmt.Sprintf("peer: %s, %s, ALLOW", peer, proto)
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, proto, r.FromPort, r.ToPort)
}
