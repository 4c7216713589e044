package instances

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/openami/openami"
)

// inLaunchOrder reports whether a reservation lists its instances by
// AmiLaunchIndex 0, 1, 2, ….
func inLaunchOrder(r Reservation) bool {
	for k, i := range r.Instances {
		if i.AmiLaunchIndex != k {
			return false
		}
	}
	return true
}

// TestReservationsInLaunchIndexOrder: RunInstances, its replay by client
// token, and DescribeInstances (all, and by ids named in any order) list
// a reservation's instances by AmiLaunchIndex, although the store lists
// them by their random ids: with 16 instances, id order is launch order
// about once in 2×10¹³ tries, so the test fails whenever the order is
// the store's.
func TestReservationsInLaunchIndexOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := f.image(t, "fleet")
	const n = 16
	in := RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: n, MaxCount: n, ClientToken: "fleet-1"}
	r, err := f.machines.RunInstances(ctx, f.p, in)
	if err != nil || len(r.Instances) != n || !inLaunchOrder(r) {
		t.Fatalf("RunInstances: %v, %d instances, in launch order %v", err, len(r.Instances), inLaunchOrder(r))
	}
	ids := make([]string, n)
	for k, i := range r.Instances {
		ids[k] = i.ID
	}
	if slices.IsSorted(ids) {
		t.Fatalf("the store's id order is launch order (%v): the test proves nothing", ids)
	}
	again, err := f.machines.RunInstances(ctx, f.p, in)
	if err != nil || again.ID != r.ID || len(again.Instances) != n || !inLaunchOrder(again) {
		t.Fatalf("RunInstances replayed by its client token: %v %s, in launch order %v", err, again.ID, inLaunchOrder(again))
	}
	// A second reservation, so that grouping has more than one to keep.
	if _, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 3, MaxCount: 3}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	for _, named := range [][]string{nil, reversed} {
		rs, _, err := f.machines.DescribeInstances(ctx, f.p, named, nil, nil, Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range rs {
			if !inLaunchOrder(got) {
				var order []int
				for _, i := range got.Instances {
					order = append(order, i.AmiLaunchIndex)
				}
				t.Fatalf("DescribeInstances (ids %v): reservation %s in order %v", named != nil, got.ID, order)
			}
		}
	}
}

// TestGroupReservationsSortsByLaunchIndex: instances that come from the
// store in any order are grouped by reservation (in order of first
// appearance) and sorted by AmiLaunchIndex within each.
func TestGroupReservationsSortsByLaunchIndex(t *testing.T) {
	list := []openami.Instance{
		{ID: "i-1", ReservationID: "r-a", AmiLaunchIndex: 2},
		{ID: "i-2", ReservationID: "r-b", AmiLaunchIndex: 1},
		{ID: "i-3", ReservationID: "r-a", AmiLaunchIndex: 0},
		{ID: "i-4", ReservationID: "r-b", AmiLaunchIndex: 0},
		{ID: "i-5", ReservationID: "r-a", AmiLaunchIndex: 1},
	}
	rs := groupReservations(openami.Principal{AccountID: "123456789012"}, list, nil)
	if len(rs) != 2 || rs[0].ID != "r-a" || rs[1].ID != "r-b" || !inLaunchOrder(rs[0]) || !inLaunchOrder(rs[1]) ||
		rs[0].Instances[0].ID != "i-3" || rs[1].Instances[0].ID != "i-4" {
		var got []string
		for _, r := range rs {
			for _, i := range r.Instances {
				got = append(got, fmt.Sprintf("%s/%s#%d", r.ID, i.ID, i.AmiLaunchIndex))
			}
		}
		t.Fatalf("groupReservations: %v", got)
	}
}
