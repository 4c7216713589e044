package autoscaling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/templates"
)

// Reconcile is the controller's pass over every group of every account
// (the service's worker runs it): for each group it
//
//  1. observes its instances' states through rules/instances,
//  2. decides, in one transaction over the group's record, which
//     instances to take out of service (stopped, terminated, impaired
//     after the grace period, surplus, the next batch of a refresh) and
//     how many to launch in which zone or subnet, recording each as an
//     activity in progress and each launch with its client token,
//  3. launches and terminates as the group's account, and
//  4. records what came of it.
//
// A crash between 2 and 4 repeats 3 on the next pass: a launch with its
// client token gets the instance of the first, and terminating an
// instance twice is harmless. It reports whether any group has work in
// flight (a launch, a termination, a refresh), so the worker can come
// back soon. A group that fails is logged by the caller through the
// returned error, after the others have had their pass.
func (g *Groups) Reconcile(ctx context.Context) (busy bool, err error) {
	var grps []openami.AutoScalingGroup
	if err := g.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		grps, err = tx.AutoScalingGroups().List("", "", "", 0)
		return err
	}); err != nil {
		return false, err
	}
	var errs []error
	for _, grp := range grps {
		b, err := g.reconcile(ctx, grp)
		if err != nil {
			errs = append(errs, fmt.Errorf("auto scaling group %s: %w", grp.Name, err))
		}
		busy = busy || b
	}
	return busy, errors.Join(errs...)
}

// observed is what the controller sees of an instance.
type observed struct {
	state  openami.InstanceState
	health openami.HealthStatus
}

func (g *Groups) reconcile(ctx context.Context, grp openami.AutoScalingGroup) (bool, error) {
	p := openami.Principal{AccountID: grp.AccountID, Region: grp.Region}
	// 1. Observe: every live instance of the account (terminated ones are
	// absent).
	statuses, err := g.machines.InstanceStatuses(ctx, p, nil, true)
	if err != nil {
		return false, err
	}
	seen := make(map[string]observed, len(statuses))
	for _, s := range statuses {
		seen[s.ID] = observed{state: s.State, health: s.Health.Status}
	}
	// 2. Decide.
	var deleted bool
	err = g.store.Update(ctx, func(tx metadata.Tx) error {
		deleted = false
		cur, err := tx.AutoScalingGroups().Get(grp.Region, grp.AccountID, grp.Name)
		if err != nil {
			return err
		}
		// The version new launches take: $Latest or $Default as of now,
		// fixed in each launch so that a repeat launches the same.
		version := int64(0)
		if l, err := g.templates.Resolve(tx, p, templates.Ref{ID: cur.TemplateID, Version: cur.TemplateVersion}); err == nil {
			version = l.Version
		}
		g.decide(&cur, seen, version)
		if cur.Deleting && len(cur.Instances) == 0 && len(cur.Launches) == 0 {
			deleted = true
			return tx.AutoScalingGroups().Delete(cur.Region, cur.AccountID, cur.Name)
		}
		grp = cur
		return tx.AutoScalingGroups().Put(cur)
	})
	if err != nil || deleted {
		return false, err
	}
	// 3. Act.
	type launched struct {
		launch openami.GroupLaunch
		inst   instances.InstanceView
		err    error
	}
	var results []launched
	var tags []openami.Tag
	for _, t := range grp.Tags {
		if t.PropagateAtLaunch {
			tags = append(tags, openami.Tag{Key: t.Key, Value: t.Value})
		}
	}
	for _, l := range grp.Launches {
		ref := templates.Ref{ID: grp.TemplateID, Version: grp.TemplateVersion}
		if l.TemplateVersion > 0 {
			ref.Version = strconv.FormatInt(l.TemplateVersion, 10)
		}
		in := instances.RunInstancesInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &ref, ClientToken: l.ClientToken,
			InstanceTags: tags, SystemTags: []openami.Tag{{Key: TagGroupName, Value: grp.Name}}}
		if slices.Contains(grp.Subnets, l.Slot) {
			in.SubnetID = l.Slot
		} else {
			in.AvailabilityZone = l.Slot
		}
		r, err := g.machines.RunInstances(ctx, p, in)
		res := launched{launch: l, err: err}
		if err == nil {
			res.inst = r.Instances[0]
		}
		results = append(results, res)
	}
	var ending []string
	for _, m := range grp.Instances {
		if m.LifecycleState == openami.LifecycleTerminating {
			if _, live := seen[m.InstanceID]; live {
				ending = append(ending, m.InstanceID)
			}
		}
	}
	for _, id := range ending {
		if _, err := g.machines.TerminateInstances(ctx, p, []string{id}); err != nil && openami.ClassOf(err) != openami.NotFound {
			return true, err
		}
	}
	busy := len(grp.Launches) > 0 || len(ending) > 0 || slices.ContainsFunc(grp.Refreshes, openami.InstanceRefresh.Active) ||
		slices.ContainsFunc(grp.Instances, func(m openami.GroupInstance) bool { return m.LifecycleState != openami.LifecycleInService })
	if len(results) == 0 {
		return busy, nil
	}
	// 4. Record.
	err = g.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.AutoScalingGroups().Get(grp.Region, grp.AccountID, grp.Name)
		if err != nil {
			return err
		}
		now := g.nowUTC()
		for _, r := range results {
			k := slices.IndexFunc(cur.Launches, func(l openami.GroupLaunch) bool { return l.ActivityID == r.launch.ActivityID })
			if k < 0 {
				continue
			}
			cur.Launches = slices.Delete(cur.Launches, k, k+1)
			a := activity(&cur, r.launch.ActivityID)
			if r.err != nil {
				if a != nil {
					a.StatusCode, a.StatusMessage, a.EndTime, a.Progress = openami.ActivityFailed, errorText(r.err), now, 100
					a.Description = "Launching a new EC2 instance.  Status Reason: " + errorText(r.err)
				}
				if rf := activeRefresh(&cur); rf != nil && rf.Status != openami.RefreshCancelling {
					rf.Status, rf.StatusReason, rf.EndTime = openami.RefreshFailed, "An instance failed to launch: "+errorText(r.err), now
				}
				continue
			}
			inst := r.inst
			m := openami.GroupInstance{InstanceID: inst.ID, InstanceType: inst.InstanceType, Zone: inst.AvailabilityZone,
				Slot: r.launch.Slot, TemplateID: grp.TemplateID, LaunchedAt: now, LifecycleState: openami.LifecyclePending, Healthy: true}
			for _, t := range inst.Tags {
				if t.Key == instances.TagTemplateVersion {
					m.TemplateVersion, _ = strconv.ParseInt(t.Value, 10, 64)
				}
				if t.Key == instances.TagTemplateID {
					m.TemplateID = t.Value
				}
			}
			if !slices.ContainsFunc(cur.Instances, func(x openami.GroupInstance) bool { return x.InstanceID == inst.ID }) {
				cur.Instances = append(cur.Instances, m)
			}
			if a != nil {
				a.StatusCode, a.EndTime, a.Progress = openami.ActivitySuccessful, now, 100
				a.Description = "Launching a new EC2 instance: " + inst.ID
				a.Details = fmt.Sprintf(`{"Subnet ID":%q,"Availability Zone":%q}`, inst.SubnetID, inst.AvailabilityZone)
			}
		}
		return tx.AutoScalingGroups().Put(cur)
	})
	return true, err
}

// errorText is an error's sentence for an activity's status message.
func errorText(err error) string {
	var oe *openami.Error
	if errors.As(err, &oe) && oe.Message != "" {
		return oe.Message
	}
	return err.Error()
}

// decide updates grp from what the controller sees and decides the next
// launches and terminations (step 2 of Reconcile).
func (g *Groups) decide(grp *openami.AutoScalingGroup, seen map[string]observed, version int64) {
	now := g.nowUTC()
	grace := time.Duration(grp.HealthCheckGracePeriod) * time.Second
	kept := grp.Instances[:0:0]
	for _, m := range grp.Instances {
		o, live := seen[m.InstanceID]
		if m.LifecycleState == openami.LifecycleTerminating {
			if !live {
				if a := activity(grp, m.ActivityID); a != nil && a.StatusCode == openami.ActivityInProgress {
					a.StatusCode, a.EndTime, a.Progress = openami.ActivitySuccessful, now, 100
				}
				continue // gone
			}
			kept = append(kept, m)
			continue
		}
		switch {
		case !live || o.state != openami.InstancePending && o.state != openami.InstanceRunning:
			// Terminated is final; a stopped one gets its grace period.
			if !live || now.Sub(m.LaunchedAt) >= grace {
				m.Healthy = false
			}
		case o.state == openami.InstanceRunning && o.health == openami.HealthImpaired && now.Sub(m.LaunchedAt) >= grace:
			m.Healthy = false
		case o.state == openami.InstanceRunning && m.LifecycleState == openami.LifecyclePending:
			m.LifecycleState, m.InServiceAt = openami.LifecycleInService, now
		}
		kept = append(kept, m)
	}
	grp.Instances = kept
	// Unhealthy instances leave service, then get replaced.
	for k, m := range grp.Instances {
		if m.Healthy || m.LifecycleState == openami.LifecycleTerminating {
			continue
		}
		why := "an EC2 health check indicating it has been terminated or stopped"
		if o, live := seen[m.InstanceID]; live && o.state == openami.InstanceRunning {
			why = "an EC2 instance status check failure"
		}
		g.terminate(grp, k, fmt.Sprintf("At %s an instance was taken out of service in response to %s.", stamp(now), why), now)
	}
	if grp.Deleting {
		for k, m := range grp.Instances {
			if m.LifecycleState != openami.LifecycleTerminating {
				g.terminate(grp, k, fmt.Sprintf("At %s an instance was taken out of service in response to a user request to delete the group.", stamp(now)), now)
			}
		}
		for _, l := range grp.Launches {
			if a := activity(grp, l.ActivityID); a != nil {
				a.StatusCode, a.EndTime, a.StatusMessage = openami.ActivityCancelled, now, "The group is being deleted."
			}
		}
		grp.Launches = nil
		return
	}
	g.refreshStep(grp, now)
	g.fitCapacity(grp, now, version)
}

// live counts the group's instances in (or on the way into) service:
// those not leaving it and the launches decided.
func live(grp *openami.AutoScalingGroup) int {
	n := len(grp.Launches)
	for _, m := range grp.Instances {
		if m.LifecycleState != openami.LifecycleTerminating {
			n++
		}
	}
	return n
}

// slots are where the group places instances: its subnets, or its zones.
func slots(grp *openami.AutoScalingGroup) []string {
	if len(grp.Subnets) > 0 {
		return grp.Subnets
	}
	return grp.Zones
}

// counts returns how many of the group's live instances and launches
// each slot has.
func counts(grp *openami.AutoScalingGroup) map[string]int {
	c := map[string]int{}
	for _, s := range slots(grp) {
		c[s] = 0
	}
	for _, m := range grp.Instances {
		if m.LifecycleState != openami.LifecycleTerminating {
			c[m.Slot]++
		}
	}
	for _, l := range grp.Launches {
		c[l.Slot]++
	}
	return c
}

// fitCapacity launches or terminates to bring the group to its desired
// capacity: a launch goes to the slot with the fewest instances (the
// first of them in the group's order), and the surplus goes in the
// termination order (terminationOrder).
func (g *Groups) fitCapacity(grp *openami.AutoScalingGroup, now time.Time, version int64) {
	n := live(grp)
	target := grp.DesiredCapacity
	if r := activeRefresh(grp); r != nil {
		target += r.Extra // a refresh launching ahead
	}
	switch {
	case n < target:
		c := counts(grp)
		for k := n; k < target; k++ {
			best := ""
			for _, s := range slots(grp) {
				if best == "" || c[s] < c[best] {
					best = s
				}
			}
			c[best]++
			a := newActivity(grp, now, "Launching a new EC2 instance",
				fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", stamp(now), n, target))
			grp.Launches = append(grp.Launches, openami.GroupLaunch{ActivityID: a.ID, Slot: best, ClientToken: "asg-" + a.ID, TemplateVersion: version})
		}
	case n > target:
		// Launches not yet made go first, the newest first.
		for n > target && len(grp.Launches) > 0 {
			l := grp.Launches[len(grp.Launches)-1]
			grp.Launches = grp.Launches[:len(grp.Launches)-1]
			if a := activity(grp, l.ActivityID); a != nil {
				a.StatusCode, a.EndTime, a.StatusMessage = openami.ActivityCancelled, now, "The desired capacity dropped before the launch."
			}
			n--
		}
		for ; n > target; n-- {
			k := g.nextToTerminate(grp)
			if k < 0 {
				return
			}
			g.terminate(grp, k, fmt.Sprintf("At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.", stamp(now), n, target), now)
		}
	}
}

// nextToTerminate picks the instance to terminate of a group with too
// many, in AWS's default termination order simplified to: the slot with
// the most instances (the last such in the group's order), within it
// the instance of the oldest launch template version (one of another
// template first), then the one closest to the next full hour since its
// launch (AWS's billing hour), then the lowest id. -1 if none is left.
func (g *Groups) nextToTerminate(grp *openami.AutoScalingGroup) int {
	c := counts(grp)
	most := ""
	for _, s := range slots(grp) {
		if most == "" || c[s] >= c[most] {
			most = s
		}
	}
	best := -1
	for k, m := range grp.Instances {
		if m.LifecycleState == openami.LifecycleTerminating {
			continue
		}
		if c[m.Slot] != c[most] && slices.Contains(slots(grp), m.Slot) {
			continue
		}
		if best < 0 || terminateBefore(grp, m, grp.Instances[best], g.now()) {
			best = k
		}
	}
	return best
}

// terminateBefore reports whether a goes before b in the termination
// order within a slot.
func terminateBefore(grp *openami.AutoScalingGroup, a, b openami.GroupInstance, now time.Time) bool {
	if (a.TemplateID != grp.TemplateID) != (b.TemplateID != grp.TemplateID) {
		return a.TemplateID != grp.TemplateID
	}
	if a.TemplateVersion != b.TemplateVersion {
		return a.TemplateVersion < b.TemplateVersion
	}
	ha, hb := now.Sub(a.LaunchedAt)%time.Hour, now.Sub(b.LaunchedAt)%time.Hour
	if ha != hb {
		return ha > hb
	}
	return a.InstanceID < b.InstanceID
}

// terminate takes the group's k-th instance out of service with an
// activity in progress that the cause explains, and returns the activity.
// The controller terminates it on its pass; the activity succeeds when
// the instance is gone.
func (g *Groups) terminate(grp *openami.AutoScalingGroup, k int, cause string, now time.Time) openami.ScalingActivity {
	if k >= len(grp.Instances) {
		return openami.ScalingActivity{}
	}
	m := &grp.Instances[k]
	a := newActivity(grp, now, "Terminating EC2 instance: "+m.InstanceID, cause)
	m.LifecycleState, m.ActivityID = openami.LifecycleTerminating, a.ID
	return *a
}

// newActivity records a new activity in progress, newest first, keeping
// the last maxActivities, and returns it.
func newActivity(grp *openami.AutoScalingGroup, now time.Time, description, cause string) *openami.ScalingActivity {
	a := openami.ScalingActivity{ID: uuid.NewString(), Description: description, Cause: cause, StartTime: now,
		StatusCode: openami.ActivityInProgress, Progress: 50, Details: "{}"}
	grp.Activities = slices.Insert(grp.Activities, 0, a)
	if len(grp.Activities) > maxActivities {
		// Keep every one in progress: the controller still needs them.
		kept := grp.Activities[:maxActivities]
		for _, old := range grp.Activities[maxActivities:] {
			if old.StatusCode == openami.ActivityInProgress {
				kept = append(kept, old)
			}
		}
		grp.Activities = kept
	}
	return &grp.Activities[0]
}

// activity returns the group's activity of the id, nil if it has none.
func activity(grp *openami.AutoScalingGroup, id string) *openami.ScalingActivity {
	for k := range grp.Activities {
		if grp.Activities[k].ID == id {
			return &grp.Activities[k]
		}
	}
	return nil
}
