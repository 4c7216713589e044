package ec2

import (
	"github.com/openami/openami/rules/instances"
)

type describeVpcsInput struct {
	dryRunParam
	VpcIDs     []string      `query:"VpcId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

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

type describeVpcsResponse struct {
	response
	Vpcs items[vpcItem] `xml:"vpcSet"`
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
	vpcs, err := h.instances.DescribeVpcs(c.ctx, c.p, in.VpcIDs, fs)
	if err != nil {
		return nil, err
	}
	out := &describeVpcsResponse{}
	for _, v := range vpcs {
		a := cidrAssociationItem{AssociationID: "vpc-cidr-assoc-" + v.ID[len("vpc-"):], CidrBlock: v.CIDR}
		a.CidrBlockState.State = "associated"
		out.Vpcs = append(out.Vpcs, vpcItem{VpcID: v.ID, OwnerID: v.AccountID, State: "available", CidrBlock: v.CIDR,
			CidrAssociation: items[cidrAssociationItem]{a}, DhcpOptionsID: "default", InstanceTenancy: "default", IsDefault: true})
	}
	return out, nil
}

type describeSubnetsInput struct {
	dryRunParam
	SubnetIDs  []string      `query:"SubnetId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type subnetItem struct {
	SubnetID                string         `xml:"subnetId"`
	SubnetArn               string         `xml:"subnetArn"`
	State                   string         `xml:"state"`
	OwnerID                 string         `xml:"ownerId"`
	VpcID                   string         `xml:"vpcId"`
	CidrBlock               string         `xml:"cidrBlock"`
	AvailableIPAddressCount int            `xml:"availableIpAddressCount"`
	AvailabilityZone        string         `xml:"availabilityZone"`
	AvailabilityZoneID      string         `xml:"availabilityZoneId"`
	DefaultForAz            bool           `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool           `xml:"mapPublicIpOnLaunch"`
	AssignIpv6OnCreation    bool           `xml:"assignIpv6AddressOnCreation"`
	Tags                    items[tagItem] `xml:"tagSet"`
}

type describeSubnetsResponse struct {
	response
	Subnets items[subnetItem] `xml:"subnetSet"`
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
	subnets, err := h.instances.DescribeSubnets(c.ctx, c.p, in.SubnetIDs, fs)
	if err != nil {
		return nil, err
	}
	out := &describeSubnetsResponse{}
	for _, n := range subnets {
		out.Subnets = append(out.Subnets, subnetItem{SubnetID: n.ID,
			SubnetArn: "arn:aws:ec2:" + c.p.Region + ":" + n.AccountID + ":subnet/" + n.ID, State: "available",
			OwnerID: n.AccountID, VpcID: n.VpcID, CidrBlock: n.CIDR, AvailableIPAddressCount: n.AvailableIPs,
			AvailabilityZone: n.AvailabilityZone, AvailabilityZoneID: n.ZoneID, DefaultForAz: true, MapPublicIPOnLaunch: true})
	}
	return out, nil
}

type describeSecurityGroupsInput struct {
	dryRunParam
	GroupIDs   []string      `query:"GroupId"`
	GroupNames []string      `query:"GroupName"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type ipRangeItem struct {
	CidrIP string `xml:"cidrIp"`
}

type userIDGroupPairItem struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type ipPermissionItem struct {
	IPProtocol string                     `xml:"ipProtocol"`
	Groups     items[userIDGroupPairItem] `xml:"groups"`
	IPRanges   items[ipRangeItem]         `xml:"ipRanges"`
}

type securityGroupItem struct {
	OwnerID             string                  `xml:"ownerId"`
	GroupID             string                  `xml:"groupId"`
	GroupName           string                  `xml:"groupName"`
	GroupDescription    string                  `xml:"groupDescription"`
	VpcID               string                  `xml:"vpcId"`
	IPPermissions       items[ipPermissionItem] `xml:"ipPermissions"`
	IPPermissionsEgress items[ipPermissionItem] `xml:"ipPermissionsEgress"`
	Tags                items[tagItem]          `xml:"tagSet"`
}

type describeSecurityGroupsResponse struct {
	response
	Groups items[securityGroupItem] `xml:"securityGroupInfo"`
}

func (h *Handler) describeSecurityGroups(c *call) (responder, error) {
	var in describeSecurityGroupsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, securityGroupFilterNames)
	if err != nil {
		return nil, err
	}
	groups, err := h.instances.DescribeSecurityGroups(c.ctx, c.p, in.GroupIDs, in.GroupNames, fs)
	if err != nil {
		return nil, err
	}
	out := &describeSecurityGroupsResponse{}
	for _, g := range groups {
		// The default group's rules: traffic from the group itself in,
		// everything out.
		out.Groups = append(out.Groups, securityGroupItem{OwnerID: g.AccountID, GroupID: g.ID, GroupName: g.Name,
			GroupDescription: g.Description, VpcID: g.VpcID,
			IPPermissions:       items[ipPermissionItem]{{IPProtocol: "-1", Groups: items[userIDGroupPairItem]{{g.ID, g.AccountID}}}},
			IPPermissionsEgress: items[ipPermissionItem]{{IPProtocol: "-1", IPRanges: items[ipRangeItem]{{"0.0.0.0/0"}}}}})
	}
	return out, nil
}

type describeInstanceTypesInput struct {
	dryRunParam
	InstanceTypes []string      `query:"InstanceType"`
	Filters       []filterParam `query:"Filter"`
	MaxResults    int           `query:"MaxResults"`
	NextToken     string        `query:"NextToken"`
}

type diskItem struct {
	SizeInGB int64  `xml:"sizeInGB"`
	Count    int    `xml:"count"`
	Type     string `xml:"type"`
}

type instanceStorageItem struct {
	TotalSizeInGB int64           `xml:"totalSizeInGB"`
	Disks         items[diskItem] `xml:"disks"`
	NvmeSupport   string          `xml:"nvmeSupport"`
}

type valueStringItem struct {
	Value string `xml:",chardata"`
}

type instanceTypeItem struct {
	InstanceType                  string                 `xml:"instanceType"`
	CurrentGeneration             bool                   `xml:"currentGeneration"`
	FreeTierEligible              bool                   `xml:"freeTierEligible"`
	SupportedUsageClasses         items[valueStringItem] `xml:"supportedUsageClasses"`
	SupportedRootDeviceTypes      items[valueStringItem] `xml:"supportedRootDeviceTypes"`
	SupportedVirtualizationTypes  items[valueStringItem] `xml:"supportedVirtualizationTypes"`
	BareMetal                     bool                   `xml:"bareMetal"`
	Hypervisor                    string                 `xml:"hypervisor"`
	ProcessorInfo                 processorInfoItem      `xml:"processorInfo"`
	VCpuInfo                      vcpuInfoItem           `xml:"vCpuInfo"`
	MemoryInfo                    memoryInfoItem         `xml:"memoryInfo"`
	InstanceStorageSupported      bool                   `xml:"instanceStorageSupported"`
	InstanceStorageInfo           *instanceStorageItem   `xml:"instanceStorageInfo"`
	EbsInfo                       ebsInfoItem            `xml:"ebsInfo"`
	HibernationSupported          bool                   `xml:"hibernationSupported"`
	BurstablePerformanceSupported bool                   `xml:"burstablePerformanceSupported"`
	DedicatedHostsSupported       bool                   `xml:"dedicatedHostsSupported"`
	AutoRecoverySupported         bool                   `xml:"autoRecoverySupported"`
	SupportedBootModes            items[valueStringItem] `xml:"supportedBootModes"`
}

type processorInfoItem struct {
	SupportedArchitectures   items[valueStringItem] `xml:"supportedArchitectures"`
	SustainedClockSpeedInGhz float64                `xml:"sustainedClockSpeedInGhz,omitempty"`
}

type vcpuInfoItem struct {
	DefaultVCpus          int `xml:"defaultVCpus"`
	DefaultCores          int `xml:"defaultCores"`
	DefaultThreadsPerCore int `xml:"defaultThreadsPerCore"`
}

type memoryInfoItem struct {
	SizeInMiB int64 `xml:"sizeInMiB"`
}

type ebsInfoItem struct {
	EbsOptimizedSupport string `xml:"ebsOptimizedSupport"`
	EncryptionSupport   string `xml:"encryptionSupport"`
	NvmeSupport         string `xml:"nvmeSupport"`
}

type describeInstanceTypesResponse struct {
	response
	InstanceTypes items[instanceTypeItem] `xml:"instanceTypeSet"`
	NextToken     string                  `xml:"nextToken,omitempty"`
}

func strs(vs []string) items[valueStringItem] {
	out := make(items[valueStringItem], len(vs))
	for i, v := range vs {
		out[i] = valueStringItem{v}
	}
	return out
}

func (h *Handler) describeInstanceTypes(c *call) (responder, error) {
	var in describeInstanceTypesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, instanceTypeFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.instances.DescribeInstanceTypes(c.ctx, c.p, in.InstanceTypes, fs, instances.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeInstanceTypesResponse{NextToken: next}
	for _, it := range list {
		threads := 1
		if it.VCPUs > 1 && it.Architectures[0] != "arm64" {
			threads = 2
		}
		item := instanceTypeItem{
			InstanceType: it.Name, CurrentGeneration: it.Hypervisor == "nitro", FreeTierEligible: it.FreeTier,
			SupportedUsageClasses: strs([]string{"on-demand", "spot"}), SupportedRootDeviceTypes: strs([]string{"ebs"}),
			SupportedVirtualizationTypes: strs(it.Virtualization), Hypervisor: it.Hypervisor,
			ProcessorInfo: processorInfoItem{strs(it.Architectures), it.ClockGHz},
			VCpuInfo:      vcpuInfoItem{it.VCPUs, max(1, it.VCPUs/threads), threads},
			MemoryInfo:    memoryInfoItem{it.MemoryMiB}, InstanceStorageSupported: it.InstanceStore.Count > 0,
			EbsInfo:                       ebsInfoItem{"default", "supported", "required"},
			BurstablePerformanceSupported: it.Burstable, AutoRecoverySupported: true,
			SupportedBootModes: strs(it.BootModes),
		}
		if it.Hypervisor == "xen" {
			item.EbsInfo = ebsInfoItem{"unsupported", "supported", "unsupported"}
		}
		if s := it.InstanceStore; s.Count > 0 {
			nvme := "unsupported"
			if s.NVMe {
				nvme = "required"
			}
			item.InstanceStorageInfo = &instanceStorageItem{TotalSizeInGB: int64(s.Count) * s.SizeGB,
				Disks: items[diskItem]{{s.SizeGB, s.Count, s.Type}}, NvmeSupport: nvme}
		}
		out.InstanceTypes = append(out.InstanceTypes, item)
	}
	return out, nil
}
