package autoscaling

import (
	"context"
	"html"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/autoscaling"
	"github.com/openami/openami/rules/param"
)

var at = time.Date(2026, 12, 7, 2, 0, 0, 500_000_000, time.UTC)

// fakeRules answers with fixed values, or err when set, and records the
// last group input and refresh input.
type fakeRules struct {
	err     error
	group   autoscaling.GroupInput
	refresh autoscaling.RefreshInput
	filters []autoscaling.Filter
}

var grp = openami.AutoScalingGroup{Name: "web", Region: "us-east-1", AccountID: "111111111111", ARN: "arn:aws:autoscaling:us-east-1:111111111111:autoScalingGroup:x:autoScalingGroupName/web",
	CreatedAt: at, TemplateID: "lt-0123456789abcdef0", TemplateName: "tpl", TemplateVersion: "$Latest", MinSize: 1, MaxSize: 3, DesiredCapacity: 2,
	Zones: []string{"us-east-1a"}, Subnets: []string{"subnet-1", "subnet-2"}, HealthCheckType: "EC2", DefaultInstanceWarmup: -1, DefaultCooldown: 300,
	Tags:      []openami.GroupTag{{Key: "team", Value: "a", PropagateAtLaunch: true}},
	Instances: []openami.GroupInstance{{InstanceID: "i-1", InstanceType: "t3.micro", Zone: "us-east-1a", TemplateID: "lt-0123456789abcdef0", TemplateVersion: 2, LifecycleState: "InService", Healthy: true}}}

func (f *fakeRules) CreateAutoScalingGroup(ctx context.Context, p openami.Principal, in autoscaling.GroupInput) error {
	f.group = in
	return f.err
}
func (f *fakeRules) UpdateAutoScalingGroup(ctx context.Context, p openami.Principal, in autoscaling.GroupInput) error {
	f.group = in
	return f.err
}
func (f *fakeRules) DeleteAutoScalingGroup(ctx context.Context, p openami.Principal, name string, force bool) error {
	return f.err
}
func (f *fakeRules) DescribeAutoScalingGroups(ctx context.Context, p openami.Principal, names []string, filters []autoscaling.Filter, pg autoscaling.Page) ([]openami.AutoScalingGroup, string, error) {
	f.filters = filters
	return []openami.AutoScalingGroup{grp}, "tok", f.err
}
func (f *fakeRules) DescribeAutoScalingInstances(ctx context.Context, p openami.Principal, ids []string, pg autoscaling.Page) ([]autoscaling.GroupInstanceView, string, error) {
	return []autoscaling.GroupInstanceView{{GroupInstance: grp.Instances[0], Group: "web", TemplateName: "tpl"}}, "", f.err
}
func (f *fakeRules) SetDesiredCapacity(ctx context.Context, p openami.Principal, name string, desired int) error {
	return f.err
}
func (f *fakeRules) TerminateInstanceInAutoScalingGroup(ctx context.Context, p openami.Principal, instanceID string, decrement bool) (openami.ScalingActivity, error) {
	return openami.ScalingActivity{ID: "act-1", Description: "Terminating EC2 instance: i-1", Cause: "c", StartTime: at, StatusCode: "InProgress"}, f.err
}
func (f *fakeRules) DescribeScalingActivities(ctx context.Context, p openami.Principal, group string, ids []string, pg autoscaling.Page) ([]autoscaling.ActivityView, string, error) {
	return []autoscaling.ActivityView{{Group: "web", ScalingActivity: openami.ScalingActivity{ID: "act-1", Cause: "c", StartTime: at, EndTime: at, StatusCode: "Successful", Progress: 100}}}, "", f.err
}
func (f *fakeRules) StartInstanceRefresh(ctx context.Context, p openami.Principal, in autoscaling.RefreshInput) (string, error) {
	f.refresh = in
	return "ref-1", f.err
}
func (f *fakeRules) CancelInstanceRefresh(ctx context.Context, p openami.Principal, group string) (string, error) {
	return "ref-1", f.err
}
func (f *fakeRules) DescribeInstanceRefreshes(ctx context.Context, p openami.Principal, group string, ids []string) ([]autoscaling.RefreshView, error) {
	return []autoscaling.RefreshView{{Group: "web", PercentageComplete: 50, InstancesToUpdate: 1, Warmup: 60,
		InstanceRefresh: openami.InstanceRefresh{ID: "ref-1", Status: "InProgress", StartTime: at, MinHealthy: 90}}}, f.err
}
func (f *fakeRules) CreateOrUpdateTags(ctx context.Context, p openami.Principal, tags []autoscaling.GroupTagView) error {
	return f.err
}
func (f *fakeRules) DeleteTags(ctx context.Context, p openami.Principal, tags []autoscaling.GroupTagView) error {
	return f.err
}
func (f *fakeRules) DescribeTags(ctx context.Context, p openami.Principal, filters []autoscaling.Filter, pg autoscaling.Page) ([]autoscaling.GroupTagView, string, error) {
	f.filters = filters
	return []autoscaling.GroupTagView{{Group: "web", GroupTag: grp.Tags[0]}}, "", f.err
}

func serve(t *testing.T, h *Handler, params url.Values) (int, string) {
	t.Helper()
	params.Set("Version", "2011-01-01")
	body := params.Encode()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w := httptest.NewRecorder()
	h.Serve(w, r, []byte(body), openami.Principal{AccountID: "111111111111", Region: "us-east-1"}, "req-1")
	return w.Code, html.UnescapeString(w.Body.String())
}

func wantBody(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("%s: no %q in\n%s", what, p, body)
		}
	}
}

// TestWireShapes: each action's answer, in Auto Scaling's elements and
// namespace.
func TestWireShapes(t *testing.T) {
	h := New(&fakeRules{})
	for _, c := range []struct {
		action string
		params url.Values
		parts  []string
	}{
		{"DescribeAutoScalingGroups", url.Values{}, []string{`<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">`,
			"<DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>web</AutoScalingGroupName>",
			"<LaunchTemplate><LaunchTemplateId>lt-0123456789abcdef0</LaunchTemplateId><LaunchTemplateName>tpl</LaunchTemplateName><Version>$Latest</Version></LaunchTemplate>",
			"<MinSize>1</MinSize><MaxSize>3</MaxSize><DesiredCapacity>2</DesiredCapacity>", "<AvailabilityZones><member>us-east-1a</member></AvailabilityZones>",
			"<Instances><member><InstanceId>i-1</InstanceId><InstanceType>t3.micro</InstanceType><AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus>",
			"<Version>2</Version>", "<CreatedTime>2026-12-07T02:00:00.500Z</CreatedTime>", "<VPCZoneIdentifier>subnet-1,subnet-2</VPCZoneIdentifier>",
			"<Tags><member><ResourceId>web</ResourceId><ResourceType>auto-scaling-group</ResourceType><Key>team</Key><Value>a</Value><PropagateAtLaunch>true</PropagateAtLaunch></member></Tags>",
			"<NextToken>tok</NextToken>", "<RequestId>req-1</RequestId>"}},
		{"DescribeAutoScalingInstances", url.Values{}, []string{"<AutoScalingInstances><member><InstanceId>i-1</InstanceId>",
			"<AutoScalingGroupName>web</AutoScalingGroupName>", "<HealthStatus>HEALTHY</HealthStatus>"}},
		{"DescribeScalingActivities", url.Values{"AutoScalingGroupName": {"web"}}, []string{"<Activities><member><ActivityId>act-1</ActivityId><AutoScalingGroupName>web</AutoScalingGroupName>",
			"<StatusCode>Successful</StatusCode>", "<EndTime>2026-12-07T02:00:00.500Z</EndTime>"}},
		{"TerminateInstanceInAutoScalingGroup", url.Values{"InstanceId": {"i-1"}, "ShouldDecrementDesiredCapacity": {"true"}},
			[]string{"<TerminateInstanceInAutoScalingGroupResult><Activity><ActivityId>act-1</ActivityId><AutoScalingGroupName>web</AutoScalingGroupName>", "<StatusCode>InProgress</StatusCode>"}},
		{"StartInstanceRefresh", url.Values{"AutoScalingGroupName": {"web"}}, []string{"<StartInstanceRefreshResult><InstanceRefreshId>ref-1</InstanceRefreshId></StartInstanceRefreshResult>"}},
		{"CancelInstanceRefresh", url.Values{"AutoScalingGroupName": {"web"}}, []string{"<CancelInstanceRefreshResult><InstanceRefreshId>ref-1</InstanceRefreshId>"}},
		{"DescribeInstanceRefreshes", url.Values{"AutoScalingGroupName": {"web"}}, []string{"<InstanceRefreshes><member><InstanceRefreshId>ref-1</InstanceRefreshId>",
			"<Status>InProgress</Status>", "<PercentageComplete>50</PercentageComplete><InstancesToUpdate>1</InstancesToUpdate>",
			"<Preferences><MinHealthyPercentage>90</MinHealthyPercentage><InstanceWarmup>60</InstanceWarmup>"}},
		{"DescribeTags", url.Values{}, []string{"<Tags><member><ResourceId>web</ResourceId><ResourceType>auto-scaling-group</ResourceType><Key>team</Key>"}},
		{"DescribeLifecycleHooks", url.Values{"AutoScalingGroupName": {"web"}}, []string{"<DescribeLifecycleHooksResult><LifecycleHooks></LifecycleHooks></DescribeLifecycleHooksResult>"}},
		{"SetDesiredCapacity", url.Values{"AutoScalingGroupName": {"web"}, "DesiredCapacity": {"3"}}, []string{"<SetDesiredCapacityResponse", "<RequestId>req-1</RequestId>"}},
	} {
		c.params.Set("Action", c.action)
		code, body := serve(t, h, c.params)
		if code != 200 {
			t.Errorf("%s: %d %s", c.action, code, body)
			continue
		}
		wantBody(t, c.action, body, c.parts...)
	}
}

// TestDecodeGroup: a CreateAutoScalingGroup request as the SDKs send it
// reaches the rules whole; what openami does not do is named.
func TestDecodeGroup(t *testing.T) {
	f := &fakeRules{}
	h := New(f)
	code, body := serve(t, h, url.Values{"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"web"},
		"LaunchTemplate.LaunchTemplateName": {"tpl"}, "LaunchTemplate.Version": {"$Default"}, "MinSize": {"1"}, "MaxSize": {"3"},
		"DesiredCapacity": {"2"}, "VPCZoneIdentifier": {"subnet-1, subnet-2"}, "HealthCheckGracePeriod": {"30"},
		"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"a"}, "Tags.member.1.PropagateAtLaunch": {"true"},
		"Tags.member.1.ResourceId": {"web"}, "Tags.member.1.ResourceType": {"auto-scaling-group"},
		"NewInstancesProtectedFromScaleIn": {"false"}, "TerminationPolicies.member.1": {"Default"}})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	g := f.group
	if g.Name != "web" || *g.Template != (autoscaling.TemplateSpec{Name: "tpl", Version: "$Default"}) || *g.MinSize != 1 || *g.MaxSize != 3 ||
		*g.DesiredCapacity != 2 || !reflect.DeepEqual(g.Subnets, []string{"subnet-1", "subnet-2"}) || *g.HealthCheckGracePeriod != 30 ||
		!reflect.DeepEqual(g.Tags, []openami.GroupTag{{Key: "team", Value: "a", PropagateAtLaunch: true}}) || g.Unsupported != "" {
		t.Errorf("decoded %+v", g)
	}
	serve(t, h, url.Values{"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"web"}, "TargetGroupARNs.member.1": {"arn:x"}})
	if f.group.Unsupported != "TargetGroupARNs" {
		t.Errorf("target groups: %q", f.group.Unsupported)
	}
	serve(t, h, url.Values{"Action": {"StartInstanceRefresh"}, "AutoScalingGroupName": {"web"}, "Preferences.MinHealthyPercentage": {"50"},
		"Preferences.InstanceWarmup": {"10"}, "Preferences.SkipMatching": {"true"}})
	if r := f.refresh; r.Group != "web" || *r.MinHealthy != 50 || *r.InstanceWarmup != 10 || !r.SkipMatching {
		t.Errorf("refresh %+v", r)
	}
	serve(t, h, url.Values{"Action": {"DescribeAutoScalingGroups"}, "Filters.member.1.Name": {"tag:team"}, "Filters.member.1.Values.member.1": {"a"},
		"Filters.member.2.Name": {"tag-key"}, "Filters.member.2.Values.member.1": {"team"}})
	if want := []autoscaling.Filter{{By: autoscaling.ByTag, Key: "team", Values: []string{"a"}}, {By: autoscaling.ByTagKey, Values: []string{"team"}}}; !reflect.DeepEqual(f.filters, want) {
		t.Errorf("filters %+v", f.filters)
	}
}

// TestErrorCodes: the table from openami's classes to Auto Scaling's
// codes, in the ErrorResponse envelope.
func TestErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{openami.Errorf(openami.Duplicate, openami.ResourceAutoScalingGroup, "AutoScalingGroup by this name already exists"), "AlreadyExists"},
		{openami.Errorf(openami.InUse, openami.ResourceAutoScalingGroup, "x"), "ResourceInUse"},
		{openami.Errorf(openami.IncorrectState, openami.ResourceAutoScalingGroup, "x"), "ScalingActivityInProgress"},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceAutoScalingGroup, openami.ReasonUnavailable, "x"), "ValidationError"},
		{openami.Errorf(openami.NotFound, openami.ResourceAutoScalingGroup, "x"), "ValidationError"},
		{openami.Errorf(openami.InvalidParameter, openami.ResourceAutoScalingGroup, "x"), "ValidationError"},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceAutoScalingGroup, "x"), "LimitExceeded"},
		{openami.Errorf(openami.Duplicate, openami.ResourceInstanceRefresh, "x"), "InstanceRefreshInProgress"},
		{openami.Errorf(openami.NotFound, openami.ResourceInstanceRefresh, "x"), "ActiveInstanceRefreshNotFound"},
		{openami.Errorf(openami.InvalidToken, openami.ResourceAutoScalingGroup, "x"), "InvalidNextToken"},
	} {
		h := New(&fakeRules{err: c.err})
		code, body := serve(t, h, url.Values{"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"web"}})
		if code != 400 {
			t.Errorf("%v: status %d", c.err, code)
		}
		wantBody(t, c.code, body, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>`+c.code+`</Code>`)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{param.Missing("MinSize"), "1 validation error detected: Value null at 'minSize' failed to satisfy constraint: Member must not be null"},
		{param.Missing("Template"), "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."},
		{param.MissingEither("TemplateID", "TemplateName"), "Valid requests must contain either launchTemplateId or launchTemplateName parameter."},
		{param.Breaks("MaxRecords", "0", "must have value between 1 and 100"), "1 validation error detected: Value '0' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100"},
	} {
		_, body := serve(t, New(&fakeRules{err: c.err}), url.Values{"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"web"}})
		wantBody(t, c.want, body, "<Code>ValidationError</Code><Message>"+c.want+"</Message>")
	}
	code, body := serve(t, New(&fakeRules{}), url.Values{"Action": {"PutScalingPolicy"}})
	if code != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
		t.Errorf("unknown action: %d %s", code, body)
	}
}

// TestRulesRefusalsWorded: the refusals the rules make of values (not
// sentences) read as Auto Scaling's.
func TestRulesRefusalsWorded(t *testing.T) {
	notFound := openami.Errorf(openami.NotFound, openami.ResourceLaunchTemplate, "The specified launch template, with template ID lt-1, does not exist.")
	for _, c := range []struct {
		err  error
		want string
	}{
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceLaunchTemplate, Field: "Template", Err: notFound},
			"You must use a valid fully-formed launch template. The specified launch template, with template ID lt-1, does not exist."},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceSubnet, Field: "Subnets", Value: "subnet-1",
			Err: openami.Errorf(openami.NotFound, openami.ResourceSubnet, "The subnet ID 'subnet-1' does not exist")},
			"The subnet ID 'subnet-1' does not exist"},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceAutoScalingGroup, Field: "ShouldDecrement", Value: "true", Detail: "2"},
			"Currently, desiredSize equals minSize (2). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size."},
		{param.Breaks("DesiredCapacity", "-1", "must have value greater than or equal to 0"),
			"1 validation error detected: Value '-1' at 'desiredCapacity' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{param.Breaks("HealthCheckGracePeriod", "-5", "must have value greater than or equal to 0"),
			"1 validation error detected: Value '-5' at 'healthCheckGracePeriod' failed to satisfy constraint: Member must have value greater than or equal to 0"},
	} {
		_, body := serve(t, New(&fakeRules{err: c.err}), url.Values{"Action": {"CreateAutoScalingGroup"}, "AutoScalingGroupName": {"web"}})
		wantBody(t, c.want, body, "<Code>ValidationError</Code><Message>"+c.want+"</Message>")
	}
}
