package instances

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// Monitoring is one instance's answer to MonitorInstances or
// UnmonitorInstances.
type Monitoring struct {
	InstanceID string
	// State is what EC2 answers the change with: pending when detailed
	// monitoring is being turned on, disabling when off, or the state the
	// instance already had (enabled, disabled) when it asked for no change.
	State openami.MonitoringState
}

// MonitorInstances turns detailed monitoring of the caller's instances
// on (enable) or off. Every id must name an instance of the caller's
// (NotFound naming all that do not), none terminated or shutting down
// (IncorrectState); a refusal changes nothing.
//
// openami gathers no CloudWatch metrics, so there is nothing to wait for:
// the instance records the change at once and DescribeInstances shows
// enabled (or disabled) right away, while the answer says pending (or
// disabling) as EC2's does, the transitional state a client expects.
func (s *Machines) MonitorInstances(ctx context.Context, p openami.Principal, instanceIDs []string, enable bool) ([]Monitoring, error) {
	if len(instanceIDs) == 0 {
		return nil, param.Missing("InstanceIDs")
	}
	for _, id := range instanceIDs {
		if err := checkInstanceID(id); err != nil {
			return nil, err
		}
	}
	var out []Monitoring
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		out = nil
		list, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
		if err != nil {
			return err
		}
		if missing := describe.Missing(instanceIDs, list, func(i openami.Instance) string { return i.ID }); len(missing) > 0 {
			return instancesNotFound(missing)
		}
		byID := map[string]openami.Instance{}
		for _, i := range list {
			if i.State == openami.InstanceTerminated || i.State == openami.InstanceShuttingDown {
				return openami.Errorf(openami.IncorrectState, openami.ResourceInstance,
					"The instance '%s' is not in a state from which it can be modified.", i.ID)
			}
			byID[i.ID] = i
		}
		for _, id := range instanceIDs {
			i, ok := byID[id]
			if !ok {
				continue // asked twice: answered once
			}
			delete(byID, id)
			m := Monitoring{InstanceID: id, State: MonitoringStateOf(i)}
			if i.Monitored != enable {
				i.Monitored = enable
				if err := tx.Instances().Update(i); err != nil {
					return err
				}
				m.State = openami.MonitoringPending
				if !enable {
					m.State = openami.MonitoringDisabling
				}
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// MonitoringStateOf is an instance's monitoring state: enabled or
// disabled (openami settles a change at once, see MonitorInstances).
func MonitoringStateOf(i openami.Instance) openami.MonitoringState {
	if i.Monitored {
		return openami.MonitoringEnabled
	}
	return openami.MonitoringDisabled
}
