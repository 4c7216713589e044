package network

import (
	"context"
	"net/netip"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// SubnetView is a subnet as DescribeSubnets returns it: with its zone's
// id, its free addresses and its tags.
type SubnetView struct {
	openami.Subnet
	ZoneID string
	// AvailableIPs is the subnet's size, less AWS's five reserved
	// addresses and the private addresses of the instances in it.
	AvailableIPs int
	Tags         []openami.Tag
}

// reservedAddresses is how many addresses of a subnet AWS keeps: the
// network address, the router (+1), DNS (+2), one for future use (+3)
// and the last.
const reservedAddresses = 5

// SubnetAddress returns the k-th usable address of a subnet (k from 0):
// AWS reserves the first four and the last. ok is false past the end or
// for a CIDR that does not parse.
func SubnetAddress(cidr string, k int) (addr string, ok bool) {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !pfx.Addr().Is4() {
		return "", false
	}
	size := 1 << (32 - pfx.Bits())
	if k < 0 || k >= size-reservedAddresses {
		return "", false
	}
	a := pfx.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(4 + k)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), true
}

// usableAddresses is how many addresses of a subnet instances may take.
func usableAddresses(cidr string) int {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !pfx.Addr().Is4() {
		return 0
	}
	return 1<<(32-pfx.Bits()) - reservedAddresses
}

// CreateSubnetInput is what CreateSubnet takes.
type CreateSubnetInput struct {
	VpcID string
	CIDR  string
	// AvailabilityZone or AvailabilityZoneID names the zone; neither
	// means the region's first.
	AvailabilityZone   string
	AvailabilityZoneID string
	// Tags are the TagSpecifications' tags of the "subnet" type.
	Tags []openami.Tag
}

// CreateSubnet makes a subnet of a VPC of the caller's in one zone. Its
// CIDR block must be a valid IPv4 one between a /16 and a /28
// (InvalidParameter, with ReasonRange for the size), inside the VPC's
// (InvalidParameter with ReasonRange: InvalidSubnet.Range) and overlap
// none of the VPC's other subnets (InvalidParameter with ReasonOverlap:
// InvalidSubnet.Conflict). Instances launched in it get no public
// address unless ModifySubnetAttribute says so, as on AWS.
func (n *Networks) CreateSubnet(ctx context.Context, p openami.Principal, in CreateSubnetInput) (SubnetView, error) {
	if in.VpcID == "" {
		return SubnetView{}, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter VpcId")
	}
	if in.CIDR == "" {
		return SubnetView{}, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter CidrBlock")
	}
	pfx, err := parseCIDR(in.CIDR)
	if err != nil {
		return SubnetView{}, err
	}
	if pfx.Bits() < minPrefix || pfx.Bits() > maxPrefix {
		return SubnetView{}, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceSubnet, openami.ReasonRange, "The CIDR '%s' is invalid.", in.CIDR)
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return SubnetView{}, err
	}
	r, _ := n.identity.Region(p.Region)
	var zone openami.Zone
	for _, z := range r.Zones {
		if in.AvailabilityZone == "" && in.AvailabilityZoneID == "" || z.Name == in.AvailabilityZone || in.AvailabilityZone == "" && z.ID == in.AvailabilityZoneID {
			zone = z
			break
		}
	}
	if zone.Name == "" || in.AvailabilityZoneID != "" && zone.ID != in.AvailabilityZoneID {
		return SubnetView{}, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", in.AvailabilityZone+in.AvailabilityZoneID, zoneNames(r.Zones))
	}
	s := openami.Subnet{ID: ids.New("subnet"), Region: p.Region, AccountID: p.AccountID, VpcID: in.VpcID,
		AvailabilityZone: zone.Name, CIDR: pfx.String()}
	err = n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		v, err := n.vpcOf(tx, p, in.VpcID)
		if err != nil {
			return err
		}
		vpfx, err := netip.ParsePrefix(v.CIDR)
		if err != nil {
			return err
		}
		if !vpfx.Contains(pfx.Addr()) || pfx.Bits() < vpfx.Bits() {
			return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceSubnet, openami.ReasonRange, "The CIDR '%s' is invalid.", in.CIDR)
		}
		siblings, err := tx.Networks().ListSubnets(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: v.ID})
		if err != nil {
			return err
		}
		for _, o := range siblings {
			if opfx, err := netip.ParsePrefix(o.CIDR); err == nil && opfx.Overlaps(pfx) {
				return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceSubnet, openami.ReasonOverlap, "The CIDR '%s' conflicts with another subnet", in.CIDR)
			}
		}
		if err := tx.Networks().CreateSubnet(s); err != nil {
			return err
		}
		return setTags(tx, p, s.ID, openami.ResourceSubnet, in.Tags)
	})
	if err != nil {
		return SubnetView{}, err
	}
	return SubnetView{Subnet: s, ZoneID: zone.ID, AvailableIPs: usableAddresses(s.CIDR), Tags: tagset.Sorted(in.Tags)}, nil
}

func zoneNames(zs []openami.Zone) string {
	out := ""
	for i, z := range zs {
		if i > 0 {
			out += ", "
		}
		out += z.Name
	}
	return out
}

// DeleteSubnet deletes a subnet of the caller's and its tags. While an
// instance that is not terminated is in it, it is InUse
// (DependencyViolation) and nothing changes. A default subnet cannot be
// deleted (ReasonDefault).
func (n *Networks) DeleteSubnet(ctx context.Context, p openami.Principal, id string) error {
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		s, err := n.subnetOf(tx, p, id)
		if err != nil {
			return err
		}
		if s.DefaultForAZ {
			return openami.ReasonErrorf(openami.Unauthorized, openami.ResourceSubnet, openami.ReasonDefault, "The default subnet '%s' cannot be deleted here.", id)
		}
		live, err := n.instances(tx, p.Region, p.AccountID)
		if err != nil {
			return err
		}
		for _, i := range live {
			if i.SubnetID == id {
				return openami.Errorf(openami.InUse, openami.ResourceSubnet, "The subnet '%s' has dependencies and cannot be deleted.", id)
			}
		}
		if err := tx.Networks().DeleteSubnet(p.Region, id); err != nil {
			return err
		}
		return tx.Tags().DeleteAll(p.Region, p.AccountID, id)
	})
}

// ModifySubnetAttribute sets whether instances launched in a subnet of
// the caller's get a public address (MapPublicIpOnLaunch), the one
// attribute a subnet keeps here.
func (n *Networks) ModifySubnetAttribute(ctx context.Context, p openami.Principal, id string, mapPublicIP bool) error {
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		s, err := n.subnetOf(tx, p, id)
		if err != nil {
			return err
		}
		s.MapPublicIPOnLaunch = mapPublicIP
		return tx.Networks().UpdateSubnet(s)
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
	AttrSubnetMapPublicIP    filter.Attr = "subnetMapPublicIP"
	AttrSubnetOwnerID        filter.Attr = "subnetOwnerID"
	AttrSubnetState          filter.Attr = "subnetState"
	AttrSubnetID             filter.Attr = "subnetID"
	AttrSubnetVpcID          filter.Attr = "subnetVpcID"
)

// SubnetAttrs are the attributes DescribeSubnets filters by. Read-only.
var SubnetAttrs = []filter.Attr{
	AttrSubnetZone, AttrSubnetZoneID, AttrSubnetAvailableIPs, AttrSubnetCIDR, AttrSubnetCIDRBlock,
	AttrSubnetDefaultForZone, AttrSubnetMapPublicIP, AttrSubnetOwnerID, AttrSubnetState, AttrSubnetID, AttrSubnetVpcID,
}

// DescribeSubnets returns a page of the caller's subnets in the region,
// all or those named (an unknown id is NotFound), that match the filters.
func (n *Networks) DescribeSubnets(ctx context.Context, p openami.Principal, subnetIDs []string, filters []filter.Filter, pg Page) ([]SubnetView, string, error) {
	zoneIDs := map[string]string{}
	if r, ok := n.identity.Region(p.Region); ok {
		for _, z := range r.Zones {
			zoneIDs[z.Name] = z.ID
		}
	}
	// The free addresses of every subnet, read with the first batch.
	var used map[string]int
	return describeTagged(ctx, n, p, "DescribeSubnets", openami.ResourceSubnet, describe.NotFound{One: "The subnet ID '%s' does not exist", Many: "The subnet IDs '%s' do not exist"},
		subnetIDs, filters, SubnetAttrs, pg,
		func(tx metadata.Tx, q metadata.NetworkQuery) ([]openami.Subnet, error) {
			if used == nil {
				live, err := n.instances(tx, p.Region, p.AccountID)
				if err != nil {
					return nil, err
				}
				used = map[string]int{}
				for _, i := range live {
					used[i.SubnetID]++
				}
			}
			return tx.Networks().ListSubnets(p.Region, q)
		},
		func(s openami.Subnet) string { return s.ID },
		func(s openami.Subnet, name filter.Attr) []string {
			switch name {
			case AttrSubnetZone:
				return []string{s.AvailabilityZone}
			case AttrSubnetZoneID:
				return []string{zoneIDs[s.AvailabilityZone]}
			case AttrSubnetAvailableIPs:
				return []string{strconv.Itoa(usableAddresses(s.CIDR) - used[s.ID])}
			case AttrSubnetCIDR, AttrSubnetCIDRBlock:
				return []string{s.CIDR}
			case AttrSubnetDefaultForZone:
				return []string{strconv.FormatBool(s.DefaultForAZ)}
			case AttrSubnetMapPublicIP:
				return []string{strconv.FormatBool(s.MapPublicIPOnLaunch)}
			case AttrSubnetOwnerID:
				return []string{s.AccountID}
			case AttrSubnetState:
				return []string{"available"}
			case AttrSubnetID:
				return []string{s.ID}
			case AttrSubnetVpcID:
				return []string{s.VpcID}
			}
			return nil
		},
		func(s openami.Subnet, tags []openami.Tag) SubnetView {
			return SubnetView{Subnet: s, ZoneID: zoneIDs[s.AvailabilityZone], AvailableIPs: usableAddresses(s.CIDR) - used[s.ID], Tags: tags}
		})
}
