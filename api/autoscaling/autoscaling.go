// Package autoscaling serves Amazon EC2 Auto Scaling's API (Query
// protocol, API version 2011-01-01, signed service autoscaling) over the
// rules of rules/autoscaling: groups launched from launch templates,
// their instances and activities, instance refreshes and group tags
// (docs/AUTOSCALING.md). Actions about what openami does not have (load
// balancers, lifecycle hooks, warm pools, policies …) that clients such
// as Terraform read answer with nothing.
package autoscaling

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/rules/autoscaling"
)

const namespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// Rules is what the handler asks of rules/autoscaling
// (*autoscaling.Groups).
type Rules interface {
	CreateAutoScalingGroup(ctx context.Context, p openami.Principal, in autoscaling.GroupInput) error
	UpdateAutoScalingGroup(ctx context.Context, p openami.Principal, in autoscaling.GroupInput) error
	DeleteAutoScalingGroup(ctx context.Context, p openami.Principal, name string, force bool) error
	DescribeAutoScalingGroups(ctx context.Context, p openami.Principal, names []string, filters []autoscaling.Filter, pg autoscaling.Page) ([]openami.AutoScalingGroup, string, error)
	DescribeAutoScalingInstances(ctx context.Context, p openami.Principal, ids []string, pg autoscaling.Page) ([]autoscaling.GroupInstanceView, string, error)
	SetDesiredCapacity(ctx context.Context, p openami.Principal, name string, desired int) error
	TerminateInstanceInAutoScalingGroup(ctx context.Context, p openami.Principal, instanceID string, decrement bool) (openami.ScalingActivity, error)
	DescribeScalingActivities(ctx context.Context, p openami.Principal, group string, ids []string, pg autoscaling.Page) ([]autoscaling.ActivityView, string, error)
	StartInstanceRefresh(ctx context.Context, p openami.Principal, in autoscaling.RefreshInput) (string, error)
	CancelInstanceRefresh(ctx context.Context, p openami.Principal, group string) (string, error)
	DescribeInstanceRefreshes(ctx context.Context, p openami.Principal, group string, ids []string) ([]autoscaling.RefreshView, error)
	CreateOrUpdateTags(ctx context.Context, p openami.Principal, tags []autoscaling.GroupTagView) error
	DeleteTags(ctx context.Context, p openami.Principal, tags []autoscaling.GroupTagView) error
	DescribeTags(ctx context.Context, p openami.Principal, filters []autoscaling.Filter, pg autoscaling.Page) ([]autoscaling.GroupTagView, string, error)
}

var _ Rules = (*autoscaling.Groups)(nil)

// Handler serves the Auto Scaling protocol.
type Handler struct {
	rules   Rules
	actions map[string]action
}

// action answers one action: it decodes its parameters, calls the rules
// and returns the result element (nil for an action without one).
type action func(ctx context.Context, params url.Values, p openami.Principal) (any, error)

// New returns the Auto Scaling protocol handler over the rules.
func New(rules Rules) *Handler {
	h := &Handler{rules: rules}
	h.actions = map[string]action{
		"CreateAutoScalingGroup":              h.create,
		"UpdateAutoScalingGroup":              h.update,
		"DeleteAutoScalingGroup":              h.delete,
		"DescribeAutoScalingGroups":           h.describeGroups,
		"DescribeAutoScalingInstances":        h.describeInstances,
		"SetDesiredCapacity":                  h.setDesired,
		"TerminateInstanceInAutoScalingGroup": h.terminate,
		"DescribeScalingActivities":           h.describeActivities,
		"StartInstanceRefresh":                h.startRefresh,
		"CancelInstanceRefresh":               h.cancelRefresh,
		"DescribeInstanceRefreshes":           h.describeRefreshes,
		"CreateOrUpdateTags":                  h.createTags,
		"DeleteTags":                          h.deleteTags,
		"DescribeTags":                        h.describeTags,
	}
	for name, lists := range emptyAnswers {
		h.actions[name] = empty(lists)
	}
	return h
}

// Serve answers an authenticated Auto Scaling request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	params, err := awsquery.Params(r, body)
	if err != nil {
		return "", h.WriteError(w, requestID, err), err
	}
	name := params.Get("Action")
	act, ok := h.actions[name]
	if !ok {
		err := &awsquery.InvalidAction{Name: name}
		return name, h.WriteError(w, requestID, err), err
	}
	result, err := act(r.Context(), params, p)
	if err != nil {
		return name, h.WriteError(w, requestID, err), err
	}
	if err := awsquery.WriteResponse(w, namespace, name, requestID, result); err != nil {
		return name, h.WriteError(w, requestID, err), err
	}
	return name, "", nil
}

// timestamp is Auto Scaling's form of a time: ISO 8601 in UTC with
// milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// emptyAnswers are the actions about what openami does not have that
// clients read (Terraform's aws_autoscaling_group among them): each
// answers its result's lists empty (and no NextToken).
var emptyAnswers = map[string][]string{
	"DescribeLifecycleHooks":               {"LifecycleHooks"},
	"DescribeLoadBalancers":                {"LoadBalancers"},
	"DescribeLoadBalancerTargetGroups":     {"LoadBalancerTargetGroups"},
	"DescribeTrafficSources":               {"TrafficSources"},
	"DescribeWarmPool":                     {"Instances"},
	"DescribeNotificationConfigurations":   {"NotificationConfigurations"},
	"DescribePolicies":                     {"ScalingPolicies"},
	"DescribeScheduledActions":             {"ScheduledUpdateGroupActions"},
	"DescribeLaunchConfigurations":         {"LaunchConfigurations"},
	"DescribeAutoScalingNotificationTypes": {"AutoScalingNotificationTypes"},
}

// emptyResult is a result of empty lists.
type emptyResult struct{ lists []string }

func (e emptyResult) MarshalXML(enc *xml.Encoder, start xml.StartElement) error {
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	for _, l := range e.lists {
		el := xml.StartElement{Name: xml.Name{Local: l}}
		if err := enc.EncodeToken(el); err != nil {
			return err
		}
		if err := enc.EncodeToken(el.End()); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}

func empty(lists []string) action {
	return func(ctx context.Context, params url.Values, p openami.Principal) (any, error) {
		return emptyResult{lists}, nil
	}
}
