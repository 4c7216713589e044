package network

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// Page is a Describe action's paging (describe.Page).
type Page = describe.Page

// VPCView is a VPC with its tags, as DescribeVpcs returns it.
type VPCView struct {
	openami.VPC
	Tags []openami.Tag
}

// reservedRanges are the IPv4 ranges no VPC may use: "this" network,
// loopback, link-local (the metadata service's) and multicast and above.
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("224.0.0.0/3"),
}

// checkVPCCIDR checks a VPC's range: a valid IPv4 CIDR block between a /16
// and a /28 (InvalidParameter with ReasonRange otherwise), not in a
// reserved range. As on AWS, it need not be an RFC 1918 range.
func checkVPCCIDR(s string) (netip.Prefix, error) {
	pfx, err := parseCIDR(s)
	if err != nil {
		return pfx, err
	}
	if pfx.Bits() < minPrefix || pfx.Bits() > maxPrefix {
		return pfx, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceVPC, openami.ReasonRange, "The CIDR '%s' is invalid.", s)
	}
	for _, r := range reservedRanges {
		if r.Overlaps(pfx) {
			return pfx, openami.Errorf(openami.InvalidParameter, "", "The CIDR '%s' is reserved and cannot be used for a VPC.", s)
		}
	}
	return pfx, nil
}

// CreateVpcInput is what CreateVpc takes.
type CreateVpcInput struct {
	CIDR string
	// Tags are the TagSpecifications' tags of the "vpc" type.
	Tags []openami.Tag
}

// CreateVpc makes a VPC with the CIDR block given (checkVPCCIDR) and its
// default security group, named "default" with the default group's
// rules, as on AWS. DNS support is on and DNS host names off, as for a
// VPC made through the API on AWS.
func (n *Networks) CreateVpc(ctx context.Context, p openami.Principal, in CreateVpcInput) (VPCView, error) {
	if in.CIDR == "" {
		return VPCView{}, openami.Errorf(openami.MissingParameter, "", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	}
	pfx, err := checkVPCCIDR(in.CIDR)
	if err != nil {
		return VPCView{}, err
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return VPCView{}, err
	}
	v := openami.VPC{ID: ids.New("vpc"), Region: p.Region, AccountID: p.AccountID, CIDR: pfx.String(), DNSSupport: true}
	err = n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		if err := tx.Networks().CreateVPC(v); err != nil {
			return err
		}
		gid := ids.New("sg")
		if err := tx.Networks().CreateGroup(defaultGroupOf(p, v.ID, gid, "default VPC security group")); err != nil {
			return err
		}
		return setTags(tx, p, v.ID, openami.ResourceVPC, in.Tags)
	})
	if err != nil {
		return VPCView{}, err
	}
	return VPCView{VPC: v, Tags: tagset.Sorted(in.Tags)}, nil
}

// setTags sets a new resource's tags, if any.
func setTags(tx metadata.Tx, p openami.Principal, id string, t openami.ResourceType, tags []openami.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	return tx.Tags().Set(p.Region, p.AccountID, id, t, tags)
}

// DeleteVpc deletes a VPC of the caller's with its default security
// group and tags. While the VPC has subnets, or security groups other
// than its default one, it is InUse (DependencyViolation on EC2) and
// nothing changes. The default VPC cannot be deleted (ReasonDefault).
func (n *Networks) DeleteVpc(ctx context.Context, p openami.Principal, id string) error {
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		v, err := n.vpcOf(tx, p, id)
		if err != nil {
			return err
		}
		if v.IsDefault {
			return openami.ReasonErrorf(openami.Unauthorized, openami.ResourceVPC, openami.ReasonDefault, "The default VPC '%s' cannot be deleted here.", id)
		}
		subnets, err := tx.Networks().ListSubnets(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: id, Limit: 1})
		if err != nil {
			return err
		}
		groups, err := tx.Networks().ListGroups(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: id})
		if err != nil {
			return err
		}
		if len(subnets) > 0 || len(groups) > 1 {
			return openami.Errorf(openami.InUse, openami.ResourceVPC, "The vpc '%s' has dependencies and cannot be deleted.", id)
		}
		for _, g := range groups {
			if err := tx.Networks().DeleteGroup(p.Region, g.ID); err != nil {
				return err
			}
			for _, id := range append([]string{g.ID}, describe.IDs(g.Rules, func(r openami.SecurityGroupRule) string { return r.ID })...) {
				if err := tx.Tags().DeleteAll(p.Region, p.AccountID, id); err != nil {
					return err
				}
			}
		}
		if err := tx.Networks().DeleteVPC(p.Region, id); err != nil {
			return err
		}
		return tx.Tags().DeleteAll(p.Region, p.AccountID, id)
	})
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

func vpcAttr(v openami.VPC, name filter.Attr) []string {
	switch name {
	case AttrVPCCIDR, AttrVPCAssociatedCIDR:
		return []string{v.CIDR}
	case AttrVPCDhcpOptionsID:
		return []string{"default"}
	case AttrVPCDefault:
		return []string{strconv.FormatBool(v.IsDefault)}
	case AttrVPCOwnerID:
		return []string{v.AccountID}
	case AttrVPCState:
		return []string{"available"}
	case AttrVPCID:
		return []string{v.ID}
	}
	return nil
}

// describeStart is what every Describe of this package does first:
// compile the filters against the attributes known, refuse ids and
// MaxResults together (for resource), and store the default network. It
// returns the compiled filters.
func (n *Networks) describeStart(ctx context.Context, p openami.Principal, resource openami.ResourceType, wanted []string,
	filters []filter.Filter, known []filter.Attr, pg Page) (filter.Set, error) {
	fs, err := filter.Compile(filters, known...)
	if err != nil {
		return fs, err
	}
	if err := describe.CheckIDs(resource, wanted, pg); err != nil {
		return fs, err
	}
	return fs, n.ensureDefaults(ctx, p)
}

// describeTagged is the Describe skeleton of this package: the default
// network stored first, ids and MaxResults refused together, every id
// asked for found (NotFound of resource, with the sentence notFound,
// otherwise), and one page of the caller's records that match, with
// their tags, each made a view by view.
func describeTagged[T, V any](ctx context.Context, n *Networks, p openami.Principal, action string, resource openami.ResourceType, notFound describe.NotFound,
	wanted []string, filters []filter.Filter, known []filter.Attr, pg Page,
	list func(tx metadata.Tx, q metadata.NetworkQuery) ([]T, error), id func(T) string,
	attr func(T, filter.Attr) []string, view func(T, []openami.Tag) V) ([]V, string, error) {
	fs, err := n.describeStart(ctx, p, resource, wanted, filters, known, pg)
	if err != nil {
		return nil, "", err
	}
	if len(wanted) > 0 {
		var found []T
		err := n.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = list(tx, metadata.NetworkQuery{AccountID: p.AccountID, IDs: wanted})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.Missing(wanted, found, id); len(missing) > 0 {
			return nil, "", openami.Errorf(openami.NotFound, resource, "%s", notFound.Sentence(missing))
		}
	}
	scope := describe.Scope(action, p, filters, strings.Join(wanted, ","))
	items, tags, next, err := describe.Tagged(ctx, n.store, n.tokens, p, scope, pg, describe.Bounds{Min: 5, Max: 1000},
		func(tx metadata.Tx, after string, limit int) ([]T, error) {
			return list(tx, metadata.NetworkQuery{AccountID: p.AccountID, IDs: wanted, After: after, Limit: limit})
		}, id,
		func(x T, tags map[string]string) bool {
			return fs.Match(func(name filter.Attr) []string { return attr(x, name) }, tags)
		})
	if err != nil {
		return nil, "", err
	}
	out := make([]V, len(items))
	for i, x := range items {
		out[i] = view(x, tags[id(x)])
	}
	return out, next, nil
}

// DescribeVpcs returns a page of the caller's VPCs in the region, all or
// those named (an unknown id is NotFound), that match the filters.
func (n *Networks) DescribeVpcs(ctx context.Context, p openami.Principal, vpcIDs []string, filters []filter.Filter, pg Page) ([]VPCView, string, error) {
	return describeTagged(ctx, n, p, "DescribeVpcs", openami.ResourceVPC, describe.NotFound{One: "The vpc ID '%s' does not exist", Many: "The vpc IDs '%s' do not exist"},
		vpcIDs, filters, VPCAttrs, pg,
		func(tx metadata.Tx, q metadata.NetworkQuery) ([]openami.VPC, error) {
			return tx.Networks().ListVPCs(p.Region, q)
		},
		func(v openami.VPC) string { return v.ID }, vpcAttr,
		func(v openami.VPC, tags []openami.Tag) VPCView { return VPCView{VPC: v, Tags: tags} })
}

// The VPC attributes DescribeVpcAttribute and ModifyVpcAttribute take,
// in openami's words.
const (
	VPCAttrDNSSupport   = "dnsSupport"
	VPCAttrDNSHostnames = "dnsHostnames"
	// VPCAttrAddressUsageMetrics is Network Address Usage metrics: always
	// off here (there is nothing to meter).
	VPCAttrAddressUsageMetrics = "addressUsageMetrics"
)

// DescribeVpcAttribute returns one boolean attribute of a VPC of the
// caller's.
func (n *Networks) DescribeVpcAttribute(ctx context.Context, p openami.Principal, id, attr string) (bool, error) {
	var out bool
	err := n.store.View(ctx, func(tx metadata.Tx) error {
		v, err := n.vpcOf(tx, p, id)
		if err != nil {
			return err
		}
		switch attr {
		case VPCAttrDNSSupport:
			out = v.DNSSupport
		case VPCAttrDNSHostnames:
			out = v.DNSHostnames
		case VPCAttrAddressUsageMetrics:
			out = false
		default:
			return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
		}
		return nil
	})
	return out, err
}

// ModifyVpcAttribute sets one boolean attribute of a VPC of the caller's.
// Network Address Usage metrics cannot be turned on (Unsupported).
func (n *Networks) ModifyVpcAttribute(ctx context.Context, p openami.Principal, id, attr string, value bool) error {
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		v, err := n.vpcOf(tx, p, id)
		if err != nil {
			return err
		}
		switch attr {
		case VPCAttrDNSSupport:
			v.DNSSupport = value
		case VPCAttrDNSHostnames:
			if value && !v.DNSSupport {
				return openami.Errorf(openami.InvalidParameter, "", "Enabling DNS hostnames requires DNS support to be enabled.")
			}
			v.DNSHostnames = value
		case VPCAttrAddressUsageMetrics:
			if value {
				return openami.Errorf(openami.Unsupported, "", "Network Address Usage metrics are not supported.")
			}
		default:
			return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
		}
		return tx.Networks().UpdateVPC(v)
	})
}
