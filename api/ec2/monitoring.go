package ec2

// Monitor/UnmonitorInstances: detailed monitoring of instances.

type monitorInstancesInput struct {
	dryRunParam
	InstanceIDs []string `query:"InstanceId"`
}

type instanceMonitoringItem struct {
	InstanceID string         `xml:"instanceId"`
	Monitoring monitoringItem `xml:"monitoring"`
}

type monitorInstancesResponse struct {
	response
	Instances items[instanceMonitoringItem] `xml:"instancesSet"`
}

// monitorInstances serves MonitorInstances (enable) and
// UnmonitorInstances: each instance with the state EC2 answers the
// change with (pending, disabling).
func (h *Handler) monitorInstances(enable bool) action {
	return func(c *call) (responder, error) {
		var in monitorInstancesInput
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		list, err := h.instances.MonitorInstances(c.ctx, c.p, in.InstanceIDs, enable)
		if err != nil {
			return nil, err
		}
		out := &monitorInstancesResponse{}
		for _, m := range list {
			out.Instances = append(out.Instances, instanceMonitoringItem{m.InstanceID, monitoringItem{string(m.State)}})
		}
		return out, nil
	}
}
