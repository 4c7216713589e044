package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/network"
)

// VPCs and subnets: CreateVpc, DeleteVpc, DescribeVpcs,
// DescribeVpcAttribute, ModifyVpcAttribute, CreateSubnet, DeleteSubnet,
// DescribeSubnets and ModifySubnetAttribute (rules/network), and the
// answers Terraform's aws_vpc reads that openami has no resource for
// (DescribeRouteTables, DescribeNetworkAcls: fixed values, see
// docs/NETWORK.md).

type cidrAssociationItem struct {
	AssociationID  string `xml:"associationId"`
	CidrBlock      string `xml:"cidrBlock"`
	CidrBlockState struct {
		State string `xml:"state"`
	} `xml:"cidrBlockState"`
}

type vpcItem struct {
	VpcID           string                     `xml:"vpcId"`
	OwnerID         string                     `xml:"ownerId"`
	State           string                     `xml:"state"`
	CidrBlock       string                     `xml:"cidrBlock"`
	CidrAssociation items[cidrAssociationItem] `xml:"cidrBlockAssociationSet"`
	DhcpOptionsID   string                     `xml:"dhcpOptionsId"`
	InstanceTenancy string                     `xml:"instanceTenancy"`
	IsDefault       bool                       `xml:"isDefault"`
	Tags            items[tagItem]             `xml:"tagSet"`
}

func vpcOf(v network.VPCView) vpcItem {
	a := cidrAssociationItem{AssociationID: "vpc-cidr-assoc-" + v.ID[len("vpc-"):], CidrBlock: v.CIDR}
	a.CidrBlockState.State = "associated"
	return vpcItem{VpcID: v.ID, OwnerID: v.AccountID, State: "available", CidrBlock: v.CIDR,
		CidrAssociation: items[cidrAssociationItem]{a}, DhcpOptionsID: "default", InstanceTenancy: "default",
		IsDefault: v.IsDefault, Tags: tagSet(v.Tags)}
}

type createVpcInput struct {
	dryRunParam
	CidrBlock                   string         `query:"CidrBlock"`
	InstanceTenancy             string         `query:"InstanceTenancy"`
	AmazonProvidedIpv6CidrBlock bool           `query:"AmazonProvidedIpv6CidrBlock"`
	Ipv6CidrBlock               string         `query:"Ipv6CidrBlock"`
	Ipv4IpamPoolID              string         `query:"Ipv4IpamPoolId"`
	TagSpecifications           []tagSpecParam `query:"TagSpecification"`
}

type createVpcResponse struct {
	response
	Vpc vpcItem `xml:"vpc"`
}

func (h *Handler) createVpc(c *call) (responder, error) {
	var in createVpcInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.InstanceTenancy != "" && in.InstanceTenancy != "default":
		return nil, openami.Errorf(openami.Unsupported, "", "Only the default instance tenancy is supported.")
	case in.AmazonProvidedIpv6CidrBlock || in.Ipv6CidrBlock != "":
		return nil, openami.Errorf(openami.Unsupported, "", "IPv6 CIDR blocks for VPCs are not supported.")
	case in.Ipv4IpamPoolID != "":
		return nil, openami.Errorf(openami.Unsupported, "", "IPAM pools are not supported.")
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceVPC, openami.ResourceVPC)
	if err != nil {
		return nil, err
	}
	v, err := h.network.CreateVpc(c.ctx, c.p, network.CreateVpcInput{CIDR: in.CidrBlock, Tags: tags})
	if err != nil {
		return nil, err
	}
	return &createVpcResponse{Vpc: vpcOf(v)}, nil
}

type vpcIDInput struct {
	dryRunParam
	VpcID string `query:"VpcId,required"`
}

func (h *Handler) deleteVpc(c *call) (responder, error) {
	var in vpcIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.network.DeleteVpc(c.ctx, c.p, in.VpcID); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type describeVpcsInput struct {
	dryRunParam
	VpcIDs     []string      `query:"VpcId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type describeVpcsResponse struct {
	response
	Vpcs      items[vpcItem] `xml:"vpcSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

func (h *Handler) describeVpcs(c *call) (responder, error) {
	var in describeVpcsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, vpcFilterNames)
	if err != nil {
		return nil, err
	}
	vpcs, next, err := h.network.DescribeVpcs(c.ctx, c.p, in.VpcIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeVpcsResponse{Vpcs: items[vpcItem]{}, NextToken: next}
	for _, v := range vpcs {
		out.Vpcs = append(out.Vpcs, vpcOf(v))
	}
	return out, nil
}

// vpcAttributes maps DescribeVpcAttribute's attribute names to the rules'.
var vpcAttributes = map[string]string{
	"enableDnsSupport":                 network.VPCAttrDNSSupport,
	"enableDnsHostnames":               network.VPCAttrDNSHostnames,
	"enableNetworkAddressUsageMetrics": network.VPCAttrAddressUsageMetrics,
}

type describeVpcAttributeInput struct {
	dryRunParam
	VpcID     string `query:"VpcId,required"`
	Attribute string `query:"Attribute,required"`
}

type describeVpcAttributeResponse struct {
	response
	VpcID                            string         `xml:"vpcId"`
	EnableDNSSupport                 *boolValueItem `xml:"enableDnsSupport"`
	EnableDNSHostnames               *boolValueItem `xml:"enableDnsHostnames"`
	EnableNetworkAddressUsageMetrics *boolValueItem `xml:"enableNetworkAddressUsageMetrics"`
}

func (h *Handler) describeVpcAttribute(c *call) (responder, error) {
	var in describeVpcAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	attr, ok := vpcAttributes[in.Attribute]
	if !ok {
		return nil, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter attribute is invalid. Unknown attribute.", in.Attribute)
	}
	v, err := h.network.DescribeVpcAttribute(c.ctx, c.p, in.VpcID, attr)
	if err != nil {
		return nil, err
	}
	out := &describeVpcAttributeResponse{VpcID: in.VpcID}
	switch attr {
	case network.VPCAttrDNSSupport:
		out.EnableDNSSupport = &boolValueItem{v}
	case network.VPCAttrDNSHostnames:
		out.EnableDNSHostnames = &boolValueItem{v}
	default:
		out.EnableNetworkAddressUsageMetrics = &boolValueItem{v}
	}
	return out, nil
}

type modifyVpcAttributeInput struct {
	dryRunParam
	VpcID                            string              `query:"VpcId,required"`
	EnableDNSSupport                 *attributeBoolParam `query:"EnableDnsSupport"`
	EnableDNSHostnames               *attributeBoolParam `query:"EnableDnsHostnames"`
	EnableNetworkAddressUsageMetrics *attributeBoolParam `query:"EnableNetworkAddressUsageMetrics"`
}

func (h *Handler) modifyVpcAttribute(c *call) (responder, error) {
	var in modifyVpcAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	var (
		attr string
		val  *bool
		n    int
	)
	for _, a := range []struct {
		name  string
		param *attributeBoolParam
	}{{network.VPCAttrDNSSupport, in.EnableDNSSupport}, {network.VPCAttrDNSHostnames, in.EnableDNSHostnames},
		{network.VPCAttrAddressUsageMetrics, in.EnableNetworkAddressUsageMetrics}} {
		if a.param != nil {
			attr, val = a.name, a.param.Value
			n++
		}
	}
	if n != 1 || val == nil {
		return nil, openami.Errorf(openami.InvalidCombination, "", "Exactly one attribute, with a value, must be given.")
	}
	if err := h.network.ModifyVpcAttribute(c.ctx, c.p, in.VpcID, attr, *val); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type privateDNSNameOptionsItem struct {
	HostnameType                    string `xml:"hostnameType"`
	EnableResourceNameDNSARecord    bool   `xml:"enableResourceNameDnsARecord"`
	EnableResourceNameDNSAAAARecord bool   `xml:"enableResourceNameDnsAAAARecord"`
}

type subnetItem struct {
	SubnetID                string                    `xml:"subnetId"`
	SubnetArn               string                    `xml:"subnetArn"`
	State                   string                    `xml:"state"`
	OwnerID                 string                    `xml:"ownerId"`
	VpcID                   string                    `xml:"vpcId"`
	CidrBlock               string                    `xml:"cidrBlock"`
	AvailableIPAddressCount int                       `xml:"availableIpAddressCount"`
	AvailabilityZone        string                    `xml:"availabilityZone"`
	AvailabilityZoneID      string                    `xml:"availabilityZoneId"`
	DefaultForAz            bool                      `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool                      `xml:"mapPublicIpOnLaunch"`
	AssignIpv6OnCreation    bool                      `xml:"assignIpv6AddressOnCreation"`
	EnableDNS64             bool                      `xml:"enableDns64"`
	Ipv6Native              bool                      `xml:"ipv6Native"`
	PrivateDNSNameOptions   privateDNSNameOptionsItem `xml:"privateDnsNameOptionsOnLaunch"`
	Tags                    items[tagItem]            `xml:"tagSet"`
}

func subnetOf(region string, n network.SubnetView) subnetItem {
	return subnetItem{SubnetID: n.ID, SubnetArn: "arn:aws:ec2:" + region + ":" + n.AccountID + ":subnet/" + n.ID,
		State: "available", OwnerID: n.AccountID, VpcID: n.VpcID, CidrBlock: n.CIDR, AvailableIPAddressCount: n.AvailableIPs,
		AvailabilityZone: n.AvailabilityZone, AvailabilityZoneID: n.ZoneID, DefaultForAz: n.DefaultForAZ,
		MapPublicIPOnLaunch: n.MapPublicIPOnLaunch, PrivateDNSNameOptions: privateDNSNameOptionsItem{HostnameType: "ip-name"},
		Tags: tagSet(n.Tags)}
}

type createSubnetInput struct {
	dryRunParam
	VpcID              string         `query:"VpcId,required"`
	CidrBlock          string         `query:"CidrBlock"`
	AvailabilityZone   string         `query:"AvailabilityZone"`
	AvailabilityZoneID string         `query:"AvailabilityZoneId"`
	Ipv6CidrBlock      string         `query:"Ipv6CidrBlock"`
	Ipv6Native         bool           `query:"Ipv6Native"`
	Ipv4IpamPoolID     string         `query:"Ipv4IpamPoolId"`
	OutpostArn         string         `query:"OutpostArn"`
	TagSpecifications  []tagSpecParam `query:"TagSpecification"`
}

type createSubnetResponse struct {
	response
	Subnet subnetItem `xml:"subnet"`
}

func (h *Handler) createSubnet(c *call) (responder, error) {
	var in createSubnetInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.Ipv6CidrBlock != "" || in.Ipv6Native:
		return nil, openami.Errorf(openami.Unsupported, "", "IPv6 subnets are not supported.")
	case in.Ipv4IpamPoolID != "":
		return nil, openami.Errorf(openami.Unsupported, "", "IPAM pools are not supported.")
	case in.OutpostArn != "":
		return nil, openami.Errorf(openami.Unsupported, "", "Outposts are not supported.")
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSubnet, openami.ResourceSubnet)
	if err != nil {
		return nil, err
	}
	n, err := h.network.CreateSubnet(c.ctx, c.p, network.CreateSubnetInput{VpcID: in.VpcID, CIDR: in.CidrBlock,
		AvailabilityZone: in.AvailabilityZone, AvailabilityZoneID: in.AvailabilityZoneID, Tags: tags})
	if err != nil {
		return nil, err
	}
	return &createSubnetResponse{Subnet: subnetOf(c.p.Region, n)}, nil
}

type subnetIDInput struct {
	dryRunParam
	SubnetID string `query:"SubnetId,required"`
}

func (h *Handler) deleteSubnet(c *call) (responder, error) {
	var in subnetIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.network.DeleteSubnet(c.ctx, c.p, in.SubnetID); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type modifySubnetAttributeInput struct {
	dryRunParam
	SubnetID                             string              `query:"SubnetId,required"`
	MapPublicIPOnLaunch                  *attributeBoolParam `query:"MapPublicIpOnLaunch"`
	AssignIpv6AddressOnCreation          *attributeBoolParam `query:"AssignIpv6AddressOnCreation"`
	EnableDNS64                          *attributeBoolParam `query:"EnableDns64"`
	EnableResourceNameDNSARecordOnLaunch *attributeBoolParam `query:"EnableResourceNameDnsARecordOnLaunch"`
	EnableResourceNameDNSAAAARecord      *attributeBoolParam `query:"EnableResourceNameDnsAAAARecordOnLaunch"`
	PrivateDNSHostnameTypeOnLaunch       string              `query:"PrivateDnsHostnameTypeOnLaunch"`
}

// modifySubnetAttribute sets MapPublicIpOnLaunch. The attributes openami
// does not keep are accepted when they ask for what it does anyway
// (false, ip-name) and refused otherwise.
func (h *Handler) modifySubnetAttribute(c *call) (responder, error) {
	var in modifySubnetAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	for _, a := range []*attributeBoolParam{in.AssignIpv6AddressOnCreation, in.EnableDNS64,
		in.EnableResourceNameDNSARecordOnLaunch, in.EnableResourceNameDNSAAAARecord} {
		if a != nil && a.Value != nil && *a.Value {
			return nil, openami.Errorf(openami.Unsupported, "", "Only MapPublicIpOnLaunch can be turned on for a subnet.")
		}
	}
	if t := in.PrivateDNSHostnameTypeOnLaunch; t != "" && t != "ip-name" {
		return nil, openami.Errorf(openami.Unsupported, "", "Only the ip-name host name type is supported.")
	}
	if in.MapPublicIPOnLaunch == nil || in.MapPublicIPOnLaunch.Value == nil {
		return &returnResponse{Return: true}, nil
	}
	if err := h.network.ModifySubnetAttribute(c.ctx, c.p, in.SubnetID, *in.MapPublicIPOnLaunch.Value); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type describeSubnetsInput struct {
	dryRunParam
	SubnetIDs  []string      `query:"SubnetId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type describeSubnetsResponse struct {
	response
	Subnets   items[subnetItem] `xml:"subnetSet"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSubnets(c *call) (responder, error) {
	var in describeSubnetsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, subnetFilterNames)
	if err != nil {
		return nil, err
	}
	subnets, next, err := h.network.DescribeSubnets(c.ctx, c.p, in.SubnetIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeSubnetsResponse{Subnets: items[subnetItem]{}, NextToken: next}
	for _, n := range subnets {
		out.Subnets = append(out.Subnets, subnetOf(c.p.Region, n))
	}
	return out, nil
}
