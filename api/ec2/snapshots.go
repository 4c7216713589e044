package ec2

import (
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/ebs"
)

// snapshotFields are a snapshot's elements in CreateSnapshot's response
// and in each item of DescribeSnapshots'.
type snapshotFields struct {
	SnapshotID   string         `xml:"snapshotId"`
	VolumeID     string         `xml:"volumeId"`
	Status       string         `xml:"status"`
	StateMessage string         `xml:"statusMessage,omitempty"`
	StartTime    string         `xml:"startTime"`
	Progress     string         `xml:"progress"`
	OwnerID      string         `xml:"ownerId"`
	VolumeSize   int64          `xml:"volumeSize"`
	Description  string         `xml:"description"`
	Encrypted    bool           `xml:"encrypted"`
	KmsKeyID     string         `xml:"kmsKeyId,omitempty"`
	Tags         items[tagItem] `xml:"tagSet"`
	StorageTier  string         `xml:"storageTier"`
	// RestoreExpiryTime is when a temporarily restored snapshot goes
	// back to the archive; omitted for any other.
	RestoreExpiryTime string `xml:"restoreExpiryTime,omitempty"`
}

func snapshotOf(s ebs.SnapshotView) snapshotFields {
	return snapshotFields{
		SnapshotID: s.ID, VolumeID: s.VolumeID, Status: string(s.State), StateMessage: s.StateReason,
		StartTime: timestamp(s.StartTime), Progress: strconv.Itoa(s.Progress) + "%", OwnerID: s.AccountID,
		VolumeSize: s.VolumeSize, Description: s.Description, Encrypted: s.Encrypted, KmsKeyID: s.KmsKeyID,
		Tags: tagSet(s.Tags), StorageTier: string(s.Tiering.Tier()), RestoreExpiryTime: optionalTime(ebs.RestoreExpiry(s.Snapshot)),
	}
}

type createSnapshotInput struct {
	dryRunParam
	VolumeID          string         `query:"VolumeId,required"`
	Description       string         `query:"Description"`
	TagSpecifications []tagSpecParam `query:"TagSpecification"`
	OutpostArn        string         `query:"OutpostArn"`
	Location          string         `query:"Location"`
}

type createSnapshotResponse struct {
	response
	snapshotFields
}

func (h *Handler) createSnapshot(c *call) (responder, error) {
	var in createSnapshotInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSnapshot, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	snap, err := h.ebs.CreateSnapshot(c.ctx, c.p, in.VolumeID, in.Description, tags)
	if err != nil {
		return nil, err
	}
	return &createSnapshotResponse{snapshotFields: snapshotOf(snap)}, nil
}

type describeSnapshotsInput struct {
	dryRunParam
	SnapshotIDs  []string      `query:"SnapshotId"`
	OwnerIDs     []string      `query:"Owner"`
	RestorableBy []string      `query:"RestorableBy"`
	Filters      []filterParam `query:"Filter"`
	MaxResults   int           `query:"MaxResults"`
	NextToken    string        `query:"NextToken"`
}

type describeSnapshotsResponse struct {
	response
	Snapshots items[snapshotFields] `xml:"snapshotSet"`
	NextToken string                `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSnapshots(c *call) (responder, error) {
	var in describeSnapshotsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, snapshotFilterNames)
	if err != nil {
		return nil, err
	}
	snaps, next, err := h.ebs.DescribeSnapshots(c.ctx, c.p, ebs.DescribeSnapshotsInput{
		SnapshotIDs: in.SnapshotIDs, OwnerIDs: in.OwnerIDs, RestorableBy: in.RestorableBy,
		Filters: fs, Page: ebs.Page{MaxResults: in.MaxResults, NextToken: in.NextToken},
	})
	if err != nil {
		return nil, err
	}
	out := &describeSnapshotsResponse{NextToken: next}
	for _, s := range snaps {
		out.Snapshots = append(out.Snapshots, snapshotOf(s))
	}
	return out, nil
}

type snapshotIDInput struct {
	dryRunParam
	SnapshotID string `query:"SnapshotId,required"`
}

func (h *Handler) deleteSnapshot(c *call) (responder, error) {
	var in snapshotIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.ebs.DeleteSnapshot(c.ctx, c.p, in.SnapshotID); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type copySnapshotInput struct {
	dryRunParam
	SourceSnapshotID      string         `query:"SourceSnapshotId,required"`
	SourceRegion          string         `query:"SourceRegion,required"`
	Description           string         `query:"Description"`
	Encrypted             bool           `query:"Encrypted"`
	KmsKeyID              string         `query:"KmsKeyId"`
	PresignedURL          string         `query:"PresignedUrl"`
	DestinationRegion     string         `query:"DestinationRegion"`
	TagSpecifications     []tagSpecParam `query:"TagSpecification"`
	CompletionMinutes     int            `query:"CompletionDurationMinutes"`
	DestinationAZ         string         `query:"DestinationAvailabilityZone"`
	DestinationOutpostArn string         `query:"DestinationOutpostArn"`
}

type copySnapshotResponse struct {
	response
	SnapshotID string         `xml:"snapshotId"`
	Tags       items[tagItem] `xml:"tagSet,omitempty"` // omitted when untagged, as EC2 does
}

func (h *Handler) copySnapshot(c *call) (responder, error) {
	var in copySnapshotInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSnapshot, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	snap, err := h.ebs.CopySnapshot(c.ctx, c.p, ebs.CopySnapshotInput{
		SourceSnapshotID: in.SourceSnapshotID, SourceRegion: in.SourceRegion, Description: in.Description,
		Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return &copySnapshotResponse{SnapshotID: snap.ID, Tags: tagSet(snap.Tags)}, nil
}

type snapshotAttributeInput struct {
	dryRunParam
	SnapshotID string `query:"SnapshotId,required"`
	Attribute  string `query:"Attribute,required"`
}

type permissionItem struct {
	UserID string `xml:"userId,omitempty"`
	Group  string `xml:"group,omitempty"`
}

type describeSnapshotAttributeResponse struct {
	response
	SnapshotID  string                 `xml:"snapshotId"`
	Permissions *items[permissionItem] `xml:"createVolumePermission"`
	Products    *items[struct{}]       `xml:"productCodes"`
}

func (h *Handler) describeSnapshotAttribute(c *call) (responder, error) {
	var in snapshotAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	perms, err := h.ebs.DescribeSnapshotAttribute(c.ctx, c.p, in.SnapshotID, in.Attribute)
	if err != nil {
		return nil, err
	}
	out := &describeSnapshotAttributeResponse{SnapshotID: in.SnapshotID}
	if in.Attribute == "productCodes" {
		out.Products = &items[struct{}]{}
		return out, nil
	}
	list := items[permissionItem]{}
	for _, p := range perms {
		list = append(list, permissionItem{UserID: p.AccountID, Group: p.Group})
	}
	out.Permissions = &list
	return out, nil
}

// permissionParam is a CreateVolumePermission.Add.N / Remove.N entry.
type permissionParam struct {
	UserID string `query:"UserId"`
	Group  string `query:"Group"`
}

type modifySnapshotAttributeInput struct {
	dryRunParam
	SnapshotID             string `query:"SnapshotId,required"`
	Attribute              string `query:"Attribute"`
	CreateVolumePermission struct {
		Add    []permissionParam `query:"Add"`
		Remove []permissionParam `query:"Remove"`
	} `query:"CreateVolumePermission"`
	// The older form: OperationType with UserId.N and UserGroup.N.
	OperationType string   `query:"OperationType"`
	UserIDs       []string `query:"UserId"`
	GroupNames    []string `query:"UserGroup"`
}

func permissionsOf(in []permissionParam) []ebs.Permission {
	out := make([]ebs.Permission, len(in))
	for i, p := range in {
		out[i] = ebs.Permission{AccountID: p.UserID, Group: p.Group}
	}
	return out
}

func (h *Handler) modifySnapshotAttribute(c *call) (responder, error) {
	var in modifySnapshotAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.Attribute != "" && in.Attribute != "createVolumePermission" {
		return nil, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter attribute is invalid. Only createVolumePermission can be modified.", in.Attribute)
	}
	add := permissionsOf(in.CreateVolumePermission.Add)
	remove := permissionsOf(in.CreateVolumePermission.Remove)
	var legacy []ebs.Permission
	for _, u := range in.UserIDs {
		legacy = append(legacy, ebs.Permission{AccountID: u})
	}
	for _, g := range in.GroupNames {
		legacy = append(legacy, ebs.Permission{Group: g})
	}
	switch in.OperationType {
	case "add":
		add = append(add, legacy...)
	case "remove":
		remove = append(remove, legacy...)
	case "":
		if len(legacy) > 0 {
			return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter OperationType")
		}
	default:
		return nil, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter operationType is invalid. Valid values: add, remove.", in.OperationType)
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter CreateVolumePermission")
	}
	if err := h.ebs.ModifySnapshotAttribute(c.ctx, c.p, in.SnapshotID, add, remove); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

func (h *Handler) resetSnapshotAttribute(c *call) (responder, error) {
	var in snapshotAttributeInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.ebs.ResetSnapshotAttribute(c.ctx, c.p, in.SnapshotID, in.Attribute); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
