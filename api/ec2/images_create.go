package ec2

import (
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

type createImageInput struct {
	dryRunParam
	InstanceID          string            `query:"InstanceId,required"`
	Name                string            `query:"Name,required"`
	Description         string            `query:"Description"`
	NoReboot            bool              `query:"NoReboot"`
	BlockDeviceMappings []runMappingParam `query:"BlockDeviceMapping"`
	TagSpecifications   []tagSpecParam    `query:"TagSpecification"`
	SnapshotLocation    string            `query:"SnapshotLocation"`
}

// overridesOf turns request mappings into the service's overrides.
func overridesOf(in []runMappingParam) []instances.MappingOverride {
	var out []instances.MappingOverride
	for _, m := range in {
		o := instances.MappingOverride{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice != nil}
		if e := m.Ebs; e != nil {
			o.Ebs = &instances.EbsOverride{SnapshotID: e.SnapshotID, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
				Iops: e.Iops, Throughput: e.Throughput, DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID}
		}
		out = append(out, o)
	}
	return out
}

func (h *Handler) createImage(c *call) (responder, error) {
	var in createImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.SnapshotLocation != "" && in.SnapshotLocation != "regional" {
		return nil, errInvalidValue("SnapshotLocation", in.SnapshotLocation)
	}
	specs := tagSpecs(in.TagSpecifications)
	imgTags, err := tagset.For(specs, openami.ResourceImage, openami.ResourceImage, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	snapTags, err := tagset.For(specs, openami.ResourceSnapshot, openami.ResourceImage, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	id, err := h.instances.CreateImage(c.ctx, c.p, instances.CreateImageInput{
		InstanceID: in.InstanceID, Name: in.Name, Description: in.Description, NoReboot: in.NoReboot,
		BlockDeviceMappings: overridesOf(in.BlockDeviceMappings), ImageTags: imgTags, SnapshotTags: snapTags,
	})
	if err != nil {
		return nil, err
	}
	return &imageIDResponse{ImageID: id}, nil
}

type createSnapshotsInput struct {
	dryRunParam
	InstanceSpecification struct {
		InstanceID           string   `query:"InstanceId"`
		ExcludeBootVolume    bool     `query:"ExcludeBootVolume"`
		ExcludeDataVolumeIDs []string `query:"ExcludeDataVolumeId"`
	} `query:"InstanceSpecification"`
	Description        string         `query:"Description"`
	TagSpecifications  []tagSpecParam `query:"TagSpecification"`
	CopyTagsFromSource string         `query:"CopyTagsFromSource"`
	OutpostArn         string         `query:"OutpostArn"`
	Location           string         `query:"Location"`
}

type snapshotInfoItem struct {
	Description string         `xml:"description"`
	Tags        items[tagItem] `xml:"tagSet"`
	Encrypted   bool           `xml:"encrypted"`
	VolumeID    string         `xml:"volumeId"`
	State       string         `xml:"state"`
	VolumeSize  int64          `xml:"volumeSize"`
	StartTime   string         `xml:"startTime"`
	Progress    string         `xml:"progress"`
	OwnerID     string         `xml:"ownerId"`
	SnapshotID  string         `xml:"snapshotId"`
}

type createSnapshotsResponse struct {
	response
	Snapshots items[snapshotInfoItem] `xml:"snapshotSet"`
}

func (h *Handler) createSnapshots(c *call) (responder, error) {
	var in createSnapshotsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.InstanceSpecification.InstanceID == "" {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter InstanceSpecification.InstanceId")
	}
	if in.CopyTagsFromSource != "" && in.CopyTagsFromSource != "volume" {
		return nil, errInvalidValue("CopyTagsFromSource", in.CopyTagsFromSource)
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSnapshot, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	snaps, err := h.instances.CreateSnapshots(c.ctx, c.p, instances.CreateSnapshotsInput{
		InstanceID: in.InstanceSpecification.InstanceID, ExcludeBootVolume: in.InstanceSpecification.ExcludeBootVolume,
		ExcludeDataVolumeIDs: in.InstanceSpecification.ExcludeDataVolumeIDs, Description: in.Description, Tags: tags,
		CopyTagsFromSource: in.CopyTagsFromSource == "volume",
	})
	if err != nil {
		return nil, err
	}
	out := &createSnapshotsResponse{}
	for _, s := range snaps {
		out.Snapshots = append(out.Snapshots, snapshotInfoItem{Description: s.Description, Tags: tagSet(s.Tags), Encrypted: s.Encrypted,
			VolumeID: s.VolumeID, State: string(s.State), VolumeSize: s.VolumeSize, StartTime: timestamp(s.StartTime),
			Progress: strconv.Itoa(s.Progress) + "%", OwnerID: s.AccountID, SnapshotID: s.ID})
	}
	return out, nil
}

type copyImageInput struct {
	dryRunParam
	SourceImageID                         string         `query:"SourceImageId,required"`
	SourceRegion                          string         `query:"SourceRegion,required"`
	Name                                  string         `query:"Name,required"`
	Description                           string         `query:"Description"`
	Encrypted                             bool           `query:"Encrypted"`
	KmsKeyID                              string         `query:"KmsKeyId"`
	CopyImageTags                         bool           `query:"CopyImageTags"`
	TagSpecifications                     []tagSpecParam `query:"TagSpecification"`
	ClientToken                           string         `query:"ClientToken"`
	DestinationOutpostArn                 string         `query:"DestinationOutpostArn"`
	SnapshotCopyCompletionDurationMinutes int            `query:"SnapshotCopyCompletionDurationMinutes"`
}

func (h *Handler) copyImage(c *call) (responder, error) {
	var in copyImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceImage, openami.ResourceImage)
	if err != nil {
		return nil, err
	}
	id, err := h.images.CopyImage(c.ctx, c.p, images.CopyImageInput{
		SourceImageID: in.SourceImageID, SourceRegion: in.SourceRegion, Name: in.Name, Description: in.Description,
		Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID, CopyImageTags: in.CopyImageTags, Tags: tags, ClientToken: in.ClientToken,
	})
	if err != nil {
		return nil, err
	}
	return &imageIDResponse{ImageID: id}, nil
}
