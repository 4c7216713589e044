package autoscaling

import (
	"context"
	"net/url"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/rules/autoscaling"
)

func (h *Handler) startRefresh(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Name        string `query:"AutoScalingGroupName"`
		Strategy    string `query:"Strategy"`
		Preferences *struct {
			MinHealthyPercentage  *int   `query:"MinHealthyPercentage"`
			MaxHealthyPercentage  *int   `query:"MaxHealthyPercentage"`
			InstanceWarmup        *int   `query:"InstanceWarmup"`
			SkipMatching          bool   `query:"SkipMatching"`
			AutoRollback          bool   `query:"AutoRollback"`
			ScaleInProtected      string `query:"ScaleInProtectedInstances"`
			Standby               string `query:"StandbyInstances"`
			CheckpointPercentages []int  `query:"CheckpointPercentages.member"`
			CheckpointDelay       *int   `query:"CheckpointDelay"`
		} `query:"Preferences"`
	}
	// A desired configuration (other than the group's own) is not
	// carried out: a refresh rolls onto the group's template.
	unsupported := ""
	for k := range params {
		if len(k) > len("DesiredConfiguration") && k[:len("DesiredConfiguration")] == "DesiredConfiguration" {
			unsupported = "DesiredConfiguration"
			delete(params, k)
		}
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	r := autoscaling.RefreshInput{Group: in.Name, Unsupported: unsupported}
	if in.Strategy != "" && in.Strategy != "Rolling" {
		r.Unsupported = "Strategy " + in.Strategy
	}
	if pr := in.Preferences; pr != nil {
		r.MinHealthy, r.MaxHealthy, r.InstanceWarmup, r.SkipMatching = pr.MinHealthyPercentage, pr.MaxHealthyPercentage, pr.InstanceWarmup, pr.SkipMatching
		switch {
		case pr.AutoRollback:
			r.Unsupported = "AutoRollback"
		case len(pr.CheckpointPercentages) > 0:
			r.Unsupported = "CheckpointPercentages"
		}
	}
	id, err := h.rules.StartInstanceRefresh(ctx, p, r)
	if err != nil {
		return nil, err
	}
	return struct {
		ID string `xml:"InstanceRefreshId"`
	}{id}, nil
}

func (h *Handler) cancelRefresh(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Name string `query:"AutoScalingGroupName"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	id, err := h.rules.CancelInstanceRefresh(ctx, p, in.Name)
	if err != nil {
		return nil, err
	}
	return struct {
		ID string `xml:"InstanceRefreshId"`
	}{id}, nil
}

type refreshOut struct {
	InstanceRefreshID    string `xml:"InstanceRefreshId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Status               string `xml:"Status"`
	StatusReason         string `xml:"StatusReason,omitempty"`
	StartTime            string `xml:"StartTime"`
	EndTime              string `xml:"EndTime,omitempty"`
	PercentageComplete   int    `xml:"PercentageComplete"`
	InstancesToUpdate    int    `xml:"InstancesToUpdate"`
	Preferences          struct {
		MinHealthyPercentage int    `xml:"MinHealthyPercentage"`
		MaxHealthyPercentage *int   `xml:"MaxHealthyPercentage,omitempty"`
		InstanceWarmup       int    `xml:"InstanceWarmup"`
		SkipMatching         bool   `xml:"SkipMatching"`
		AutoRollback         bool   `xml:"AutoRollback"`
		ScaleInProtected     string `xml:"ScaleInProtectedInstances"`
		Standby              string `xml:"StandbyInstances"`
	} `xml:"Preferences"`
}

func (h *Handler) describeRefreshes(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Name       string   `query:"AutoScalingGroupName"`
		IDs        []string `query:"InstanceRefreshIds.member"`
		MaxRecords int      `query:"MaxRecords"`
		NextToken  string   `query:"NextToken"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	list, err := h.rules.DescribeInstanceRefreshes(ctx, p, in.Name, in.IDs)
	if err != nil {
		return nil, err
	}
	out := struct {
		InstanceRefreshes []refreshOut `xml:"InstanceRefreshes>member"`
	}{InstanceRefreshes: []refreshOut{}}
	for _, r := range list {
		o := refreshOut{InstanceRefreshID: r.ID, AutoScalingGroupName: r.Group, Status: r.Status, StatusReason: r.StatusReason,
			StartTime: timestamp(r.StartTime), PercentageComplete: r.PercentageComplete, InstancesToUpdate: r.InstancesToUpdate}
		if !r.EndTime.IsZero() {
			o.EndTime = timestamp(r.EndTime)
		}
		o.Preferences.MinHealthyPercentage, o.Preferences.InstanceWarmup, o.Preferences.SkipMatching = r.MinHealthy, r.Warmup, r.SkipMatching
		if r.MaxHealthy > 0 {
			maxHealthy := r.MaxHealthy
			o.Preferences.MaxHealthyPercentage = &maxHealthy
		}
		o.Preferences.ScaleInProtected, o.Preferences.Standby = "Ignore", "Ignore"
		out.InstanceRefreshes = append(out.InstanceRefreshes, o)
	}
	return out, nil
}

func tagsIn(params url.Values) ([]autoscaling.GroupTagView, error) {
	var in struct {
		Tags []tagIn `query:"Tags.member"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	var out []autoscaling.GroupTagView
	for _, t := range in.Tags {
		if t.ResourceType != "" && t.ResourceType != "auto-scaling-group" {
			return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceAutoScalingGroup, "Invalid resource type %s: only auto-scaling-group", t.ResourceType)
		}
		out = append(out, autoscaling.GroupTagView{Group: t.ResourceID,
			GroupTag: openami.GroupTag{Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch}})
	}
	return out, nil
}

func (h *Handler) createTags(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	tags, err := tagsIn(params)
	if err != nil {
		return nil, err
	}
	return nil, h.rules.CreateOrUpdateTags(ctx, p, tags)
}

func (h *Handler) deleteTags(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	tags, err := tagsIn(params)
	if err != nil {
		return nil, err
	}
	return nil, h.rules.DeleteTags(ctx, p, tags)
}

func (h *Handler) describeTags(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
	var in struct {
		Filters    []filterIn `query:"Filters.member"`
		MaxRecords int        `query:"MaxRecords"`
		NextToken  string     `query:"NextToken"`
	}
	if err := awsquery.Decode(params, &in); err != nil {
		return nil, err
	}
	filters, err := filtersOf(in.Filters, tagFilterNames, false)
	if err != nil {
		return nil, err
	}
	list, next, err := h.rules.DescribeTags(ctx, p, filters, autoscaling.Page{MaxRecords: in.MaxRecords, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		Tags      []tagOut `xml:"Tags>member"`
		NextToken string   `xml:"NextToken,omitempty"`
	}{Tags: []tagOut{}, NextToken: next}
	for _, t := range list {
		out.Tags = append(out.Tags, tagOut{ResourceID: t.Group, ResourceType: "auto-scaling-group", Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch})
	}
	return out, nil
}
