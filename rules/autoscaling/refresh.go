package autoscaling

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// RefreshInput is StartInstanceRefresh's input: the group and the
// preferences openami carries out (nil: not given).
type RefreshInput struct {
	Group          string
	MinHealthy     *int
	MaxHealthy     *int
	InstanceWarmup *int
	SkipMatching   bool
	// Unsupported names a strategy or preference openami does not do.
	Unsupported string
}

// StartInstanceRefresh starts replacing the group's instances with ones
// of its launch template's current version (with SkipMatching, only
// those of another template or version), in batches that keep
// MinHealthy percent of the desired capacity in service and warm
// (refreshStep). One refresh runs at a time. It returns the refresh's id.
func (g *Groups) StartInstanceRefresh(ctx context.Context, p openami.Principal, in RefreshInput) (string, error) {
	if err := checkName(in.Group); err != nil {
		return "", err
	}
	if in.Unsupported != "" {
		return "", openami.Errorf(openami.Unsupported, openami.ResourceInstanceRefresh, "%s is not supported by openami", in.Unsupported)
	}
	r := openami.InstanceRefresh{ID: uuid.NewString(), Status: openami.RefreshPending, StartTime: g.nowUTC(),
		MinHealthy: defaultMinHealthy, InstanceWarmup: -1, SkipMatching: in.SkipMatching}
	if in.MinHealthy != nil {
		if *in.MinHealthy < 0 || *in.MinHealthy > 100 {
			return "", param.Breaks("MinHealthy", strconv.Itoa(*in.MinHealthy), "must have value between 0 and 100")
		}
		r.MinHealthy = *in.MinHealthy
	}
	if in.MaxHealthy != nil {
		switch {
		case *in.MaxHealthy < 100 || *in.MaxHealthy > 200:
			return "", param.Breaks("MaxHealthy", strconv.Itoa(*in.MaxHealthy), "must have value between 100 and 200")
		case *in.MaxHealthy-r.MinHealthy > 100:
			return "", openami.Errorf(openami.InvalidParameter, openami.ResourceInstanceRefresh, "The difference between MaxHealthyPercentage and MinHealthyPercentage must not be more than 100.")
		case *in.MaxHealthy == 100 && r.MinHealthy == 100:
			return "", openami.Errorf(openami.InvalidParameter, openami.ResourceInstanceRefresh, "MinHealthyPercentage and MaxHealthyPercentage cannot both be 100.")
		}
		r.MaxHealthy = *in.MaxHealthy
	}
	if in.InstanceWarmup != nil {
		if *in.InstanceWarmup < 0 {
			return "", param.Breaks("InstanceWarmup", strconv.Itoa(*in.InstanceWarmup), "must have value greater than or equal to 0")
		}
		r.InstanceWarmup = *in.InstanceWarmup
	}
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grp, err := g.group(tx, p, in.Group)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(grp.Refreshes, openami.InstanceRefresh.Active) {
			return openami.Errorf(openami.Duplicate, openami.ResourceInstanceRefresh, "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
		}
		_, version, err := g.resolveTemplate(tx, p, TemplateSpec{ID: grp.TemplateID, Version: grp.TemplateVersion})
		if err != nil {
			return err
		}
		rf := r
		rf.ToReplace = nil
		for _, m := range grp.Instances {
			if m.LifecycleState == openami.LifecycleTerminating {
				continue
			}
			if rf.SkipMatching && m.TemplateID == grp.TemplateID && m.TemplateVersion == version {
				continue
			}
			rf.ToReplace = append(rf.ToReplace, m.InstanceID)
		}
		rf.Total = len(rf.ToReplace)
		grp.Refreshes = slices.Insert(grp.Refreshes, 0, rf)
		if len(grp.Refreshes) > maxRefreshes {
			grp.Refreshes = grp.Refreshes[:maxRefreshes]
		}
		return tx.AutoScalingGroups().Put(grp)
	})
	if err != nil {
		return "", err
	}
	g.kick()
	return r.ID, nil
}

// CancelInstanceRefresh cancels the group's running refresh: it turns
// Cancelling, and Cancelled on the controller's next pass; instances
// already replaced stay. It returns the refresh's id.
func (g *Groups) CancelInstanceRefresh(ctx context.Context, p openami.Principal, group string) (string, error) {
	if err := checkName(group); err != nil {
		return "", err
	}
	var id string
	err := g.store.Update(ctx, func(tx metadata.Tx) error {
		grp, err := g.group(tx, p, group)
		if err != nil {
			return err
		}
		rf := activeRefresh(&grp)
		if rf == nil || rf.Status == openami.RefreshCancelling {
			return openami.Errorf(openami.NotFound, openami.ResourceInstanceRefresh, "No in progress or pending Instance Refresh found for Auto Scaling group %s", group)
		}
		rf.Status, id = openami.RefreshCancelling, rf.ID
		return tx.AutoScalingGroups().Put(grp)
	})
	if err == nil {
		g.kick()
	}
	return id, err
}

// RefreshView is an instance refresh as DescribeInstanceRefreshes shows
// it.
type RefreshView struct {
	openami.InstanceRefresh
	Group              string
	PercentageComplete int
	InstancesToUpdate  int
	// Warmup is the warm-up the refresh uses, in seconds.
	Warmup int
}

// DescribeInstanceRefreshes returns the group's refreshes, newest first:
// those of the ids, or every one.
func (g *Groups) DescribeInstanceRefreshes(ctx context.Context, p openami.Principal, group string, ids []string) ([]RefreshView, error) {
	if err := checkName(group); err != nil {
		return nil, err
	}
	var out []RefreshView
	err := g.store.View(ctx, func(tx metadata.Tx) error {
		out = nil
		grp, err := tx.AutoScalingGroups().Get(p.Region, p.AccountID, group)
		if err != nil {
			return err
		}
		for _, r := range grp.Refreshes {
			if len(ids) > 0 && !slices.Contains(ids, r.ID) {
				continue
			}
			v := RefreshView{InstanceRefresh: r, Group: grp.Name, Warmup: int(warmup(&grp, r) / time.Second)}
			v.PercentageComplete, v.InstancesToUpdate = progress(&grp, r, g.now())
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// activeRefresh returns the group's running refresh, nil if none.
func activeRefresh(grp *openami.AutoScalingGroup) *openami.InstanceRefresh {
	for k := range grp.Refreshes {
		if grp.Refreshes[k].Active() {
			return &grp.Refreshes[k]
		}
	}
	return nil
}

// warmup is how long a new instance of a refresh must have been in
// service before it counts as healthy: the refresh's InstanceWarmup, else
// the group's DefaultInstanceWarmup, else its health check grace period,
// as AWS's.
func warmup(grp *openami.AutoScalingGroup, r openami.InstanceRefresh) time.Duration {
	switch {
	case r.InstanceWarmup >= 0:
		return time.Duration(r.InstanceWarmup) * time.Second
	case grp.DefaultInstanceWarmup >= 0:
		return time.Duration(grp.DefaultInstanceWarmup) * time.Second
	}
	return time.Duration(grp.HealthCheckGracePeriod) * time.Second
}

// ready reports whether an instance counts as healthy in service for a
// refresh: InService, healthy and warmed up.
func ready(m openami.GroupInstance, warm time.Duration, now time.Time) bool {
	return m.LifecycleState == openami.LifecycleInService && m.Healthy && !now.Before(m.InServiceAt.Add(warm))
}

// progress returns a refresh's percentage complete and the number of
// instances it has yet to see replaced: those to replace and the
// replacements not yet ready.
func progress(grp *openami.AutoScalingGroup, r openami.InstanceRefresh, now time.Time) (int, int) {
	if r.Status == openami.RefreshSuccessful {
		return 100, 0
	}
	if r.Total == 0 {
		if r.Active() {
			return 0, 0
		}
		return 100, 0
	}
	waiting := len(r.ToReplace)
	if r.Active() {
		warm := warmup(grp, r)
		waiting += len(grp.Launches)
		for _, m := range grp.Instances {
			if !slices.Contains(r.ToReplace, m.InstanceID) && !ready(m, warm, now) {
				waiting++
			}
		}
	}
	waiting = min(waiting, r.Total)
	return (r.Total - waiting) * 100 / r.Total, waiting
}

// refreshStep moves the group's running refresh on (step 2 of
// Reconcile). While a batch is in flight (a replacement launching,
// pending or warming up, an instance terminating) it waits. Then, with a
// MaxHealthy above 100, it launches first, as AWS does: it asks
// fitCapacity for up to floor(MaxHealthy% × desired) − desired
// instances beyond the desired capacity (Extra), and once they are ready
// takes as many old ones out of service. Otherwise it terminates, then
// launches, as AWS's default: it takes the next batch out of service, as
// many as keep ceil(MinHealthy% × desired) instances ready, at least one
// (so that 100% replaces one at a time, as on AWS), and fitCapacity
// launches their replacements from the group's current template version.
// When none is left to replace and every instance is ready, it succeeds.
func (g *Groups) refreshStep(grp *openami.AutoScalingGroup, now time.Time) {
	r := activeRefresh(grp)
	if r == nil {
		return
	}
	switch r.Status {
	case openami.RefreshCancelling:
		r.Status, r.EndTime, r.StatusReason = openami.RefreshCancelled, now, "Instance Refresh was cancelled by a user."
		r.Extra = 0 // fitCapacity terminates the surplus, old versions first
		return
	case openami.RefreshPending:
		r.Status = openami.RefreshInProgress
	}
	// Instances that left the group by other means need no replacing.
	r.ToReplace = slices.DeleteFunc(r.ToReplace, func(id string) bool {
		return !slices.ContainsFunc(grp.Instances, func(m openami.GroupInstance) bool {
			return m.InstanceID == id && m.LifecycleState != openami.LifecycleTerminating
		})
	})
	warm := warmup(grp, *r)
	inFlight := len(grp.Launches) > 0
	healthy := 0
	for _, m := range grp.Instances {
		switch {
		case m.LifecycleState == openami.LifecycleTerminating:
			inFlight = true
		case ready(m, warm, now):
			healthy++
		default:
			inFlight = true
		}
	}
	if inFlight || live(grp) < grp.DesiredCapacity+r.Extra {
		return
	}
	out := func(n int) {
		for _, id := range r.ToReplace[:n] {
			k := slices.IndexFunc(grp.Instances, func(m openami.GroupInstance) bool { return m.InstanceID == id })
			g.terminate(grp, k, "At "+stamp(now)+" an instance was taken out of service in response to an instance refresh.", now)
		}
		r.ToReplace = slices.Delete(r.ToReplace, 0, n)
	}
	if r.Extra > 0 {
		// The instances launched ahead are ready: as many old ones go.
		out(min(r.Extra, len(r.ToReplace)))
		r.Extra = 0
		return
	}
	if len(r.ToReplace) == 0 {
		r.Status, r.EndTime, r.StatusReason = openami.RefreshSuccessful, now, ""
		return
	}
	if r.MaxHealthy > 100 {
		if extra := min(grp.DesiredCapacity*r.MaxHealthy/100-grp.DesiredCapacity, len(r.ToReplace)); extra > 0 {
			r.Extra = extra
			return
		}
	}
	floor := (grp.DesiredCapacity*r.MinHealthy + 99) / 100
	batch := max(1, healthy-floor)
	out(min(batch, len(r.ToReplace)))
}
