package instances

import (
	"context"
	"encoding/base64"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/templates"
)

// The tags EC2 puts on an instance launched from a launch template.
const (
	TagTemplateID      = "aws:ec2launchtemplate:id"
	TagTemplateVersion = "aws:ec2launchtemplate:version"
)

// withTemplate returns in with the data of the launch template version
// it names beneath it: every parameter in gives stays, every one it
// leaves out comes from the template, as RunInstances does on EC2. The
// instances are tagged with the template's id and version. The template
// is read in its own transaction: a launch that starts as the template
// changes launches from the version it read.
func (s *Machines) withTemplate(ctx context.Context, p openami.Principal, in RunInstancesInput) (RunInstancesInput, error) {
	var l templates.Launch
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		l, err = s.templates.Resolve(tx, p, *in.LaunchTemplate)
		return err
	})
	if err != nil {
		return in, err
	}
	d := l.Data
	if d.Monitoring != nil && *d.Monitoring {
		in.Monitoring = true
	}
	str := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	str(&in.ImageID, d.ImageID)
	str(&in.InstanceType, d.InstanceType)
	str(&in.KeyName, d.KeyName)
	str(&in.AvailabilityZone, d.AvailabilityZone)
	str(&in.InstanceInitiatedShutdownBehavior, d.InstanceInitiatedShutdownBehavior)
	str(&in.CPUCredits, d.CPUCredits)
	if in.UserData == nil && d.UserData != "" {
		if in.UserData, err = base64.StdEncoding.DecodeString(d.UserData); err != nil {
			return in, openami.Errorf(openami.InvalidParameter, "", "Invalid BASE64 encoding of user data.")
		}
	}
	// The network: the request's subnet and groups, or the template's
	// (its primary interface's, then its own groups).
	groups := len(in.SecurityGroupIDs) > 0 || len(in.SecurityGroups) > 0
	for _, ni := range d.NetworkInterfaces {
		if ni.DeviceIndex != 0 {
			continue
		}
		str(&in.SubnetID, ni.SubnetID)
		str(&in.PrivateIPAddress, ni.PrivateIPAddress)
		if !groups {
			in.SecurityGroupIDs = append(in.SecurityGroupIDs, ni.Groups...)
		}
	}
	if !groups {
		in.SecurityGroupIDs = append(in.SecurityGroupIDs, d.SecurityGroupIDs...)
		in.SecurityGroups = append(in.SecurityGroups, d.SecurityGroups...)
	}
	if in.BlockDeviceMappings == nil {
		in.BlockDeviceMappings = mappingsOf(d.BlockDeviceMappings)
	}
	if m := d.MetadataOptions; m != nil {
		str(&in.MetadataOptions.HttpTokens, m.HttpTokens)
		str(&in.MetadataOptions.HttpEndpoint, m.HttpEndpoint)
		str(&in.MetadataOptions.InstanceMetadataTags, m.InstanceMetadataTags)
		if in.MetadataOptions.HttpPutResponseHopLimit == 0 {
			in.MetadataOptions.HttpPutResponseHopLimit = m.HttpPutResponseHopLimit
		}
	}
	// A flag the request does not give (Given) takes the template's.
	for _, b := range []struct {
		dst   *bool
		given bool
		v     *bool
	}{
		{&in.EbsOptimized, in.Given.EbsOptimized, d.EbsOptimized},
		{&in.DisableAPITermination, in.Given.DisableAPITermination, d.DisableAPITermination},
		{&in.DisableAPIStop, in.Given.DisableAPIStop, d.DisableAPIStop},
	} {
		if !b.given && !*b.dst && b.v != nil {
			*b.dst = *b.v
		}
	}
	// Tags: the template's under the request's, key by key.
	for _, ts := range d.TagSpecifications {
		switch ts.ResourceType {
		case openami.ResourceInstance:
			in.InstanceTags = mergeTags(ts.Tags, in.InstanceTags)
		case openami.ResourceVolume:
			in.VolumeTags = mergeTags(ts.Tags, in.VolumeTags)
		}
	}
	in.templateTags = []openami.Tag{
		{Key: TagTemplateID, Value: l.Template.ID},
		{Key: TagTemplateVersion, Value: strconv.FormatInt(l.Version, 10)},
	}
	return in, nil
}

// mappingsOf returns a template's block device mappings as RunInstances'
// (nil for none).
func mappingsOf(ms []openami.LaunchTemplateMapping) []MappingOverride {
	var out []MappingOverride
	for _, m := range ms {
		o := MappingOverride{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice}
		if e := m.Ebs; e != nil {
			o.Ebs = &EbsOverride{SnapshotID: e.SnapshotID, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType, Iops: e.Iops,
				Throughput: e.Throughput, DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID}
		}
		out = append(out, o)
	}
	return out
}

// GetLaunchTemplateData returns the launch parameters of the caller's
// instance as a launch template's data, for a template that launches
// instances like it: its image, type, key, network, block devices (each
// volume's size, type and DeleteOnTermination), user data, metadata
// options, placement, flags and tags.
func (s *Machines) GetLaunchTemplateData(ctx context.Context, p openami.Principal, instanceID string) (openami.LaunchTemplateData, error) {
	var (
		d    openami.LaunchTemplateData
		inst openami.Instance
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if inst, err = ownedInstance(tx, p, instanceID); err != nil {
			return err
		}
		d = openami.LaunchTemplateData{}
		for _, b := range inst.BlockDevices {
			v, err := s.ebs.Volume(tx, p.Region, b.VolumeID)
			if err != nil {
				return err
			}
			del, enc := b.DeleteOnTermination, v.Encrypted
			e := &openami.LaunchTemplateEbs{VolumeSize: v.Size, VolumeType: v.Type, SnapshotID: v.SnapshotID,
				DeleteOnTermination: &del, Encrypted: &enc}
			if v.Iops > 0 {
				iops := v.Iops
				e.Iops = &iops
			}
			if v.Throughput > 0 {
				tp := v.Throughput
				e.Throughput = &tp
			}
			d.BlockDeviceMappings = append(d.BlockDeviceMappings, openami.LaunchTemplateMapping{DeviceName: b.DeviceName, Ebs: e})
		}
		tags, err := tx.Tags().Of(p.Region, p.AccountID, []string{inst.ID})
		if err != nil {
			return err
		}
		var own []openami.Tag
		for _, t := range tags[inst.ID] {
			if t.Key != TagTemplateID && t.Key != TagTemplateVersion {
				own = append(own, t)
			}
		}
		if len(own) > 0 {
			d.TagSpecifications = []openami.LaunchTemplateTagSpec{{ResourceType: openami.ResourceInstance, Tags: own}}
		}
		return nil
	})
	if err != nil {
		return openami.LaunchTemplateData{}, err
	}
	if inst, err = s.withUserData(inst); err != nil {
		return openami.LaunchTemplateData{}, err
	}
	ebsOpt, noTerm, noStop, monitoring := inst.EbsOptimized, inst.DisableAPITermination, inst.DisableAPIStop, inst.Monitored
	meta := inst.MetadataOptions
	d.ImageID, d.InstanceType, d.KeyName = inst.ImageID, inst.InstanceType, inst.KeyName
	d.AvailabilityZone = inst.AvailabilityZone
	d.NetworkInterfaces = []openami.LaunchTemplateNetworkInterface{{DeviceIndex: 0, SubnetID: inst.SubnetID,
		Groups: inst.SecurityGroupIDs, PrivateIPAddress: inst.PrivateIP}}
	if inst.UserData != nil {
		d.UserData = base64.StdEncoding.EncodeToString(inst.UserData)
	}
	d.MetadataOptions = &meta
	d.EbsOptimized, d.DisableAPITermination, d.DisableAPIStop, d.Monitoring = &ebsOpt, &noTerm, &noStop, &monitoring
	d.InstanceInitiatedShutdownBehavior = inst.InstanceInitiatedShutdownBehavior
	d.CPUCredits = inst.CPUCredits
	return d, nil
}
