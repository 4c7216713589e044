package ec2

import (
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// BundleInstance, DescribeBundleTasks and CancelBundleTask
// (rules/instances/bundletasks.go; docs/BUNDLES.md "BundleInstance").

type bundleInstanceInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
	Storage    struct {
		S3 struct {
			Bucket                string `query:"Bucket"`
			Prefix                string `query:"Prefix"`
			AWSAccessKeyID        string `query:"AWSAccessKeyId"`
			UploadPolicy          string `query:"UploadPolicy"`
			UploadPolicySignature string `query:"UploadPolicySignature"`
		} `query:"S3"`
	} `query:"Storage"`
}

type bundleS3Item struct {
	Bucket       string `xml:"bucket"`
	Prefix       string `xml:"prefix"`
	AccessKeyID  string `xml:"AWSAccessKeyId,omitempty"`
	UploadPolicy string `xml:"uploadPolicy,omitempty"`
}

type bundleErrorItem struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

// bundleTaskItem is EC2's BundleTask.
type bundleTaskItem struct {
	InstanceID string `xml:"instanceId"`
	BundleID   string `xml:"bundleId"`
	State      string `xml:"state"`
	StartTime  string `xml:"startTime"`
	UpdateTime string `xml:"updateTime"`
	Storage    struct {
		S3 bundleS3Item `xml:"S3"`
	} `xml:"storage"`
	Progress string           `xml:"progress"`
	Error    *bundleErrorItem `xml:"error,omitempty"`
}

// bundleTaskOf writes a task as EC2 does. A cancelled task is failed with
// the error Client.Cancelled; one that failed, with InternalError and the
// rules' sentence.
func bundleTaskOf(t openami.BundleTask) bundleTaskItem {
	item := bundleTaskItem{InstanceID: t.InstanceID, BundleID: t.ID, State: string(t.State),
		StartTime: timestamp(t.StartTime), UpdateTime: timestamp(t.UpdateTime), Progress: fmt.Sprintf("%d%%", t.Progress)}
	item.Storage.S3 = bundleS3Item{Bucket: t.Bucket, Prefix: t.Prefix}
	switch {
	case t.State == openami.BundleFailed && t.Cancelled:
		item.Error = &bundleErrorItem{Code: "Client.Cancelled", Message: "The bundle task was cancelled."}
	case t.State == openami.BundleFailed:
		item.Error = &bundleErrorItem{Code: "InternalError", Message: t.Failure}
	}
	return item
}

type bundleTaskResponse struct {
	response
	Task bundleTaskItem `xml:"bundleInstanceTask"`
}

func (h *Handler) bundleInstance(c *call) (responder, error) {
	var in bundleInstanceInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	s3 := in.Storage.S3
	t, err := h.instances.BundleInstance(c.ctx, c.p, instances.BundleInstanceInput{
		InstanceID: in.InstanceID, Bucket: s3.Bucket, Prefix: s3.Prefix,
		AccessKeyID: s3.AWSAccessKeyID, UploadPolicy: s3.UploadPolicy, UploadPolicySignature: s3.UploadPolicySignature,
	})
	if err != nil {
		return nil, err
	}
	out := &bundleTaskResponse{Task: bundleTaskOf(t)}
	out.Task.Storage.S3.AccessKeyID, out.Task.Storage.S3.UploadPolicy = s3.AWSAccessKeyID, s3.UploadPolicy
	return out, nil
}

type describeBundleTasksInput struct {
	dryRunParam
	BundleIDs []string      `query:"BundleId"`
	Filters   []filterParam `query:"Filter"`
}

type describeBundleTasksResponse struct {
	response
	Tasks items[bundleTaskItem] `xml:"bundleInstanceTasksSet"`
}

func (h *Handler) describeBundleTasks(c *call) (responder, error) {
	var in describeBundleTasksInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, bundleTaskFilterNames)
	if err != nil {
		return nil, err
	}
	tasks, err := h.instances.DescribeBundleTasks(c.ctx, c.p, in.BundleIDs, fs)
	if err != nil {
		return nil, err
	}
	out := &describeBundleTasksResponse{}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, bundleTaskOf(t))
	}
	return out, nil
}

type cancelBundleTaskInput struct {
	dryRunParam
	BundleID string `query:"BundleId,required"`
}

func (h *Handler) cancelBundleTask(c *call) (responder, error) {
	var in cancelBundleTaskInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	t, err := h.instances.CancelBundleTask(c.ctx, c.p, in.BundleID)
	if err != nil {
		return nil, err
	}
	return &bundleTaskResponse{Task: bundleTaskOf(t)}, nil
}
