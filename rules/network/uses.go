package network

import (
	"context"
	"net/netip"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// What other subsystems need of the network, in their transaction:
// rules/instances places launches and changes an instance's groups, the
// metadata service names them, a runtime asks for an instance's
// firewall, and the service's tags ask who owns a VPC, subnet or group.

// PlacementInput is where a launch asks to go: a subnet, or a zone (its
// default subnet), or neither (the first zone's default subnet); and the
// security groups it joins, by id or by name (names are looked up in the
// subnet's VPC).
type PlacementInput struct {
	SubnetID, Zone       string
	GroupIDs, GroupNames []string
}

// Placement returns the subnet a launch goes to and the ids of the
// groups it joins (the VPC's default group when none is named). It
// stores the default network if it is not yet, so it must run in an
// update. An unknown subnet or group is NotFound; a subnet in another
// zone than the one named, or a group of another VPC than the subnet's,
// is InvalidParameter (ReasonNetworkMismatch for the group).
func (n *Networks) Placement(tx metadata.Tx, p openami.Principal, in PlacementInput) (openami.Subnet, []string, error) {
	if err := n.defaults(tx, p); err != nil {
		return openami.Subnet{}, nil, err
	}
	var subnet openami.Subnet
	switch {
	case in.SubnetID != "":
		s, err := n.subnetOf(tx, p, in.SubnetID)
		if err != nil {
			return s, nil, err
		}
		if in.Zone != "" && in.Zone != s.AvailabilityZone {
			return s, nil, openami.Errorf(openami.InvalidParameter, "", "The subnet %s is in %s, not %s.", in.SubnetID, s.AvailabilityZone, in.Zone)
		}
		subnet = s
	default:
		defaults := n.defaultSubnets(p)
		if len(defaults) == 0 {
			return subnet, nil, openami.Errorf(openami.InvalidParameter, "", "The region %s has no availability zone.", p.Region)
		}
		subnet = defaults[0]
		if in.Zone != "" {
			k := slices.IndexFunc(defaults, func(s openami.Subnet) bool { return s.AvailabilityZone == in.Zone })
			if k < 0 {
				return subnet, nil, openami.Errorf(openami.InvalidParameter, "", "Invalid availability zone: [%s]", in.Zone)
			}
			subnet = defaults[k]
		}
	}
	var groups []string
	for _, id := range in.GroupIDs {
		g, err := n.groupOf(tx, p, id)
		if err != nil {
			return subnet, nil, err
		}
		if g.VpcID != subnet.VpcID {
			return subnet, nil, mismatch(g, subnet)
		}
		if !slices.Contains(groups, g.ID) {
			groups = append(groups, g.ID)
		}
	}
	for _, name := range in.GroupNames {
		g, err := n.groupNamed(tx, p, subnet.VpcID, name)
		if err != nil {
			return subnet, nil, err
		}
		if !slices.Contains(groups, g.ID) {
			groups = append(groups, g.ID)
		}
	}
	if len(groups) == 0 {
		g, err := n.groupNamed(tx, p, subnet.VpcID, "default")
		if err != nil {
			return subnet, nil, err
		}
		groups = []string{g.ID}
	}
	return subnet, groups, nil
}

func mismatch(g openami.SecurityGroup, s openami.Subnet) error {
	return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceSecurityGroup, openami.ReasonNetworkMismatch,
		"Security group %s and subnet %s belong to different networks.", g.ID, s.ID)
}

// InstanceGroups checks the groups an instance of VPC vpcID is to belong
// to from now on (ModifyInstanceAttribute's Groups) and returns their
// ids, each once: every one must be the caller's (NotFound) and in the
// instance's VPC (InvalidParameter, ReasonNetworkMismatch).
func (n *Networks) InstanceGroups(tx metadata.Tx, p openami.Principal, vpcID string, groupIDs []string) ([]string, error) {
	var out []string
	for _, id := range groupIDs {
		g, err := n.groupOf(tx, p, id)
		if err != nil {
			return nil, err
		}
		if g.VpcID != vpcID {
			return nil, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceSecurityGroup, openami.ReasonNetworkMismatch,
				"Security group %s is in VPC %s, not the instance's VPC %s.", g.ID, g.VpcID, vpcID)
		}
		if !slices.Contains(out, g.ID) {
			out = append(out, g.ID)
		}
	}
	return out, nil
}

// GroupNames returns the names of an account's groups, by id, in the
// order given; a group that no longer exists is left out. It only reads.
func (n *Networks) GroupNames(tx metadata.Tx, region, accountID string, groupIDs []string) ([]string, error) {
	p := openami.Principal{AccountID: accountID, Region: region}
	var out []string
	for _, id := range groupIDs {
		g, err := n.groupOf(tx, p, id)
		if openami.ClassOf(err) == openami.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g.Name)
	}
	return out, nil
}

// Network returns what the runtime needs of an instance's network: its
// subnet's and VPC's CIDR blocks, and the firewall its security groups
// make (Firewall). p is the instance's owner and region. It only reads.
func (n *Networks) Network(tx metadata.Tx, p openami.Principal, inst openami.Instance) (subnet, vpc netip.Prefix, fw openami.Firewall, err error) {
	if subnet, vpc, err = n.CIDRs(tx, p, inst.SubnetID); err != nil {
		return subnet, vpc, fw, err
	}
	fw, err = n.Firewall(tx, p, inst.SecurityGroupIDs)
	return subnet, vpc, fw, err
}

// CIDRs returns the CIDR blocks of a subnet of the caller's and of its
// VPC (what the metadata service shows as subnet-ipv4-cidr-block and
// vpc-ipv4-cidr-blocks). NotFound if the caller has no such subnet. It
// only reads.
func (n *Networks) CIDRs(tx metadata.Tx, p openami.Principal, subnetID string) (subnet, vpc netip.Prefix, err error) {
	s, err := n.subnetOf(tx, p, subnetID)
	if err != nil {
		return subnet, vpc, err
	}
	v, err := n.vpcOf(tx, p, s.VpcID)
	if err != nil {
		return subnet, vpc, err
	}
	if subnet, err = netip.ParsePrefix(s.CIDR); err != nil {
		return subnet, vpc, err
	}
	vpc, err = netip.ParsePrefix(v.CIDR)
	return subnet, vpc, err
}

// Firewall resolves security groups of the caller's into the rules they
// allow, for a runtime: each rule's CIDR block as a prefix, and a
// referenced group as the /32 prefixes of the private addresses of its
// members that are pending or running (none: a rule that allows nothing
// yet). Groups that no longer exist add nothing. It only reads.
func (n *Networks) Firewall(tx metadata.Tx, p openami.Principal, groupIDs []string) (openami.Firewall, error) {
	var fw openami.Firewall
	var members map[string][]netip.Prefix // group id → its members' addresses
	for _, id := range groupIDs {
		g, err := n.groupOf(tx, p, id)
		if openami.ClassOf(err) == openami.NotFound {
			continue
		}
		if err != nil {
			return fw, err
		}
		for _, r := range g.Rules {
			fr := openami.FirewallRule{Protocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort}
			switch {
			case r.CIDR != "" || r.IPv6CIDR != "":
				pfx, err := netip.ParsePrefix(r.CIDR + r.IPv6CIDR)
				if err != nil {
					return fw, err
				}
				fr.Prefixes = []netip.Prefix{pfx}
			case r.GroupID != "":
				if members == nil {
					if members, err = n.members(tx, p); err != nil {
						return fw, err
					}
				}
				fr.Prefixes = slices.Clone(members[r.GroupID])
			}
			if r.Egress {
				fw.Egress = append(fw.Egress, fr)
			} else {
				fw.Ingress = append(fw.Ingress, fr)
			}
		}
	}
	return fw, nil
}

// members returns, per group, the /32s of the private addresses of the
// caller's pending and running instances in it.
func (n *Networks) members(tx metadata.Tx, p openami.Principal) (map[string][]netip.Prefix, error) {
	live, err := n.instances(tx, p.Region, p.AccountID)
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Prefix{}
	for _, i := range live {
		if i.State != openami.InstancePending && i.State != openami.InstanceRunning {
			continue
		}
		a, err := netip.ParseAddr(i.PrivateIP)
		if err != nil {
			continue
		}
		for _, g := range i.SecurityGroupIDs {
			out[g] = append(out[g], netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// OwnedVPC, OwnedSubnet and OwnedGroup return NotFound unless the caller
// owns the VPC, subnet or security group in the region; the service's
// tags ask them. They store the default network first, so they must run
// in an update.
func (n *Networks) OwnedVPC(tx metadata.Tx, p openami.Principal, id string) error {
	if err := n.defaults(tx, p); err != nil {
		return err
	}
	_, err := n.vpcOf(tx, p, id)
	return err
}

// OwnedSubnet: see OwnedVPC.
func (n *Networks) OwnedSubnet(tx metadata.Tx, p openami.Principal, id string) error {
	if err := n.defaults(tx, p); err != nil {
		return err
	}
	_, err := n.subnetOf(tx, p, id)
	return err
}

// OwnedGroup: see OwnedVPC.
func (n *Networks) OwnedGroup(tx metadata.Tx, p openami.Principal, id string) error {
	if err := n.defaults(tx, p); err != nil {
		return err
	}
	_, err := n.groupOf(tx, p, id)
	return err
}

// OwnedRule returns NotFound unless the caller owns the security group
// rule (sgr-…) in the region.
func (n *Networks) OwnedRule(tx metadata.Tx, p openami.Principal, id string) error {
	if err := n.defaults(tx, p); err != nil {
		return err
	}
	groups, err := tx.Networks().ListGroups(p.Region, metadata.NetworkQuery{AccountID: p.AccountID})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if slices.ContainsFunc(g.Rules, func(r openami.SecurityGroupRule) bool { return r.ID == id }) {
			return nil
		}
	}
	return openami.ReasonErrorf(openami.NotFound, openami.ResourceSecurityGroupRule, openami.ReasonRuleID, "The security group rule ID '%s' does not exist", id)
}

// SecurityGroupNames returns the names of the caller's security groups
// with the ids given, for the API to show an instance's groups; ids that
// name no group of the caller's are left out.
func (n *Networks) SecurityGroupNames(ctx context.Context, p openami.Principal, groupIDs []string) (map[string]string, error) {
	out := map[string]string{}
	err := n.store.View(ctx, func(tx metadata.Tx) error {
		clear(out)
		for _, id := range groupIDs {
			if _, ok := out[id]; ok {
				continue
			}
			g, err := n.groupOf(tx, p, id)
			if openami.ClassOf(err) == openami.NotFound {
				continue
			}
			if err != nil {
				return err
			}
			out[id] = g.Name
		}
		return nil
	})
	return out, err
}
