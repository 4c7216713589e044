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
	filters []filter.Filter, known []string, attr func(T, string) []string) ([]T, error) {
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
		if fs.Match(func(name string) []string { return attr(x, name) }, nil) {
			out = append(out, x)
		}
	}
	return out, nil
}

// DescribeVpcs returns the caller's VPCs in the region: its default one.
func (s *Machines) DescribeVpcs(ctx context.Context, p openami.Principal, vpcIDs []string, filters []filter.Filter) ([]VPC, error) {
	return describeNetwork([]VPC{defaultVPC(p)}, func(v VPC) string { return v.ID }, vpcIDs, openami.ResourceVPC, "vpc ID",
		filters, []string{"cidr", "cidr-block-association.cidr-block", "dhcp-options-id", "is-default", "owner-id", "state", "vpc-id"},
		func(v VPC, name string) []string {
			switch name {
			case "cidr", "cidr-block-association.cidr-block":
				return []string{v.CIDR}
			case "dhcp-options-id":
				return []string{"default"}
			case "is-default":
				return []string{"true"}
			case "owner-id":
				return []string{v.AccountID}
			case "state":
				return []string{"available"}
			case "vpc-id":
				return []string{v.ID}
			}
			return nil
		})
}

// DescribeSubnets returns the caller's subnets in the region: the default
// subnet of each zone.
func (s *Machines) DescribeSubnets(ctx context.Context, p openami.Principal, subnetIDs []string, filters []filter.Filter) ([]Subnet, error) {
	return describeNetwork(s.defaultSubnets(p), func(n Subnet) string { return n.ID }, subnetIDs, openami.ResourceSubnet, "subnet ID",
		filters, []string{"availability-zone", "availability-zone-id", "available-ip-address-count", "cidr", "cidr-block",
			"cidrBlock", "default-for-az", "defaultForAz", "owner-id", "state", "subnet-id", "vpc-id"},
		func(n Subnet, name string) []string {
			switch name {
			case "availability-zone":
				return []string{n.AvailabilityZone}
			case "availability-zone-id":
				return []string{n.ZoneID}
			case "available-ip-address-count":
				return []string{strconv.Itoa(n.AvailableIPs)}
			case "cidr", "cidr-block", "cidrBlock":
				return []string{n.CIDR}
			case "default-for-az", "defaultForAz":
				return []string{"true"}
			case "owner-id":
				return []string{n.AccountID}
			case "state":
				return []string{"available"}
			case "subnet-id":
				return []string{n.ID}
			case "vpc-id":
				return []string{n.VpcID}
			}
			return nil
		})
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
		filters, []string{"description", "group-id", "group-name", "owner-id", "vpc-id"},
		func(g SecurityGroup, name string) []string {
			switch name {
			case "description":
				return []string{g.Description}
			case "group-id":
				return []string{g.ID}
			case "group-name":
				return []string{g.Name}
			case "owner-id":
				return []string{g.AccountID}
			case "vpc-id":
				return []string{g.VpcID}
			}
			return nil
		})
}
