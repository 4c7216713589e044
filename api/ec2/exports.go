package ec2

import (
	"context"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/exports"
)

// Exports is what the EC2 API calls of the rules of image exports
// (*exports.Exports of rules/exports).
type Exports interface {
	ExportImage(ctx context.Context, p openami.Principal, in exports.ExportImageInput) (openami.ExportTask, error)
	DescribeExportImageTasks(ctx context.Context, p openami.Principal, ids []string, filters []filter.Filter, pg describe.Page) ([]openami.ExportTask, string, error)
	CancelExportTask(ctx context.Context, p openami.Principal, id string) error
	CreateStoreImageTask(ctx context.Context, p openami.Principal, in exports.CreateStoreImageTaskInput) (string, error)
	DescribeStoreImageTasks(ctx context.Context, p openami.Principal, imageIDs []string, filters []filter.Filter, pg describe.Page) ([]openami.ExportTask, string, error)
	CreateRestoreImageTask(ctx context.Context, p openami.Principal, in exports.CreateRestoreImageTaskInput) (string, error)
}

// SetExports serves ExportImage, DescribeExportImageTasks,
// CancelExportTask, CreateStoreImageTask, DescribeStoreImageTasks and
// CreateRestoreImageTask through x (a setter, not a New parameter, so that the
// slices that add task kinds do not all change New).
func (h *Handler) SetExports(x Exports) {
	h.exports = x
	h.actions["ExportImage"] = h.exportImage
	h.actions["DescribeExportImageTasks"] = h.describeExportImageTasks
	h.actions["CancelExportTask"] = h.cancelExportTask
	h.actions["CreateStoreImageTask"] = h.createStoreImageTask
	h.actions["DescribeStoreImageTasks"] = h.describeStoreImageTasks
	h.actions["CreateRestoreImageTask"] = h.createRestoreImageTask
}

// exportTaskFilterNames maps DescribeExportImageTasks' filter names to
// the rules' attributes.
var exportTaskFilterNames = map[string]filter.Attr{
	"task-state": exports.AttrTaskState,
}

type s3ExportLocationParam struct {
	S3Bucket string `query:"S3Bucket"`
	S3Prefix string `query:"S3Prefix"`
}

type exportImageInput struct {
	dryRunParam
	ImageID           string                `query:"ImageId,required"`
	DiskImageFormat   string                `query:"DiskImageFormat,required"`
	S3ExportLocation  s3ExportLocationParam `query:"S3ExportLocation"`
	RoleName          string                `query:"RoleName"`
	Description       string                `query:"Description"`
	ClientToken       string                `query:"ClientToken"`
	TagSpecifications []tagSpecParam        `query:"TagSpecification"`
}

type s3ExportLocationItem struct {
	S3Bucket string `xml:"s3Bucket"`
	S3Prefix string `xml:"s3Prefix,omitempty"`
}

// exportTaskFields are the elements of an export image task, in
// ExportImage's response and DescribeExportImageTasks' items.
type exportTaskFields struct {
	Description       string               `xml:"description,omitempty"`
	DiskImageFormat   string               `xml:"diskImageFormat,omitempty"`
	ExportImageTaskID string               `xml:"exportImageTaskId"`
	ImageID           string               `xml:"imageId"`
	RoleName          string               `xml:"roleName,omitempty"`
	Progress          string               `xml:"progress,omitempty"`
	S3ExportLocation  s3ExportLocationItem `xml:"s3ExportLocation"`
	Status            string               `xml:"status"`
	StatusMessage     string               `xml:"statusMessage,omitempty"`
	Tags              items[tagItem]       `xml:"tagSet"`
}

func exportTaskOf(t openami.ExportTask) exportTaskFields {
	f := exportTaskFields{Description: t.Description, DiskImageFormat: strings.ToUpper(t.Format), ExportImageTaskID: t.ID,
		ImageID: t.ImageID, RoleName: t.RoleName, S3ExportLocation: s3ExportLocationItem{S3Bucket: t.Bucket, S3Prefix: t.Prefix},
		Status: string(t.State), StatusMessage: t.StatusMessage, Tags: tagSet(t.Tags)}
	if t.State == openami.ExportActive {
		f.Progress = strconv.Itoa(t.Progress)
	}
	return f
}

type exportImageResponse struct {
	response
	exportTaskFields
}

func (h *Handler) exportImage(c *call) (responder, error) {
	var in exportImageInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceExportTask, openami.ResourceExportTask)
	if err != nil {
		return nil, err
	}
	t, err := h.exports.ExportImage(c.ctx, c.p, exports.ExportImageInput{ImageID: in.ImageID, DiskImageFormat: in.DiskImageFormat,
		S3Bucket: in.S3ExportLocation.S3Bucket, S3Prefix: in.S3ExportLocation.S3Prefix, RoleName: in.RoleName,
		Description: in.Description, ClientToken: in.ClientToken, Tags: tags})
	if err != nil {
		return nil, err
	}
	return &exportImageResponse{exportTaskFields: exportTaskOf(t)}, nil
}

type describeExportImageTasksInput struct {
	dryRunParam
	IDs        []string      `query:"ExportImageTaskId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type describeExportImageTasksResponse struct {
	response
	Tasks     items[exportTaskFields] `xml:"exportImageTaskSet"`
	NextToken string                  `xml:"nextToken,omitempty"`
}

func (h *Handler) describeExportImageTasks(c *call) (responder, error) {
	var in describeExportImageTasksInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, exportTaskFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.exports.DescribeExportImageTasks(c.ctx, c.p, in.IDs, fs, describe.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeExportImageTasksResponse{Tasks: items[exportTaskFields]{}, NextToken: next}
	for _, t := range list {
		out.Tasks = append(out.Tasks, exportTaskOf(t))
	}
	return out, nil
}

type cancelExportTaskInput struct {
	ExportTaskID string `query:"ExportTaskId,required"`
}

func (h *Handler) cancelExportTask(c *call) (responder, error) {
	var in cancelExportTaskInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.exports.CancelExportTask(c.ctx, c.p, in.ExportTaskID); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// storeTaskFilterNames maps DescribeStoreImageTasks' filter names to the
// rules' attributes.
var storeTaskFilterNames = map[string]filter.Attr{
	"task-state": exports.AttrStoreTaskState,
	"bucket":     exports.AttrStoreBucket,
}

type createStoreImageTaskInput struct {
	dryRunParam
	ImageID    string     `query:"ImageId,required"`
	Bucket     string     `query:"Bucket,required"`
	ObjectTags []tagParam `query:"S3ObjectTag"`
}

type createStoreImageTaskResponse struct {
	response
	ObjectKey string `xml:"objectKey"`
}

func (h *Handler) createStoreImageTask(c *call) (responder, error) {
	var in createStoreImageTaskInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	key, err := h.exports.CreateStoreImageTask(c.ctx, c.p, exports.CreateStoreImageTaskInput{ImageID: in.ImageID, ImageBucket: in.Bucket,
		ObjectTags: tagsOf(in.ObjectTags)})
	if err != nil {
		return nil, err
	}
	return &createStoreImageTaskResponse{ObjectKey: key}, nil
}

type describeStoreImageTasksInput struct {
	dryRunParam
	ImageIDs   []string      `query:"ImageId"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type storeTaskItem struct {
	AmiID              string `xml:"amiId"`
	Bucket             string `xml:"bucket"`
	ProgressPercentage int    `xml:"progressPercentage"`
	S3ObjectKey        string `xml:"s3objectKey"`
	FailureReason      string `xml:"storeTaskFailureReason,omitempty"`
	State              string `xml:"storeTaskState"`
	TaskStartTime      string `xml:"taskStartTime"`
}

type describeStoreImageTasksResponse struct {
	response
	Tasks     items[storeTaskItem] `xml:"storeImageTaskResultSet"`
	NextToken string               `xml:"nextToken,omitempty"`
}

func (h *Handler) describeStoreImageTasks(c *call) (responder, error) {
	var in describeStoreImageTasksInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, storeTaskFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.exports.DescribeStoreImageTasks(c.ctx, c.p, in.ImageIDs, fs, describe.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeStoreImageTasksResponse{Tasks: items[storeTaskItem]{}, NextToken: next}
	for _, t := range list {
		item := storeTaskItem{AmiID: t.ImageID, Bucket: t.Bucket, ProgressPercentage: t.Progress, S3ObjectKey: t.Key,
			State: exports.StoreState(t), TaskStartTime: timestamp(t.CreatedAt)}
		if item.State == "Failed" {
			item.FailureReason = t.StatusMessage
		}
		out.Tasks = append(out.Tasks, item)
	}
	return out, nil
}

type createRestoreImageTaskInput struct {
	dryRunParam
	Bucket            string         `query:"Bucket,required"`
	ObjectKey         string         `query:"ObjectKey,required"`
	Name              string         `query:"Name"`
	TagSpecifications []tagSpecParam `query:"TagSpecification"`
}

type createRestoreImageTaskResponse struct {
	response
	ImageID string `xml:"imageId"`
}

func (h *Handler) createRestoreImageTask(c *call) (responder, error) {
	var in createRestoreImageTaskInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceImage, openami.ResourceImage, openami.ResourceSnapshot)
	if err != nil {
		return nil, err
	}
	id, err := h.exports.CreateRestoreImageTask(c.ctx, c.p, exports.CreateRestoreImageTaskInput{ImageBucket: in.Bucket, ObjectKey: in.ObjectKey,
		Name: in.Name, Tags: tags})
	if err != nil {
		return nil, err
	}
	return &createRestoreImageTaskResponse{ImageID: id}, nil
}
