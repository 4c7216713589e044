package ec2

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/service"
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
	EbsOptimized                      bool                    `query:"EbsOptimized"`
	DisableAPITermination             bool                    `query:"DisableApiTermination"`
	DisableAPIStop                    bool                    `query:"DisableApiStop"`
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

func (h *Handler) runInstances(c *call) (responder, error) {
	var in runInstancesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.HibernationOptions != nil && in.HibernationOptions.Configured:
		return nil, openami.Errorf(openami.Unsupported, "", "Hibernation is not supported.")
	case in.EnclaveOptions != nil && in.EnclaveOptions.Enabled:
		return nil, openami.Errorf(openami.Unsupported, "", "Nitro Enclaves are not supported.")
	case in.InstanceMarketOptions != nil && in.InstanceMarketOptions.MarketType != "":
		return nil, openami.Errorf(openami.Unsupported, "", "Spot and capacity-block instances are not supported.")
	case in.LaunchTemplate != nil:
		return nil, openami.Errorf(openami.Unsupported, "", "Launch templates are not supported.")
	case in.IamInstanceProfile != nil:
		return nil, openami.Errorf(openami.Unsupported, "", "IAM instance profiles are not supported: openami has no IAM.")
	case in.Ipv6AddressCount > 0:
		return nil, openami.Errorf(openami.Unsupported, "", "IPv6 addresses are not supported.")
	case in.Monitoring != nil && in.Monitoring.Enabled:
		return nil, openami.Errorf(openami.Unsupported, "", "Detailed monitoring is not supported.")
	case in.Placement != nil && (in.Placement.Tenancy != "" && in.Placement.Tenancy != "default" || in.Placement.GroupName != ""):
		return nil, openami.Errorf(openami.Unsupported, "", "Dedicated tenancy and placement groups are not supported.")
	}
	specs := tagSpecs(in.TagSpecifications)
	allowed := []openami.ResourceType{openami.ResourceInstance, openami.ResourceVolume, "network-interface", "spot-instances-request", "elastic-gpu"}
	instTags, err := service.TagsFor(specs, openami.ResourceInstance, allowed...)
	if err != nil {
		return nil, err
	}
	volTags, err := service.TagsFor(specs, openami.ResourceVolume, allowed...)
	if err != nil {
		return nil, err
	}
	userData, err := decodeUserData(in.UserData)
	if err != nil {
		return nil, err
	}
	run := service.RunInstancesInput{
		ImageID: in.ImageID, InstanceType: in.InstanceType, KeyName: in.KeyName, MinCount: in.MinCount, MaxCount: in.MaxCount,
		UserData: userData, SubnetID: in.SubnetID, SecurityGroupIDs: in.SecurityGroupIDs, SecurityGroups: in.SecurityGroups,
		InstanceTags: instTags, VolumeTags: volTags, ClientToken: in.ClientToken, EbsOptimized: in.EbsOptimized,
		DisableAPITermination: in.DisableAPITermination, DisableAPIStop: in.DisableAPIStop,
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
	r, err := h.svc.RunInstances(c.ctx, c.p, run)
	if err != nil {
		return nil, err
	}
	out := &runInstancesResponse{reservationFields: reservationOf(c.p.Region, r)}
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
	if r, ok := h.svc.Region(c.p.Region); ok {
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

type placementItem struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
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
	PrivateIPAddress string `xml:"privateIpAddress"`
	PrivateDNSName   string `xml:"privateDnsName"`
	Primary          bool   `xml:"primary"`
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
	SourceDestCheck     bool                        `xml:"sourceDestCheck"`
	Groups              items[groupItem]            `xml:"groupSet"`
	StateReason         *stateReasonItem            `xml:"stateReason"`
	Architecture        string                      `xml:"architecture"`
	RootDeviceType      string                      `xml:"rootDeviceType"`
	RootDeviceName      string                      `xml:"rootDeviceName"`
	BlockDeviceMappings items[instanceMappingItem]  `xml:"blockDeviceMapping"`
	VirtualizationType  string                      `xml:"virtualizationType"`
	ClientToken         string                      `xml:"clientToken,omitempty"`
	Tags                items[tagItem]              `xml:"tagSet"`
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

func instanceOf(region string, v service.InstanceView) instanceItem {
	i := v.Instance
	dns := ""
	if i.State != openami.InstanceTerminated {
		dns = service.PrivateDNSName(region, i.PrivateIP)
	}
	it, _ := service.LookupInstanceType(i.InstanceType)
	out := instanceItem{
		InstanceID: i.ID, ImageID: i.ImageID, State: stateItem{i.State.StateCode(), string(i.State)},
		PrivateDNSName: dns, Reason: i.StateTransitionReason, KeyName: i.KeyName, AmiLaunchIndex: i.AmiLaunchIndex,
		InstanceType: i.InstanceType, LaunchTime: timestamp(i.LaunchTime),
		Placement: placementItem{AvailabilityZone: i.AvailabilityZone, Tenancy: "default"},
		KernelID:  i.KernelID, RamdiskID: i.RamdiskID, Platform: i.Platform,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", Monitoring: monitoringItem{"disabled"},
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
			out.Groups = append(out.Groups, groupItem{g, "default"})
		}
		out.NetworkInterfaces = items[networkInterfaceItem]{{
			NetworkInterfaceID: "eni-" + i.ID[len("i-"):], SubnetID: i.SubnetID, VpcID: i.VpcID, OwnerID: i.AccountID,
			Status: "in-use", MacAddress: i.MacAddress, PrivateIPAddress: i.PrivateIP, PrivateDNSName: dns, SourceDestCheck: !i.NoSourceDestCheck,
			Groups: out.Groups, InterfaceType: "interface",
			Attachment: niAttachmentItem{AttachmentID: "eni-attach-" + i.ID[len("i-"):], Status: "attached",
				AttachTime: timestamp(i.LaunchTime), DeleteOnTermination: true},
			PrivateIPAddresses: items[privateIPItem]{{PrivateIPAddress: i.PrivateIP, PrivateDNSName: dns, Primary: true}},
		}}
	}
	if i.StateReason.Code != "" {
		out.StateReason = &stateReasonItem{i.StateReason.Code, i.StateReason.Message}
	}
	for _, b := range i.BlockDevices {
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, instanceMappingItem{DeviceName: b.DeviceName,
			Ebs: instanceEbsItem{VolumeID: b.VolumeID, Status: "attached", AttachTime: timestamp(b.AttachTime), DeleteOnTermination: b.DeleteOnTermination}})
	}
	return out
}

func reservationOf(region string, r service.Reservation) reservationFields {
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
	rs, next, err := h.svc.DescribeInstances(c.ctx, c.p, in.InstanceIDs, filtersOf(in.Filters), service.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeInstancesResponse{NextToken: next}
	for _, r := range rs {
		out.Reservations = append(out.Reservations, reservationOf(c.p.Region, r))
	}
	return out, nil
}

type instanceIDsInput struct {
	dryRunParam
	InstanceIDs []string `query:"InstanceId"`
	Force       bool     `query:"Force"`
	Hibernate   bool     `query:"Hibernate"`
}

type stateChangeItem struct {
	InstanceID    string    `xml:"instanceId"`
	CurrentState  stateItem `xml:"currentState"`
	PreviousState stateItem `xml:"previousState"`
}

type stateChangeResponse struct {
	response
	Instances items[stateChangeItem] `xml:"instancesSet"`
}

// stateChanges serves Start, Stop and TerminateInstances.
func (h *Handler) stateChanges(change func(c *call, in instanceIDsInput) ([]service.StateChange, error)) action {
	return func(c *call) (responder, error) {
		var in instanceIDsInput
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if in.Hibernate {
			return nil, openami.Errorf(openami.Unsupported, "", "Hibernation is not supported.")
		}
		changes, err := change(c, in)
		if err != nil {
			return nil, err
		}
		out := &stateChangeResponse{}
		for _, sc := range changes {
			out.Instances = append(out.Instances, stateChangeItem{sc.InstanceID,
				stateItem{sc.Current.StateCode(), string(sc.Current)}, stateItem{sc.Previous.StateCode(), string(sc.Previous)}})
		}
		return out, nil
	}
}

func (h *Handler) rebootInstances(c *call) (responder, error) {
	var in instanceIDsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.svc.RebootInstances(c.ctx, c.p, in.InstanceIDs); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type describeInstanceStatusInput struct {
	dryRunParam
	InstanceIDs         []string      `query:"InstanceId"`
	IncludeAllInstances bool          `query:"IncludeAllInstances"`
	Filters             []filterParam `query:"Filter"`
	MaxResults          int           `query:"MaxResults"`
	NextToken           string        `query:"NextToken"`
}

type statusDetailItem struct {
	Name          string `xml:"name"`
	Status        string `xml:"status"`
	ImpairedSince string `xml:"impairedSince,omitempty"`
	// Reason is openami's: why the check failed. EC2 has no such field;
	// SDKs skip it, and it shows in the raw response.
	Reason string `xml:"reason,omitempty"`
}

type statusItem struct {
	Status  string                  `xml:"status"`
	Details items[statusDetailItem] `xml:"details"`
}

type instanceStatusItem struct {
	InstanceID        string     `xml:"instanceId"`
	AvailabilityZone  string     `xml:"availabilityZone"`
	State             stateItem  `xml:"instanceState"`
	SystemStatus      statusItem `xml:"systemStatus"`
	InstanceStatus    statusItem `xml:"instanceStatus"`
	AttachedEbsStatus statusItem `xml:"attachedEbsStatus"`
}

type describeInstanceStatusResponse struct {
	response
	Statuses items[instanceStatusItem] `xml:"instanceStatusSet"`
}

func (h *Handler) describeInstanceStatus(c *call) (responder, error) {
	var in describeInstanceStatusInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 {
		return nil, openami.Errorf(openami.Unsupported, "", "DescribeInstanceStatus filters are not supported.")
	}
	list, err := h.svc.InstanceStatuses(c.ctx, c.p, in.InstanceIDs, in.IncludeAllInstances)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceStatusResponse{}
	for _, i := range list {
		status := func(check string) statusItem {
			if i.State != openami.InstanceRunning {
				return statusItem{Status: "not-applicable"}
			}
			return statusItem{Status: "ok", Details: items[statusDetailItem]{{Name: check, Status: "passed"}}}
		}
		out.Statuses = append(out.Statuses, instanceStatusItem{InstanceID: i.ID, AvailabilityZone: i.AvailabilityZone,
			State: stateItem{i.State.StateCode(), string(i.State)}, SystemStatus: status("reachability"),
			InstanceStatus: instanceCheck(i), AttachedEbsStatus: status("reachability")})
	}
	return out, nil
}

// instanceCheck is the instance status check of an instance: its
// guest's health, as the runtime tells it.
func instanceCheck(i service.InstanceStatus) statusItem {
	if i.State != openami.InstanceRunning {
		return statusItem{Status: "not-applicable"}
	}
	switch i.Health.Status {
	case openami.HealthInitializing:
		return statusItem{Status: "initializing", Details: items[statusDetailItem]{{Name: "reachability", Status: "initializing"}}}
	case openami.HealthImpaired:
		return statusItem{Status: "impaired", Details: items[statusDetailItem]{{Name: "reachability", Status: "failed",
			ImpairedSince: timestamp(i.Health.Since), Reason: i.Health.Reason}}}
	}
	return statusItem{Status: "ok", Details: items[statusDetailItem]{{Name: "reachability", Status: "passed"}}}
}

type instanceAttributeInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
	Attribute  string `query:"Attribute,required"`
}

type boolValueItem struct {
	Value bool `xml:"value"`
}

type describeInstanceAttributeResponse struct {
	response
	InstanceID                        string                      `xml:"instanceId"`
	InstanceType                      *valueItem                  `xml:"instanceType"`
	Kernel                            *valueItem                  `xml:"kernel"`
	Ramdisk                           *valueItem                  `xml:"ramdisk"`
	UserData                          *valueItem                  `xml:"userData"`
	DisableAPITermination             *boolValueItem              `xml:"disableApiTermination"`
	DisableAPIStop                    *boolValueItem              `xml:"disableApiStop"`
	InstanceInitiatedShutdownBehavior *valueItem                  `xml:"instanceInitiatedShutdownBehavior"`
	RootDeviceName                    *valueItem                  `xml:"rootDeviceName"`
	BlockDeviceMappings               *items[instanceMappingItem] `xml:"blockDeviceMapping"`
	ProductCodes                      *items[productCodeItem]     `xml:"productCodes"`
	SourceDestCheck                   *boolValueItem              `xml:"sourceDestCheck"`
	Groups                            *items[groupItem]           `xml:"groupSet"`
	EbsOptimized                      *boolValueItem              `xml:"ebsOptimized"`
	EnaSupport                        *boolValueItem              `xml:"enaSupport"`
	SriovNetSupport                   *valueItem                  `xml:"sriovNetSupport"`
	EnclaveOptions                    *enabledItem                `xml:"enclaveOptions"`
}

func (h *Handler) describeInstanceAttribute(c *call) (responder, error) {
	var in instanceAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	i, err := h.svc.DescribeInstanceAttribute(c.ctx, c.p, in.InstanceID, in.Attribute)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceAttributeResponse{InstanceID: i.ID}
	item := instanceOf(c.p.Region, service.InstanceView{Instance: i})
	switch in.Attribute {
	case "instanceType":
		out.InstanceType = &valueItem{i.InstanceType}
	case "kernel":
		out.Kernel = &valueItem{i.KernelID}
	case "ramdisk":
		out.Ramdisk = &valueItem{i.RamdiskID}
	case "userData":
		out.UserData = &valueItem{}
		if len(i.UserData) > 0 {
			out.UserData.Value = base64.StdEncoding.EncodeToString(i.UserData)
		}
	case "disableApiTermination":
		out.DisableAPITermination = &boolValueItem{i.DisableAPITermination}
	case "disableApiStop":
		out.DisableAPIStop = &boolValueItem{i.DisableAPIStop}
	case "instanceInitiatedShutdownBehavior":
		out.InstanceInitiatedShutdownBehavior = &valueItem{i.InstanceInitiatedShutdownBehavior}
	case "rootDeviceName":
		out.RootDeviceName = &valueItem{i.RootDeviceName}
	case "blockDeviceMapping":
		out.BlockDeviceMappings = &item.BlockDeviceMappings
	case "productCodes":
		out.ProductCodes = &items[productCodeItem]{}
	case "sourceDestCheck":
		out.SourceDestCheck = &boolValueItem{!i.NoSourceDestCheck}
	case "groupSet":
		out.Groups = &item.Groups
	case "ebsOptimized":
		out.EbsOptimized = &boolValueItem{i.EbsOptimized}
	case "enaSupport":
		out.EnaSupport = &boolValueItem{i.EnaSupport}
	case "sriovNetSupport":
		out.SriovNetSupport = &valueItem{i.SriovNetSupport}
	case "enclaveOptions":
		out.EnclaveOptions = &enabledItem{}
	}
	return out, nil
}

type attributeValueParam struct {
	Value string `query:"Value"`
}

type attributeBoolParam struct {
	Value *bool `query:"Value"`
}

type instanceMappingParam struct {
	DeviceName string `query:"DeviceName"`
	Ebs        *struct {
		VolumeID            string `query:"VolumeId"`
		DeleteOnTermination *bool  `query:"DeleteOnTermination"`
	} `query:"Ebs"`
}

type modifyInstanceAttributeInput struct {
	dryRunParam
	InstanceID                        string                 `query:"InstanceId,required"`
	Attribute                         string                 `query:"Attribute"`
	Value                             string                 `query:"Value"`
	InstanceType                      *attributeValueParam   `query:"InstanceType"`
	UserData                          *attributeValueParam   `query:"UserData"`
	DisableAPITermination             *attributeBoolParam    `query:"DisableApiTermination"`
	DisableAPIStop                    *attributeBoolParam    `query:"DisableApiStop"`
	InstanceInitiatedShutdownBehavior *attributeValueParam   `query:"InstanceInitiatedShutdownBehavior"`
	EbsOptimized                      *attributeBoolParam    `query:"EbsOptimized"`
	EnaSupport                        *attributeBoolParam    `query:"EnaSupport"`
	SourceDestCheck                   *attributeBoolParam    `query:"SourceDestCheck"`
	SriovNetSupport                   *attributeValueParam   `query:"SriovNetSupport"`
	Kernel                            *attributeValueParam   `query:"Kernel"`
	Ramdisk                           *attributeValueParam   `query:"Ramdisk"`
	Groups                            []string               `query:"GroupId"`
	BlockDeviceMappings               []instanceMappingParam `query:"BlockDeviceMapping"`
}

func (h *Handler) modifyInstanceAttribute(c *call) (responder, error) {
	var in modifyInstanceAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	m := service.ModifyInstanceAttributeInput{InstanceID: in.InstanceID, SecurityGroupIDs: in.Groups}
	str := func(p *attributeValueParam) *string {
		if p == nil {
			return nil
		}
		return &p.Value
	}
	boolean := func(p *attributeBoolParam) (*bool, error) {
		if p == nil {
			return nil, nil
		}
		if p.Value == nil {
			return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter Value")
		}
		return p.Value, nil
	}
	var err error
	m.InstanceType = str(in.InstanceType)
	m.InstanceInitiatedShutdownBehavior = str(in.InstanceInitiatedShutdownBehavior)
	if in.UserData != nil {
		if m.UserData, err = decodeUserData(in.UserData.Value); err != nil {
			return nil, err
		}
		if m.UserData == nil {
			m.UserData = []byte{}
		}
	}
	for _, b := range []struct {
		dst **bool
		src *attributeBoolParam
	}{{&m.DisableAPITermination, in.DisableAPITermination}, {&m.DisableAPIStop, in.DisableAPIStop},
		{&m.EbsOptimized, in.EbsOptimized}, {&m.EnaSupport, in.EnaSupport}, {&m.SourceDestCheck, in.SourceDestCheck}} {
		if *b.dst, err = boolean(b.src); err != nil {
			return nil, err
		}
	}
	// The older form: Attribute and Value.
	if in.Attribute != "" {
		v := in.Value
		switch in.Attribute {
		case "instanceType":
			m.InstanceType = &v
		case "userData":
			if m.UserData, err = decodeUserData(v); err != nil {
				return nil, err
			}
		case "disableApiTermination", "disableApiStop", "ebsOptimized", "enaSupport", "sourceDestCheck":
			b, perr := strconv.ParseBool(v)
			if perr != nil {
				return nil, errInvalidValue("Value", v)
			}
			switch in.Attribute {
			case "disableApiTermination":
				m.DisableAPITermination = &b
			case "disableApiStop":
				m.DisableAPIStop = &b
			case "ebsOptimized":
				m.EbsOptimized = &b
			case "enaSupport":
				m.EnaSupport = &b
			case "sourceDestCheck":
				m.SourceDestCheck = &b
			}
		case "instanceInitiatedShutdownBehavior":
			m.InstanceInitiatedShutdownBehavior = &v
		default:
			return nil, errInvalidValue("Attribute", in.Attribute)
		}
	}
	if in.Kernel != nil || in.Ramdisk != nil || in.SriovNetSupport != nil {
		return nil, openami.Errorf(openami.Unsupported, "", "Changing the kernel, ramdisk or SR-IOV support of an instance is not supported.")
	}
	if len(in.BlockDeviceMappings) > 0 {
		m.DeleteOnTermination = map[string]bool{}
		for _, b := range in.BlockDeviceMappings {
			if b.Ebs == nil || b.Ebs.DeleteOnTermination == nil {
				return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain BlockDeviceMapping.N.Ebs.DeleteOnTermination")
			}
			m.DeleteOnTermination[b.DeviceName] = *b.Ebs.DeleteOnTermination
		}
	}
	if err := h.svc.ModifyInstanceAttribute(c.ctx, c.p, m); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type instanceIDInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
	Latest     bool   `query:"Latest"`
}

type getConsoleOutputResponse struct {
	response
	InstanceID string `xml:"instanceId"`
	Timestamp  string `xml:"timestamp"`
	Output     string `xml:"output"`
}

// consoleOutputLimit is what GetConsoleOutput returns at most: EC2's 64 KB
// of the most recent output.
const consoleOutputLimit = 64 << 10

func (h *Handler) getConsoleOutput(c *call) (responder, error) {
	var in instanceIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	_, text, err := h.svc.ConsoleOutput(c.ctx, c.p, in.InstanceID)
	if err != nil {
		return nil, err
	}
	if len(text) > consoleOutputLimit {
		text = text[len(text)-consoleOutputLimit:]
	}
	out := &getConsoleOutputResponse{InstanceID: in.InstanceID, Timestamp: timestamp(time.Now())}
	if len(text) > 0 {
		out.Output = base64.StdEncoding.EncodeToString(text)
	}
	return out, nil
}

type getInstanceUefiDataResponse struct {
	response
	InstanceID string `xml:"instanceId"`
	UefiData   string `xml:"uefiData"`
}

func (h *Handler) getInstanceUefiData(c *call) (responder, error) {
	var in instanceIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	data, err := h.svc.InstanceUefiData(c.ctx, c.p, in.InstanceID)
	if err != nil {
		return nil, err
	}
	return &getInstanceUefiDataResponse{InstanceID: in.InstanceID, UefiData: data}, nil
}

type creditSpecItem struct {
	InstanceID string `xml:"instanceId"`
	CPUCredits string `xml:"cpuCredits"`
}

type describeCreditSpecsResponse struct {
	response
	Specs items[creditSpecItem] `xml:"instanceCreditSpecificationSet"`
}

func (h *Handler) describeInstanceCreditSpecifications(c *call) (responder, error) {
	var in describeInstancesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 {
		return nil, openami.Errorf(openami.Unsupported, "", "DescribeInstanceCreditSpecifications filters are not supported.")
	}
	specs, err := h.svc.InstanceCreditSpecifications(c.ctx, c.p, in.InstanceIDs)
	if err != nil {
		return nil, err
	}
	out := &describeCreditSpecsResponse{}
	for _, s := range specs {
		out.Specs = append(out.Specs, creditSpecItem{s.InstanceID, s.CPUCredits})
	}
	return out, nil
}
