package openami

import "time"

// The resources of Auto Scaling.
const (
	// ResourceAutoScalingGroup: an Auto Scaling group, named per account
	// and region.
	ResourceAutoScalingGroup ResourceType = "auto-scaling-group"
	// ResourceInstanceRefresh: an instance refresh of a group.
	ResourceInstanceRefresh ResourceType = "instance-refresh"
)

// AutoScalingGroup is a group of instances launched from one launch
// template that the controller (rules/autoscaling) keeps at its desired
// capacity across its zones or subnets. The record holds the group's
// settings and the controller's whole state: its instances, the launches
// it has decided but not yet seen through, its recent activities and its
// instance refreshes, so that a restart resumes where it stopped.
type AutoScalingGroup struct {
	Name      string
	Region    string
	AccountID string
	ARN       string
	CreatedAt time.Time

	// The launch template (its id and name) and the version as the group
	// names it: a number, $Latest or $Default ("": the default).
	TemplateID      string
	TemplateName    string
	TemplateVersion string

	MinSize, MaxSize, DesiredCapacity int
	// Zones are the availability zones (AvailabilityZones); Subnets the
	// subnets (VPCZoneIdentifier), in the order given. The controller
	// balances instances over Subnets when given, over Zones otherwise.
	Zones   []string
	Subnets []string
	// SubnetZones are the zones of Subnets, one each.
	SubnetZones []string

	HealthCheckType        string // "EC2"
	HealthCheckGracePeriod int    // seconds
	// DefaultInstanceWarmup is in seconds; -1 when not set.
	DefaultInstanceWarmup int
	DefaultCooldown       int // seconds
	Tags                  []GroupTag

	// Deleting is set by DeleteAutoScalingGroup with ForceDelete: the
	// controller terminates every instance, then removes the group.
	Deleting bool

	Instances []GroupInstance
	// Launches are the launches the controller decided and has not yet
	// seen through: it makes them with their ClientToken, so that a
	// restart that repeats one gets the instance of the first.
	Launches   []GroupLaunch
	Activities []ScalingActivity // newest first, the last maxActivities
	Refreshes  []InstanceRefresh // newest first
}

// GroupTag is a tag of an Auto Scaling group; PropagateAtLaunch puts it
// on the instances the group launches.
type GroupTag struct {
	Key, Value        string
	PropagateAtLaunch bool
}

// The life-cycle states of a group's instance, in Auto Scaling's words.
const (
	LifecyclePending     = "Pending"
	LifecycleInService   = "InService"
	LifecycleTerminating = "Terminating"
)

// GroupInstance is an instance of a group.
type GroupInstance struct {
	InstanceID   string
	InstanceType string
	Zone         string
	// Slot is where the group placed it: a subnet id, or a zone when the
	// group has no subnets.
	Slot            string
	TemplateID      string
	TemplateVersion int64
	LaunchedAt      time.Time
	// InServiceAt is when it first ran (zero while Pending).
	InServiceAt    time.Time
	LifecycleState string
	Healthy        bool
	// ActivityID is the activity that terminates it, while Terminating.
	ActivityID string
}

// GroupLaunch is a launch the controller decided: ActivityID records it,
// and ClientToken ("asg-" and the activity's id) makes it once however
// often a restart repeats it.
type GroupLaunch struct {
	ActivityID  string
	ClientToken string
	Slot        string
	// TemplateVersion is the version of the group's template the launch
	// takes (0: the group's version as it names it), resolved when the
	// launch was decided, so that a repeat launches the same.
	TemplateVersion int64
}

// The status codes of a scaling activity.
const (
	ActivityInProgress = "InProgress"
	ActivitySuccessful = "Successful"
	ActivityFailed     = "Failed"
	ActivityCancelled  = "Cancelled"
)

// ScalingActivity is one launch or termination of a group, as
// DescribeScalingActivities lists it.
type ScalingActivity struct {
	ID            string
	Description   string
	Cause         string
	StartTime     time.Time
	EndTime       time.Time // zero while in progress
	StatusCode    string
	StatusMessage string
	Progress      int
	Details       string
}

// The statuses of an instance refresh.
const (
	RefreshPending    = "Pending"
	RefreshInProgress = "InProgress"
	RefreshSuccessful = "Successful"
	RefreshFailed     = "Failed"
	RefreshCancelling = "Cancelling"
	RefreshCancelled  = "Cancelled"
)

// InstanceRefresh replaces a group's instances, a batch at a time, with
// instances of the group's current launch template version.
type InstanceRefresh struct {
	ID           string
	Status       string
	StatusReason string
	StartTime    time.Time
	EndTime      time.Time
	MinHealthy   int // percent of desired capacity
	// MaxHealthy above 100 (percent of desired capacity) makes the
	// refresh launch replacements before it terminates; Extra is how
	// many it has asked for beyond the desired capacity.
	MaxHealthy     int
	Extra          int
	InstanceWarmup int // seconds; -1: the group's default
	SkipMatching   bool
	// ToReplace are the instances it still has to replace; Total how many
	// it had at the start.
	ToReplace []string
	Total     int
}

// Active reports whether the refresh is still running.
func (r InstanceRefresh) Active() bool {
	return r.Status == RefreshPending || r.Status == RefreshInProgress || r.Status == RefreshCancelling
}
