// Package autoscaling holds the rules of Auto Scaling groups: the
// actions of the Auto Scaling API (CreateAutoScalingGroup …
// CancelInstanceRefresh) and the controller the service's worker runs
// (Reconcile), which keeps each group at its desired capacity across its
// zones or subnets, replaces instances that stop, fail or are terminated
// outside it, and rolls the group onto its launch template's current
// version with instance refreshes (docs/AUTOSCALING.md).
//
// A group's record holds the controller's whole state (its instances,
// the launches it decided, its activities and refreshes), so that a
// restart resumes where the last pass stopped. The controller launches
// and terminates through rules/instances, as the group's account.
package autoscaling

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/param"
	"github.com/openami/openami/rules/templates"
)

// TagGroupName is the tag Auto Scaling puts on the instances a group
// launches, naming the group.
const TagGroupName = "aws:autoscaling:groupName"

// Limits of Auto Scaling's API, as AWS documents them.
const (
	maxNameLength = 255
	// maxActivities is how many activities a group's record keeps (the
	// newest); AWS keeps six weeks of them.
	maxActivities = 100
	// maxRefreshes is how many instance refreshes a record keeps.
	maxRefreshes = 20
	// maxGroupSize is the most instances a group may hold here.
	maxGroupSize = 1000
	// defaultMinHealthy is StartInstanceRefresh's MinHealthyPercentage
	// when not given, as AWS's.
	defaultMinHealthy = 90
)

// Config is what Groups are built from.
type Config struct {
	Store     metadata.Store
	Identity  *identity.Accounts
	Networks  *network.Networks
	Templates *templates.Templates
	Instances *instances.Machines
	Clock     func() time.Time
	// Kick, when not nil, asks the worker for a pass soon (a change that
	// gives the controller work).
	Kick func()
}

// Groups are the rules of Auto Scaling groups.
type Groups struct {
	store     metadata.Store
	identity  *identity.Accounts
	networks  *network.Networks
	templates *templates.Templates
	machines  *instances.Machines
	now       func() time.Time
	kick      func()
}

// New returns the rules of Auto Scaling groups over cfg.
func New(cfg Config) *Groups {
	g := &Groups{store: cfg.Store, identity: cfg.Identity, networks: cfg.Networks, templates: cfg.Templates,
		machines: cfg.Instances, now: cfg.Clock, kick: cfg.Kick}
	if g.now == nil {
		g.now = time.Now
	}
	if g.kick == nil {
		g.kick = func() {}
	}
	return g
}

// nowUTC is the clock's time in UTC, to the millisecond as AWS's times.
func (g *Groups) nowUTC() time.Time { return g.now().UTC().Truncate(time.Millisecond) }

// TemplateSpec names a group's launch template as the API does.
type TemplateSpec struct {
	ID, Name, Version string
}

// GroupInput is CreateAutoScalingGroup's and UpdateAutoScalingGroup's
// input; a nil pointer is a parameter not given (Update leaves it).
type GroupInput struct {
	Name                   string
	Template               *TemplateSpec
	MinSize, MaxSize       *int
	DesiredCapacity        *int
	Zones                  []string
	Subnets                []string // VPCZoneIdentifier, split
	HealthCheckType        string
	HealthCheckGracePeriod *int
	DefaultInstanceWarmup  *int
	DefaultCooldown        *int
	Tags                   []openami.GroupTag
	// Uses names what the request gives that openami does not do (launch
	// configurations, mixed instances, load balancers …): refused.
	Unsupported string
}

var namePattern = regexp.MustCompile(`^[\x{0020}-\x{D7FF}\x{E000}-\x{FFFD}\t\r\n]*$`)

// unusableTemplate is the refusal of a group's template spec that EC2
// refused with cause (a template or version not found, a bad id): an
// invalid Template whose cause api/autoscaling quotes.
func unusableTemplate(cause error) error {
	return &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceLaunchTemplate, Field: "Template", Err: cause}
}

func validationf(format string, args ...any) error {
	return openami.Errorf(openami.InvalidParameter, openami.ResourceAutoScalingGroup, format, args...)
}

func checkName(name string) error {
	if name == "" {
		return param.Missing("Name")
	}
	if len(name) > maxNameLength || !namePattern.MatchString(name) || strings.Contains(name, ":") {
		return param.Breaks("Name", name, "must have length less than or equal to 255 and satisfy the pattern [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]* without ':'")
	}
	return nil
}

// checkSizes checks min ≤ desired ≤ max as AWS words it.
func checkSizes(minSize, maxSize, desired int) error {
	for _, s := range []struct {
		field string
		n     int
	}{{"MinSize", minSize}, {"MaxSize", maxSize}, {"DesiredCapacity", desired}} {
		if s.n < 0 {
			return param.Breaks(s.field, strconv.Itoa(s.n), "must have value greater than or equal to 0")
		}
	}
	if maxSize > maxGroupSize {
		return openami.Errorf(openami.LimitExceeded, openami.ResourceAutoScalingGroup, "Max bound, %d, must be less than or equal to %d", maxSize, maxGroupSize)
	}
	if minSize > maxSize {
		return validationf("Max bound, %d, must be greater than or equal to min bound, %d", maxSize, minSize)
	}
	if desired < minSize || desired > maxSize {
		return validationf("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, minSize, maxSize)
	}
	return nil
}

// resolveTemplate checks that the caller's template spec names exists,
// with the version, and returns the template and the version's number.
func (g *Groups) resolveTemplate(tx metadata.Tx, p openami.Principal, spec TemplateSpec) (openami.LaunchTemplate, int64, error) {
	switch {
	case spec.ID != "" && spec.Name != "":
		return openami.LaunchTemplate{}, 0, param.Exclusive("TemplateID", "TemplateName")
	case spec.ID == "" && spec.Name == "":
		return openami.LaunchTemplate{}, 0, param.MissingEither("TemplateID", "TemplateName")
	}
	l, err := g.templates.Resolve(tx, p, templates.Ref{ID: spec.ID, Name: spec.Name, Version: spec.Version})
	if err != nil {
		if openami.ClassOf(err) == openami.NotFound || openami.ClassOf(err) == openami.Malformed {
			// Auto Scaling quotes EC2's refusal: the cause is a value.
			return openami.LaunchTemplate{}, 0, unusableTemplate(err)
		}
		return openami.LaunchTemplate{}, 0, err
	}
	return l.Template, l.Version, nil
}

// place checks the group's zones or subnets, setting its SubnetZones.
func (g *Groups) place(tx metadata.Tx, p openami.Principal, grp *openami.AutoScalingGroup) error {
	if len(grp.Zones) == 0 && len(grp.Subnets) == 0 {
		return validationf("At least one Availability Zone or VPC Subnet is required.")
	}
	region, ok := g.identity.Region(p.Region)
	if !ok {
		return openami.Errorf(openami.NotFound, openami.ResourceRegion, "The region %s is not served", p.Region)
	}
	for _, z := range grp.Zones {
		if !slices.ContainsFunc(region.Zones, func(rz openami.Zone) bool { return rz.Name == z }) {
			return validationf("The availability zone '%s' is not legal", z)
		}
	}
	grp.SubnetZones = nil
	var zones []string
	for _, id := range grp.Subnets {
		sn, _, err := g.networks.Placement(tx, p, network.PlacementInput{SubnetID: id})
		if err != nil {
			if openami.ClassOf(err) == openami.NotFound || openami.ClassOf(err) == openami.Malformed {
				// Auto Scaling quotes EC2's refusal: the cause is a value.
				return &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceSubnet, Field: "Subnets", Value: id, Err: err}
			}
			return err
		}
		grp.SubnetZones = append(grp.SubnetZones, sn.AvailabilityZone)
		if !slices.Contains(zones, sn.AvailabilityZone) {
			zones = append(zones, sn.AvailabilityZone)
		}
	}
	if len(grp.Subnets) > 0 {
		if len(grp.Zones) > 0 {
			for _, z := range zones {
				if !slices.Contains(grp.Zones, z) {
					return validationf("The subnet '%s' is not in one of the availability zones given", grp.Subnets[slices.Index(grp.SubnetZones, z)])
				}
			}
		}
		grp.Zones = zones
	}
	return nil
}

// CreateAutoScalingGroup records a group; the controller launches its
// instances on its next pass.
func (g *Groups) CreateAutoScalingGroup(ctx context.Context, p openami.Principal, in GroupInput) error {
	if err := checkName(in.Name); err != nil {
		return err
	}
	if in.Unsupported != "" {
		return openami.Errorf(openami.Unsupported, openami.ResourceAutoScalingGroup, "%s is not supported by openami", in.Unsupported)
	}
	if in.Template == nil {
		return param.Missing("Template")
	}
	if in.MinSize == nil {
		return param.Missing("MinSize")
	}
	if in.MaxSize == nil {
		return param.Missing("MaxSize")
	}
	grp := openami.AutoScalingGroup{Name: in.Name, Region: p.Region, AccountID: p.AccountID, CreatedAt: g.nowUTC(),
		TemplateVersion: in.Template.Version,
		MinSize:         *in.MinSize, MaxSize: *in.MaxSize, DesiredCapacity: *in.MinSize,
		Zones: in.Zones, Subnets: in.Subnets, HealthCheckType: "EC2", DefaultInstanceWarmup: -1, DefaultCooldown: 300}
	grp.ARN = fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", p.Region, p.AccountID, groupUUID(p, in.Name, grp.CreatedAt), in.Name)
	if err := applyOptional(&grp, in); err != nil {
		return err
	}
	if err := checkSizes(grp.MinSize, grp.MaxSize, grp.DesiredCapacity); err != nil {
		return err
	}
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	grp.Tags = mergeGroupTags(nil, in.Tags)
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		lt, _, err := g.resolveTemplate(tx, p, *in.Template)
		if err != nil {
			return err
		}
		grp.TemplateID, grp.TemplateName = lt.ID, lt.Name
		if err := g.place(tx, p, &grp); err != nil {
			return err
		}
		return tx.AutoScalingGroups().Create(grp)
	})
	if err == nil {
		g.kick()
	}
	return err
}

// applyOptional sets the optional parameters in gives on grp.
func applyOptional(grp *openami.AutoScalingGroup, in GroupInput) error {
	if in.DesiredCapacity != nil {
		grp.DesiredCapacity = *in.DesiredCapacity
	}
	if in.HealthCheckType != "" {
		if in.HealthCheckType != "EC2" {
			return openami.Errorf(openami.Unsupported, openami.ResourceAutoScalingGroup, "Health check type %s is not supported by openami: only EC2", in.HealthCheckType)
		}
		grp.HealthCheckType = in.HealthCheckType
	}
	if in.HealthCheckGracePeriod != nil {
		if *in.HealthCheckGracePeriod < 0 {
			return param.Breaks("HealthCheckGracePeriod", strconv.Itoa(*in.HealthCheckGracePeriod), "must have value greater than or equal to 0")
		}
		grp.HealthCheckGracePeriod = *in.HealthCheckGracePeriod
	}
	if in.DefaultInstanceWarmup != nil {
		grp.DefaultInstanceWarmup = *in.DefaultInstanceWarmup
	}
	if in.DefaultCooldown != nil {
		grp.DefaultCooldown = *in.DefaultCooldown
	}
	return nil
}

// groupUUID is the id part of a group's ARN: stable for the group.
func groupUUID(p openami.Principal, name string, at time.Time) string {
	h := uint64(14695981039346656037)
	for _, b := range []byte(p.Region + "/" + p.AccountID + "/" + name + "/" + at.String()) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	x := fmt.Sprintf("%016x%016x", h, h*31+7)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// UpdateAutoScalingGroup changes what in gives of a group; the
// controller acts on it on its next pass. A changed template or version
// applies to new launches only (an instance refresh replaces the rest).
func (g *Groups) UpdateAutoScalingGroup(ctx context.Context, p openami.Principal, in GroupInput) error {
	if err := checkName(in.Name); err != nil {
		return err
	}
	if in.Unsupported != "" {
		return openami.Errorf(openami.Unsupported, openami.ResourceAutoScalingGroup, "%s is not supported by openami", in.Unsupported)
	}
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grp, err := g.group(tx, p, in.Name)
		if err != nil {
			return err
		}
		if in.Template != nil {
			lt, _, err := g.resolveTemplate(tx, p, *in.Template)
			if err != nil {
				return err
			}
			grp.TemplateID, grp.TemplateName, grp.TemplateVersion = lt.ID, lt.Name, in.Template.Version
		}
		if in.MinSize != nil {
			grp.MinSize = *in.MinSize
			if in.DesiredCapacity == nil && grp.DesiredCapacity < grp.MinSize {
				grp.DesiredCapacity = grp.MinSize
			}
		}
		if in.MaxSize != nil {
			grp.MaxSize = *in.MaxSize
			if in.DesiredCapacity == nil && grp.DesiredCapacity > grp.MaxSize {
				grp.DesiredCapacity = grp.MaxSize
			}
		}
		if err := applyOptional(&grp, in); err != nil {
			return err
		}
		if err := checkSizes(grp.MinSize, grp.MaxSize, grp.DesiredCapacity); err != nil {
			return err
		}
		if in.Zones != nil || in.Subnets != nil {
			grp.Zones, grp.Subnets = in.Zones, in.Subnets
			if err := g.place(tx, p, &grp); err != nil {
				return err
			}
		}
		return tx.AutoScalingGroups().Put(grp)
	})
	if err == nil {
		g.kick()
	}
	return err
}

// group returns the caller's group, refusing one being deleted as AWS
// does ("… is pending delete").
func (g *Groups) group(tx metadata.Tx, p openami.Principal, name string) (openami.AutoScalingGroup, error) {
	grp, err := tx.AutoScalingGroups().Get(p.Region, p.AccountID, name)
	if err != nil {
		return grp, err
	}
	if grp.Deleting {
		return grp, openami.ReasonErrorf(openami.IncorrectState, openami.ResourceAutoScalingGroup, openami.ReasonUnavailable, "AutoScalingGroup %s is pending delete.", name)
	}
	return grp, nil
}

// DeleteAutoScalingGroup deletes a group. A group with instances is
// refused (ResourceInUse, or ScalingActivityInProgress while an activity
// is in progress) unless forced: then the controller terminates its
// instances and removes the group when they are gone.
func (g *Groups) DeleteAutoScalingGroup(ctx context.Context, p openami.Principal, name string, force bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grp, err := tx.AutoScalingGroups().Get(p.Region, p.AccountID, name)
		if err != nil {
			return err
		}
		if len(grp.Instances) == 0 && len(grp.Launches) == 0 {
			return tx.AutoScalingGroups().Delete(p.Region, p.AccountID, name)
		}
		if !force {
			if slices.ContainsFunc(grp.Activities, func(a openami.ScalingActivity) bool { return a.StatusCode == openami.ActivityInProgress }) {
				return openami.Errorf(openami.IncorrectState, openami.ResourceAutoScalingGroup, "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.")
			}
			return openami.Errorf(openami.InUse, openami.ResourceAutoScalingGroup, "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
		}
		grp.Deleting = true
		grp.MinSize, grp.MaxSize, grp.DesiredCapacity = 0, 0, 0
		for k := range grp.Refreshes {
			if grp.Refreshes[k].Active() {
				grp.Refreshes[k].Status, grp.Refreshes[k].EndTime = openami.RefreshCancelled, g.nowUTC()
				grp.Refreshes[k].StatusReason = "The group is being deleted."
			}
		}
		return tx.AutoScalingGroups().Put(grp)
	})
	if err == nil {
		g.kick()
	}
	return err
}

// SetDesiredCapacity changes a group's desired capacity, within its
// sizes.
func (g *Groups) SetDesiredCapacity(ctx context.Context, p openami.Principal, name string, desired int) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grp, err := g.group(tx, p, name)
		if err != nil {
			return err
		}
		if desired > grp.MaxSize {
			return validationf("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, grp.MaxSize)
		}
		if desired < grp.MinSize {
			return validationf("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, grp.MinSize)
		}
		grp.DesiredCapacity = desired
		return tx.AutoScalingGroups().Put(grp)
	})
	if err == nil {
		g.kick()
	}
	return err
}

// TerminateInstanceInAutoScalingGroup takes an instance out of its
// group and terminates it; with decrement the group's desired capacity
// drops by one (not below its MinSize), else the controller launches a
// replacement. It returns the activity.
func (g *Groups) TerminateInstanceInAutoScalingGroup(ctx context.Context, p openami.Principal, instanceID string, decrement bool) (openami.ScalingActivity, error) {
	var act openami.ScalingActivity
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grps, err := tx.AutoScalingGroups().List(p.Region, p.AccountID, "", 0)
		if err != nil {
			return err
		}
		for _, grp := range grps {
			k := slices.IndexFunc(grp.Instances, func(m openami.GroupInstance) bool { return m.InstanceID == instanceID })
			if k < 0 {
				continue
			}
			now := g.nowUTC()
			cause := fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", stamp(now), instanceID)
			if decrement {
				if grp.DesiredCapacity <= grp.MinSize {
					return belowMin(grp.MinSize)
				}
				cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", stamp(now), instanceID, grp.DesiredCapacity, grp.DesiredCapacity-1)
				grp.DesiredCapacity--
			}
			if grp.Instances[k].LifecycleState != openami.LifecycleTerminating {
				act = g.terminate(&grp, k, cause, now)
			} else {
				act = *activity(&grp, grp.Instances[k].ActivityID)
			}
			return tx.AutoScalingGroups().Put(grp)
		}
		return validationf("Instance Id not found - No managed instance found for instance ID: %s", instanceID)
	})
	if err == nil {
		g.kick()
	}
	return act, err
}

// stamp is a time as Auto Scaling's causes write it.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// belowMin refuses to terminate an instance and decrement the desired
// capacity of a group already at its minimum size: an invalid
// ShouldDecrement, with the minimum as its detail (api/autoscaling
// words Auto Scaling's sentence from them).
func belowMin(minSize int) error {
	return &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceAutoScalingGroup,
		Field: "ShouldDecrement", Value: "true", Detail: strconv.Itoa(minSize)}
}
