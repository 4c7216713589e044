package instances

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
)

// Every account has, in every region, the network a new AWS account has:
// a default VPC (172.31.0.0/16), a default subnet per availability zone
// (172.31.0.0/20, 172.31.16.0/20, …) and the VPC's default security
// group. They exist by definition, so nothing is stored: their ids are
// derived from the account, region and zone (ids.Derived), and they cannot
// be changed or deleted. Instances get private addresses in their subnet;
// there is no packet network between them (the qemu runtime gives each VM
// its own user-mode network).

// VPC is a virtual private cloud: here, always an account's default one.
type VPC struct {
	ID        string
	AccountID string
	CIDR      string
}

// Subnet is a default subnet of an availability zone.
type Subnet struct {
	ID               string
	AccountID        string
	VpcID            string
	AvailabilityZone string
	ZoneID           string
	CIDR             string
	// AvailableIPs is the subnet's size less AWS's five reserved
	// addresses; it does not count instances.
	AvailableIPs int
}

// SecurityGroup is a VPC's default security group.
type SecurityGroup struct {
	ID          string
	AccountID   string
	VpcID       string
	Name        string
	Description string
}

func defaultVPC(p openami.Principal) VPC {
	return VPC{ID: ids.Derived("vpc", p.AccountID, p.Region), AccountID: p.AccountID, CIDR: "172.31.0.0/16"}
}

// defaultSubnets returns the account's default subnets in the region, one
// per zone in zone order.
func (s *Machines) defaultSubnets(p openami.Principal) []Subnet {
	r, _ := s.identity.Region(p.Region)
	vpc := defaultVPC(p)
	out := make([]Subnet, len(r.Zones))
	for i, z := range r.Zones {
		out[i] = Subnet{
			ID: ids.Derived("subnet", p.AccountID, p.Region, z.Name), AccountID: p.AccountID, VpcID: vpc.ID,
			AvailabilityZone: z.Name, ZoneID: z.ID, CIDR: fmt.Sprintf("172.31.%d.0/20", 16*i), AvailableIPs: 4091,
		}
	}
	return out
}

func defaultSecurityGroup(p openami.Principal) SecurityGroup {
	vpc := defaultVPC(p)
	return SecurityGroup{ID: ids.Derived("sg", p.AccountID, p.Region), AccountID: p.AccountID, VpcID: vpc.ID,
		Name: "default", Description: "default VPC security group"}
}

// subnetAddress returns the n-th usable address of a subnet: AWS reserves
// the first four and the last.
func subnetAddress(cidr string, n int) (string, bool) {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", false
	}
	size := 1 << (32 - pfx.Bits())
	if n < 0 || n >= size-5 {
		return "", false
	}
	a := pfx.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(4 + n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), true
}

// describeNetwork is DescribeVpcs, DescribeSubnets and DescribeSecurityGroups:
// the caller's items, all or those named (an unknown id is NotFound of
// resource), narrowed by filters.
func describeNetwork[T any](all []T, id func(T) string, ids []string, resource openami.ResourceType, what string,
	filters []filter.Filter, known []filter.Attr, attr func(T, filter.Attr) []string) ([]T, error) {
	fs, err := filter.Compile(filters, known...)
	if err != nil {
		return nil, err
	}
	for _, want := range ids {
		if !slices.ContainsFunc(all, func(x T) bool { return id(x) == want }) {
			return nil, openami.Errorf(openami.NotFound, resource, "The %s '%s' does not exist", what, want)
		}
	}
	var out []T
	for _, x := range all {
		if len(ids) > 0 && !slices.Contains(ids, id(x)) {
			continue
		}
		if fs.Match(func(name filter.Attr) []string { return attr(x, name) }, nil) {
			out = append(out, x)
		}
	}
	return out, nil
}

// The attributes of a VPC that DescribeVpcs' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrVPCCIDR           filter.Attr = "vpcCIDR"
	AttrVPCAssociatedCIDR filter.Attr = "vpcAssociatedCIDR"
	AttrVPCDhcpOptionsID  filter.Attr = "vpcDhcpOptionsID"
	AttrVPCDefault        filter.Attr = "vpcDefault"
	AttrVPCOwnerID        filter.Attr = "vpcOwnerID"
	AttrVPCState          filter.Attr = "vpcState"
	AttrVPCID             filter.Attr = "vpcID"
)

// VPCAttrs are the attributes DescribeVpcs filters by. Read-only.
var VPCAttrs = []filter.Attr{
	AttrVPCCIDR, AttrVPCAssociatedCIDR, AttrVPCDhcpOptionsID, AttrVPCDefault, AttrVPCOwnerID,
	AttrVPCState, AttrVPCID,
}

// DescribeVpcs returns the caller's VPCs in the region: its default one.
func (s *Machines) DescribeVpcs(ctx context.Context, p openami.Principal, vpcIDs []string, filters []filter.Filter) ([]VPC, error) {
	return describeNetwork([]VPC{defaultVPC(p)}, func(v VPC) string { return v.ID }, vpcIDs, openami.ResourceVPC, "vpc ID",
		filters, VPCAttrs,
		func(v VPC, name filter.Attr) []string {
			switch name {
			case AttrVPCCIDR, AttrVPCAssociatedCIDR:
				return []string{v.CIDR}
			case AttrVPCDhcpOptionsID:
				return []string{"default"}
			case AttrVPCDefault:
				return []string{"true"}
			case AttrVPCOwnerID:
				return []string{v.AccountID}
			case AttrVPCState:
				return []string{"available"}
			case AttrVPCID:
				return []string{v.ID}
			}
			return nil
		})
}

// The attributes of a subnet that DescribeSubnets' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrSubnetZone           filter.Attr = "subnetZone"
	AttrSubnetZoneID         filter.Attr = "subnetZoneID"
	AttrSubnetAvailableIPs   filter.Attr = "subnetAvailableIPs"
	AttrSubnetCIDR           filter.Attr = "subnetCIDR"
	AttrSubnetCIDRBlock      filter.Attr = "subnetCIDRBlock"
	AttrSubnetDefaultForZone filter.Attr = "subnetDefaultForZone"
	AttrSubnetOwnerID        filter.Attr = "subnetOwnerID"
	AttrSubnetState          filter.Attr = "subnetState"
	AttrSubnetID             filter.Attr = "subnetID"
	AttrSubnetVpcID          filter.Attr = "subnetVpcID"
)

// SubnetAttrs are the attributes DescribeSubnets filters by. Read-only.
var SubnetAttrs = []filter.Attr{
	AttrSubnetZone, AttrSubnetZoneID, AttrSubnetAvailableIPs, AttrSubnetCIDR, AttrSubnetCIDRBlock,
	AttrSubnetDefaultForZone, AttrSubnetOwnerID, AttrSubnetState, AttrSubnetID, AttrSubnetVpcID,
}

// DescribeSubnets returns the caller's subnets in the region: the default
// subnet of each zone.
func (s *Machines) DescribeSubnets(ctx context.Context, p openami.Principal, subnetIDs []string, filters []filter.Filter) ([]Subnet, error) {
	return describeNetwork(s.defaultSubnets(p), func(n Subnet) string { return n.ID }, subnetIDs, openami.ResourceSubnet, "subnet ID",
		filters, SubnetAttrs,
		func(n Subnet, name filter.Attr) []string {
			switch name {
			case AttrSubnetZone:
				return []string{n.AvailabilityZone}
			case AttrSubnetZoneID:
				return []string{n.ZoneID}
			case AttrSubnetAvailableIPs:
				return []string{strconv.Itoa(n.AvailableIPs)}
			case AttrSubnetCIDR, AttrSubnetCIDRBlock:
				return []string{n.CIDR}
			case AttrSubnetDefaultForZone:
				return []string{"true"}
			case AttrSubnetOwnerID:
				return []string{n.AccountID}
			case AttrSubnetState:
				return []string{"available"}
			case AttrSubnetID:
				return []string{n.ID}
			case AttrSubnetVpcID:
				return []string{n.VpcID}
			}
			return nil
		})
}

// The attributes of a security group that DescribeSecurityGroups' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrGroupDescription filter.Attr = "groupDescription"
	AttrGroupID          filter.Attr = "groupID"
	AttrGroupName        filter.Attr = "groupName"
	AttrGroupOwnerID     filter.Attr = "groupOwnerID"
	AttrGroupVpcID       filter.Attr = "groupVpcID"
)

// SecurityGroupAttrs are the attributes DescribeSecurityGroups filters by. Read-only.
var SecurityGroupAttrs = []filter.Attr{
	AttrGroupDescription, AttrGroupID, AttrGroupName, AttrGroupOwnerID, AttrGroupVpcID,
}

// DescribeSecurityGroups returns the caller's security groups in the
// region: its default VPC's default group, found by id or by name.
func (s *Machines) DescribeSecurityGroups(ctx context.Context, p openami.Principal, groupIDs, groupNames []string, filters []filter.Filter) ([]SecurityGroup, error) {
	sg := defaultSecurityGroup(p)
	for _, n := range groupNames {
		if n != sg.Name {
			return nil, openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "The security group '%s' does not exist in default VPC '%s'", n, sg.VpcID)
		}
	}
	return describeNetwork([]SecurityGroup{sg}, func(g SecurityGroup) string { return g.ID }, groupIDs, openami.ResourceSecurityGroup, "security group",
		filters, SecurityGroupAttrs,
		func(g SecurityGroup, name filter.Attr) []string {
			switch name {
			case AttrGroupDescription:
				return []string{g.Description}
			case AttrGroupID:
				return []string{g.ID}
			case AttrGroupName:
				return []string{g.Name}
			case AttrGroupOwnerID:
				return []string{g.AccountID}
			case AttrGroupVpcID:
				return []string{g.VpcID}
			}
			return nil
		})
}
