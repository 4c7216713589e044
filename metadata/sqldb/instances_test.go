package sqldb

import (
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
)

// TestInstanceTransitionDocs: an instance's StateTransition round-trips
// through its doc, and a doc written by an earlier version, which held
// EC2's free text under the same name, decodes with that text in
// StateTransition.Text (which the API layer passes through as it is).
func TestInstanceTransitionDocs(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, want := range []openami.StateTransition{
		{},
		{Cause: openami.CauseUserShutdown, At: at},
		{Cause: openami.CauseGuestShutdown, At: at.Add(time.Minute)},
	} {
		doc, err := encodeInstance(openami.Instance{ID: "i-1", StateTransition: want})
		if err != nil {
			t.Fatal(err)
		}
		var got openami.Instance
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatalf("doc %s: %v", doc, err)
		}
		if !got.StateTransition.At.Equal(want.At) || got.StateTransition.Cause != want.Cause || got.StateTransition.Text != "" {
			t.Errorf("doc %s\n got %+v\nwant %+v", doc, got.StateTransition, want)
		}
		if !want.At.IsZero() && got.StateTransition.At.Location() != time.UTC {
			t.Errorf("doc %s: time not stored in UTC: %v", doc, got.StateTransition.At)
		}
	}
	for doc, want := range map[string]openami.StateTransition{
		`{"StateTransitionReason":"User initiated (2026-11-22 10:00:00 GMT)"}`:                      {Text: "User initiated (2026-11-22 10:00:00 GMT)"},
		`{"StateTransitionReason":"Client.InstanceInitiatedShutdown: Instance initiated shutdown"}`: {Text: "Client.InstanceInitiatedShutdown: Instance initiated shutdown"},
		`{"StateTransitionReason":""}`: {},
		`{"State":"running"}`:          {},
	} {
		var got openami.Instance
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatalf("doc %s: %v", doc, err)
		}
		if got.StateTransition != want {
			t.Errorf("an earlier version's doc %s decodes to %+v, want %+v", doc, got.StateTransition, want)
		}
	}
	var got openami.Instance
	if err := json.Unmarshal([]byte(`{"StateTransitionReason":7}`), &got); err == nil {
		t.Errorf("a number for a transition decoded to %+v", got.StateTransition)
	}
}
