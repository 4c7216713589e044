package ec2

import (
	"github.com/openami/openami/rules/instances"
)

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
	Hypervisor                    string                 `xml:"hypervisor,omitempty"` // none on bare metal
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
			InstanceType: it.Name, CurrentGeneration: it.CurrentGeneration, FreeTierEligible: it.FreeTier, BareMetal: it.BareMetal,
			SupportedUsageClasses: strs([]string{"on-demand", "spot"}), SupportedRootDeviceTypes: strs(it.RootDeviceTypes()),
			SupportedVirtualizationTypes: strs(it.Virtualization), Hypervisor: it.Hypervisor,
			ProcessorInfo: processorInfoItem{SupportedArchitectures: strs(it.Architectures)},
			VCpuInfo:      vcpuInfoItem{it.VCPUs, max(1, it.VCPUs/threads), threads},
			MemoryInfo:    memoryInfoItem{it.MemoryMiB}, InstanceStorageSupported: it.InstanceStore.Count > 0,
			EbsInfo:                       ebsInfoItem{"default", "supported", "required"},
			BurstablePerformanceSupported: it.Burstable, AutoRecoverySupported: true,
			SupportedBootModes: strs(it.BootModes),
		}
		if it.Hypervisor == "xen" {
			// EBS optimization on Xen: by default on the current
			// generation's (c4, m4, r4, d2, i3, x1 …), available on the
			// larger previous-generation types, never on burstable ones
			// or a previous generation's single-vCPU sizes.
			ebsOpt := "supported"
			switch {
			case it.Burstable || !it.CurrentGeneration && it.VCPUs == 1:
				ebsOpt = "unsupported"
			case it.CurrentGeneration:
				ebsOpt = "default"
			}
			item.EbsInfo = ebsInfoItem{ebsOpt, "supported", "unsupported"}
		}
		if s := it.InstanceStore; s.Count > 0 {
			item.InstanceStorageInfo = &instanceStorageItem{TotalSizeInGB: s.TotalGB(),
				Disks: items[diskItem]{{s.SizeGB, s.Count, s.Type}}, NvmeSupport: instances.StoreNVMeSupport(s)}
		}
		out.InstanceTypes = append(out.InstanceTypes, item)
	}
	return out, nil
}

type describeInstanceTypeOfferingsInput struct {
	dryRunParam
	LocationType string        `query:"LocationType"`
	Filters      []filterParam `query:"Filter"`
	MaxResults   int           `query:"MaxResults"`
	NextToken    string        `query:"NextToken"`
}

type instanceTypeOfferingItem struct {
	InstanceType string `xml:"instanceType"`
	LocationType string `xml:"locationType"`
	Location     string `xml:"location"`
}

type describeInstanceTypeOfferingsResponse struct {
	response
	Offerings items[instanceTypeOfferingItem] `xml:"instanceTypeOfferingSet"`
	NextToken string                          `xml:"nextToken,omitempty"`
}

func (h *Handler) describeInstanceTypeOfferings(c *call) (responder, error) {
	var in describeInstanceTypeOfferingsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, offeringFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.instances.DescribeInstanceTypeOfferings(c.ctx, c.p, in.LocationType, fs, instances.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeInstanceTypeOfferingsResponse{NextToken: next}
	for _, o := range list {
		out.Offerings = append(out.Offerings, instanceTypeOfferingItem{o.InstanceType, o.LocationType, o.Location})
	}
	return out, nil
}
