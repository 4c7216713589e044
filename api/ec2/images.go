package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/images"
)

// ebsParam is BlockDeviceMapping.N.Ebs.
type ebsParam struct {
	SnapshotID          string `query:"SnapshotId"`
	VolumeSize          int64  `query:"VolumeSize"`
	VolumeType          string `query:"VolumeType"`
	Iops                int    `query:"Iops"`
	Throughput          int    `query:"Throughput"`
	DeleteOnTermination *bool  `query:"DeleteOnTermination"`
	Encrypted           bool   `query:"Encrypted"`
	KmsKeyID            string `query:"KmsKeyId"`
	OutpostArn          string `query:"OutpostArn"`
	AvailabilityZone    string `query:"AvailabilityZone"`
	AvailabilityZoneID  string `query:"AvailabilityZoneId"`
	InitializationRate  int    `query:"VolumeInitializationRate"`
	EbsCardIndex        int    `query:"EbsCardIndex"`
}

// mappingParam is BlockDeviceMapping.N.
type mappingParam struct {
	DeviceName  string    `query:"DeviceName"`
	VirtualName string    `query:"VirtualName"`
	NoDevice    *string   `query:"NoDevice"`
	Ebs         *ebsParam `query:"Ebs"`
}

func mappingsOf(in []mappingParam) []openami.BlockDeviceMapping {
	out := make([]openami.BlockDeviceMapping, len(in))
	for i, m := range in {
		out[i] = openami.BlockDeviceMapping{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice != nil}
		if e := m.Ebs; e != nil {
			del := true // EC2's default for image mappings
			if e.DeleteOnTermination != nil {
				del = *e.DeleteOnTermination
			}
			out[i].Ebs = &openami.EbsBlockDevice{
				SnapshotID: e.SnapshotID, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType, Iops: e.Iops,
				Throughput: e.Throughput, DeleteOnTermination: del, Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID,
			}
		}
	}
	return out
}

type registerImageInput struct {
	dryRunParam
	Name                string         `query:"Name,required"`
	Description         string         `query:"Description"`
	ImageLocation       string         `query:"ImageLocation"`
	Architecture        string         `query:"Architecture"`
	RootDeviceName      string         `query:"RootDeviceName"`
	VirtualizationType  string         `query:"VirtualizationType"`
	BlockDeviceMappings []mappingParam `query:"BlockDeviceMapping"`
	KernelID            string         `query:"KernelId"`
	RamdiskID           string         `query:"RamdiskId"`
	BootMode            string         `query:"BootMode"`
	TpmSupport          string         `query:"TpmSupport"`
	UefiData            string         `query:"UefiData"`
	ImdsSupport         string         `query:"ImdsSupport"`
	SriovNetSupport     string         `query:"SriovNetSupport"`
	EnaSupport          bool           `query:"EnaSupport"`
	BillingProducts     []string       `query:"BillingProduct"`
	TagSpecifications   []tagSpecParam `query:"TagSpecification"`
}

type imageIDResponse struct {
	response
	ImageID string `xml:"imageId"`
}

func (h *Handler) registerImage(c *call) (responder, error) {
	var in registerImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceImage, openami.ResourceImage)
	if err != nil {
		return nil, err
	}
	id, err := h.images.RegisterImage(c.ctx, c.p, images.RegisterImageInput{
		Name: in.Name, Description: in.Description, ImageLocation: in.ImageLocation, Architecture: in.Architecture,
		RootDeviceName: in.RootDeviceName, VirtualizationType: in.VirtualizationType,
		BlockDeviceMappings: mappingsOf(in.BlockDeviceMappings), KernelID: in.KernelID, RamdiskID: in.RamdiskID,
		BootMode: in.BootMode, TpmSupport: in.TpmSupport, UefiData: in.UefiData, ImdsSupport: in.ImdsSupport,
		SriovNetSupport: in.SriovNetSupport, EnaSupport: in.EnaSupport, BillingProducts: in.BillingProducts, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return &imageIDResponse{ImageID: id}, nil
}

type ebsItem struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	VolumeSize          int64  `xml:"volumeSize"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType"`
	Iops                int    `xml:"iops,omitempty"`
	Throughput          int    `xml:"throughput,omitempty"`
	Encrypted           bool   `xml:"encrypted"`
	KmsKeyID            string `xml:"kmsKeyId,omitempty"`
}

type mappingItem struct {
	DeviceName  string   `xml:"deviceName"`
	VirtualName string   `xml:"virtualName,omitempty"`
	NoDevice    *string  `xml:"noDevice"`
	Ebs         *ebsItem `xml:"ebs"`
}

func mappingItems(in []openami.BlockDeviceMapping) items[mappingItem] {
	out := items[mappingItem]{}
	for _, m := range in {
		item := mappingItem{DeviceName: m.DeviceName, VirtualName: m.VirtualName}
		if m.NoDevice {
			empty := ""
			item.NoDevice = &empty
		}
		if e := m.Ebs; e != nil {
			item.Ebs = &ebsItem{e.SnapshotID, e.VolumeSize, e.DeleteOnTermination, e.VolumeType, e.Iops, e.Throughput, e.Encrypted, e.KmsKeyID}
		}
		out = append(out, item)
	}
	return out
}

type productCodeItem struct {
	ProductCode string `xml:"productCode"`
	Type        string `xml:"type"`
}

type stateReasonItem struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type imageItem struct {
	ImageID                  string                 `xml:"imageId"`
	ImageLocation            string                 `xml:"imageLocation"`
	ImageState               string                 `xml:"imageState"`
	ImageOwnerID             string                 `xml:"imageOwnerId"`
	CreationDate             string                 `xml:"creationDate"`
	IsPublic                 bool                   `xml:"isPublic"`
	ProductCodes             items[productCodeItem] `xml:"productCodes"`
	Architecture             string                 `xml:"architecture"`
	ImageType                string                 `xml:"imageType"`
	KernelID                 string                 `xml:"kernelId,omitempty"`
	RamdiskID                string                 `xml:"ramdiskId,omitempty"`
	Platform                 string                 `xml:"platform,omitempty"`
	PlatformDetails          string                 `xml:"platformDetails"`
	UsageOperation           string                 `xml:"usageOperation"`
	ImageOwnerAlias          string                 `xml:"imageOwnerAlias,omitempty"`
	Name                     string                 `xml:"name"`
	Description              string                 `xml:"description,omitempty"`
	RootDeviceType           string                 `xml:"rootDeviceType"`
	RootDeviceName           string                 `xml:"rootDeviceName"`
	BlockDeviceMappings      items[mappingItem]     `xml:"blockDeviceMapping"`
	VirtualizationType       string                 `xml:"virtualizationType"`
	Tags                     items[tagItem]         `xml:"tagSet,omitempty"` // EC2 omits an untagged image's tagSet
	Hypervisor               string                 `xml:"hypervisor"`
	EnaSupport               bool                   `xml:"enaSupport"`
	SriovNetSupport          string                 `xml:"sriovNetSupport,omitempty"`
	StateReason              *stateReasonItem       `xml:"stateReason"`
	BootMode                 string                 `xml:"bootMode,omitempty"`
	TpmSupport               string                 `xml:"tpmSupport,omitempty"`
	DeprecationTime          string                 `xml:"deprecationTime,omitempty"`
	ImdsSupport              string                 `xml:"imdsSupport,omitempty"`
	SourceInstanceID         string                 `xml:"sourceInstanceId,omitempty"`
	DeregistrationProtection string                 `xml:"deregistrationProtection,omitempty"`
	LastLaunchedTime         string                 `xml:"lastLaunchedTime,omitempty"`
	SourceImageID            string                 `xml:"sourceImageId,omitempty"`
	SourceImageRegion        string                 `xml:"sourceImageRegion,omitempty"`
	FreeTierEligible         bool                   `xml:"freeTierEligible"`
	ImageAllowed             *bool                  `xml:"imageAllowed"`
}

func imageOf(v images.ImageView) imageItem {
	img := v.Image
	out := imageItem{
		ImageID: img.ID, ImageLocation: img.ImageLocation, ImageState: string(img.State), ImageOwnerID: img.AccountID,
		CreationDate: timestamp(img.CreatedAt), IsPublic: img.Public, Architecture: img.Architecture,
		ImageType: img.ImageType, KernelID: img.KernelID, RamdiskID: img.RamdiskID, Platform: img.Platform,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", ImageOwnerAlias: img.OwnerAlias,
		Name: img.Name, Description: img.Description, RootDeviceType: img.RootDeviceType, RootDeviceName: img.RootDeviceName,
		BlockDeviceMappings: mappingItems(img.BlockDeviceMappings), VirtualizationType: img.VirtualizationType,
		Tags: tagSet(v.Tags), Hypervisor: "xen", EnaSupport: img.EnaSupport, SriovNetSupport: img.SriovNetSupport,
		BootMode: img.BootMode, TpmSupport: img.TpmSupport, ImdsSupport: img.ImdsSupport,
		SourceInstanceID: img.SourceInstanceID, DeregistrationProtection: protectionWords(img.DeregistrationProtection),
		SourceImageID: img.SourceImageID, SourceImageRegion: img.SourceImageRegion,
	}
	out.ImageAllowed = v.Allowed
	if img.Platform == "windows" {
		out.PlatformDetails, out.UsageOperation = "Windows", "RunInstances:0002"
	}
	for _, pc := range img.ProductCodes {
		out.ProductCodes = append(out.ProductCodes, productCodeItem{pc.ID, pc.Type})
	}
	if out.ProductCodes == nil {
		out.ProductCodes = items[productCodeItem]{}
	}
	out.StateReason = imageStateReason(img.StateReason)
	if !img.DeprecationTime.IsZero() {
		out.DeprecationTime = img.DeprecationTime.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if !img.LastLaunchedTime.IsZero() {
		out.LastLaunchedTime = timestamp(img.LastLaunchedTime)
	}
	return out
}

type describeImagesInput struct {
	dryRunParam
	ImageIDs          []string      `query:"ImageId"`
	Owners            []string      `query:"Owner"`
	ExecutableUsers   []string      `query:"ExecutableBy"`
	Filters           []filterParam `query:"Filter"`
	IncludeDeprecated bool          `query:"IncludeDeprecated"`
	IncludeDisabled   bool          `query:"IncludeDisabled"`
	MaxResults        int           `query:"MaxResults"`
	NextToken         string        `query:"NextToken"`
}

type describeImagesResponse struct {
	response
	Images    items[imageItem] `xml:"imagesSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

func (h *Handler) describeImages(c *call) (responder, error) {
	var in describeImagesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filter.Rename(causeFilters(wireFilters(in.Filters), false), imageFilterNames)
	if err != nil {
		return nil, err
	}
	imgs, next, err := h.images.DescribeImages(c.ctx, c.p, images.DescribeImagesInput{
		ImageIDs: in.ImageIDs, Owners: in.Owners, ExecutableUsers: in.ExecutableUsers, Filters: fs,
		IncludeDeprecated: in.IncludeDeprecated, IncludeDisabled: in.IncludeDisabled,
		Page: images.Page{MaxResults: in.MaxResults, NextToken: in.NextToken},
	})
	if err != nil {
		return nil, err
	}
	out := &describeImagesResponse{NextToken: next, Images: items[imageItem]{}}
	for _, img := range imgs {
		out.Images = append(out.Images, imageOf(img))
	}
	return out, nil
}

type deregisterImageInput struct {
	dryRunParam
	ImageID                   string `query:"ImageId,required"`
	DeleteAssociatedSnapshots bool   `query:"DeleteAssociatedSnapshots"`
}

type deleteSnapshotResultItem struct {
	SnapshotID string `xml:"snapshotId"`
	ReturnCode string `xml:"returnCode"`
}

type deregisterImageResponse struct {
	response
	Return  bool                             `xml:"return"`
	Results *items[deleteSnapshotResultItem] `xml:"deleteSnapshotResultSet"`
}

func (h *Handler) deregisterImage(c *call) (responder, error) {
	var in deregisterImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	results, err := h.images.DeregisterImage(c.ctx, c.p, in.ImageID, in.DeleteAssociatedSnapshots)
	if err != nil {
		return nil, err
	}
	out := &deregisterImageResponse{Return: true}
	if in.DeleteAssociatedSnapshots {
		list := items[deleteSnapshotResultItem]{}
		for _, r := range results {
			list = append(list, deleteSnapshotResultItem{r.SnapshotID, r.ReturnCode})
		}
		out.Results = &list
	}
	return out, nil
}

type imageAttributeInput struct {
	dryRunParam
	ImageID   string `query:"ImageId,required"`
	Attribute string `query:"Attribute,required"`
}

type valueItem struct {
	Value string `xml:"value"`
}

type launchPermissionItem struct {
	UserID                string `xml:"userId,omitempty"`
	Group                 string `xml:"group,omitempty"`
	OrganizationArn       string `xml:"organizationArn,omitempty"`
	OrganizationalUnitArn string `xml:"organizationalUnitArn,omitempty"`
}

type describeImageAttributeResponse struct {
	response
	ImageID                  string                       `xml:"imageId"`
	Description              *valueItem                   `xml:"description"`
	Kernel                   *valueItem                   `xml:"kernel"`
	Ramdisk                  *valueItem                   `xml:"ramdisk"`
	LaunchPermissions        *items[launchPermissionItem] `xml:"launchPermission"`
	ProductCodes             *items[productCodeItem]      `xml:"productCodes"`
	BlockDeviceMappings      *items[mappingItem]          `xml:"blockDeviceMapping"`
	SriovNetSupport          *valueItem                   `xml:"sriovNetSupport"`
	BootMode                 *valueItem                   `xml:"bootMode"`
	TpmSupport               *valueItem                   `xml:"tpmSupport"`
	UefiData                 *valueItem                   `xml:"uefiData"`
	LastLaunchedTime         *valueItem                   `xml:"lastLaunchedTime"`
	ImdsSupport              *valueItem                   `xml:"imdsSupport"`
	DeregistrationProtection *valueItem                   `xml:"deregistrationProtection"`
}

func (h *Handler) describeImageAttribute(c *call) (responder, error) {
	var in imageAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	a, err := h.images.DescribeImageAttribute(c.ctx, c.p, in.ImageID, in.Attribute)
	if err != nil {
		return nil, err
	}
	img := a.Image
	out := &describeImageAttributeResponse{ImageID: img.ID}
	val := func(v string) *valueItem { return &valueItem{v} }
	switch in.Attribute {
	case "description":
		out.Description = val(img.Description)
	case "kernel":
		out.Kernel = val(img.KernelID)
	case "ramdisk":
		out.Ramdisk = val(img.RamdiskID)
	case "launchPermission":
		list := items[launchPermissionItem]{}
		for _, p := range a.LaunchPermissions {
			list = append(list, launchPermissionItem{p.AccountID, p.Group, p.OrganizationArn, p.OrganizationalUnitArn})
		}
		out.LaunchPermissions = &list
	case "productCodes":
		list := items[productCodeItem]{}
		for _, pc := range img.ProductCodes {
			list = append(list, productCodeItem{pc.ID, pc.Type})
		}
		out.ProductCodes = &list
	case "blockDeviceMapping":
		list := mappingItems(img.BlockDeviceMappings)
		out.BlockDeviceMappings = &list
	case "sriovNetSupport":
		out.SriovNetSupport = val(img.SriovNetSupport)
	case "bootMode":
		out.BootMode = val(img.BootMode)
	case "tpmSupport":
		out.TpmSupport = val(img.TpmSupport)
	case "uefiData":
		out.UefiData = val(img.UefiData)
	case "lastLaunchedTime":
		v := ""
		if !img.LastLaunchedTime.IsZero() {
			v = timestamp(img.LastLaunchedTime)
		}
		out.LastLaunchedTime = val(v)
	case "imdsSupport":
		out.ImdsSupport = val(img.ImdsSupport)
	case "deregistrationProtection":
		out.DeregistrationProtection = val(protectionWords(img.DeregistrationProtection))
	}
	return out, nil
}

// launchPermissionParam is a LaunchPermission.Add.N / Remove.N entry.
type launchPermissionParam struct {
	UserID                string `query:"UserId"`
	Group                 string `query:"Group"`
	OrganizationArn       string `query:"OrganizationArn"`
	OrganizationalUnitArn string `query:"OrganizationalUnitArn"`
}

type modifyImageAttributeInput struct {
	dryRunParam
	ImageID          string `query:"ImageId,required"`
	Attribute        string `query:"Attribute"`
	LaunchPermission struct {
		Add    []launchPermissionParam `query:"Add"`
		Remove []launchPermissionParam `query:"Remove"`
	} `query:"LaunchPermission"`
	Description *struct {
		Value string `query:"Value"`
	} `query:"Description"`
	ImdsSupport *struct {
		Value string `query:"Value"`
	} `query:"ImdsSupport"`
	// The older form.
	OperationType          string   `query:"OperationType"`
	UserIDs                []string `query:"UserId"`
	UserGroups             []string `query:"UserGroup"`
	OrganizationArns       []string `query:"OrganizationArn"`
	OrganizationalUnitArns []string `query:"OrganizationalUnitArn"`
	ProductCodes           []string `query:"ProductCode"`
	Value                  *string  `query:"Value"`
}

func launchPermissionsOf(in []launchPermissionParam) []openami.LaunchPermission {
	out := make([]openami.LaunchPermission, len(in))
	for i, p := range in {
		out[i] = openami.LaunchPermission{AccountID: p.UserID, Group: p.Group, OrganizationArn: p.OrganizationArn, OrganizationalUnitArn: p.OrganizationalUnitArn}
	}
	return out
}

func (h *Handler) modifyImageAttribute(c *call) (responder, error) {
	var in modifyImageAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.ProductCodes) > 0 {
		return nil, openami.Errorf(openami.Unsupported, "", "Product codes are attached by the operator, not through ModifyImageAttribute.")
	}
	if in.ImdsSupport != nil {
		return nil, openami.Errorf(openami.Unsupported, "", "Changing imdsSupport is not supported yet.")
	}
	mod := images.ModifyImageAttributeInput{
		ImageID: in.ImageID, Add: launchPermissionsOf(in.LaunchPermission.Add), Remove: launchPermissionsOf(in.LaunchPermission.Remove),
	}
	if in.Description != nil {
		mod.Description = &in.Description.Value
	}
	if in.Attribute == "description" && in.Value != nil {
		mod.Description = in.Value
	}
	var legacy []openami.LaunchPermission
	for _, u := range in.UserIDs {
		legacy = append(legacy, openami.LaunchPermission{AccountID: u})
	}
	for _, g := range in.UserGroups {
		legacy = append(legacy, openami.LaunchPermission{Group: g})
	}
	for _, o := range in.OrganizationArns {
		legacy = append(legacy, openami.LaunchPermission{OrganizationArn: o})
	}
	for _, o := range in.OrganizationalUnitArns {
		legacy = append(legacy, openami.LaunchPermission{OrganizationalUnitArn: o})
	}
	switch in.OperationType {
	case "add":
		mod.Add = append(mod.Add, legacy...)
	case "remove":
		mod.Remove = append(mod.Remove, legacy...)
	case "":
		if len(legacy) > 0 {
			return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter OperationType")
		}
	default:
		return nil, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter operationType is invalid. Valid values: add, remove.", in.OperationType)
	}
	if len(mod.Add) == 0 && len(mod.Remove) == 0 && mod.Description == nil {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter LaunchPermission or Description")
	}
	if err := h.images.ModifyImageAttribute(c.ctx, c.p, mod); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *Handler) resetImageAttribute(c *call) (responder, error) {
	var in imageAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.images.ResetImageAttribute(c.ctx, c.p, in.ImageID, in.Attribute); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
