package ec2

import (
	"encoding/base64"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// The attributes of instances: Describe and ModifyInstanceAttribute, and
// DescribeInstanceCreditSpecifications.

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
	UserData                          *userDataItem               `xml:"userData"`
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
	i, err := h.instances.DescribeInstanceAttribute(c.ctx, c.p, in.InstanceID, in.Attribute)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceAttributeResponse{InstanceID: i.ID}
	item := instanceOf(c.p.Region, instances.InstanceView{Instance: i})
	switch in.Attribute {
	case "instanceType":
		out.InstanceType = &valueItem{i.InstanceType}
	case "kernel":
		out.Kernel = &valueItem{i.KernelID}
	case "ramdisk":
		out.Ramdisk = &valueItem{i.RamdiskID}
	case "userData":
		out.UserData = &userDataItem{}
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
		rf := reservationFields{Instances: items[instanceItem]{item}}
		if err := h.nameGroups(c, rf); err != nil {
			return nil, err
		}
		out.Groups = &rf.Instances[0].Groups
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

// userDataItem is the userData attribute: without a value when the
// instance has none, as EC2 answers (an empty value reads to Terraform as
// user data that is there and empty, a change on every plan).
type userDataItem struct {
	Value string `xml:"value,omitempty"`
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
	m := instances.ModifyInstanceAttributeInput{InstanceID: in.InstanceID, SecurityGroupIDs: in.Groups}
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
	if err := h.instances.ModifyInstanceAttribute(c.ctx, c.p, m); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type modifyInstanceMetadataOptionsInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
	metadataOptionsParam
}

type modifyInstanceMetadataOptionsResponse struct {
	response
	InstanceID      string              `xml:"instanceId"`
	MetadataOptions metadataOptionsItem `xml:"instanceMetadataOptions"`
}

// modifyInstanceMetadataOptions changes an instance's metadata service
// settings. The change is in force when the call returns (the metadata
// service reads the instance on each request), so the state is
// "applied" where EC2 may still say "pending". IPv6 is not offered.
func (h *Handler) modifyInstanceMetadataOptions(c *call) (responder, error) {
	var in modifyInstanceMetadataOptionsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.HttpProtocolIpv6 == "enabled" {
		return nil, openami.Errorf(openami.Unsupported, "", "The instance metadata service over IPv6 is not supported.")
	}
	o, err := h.instances.ModifyInstanceMetadataOptions(c.ctx, c.p, in.InstanceID, openami.MetadataOptions{HttpTokens: in.HttpTokens,
		HttpPutResponseHopLimit: in.HttpPutResponseHopLimit, HttpEndpoint: in.HttpEndpoint, InstanceMetadataTags: in.InstanceMetadataTags})
	if err != nil {
		return nil, err
	}
	return &modifyInstanceMetadataOptionsResponse{InstanceID: in.InstanceID, MetadataOptions: metadataOptionsItem{State: "applied",
		HttpTokens: o.HttpTokens, HttpPutResponseHopLimit: o.HttpPutResponseHopLimit, HttpEndpoint: o.HttpEndpoint,
		HttpProtocolIpv6: "disabled", InstanceMetadataTags: o.InstanceMetadataTags}}, nil
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
	specs, err := h.instances.InstanceCreditSpecifications(c.ctx, c.p, in.InstanceIDs)
	if err != nil {
		return nil, err
	}
	out := &describeCreditSpecsResponse{}
	for _, s := range specs {
		out.Specs = append(out.Specs, creditSpecItem{s.InstanceID, s.CPUCredits})
	}
	return out, nil
}
