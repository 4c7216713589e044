package autoscaling

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/rules/autoscaling"
)

// Parameters of Auto Scaling's group actions that openami does not act
// on. ignored ones change nothing openami does (or ask for its only
// behaviour) and are dropped; refused ones ask for what openami does not
// have, and fail the request naming them.
var (
	ignored = []string{"NewInstancesProtectedFromScaleIn", "CapacityRebalance", "TerminationPolicies", "MaxInstanceLifetime",
		"ServiceLinkedRoleARN", "Context", "DesiredCapacityType", "InstanceMaintenancePolicy", "AvailabilityZoneDistribution",
		"AvailabilityZoneImpairmentPolicy", "CapacityReservationSpecification", "SkipZonalShiftValidation", "DeletionProtection"}
	refused = []string{"LaunchConfigurationName", "InstanceId", "MixedInstancesPolicy", "LoadBalancerNames", "TargetGroupARNs",
		"TrafficSources", "LifecycleHookSpecificationList", "PlacementGroup"}
)

// screen drops the ignored parameters and names the first refused one
// given ("" for none).
func screen(params url.Values) string {
	named := ""
	for k, v := range params {
		top, _, _ := strings.Cut(k, ".")
		if contains(refused, top) && len(v) > 0 && v[0] != "" && (named == "" || top < named) {
			named = top
		}
		if contains(ignored, top) || contains(refused, top) {
			delete(params, k)
		}
	}
	return named
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type launchTemplateSpec struct {
	LaunchTemplateID   string `query:"LaunchTemplateId"`
	LaunchTemplateName string `query:"LaunchTemplateName"`
	Version            string `query:"Version"`
}

type tagIn struct {
	ResourceID        string `query:"ResourceId"`
	ResourceType      string `query:"ResourceType"`
	Key               string `query:"Key"`
	Value             string `query:"Value"`
	PropagateAtLaunch bool   `query:"PropagateAtLaunch"`
}

type groupIn struct {
	Name                   string              `query:"AutoScalingGroupName"`
	LaunchTemplate         *launchTemplateSpec `query:"LaunchTemplate"`
	MinSize                *int                `query:"MinSize"`
	MaxSize                *int                `query:"MaxSize"`
	DesiredCapacity        *int                `query:"DesiredCapacity"`
	AvailabilityZones      []string            `query:"AvailabilityZones.member"`
	VPCZoneIdentifier      *string             `query:"VPCZoneIdentifier"`
	HealthCheckType        string              `query:"HealthCheckType"`
	HealthCheckGracePeriod *int                `query:"HealthCheckGracePeriod"`
	DefaultInstanceWarmup  *int                `query:"DefaultInstanceWarmup"`
	DefaultCooldown        *int                `query:"DefaultCooldown"`
	Tags                   []tagIn             `query:"Tags.member"`
}

// decodeGroup decodes a Create or UpdateAutoScalingGroup request.
func decodeGroup(params url.Values) (autoscaling.GroupInput, error) {
	var in groupIn
	unsupported := screen(params)
	if err := awsquery.Decode(params, &in); err != nil {
		return autoscaling.GroupInput{}, err
	}
	out := autoscaling.GroupInput{Name: in.Name, MinSize: in.MinSize, MaxSize: in.MaxSize, DesiredCapacity: in.DesiredCapacity,
		Zones: in.AvailabilityZones, HealthCheckType: in.HealthCheckType, HealthCheckGracePeriod: in.HealthCheckGracePeriod,
		DefaultInstanceWarmup: in.DefaultInstanceWarmup, DefaultCooldown: in.DefaultCooldown, Unsupported: unsupported}
	if lt := in.LaunchTemplate; lt != nil {
		out.Template = &autoscaling.TemplateSpec{ID: lt.LaunchTemplateID, Name: lt.LaunchTemplateName, Version: lt.Version}
	}
	if in.VPCZoneIdentifier != nil {
		out.Subnets = []string{}
		for _, s := range strings.Split(*in.VPCZoneIdentifier, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out.Subnets = append(out.Subnets, s)
			}
		}
	}
	for _, t := range in.Tags {
		out.Tags = append(out.Tags, openami.GroupTag{Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch})
	}
	return out, nil
}

func (h *Handler) create(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	in, err := decodeGroup(params)
	if err != nil {
		return nil, err
	}
	return nil, h.rules.CreateAutoScalingGroup(ctx, p, in)
}

func (h *Handler) update(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	in, err := decodeGroup(params)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		return nil, openami.Errorf(openami.UnknownParameter, "", "Tags is not a parameter of UpdateAutoScalingGroup: use CreateOrUpdateTags")
	}
	return nil, h.rules.UpdateAutoScalingGroup(ctx, p, in)
}

func (h *Handler) delete(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Name        string `query:"AutoScalingGroupName"`
		ForceDelete bool   `query:"ForceDelete"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	return nil, h.rules.DeleteAutoScalingGroup(ctx, p, in.Name, in.ForceDelete)
}

func (h *Handler) setDesired(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Name            string `query:"AutoScalingGroupName"`
		DesiredCapacity *int   `query:"DesiredCapacity"`
		HonorCooldown   bool   `query:"HonorCooldown"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	if in.DesiredCapacity == nil {
		return nil, openami.Errorf(openami.MissingParameter, openami.ResourceAutoScalingGroup, "1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	return nil, h.rules.SetDesiredCapacity(ctx, p, in.Name, *in.DesiredCapacity)
}

func (h *Handler) terminate(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		InstanceID string `query:"InstanceId"`
		Decrement  *bool  `query:"ShouldDecrementDesiredCapacity"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	if in.InstanceID == "" {
		return nil, openami.Errorf(openami.MissingParameter, openami.ResourceAutoScalingGroup, "1 validation error detected: Value null at 'instanceId' failed to satisfy constraint: Member must not be null")
	}
	if in.Decrement == nil {
		return nil, openami.Errorf(openami.MissingParameter, openami.ResourceAutoScalingGroup, "1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	a, err := h.rules.TerminateInstanceInAutoScalingGroup(ctx, p, in.InstanceID, *in.Decrement)
	if err != nil {
		return nil, err
	}
	// The activity names its group: the instance's, which is still in it
	// (terminating).
	return struct {
		Activity activityOut `xml:"Activity"`
	}{activityOf(autoscaling.ActivityView{ScalingActivity: a, Group: h.groupOf(ctx, p, in.InstanceID)})}, nil
}

// groupOf names the group of an instance ("" if none).
func (h *Handler) groupOf(ctx context.Context, p openami.Principal, instanceID string) string {
	is, _, err := h.rules.DescribeAutoScalingInstances(ctx, p, []string{instanceID}, autoscaling.Page{})
	if err != nil || len(is) == 0 {
		return ""
	}
	return is[0].Group
}

type filterIn struct {
	Name   string   `query:"Name"`
	Values []string `query:"Values.member"`
}

// filtersOf turns Auto Scaling's filters into the rules' (names maps
// each filter name to what it selects by; tag:KEY is ByTag when tags).
func filtersOf(in []filterIn, names map[string]string, tags bool) ([]autoscaling.Filter, error) {
	var out []autoscaling.Filter
	for _, f := range in {
		if by, ok := names[f.Name]; ok {
			out = append(out, autoscaling.Filter{By: by, Values: f.Values})
			continue
		}
		if key, ok := strings.CutPrefix(f.Name, "tag:"); ok && tags {
			out = append(out, autoscaling.Filter{By: autoscaling.ByTag, Key: key, Values: f.Values})
			continue
		}
		return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceAutoScalingGroup, "Filter name %s is invalid", f.Name)
	}
	return out, nil
}

var groupFilterNames = map[string]string{"tag-key": autoscaling.ByTagKey, "tag-value": autoscaling.ByTagValue}

var tagFilterNames = map[string]string{"auto-scaling-group": autoscaling.ByGroupName, "key": autoscaling.ByTagKey,
	"value": autoscaling.ByTagValue, "propagate-at-launch": autoscaling.ByPropagate}

type launchTemplateOut struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId,omitempty"`
	LaunchTemplateName string `xml:"LaunchTemplateName,omitempty"`
	Version            string `xml:"Version,omitempty"`
}

type instanceOut struct {
	InstanceID           string            `xml:"InstanceId"`
	InstanceType         string            `xml:"InstanceType,omitempty"`
	AutoScalingGroupName string            `xml:"AutoScalingGroupName,omitempty"`
	AvailabilityZone     string            `xml:"AvailabilityZone"`
	LifecycleState       string            `xml:"LifecycleState"`
	HealthStatus         string            `xml:"HealthStatus"`
	LaunchTemplate       launchTemplateOut `xml:"LaunchTemplate"`
	ProtectedFromScaleIn bool              `xml:"ProtectedFromScaleIn"`
}

type tagOut struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string `xml:"ResourceType"`
	Key               string `xml:"Key"`
	Value             string `xml:"Value"`
	PropagateAtLaunch bool   `xml:"PropagateAtLaunch"`
}

type groupOut struct {
	AutoScalingGroupName             string            `xml:"AutoScalingGroupName"`
	AutoScalingGroupARN              string            `xml:"AutoScalingGroupARN"`
	LaunchTemplate                   launchTemplateOut `xml:"LaunchTemplate"`
	MinSize                          int               `xml:"MinSize"`
	MaxSize                          int               `xml:"MaxSize"`
	DesiredCapacity                  int               `xml:"DesiredCapacity"`
	DefaultCooldown                  int               `xml:"DefaultCooldown"`
	AvailabilityZones                []string          `xml:"AvailabilityZones>member"`
	LoadBalancerNames                []string          `xml:"LoadBalancerNames"`
	TargetGroupARNs                  []string          `xml:"TargetGroupARNs"`
	HealthCheckType                  string            `xml:"HealthCheckType"`
	HealthCheckGracePeriod           int               `xml:"HealthCheckGracePeriod"`
	Instances                        []instanceOut     `xml:"Instances>member"`
	CreatedTime                      string            `xml:"CreatedTime"`
	SuspendedProcesses               []string          `xml:"SuspendedProcesses"`
	VPCZoneIdentifier                string            `xml:"VPCZoneIdentifier,omitempty"`
	EnabledMetrics                   []string          `xml:"EnabledMetrics"`
	Status                           string            `xml:"Status,omitempty"`
	Tags                             []tagOut          `xml:"Tags>member"`
	TerminationPolicies              []string          `xml:"TerminationPolicies>member"`
	NewInstancesProtectedFromScaleIn bool              `xml:"NewInstancesProtectedFromScaleIn"`
	ServiceLinkedRoleARN             string            `xml:"ServiceLinkedRoleARN"`
	CapacityRebalance                bool              `xml:"CapacityRebalance"`
	DefaultInstanceWarmup            *int              `xml:"DefaultInstanceWarmup,omitempty"`
}

// healthStatus is an instance's health as DescribeAutoScalingGroups
// words it (DescribeAutoScalingInstances writes it in capitals).
func healthStatus(healthy bool) string {
	if healthy {
		return "Healthy"
	}
	return "Unhealthy"
}

func groupOf(g openami.AutoScalingGroup) groupOut {
	lt := launchTemplateOut{LaunchTemplateID: g.TemplateID, LaunchTemplateName: g.TemplateName, Version: g.TemplateVersion}
	out := groupOut{AutoScalingGroupName: g.Name, AutoScalingGroupARN: g.ARN, LaunchTemplate: lt,
		MinSize: g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity, DefaultCooldown: g.DefaultCooldown,
		AvailabilityZones: g.Zones, HealthCheckType: g.HealthCheckType, HealthCheckGracePeriod: g.HealthCheckGracePeriod,
		CreatedTime: timestamp(g.CreatedAt), VPCZoneIdentifier: strings.Join(g.Subnets, ","),
		TerminationPolicies:  []string{"Default"},
		ServiceLinkedRoleARN: "arn:aws:iam::" + g.AccountID + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}
	if g.Deleting {
		out.Status = "Delete in progress"
	}
	if g.DefaultInstanceWarmup >= 0 {
		w := g.DefaultInstanceWarmup
		out.DefaultInstanceWarmup = &w
	}
	for _, m := range g.Instances {
		out.Instances = append(out.Instances, instanceOut{InstanceID: m.InstanceID, InstanceType: m.InstanceType, AvailabilityZone: m.Zone,
			LifecycleState: m.LifecycleState, HealthStatus: healthStatus(m.Healthy),
			LaunchTemplate: launchTemplateOut{LaunchTemplateID: m.TemplateID, LaunchTemplateName: g.TemplateName, Version: strconv.FormatInt(m.TemplateVersion, 10)}})
	}
	for _, t := range g.Tags {
		out.Tags = append(out.Tags, tagOut{ResourceID: g.Name, ResourceType: "auto-scaling-group", Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch})
	}
	return out
}

func (h *Handler) describeGroups(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Names      []string   `query:"AutoScalingGroupNames.member"`
		Filters    []filterIn `query:"Filters.member"`
		MaxRecords int        `query:"MaxRecords"`
		NextToken  string     `query:"NextToken"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	filters, err := filtersOf(in.Filters, groupFilterNames, true)
	if err != nil {
		return nil, err
	}
	grps, next, err := h.rules.DescribeAutoScalingGroups(ctx, p, in.Names, filters, autoscaling.Page{MaxRecords: in.MaxRecords, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		AutoScalingGroups []groupOut `xml:"AutoScalingGroups>member"`
		NextToken         string     `xml:"NextToken,omitempty"`
	}{AutoScalingGroups: []groupOut{}, NextToken: next}
	for _, g := range grps {
		out.AutoScalingGroups = append(out.AutoScalingGroups, groupOf(g))
	}
	return out, nil
}

func (h *Handler) describeInstances(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		InstanceIDs []string `query:"InstanceIds.member"`
		MaxRecords  int      `query:"MaxRecords"`
		NextToken   string   `query:"NextToken"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	list, next, err := h.rules.DescribeAutoScalingInstances(ctx, p, in.InstanceIDs, autoscaling.Page{MaxRecords: in.MaxRecords, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		AutoScalingInstances []instanceOut `xml:"AutoScalingInstances>member"`
		NextToken            string        `xml:"NextToken,omitempty"`
	}{AutoScalingInstances: []instanceOut{}, NextToken: next}
	for _, m := range list {
		out.AutoScalingInstances = append(out.AutoScalingInstances, instanceOut{InstanceID: m.InstanceID, InstanceType: m.InstanceType,
			AutoScalingGroupName: m.Group, AvailabilityZone: m.Zone, LifecycleState: m.LifecycleState,
			HealthStatus: strings.ToUpper(healthStatus(m.Healthy)),
			LaunchTemplate: launchTemplateOut{LaunchTemplateID: m.TemplateID, LaunchTemplateName: m.TemplateName,
				Version: strconv.FormatInt(m.TemplateVersion, 10)}})
	}
	return out, nil
}

type activityOut struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Description          string `xml:"Description"`
	Cause                string `xml:"Cause"`
	StartTime            string `xml:"StartTime"`
	EndTime              string `xml:"EndTime,omitempty"`
	StatusCode           string `xml:"StatusCode"`
	StatusMessage        string `xml:"StatusMessage,omitempty"`
	Progress             int    `xml:"Progress"`
	Details              string `xml:"Details"`
}

func activityOf(a autoscaling.ActivityView) activityOut {
	out := activityOut{ActivityID: a.ID, AutoScalingGroupName: a.Group, Description: a.Description, Cause: a.Cause,
		StartTime: timestamp(a.StartTime), StatusCode: a.StatusCode, StatusMessage: a.StatusMessage, Progress: a.Progress, Details: a.Details}
	if !a.EndTime.IsZero() {
		out.EndTime = timestamp(a.EndTime)
	}
	return out
}

func (h *Handler) describeActivities(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		ActivityIDs          []string   `query:"ActivityIds.member"`
		Name                 string     `query:"AutoScalingGroupName"`
		IncludeDeletedGroups bool       `query:"IncludeDeletedGroups"`
		MaxRecords           int        `query:"MaxRecords"`
		NextToken            string     `query:"NextToken"`
		Filters              []filterIn `query:"Filters.member"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	list, next, err := h.rules.DescribeScalingActivities(ctx, p, in.Name, in.ActivityIDs, autoscaling.Page{MaxRecords: in.MaxRecords, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		Activities []activityOut `xml:"Activities>member"`
		NextToken  string        `xml:"NextToken,omitempty"`
	}{Activities: []activityOut{}, NextToken: next}
	for _, a := range list {
		out.Activities = append(out.Activities, activityOf(a))
	}
	return out, nil
}
