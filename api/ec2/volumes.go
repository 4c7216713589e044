package ec2

import (
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/ebs"
)

type createVolumeInput struct {
	dryRunParam
	AvailabilityZone   string         `query:"AvailabilityZone"`
	AvailabilityZoneID string         `query:"AvailabilityZoneId"`
	Size               int64          `query:"Size"`
	SnapshotID         string         `query:"SnapshotId"`
	VolumeType         string         `query:"VolumeType"`
	Iops               *int           `query:"Iops"`
	Throughput         *int           `query:"Throughput"`
	Encrypted          bool           `query:"Encrypted"`
	KmsKeyID           string         `query:"KmsKeyId"`
	MultiAttachEnabled bool           `query:"MultiAttachEnabled"`
	TagSpecifications  []tagSpecParam `query:"TagSpecification"`
	ClientToken        string         `query:"ClientToken"`
	OutpostArn         string         `query:"OutpostArn"`
}

// volumeFields are a volume's elements in CreateVolume's response and in
// each item of DescribeVolumes'.
type volumeFields struct {
	VolumeID           string                `xml:"volumeId"`
	Size               int64                 `xml:"size"`
	SnapshotID         string                `xml:"snapshotId"`
	AvailabilityZone   string                `xml:"availabilityZone"`
	Status             string                `xml:"status"`
	CreateTime         string                `xml:"createTime"`
	Attachments        items[attachmentItem] `xml:"attachmentSet"`
	Tags               items[tagItem]        `xml:"tagSet,omitempty"` // EC2 omits an untagged volume's tagSet
	VolumeType         string                `xml:"volumeType"`
	Iops               int                   `xml:"iops,omitempty"`
	Throughput         int                   `xml:"throughput,omitempty"`
	Encrypted          bool                  `xml:"encrypted"`
	KmsKeyID           string                `xml:"kmsKeyId,omitempty"`
	MultiAttachEnabled bool                  `xml:"multiAttachEnabled"`
}

// attachmentItem is a volume's attachment, in DescribeVolumes' answer
// and as AttachVolume and DetachVolume answer.
type attachmentItem struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

func volumeOf(v ebs.VolumeView) volumeFields {
	out := volumeFields{
		VolumeID: v.ID, Size: v.Size, SnapshotID: v.SnapshotID, AvailabilityZone: v.AvailabilityZone,
		Status: string(v.State), CreateTime: timestamp(v.CreatedAt), Tags: tagSet(v.Tags), VolumeType: v.Type,
		Iops: v.Iops, Throughput: v.Throughput, Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID,
		MultiAttachEnabled: v.MultiAttach,
	}
	if v.InstanceID != "" {
		out.Attachments = items[attachmentItem]{{VolumeID: v.ID, InstanceID: v.InstanceID, Device: v.Device,
			Status: "attached", AttachTime: timestamp(v.AttachTime), DeleteOnTermination: v.DeleteOnTermination}}
	}
	return out
}

type attachVolumeInput struct {
	dryRunParam
	VolumeID   string `query:"VolumeId,required"`
	InstanceID string `query:"InstanceId"`
	Device     string `query:"Device"`
	Force      bool   `query:"Force"`
}

type attachmentResponse struct {
	response
	attachmentItem
}

func (h *Handler) attachVolume(c *call) (responder, error) {
	var in attachVolumeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.InstanceID == "" || in.Device == "" {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameters InstanceId and Device")
	}
	a, err := h.instances.AttachVolume(c.ctx, c.p, in.VolumeID, in.InstanceID, in.Device)
	if err != nil {
		return nil, err
	}
	return &attachmentResponse{attachmentItem: attachmentItem{VolumeID: a.VolumeID, InstanceID: a.InstanceID, Device: a.Device,
		Status: a.State, AttachTime: timestamp(a.AttachTime)}}, nil
}

func (h *Handler) detachVolume(c *call) (responder, error) {
	var in attachVolumeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	a, err := h.instances.DetachVolume(c.ctx, c.p, in.VolumeID, in.InstanceID, in.Device)
	if err != nil {
		return nil, err
	}
	return &attachmentResponse{attachmentItem: attachmentItem{VolumeID: a.VolumeID, InstanceID: a.InstanceID, Device: a.Device,
		Status: a.State, AttachTime: timestamp(a.AttachTime)}}, nil
}

type createVolumeResponse struct {
	response
	volumeFields
}

func (h *Handler) createVolume(c *call) (responder, error) {
	var in createVolumeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceVolume, openami.ResourceVolume)
	if err != nil {
		return nil, err
	}
	v, err := h.ebs.CreateVolume(c.ctx, c.p, ebs.CreateVolumeInput{
		AvailabilityZone: in.AvailabilityZone, AvailabilityZoneID: in.AvailabilityZoneID, Size: in.Size, SnapshotID: in.SnapshotID, Type: in.VolumeType,
		Iops: in.Iops, Throughput: in.Throughput, MultiAttach: in.MultiAttachEnabled,
		Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID, Tags: tags, ClientToken: in.ClientToken,
	})
	if err != nil {
		return nil, err
	}
	return &createVolumeResponse{volumeFields: volumeOf(v)}, nil
}

type describeVolumesInput struct {
	dryRunParam
	VolumeIDs  []string      `query:"VolumeId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type describeVolumesResponse struct {
	response
	Volumes   items[volumeFields] `xml:"volumeSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

func (h *Handler) describeVolumes(c *call) (responder, error) {
	var in describeVolumesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, volumeFilterNames)
	if err != nil {
		return nil, err
	}
	vols, next, err := h.ebs.DescribeVolumes(c.ctx, c.p, in.VolumeIDs, fs, ebs.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeVolumesResponse{NextToken: next}
	for _, v := range vols {
		out.Volumes = append(out.Volumes, volumeOf(v))
	}
	return out, nil
}

type volumeIDInput struct {
	dryRunParam
	VolumeID string `query:"VolumeId,required"`
}

func (h *Handler) deleteVolume(c *call) (responder, error) {
	var in volumeIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.ebs.DeleteVolume(c.ctx, c.p, in.VolumeID); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type modifyVolumeInput struct {
	dryRunParam
	VolumeID           string  `query:"VolumeId,required"`
	Size               *int64  `query:"Size"`
	VolumeType         *string `query:"VolumeType"`
	Iops               *int    `query:"Iops"`
	Throughput         *int    `query:"Throughput"`
	MultiAttachEnabled *bool   `query:"MultiAttachEnabled"`
}

type volumeModification struct {
	VolumeID           string `xml:"volumeId"`
	ModificationState  string `xml:"modificationState"`
	TargetSize         int64  `xml:"targetSize"`
	TargetIops         int    `xml:"targetIops,omitempty"`
	TargetVolumeType   string `xml:"targetVolumeType"`
	TargetThroughput   int    `xml:"targetThroughput,omitempty"`
	OriginalSize       int64  `xml:"originalSize"`
	OriginalIops       int    `xml:"originalIops,omitempty"`
	OriginalVolumeType string `xml:"originalVolumeType"`
	OriginalThroughput int    `xml:"originalThroughput,omitempty"`
	Progress           int    `xml:"progress"`
	StartTime          string `xml:"startTime"`
	EndTime            string `xml:"endTime"`
}

type modifyVolumeResponse struct {
	response
	Modification volumeModification `xml:"volumeModification"`
}

func (h *Handler) modifyVolume(c *call) (responder, error) {
	var in modifyVolumeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.MultiAttachEnabled != nil {
		return nil, openami.Errorf(openami.Unsupported, "", "Changing Multi-Attach is not supported.")
	}
	before, after, err := h.ebs.ModifyVolume(c.ctx, c.p, ebs.ModifyVolumeInput{
		VolumeID: in.VolumeID, Size: in.Size, Type: in.VolumeType, Iops: in.Iops, Throughput: in.Throughput,
	})
	if err != nil {
		return nil, err
	}
	now := timestamp(time.Now())
	return &modifyVolumeResponse{Modification: volumeModification{
		VolumeID: after.ID, ModificationState: "completed",
		TargetSize: after.Size, TargetIops: after.Iops, TargetVolumeType: after.Type, TargetThroughput: after.Throughput,
		OriginalSize: before.Size, OriginalIops: before.Iops, OriginalVolumeType: before.Type, OriginalThroughput: before.Throughput,
		Progress: 100, StartTime: now, EndTime: now,
	}}, nil
}
