package ec2

import (
	"context"
	"errors"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/templates"
)

// Templates is what the EC2 API calls of the rules of launch templates
// (*templates.Templates of rules/templates) and of the instances they
// come from (GetLaunchTemplateData, of rules/instances).
type Templates interface {
	CreateLaunchTemplate(ctx context.Context, p openami.Principal, in templates.CreateInput) (templates.TemplateView, error)
	CreateLaunchTemplateVersion(ctx context.Context, p openami.Principal, in templates.VersionInput) (templates.VersionView, error)
	ModifyLaunchTemplate(ctx context.Context, p openami.Principal, in templates.ModifyInput) (openami.LaunchTemplate, error)
	DeleteLaunchTemplate(ctx context.Context, p openami.Principal, id, name string) (openami.LaunchTemplate, error)
	DeleteLaunchTemplateVersions(ctx context.Context, p openami.Principal, id, name string, versions []string) (openami.LaunchTemplate, []templates.VersionOutcome, error)
	DescribeLaunchTemplates(ctx context.Context, p openami.Principal, ids, names []string, filters []filter.Filter, pg templates.Page) ([]templates.TemplateView, string, error)
	DescribeLaunchTemplateVersions(ctx context.Context, p openami.Principal, q templates.VersionsQuery) ([]templates.VersionView, string, error)
}

var _ Templates = (*templates.Templates)(nil)

// ltEbsParam is LaunchTemplateData.BlockDeviceMapping.N.Ebs.
type ltEbsParam struct {
	DeleteOnTermination *bool  `query:"DeleteOnTermination"`
	Encrypted           *bool  `query:"Encrypted"`
	Iops                *int   `query:"Iops"`
	KmsKeyID            string `query:"KmsKeyId"`
	SnapshotID          string `query:"SnapshotId"`
	Throughput          *int   `query:"Throughput"`
	VolumeSize          int64  `query:"VolumeSize"`
	VolumeType          string `query:"VolumeType"`
	InitializationRate  int    `query:"VolumeInitializationRate"`
	EbsCardIndex        int    `query:"EbsCardIndex"`
}

type ltMappingParam struct {
	DeviceName  string      `query:"DeviceName"`
	VirtualName string      `query:"VirtualName"`
	NoDevice    *string     `query:"NoDevice"`
	Ebs         *ltEbsParam `query:"Ebs"`
}

type ltInterfaceParam struct {
	AssociatePublicIPAddress *bool    `query:"AssociatePublicIpAddress"`
	DeleteOnTermination      *bool    `query:"DeleteOnTermination"`
	Description              string   `query:"Description"`
	DeviceIndex              int      `query:"DeviceIndex"`
	Groups                   []string `query:"SecurityGroupId"`
	PrivateIPAddress         string   `query:"PrivateIpAddress"`
	SubnetID                 string   `query:"SubnetId"`
	NetworkCardIndex         int      `query:"NetworkCardIndex"`
	InterfaceType            string   `query:"InterfaceType"`
}

// ltDataParam is LaunchTemplateData: the fields openami keeps, and those
// tools send that ask for nothing when empty (refused otherwise, in
// unsupported).
type ltDataParam struct {
	ImageID                           string                `query:"ImageId"`
	InstanceType                      string                `query:"InstanceType"`
	KeyName                           string                `query:"KeyName"`
	SecurityGroupIDs                  []string              `query:"SecurityGroupId"`
	SecurityGroups                    []string              `query:"SecurityGroup"`
	NetworkInterfaces                 []ltInterfaceParam    `query:"NetworkInterface"`
	BlockDeviceMappings               []ltMappingParam      `query:"BlockDeviceMapping"`
	UserData                          string                `query:"UserData"`
	MetadataOptions                   *metadataOptionsParam `query:"MetadataOptions"`
	TagSpecifications                 []tagSpecParam        `query:"TagSpecification"`
	Placement                         *placementParam       `query:"Placement"`
	DisableAPITermination             *bool                 `query:"DisableApiTermination"`
	DisableAPIStop                    *bool                 `query:"DisableApiStop"`
	InstanceInitiatedShutdownBehavior string                `query:"InstanceInitiatedShutdownBehavior"`
	EbsOptimized                      *bool                 `query:"EbsOptimized"`
	Monitoring                        *monitoringParam      `query:"Monitoring"`
	CreditSpecification               *creditSpecParam      `query:"CreditSpecification"`
	IamInstanceProfile                *struct {
		Arn  string `query:"Arn"`
		Name string `query:"Name"`
	} `query:"IamInstanceProfile"`
	KernelID  string `query:"KernelId"`
	RamDiskID string `query:"RamDiskId"`
}

// unsupported refuses what a template may hold on EC2 but openami cannot
// launch.
func (d *ltDataParam) unsupported() error {
	switch {
	case d.IamInstanceProfile != nil && (d.IamInstanceProfile.Name != "" || d.IamInstanceProfile.Arn != ""):
		return openami.Errorf(openami.Unsupported, "", "IAM instance profiles are not supported: openami has no IAM.")
	case d.Placement != nil && (d.Placement.Tenancy != "" && d.Placement.Tenancy != "default" || d.Placement.GroupName != ""):
		return openami.Errorf(openami.Unsupported, "", "Dedicated tenancy and placement groups are not supported.")
	case d.KernelID != "" || d.RamDiskID != "":
		return openami.Errorf(openami.Unsupported, "", "Kernel and RAM disk ids in launch templates are not supported.")
	}
	return nil
}

// data returns the template data the request gives, nil when it gives
// none.
func (d *ltDataParam) data() *openami.LaunchTemplateData {
	if d == nil {
		return nil
	}
	out := &openami.LaunchTemplateData{ImageID: d.ImageID, InstanceType: d.InstanceType, KeyName: d.KeyName,
		SecurityGroupIDs: d.SecurityGroupIDs, SecurityGroups: d.SecurityGroups, UserData: d.UserData,
		DisableAPITermination: d.DisableAPITermination, DisableAPIStop: d.DisableAPIStop,
		InstanceInitiatedShutdownBehavior: d.InstanceInitiatedShutdownBehavior, EbsOptimized: d.EbsOptimized}
	for _, ni := range d.NetworkInterfaces {
		out.NetworkInterfaces = append(out.NetworkInterfaces, openami.LaunchTemplateNetworkInterface{DeviceIndex: ni.DeviceIndex,
			SubnetID: ni.SubnetID, Groups: ni.Groups, AssociatePublicIPAddress: ni.AssociatePublicIPAddress,
			DeleteOnTermination: ni.DeleteOnTermination, PrivateIPAddress: ni.PrivateIPAddress, Description: ni.Description})
	}
	for _, m := range d.BlockDeviceMappings {
		o := openami.LaunchTemplateMapping{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice != nil}
		if e := m.Ebs; e != nil {
			o.Ebs = &openami.LaunchTemplateEbs{SnapshotID: e.SnapshotID, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
				Iops: e.Iops, Throughput: e.Throughput, DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID}
		}
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, o)
	}
	if m := d.MetadataOptions; m != nil {
		out.MetadataOptions = &openami.MetadataOptions{HttpTokens: m.HttpTokens, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
			HttpEndpoint: m.HttpEndpoint, InstanceMetadataTags: m.InstanceMetadataTags}
	}
	for _, s := range d.TagSpecifications {
		out.TagSpecifications = append(out.TagSpecifications, openami.LaunchTemplateTagSpec{ResourceType: openami.ResourceType(s.ResourceType), Tags: tagsOf(s.Tags)})
	}
	if d.Placement != nil {
		out.AvailabilityZone = d.Placement.AvailabilityZone
	}
	if d.Monitoring != nil {
		on := d.Monitoring.Enabled
		out.Monitoring = &on
	}
	if d.CreditSpecification != nil {
		out.CPUCredits = d.CreditSpecification.CPUCredits
	}
	return out
}

// Response shapes.

type launchTemplateItem struct {
	CreateTime           string         `xml:"createTime"`
	CreatedBy            string         `xml:"createdBy"`
	DefaultVersionNumber int64          `xml:"defaultVersionNumber"`
	LatestVersionNumber  int64          `xml:"latestVersionNumber"`
	LaunchTemplateID     string         `xml:"launchTemplateId"`
	LaunchTemplateName   string         `xml:"launchTemplateName"`
	Tags                 items[tagItem] `xml:"tagSet,omitempty"`
}

func launchTemplateOf(lt openami.LaunchTemplate, tags []openami.Tag) launchTemplateItem {
	return launchTemplateItem{CreateTime: timestamp(lt.CreateTime), CreatedBy: lt.CreatedBy, DefaultVersionNumber: lt.DefaultVersion,
		LatestVersionNumber: lt.LatestVersion, LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, Tags: tagSet(tags)}
}

type ltEbsItem struct {
	DeleteOnTermination *bool  `xml:"deleteOnTermination"`
	Encrypted           *bool  `xml:"encrypted"`
	Iops                *int   `xml:"iops"`
	KmsKeyID            string `xml:"kmsKeyId,omitempty"`
	SnapshotID          string `xml:"snapshotId,omitempty"`
	Throughput          *int   `xml:"throughput"`
	VolumeSize          int64  `xml:"volumeSize,omitempty"`
	VolumeType          string `xml:"volumeType,omitempty"`
}

type ltMappingItem struct {
	DeviceName  string     `xml:"deviceName,omitempty"`
	Ebs         *ltEbsItem `xml:"ebs"`
	NoDevice    *string    `xml:"noDevice"`
	VirtualName string     `xml:"virtualName,omitempty"`
}

// groupIDs is a list of security group ids as a network interface of a
// template holds them: <groupId> elements, not <item>s.
type groupIDs struct {
	IDs []string `xml:"groupId"`
}

type ltInterfaceItem struct {
	AssociatePublicIPAddress *bool     `xml:"associatePublicIpAddress"`
	DeleteOnTermination      *bool     `xml:"deleteOnTermination"`
	Description              string    `xml:"description,omitempty"`
	DeviceIndex              int       `xml:"deviceIndex"`
	Groups                   *groupIDs `xml:"groupSet"`
	PrivateIPAddress         string    `xml:"privateIpAddress,omitempty"`
	SubnetID                 string    `xml:"subnetId,omitempty"`
}

type ltMetadataItem struct {
	HttpEndpoint            string `xml:"httpEndpoint,omitempty"`
	HttpPutResponseHopLimit int    `xml:"httpPutResponseHopLimit,omitempty"`
	HttpTokens              string `xml:"httpTokens,omitempty"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags,omitempty"`
}

type ltTagSpecItem struct {
	ResourceType string         `xml:"resourceType"`
	Tags         items[tagItem] `xml:"tagSet"`
}

type ltPlacementItem struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type ltCreditItem struct {
	CPUCredits string `xml:"cpuCredits"`
}

// ltDataItem is a ResponseLaunchTemplateData: absent fields are left out.
type ltDataItem struct {
	BlockDeviceMappings               items[ltMappingItem]   `xml:"blockDeviceMappingSet,omitempty"`
	CreditSpecification               *ltCreditItem          `xml:"creditSpecification"`
	DisableAPIStop                    *bool                  `xml:"disableApiStop"`
	DisableAPITermination             *bool                  `xml:"disableApiTermination"`
	EbsOptimized                      *bool                  `xml:"ebsOptimized"`
	ImageID                           string                 `xml:"imageId,omitempty"`
	InstanceInitiatedShutdownBehavior string                 `xml:"instanceInitiatedShutdownBehavior,omitempty"`
	InstanceType                      string                 `xml:"instanceType,omitempty"`
	KeyName                           string                 `xml:"keyName,omitempty"`
	MetadataOptions                   *ltMetadataItem        `xml:"metadataOptions"`
	Monitoring                        *enabledItem           `xml:"monitoring"`
	NetworkInterfaces                 items[ltInterfaceItem] `xml:"networkInterfaceSet,omitempty"`
	Placement                         *ltPlacementItem       `xml:"placement"`
	SecurityGroupIDs                  items[string]          `xml:"securityGroupIdSet,omitempty"`
	SecurityGroups                    items[string]          `xml:"securityGroupSet,omitempty"`
	TagSpecifications                 items[ltTagSpecItem]   `xml:"tagSpecificationSet,omitempty"`
	UserData                          string                 `xml:"userData,omitempty"`
}

func ltDataOf(d openami.LaunchTemplateData) ltDataItem {
	out := ltDataItem{DisableAPIStop: d.DisableAPIStop, DisableAPITermination: d.DisableAPITermination, EbsOptimized: d.EbsOptimized,
		ImageID: d.ImageID, InstanceInitiatedShutdownBehavior: d.InstanceInitiatedShutdownBehavior, InstanceType: d.InstanceType,
		KeyName: d.KeyName, SecurityGroupIDs: d.SecurityGroupIDs, SecurityGroups: d.SecurityGroups, UserData: d.UserData}
	for _, m := range d.BlockDeviceMappings {
		item := ltMappingItem{DeviceName: m.DeviceName, VirtualName: m.VirtualName}
		if m.NoDevice {
			empty := ""
			item.NoDevice = &empty
		}
		if e := m.Ebs; e != nil {
			item.Ebs = &ltEbsItem{DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, Iops: e.Iops, KmsKeyID: e.KmsKeyID,
				SnapshotID: e.SnapshotID, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType}
		}
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, item)
	}
	for _, ni := range d.NetworkInterfaces {
		item := ltInterfaceItem{AssociatePublicIPAddress: ni.AssociatePublicIPAddress, DeleteOnTermination: ni.DeleteOnTermination,
			Description: ni.Description, DeviceIndex: ni.DeviceIndex, PrivateIPAddress: ni.PrivateIPAddress, SubnetID: ni.SubnetID}
		if len(ni.Groups) > 0 {
			item.Groups = &groupIDs{IDs: ni.Groups}
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, item)
	}
	if m := d.MetadataOptions; m != nil {
		out.MetadataOptions = &ltMetadataItem{HttpEndpoint: m.HttpEndpoint, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
			HttpTokens: m.HttpTokens, InstanceMetadataTags: m.InstanceMetadataTags}
	}
	for _, ts := range d.TagSpecifications {
		out.TagSpecifications = append(out.TagSpecifications, ltTagSpecItem{ResourceType: string(ts.ResourceType), Tags: tagSet(ts.Tags)})
	}
	if d.AvailabilityZone != "" {
		out.Placement = &ltPlacementItem{AvailabilityZone: d.AvailabilityZone}
	}
	if d.Monitoring != nil {
		out.Monitoring = &enabledItem{Enabled: *d.Monitoring}
	}
	if d.CPUCredits != "" {
		out.CreditSpecification = &ltCreditItem{CPUCredits: d.CPUCredits}
	}
	return out
}

type ltVersionItem struct {
	CreateTime         string     `xml:"createTime"`
	CreatedBy          string     `xml:"createdBy"`
	DefaultVersion     bool       `xml:"defaultVersion"`
	LaunchTemplateData ltDataItem `xml:"launchTemplateData"`
	LaunchTemplateID   string     `xml:"launchTemplateId"`
	LaunchTemplateName string     `xml:"launchTemplateName"`
	VersionDescription string     `xml:"versionDescription,omitempty"`
	VersionNumber      int64      `xml:"versionNumber"`
}

func ltVersionOf(v templates.VersionView) ltVersionItem {
	return ltVersionItem{CreateTime: timestamp(v.CreateTime), CreatedBy: v.CreatedBy, DefaultVersion: v.Default,
		LaunchTemplateData: ltDataOf(v.Data), LaunchTemplateID: v.TemplateID, LaunchTemplateName: v.TemplateName,
		VersionDescription: v.Description, VersionNumber: v.Number}
}

// Actions.

type createLaunchTemplateInput struct {
	dryRunParam
	LaunchTemplateName string         `query:"LaunchTemplateName,required"`
	VersionDescription string         `query:"VersionDescription"`
	LaunchTemplateData *ltDataParam   `query:"LaunchTemplateData"`
	TagSpecifications  []tagSpecParam `query:"TagSpecification"`
	ClientToken        string         `query:"ClientToken"`
}

type launchTemplateResponse struct {
	response
	LaunchTemplate launchTemplateItem `xml:"launchTemplate"`
}

func (h *Handler) createLaunchTemplate(c *call) (responder, error) {
	var in createLaunchTemplateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.LaunchTemplateData != nil {
		if err := in.LaunchTemplateData.unsupported(); err != nil {
			return nil, err
		}
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceLaunchTemplate, openami.ResourceLaunchTemplate)
	if err != nil {
		return nil, err
	}
	lt, err := h.templates.CreateLaunchTemplate(c.ctx, c.p, templates.CreateInput{LaunchTemplateName: in.LaunchTemplateName,
		VersionDescription: in.VersionDescription, LaunchTemplateData: in.LaunchTemplateData.data(), Tags: tags, ClientToken: in.ClientToken})
	if err != nil {
		return nil, err
	}
	return &launchTemplateResponse{LaunchTemplate: launchTemplateOf(lt.LaunchTemplate, lt.Tags)}, nil
}

type createLaunchTemplateVersionInput struct {
	dryRunParam
	LaunchTemplateID   string       `query:"LaunchTemplateId"`
	LaunchTemplateName string       `query:"LaunchTemplateName"`
	SourceVersion      string       `query:"SourceVersion"`
	VersionDescription string       `query:"VersionDescription"`
	LaunchTemplateData *ltDataParam `query:"LaunchTemplateData"`
	ClientToken        string       `query:"ClientToken"`
	ResolveAlias       bool         `query:"ResolveAlias"`
}

type createLaunchTemplateVersionResponse struct {
	response
	LaunchTemplateVersion ltVersionItem `xml:"launchTemplateVersion"`
}

func (h *Handler) createLaunchTemplateVersion(c *call) (responder, error) {
	var in createLaunchTemplateVersionInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.LaunchTemplateData != nil {
		if err := in.LaunchTemplateData.unsupported(); err != nil {
			return nil, err
		}
	}
	v, err := h.templates.CreateLaunchTemplateVersion(c.ctx, c.p, templates.VersionInput{TemplateID: in.LaunchTemplateID,
		TemplateName: in.LaunchTemplateName, SourceVersion: in.SourceVersion, VersionDescription: in.VersionDescription,
		LaunchTemplateData: in.LaunchTemplateData.data(), ClientToken: in.ClientToken})
	if err != nil {
		return nil, err
	}
	return &createLaunchTemplateVersionResponse{LaunchTemplateVersion: ltVersionOf(v)}, nil
}

type modifyLaunchTemplateInput struct {
	dryRunParam
	LaunchTemplateID   string `query:"LaunchTemplateId"`
	LaunchTemplateName string `query:"LaunchTemplateName"`
	DefaultVersion     string `query:"SetDefaultVersion"`
	ClientToken        string `query:"ClientToken"`
}

func (h *Handler) modifyLaunchTemplate(c *call) (responder, error) {
	var in modifyLaunchTemplateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	lt, err := h.templates.ModifyLaunchTemplate(c.ctx, c.p, templates.ModifyInput{TemplateID: in.LaunchTemplateID,
		TemplateName: in.LaunchTemplateName, DefaultVersion: in.DefaultVersion})
	if err != nil {
		return nil, err
	}
	return &launchTemplateResponse{LaunchTemplate: launchTemplateOf(lt, nil)}, nil
}

type deleteLaunchTemplateInput struct {
	dryRunParam
	LaunchTemplateID   string `query:"LaunchTemplateId"`
	LaunchTemplateName string `query:"LaunchTemplateName"`
}

func (h *Handler) deleteLaunchTemplate(c *call) (responder, error) {
	var in deleteLaunchTemplateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	lt, err := h.templates.DeleteLaunchTemplate(c.ctx, c.p, in.LaunchTemplateID, in.LaunchTemplateName)
	if err != nil {
		return nil, err
	}
	return &launchTemplateResponse{LaunchTemplate: launchTemplateOf(lt, nil)}, nil
}

type deleteLaunchTemplateVersionsInput struct {
	dryRunParam
	LaunchTemplateID   string   `query:"LaunchTemplateId"`
	LaunchTemplateName string   `query:"LaunchTemplateName"`
	Versions           []string `query:"LaunchTemplateVersion"`
}

type ltVersionDeleted struct {
	LaunchTemplateID   string `xml:"launchTemplateId"`
	LaunchTemplateName string `xml:"launchTemplateName"`
	VersionNumber      int64  `xml:"versionNumber"`
}

type ltVersionNotDeleted struct {
	LaunchTemplateID   string    `xml:"launchTemplateId"`
	LaunchTemplateName string    `xml:"launchTemplateName"`
	ResponseError      errorItem `xml:"responseError"`
	// VersionNumber is left out when the version asked for was no number.
	VersionNumber string `xml:"versionNumber,omitempty"`
}

type deleteLaunchTemplateVersionsResponse struct {
	response
	Deleted    items[ltVersionDeleted]    `xml:"successfullyDeletedLaunchTemplateVersionSet"`
	NotDeleted items[ltVersionNotDeleted] `xml:"unsuccessfullyDeletedLaunchTemplateVersionSet"`
}

// versionFailure is the ResponseError of one of DeleteLaunchTemplateVersions'
// failures, which has codes of its own rather than EC2's error codes: the
// default version's is unexpectedError, the code EC2 has for what its
// list does not name.
func versionFailure(err error) errorItem {
	var oe *openami.Error
	if errors.As(err, &oe) && oe.Class == openami.NotFound && oe.Reason == openami.ReasonVersion {
		return errorItem{Code: "launchTemplateVersionDoesNotExist", Message: oe.Message}
	}
	return errorItem{Code: "unexpectedError", Message: toWire(err).Message}
}

func (h *Handler) deleteLaunchTemplateVersions(c *call) (responder, error) {
	var in deleteLaunchTemplateVersionsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	lt, outcomes, err := h.templates.DeleteLaunchTemplateVersions(c.ctx, c.p, in.LaunchTemplateID, in.LaunchTemplateName, in.Versions)
	if err != nil {
		return nil, err
	}
	out := &deleteLaunchTemplateVersionsResponse{Deleted: items[ltVersionDeleted]{}, NotDeleted: items[ltVersionNotDeleted]{}}
	for _, o := range outcomes {
		if o.Err == nil {
			out.Deleted = append(out.Deleted, ltVersionDeleted{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: o.Number})
			continue
		}
		item := ltVersionNotDeleted{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, ResponseError: versionFailure(o.Err)}
		if o.Number > 0 {
			item.VersionNumber = strconv.FormatInt(o.Number, 10)
		}
		out.NotDeleted = append(out.NotDeleted, item)
	}
	return out, nil
}

type describeLaunchTemplatesInput struct {
	dryRunParam
	LaunchTemplateIDs       []string      `query:"LaunchTemplateId"`
	LaunchTemplateNames     []string      `query:"LaunchTemplateName"`
	Filters                 []filterParam `query:"Filter"`
	MaxResults              int           `query:"MaxResults"`
	NextToken               string        `query:"NextToken"`
	IncludeManagedResources bool          `query:"IncludeManagedResources"`
}

type describeLaunchTemplatesResponse struct {
	response
	LaunchTemplates items[launchTemplateItem] `xml:"launchTemplates"`
	NextToken       string                    `xml:"nextToken,omitempty"`
}

func (h *Handler) describeLaunchTemplates(c *call) (responder, error) {
	var in describeLaunchTemplatesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, launchTemplateFilterNames)
	if err != nil {
		return nil, err
	}
	lts, next, err := h.templates.DescribeLaunchTemplates(c.ctx, c.p, in.LaunchTemplateIDs, in.LaunchTemplateNames, fs,
		templates.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeLaunchTemplatesResponse{LaunchTemplates: items[launchTemplateItem]{}, NextToken: next}
	for _, lt := range lts {
		out.LaunchTemplates = append(out.LaunchTemplates, launchTemplateOf(lt.LaunchTemplate, lt.Tags))
	}
	return out, nil
}

type describeLaunchTemplateVersionsInput struct {
	dryRunParam
	LaunchTemplateID        string        `query:"LaunchTemplateId"`
	LaunchTemplateName      string        `query:"LaunchTemplateName"`
	Versions                []string      `query:"LaunchTemplateVersion"`
	MinVersion              string        `query:"MinVersion"`
	MaxVersion              string        `query:"MaxVersion"`
	Filters                 []filterParam `query:"Filter"`
	MaxResults              int           `query:"MaxResults"`
	NextToken               string        `query:"NextToken"`
	ResolveAlias            bool          `query:"ResolveAlias"`
	IncludeManagedResources bool          `query:"IncludeManagedResources"`
}

type describeLaunchTemplateVersionsResponse struct {
	response
	Versions  items[ltVersionItem] `xml:"launchTemplateVersionSet"`
	NextToken string               `xml:"nextToken,omitempty"`
}

func (h *Handler) describeLaunchTemplateVersions(c *call) (responder, error) {
	var in describeLaunchTemplateVersionsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, launchTemplateVersionFilterNames)
	if err != nil {
		return nil, err
	}
	vs, next, err := h.templates.DescribeLaunchTemplateVersions(c.ctx, c.p, templates.VersionsQuery{TemplateID: in.LaunchTemplateID,
		TemplateName: in.LaunchTemplateName, Versions: in.Versions, MinVersion: in.MinVersion, MaxVersion: in.MaxVersion,
		Filters: fs, Page: templates.Page{MaxResults: in.MaxResults, NextToken: in.NextToken}})
	if err != nil {
		return nil, err
	}
	out := &describeLaunchTemplateVersionsResponse{Versions: items[ltVersionItem]{}, NextToken: next}
	for _, v := range vs {
		out.Versions = append(out.Versions, ltVersionOf(v))
	}
	return out, nil
}

type getLaunchTemplateDataInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
}

type getLaunchTemplateDataResponse struct {
	response
	LaunchTemplateData ltDataItem `xml:"launchTemplateData"`
}

func (h *Handler) getLaunchTemplateData(c *call) (responder, error) {
	var in getLaunchTemplateDataInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	d, err := h.instances.GetLaunchTemplateData(c.ctx, c.p, in.InstanceID)
	if err != nil {
		return nil, err
	}
	return &getLaunchTemplateDataResponse{LaunchTemplateData: ltDataOf(d)}, nil
}
