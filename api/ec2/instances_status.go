package ec2

import (
	"encoding/base64"
	"time"

	"github.com/openami/openami"
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
	Statuses items[instanceStatusItem] `xml:"instanceStatusSet"`
}

func (h *Handler) describeInstanceStatus(c *call) (responder, error) {
	var in describeInstanceStatusInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 {
		return nil, openami.Errorf(openami.Unsupported, "", "DescribeInstanceStatus filters are not supported.")
	}
	list, err := h.instances.InstanceStatuses(c.ctx, c.p, in.InstanceIDs, in.IncludeAllInstances)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceStatusResponse{}
	for _, i := range list {
		status := func(check string) statusItem {
			if i.State != openami.InstanceRunning {
				return statusItem{Status: "not-applicable"}
			}
			return statusItem{Status: "ok", Details: items[statusDetailItem]{{Name: check, Status: "passed"}}}
		}
		out.Statuses = append(out.Statuses, instanceStatusItem{InstanceID: i.ID, AvailabilityZone: i.AvailabilityZone,
			State: stateItem{i.State.StateCode(), string(i.State)}, SystemStatus: status("reachability"),
			InstanceStatus: instanceCheck(i), AttachedEbsStatus: status("reachability")})
	}
	return out, nil
}

// instanceCheck is the instance status check of an instance: its
// guest's health, as the runtime tells it.
func instanceCheck(i instances.InstanceStatus) statusItem {
	if i.State != openami.InstanceRunning {
		return statusItem{Status: "not-applicable"}
	}
	switch i.Health.Status {
	case openami.HealthInitializing:
		return statusItem{Status: "initializing", Details: items[statusDetailItem]{{Name: "reachability", Status: "initializing"}}}
	case openami.HealthImpaired:
		return statusItem{Status: "impaired", Details: items[statusDetailItem]{{Name: "reachability", Status: "failed",
			ImpairedSince: timestamp(i.Health.Since), Reason: i.Health.Reason}}}
	}
	return statusItem{Status: "ok", Details: items[statusDetailItem]{{Name: "reachability", Status: "passed"}}}
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
