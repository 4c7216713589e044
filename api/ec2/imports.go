package ec2

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/imports"
)

// Imports are the import tasks (rules/imports).
type Imports interface {
	ImportSnapshot(ctx context.Context, p openami.Principal, in imports.ImportSnapshotInput) (openami.ImportTask, error)
	ImportImage(ctx context.Context, p openami.Principal, in imports.ImportImageInput) (openami.ImportTask, error)
	Describe(ctx context.Context, p openami.Principal, in imports.DescribeInput) ([]openami.ImportTask, string, error)
	Cancel(ctx context.Context, p openami.Principal, id string) (string, error)
}

type userBucketParam struct {
	S3Bucket string `query:"S3Bucket"`
	S3Key    string `query:"S3Key"`
}

type diskContainerParam struct {
	Description string          `query:"Description"`
	DeviceName  string          `query:"DeviceName"`
	Format      string          `query:"Format"`
	URL         string          `query:"Url"`
	UserBucket  userBucketParam `query:"UserBucket"`
	SnapshotID  string          `query:"SnapshotId"`
}

func (d diskContainerParam) container() imports.DiskContainer {
	return imports.DiskContainer{Description: d.Description, Format: d.Format, Bucket: d.UserBucket.S3Bucket,
		Key: d.UserBucket.S3Key, URL: d.URL, DeviceName: d.DeviceName}
}

// importTags returns the tags of the tag specifications for the task
// (ResourceType import-image-task or import-snapshot-task).
func importTags(specs []tagSpecParam) []openami.Tag {
	var out []openami.Tag
	for _, s := range specs {
		if s.ResourceType == "import-image-task" || s.ResourceType == "import-snapshot-task" {
			out = append(out, tagsOf(s.Tags)...)
		}
	}
	return out
}

type userBucketDetails struct {
	S3Bucket string `xml:"s3Bucket"`
	S3Key    string `xml:"s3Key"`
}

// snapshotDetail is a disk of a task: SnapshotTaskDetail of
// ImportSnapshot, an item of snapshotDetailSet of ImportImage.
type snapshotDetail struct {
	Description   string            `xml:"description,omitempty"`
	DeviceName    string            `xml:"deviceName,omitempty"`
	DiskImageSize float64           `xml:"diskImageSize,omitempty"`
	Format        string            `xml:"format,omitempty"`
	Progress      string            `xml:"progress,omitempty"`
	SnapshotID    string            `xml:"snapshotId,omitempty"`
	Status        string            `xml:"status"`
	StatusMessage string            `xml:"statusMessage,omitempty"`
	UserBucket    userBucketDetails `xml:"userBucket"`
	Encrypted     bool              `xml:"encrypted"`
	KmsKeyID      string            `xml:"kmsKeyId,omitempty"`
}

func detailOf(t openami.ImportTask, d openami.ImportDisk) snapshotDetail {
	format := d.Detected
	if format == "" {
		format = d.Format
	}
	return snapshotDetail{Description: d.Description, DeviceName: d.DeviceName, DiskImageSize: float64(d.Size), Format: format,
		Progress: t.Progress, SnapshotID: d.SnapshotID, Status: t.Status, StatusMessage: t.StatusMessage,
		UserBucket: userBucketDetails{d.Bucket, d.Key}, Encrypted: t.Encrypted, KmsKeyID: t.KmsKeyARN}
}

// importSnapshotTask is ImportSnapshot's response and an item of
// DescribeImportSnapshotTasks'.
type importSnapshotTask struct {
	Description  string         `xml:"description,omitempty"`
	ImportTaskID string         `xml:"importTaskId"`
	Detail       snapshotDetail `xml:"snapshotTaskDetail"`
	Tags         items[tagItem] `xml:"tagSet"`
}

func importSnapshotTaskOf(t openami.ImportTask) importSnapshotTask {
	out := importSnapshotTask{Description: t.Description, ImportTaskID: t.ID, Tags: tagSet(t.Tags)}
	if len(t.Disks) > 0 {
		out.Detail = detailOf(t, t.Disks[0])
		out.Detail.DeviceName = ""
	}
	return out
}

// importImageTask is ImportImage's response and an item of
// DescribeImportImageTasks'.
type importImageTask struct {
	Architecture  string                `xml:"architecture,omitempty"`
	BootMode      string                `xml:"bootMode,omitempty"`
	Description   string                `xml:"description,omitempty"`
	Encrypted     bool                  `xml:"encrypted"`
	Hypervisor    string                `xml:"hypervisor,omitempty"`
	ImageID       string                `xml:"imageId,omitempty"`
	ImportTaskID  string                `xml:"importTaskId"`
	KmsKeyID      string                `xml:"kmsKeyId,omitempty"`
	LicenseType   string                `xml:"licenseType,omitempty"`
	Platform      string                `xml:"platform,omitempty"`
	Progress      string                `xml:"progress,omitempty"`
	Snapshots     items[snapshotDetail] `xml:"snapshotDetailSet"`
	Status        string                `xml:"status"`
	StatusMessage string                `xml:"statusMessage,omitempty"`
	Tags          items[tagItem]        `xml:"tagSet"`
}

func importImageTaskOf(t openami.ImportTask) importImageTask {
	out := importImageTask{Architecture: t.Architecture, BootMode: t.BootMode, Description: t.Description, Encrypted: t.Encrypted,
		ImageID: t.ImageID, ImportTaskID: t.ID, KmsKeyID: t.KmsKeyARN, LicenseType: t.LicenseType, Platform: t.Platform,
		Progress: t.Progress, Status: t.Status, StatusMessage: t.StatusMessage, Tags: tagSet(t.Tags)}
	for _, d := range t.Disks {
		out.Snapshots = append(out.Snapshots, detailOf(t, d))
	}
	return out
}

type importSnapshotInput struct {
	dryRunParam
	Description       string             `query:"Description"`
	DiskContainer     diskContainerParam `query:"DiskContainer"`
	Encrypted         bool               `query:"Encrypted"`
	KmsKeyID          string             `query:"KmsKeyId"`
	RoleName          string             `query:"RoleName"`
	ClientToken       string             `query:"ClientToken"`
	TagSpecifications []tagSpecParam     `query:"TagSpecification"`
}

type importSnapshotResponse struct {
	response
	importSnapshotTask
}

func (h *Handler) importSnapshot(c *call) (responder, error) {
	var in importSnapshotInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	t, err := h.imports.ImportSnapshot(c.ctx, c.p, imports.ImportSnapshotInput{Description: in.Description,
		Disk: in.DiskContainer.container(), Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID, Tags: importTags(in.TagSpecifications),
		ClientToken: in.ClientToken})
	if err != nil {
		return nil, err
	}
	return &importSnapshotResponse{importSnapshotTask: importSnapshotTaskOf(t)}, nil
}

type importImageInput struct {
	dryRunParam
	Architecture      string               `query:"Architecture"`
	BootMode          string               `query:"BootMode"`
	Description       string               `query:"Description"`
	DiskContainers    []diskContainerParam `query:"DiskContainer"`
	Encrypted         bool                 `query:"Encrypted"`
	Hypervisor        string               `query:"Hypervisor"`
	KmsKeyID          string               `query:"KmsKeyId"`
	LicenseType       string               `query:"LicenseType"`
	Platform          string               `query:"Platform"`
	RoleName          string               `query:"RoleName"`
	ClientToken       string               `query:"ClientToken"`
	UsageOperation    string               `query:"UsageOperation"`
	TagSpecifications []tagSpecParam       `query:"TagSpecification"`
}

type importImageResponse struct {
	response
	importImageTask
}

func (h *Handler) importImage(c *call) (responder, error) {
	var in importImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	disks := make([]imports.DiskContainer, len(in.DiskContainers))
	for i, d := range in.DiskContainers {
		disks[i] = d.container()
	}
	t, err := h.imports.ImportImage(c.ctx, c.p, imports.ImportImageInput{Description: in.Description, Disks: disks,
		Architecture: in.Architecture, Platform: in.Platform, BootMode: in.BootMode, LicenseType: in.LicenseType,
		Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID, Tags: importTags(in.TagSpecifications), ClientToken: in.ClientToken})
	if err != nil {
		return nil, err
	}
	return &importImageResponse{importImageTask: importImageTaskOf(t)}, nil
}

type describeImportTasksInput struct {
	dryRunParam
	ImportTaskIDs []string      `query:"ImportTaskId"`
	Filters       []filterParam `query:"Filters"`
	MaxResults    int           `query:"MaxResults"`
	NextToken     string        `query:"NextToken"`
}

type describeImportSnapshotTasksResponse struct {
	response
	Tasks     items[importSnapshotTask] `xml:"importSnapshotTaskSet"`
	NextToken string                    `xml:"nextToken,omitempty"`
}

type describeImportImageTasksResponse struct {
	response
	Tasks     items[importImageTask] `xml:"importImageTaskSet"`
	NextToken string                 `xml:"nextToken,omitempty"`
}

func (h *Handler) describeImportTasks(c *call, kind openami.ImportKind) ([]openami.ImportTask, string, error) {
	var in describeImportTasksInput
	if err := c.decode(&in); err != nil {
		return nil, "", err
	}
	var states []string
	for _, f := range in.Filters {
		if f.Name != "task-state" {
			return nil, "", openami.FieldErrorf(openami.InvalidParameter, "Filters", "The filter '%s' is invalid (task-state is the only one).", f.Name)
		}
		states = append(states, f.Values...)
	}
	return h.imports.Describe(c.ctx, c.p, imports.DescribeInput{Kind: kind, IDs: in.ImportTaskIDs, States: states,
		MaxResults: in.MaxResults, NextToken: in.NextToken})
}

func (h *Handler) describeImportSnapshotTasks(c *call) (responder, error) {
	list, next, err := h.describeImportTasks(c, openami.ImportSnapshotTask)
	if err != nil {
		return nil, err
	}
	out := &describeImportSnapshotTasksResponse{NextToken: next}
	for _, t := range list {
		out.Tasks = append(out.Tasks, importSnapshotTaskOf(t))
	}
	return out, nil
}

func (h *Handler) describeImportImageTasks(c *call) (responder, error) {
	list, next, err := h.describeImportTasks(c, openami.ImportImageTask)
	if err != nil {
		return nil, err
	}
	out := &describeImportImageTasksResponse{NextToken: next}
	for _, t := range list {
		out.Tasks = append(out.Tasks, importImageTaskOf(t))
	}
	return out, nil
}

type cancelImportTaskInput struct {
	dryRunParam
	ImportTaskID string `query:"ImportTaskId,required"`
	CancelReason string `query:"CancelReason"`
}

type cancelImportTaskResponse struct {
	response
	ImportTaskID  string `xml:"importTaskId"`
	PreviousState string `xml:"previousState"`
	State         string `xml:"state"`
}

func (h *Handler) cancelImportTask(c *call) (responder, error) {
	var in cancelImportTaskInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	prev, err := h.imports.Cancel(c.ctx, c.p, in.ImportTaskID)
	if err != nil {
		return nil, err
	}
	return &cancelImportTaskResponse{ImportTaskID: in.ImportTaskID, PreviousState: prev, State: openami.ImportDeleting}, nil
}
