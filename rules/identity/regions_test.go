package identity

import (
	"errors"
	"testing"

	"github.com/openami/openami"
)

func TestParseRegions(t *testing.T) {
	regions, err := ParseRegions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 4 || regions[0].Name != "us-east-1" {
		t.Fatalf("default regions %+v", regions)
	}
	for _, tc := range []struct {
		name      string
		zones     int
		firstZone openami.Zone
	}{
		{"us-east-1", 6, openami.Zone{Name: "us-east-1a", ID: "use1-az1"}},
		{"us-west-1", 2, openami.Zone{Name: "us-west-1a", ID: "usw1-az1"}},
		{"ap-southeast-2", 3, openami.Zone{Name: "ap-southeast-2a", ID: "apse2-az1"}},
		{"eu-central-1", 3, openami.Zone{Name: "eu-central-1a", ID: "euc1-az1"}},
		{"us-gov-west-1", 3, openami.Zone{Name: "us-gov-west-1a", ID: "usgovw1-az1"}},
		{"il-central-1", 3, openami.Zone{Name: "il-central-1a", ID: "ilc1-az1"}},
	} {
		rs, err := ParseRegions([]string{tc.name})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r := rs[0]
		if len(r.Zones) != tc.zones || r.Zones[0] != tc.firstZone {
			t.Errorf("%s: %d zones, first %+v", tc.name, len(r.Zones), r.Zones[0])
		}
		last := r.Zones[len(r.Zones)-1]
		if last.Name[len(last.Name)-1] != byte('a'+tc.zones-1) {
			t.Errorf("%s: last zone %s", tc.name, last.Name)
		}
	}
	for _, bad := range [][]string{{"US-EAST-1"}, {"mars"}, {"us-east-1", "us-east-1"}, {""}, {"us-east-x"}} {
		if _, err := ParseRegions(bad); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("ParseRegions(%q) = %v, want an invalid parameter error", bad, err)
		}
	}
}
