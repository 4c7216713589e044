package instances

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/rulestest"
)

// TestMonitorInstances: Monitor answers pending and the instance is then
// enabled (record, monitoring-state filter); asking again answers the
// state it has; Unmonitor answers disabling and it is disabled. Missing
// ids are all named, another account's instance is NotFound, a
// terminated one IncorrectState, and a refusal changes nothing.
func TestMonitorInstances(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := f.launch(t, "mon-a"), f.launch(t, "mon-b")
	monitored := func(state string) int {
		rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, []filter.Filter{{Name: string(AttrInstanceMonitoring), Values: []string{state}}}, nil, Page{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			n += len(r.Instances)
		}
		return n
	}
	got, err := f.machines.MonitorInstances(ctx, f.p, []string{a.ID, b.ID, a.ID}, true)
	want := []Monitoring{{a.ID, openami.MonitoringPending}, {b.ID, openami.MonitoringPending}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("MonitorInstances = %+v, %v; want %+v", got, err, want)
	}
	if !f.instance(t, a.ID).Monitored || monitored("enabled") != 2 || monitored("disabled") != 0 {
		t.Fatal("after MonitorInstances the instances are not enabled")
	}
	if got, _ := f.machines.MonitorInstances(ctx, f.p, []string{a.ID}, true); len(got) != 1 || got[0].State != openami.MonitoringEnabled {
		t.Errorf("monitoring a monitored instance: %+v", got)
	}
	got, err = f.machines.MonitorInstances(ctx, f.p, []string{b.ID}, false)
	if err != nil || len(got) != 1 || got[0].State != openami.MonitoringDisabling {
		t.Fatalf("UnmonitorInstances = %+v, %v", got, err)
	}
	if f.instance(t, b.ID).Monitored || monitored("enabled") != 1 || monitored("disabled") != 1 {
		t.Fatal("after UnmonitorInstances the instance is not disabled")
	}

	missing := "i-0000000000000000a"
	_, err = f.machines.MonitorInstances(ctx, f.p, []string{b.ID, missing, "i-0000000000000000b"}, true)
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.NotFound || e.Message != "The instance IDs '"+missing+", i-0000000000000000b' do not exist" {
		t.Errorf("missing instances: %v", err)
	}
	other := rulestest.NewAccount(t, f.accounts, "other")
	_, err = f.machines.MonitorInstances(ctx, other, []string{b.ID}, true)
	wantClass(t, "another account's instance", err, openami.NotFound, openami.ResourceInstance)
	_, err = f.machines.MonitorInstances(ctx, f.p, []string{"x-1"}, true)
	wantClass(t, "a malformed id", err, openami.Malformed, openami.ResourceInstance)
	_, err = f.machines.MonitorInstances(ctx, f.p, nil, true)
	wantClass(t, "no id", err, openami.MissingParameter, "")
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = f.machines.MonitorInstances(ctx, f.p, []string{b.ID, a.ID}, false)
	wantClass(t, "a terminated instance", err, openami.IncorrectState, openami.ResourceInstance)
	if f.instance(t, b.ID).Monitored || !f.instance(t, a.ID).Monitored {
		t.Error("refusals changed monitoring")
	}
}
