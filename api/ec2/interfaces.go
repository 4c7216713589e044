package ec2

import (
	"strings"

	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/network"
)

// DescribeNetworkInterfaces: the primary network interface of each of the
// caller's instances (rules/network/interfaces.go).

type describeNetworkInterfacesInput struct {
	dryRunParam
	NetworkInterfaceIDs []string      `query:"NetworkInterfaceId"`
	Filters             []filterParam `query:"Filter"`
	MaxResults          int           `query:"MaxResults"`
	NextToken           string        `query:"NextToken"`
}

type eniAttachmentItem struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId"`
	InstanceOwnerID     string `xml:"instanceOwnerId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

type eniItem struct {
	NetworkInterfaceID string               `xml:"networkInterfaceId"`
	SubnetID           string               `xml:"subnetId"`
	VpcID              string               `xml:"vpcId"`
	AvailabilityZone   string               `xml:"availabilityZone"`
	Description        string               `xml:"description"`
	OwnerID            string               `xml:"ownerId"`
	RequesterManaged   bool                 `xml:"requesterManaged"`
	Status             string               `xml:"status"`
	MacAddress         string               `xml:"macAddress"`
	PrivateIPAddress   string               `xml:"privateIpAddress"`
	PrivateDNSName     string               `xml:"privateDnsName"`
	SourceDestCheck    bool                 `xml:"sourceDestCheck"`
	Groups             items[groupItem]     `xml:"groupSet"`
	Attachment         eniAttachmentItem    `xml:"attachment"`
	PrivateIPAddresses items[privateIPItem] `xml:"privateIpAddressesSet"`
	InterfaceType      string               `xml:"interfaceType"`
	Tags               items[tagItem]       `xml:"tagSet"`
}

type describeNetworkInterfacesResponse struct {
	response
	NetworkInterfaces items[eniItem] `xml:"networkInterfaceSet"`
	NextToken         string         `xml:"nextToken,omitempty"`
}

func (h *Handler) describeNetworkInterfaces(c *call) (responder, error) {
	var in describeNetworkInterfacesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, networkInterfaceFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.network.DescribeNetworkInterfaces(c.ctx, c.p, in.NetworkInterfaceIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeNetworkInterfacesResponse{NetworkInterfaces: items[eniItem]{}, NextToken: next}
	var ids []string
	for _, x := range list {
		ids = append(ids, x.SecurityGroupIDs...)
	}
	names, err := h.network.SecurityGroupNames(c.ctx, c.p, ids)
	if err != nil {
		return nil, err
	}
	for _, x := range list {
		dns := instances.PrivateDNSName(c.p.Region, x.PrivateIP)
		item := eniItem{NetworkInterfaceID: x.ID, SubnetID: x.SubnetID, VpcID: x.VpcID, AvailabilityZone: x.AvailabilityZone,
			OwnerID: x.AccountID, Status: "in-use", MacAddress: x.MacAddress, PrivateIPAddress: x.PrivateIP, PrivateDNSName: dns,
			SourceDestCheck: !x.NoSourceDestCheck, Groups: items[groupItem]{}, InterfaceType: "interface", Tags: items[tagItem]{},
			Attachment: eniAttachmentItem{AttachmentID: "eni-attach-" + strings.TrimPrefix(x.Instance.ID, "i-"), InstanceID: x.Instance.ID,
				InstanceOwnerID: x.AccountID, Status: "attached", AttachTime: timestamp(x.LaunchTime), DeleteOnTermination: true},
			PrivateIPAddresses: items[privateIPItem]{{PrivateIPAddress: x.PrivateIP, PrivateDNSName: dns, Primary: true}}}
		for _, g := range x.SecurityGroupIDs {
			item.Groups = append(item.Groups, groupItem{GroupID: g, GroupName: names[g]})
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, item)
	}
	return out, nil
}
