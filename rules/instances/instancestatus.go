package instances

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/describe"
)

// Attributes DescribeInstanceStatus filters by, besides the instance's
// zone (AttrInstanceZone), state name (AttrInstanceState) and state code
// (AttrInstanceStateCode). EC2's event.* filters match nothing: openami
// schedules no events.
const (
	AttrStatusInstance             filter.Attr = "statusInstance"             // instance-status.status
	AttrStatusInstanceReachability filter.Attr = "statusInstanceReachability" // instance-status.reachability
	AttrStatusSystem               filter.Attr = "statusSystem"               // system-status.status
	AttrStatusSystemReachability   filter.Attr = "statusSystemReachability"   // system-status.reachability
	AttrStatusEbs                  filter.Attr = "statusEbs"                  // attached-ebs-status.status
	AttrStatusEbsReachability      filter.Attr = "statusEbsReachability"      // attached-ebs-status.reachability
	AttrStatusEvent                filter.Attr = "statusEvent"                // event.*
)

// InstanceStatusAttrs are the attributes DescribeInstanceStatus accepts.
var InstanceStatusAttrs = []filter.Attr{AttrInstanceZone, AttrInstanceState, AttrInstanceStateCode,
	AttrStatusInstance, AttrStatusInstanceReachability, AttrStatusSystem, AttrStatusSystemReachability,
	AttrStatusEbs, AttrStatusEbsReachability, AttrStatusEvent}

// InstanceCheck is the instance status check: its status (ok,
// initializing, impaired, not-applicable) and its reachability detail
// (passed, initializing, failed; "" when not applicable), from the
// guest's health as the runtime tells it.
func (i InstanceStatus) InstanceCheck() (status, reachability string) {
	if i.State != openami.InstanceRunning {
		return "not-applicable", ""
	}
	if i.HostDead {
		return "impaired", "failed"
	}
	switch i.Health.Status {
	case openami.HealthInitializing:
		return "initializing", "initializing"
	case openami.HealthImpaired:
		return "impaired", "failed"
	}
	return "ok", "passed"
}

// SystemCheck is the system (and attached EBS) status check: ok with
// reachability passed for a running instance, impaired and failed for
// one whose compute host is dead (its heartbeat lapsed), not-applicable
// otherwise.
func (i InstanceStatus) SystemCheck() (status, reachability string) {
	if i.State != openami.InstanceRunning {
		return "not-applicable", ""
	}
	if i.HostDead {
		return "impaired", "failed"
	}
	return "ok", "passed"
}

func (i InstanceStatus) attr(a filter.Attr) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	is, ir := i.InstanceCheck()
	ss, sr := i.SystemCheck()
	switch a {
	case AttrInstanceZone:
		return one(i.AvailabilityZone)
	case AttrInstanceState:
		return one(string(i.State))
	case AttrInstanceStateCode:
		return one(strconv.Itoa(i.State.StateCode()))
	case AttrStatusInstance:
		return one(is)
	case AttrStatusInstanceReachability:
		return one(ir)
	case AttrStatusSystem, AttrStatusEbs:
		return one(ss)
	case AttrStatusSystemReachability, AttrStatusEbsReachability:
		return one(sr)
	}
	return nil
}

// DescribeInstanceStatus is InstanceStatuses narrowed by filters
// (InstanceStatusAttrs) and paged in id order (MaxResults 5 to 1000, not
// with instance ids, as on EC2).
func (s *Machines) DescribeInstanceStatus(ctx context.Context, p openami.Principal, instanceIDs []string, all bool, filters []filter.Filter, pg Page) ([]InstanceStatus, string, error) {
	fs, err := filter.Compile(filters, InstanceStatusAttrs...)
	if err != nil {
		return nil, "", err
	}
	if err := describe.CheckIDs(openami.ResourceInstance, instanceIDs, pg); err != nil {
		return nil, "", err
	}
	list, err := s.InstanceStatuses(ctx, p, instanceIDs, all)
	if err != nil {
		return nil, "", err
	}
	id := func(i InstanceStatus) string { return i.ID }
	scope := describe.Scope("DescribeInstanceStatus", p, filters, strings.Join(instanceIDs, ","), fmt.Sprint(all))
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 5, Max: 1000}, describe.Slice(list, nil, id), id,
		func(i InstanceStatus) bool { return fs.Match(i.attr, nil) })
}
