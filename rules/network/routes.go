package network

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// Every VPC has, as on AWS, a main route table and a default network ACL.
// openami routes nothing between VPCs and has no gateways, so neither
// can be changed here: they are derived from their VPC (ids.Derived of
// the VPC's id), stored nowhere, and describe what a VPC does: traffic
// within the VPC's range is routed locally (the one route), and the
// network ACL allows everything in and out (rule 100) before its final
// deny (rule 32767), as AWS's default one does. Security groups are what
// filters traffic. Clients such as Terraform's aws_vpc read them.

// RouteTable is a VPC's main route table.
type RouteTable struct {
	ID, VpcID, AccountID string
	// AssociationID is the id of its main association with the VPC.
	AssociationID string
	// LocalCIDR is the destination of its one route, the VPC's range,
	// whose target is "local".
	LocalCIDR string
}

// NetworkACL is a VPC's default network ACL, associated with each of the
// VPC's subnets.
type NetworkACL struct {
	ID, VpcID, AccountID string
	// Subnets are the VPC's subnets, and AssociationIDs their
	// associations' ids, in the same order.
	Subnets, AssociationIDs []string
}

func routeTableOf(v openami.VPC) RouteTable {
	return RouteTable{ID: ids.Derived("rtb", v.ID), VpcID: v.ID, AccountID: v.AccountID,
		AssociationID: ids.Derived("rtbassoc", v.ID), LocalCIDR: v.CIDR}
}

// The attributes of a route table that DescribeRouteTables' filters test.
const (
	AttrRouteTableID            filter.Attr = "routeTableID"
	AttrRouteTableVpcID         filter.Attr = "routeTableVpcID"
	AttrRouteTableOwnerID       filter.Attr = "routeTableOwnerID"
	AttrRouteTableMain          filter.Attr = "routeTableMain"
	AttrRouteTableAssociationID filter.Attr = "routeTableAssociationID"
	AttrRouteTableDestination   filter.Attr = "routeTableDestination"
)

// RouteTableAttrs are the attributes DescribeRouteTables filters by.
// Read-only.
var RouteTableAttrs = []filter.Attr{AttrRouteTableID, AttrRouteTableVpcID, AttrRouteTableOwnerID,
	AttrRouteTableMain, AttrRouteTableAssociationID, AttrRouteTableDestination}

// describeDerived is the Describe of the records derived from the
// caller's VPCs: all made from the VPCs, in id order, narrowed by ids
// (an unknown one is NotFound of resource) and filters, a page at a time.
func describeDerived[T any](ctx context.Context, n *Networks, p openami.Principal, action string, resource openami.ResourceType, notFound describe.NotFound,
	wanted []string, filters []filter.Filter, known []filter.Attr, pg Page,
	build func(tx metadata.Tx, v openami.VPC) (T, error), id func(T) string, attr func(T, filter.Attr) []string) ([]T, string, error) {
	fs, err := n.describeStart(ctx, p, resource, wanted, filters, known, pg)
	if err != nil {
		return nil, "", err
	}
	var all []T
	err = n.store.View(ctx, func(tx metadata.Tx) error {
		all = nil
		vpcs, err := tx.Networks().ListVPCs(p.Region, metadata.NetworkQuery{AccountID: p.AccountID})
		if err != nil {
			return err
		}
		for _, v := range vpcs {
			x, err := build(tx, v)
			if err != nil {
				return err
			}
			all = append(all, x)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	if missing := describe.Missing(wanted, all, id); len(missing) > 0 {
		return nil, "", openami.Errorf(openami.NotFound, resource, "%s", notFound.Sentence(missing))
	}
	scope := describe.Scope(action, p, filters, strings.Join(wanted, ","))
	return describe.List(n.tokens, scope, pg, describe.Bounds{Min: 5, Max: 100}, describe.Slice(all, wanted, id), id,
		func(x T) bool { return fs.Match(func(name filter.Attr) []string { return attr(x, name) }, nil) })
}

// DescribeRouteTables returns a page of the main route tables of the
// caller's VPCs, all or those named, that match the filters.
func (n *Networks) DescribeRouteTables(ctx context.Context, p openami.Principal, tableIDs []string, filters []filter.Filter, pg Page) ([]RouteTable, string, error) {
	return describeDerived(ctx, n, p, "DescribeRouteTables", openami.ResourceRouteTable, describe.NotFound{One: "The routeTable ID '%s' does not exist", Many: "The routeTable IDs '%s' do not exist"}, tableIDs, filters, RouteTableAttrs, pg,
		func(_ metadata.Tx, v openami.VPC) (RouteTable, error) { return routeTableOf(v), nil },
		func(r RouteTable) string { return r.ID },
		func(r RouteTable, name filter.Attr) []string {
			switch name {
			case AttrRouteTableID:
				return []string{r.ID}
			case AttrRouteTableVpcID:
				return []string{r.VpcID}
			case AttrRouteTableOwnerID:
				return []string{r.AccountID}
			case AttrRouteTableMain:
				return []string{"true"}
			case AttrRouteTableAssociationID:
				return []string{r.AssociationID}
			case AttrRouteTableDestination:
				return []string{r.LocalCIDR}
			}
			return nil
		})
}

// The attributes of a network ACL that DescribeNetworkAcls' filters test.
const (
	AttrACLID            filter.Attr = "aclID"
	AttrACLVpcID         filter.Attr = "aclVpcID"
	AttrACLOwnerID       filter.Attr = "aclOwnerID"
	AttrACLDefault       filter.Attr = "aclDefault"
	AttrACLSubnetID      filter.Attr = "aclSubnetID"
	AttrACLAssociationID filter.Attr = "aclAssociationID"
)

// NetworkACLAttrs are the attributes DescribeNetworkAcls filters by.
// Read-only.
var NetworkACLAttrs = []filter.Attr{AttrACLID, AttrACLVpcID, AttrACLOwnerID, AttrACLDefault, AttrACLSubnetID, AttrACLAssociationID}

// DescribeNetworkAcls returns a page of the default network ACLs of the
// caller's VPCs, all or those named, that match the filters.
func (n *Networks) DescribeNetworkAcls(ctx context.Context, p openami.Principal, aclIDs []string, filters []filter.Filter, pg Page) ([]NetworkACL, string, error) {
	return describeDerived(ctx, n, p, "DescribeNetworkAcls", openami.ResourceNetworkACL, describe.NotFound{One: "The networkAcl ID '%s' does not exist", Many: "The networkAcl IDs '%s' do not exist"}, aclIDs, filters, NetworkACLAttrs, pg,
		func(tx metadata.Tx, v openami.VPC) (NetworkACL, error) {
			subnets, err := tx.Networks().ListSubnets(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: v.ID})
			if err != nil {
				return NetworkACL{}, err
			}
			a := NetworkACL{ID: ids.Derived("acl", v.ID), VpcID: v.ID, AccountID: v.AccountID}
			for _, s := range subnets {
				a.Subnets = append(a.Subnets, s.ID)
				a.AssociationIDs = append(a.AssociationIDs, ids.Derived("aclassoc", s.ID))
			}
			return a, nil
		},
		func(a NetworkACL) string { return a.ID },
		func(a NetworkACL, name filter.Attr) []string {
			switch name {
			case AttrACLID:
				return []string{a.ID}
			case AttrACLVpcID:
				return []string{a.VpcID}
			case AttrACLOwnerID:
				return []string{a.AccountID}
			case AttrACLDefault:
				return []string{strconv.FormatBool(true)}
			case AttrACLSubnetID:
				return a.Subnets
			case AttrACLAssociationID:
				return a.AssociationIDs
			}
			return nil
		})
}
