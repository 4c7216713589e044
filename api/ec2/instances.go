package ec2

import (
	"encoding/base64"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/templates"
)

// runEbsParam is BlockDeviceMapping.N.Ebs of RunInstances: every field
// may be absent, leaving the image's value.
type runEbsParam struct {
	SnapshotID          string `query:"SnapshotId"`
	VolumeSize          int64  `query:"VolumeSize"`
	VolumeType          string `query:"VolumeType"`
	Iops                *int   `query:"Iops"`
	Throughput          *int   `query:"Throughput"`
	DeleteOnTermination *bool  `query:"DeleteOnTermination"`
	Encrypted           *bool  `query:"Encrypted"`
	KmsKeyID            string `query:"KmsKeyId"`
	InitializationRate  int    `query:"VolumeInitializationRate"`
	EbsCardIndex        int    `query:"EbsCardIndex"`
}

type runMappingParam struct {
	DeviceName  string       `query:"DeviceName"`
	VirtualName string       `query:"VirtualName"`
	NoDevice    *string      `query:"NoDevice"`
	Ebs         *runEbsParam `query:"Ebs"`
}

type placementParam struct {
	AvailabilityZone   string `query:"AvailabilityZone"`
	AvailabilityZoneID string `query:"AvailabilityZoneId"`
	GroupName          string `query:"GroupName"`
	Tenancy            string `query:"Tenancy"`
}

type metadataOptionsParam struct {
	HttpTokens              string `query:"HttpTokens"`
	HttpPutResponseHopLimit int    `query:"HttpPutResponseHopLimit"`
	HttpEndpoint            string `query:"HttpEndpoint"`
	HttpProtocolIpv6        string `query:"HttpProtocolIpv6"`
	InstanceMetadataTags    string `query:"InstanceMetadataTags"`
}

type creditSpecParam struct {
	CPUCredits string `query:"CpuCredits"`
}

type monitoringParam struct {
	Enabled bool `query:"Enabled"`
}

type networkInterfaceParam struct {
	DeviceIndex              int      `query:"DeviceIndex"`
	SubnetID                 string   `query:"SubnetId"`
	Groups                   []string `query:"SecurityGroupId"`
	AssociatePublicIPAddress *bool    `query:"AssociatePublicIpAddress"`
	DeleteOnTermination      *bool    `query:"DeleteOnTermination"`
	PrivateIPAddress         string   `query:"PrivateIpAddress"`
}

type runInstancesInput struct {
	dryRunParam
	ImageID                           string                  `query:"ImageId"`
	InstanceType                      string                  `query:"InstanceType"`
	KeyName                           string                  `query:"KeyName"`
	MinCount                          int                     `query:"MinCount,required"`
	MaxCount                          int                     `query:"MaxCount,required"`
	UserData                          string                  `query:"UserData"`
	BlockDeviceMappings               []runMappingParam       `query:"BlockDeviceMapping"`
	Placement                         *placementParam         `query:"Placement"`
	SubnetID                          string                  `query:"SubnetId"`
	SecurityGroupIDs                  []string                `query:"SecurityGroupId"`
	SecurityGroups                    []string                `query:"SecurityGroup"`
	TagSpecifications                 []tagSpecParam          `query:"TagSpecification"`
	ClientToken                       string                  `query:"ClientToken"`
	MetadataOptions                   *metadataOptionsParam   `query:"MetadataOptions"`
	EbsOptimized                      *bool                   `query:"EbsOptimized"`
	DisableAPITermination             *bool                   `query:"DisableApiTermination"`
	DisableAPIStop                    *bool                   `query:"DisableApiStop"`
	InstanceInitiatedShutdownBehavior string                  `query:"InstanceInitiatedShutdownBehavior"`
	CreditSpecification               *creditSpecParam        `query:"CreditSpecification"`
	Monitoring                        *monitoringParam        `query:"Monitoring"`
	NetworkInterfaces                 []networkInterfaceParam `query:"NetworkInterface"`
	PrivateIPAddress                  string                  `query:"PrivateIpAddress"`
	KernelID                          string                  `query:"KernelId"`
	RamdiskID                         string                  `query:"RamdiskId"`
	AdditionalInfo                    string                  `query:"AdditionalInfo"`
	Ipv6AddressCount                  int                     `query:"Ipv6AddressCount"`

	// Options tools send with their defaults. Those that would ask for
	// something openami does not do are refused in runInstances.
	HibernationOptions *struct {
		Configured bool `query:"Configured"`
	} `query:"HibernationOptions"`
	CPUOptions *struct {
		CoreCount      int    `query:"CoreCount"`
		ThreadsPerCore int    `query:"ThreadsPerCore"`
		AmdSevSnp      string `query:"AmdSevSnp"`
	} `query:"CpuOptions"`
	CapacityReservationSpecification *struct {
		Preference string `query:"CapacityReservationPreference"`
		Target     *struct {
			ID       string `query:"CapacityReservationId"`
			GroupArn string `query:"CapacityReservationResourceGroupArn"`
		} `query:"CapacityReservationTarget"`
	} `query:"CapacityReservationSpecification"`
	EnclaveOptions *struct {
		Enabled bool `query:"Enabled"`
	} `query:"EnclaveOptions"`
	MaintenanceOptions *struct {
		AutoRecovery string `query:"AutoRecovery"`
	} `query:"MaintenanceOptions"`
	PrivateDNSNameOptions *struct {
		HostnameType                    string `query:"HostnameType"`
		EnableResourceNameDnsARecord    bool   `query:"EnableResourceNameDnsARecord"`
		EnableResourceNameDnsAAAARecord bool   `query:"EnableResourceNameDnsAAAARecord"`
	} `query:"PrivateDnsNameOptions"`
	IamInstanceProfile *struct {
		Arn  string `query:"Arn"`
		Name string `query:"Name"`
	} `query:"IamInstanceProfile"`
	InstanceMarketOptions *struct {
		MarketType string `query:"MarketType"`
	} `query:"InstanceMarketOptions"`
	LaunchTemplate *struct {
		ID      string `query:"LaunchTemplateId"`
		Name    string `query:"LaunchTemplateName"`
		Version string `query:"Version"`
	} `query:"LaunchTemplate"`
}

// unsupported refuses the options that ask for something openami does
// not do. An option sent empty asks for nothing, as on EC2: Packer sends
// IamInstanceProfile.Name= (empty) on every launch without a profile.
func (in *runInstancesInput) unsupported() error {
	switch {
	case in.HibernationOptions != nil && in.HibernationOptions.Configured:
		return openami.Errorf(openami.Unsupported, "", "Hibernation is not supported.")
	case in.EnclaveOptions != nil && in.EnclaveOptions.Enabled:
		return openami.Errorf(openami.Unsupported, "", "Nitro Enclaves are not supported.")
	case in.InstanceMarketOptions != nil && in.InstanceMarketOptions.MarketType != "":
		return openami.Errorf(openami.Unsupported, "", "Spot and capacity-block instances are not supported.")
	case in.IamInstanceProfile != nil && (in.IamInstanceProfile.Name != "" || in.IamInstanceProfile.Arn != ""):
		return openami.Errorf(openami.Unsupported, "", "IAM instance profiles are not supported: openami has no IAM.")
	case in.Ipv6AddressCount > 0:
		return openami.Errorf(openami.Unsupported, "", "IPv6 addresses are not supported.")
	case in.Placement != nil && (in.Placement.Tenancy != "" && in.Placement.Tenancy != "default" || in.Placement.GroupName != ""):
		return openami.Errorf(openami.Unsupported, "", "Dedicated tenancy and placement groups are not supported.")
	}
	return nil
}

func (h *Handler) runInstances(c *call) (responder, error) {
	var in runInstancesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := in.unsupported(); err != nil {
		return nil, err
	}
	specs := tagSpecs(in.TagSpecifications)
	allowed := []openami.ResourceType{openami.ResourceInstance, openami.ResourceVolume, "network-interface", "spot-instances-request", "elastic-gpu"}
	instTags, err := tagset.For(specs, openami.ResourceInstance, allowed...)
	if err != nil {
		return nil, err
	}
	volTags, err := tagset.For(specs, openami.ResourceVolume, allowed...)
	if err != nil {
		return nil, err
	}
	userData, err := decodeUserData(in.UserData)
	if err != nil {
		return nil, err
	}
	run := instances.RunInstancesInput{
		ImageID: in.ImageID, InstanceType: in.InstanceType, KeyName: in.KeyName, MinCount: in.MinCount, MaxCount: in.MaxCount,
		UserData: userData, SubnetID: in.SubnetID, SecurityGroupIDs: in.SecurityGroupIDs, SecurityGroups: in.SecurityGroups,
		InstanceTags: instTags, VolumeTags: volTags, ClientToken: in.ClientToken,
		EbsOptimized: in.EbsOptimized != nil && *in.EbsOptimized, Monitoring: in.Monitoring != nil && in.Monitoring.Enabled, DisableAPITermination: in.DisableAPITermination != nil && *in.DisableAPITermination,
		DisableAPIStop: in.DisableAPIStop != nil && *in.DisableAPIStop,
		Given: instances.Given{EbsOptimized: in.EbsOptimized != nil, DisableAPITermination: in.DisableAPITermination != nil,
			DisableAPIStop: in.DisableAPIStop != nil},
		InstanceInitiatedShutdownBehavior: in.InstanceInitiatedShutdownBehavior, PrivateIPAddress: in.PrivateIPAddress,
	}
	if in.CreditSpecification != nil {
		run.CPUCredits = in.CreditSpecification.CPUCredits
	}
	if p := in.Placement; p != nil {
		run.AvailabilityZone = p.AvailabilityZone
		if p.AvailabilityZone == "" && p.AvailabilityZoneID != "" {
			run.AvailabilityZone = h.zoneName(c, p.AvailabilityZoneID)
		}
	}
	// A primary network interface may carry the subnet and groups instead.
	for _, ni := range in.NetworkInterfaces {
		if ni.DeviceIndex == 0 {
			if run.SubnetID == "" {
				run.SubnetID = ni.SubnetID
			}
			run.SecurityGroupIDs = append(run.SecurityGroupIDs, ni.Groups...)
			if run.PrivateIPAddress == "" {
				run.PrivateIPAddress = ni.PrivateIPAddress
			}
		}
	}
	if m := in.MetadataOptions; m != nil {
		run.MetadataOptions = openami.MetadataOptions{HttpTokens: m.HttpTokens, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
			HttpEndpoint: m.HttpEndpoint, InstanceMetadataTags: m.InstanceMetadataTags}
	}
	run.BlockDeviceMappings = overridesOf(in.BlockDeviceMappings)
	if lt := in.LaunchTemplate; lt != nil {
		run.LaunchTemplate = &templates.Ref{ID: lt.ID, Name: lt.Name, Version: lt.Version}
	}
	r, err := h.instances.RunInstances(c.ctx, c.p, run)
	if err != nil {
		return nil, err
	}
	out := &runInstancesResponse{reservationFields: reservationOf(c.p.Region, r)}
	if err := h.nameGroups(c, out.reservationFields); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeUserData decodes RunInstances' UserData, which clients send in
// base64.
func decodeUserData(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, openami.Errorf(openami.InvalidParameter, "", "Invalid BASE64 encoding of user data.")
	}
	return b, nil
}

func (h *Handler) zoneName(c *call, id string) string {
	if r, ok := h.identity.Region(c.p.Region); ok {
		for _, z := range r.Zones {
			if z.ID == id {
				return z.Name
			}
		}
	}
	return id
}

type runInstancesResponse struct {
	response
	reservationFields
}

type reservationFields struct {
	ReservationID string              `xml:"reservationId"`
	OwnerID       string              `xml:"ownerId"`
	Groups        items[groupItem]    `xml:"groupSet"`
	Instances     items[instanceItem] `xml:"instancesSet"`
}

type groupItem struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type stateItem struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

// placementItem is an instance's placement. HostId is EC2's Dedicated
// Host field; openami shows there the compute host the instance runs on
// (docs/HOSTS.md), with tenancy still default: clients such as
// Terraform's aws_instance read it as a computed host_id and never
// change it unless told to.
type placementItem struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	HostID           string `xml:"hostId,omitempty"`
	Tenancy          string `xml:"tenancy"`
}

type instanceEbsItem struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type instanceMappingItem struct {
	DeviceName string          `xml:"deviceName"`
	Ebs        instanceEbsItem `xml:"ebs"`
}

type metadataOptionsItem struct {
	State                   string `xml:"state"`
	HttpTokens              string `xml:"httpTokens"`
	HttpPutResponseHopLimit int    `xml:"httpPutResponseHopLimit"`
	HttpEndpoint            string `xml:"httpEndpoint"`
	HttpProtocolIpv6        string `xml:"httpProtocolIpv6"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags"`
}

type cpuOptionsItem struct {
	CoreCount      int `xml:"coreCount"`
	ThreadsPerCore int `xml:"threadsPerCore"`
}

type enabledItem struct {
	Enabled bool `xml:"enabled"`
}

type configuredItem struct {
	Configured bool `xml:"configured"`
}

type monitoringItem struct {
	State string `xml:"state"`
}

type privateIPItem struct {
	PrivateIPAddress string           `xml:"privateIpAddress"`
	PrivateDNSName   string           `xml:"privateDnsName"`
	Primary          bool             `xml:"primary"`
	Association      *associationItem `xml:"association"`
}

// associationItem is a public address's association with a network
// interface (or one of its private addresses). The pool is the host's,
// so the owner is "amazon", as for EC2's auto-assigned public addresses.
type associationItem struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type niAttachmentItem struct {
	AttachmentID        string `xml:"attachmentId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

// networkInterfaceItem is an instance's primary network interface, which
// tools (Terraform among them) read the instance's network settings from.
// It exists only in this answer: eni ids are derived from the instance id.
type networkInterfaceItem struct {
	NetworkInterfaceID string               `xml:"networkInterfaceId"`
	SubnetID           string               `xml:"subnetId"`
	VpcID              string               `xml:"vpcId"`
	Description        string               `xml:"description"`
	OwnerID            string               `xml:"ownerId"`
	Status             string               `xml:"status"`
	MacAddress         string               `xml:"macAddress"`
	PrivateIPAddress   string               `xml:"privateIpAddress"`
	PrivateDNSName     string               `xml:"privateDnsName"`
	Association        *associationItem     `xml:"association"`
	SourceDestCheck    bool                 `xml:"sourceDestCheck"`
	Groups             items[groupItem]     `xml:"groupSet"`
	Attachment         niAttachmentItem     `xml:"attachment"`
	PrivateIPAddresses items[privateIPItem] `xml:"privateIpAddressesSet"`
	InterfaceType      string               `xml:"interfaceType"`
}

type instanceItem struct {
	InstanceID          string                      `xml:"instanceId"`
	ImageID             string                      `xml:"imageId"`
	State               stateItem                   `xml:"instanceState"`
	PrivateDNSName      string                      `xml:"privateDnsName"`
	DNSName             string                      `xml:"dnsName"`
	Reason              string                      `xml:"reason"`
	KeyName             string                      `xml:"keyName,omitempty"`
	AmiLaunchIndex      int                         `xml:"amiLaunchIndex"`
	ProductCodes        items[productCodeItem]      `xml:"productCodes"`
	InstanceType        string                      `xml:"instanceType"`
	LaunchTime          string                      `xml:"launchTime"`
	Placement           placementItem               `xml:"placement"`
	KernelID            string                      `xml:"kernelId,omitempty"`
	RamdiskID           string                      `xml:"ramdiskId,omitempty"`
	Platform            string                      `xml:"platform,omitempty"`
	PlatformDetails     string                      `xml:"platformDetails"`
	UsageOperation      string                      `xml:"usageOperation"`
	Monitoring          monitoringItem              `xml:"monitoring"`
	SubnetID            string                      `xml:"subnetId,omitempty"`
	VpcID               string                      `xml:"vpcId,omitempty"`
	PrivateIPAddress    string                      `xml:"privateIpAddress,omitempty"`
	PublicIPAddress     string                      `xml:"ipAddress,omitempty"`
	SourceDestCheck     bool                        `xml:"sourceDestCheck"`
	Groups              items[groupItem]            `xml:"groupSet"`
	StateReason         *stateReasonItem            `xml:"stateReason"`
	Architecture        string                      `xml:"architecture"`
	RootDeviceType      string                      `xml:"rootDeviceType"`
	RootDeviceName      string                      `xml:"rootDeviceName"`
	BlockDeviceMappings items[instanceMappingItem]  `xml:"blockDeviceMapping"`
	VirtualizationType  string                      `xml:"virtualizationType"`
	ClientToken         string                      `xml:"clientToken,omitempty"`
	Tags                items[tagItem]              `xml:"tagSet,omitempty"` // EC2 omits an untagged instance's tagSet
	Hypervisor          string                      `xml:"hypervisor"`
	NetworkInterfaces   items[networkInterfaceItem] `xml:"networkInterfaceSet"`
	EbsOptimized        bool                        `xml:"ebsOptimized"`
	EnaSupport          bool                        `xml:"enaSupport"`
	SriovNetSupport     string                      `xml:"sriovNetSupport,omitempty"`
	CPUOptions          cpuOptionsItem              `xml:"cpuOptions"`
	HibernationOptions  configuredItem              `xml:"hibernationOptions"`
	MetadataOptions     metadataOptionsItem         `xml:"metadataOptions"`
	EnclaveOptions      enabledItem                 `xml:"enclaveOptions"`
	BootMode            string                      `xml:"bootMode,omitempty"`
	CurrentBootMode     string                      `xml:"currentInstanceBootMode,omitempty"`
	TpmSupport          string                      `xml:"tpmSupport,omitempty"`
}

func instanceOf(region string, v instances.InstanceView) instanceItem {
	i := v.Instance
	dns := ""
	if i.State != openami.InstanceTerminated {
		dns = instances.PrivateDNSName(region, i.PrivateIP)
	}
	it, _ := instances.LookupInstanceType(i.InstanceType)
	out := instanceItem{
		InstanceID: i.ID, ImageID: i.ImageID, State: stateItem{i.State.StateCode(), string(i.State)},
		PrivateDNSName: dns, Reason: transitionReason(i.StateTransition), KeyName: i.KeyName, AmiLaunchIndex: i.AmiLaunchIndex,
		InstanceType: i.InstanceType, LaunchTime: timestamp(i.LaunchTime),
		Placement: placementItem{AvailabilityZone: i.AvailabilityZone, HostID: i.HostID, Tenancy: "default"},
		KernelID:  i.KernelID, RamdiskID: i.RamdiskID, Platform: i.Platform,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", Monitoring: monitoringItem{string(instances.MonitoringStateOf(i))},
		SourceDestCheck: !i.NoSourceDestCheck, Architecture: i.Architecture, RootDeviceType: i.RootDeviceType, RootDeviceName: i.RootDeviceName,
		VirtualizationType: i.VirtualizationType, ClientToken: i.ClientToken, Tags: tagSet(v.Tags),
		// The shape's hypervisor enum has only ovm and xen: EC2 reports
		// Nitro instances as xen there too.
		Hypervisor: "xen", EbsOptimized: i.EbsOptimized, EnaSupport: i.EnaSupport, SriovNetSupport: i.SriovNetSupport,
		CPUOptions: cpuOptionsItem{CoreCount: max(1, it.VCPUs/2), ThreadsPerCore: min(2, max(1, it.VCPUs))},
		MetadataOptions: metadataOptionsItem{State: "applied", HttpTokens: i.MetadataOptions.HttpTokens,
			HttpPutResponseHopLimit: i.MetadataOptions.HttpPutResponseHopLimit, HttpEndpoint: i.MetadataOptions.HttpEndpoint,
			HttpProtocolIpv6: "disabled", InstanceMetadataTags: i.MetadataOptions.InstanceMetadataTags},
		BootMode: i.BootMode, CurrentBootMode: i.BootMode, TpmSupport: i.TpmSupport,
	}
	if i.Platform == "windows" {
		out.PlatformDetails = "Windows"
	}
	if i.State != openami.InstanceTerminated {
		out.SubnetID, out.VpcID, out.PrivateIPAddress = i.SubnetID, i.VpcID, i.PrivateIP
		for _, g := range i.SecurityGroupIDs {
			out.Groups = append(out.Groups, groupItem{GroupID: g}) // named by nameGroups
		}
		out.NetworkInterfaces = items[networkInterfaceItem]{{
			NetworkInterfaceID: "eni-" + i.ID[len("i-"):], SubnetID: i.SubnetID, VpcID: i.VpcID, OwnerID: i.AccountID,
			Status: "in-use", MacAddress: i.MacAddress, PrivateIPAddress: i.PrivateIP, PrivateDNSName: dns, SourceDestCheck: !i.NoSourceDestCheck,
			Groups: out.Groups, InterfaceType: "interface",
			Attachment: niAttachmentItem{AttachmentID: "eni-attach-" + i.ID[len("i-"):], Status: "attached",
				AttachTime: timestamp(i.LaunchTime), DeleteOnTermination: true},
			PrivateIPAddresses: items[privateIPItem]{{PrivateIPAddress: i.PrivateIP, PrivateDNSName: dns, Primary: true}},
		}}
		if i.PublicIP != "" {
			out.PublicIPAddress, out.DNSName = i.PublicIP, instances.PublicDNSName(region, i.PublicIP)
			a := &associationItem{PublicIP: i.PublicIP, PublicDNSName: out.DNSName, IPOwnerID: "amazon"}
			out.NetworkInterfaces[0].Association = a
			out.NetworkInterfaces[0].PrivateIPAddresses[0].Association = a
		}
	}
	out.StateReason = instanceStateReason(i.StateReason)
	for _, b := range i.BlockDevices {
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, instanceMappingItem{DeviceName: b.DeviceName,
			Ebs: instanceEbsItem{VolumeID: b.VolumeID, Status: "attached", AttachTime: timestamp(b.AttachTime), DeleteOnTermination: b.DeleteOnTermination}})
	}
	return out
}

func reservationOf(region string, r instances.Reservation) reservationFields {
	out := reservationFields{ReservationID: r.ID, OwnerID: r.AccountID}
	for _, i := range r.Instances {
		out.Instances = append(out.Instances, instanceOf(region, i))
	}
	return out
}

type describeInstancesInput struct {
	dryRunParam
	InstanceIDs []string      `query:"InstanceId"`
	Filters     []filterParam `query:"Filter"`
	MaxResults  int           `query:"MaxResults"`
	NextToken   string        `query:"NextToken"`
}

type describeInstancesResponse struct {
	response
	Reservations items[reservationFields] `xml:"reservationSet"`
	NextToken    string                   `xml:"nextToken,omitempty"`
}

func (h *Handler) describeInstances(c *call) (responder, error) {
	var in describeInstancesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filter.Rename(causeFilters(wireFilters(in.Filters), true), instanceFilterNames)
	if err != nil {
		return nil, err
	}
	rs, next, err := h.instances.DescribeInstances(c.ctx, c.p, in.InstanceIDs, fs, transitionReason, instances.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeInstancesResponse{NextToken: next}
	for _, r := range rs {
		out.Reservations = append(out.Reservations, reservationOf(c.p.Region, r))
	}
	return out, h.nameGroups(c, out.Reservations...)
}

// nameGroups fills in the names of the instances' security groups
// (rules/network), which instances know by id.
func (h *Handler) nameGroups(c *call, rs ...reservationFields) error {
	var groups []*groupItem
	for _, r := range rs {
		for k := range r.Instances {
			i := &r.Instances[k]
			for g := range i.Groups {
				groups = append(groups, &i.Groups[g])
			}
			for n := range i.NetworkInterfaces {
				for g := range i.NetworkInterfaces[n].Groups {
					groups = append(groups, &i.NetworkInterfaces[n].Groups[g])
				}
			}
		}
	}
	if len(groups) == 0 {
		return nil
	}
	ids := make([]string, len(groups))
	for k, g := range groups {
		ids[k] = g.GroupID
	}
	names, err := h.network.SecurityGroupNames(c.ctx, c.p, ids)
	for _, g := range groups {
		g.GroupName = names[g.GroupID]
	}
	return err
}
