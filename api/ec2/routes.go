package ec2

import (
	"github.com/openami/openami/rules/network"
)

// DescribeRouteTables and DescribeNetworkAcls: each VPC's main route
// table and default network ACL, derived from the VPC and fixed
// (rules/network/routes.go says why).

type describeRouteTablesInput struct {
	dryRunParam
	RouteTableIDs []string      `query:"RouteTableId"`
	Filters       []filterParam `query:"Filter"`
	MaxResults    int           `query:"MaxResults"`
	NextToken     string        `query:"NextToken"`
}

type routeItem struct {
	DestinationCidrBlock string `xml:"destinationCidrBlock"`
	GatewayID            string `xml:"gatewayId"`
	Origin               string `xml:"origin"`
	State                string `xml:"state"`
}

type routeTableAssociationItem struct {
	Main                    bool   `xml:"main"`
	RouteTableAssociationID string `xml:"routeTableAssociationId"`
	RouteTableID            string `xml:"routeTableId"`
	AssociationState        struct {
		State string `xml:"state"`
	} `xml:"associationState"`
}

type routeTableItem struct {
	RouteTableID    string                           `xml:"routeTableId"`
	VpcID           string                           `xml:"vpcId"`
	OwnerID         string                           `xml:"ownerId"`
	Routes          items[routeItem]                 `xml:"routeSet"`
	Associations    items[routeTableAssociationItem] `xml:"associationSet"`
	PropagatingVgws items[routeItem]                 `xml:"propagatingVgwSet"`
	Tags            items[tagItem]                   `xml:"tagSet"`
}

type describeRouteTablesResponse struct {
	response
	RouteTables items[routeTableItem] `xml:"routeTableSet"`
	NextToken   string                `xml:"nextToken,omitempty"`
}

func (h *Handler) describeRouteTables(c *call) (responder, error) {
	var in describeRouteTablesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, routeTableFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.network.DescribeRouteTables(c.ctx, c.p, in.RouteTableIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeRouteTablesResponse{RouteTables: items[routeTableItem]{}, NextToken: next}
	for _, r := range list {
		a := routeTableAssociationItem{Main: true, RouteTableAssociationID: r.AssociationID, RouteTableID: r.ID}
		a.AssociationState.State = "associated"
		out.RouteTables = append(out.RouteTables, routeTableItem{RouteTableID: r.ID, VpcID: r.VpcID, OwnerID: r.AccountID,
			Routes:       items[routeItem]{{DestinationCidrBlock: r.LocalCIDR, GatewayID: "local", Origin: "CreateRouteTable", State: "active"}},
			Associations: items[routeTableAssociationItem]{a}, PropagatingVgws: items[routeItem]{}, Tags: items[tagItem]{}})
	}
	return out, nil
}

type describeNetworkAclsInput struct {
	dryRunParam
	NetworkACLIDs []string      `query:"NetworkAclId"`
	Filters       []filterParam `query:"Filter"`
	MaxResults    int           `query:"MaxResults"`
	NextToken     string        `query:"NextToken"`
}

type aclEntryItem struct {
	RuleNumber int    `xml:"ruleNumber"`
	Protocol   string `xml:"protocol"`
	RuleAction string `xml:"ruleAction"`
	Egress     bool   `xml:"egress"`
	CidrBlock  string `xml:"cidrBlock"`
}

type aclAssociationItem struct {
	NetworkACLAssociationID string `xml:"networkAclAssociationId"`
	NetworkACLID            string `xml:"networkAclId"`
	SubnetID                string `xml:"subnetId"`
}

type networkACLItem struct {
	NetworkACLID string                    `xml:"networkAclId"`
	VpcID        string                    `xml:"vpcId"`
	OwnerID      string                    `xml:"ownerId"`
	IsDefault    bool                      `xml:"default"`
	Entries      items[aclEntryItem]       `xml:"entrySet"`
	Associations items[aclAssociationItem] `xml:"associationSet"`
	Tags         items[tagItem]            `xml:"tagSet"`
}

type describeNetworkAclsResponse struct {
	response
	NetworkAcls items[networkACLItem] `xml:"networkAclSet"`
	NextToken   string                `xml:"nextToken,omitempty"`
}

func (h *Handler) describeNetworkAcls(c *call) (responder, error) {
	var in describeNetworkAclsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, networkACLFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.network.DescribeNetworkAcls(c.ctx, c.p, in.NetworkACLIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeNetworkAclsResponse{NetworkAcls: items[networkACLItem]{}, NextToken: next}
	for _, a := range list {
		item := networkACLItem{NetworkACLID: a.ID, VpcID: a.VpcID, OwnerID: a.AccountID, IsDefault: true, Associations: items[aclAssociationItem]{}, Tags: items[tagItem]{}}
		for _, egress := range []bool{false, true} {
			item.Entries = append(item.Entries,
				aclEntryItem{RuleNumber: 100, Protocol: "-1", RuleAction: "allow", Egress: egress, CidrBlock: "0.0.0.0/0"},
				aclEntryItem{RuleNumber: 32767, Protocol: "-1", RuleAction: "deny", Egress: egress, CidrBlock: "0.0.0.0/0"})
		}
		for k, s := range a.Subnets {
			item.Associations = append(item.Associations, aclAssociationItem{NetworkACLAssociationID: a.AssociationIDs[k], NetworkACLID: a.ID, SubnetID: s})
		}
		out.NetworkAcls = append(out.NetworkAcls, item)
	}
	return out, nil
}
