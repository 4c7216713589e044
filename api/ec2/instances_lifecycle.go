package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// The state changes of instances: Start, Stop, Terminate and
// RebootInstances.

type instanceIDsInput struct {
	dryRunParam
	InstanceIDs []string `query:"InstanceId"`
	Force       bool     `query:"Force"`
	Hibernate   bool     `query:"Hibernate"`
}

type stateChangeItem struct {
	InstanceID    string    `xml:"instanceId"`
	CurrentState  stateItem `xml:"currentState"`
	PreviousState stateItem `xml:"previousState"`
}

type stateChangeResponse struct {
	response
	Instances items[stateChangeItem] `xml:"instancesSet"`
}

// stateChanges serves Start, Stop and TerminateInstances.
func (h *Handler) stateChanges(change func(c *call, in instanceIDsInput) ([]instances.StateChange, error)) action {
	return func(c *call) (responder, error) {
		var in instanceIDsInput
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if in.Hibernate {
			return nil, openami.Errorf(openami.Unsupported, "", "Hibernation is not supported.")
		}
		changes, err := change(c, in)
		if err != nil {
			return nil, err
		}
		out := &stateChangeResponse{}
		for _, sc := range changes {
			out.Instances = append(out.Instances, stateChangeItem{sc.InstanceID,
				stateItem{sc.Current.StateCode(), string(sc.Current)}, stateItem{sc.Previous.StateCode(), string(sc.Previous)}})
		}
		return out, nil
	}
}

func (h *Handler) rebootInstances(c *call) (responder, error) {
	var in instanceIDsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.instances.RebootInstances(c.ctx, c.p, in.InstanceIDs); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
