package ec2

import (
	"encoding/base64"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/instances"
)

// What instances report: DescribeInstanceStatus, GetConsoleOutput and
// GetInstanceUefiData.

type describeInstanceStatusInput struct {
	dryRunParam
	InstanceIDs         []string      `query:"InstanceId"`
	IncludeAllInstances bool          `query:"IncludeAllInstances"`
	Filters             []filterParam `query:"Filter"`
	MaxResults          int           `query:"MaxResults"`
	NextToken           string        `query:"NextToken"`
}

type statusDetailItem struct {
	Name          string `xml:"name"`
	Status        string `xml:"status"`
	ImpairedSince string `xml:"impairedSince,omitempty"`
	// Reason is openami's: why the check failed. EC2 has no such field;
	// SDKs skip it, and it shows in the raw response.
	Reason string `xml:"reason,omitempty"`
}

type statusItem struct {
	Status  string                  `xml:"status"`
	Details items[statusDetailItem] `xml:"details"`
}

type instanceStatusItem struct {
	InstanceID        string     `xml:"instanceId"`
	AvailabilityZone  string     `xml:"availabilityZone"`
	State             stateItem  `xml:"instanceState"`
	SystemStatus      statusItem `xml:"systemStatus"`
	InstanceStatus    statusItem `xml:"instanceStatus"`
	AttachedEbsStatus statusItem `xml:"attachedEbsStatus"`
}

type describeInstanceStatusResponse struct {
	response
	Statuses  items[instanceStatusItem] `xml:"instanceStatusSet"`
	NextToken string                    `xml:"nextToken,omitempty"`
}

// instanceStatusFilterNames maps DescribeInstanceStatus's filter names to
// the rules' attributes.
var instanceStatusFilterNames = map[string]filter.Attr{
	"availability-zone":                instances.AttrInstanceZone,
	"instance-state-name":              instances.AttrInstanceState,
	"instance-state-code":              instances.AttrInstanceStateCode,
	"instance-status.status":           instances.AttrStatusInstance,
	"instance-status.reachability":     instances.AttrStatusInstanceReachability,
	"system-status.status":             instances.AttrStatusSystem,
	"system-status.reachability":       instances.AttrStatusSystemReachability,
	"attached-ebs-status.status":       instances.AttrStatusEbs,
	"attached-ebs-status.reachability": instances.AttrStatusEbsReachability,
	"event.code":                       instances.AttrStatusEvent,
	"event.description":                instances.AttrStatusEvent,
	"event.instance-event-id":          instances.AttrStatusEvent,
	"event.not-after":                  instances.AttrStatusEvent,
	"event.not-before":                 instances.AttrStatusEvent,
	"event.not-before-deadline":        instances.AttrStatusEvent,
}

func (h *Handler) describeInstanceStatus(c *call) (responder, error) {
	var in describeInstanceStatusInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, instanceStatusFilterNames)
	if err != nil {
		return nil, err
	}
	list, next, err := h.instances.DescribeInstanceStatus(c.ctx, c.p, in.InstanceIDs, in.IncludeAllInstances, fs,
		instances.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeInstanceStatusResponse{NextToken: next}
	for _, i := range list {
		system := statusItem{Status: "not-applicable"}
		if st, r := i.SystemCheck(); r != "" {
			system = statusItem{Status: st, Details: items[statusDetailItem]{{Name: "reachability", Status: r}}}
		}
		out.Statuses = append(out.Statuses, instanceStatusItem{InstanceID: i.ID, AvailabilityZone: i.AvailabilityZone,
			State: stateItem{i.State.StateCode(), string(i.State)}, SystemStatus: system,
			InstanceStatus: instanceCheck(i), AttachedEbsStatus: system})
	}
	return out, nil
}

// instanceCheck is the instance status check of an instance as EC2 words
// it, with openami's reason for an impaired guest.
func instanceCheck(i instances.InstanceStatus) statusItem {
	st, r := i.InstanceCheck()
	if r == "" {
		return statusItem{Status: st}
	}
	d := statusDetailItem{Name: "reachability", Status: r}
	if i.Health.Status == openami.HealthImpaired {
		d.ImpairedSince, d.Reason = timestamp(i.Health.Since), i.Health.Reason
	}
	return statusItem{Status: st, Details: items[statusDetailItem]{d}}
}

type instanceIDInput struct {
	dryRunParam
	InstanceID string `query:"InstanceId,required"`
	Latest     bool   `query:"Latest"`
}

type getConsoleOutputResponse struct {
	response
	InstanceID string `xml:"instanceId"`
	Timestamp  string `xml:"timestamp"`
	Output     string `xml:"output"`
}

// consoleOutputLimit is what GetConsoleOutput returns at most: EC2's 64 KB
// of the most recent output.
const consoleOutputLimit = 64 << 10

func (h *Handler) getConsoleOutput(c *call) (responder, error) {
	var in instanceIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	_, text, err := h.instances.ConsoleOutput(c.ctx, c.p, in.InstanceID)
	if err != nil {
		return nil, err
	}
	if len(text) > consoleOutputLimit {
		text = text[len(text)-consoleOutputLimit:]
	}
	out := &getConsoleOutputResponse{InstanceID: in.InstanceID, Timestamp: timestamp(time.Now())}
	if len(text) > 0 {
		out.Output = base64.StdEncoding.EncodeToString(text)
	}
	return out, nil
}

type getInstanceUefiDataResponse struct {
	response
	InstanceID string `xml:"instanceId"`
	UefiData   string `xml:"uefiData"`
}

func (h *Handler) getInstanceUefiData(c *call) (responder, error) {
	var in instanceIDInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	data, err := h.instances.InstanceUefiData(c.ctx, c.p, in.InstanceID)
	if err != nil {
		return nil, err
	}
	return &getInstanceUefiDataResponse{InstanceID: in.InstanceID, UefiData: data}, nil
}
