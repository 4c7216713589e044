package ebs

import (
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
)

// TestMissingVolumesAndSnapshotsNamed: several missing ids are all named,
// once each and in the order asked; one takes the singular sentence.
func TestMissingVolumesAndSnapshotsNamed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	va, vb := "vol-0000000000000000a", "vol-0000000000000000b"
	_, _, err := f.vols.DescribeVolumes(ctx, f.p, []string{va, vb, va}, nil, Page{})
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.NotFound || e.Resource != openami.ResourceVolume ||
		e.Message != "The volumes '"+va+", "+vb+"' do not exist." {
		t.Errorf("DescribeVolumes of two unknown ids: %v", err)
	}
	_, _, err = f.vols.DescribeVolumes(ctx, f.p, []string{va}, nil, Page{})
	if !errors.As(err, &e) || e.Message != "The volume '"+va+"' does not exist." {
		t.Errorf("DescribeVolumes of one unknown id: %v", err)
	}
	sa, sb := "snap-0000000000000000a", "snap-0000000000000000b"
	_, _, err = f.vols.DescribeSnapshots(ctx, f.p, DescribeSnapshotsInput{SnapshotIDs: []string{sa, sb}})
	if !errors.As(err, &e) || e.Class != openami.NotFound || e.Resource != openami.ResourceSnapshot ||
		e.Message != "The snapshots '"+sa+", "+sb+"' do not exist." {
		t.Errorf("DescribeSnapshots of two unknown ids: %v", err)
	}
	_, _, err = f.vols.DescribeSnapshots(ctx, f.p, DescribeSnapshotsInput{SnapshotIDs: []string{sa}})
	if !errors.As(err, &e) || e.Message != "The snapshot '"+sa+"' does not exist." {
		t.Errorf("DescribeSnapshots of one unknown id: %v", err)
	}
}
