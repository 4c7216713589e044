package images

import (
	"context"
	"testing"

	"github.com/openami/openami"
)

// TestDescribeRecentlyDeregistered: the owner asking for an image it has
// just deregistered gets an empty list, as EC2 answers for a short
// interval; an hour on, or for another account, the id is NotFound.
func TestDescribeRecentlyDeregistered(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.register(t, f.p, "gone")
	if _, err := f.images.DeregisterImage(ctx, f.p, id, false); err != nil {
		t.Fatal(err)
	}
	got, _, err := f.images.DescribeImages(ctx, f.p, DescribeImagesInput{ImageIDs: []string{id}})
	if err != nil || len(got) != 0 {
		t.Fatalf("describing a just-deregistered image: %d images, %v; want none and no error", len(got), err)
	}
	other := f.newAccount(t, "other")
	_, _, err = f.images.DescribeImages(ctx, other, DescribeImagesInput{ImageIDs: []string{id}})
	wantClass(t, "another account describing it", err, openami.NotFound, openami.ResourceImage)
	f.clock.Add(recentlyDeregistered)
	_, _, err = f.images.DescribeImages(ctx, f.p, DescribeImagesInput{ImageIDs: []string{id}})
	wantClass(t, "describing it an hour on", err, openami.NotFound, openami.ResourceImage)
}
