package images

import (
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
)

// TestLauncherReadsImageAttributes: an account that may launch another's
// public image reads its description (and the other attributes
// DescribeImages shows it), is refused the owner's ones (launch
// permissions) with Unauthorized, and finds nothing of a private image.
func TestLauncherReadsImageAttributes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.register(t, f.p, "shared")
	desc := "a public image"
	if err := f.images.ModifyImageAttribute(ctx, f.p, ModifyImageAttributeInput{ImageID: id, Description: &desc}); err != nil {
		t.Fatal(err)
	}
	other := f.newAccount(t, "other")
	_, err := f.images.DescribeImageAttribute(ctx, other, id, "description")
	wantClass(t, "another's private image", err, openami.NotFound, openami.ResourceImage)
	if err := f.images.ModifyImageAttribute(ctx, f.p, ModifyImageAttributeInput{ImageID: id, Add: []openami.LaunchPermission{{Group: "all"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.images.DescribeImageAttribute(ctx, other, id, "description")
	if err != nil || got.Image.ID != id || got.Image.Description != desc {
		t.Fatalf("a launcher reading the description: %+v, %v", got.Image.Description, err)
	}
	_, err = f.images.DescribeImageAttribute(ctx, other, id, "launchPermission")
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.Unauthorized {
		t.Fatalf("a launcher reading the launch permissions: %v, want Unauthorized", err)
	}
	if got, err := f.images.DescribeImageAttribute(ctx, f.p, id, "launchPermission"); err != nil || len(got.LaunchPermissions) != 1 {
		t.Fatalf("the owner reading the launch permissions: %+v, %v", got.LaunchPermissions, err)
	}
}
