package ec2

import (
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
)

// TestStateReasons: causes render as EC2's codes (an instance's message
// after its code), and a cause stored before causes existed is already a
// code and passes through.
func TestStateReasons(t *testing.T) {
	for _, c := range []struct {
		r        openami.StateReason
		instance bool
		want     *stateReasonItem
	}{
		{openami.StateReason{}, false, nil},
		{openami.StateReason{}, true, nil},
		{openami.StateReason{Cause: openami.CauseSnapshotGone, Message: "The snapshot 'snap-1' does not exist."}, false,
			&stateReasonItem{"Client.InvalidSnapshot.NotFound", "The snapshot 'snap-1' does not exist."}},
		{openami.StateReason{Cause: openami.CauseSnapshotFailed, Message: "m"}, false, &stateReasonItem{"Server.InternalError", "m"}},
		{openami.StateReason{Cause: openami.CauseUserShutdown, Message: "User initiated shutdown"}, true,
			&stateReasonItem{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}},
		{openami.StateReason{Cause: openami.CauseGuestShutdown, Message: "Instance initiated shutdown"}, true,
			&stateReasonItem{"Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}},
		{openami.StateReason{Cause: openami.CauseKeyUnusable, Message: "k"}, true,
			&stateReasonItem{"Client.InvalidKMSKey.InvalidState", "Client.InvalidKMSKey.InvalidState: k"}},
		{openami.StateReason{Cause: openami.CauseLaunchFailed, Message: "Internal error on launch: x"}, true,
			&stateReasonItem{"Server.InternalError", "Server.InternalError: Internal error on launch: x"}},
		{openami.StateReason{Cause: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}, true,
			&stateReasonItem{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}},
		{openami.StateReason{Cause: "Client.Old", Message: "m"}, false, &stateReasonItem{"Client.Old", "m"}},
	} {
		render := imageStateReason
		if c.instance {
			render = instanceStateReason
		}
		got := render(c.r)
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%+v (instance %v) renders as %+v, want %+v", c.r, c.instance, got, c.want)
		}
	}
}

// TestCauseFilters: state reason filters written in EC2's codes match the
// causes openami stores, and still match what was stored before.
func TestCauseFilters(t *testing.T) {
	fs := causeFilters([]filter.Filter{
		{Name: "state-reason-code", Values: []string{"Client.InvalidSnapshot.NotFound"}},
		{Name: "state-reason-code", Values: []string{"Server.*"}},
		{Name: "state-reason-message", Values: []string{"Client.UserInitiatedShutdown: User initiated shutdown", "*shutdown"}},
		{Name: "state", Values: []string{"Server.InternalError"}},
	}, true)
	for i, want := range [][]string{
		{"Client.InvalidSnapshot.NotFound", "snapshot-gone"},
		{"Server.*", "bundle-copy-failed", "host-failed", "launch-failed", "snapshot-failed"},
		{"*shutdown", "Client.UserInitiatedShutdown: User initiated shutdown", "User initiated shutdown"},
		{"Server.InternalError"},
	} {
		got := slices.Sorted(slices.Values(fs[i].Values))
		if !slices.Equal(got, want) {
			t.Errorf("filter %d: %q, want %q", i, got, want)
		}
	}
	// An image's message has no code at its head: nothing is stripped.
	fs = causeFilters([]filter.Filter{{Name: "state-reason-message", Values: []string{"Server.InternalError: x"}}}, false)
	if !slices.Equal(fs[0].Values, []string{"Server.InternalError: x"}) {
		t.Errorf("image message filter: %q", fs[0].Values)
	}
}

// TestTransitionReasons: a transition renders as EC2's free text, its
// time in GMT to the second; the text an earlier version stored passes
// through as it is, and a cause the table lacks passes as itself.
func TestTransitionReasons(t *testing.T) {
	at := time.Date(2026, 11, 22, 11, 0, 0, 999e6, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		t    openami.StateTransition
		want string
	}{
		{openami.StateTransition{}, ""},
		{openami.StateTransition{Cause: openami.CauseUserShutdown, At: at}, "User initiated (2026-11-22 10:00:00 GMT)"},
		{openami.StateTransition{Cause: openami.CauseGuestShutdown, At: at}, "Client.InstanceInitiatedShutdown: Instance initiated shutdown"},
		{openami.StateTransition{Text: "User initiated (2025-01-02 03:04:05 GMT)"}, "User initiated (2025-01-02 03:04:05 GMT)"},
		{openami.StateTransition{Cause: "something-new", At: at}, "something-new"},
	} {
		if got := transitionReason(c.t); got != c.want {
			t.Errorf("transitionReason(%+v) = %q, want %q", c.t, got, c.want)
		}
	}
}
