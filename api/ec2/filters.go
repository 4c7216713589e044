package ec2

import (
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/templates"
)

// This file is the one place that knows EC2's filter names. The rules
// filter by attributes of their own (filter.Attr constants such as
// images.AttrArchitecture); each Describe action has here the table from
// the names a client may send in Filter.N.Name to those attributes, and
// its handler renames the filters through it (filtersOf) before calling
// the rules. An old name EC2 still accepts (isDefault beside is-default)
// is one more row to the same attribute. tag:KEY, tag-key and tag-value
// are the filter engine's and pass as sent. A name a table lacks is
// refused as the rules would refuse it: "The filter 'x' is invalid".
// filters_test.go checks that every row names an attribute its action
// accepts and that every attribute has a row.

// filterParam is a Filter.N: Filter.N.Name and Filter.N.Value.M.
type filterParam struct {
	Name   string   `query:"Name,required"`
	Values []string `query:"Value"`
}

// wireFilters returns the filters as the client sent them, in EC2's names.
func wireFilters(in []filterParam) []filter.Filter {
	out := make([]filter.Filter, len(in))
	for i, f := range in {
		out[i] = filter.Filter{Name: f.Name, Values: f.Values}
	}
	return out
}

// filtersOf returns the filters of a request in the rules' attributes,
// through one action's table of names.
func filtersOf(in []filterParam, names map[string]filter.Attr) ([]filter.Filter, error) {
	return filter.Rename(wireFilters(in), names)
}

// regionFilterNames maps DescribeRegions' filter names to the rules' attributes.
var regionFilterNames = map[string]filter.Attr{
	"endpoint":      identity.AttrRegionEndpoint,
	"opt-in-status": identity.AttrRegionOptIn,
	"region-name":   identity.AttrRegionName,
}

// zoneFilterNames maps DescribeAvailabilityZones' filter names to the rules' attributes.
var zoneFilterNames = map[string]filter.Attr{
	"group-name":           identity.AttrZoneGroup,
	"network-border-group": identity.AttrZoneBorderGroup,
	"opt-in-status":        identity.AttrZoneOptIn,
	"region-name":          identity.AttrZoneRegion,
	"state":                identity.AttrZoneState,
	"zone-id":              identity.AttrZoneID,
	"zone-name":            identity.AttrZoneName,
	"zone-type":            identity.AttrZoneType,
	"message":              identity.AttrZoneMessage,
	"parent-zone-id":       identity.AttrZoneParentID,
	"parent-zone-name":     identity.AttrZoneParentName,
}

// keyPairFilterNames maps DescribeKeyPairs' filter names to the rules' attributes.
var keyPairFilterNames = map[string]filter.Attr{
	"key-pair-id": identity.AttrKeyPairID,
	"fingerprint": identity.AttrKeyPairFingerprint,
	"key-name":    identity.AttrKeyPairName,
	"key-type":    identity.AttrKeyPairType,
}

// bundleTaskFilterNames maps DescribeBundleTasks' filter names to the
// rules' attributes.
var bundleTaskFilterNames = map[string]filter.Attr{
	"bundle-id":     instances.AttrBundleID,
	"instance-id":   instances.AttrBundleInstance,
	"s3-bucket":     instances.AttrBundleBucket,
	"s3-prefix":     instances.AttrBundlePrefix,
	"state":         instances.AttrBundleState,
	"progress":      instances.AttrBundleProgress,
	"start-time":    instances.AttrBundleStart,
	"update-time":   instances.AttrBundleUpdate,
	"error-message": instances.AttrBundleError,
}

// imageFilterNames maps DescribeImages' filter names to the rules' attributes.
var imageFilterNames = map[string]filter.Attr{
	"architecture": images.AttrArchitecture,
	"block-device-mapping.delete-on-termination": images.AttrMappingDeleteOnTermination,
	"block-device-mapping.device-name":           images.AttrMappingDevice,
	"block-device-mapping.snapshot-id":           images.AttrMappingSnapshotID,
	"block-device-mapping.volume-size":           images.AttrMappingVolumeSize,
	"block-device-mapping.volume-type":           images.AttrMappingVolumeType,
	"block-device-mapping.encrypted":             images.AttrMappingEncrypted,
	"creation-date":                              images.AttrCreated,
	"description":                                images.AttrDescription,
	"ena-support":                                images.AttrEnaSupport,
	"free-tier-eligible":                         images.AttrFreeTier,
	"hypervisor":                                 images.AttrHypervisor,
	"image-allowed":                              images.AttrAllowed,
	"image-id":                                   images.AttrID,
	"image-type":                                 images.AttrType,
	"is-public":                                  images.AttrPublic,
	"kernel-id":                                  images.AttrKernelID,
	"manifest-location":                          images.AttrLocation,
	"name":                                       images.AttrName,
	"owner-alias":                                images.AttrOwnerAlias,
	"owner-id":                                   images.AttrOwnerID,
	"platform":                                   images.AttrPlatform,
	"product-code":                               images.AttrProductCode,
	"product-code.type":                          images.AttrProductCodeType,
	"ramdisk-id":                                 images.AttrRamdiskID,
	"root-device-name":                           images.AttrRootDevice,
	"root-device-type":                           images.AttrRootDeviceType,
	"source-image-id":                            images.AttrSourceImageID,
	"source-image-region":                        images.AttrSourceImageRegion,
	"source-instance-id":                         images.AttrSourceInstanceID,
	"state":                                      images.AttrState,
	"state-reason-code":                          images.AttrStateCause,
	"state-reason-message":                       images.AttrStateMessage,
	"sriov-net-support":                          images.AttrSriovNetSupport,
	"virtualization-type":                        images.AttrVirtualization,
	"boot-mode":                                  images.AttrBootMode,
	"deprecation-time":                           images.AttrDeprecationTime,
	"imds-support":                               images.AttrImdsSupport,
	"tpm-support":                                images.AttrTpmSupport,
}

// snapshotFilterNames maps DescribeSnapshots' filter names to the rules' attributes.
var snapshotFilterNames = map[string]filter.Attr{
	"description":   ebs.AttrSnapshotDescription,
	"encrypted":     ebs.AttrSnapshotEncrypted,
	"owner-alias":   ebs.AttrSnapshotOwnerAlias,
	"owner-id":      ebs.AttrSnapshotOwnerID,
	"progress":      ebs.AttrSnapshotProgress,
	"snapshot-id":   ebs.AttrSnapshotID,
	"start-time":    ebs.AttrSnapshotStarted,
	"status":        ebs.AttrSnapshotState,
	"storage-tier":  ebs.AttrSnapshotStorageTier,
	"transfer-type": ebs.AttrSnapshotTransferType,
	"volume-id":     ebs.AttrSnapshotVolumeID,
	"volume-size":   ebs.AttrSnapshotVolumeSize,
	"kms-key-id":    ebs.AttrSnapshotKeyID,
}

// volumeFilterNames maps DescribeVolumes' filter names to the rules' attributes.
var volumeFilterNames = map[string]filter.Attr{
	"attachment.attach-time":           ebs.AttrVolumeAttached,
	"attachment.delete-on-termination": ebs.AttrVolumeDeleteOnTermination,
	"attachment.device":                ebs.AttrVolumeDevice,
	"attachment.instance-id":           ebs.AttrVolumeInstanceID,
	"attachment.status":                ebs.AttrVolumeAttachmentState,
	"availability-zone":                ebs.AttrVolumeZone,
	"availability-zone-id":             ebs.AttrVolumeZoneID,
	"create-time":                      ebs.AttrVolumeCreated,
	"encrypted":                        ebs.AttrVolumeEncrypted,
	"fast-restored":                    ebs.AttrVolumeFastRestored,
	"multi-attach-enabled":             ebs.AttrVolumeMultiAttach,
	"size":                             ebs.AttrVolumeSize,
	"snapshot-id":                      ebs.AttrVolumeSnapshotID,
	"status":                           ebs.AttrVolumeState,
	"volume-id":                        ebs.AttrVolumeID,
	"volume-type":                      ebs.AttrVolumeType,
}

// instanceFilterNames maps DescribeInstances' filter names to the rules' attributes.
var instanceFilterNames = map[string]filter.Attr{
	"source-dest-check":                instances.AttrInstanceSourceDestCheck,
	"monitoring-state":                 instances.AttrInstanceMonitoring,
	"architecture":                     instances.AttrInstanceArchitecture,
	"availability-zone":                instances.AttrInstanceZone,
	"host-id":                          instances.AttrInstanceHost,
	"block-device-mapping.device-name": instances.AttrInstanceDevice,
	"block-device-mapping.volume-id":   instances.AttrInstanceVolumeID,
	"boot-mode":                        instances.AttrInstanceBootMode,
	"client-token":                     instances.AttrInstanceClientToken,
	"dns-name":                         instances.AttrInstancePublicDNS,
	"ebs-optimized":                    instances.AttrInstanceEbsOptimized,
	"image-id":                         instances.AttrInstanceImageID,
	"instance-id":                      instances.AttrInstanceID,
	"instance-lifecycle":               instances.AttrInstanceLifecycle,
	"instance-state-code":              instances.AttrInstanceStateCode,
	"instance-state-name":              instances.AttrInstanceState,
	"instance-type":                    instances.AttrInstanceType,
	"ip-address":                       instances.AttrInstancePublicIP,
	"key-name":                         instances.AttrInstanceKeyName,
	"launch-index":                     instances.AttrInstanceLaunchIndex,
	"launch-time":                      instances.AttrInstanceLaunched,
	"metadata-options.http-endpoint":   instances.AttrInstanceMetadataEndpoint,
	"metadata-options.http-tokens":     instances.AttrInstanceMetadataTokens,
	"owner-id":                         instances.AttrInstanceOwnerID,
	"placement-group-name":             instances.AttrInstancePlacementGroup,
	"platform":                         instances.AttrInstancePlatform,
	"private-dns-name":                 instances.AttrInstancePrivateDNS,
	"private-ip-address":               instances.AttrInstancePrivateIP,
	"reason":                           instances.AttrInstanceTransitionReason,
	"reservation-id":                   instances.AttrInstanceReservationID,
	"root-device-name":                 instances.AttrInstanceRootDevice,
	"root-device-type":                 instances.AttrInstanceRootDeviceType,
	"state-reason-code":                instances.AttrInstanceStateCause,
	"state-reason-message":             instances.AttrInstanceStateMessage,
	"subnet-id":                        instances.AttrInstanceSubnetID,
	"tenancy":                          instances.AttrInstanceTenancy,
	"virtualization-type":              instances.AttrInstanceVirtualization,
	"vpc-id":                           instances.AttrInstanceVpcID,
	"instance.group-id":                instances.AttrInstanceGroupID,
	"instance.group-name":              instances.AttrInstanceGroupName,
	// An instance has one network interface, with the instance's groups,
	// subnet and VPC.
	"network-interface.group-id":   instances.AttrInstanceGroupID,
	"network-interface.group-name": instances.AttrInstanceGroupName,
	"network-interface.subnet-id":  instances.AttrInstanceSubnetID,
	"network-interface.vpc-id":     instances.AttrInstanceVpcID,
	// The names from before VPCs had group ids of their own (EC2-Classic;
	// boto's 2011 changelog), which EC2 still accepts.
	"group-id":   instances.AttrInstanceGroupID,
	"group-name": instances.AttrInstanceGroupName,
}

// offeringFilterNames maps DescribeInstanceTypeOfferings' filter names to
// the rules' attributes.
var offeringFilterNames = map[string]filter.Attr{
	"location":      instances.AttrOfferingLocation,
	"instance-type": instances.AttrOfferingInstanceType,
}

// instanceTypeFilterNames maps DescribeInstanceTypes' filter names to the rules' attributes.
var instanceTypeFilterNames = map[string]filter.Attr{
	"bare-metal":                             instances.AttrTypeBareMetal,
	"instance-storage-info.disk.count":       instances.AttrTypeStoreDiskCount,
	"instance-storage-info.disk.size-in-gb":  instances.AttrTypeStoreDiskSize,
	"instance-storage-info.disk.type":        instances.AttrTypeStoreDiskType,
	"instance-storage-info.nvme-support":     instances.AttrTypeStoreNVMe,
	"instance-storage-info.total-size-in-gb": instances.AttrTypeStoreTotal,
	"burstable-performance-supported":        instances.AttrTypeBurstable,
	"current-generation":                     instances.AttrTypeCurrent,
	"free-tier-eligible":                     instances.AttrTypeFreeTier,
	"hypervisor":                             instances.AttrTypeHypervisor,
	"instance-storage-supported":             instances.AttrTypeInstanceStore,
	"instance-type":                          instances.AttrTypeName,
	"memory-info.size-in-mib":                instances.AttrTypeMemoryMiB,
	"processor-info.supported-architecture":  instances.AttrTypeArchitecture,
	"supported-boot-mode":                    instances.AttrTypeBootMode,
	"supported-root-device-type":             instances.AttrTypeRootDeviceType,
	"supported-virtualization-type":          instances.AttrTypeVirtualization,
	"vcpu-info.default-vcpus":                instances.AttrTypeVCPUs,
}

// vpcFilterNames maps DescribeVpcs' filter names to the rules' attributes.
var vpcFilterNames = map[string]filter.Attr{
	"cidr":                              network.AttrVPCCIDR,
	"cidr-block-association.cidr-block": network.AttrVPCAssociatedCIDR,
	"dhcp-options-id":                   network.AttrVPCDhcpOptionsID,
	"is-default":                        network.AttrVPCDefault,
	"owner-id":                          network.AttrVPCOwnerID,
	"state":                             network.AttrVPCState,
	"vpc-id":                            network.AttrVPCID,
	"isDefault":                         network.AttrVPCDefault,
}

// subnetFilterNames maps DescribeSubnets' filter names to the rules' attributes.
var subnetFilterNames = map[string]filter.Attr{
	"availability-zone":          network.AttrSubnetZone,
	"availability-zone-id":       network.AttrSubnetZoneID,
	"available-ip-address-count": network.AttrSubnetAvailableIPs,
	"cidr":                       network.AttrSubnetCIDR,
	"cidr-block":                 network.AttrSubnetCIDRBlock,
	"default-for-az":             network.AttrSubnetDefaultForZone,
	"map-public-ip-on-launch":    network.AttrSubnetMapPublicIP,
	"owner-id":                   network.AttrSubnetOwnerID,
	"state":                      network.AttrSubnetState,
	"subnet-id":                  network.AttrSubnetID,
	"vpc-id":                     network.AttrSubnetVpcID,
	"cidrBlock":                  network.AttrSubnetCIDRBlock,
	"defaultForAz":               network.AttrSubnetDefaultForZone,
}

// securityGroupFilterNames maps DescribeSecurityGroups' filter names to the rules' attributes.
var securityGroupFilterNames = map[string]filter.Attr{
	"description":                    network.AttrGroupDescription,
	"group-id":                       network.AttrGroupID,
	"group-name":                     network.AttrGroupName,
	"owner-id":                       network.AttrGroupOwnerID,
	"vpc-id":                         network.AttrGroupVpcID,
	"ip-permission.cidr":             network.AttrGroupIngressCIDR,
	"ip-permission.ipv6-cidr":        network.AttrGroupIngressIPv6CIDR,
	"ip-permission.from-port":        network.AttrGroupIngressFromPort,
	"ip-permission.to-port":          network.AttrGroupIngressToPort,
	"ip-permission.protocol":         network.AttrGroupIngressProtocol,
	"ip-permission.group-id":         network.AttrGroupIngressGroupID,
	"egress.ip-permission.cidr":      network.AttrGroupEgressCIDR,
	"egress.ip-permission.ipv6-cidr": network.AttrGroupEgressIPv6CIDR,
	"egress.ip-permission.from-port": network.AttrGroupEgressFromPort,
	"egress.ip-permission.to-port":   network.AttrGroupEgressToPort,
	"egress.ip-permission.protocol":  network.AttrGroupEgressProtocol,
	"egress.ip-permission.group-id":  network.AttrGroupEgressGroupID,
}

// securityGroupRuleFilterNames maps DescribeSecurityGroupRules' filter
// names to the rules' attributes.
var securityGroupRuleFilterNames = map[string]filter.Attr{
	"group-id":               network.AttrRuleGroupID,
	"security-group-rule-id": network.AttrRuleID,
}

// routeTableFilterNames maps DescribeRouteTables' filter names to the
// rules' attributes.
var routeTableFilterNames = map[string]filter.Attr{
	"route-table-id":                         network.AttrRouteTableID,
	"vpc-id":                                 network.AttrRouteTableVpcID,
	"owner-id":                               network.AttrRouteTableOwnerID,
	"association.main":                       network.AttrRouteTableMain,
	"association.route-table-association-id": network.AttrRouteTableAssociationID,
	"route.destination-cidr-block":           network.AttrRouteTableDestination,
}

// networkACLFilterNames maps DescribeNetworkAcls' filter names to the
// rules' attributes.
var networkACLFilterNames = map[string]filter.Attr{
	"network-acl-id":             network.AttrACLID,
	"vpc-id":                     network.AttrACLVpcID,
	"owner-id":                   network.AttrACLOwnerID,
	"default":                    network.AttrACLDefault,
	"association.subnet-id":      network.AttrACLSubnetID,
	"association.association-id": network.AttrACLAssociationID,
}

// networkInterfaceFilterNames maps DescribeNetworkInterfaces' filter
// names to the rules' attributes.
var networkInterfaceFilterNames = map[string]filter.Attr{
	"network-interface-id":   network.AttrInterfaceID,
	"subnet-id":              network.AttrInterfaceSubnetID,
	"vpc-id":                 network.AttrInterfaceVpcID,
	"group-id":               network.AttrInterfaceGroupID,
	"availability-zone":      network.AttrInterfaceZone,
	"attachment.instance-id": network.AttrInterfaceInstanceID,
	"private-ip-address":     network.AttrInterfaceAddress,
	"mac-address":            network.AttrInterfaceMAC,
	"owner-id":               network.AttrInterfaceOwnerID,
	"status":                 network.AttrInterfaceStatus,
	"description":            network.AttrInterfaceDesc,
	"interface-type":         network.AttrInterfaceType,
}

// tagFilterNames maps DescribeTags' filter names to the rules' attributes.
var tagFilterNames = map[string]filter.Attr{
	"key":           tagset.AttrKey,
	"value":         tagset.AttrValue,
	"resource-id":   tagset.AttrResourceID,
	"resource-type": tagset.AttrResourceType,
}

// launchTemplateFilterNames maps DescribeLaunchTemplates' filter names to
// the rules' attributes.
var launchTemplateFilterNames = map[string]filter.Attr{
	"create-time":          templates.AttrTemplateCreateTime,
	"launch-template-name": templates.AttrTemplateName,
}

// launchTemplateVersionFilterNames maps DescribeLaunchTemplateVersions'
// filter names to the rules' attributes.
var launchTemplateVersionFilterNames = map[string]filter.Attr{
	"create-time":                 templates.AttrVersionCreateTime,
	"is-default-version":          templates.AttrVersionDefault,
	"image-id":                    templates.AttrVersionImageID,
	"instance-type":               templates.AttrVersionInstanceType,
	"key-name":                    templates.AttrVersionKeyName,
	"ebs-optimized":               templates.AttrVersionEbsOptimized,
	"version-description":         templates.AttrVersionDescription,
	"disable-api-termination":     templates.AttrVersionDisableAPITerm,
	"http-tokens":                 templates.AttrVersionHttpTokens,
	"http-endpoint":               templates.AttrVersionHttpEndpoint,
	"http-put-response-hop-limit": templates.AttrVersionHopLimit,
}
