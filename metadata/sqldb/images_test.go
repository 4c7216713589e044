package sqldb

import (
	stdjson "encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
)

// TestImageDocs: a doc decodes to the image it was encoded from, whether
// encodeImage wrote it (zero fields left out) or encoding/json did, as
// openami wrote every doc before it changed JSON packages.
func TestImageDocs(t *testing.T) {
	created := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	images := []openami.Image{
		{State: openami.ImageAvailable},
		{
			Name: "full", Description: "every kind of field", State: openami.ImageFailed,
			StateReason:  openami.StateReason{Cause: openami.CauseSnapshotGone, Message: "gone"},
			Architecture: "arm64", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", RootDeviceType: "ebs",
			BillingProducts: []string{"bp-1"}, ProductCodes: []openami.ProductCode{{ID: "p", Type: "marketplace"}},
			BlockDeviceMappings: []openami.BlockDeviceMapping{
				{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-1", VolumeSize: 8, DeleteOnTermination: true}},
				{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"},
				{DeviceName: "/dev/sdc", NoDevice: true},
			},
			EnaSupport: true, CreatedAt: created, DeprecationTime: created.Add(time.Hour),
			DeregistrationProtection: openami.DeregistrationProtection{State: "disabled", Until: created.Add(24 * time.Hour)},
		},
		{DeregistrationProtection: openami.DeregistrationProtection{State: "enabled-with-cooldown"}},
		{BillingProducts: []string{}, BlockDeviceMappings: []openami.BlockDeviceMapping{}},
	}
	for _, want := range images {
		doc, err := encodeImage(want)
		if err != nil {
			t.Fatal(err)
		}
		old, err := stdjson.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if len(doc) >= len(old) {
			t.Errorf("doc of %q is %d bytes, encoding/json's %d: zero fields are not left out", want.Name, len(doc), len(old))
		}
		for _, d := range []string{doc, string(old)} {
			var got openami.Image
			if err := json.Unmarshal([]byte(d), &got); err != nil {
				t.Fatalf("decode %s: %v", d, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("doc %s\n got %+v\nwant %+v", d, got, want)
			}
		}
	}
	// A StateReason's Cause is stored under the name its code had: a doc
	// written before causes existed decodes with that code as its cause,
	// which the API layer passes through.
	var got openami.Image
	if err := json.Unmarshal([]byte(`{"StateReason":{"Code":"Client.Old","Message":"m"}}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.StateReason != (openami.StateReason{Cause: "Client.Old", Message: "m"}) {
		t.Errorf("a doc from before causes decodes to %+v", got.StateReason)
	}
}

// TestImageProtectionDocs: earlier versions stored an image's
// deregistration protection as a string, its state or, in the cooldown,
// "disabled-until <time>"; such a doc decodes to the state and the end of
// the cooldown (a time that does not parse is kept in the state, which
// still protects the image), and a value of another kind fails.
func TestImageProtectionDocs(t *testing.T) {
	for doc, want := range map[string]openami.DeregistrationProtection{
		`{"DeregistrationProtection":"disabled"}`:              {State: "disabled"},
		`{"DeregistrationProtection":"enabled"}`:               {State: "enabled"},
		`{"DeregistrationProtection":"enabled-with-cooldown"}`: {State: "enabled-with-cooldown"},
		`{"DeregistrationProtection":""}`:                      {},
		`{"State":"available"}`:                                {},
		`{"DeregistrationProtection":"disabled-until 2026-12-07T10:00:00.123Z"}`: {State: "disabled",
			Until: time.Date(2026, 12, 7, 10, 0, 0, 123e6, time.UTC)},
		`{"DeregistrationProtection":"disabled-until tomorrow"}`: {State: "disabled-until tomorrow"},
	} {
		var got openami.Image
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Fatalf("doc %s: %v", doc, err)
		}
		if got.DeregistrationProtection.State != want.State || !got.DeregistrationProtection.Until.Equal(want.Until) {
			t.Errorf("an earlier version's doc %s decodes to %+v, want %+v", doc, got.DeregistrationProtection, want)
		}
	}
	var got openami.Image
	if err := json.Unmarshal([]byte(`{"DeregistrationProtection":7}`), &got); err == nil {
		t.Errorf("a number for protection decoded to %+v", got.DeregistrationProtection)
	}
}
