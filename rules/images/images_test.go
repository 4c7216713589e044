package images

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
)

// countImages counts every image of the region, whoever owns it.
func (f *fixture) countImages(t *testing.T) int {
	t.Helper()
	n := 0
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		list, err := tx.Images().List("us-east-1", metadata.ImageQuery{})
		n = len(list)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRegisterImage: an image registered from a completed snapshot is
// available, its mapping sized from the snapshot, and holds the snapshot
// against deletion; a bad name, a snapshot that does not exist or is
// another account's private one, or a mapping smaller than its snapshot,
// registers nothing.
func TestRegisterImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	snap := f.snapshot(t, f.p, true)
	id, err := f.images.RegisterImage(ctx, f.p, registerInput("my image", snap))
	if err != nil {
		t.Fatal(err)
	}
	img := f.image(t, id)
	if img.State != openami.ImageAvailable || img.AccountID != f.p.AccountID || img.Architecture != "x86_64" ||
		img.RootDeviceType != "ebs" || len(img.BlockDeviceMappings) != 1 || img.BlockDeviceMappings[0].Ebs.VolumeSize != 1 {
		t.Fatalf("registered image: %+v", img)
	}
	if got := f.visible(t, f.p, DescribeImagesInput{ImageIDs: []string{id}}); got[id].Name != "my image" {
		t.Fatalf("DescribeImages of the new image: %+v", got)
	}
	wantClass(t, "deleting the image's snapshot", f.vols.DeleteSnapshot(ctx, f.p, snap), openami.InUse, openami.ResourceSnapshot)

	other := f.newAccount(t, "other")
	before := f.countImages(t)
	for _, c := range []struct {
		what     string
		p        openami.Principal
		in       RegisterImageInput
		class    openami.Class
		resource openami.ResourceType
	}{
		{"a name too short", f.p, registerInput("ab", snap), openami.Malformed, openami.ResourceImage},
		{"a snapshot that does not exist", f.p, registerInput("none", "snap-0123456789abcdef0"), openami.NotFound, openami.ResourceSnapshot},
		{"another account's private snapshot", other, registerInput("theirs", snap), openami.NotFound, openami.ResourceSnapshot},
	} {
		_, err := f.images.RegisterImage(ctx, c.p, c.in)
		wantClass(t, c.what, err, c.class, c.resource)
	}
	small := registerInput("small", snap)
	small.BlockDeviceMappings[0].Ebs.VolumeSize = -1
	if _, err := f.images.RegisterImage(ctx, f.p, small); err == nil {
		t.Fatal("a mapping of -1 GiB was registered")
	}
	if n := f.countImages(t); n != before {
		t.Fatalf("refused registrations left %d images", n-before)
	}
	// Another account does not see the image, as if it did not exist.
	_, _, err = f.images.DescribeImages(ctx, other, DescribeImagesInput{ImageIDs: []string{id}})
	wantClass(t, "another account's private image", err, openami.NotFound, openami.ResourceImage)
}

// TestPendingImages: an image registered from one of the caller's pending
// snapshots is pending, becomes available when the snapshot completes, and
// fails with a StateReason when its snapshot errors; the caller cannot
// delete a pending snapshot an image uses, and another account cannot
// register an image from a snapshot that is not completed.
func TestPendingImages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	register := func(name, snap string) string {
		t.Helper()
		id, err := f.images.RegisterImage(ctx, f.p, registerInput(name, snap))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	done := f.snapshot(t, f.p, true)
	if img := f.image(t, register("at-once", done)); img.State != openami.ImageAvailable {
		t.Fatalf("image of a completed snapshot is %s, want available", img.State)
	}

	// Written, not yet completed.
	open, err := f.vols.StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	later := register("later", open.ID)
	f.pass(t)
	if img := f.image(t, later); img.State != openami.ImagePending {
		t.Fatalf("image of a pending snapshot is %s, want pending", img.State)
	}
	var inUse *openami.Error
	if err := f.vols.DeleteSnapshot(ctx, f.p, open.ID); !errors.As(err, &inUse) || inUse.Class != openami.InUse {
		t.Fatalf("DeleteSnapshot of a pending image's snapshot: %v, want InUse", err)
	}
	if _, err := f.vols.CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: open.ID}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if img := f.image(t, later); img.State != openami.ImageAvailable || img.StateReason != (openami.StateReason{}) {
		t.Fatalf("after its snapshot completed the image is %s (%v), want available", img.State, img.StateReason)
	}

	// Never completed: the snapshot errors at its deadline, and the image
	// fails with it.
	abandoned, err := f.vols.StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	doomed := register("doomed", abandoned.ID)
	f.clock.Add(11 * time.Minute)
	f.pass(t)
	img := f.image(t, doomed)
	if img.State != openami.ImageFailed || img.StateReason.Cause != openami.CauseSnapshotFailed || img.StateReason.Message == "" {
		t.Fatalf("image of an expired snapshot is %s (%+v), want failed with a reason", img.State, img.StateReason)
	}

	// Another account may use a shared snapshot only once it is completed.
	op := f.newAccount(t, "other")
	shared, err := f.vols.StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.vols.ModifySnapshotAttribute(ctx, f.p, shared.ID, []ebs.Permission{{AccountID: op.AccountID}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.images.RegisterImage(ctx, op, registerInput("theirs", shared.ID))
	var state *openami.Error
	if !errors.As(err, &state) || state.Class != openami.IncorrectState {
		t.Fatalf("RegisterImage from another account's pending snapshot: %v, want IncorrectState", err)
	}
}

// TestLaunchPermissions: an image shared with an account, or made public,
// is visible to it and launchable by it; removing the permission or
// resetting the attribute takes that back; an account may cancel a
// permission shared with it; a bad permission, or making an image public
// under image block public access, changes nothing.
func TestLaunchPermissions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.register(t, f.p, "shared")
	other := f.newAccount(t, "other")
	third := f.newAccount(t, "third")
	sees := func(p openami.Principal) bool {
		_, ok := f.visible(t, p, DescribeImagesInput{})[id]
		return ok
	}
	perms := func() []openami.LaunchPermission {
		a, err := f.images.DescribeImageAttribute(ctx, f.p, id, "launchPermission")
		if err != nil {
			t.Fatal(err)
		}
		return a.LaunchPermissions
	}
	if sees(other) || !errors.Is(f.launchable(other, id), openami.ErrNotFound) {
		t.Fatal("another account sees or may launch a private image")
	}
	if err := f.launchable(f.p, id); err != nil {
		t.Fatalf("the owner may not launch its image: %v", err)
	}

	add := func(p openami.Principal, lp ...openami.LaunchPermission) error {
		return f.images.ModifyImageAttribute(ctx, p, ModifyImageAttributeInput{ImageID: id, Add: lp})
	}
	if err := add(f.p, openami.LaunchPermission{AccountID: other.AccountID}); err != nil {
		t.Fatal(err)
	}
	if !sees(other) || f.launchable(other, id) != nil || sees(third) {
		t.Fatal("a permission for one account: it should see and launch the image, and no one else")
	}
	if ps := perms(); len(ps) != 1 || ps[0].AccountID != other.AccountID {
		t.Fatalf("launch permissions: %+v", ps)
	}
	// Only the owner changes them.
	wantClass(t, "a permission added by another account", add(other, openami.LaunchPermission{AccountID: third.AccountID}),
		openami.NotFound, openami.ResourceImage)
	if err := f.images.ModifyImageAttribute(ctx, f.p, ModifyImageAttributeInput{ImageID: id, Remove: []openami.LaunchPermission{{AccountID: other.AccountID}}}); err != nil {
		t.Fatal(err)
	}
	if sees(other) || f.launchable(other, id) == nil {
		t.Fatal("a removed permission still shows or launches the image")
	}

	// Cancelled by the account it was shared with.
	if err := add(f.p, openami.LaunchPermission{AccountID: other.AccountID}); err != nil {
		t.Fatal(err)
	}
	if err := f.images.CancelImageLaunchPermission(ctx, other, id); err != nil {
		t.Fatal(err)
	}
	if sees(other) || len(perms()) != 0 {
		t.Fatal("a cancelled permission is still there")
	}
	wantClass(t, "cancelling a permission one does not have", f.images.CancelImageLaunchPermission(ctx, third, id),
		openami.NotFound, openami.ResourceImage)

	// Public, then reset to private.
	if err := add(f.p, openami.LaunchPermission{Group: "all"}); err != nil {
		t.Fatal(err)
	}
	if !sees(third) || f.launchable(third, id) != nil || !f.image(t, id).Public {
		t.Fatal("a public image is not visible and launchable to every account")
	}
	if err := f.images.ResetImageAttribute(ctx, f.p, id, "launchPermission"); err != nil {
		t.Fatal(err)
	}
	if sees(third) || f.image(t, id).Public || len(perms()) != 0 {
		t.Fatal("after a reset the image is still shared")
	}

	// Refusals that change nothing.
	err := add(f.p, openami.LaunchPermission{AccountID: "12345"})
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.InvalidParameter || e.Reason != openami.ReasonLaunchPermission {
		t.Fatalf("a bad account id: %v", err)
	}
	err = add(f.p, openami.LaunchPermission{AccountID: other.AccountID}, openami.LaunchPermission{Group: "everyone"})
	if !errors.As(err, &e) || e.Reason != openami.ReasonLaunchPermission || sees(other) {
		t.Fatalf("a bad group with a good account: %v, and the good one was added: %v", err, sees(other))
	}
	if err := f.images.SetImageBlockPublicAccess(ctx, f.p, "block-new-sharing"); err != nil {
		t.Fatal(err)
	}
	wantClass(t, "public under block public access", add(f.p, openami.LaunchPermission{Group: "all"}), openami.Unauthorized, openami.ResourceImage)
	if f.image(t, id).Public || len(perms()) != 0 {
		t.Fatal("a refused share changed the image")
	}
}

// TestDeprecateDisableEnable: a deprecated image is hidden from other
// accounts' listings (unless asked for) yet launchable; a disabled one is
// neither visible to them nor launchable, loses its permissions, and is
// listed to its owner only when asked; enabled again, it is available
// without them.
func TestDeprecateDisableEnable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.register(t, f.p, "aging")
	other := f.newAccount(t, "other")
	if err := f.images.ModifyImageAttribute(ctx, f.p, ModifyImageAttributeInput{ImageID: id, Add: []openami.LaunchPermission{{AccountID: other.AccountID}}}); err != nil {
		t.Fatal(err)
	}

	err := f.images.EnableImageDeprecation(ctx, f.p, id, f.clock.Now().Add(-time.Hour))
	if !errors.Is(err, openami.ErrInvalidParameter) || !f.image(t, id).DeprecationTime.IsZero() {
		t.Fatalf("deprecation in the past: %v", err)
	}
	if err := f.images.EnableImageDeprecation(ctx, f.p, id, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.visible(t, other, DescribeImagesInput{})[id]; !ok {
		t.Fatal("an image hidden before its deprecation time")
	}
	f.clock.Add(2 * time.Hour)
	if _, ok := f.visible(t, other, DescribeImagesInput{})[id]; ok {
		t.Fatal("a deprecated image is listed to another account")
	}
	if _, ok := f.visible(t, other, DescribeImagesInput{IncludeDeprecated: true})[id]; !ok {
		t.Fatal("a deprecated image is not listed with IncludeDeprecated")
	}
	if _, ok := f.visible(t, f.p, DescribeImagesInput{})[id]; !ok {
		t.Fatal("a deprecated image is hidden from its owner")
	}
	if err := f.launchable(other, id); err != nil {
		t.Fatalf("a deprecated image is not launchable: %v", err)
	}
	if err := f.images.DisableImageDeprecation(ctx, f.p, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.visible(t, other, DescribeImagesInput{})[id]; !ok {
		t.Fatal("an image no longer deprecated is still hidden")
	}

	if err := f.images.DisableImage(ctx, f.p, id); err != nil {
		t.Fatal(err)
	}
	if img := f.image(t, id); img.State != openami.ImageDisabled {
		t.Fatalf("disabled image is %s", img.State)
	}
	if _, ok := f.visible(t, f.p, DescribeImagesInput{})[id]; ok {
		t.Fatal("a disabled image is listed without IncludeDisabled")
	}
	if _, ok := f.visible(t, f.p, DescribeImagesInput{IncludeDisabled: true})[id]; !ok {
		t.Fatal("a disabled image is not listed to its owner with IncludeDisabled")
	}
	if _, ok := f.visible(t, other, DescribeImagesInput{IncludeDisabled: true})[id]; ok {
		t.Fatal("a disabled image is listed to another account")
	}
	var e *openami.Error
	if err := f.launchable(f.p, id); !errors.As(err, &e) || e.Class != openami.IncorrectState || e.Reason != openami.ReasonUnavailable {
		t.Fatalf("launching a disabled image: %v, want IncorrectState, unavailable", err)
	}
	wantClass(t, "another account launching a disabled image", f.launchable(other, id), openami.NotFound, openami.ResourceImage)
	err = f.images.ModifyImageAttribute(ctx, f.p, ModifyImageAttributeInput{ImageID: id, Add: []openami.LaunchPermission{{AccountID: other.AccountID}}})
	wantClass(t, "sharing a disabled image", err, openami.IncorrectState, openami.ResourceImage)

	if err := f.images.EnableImage(ctx, f.p, id); err != nil {
		t.Fatal(err)
	}
	if err := f.launchable(f.p, id); err != nil || f.image(t, id).State != openami.ImageAvailable {
		t.Fatalf("an enabled image: %s, %v", f.image(t, id).State, err)
	}
	wantClass(t, "another account after enable (permissions are not restored)", f.launchable(other, id), openami.NotFound, openami.ResourceImage)
}

// TestDeregisterWithProtection: a protected image is not deregistered;
// protection with cooldown holds 24 hours after it is disabled; then the
// image goes, and with deleteSnapshots so do the snapshots it alone used.
func TestDeregisterWithProtection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	snap := f.snapshot(t, f.p, true)
	id, err := f.images.RegisterImage(ctx, f.p, registerInput("protected", snap))
	if err != nil {
		t.Fatal(err)
	}
	twin, err := f.images.RegisterImage(ctx, f.p, registerInput("twin", snap))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := f.images.EnableImageDeregistrationProtection(ctx, f.p, id, false); err != nil {
		t.Fatal(err)
	}
	_, err = f.images.DeregisterImage(ctx, f.p, id, false)
	wantClass(t, "deregistering a protected image", err, openami.IncorrectState, openami.ResourceImage)
	if prot, err := f.images.DisableImageDeregistrationProtection(ctx, f.p, id); err != nil || prot != (openami.DeregistrationProtection{State: "disabled"}) {
		t.Fatalf("disabling protection: %+v, %v", prot, err)
	}
	if prot, err := f.images.EnableImageDeregistrationProtection(ctx, f.p, id, true); err != nil || prot != (openami.DeregistrationProtection{State: "enabled-with-cooldown"}) {
		t.Fatalf("protection with cooldown: %+v, %v", prot, err)
	}
	prot, err := f.images.DisableImageDeregistrationProtection(ctx, f.p, id)
	if want := f.clock.Now().Add(24 * time.Hour).Truncate(time.Millisecond); err != nil || prot.State != "disabled" || !prot.Until.Equal(want) {
		t.Fatalf("disabling protection with cooldown: %+v, %v; want disabled until %v", prot, err, want)
	}
	var pe *Protected
	if _, err := f.images.DeregisterImage(ctx, f.p, id, false); !errors.As(err, &pe) || pe.ImageID != id || !pe.Protection.Until.Equal(prot.Until) {
		t.Fatalf("deregistering at once: %v, want a refusal that gives the protection", err)
	}
	if img := f.image(t, id); !img.DeregistrationProtection.Until.Equal(prot.Until) {
		t.Fatalf("the image records %+v, want %+v", img.DeregistrationProtection, prot)
	}
	f.clock.Add(23 * time.Hour)
	_, err = f.images.DeregisterImage(ctx, f.p, id, false)
	wantClass(t, "deregistering during the cooldown", err, openami.IncorrectState, openami.ResourceImage)
	f.clock.Add(2 * time.Hour)

	// Another account cannot deregister it.
	other := f.newAccount(t, "other")
	_, err = f.images.DeregisterImage(ctx, other, id, false)
	wantClass(t, "another account deregistering", err, openami.NotFound, openami.ResourceImage)

	// The snapshot is the twin's too: skipped, and kept.
	results, err := f.images.DeregisterImage(ctx, f.p, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].SnapshotID != snap || results[0].ReturnCode != "skipped" {
		t.Fatalf("deleting a snapshot another image uses: %+v", results)
	}
	// Just deregistered: an empty list, as on EC2 (TestDescribeRecentlyDeregistered).
	if got, _, err := f.images.DescribeImages(ctx, f.p, DescribeImagesInput{ImageIDs: []string{id}}); err != nil || len(got) != 0 {
		t.Fatalf("describing a deregistered image: %d, %v", len(got), err)
	}
	if err := f.launchable(f.p, id); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("launching a deregistered image: %v", err)
	}
	// The last image using it takes it along.
	results, err = f.images.DeregisterImage(ctx, f.p, twin, true)
	if err != nil || len(results) != 1 || results[0].ReturnCode != "success" {
		t.Fatalf("deregistering the last image with its snapshot: %+v, %v", results, err)
	}
	_, _, err = f.vols.DescribeSnapshots(ctx, f.p, ebs.DescribeSnapshotsInput{SnapshotIDs: []string{snap}})
	wantClass(t, "the deleted snapshot", err, openami.NotFound, openami.ResourceSnapshot)
}

// TestAllowedAMIs: with Allowed AMIs enabled, another account's images
// the criteria do not allow are neither listed nor launchable (the
// account's own always are); in audit mode they are, marked not allowed.
func TestAllowedAMIs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pub := f.newAccount(t, "publisher")
	good := f.register(t, pub, "golden-1")
	bad := f.register(t, pub, "random-1")
	for _, id := range []string{good, bad} {
		if err := f.images.ModifyImageAttribute(ctx, pub, ModifyImageAttributeInput{ImageID: id, Add: []openami.LaunchPermission{{Group: "all"}}}); err != nil {
			t.Fatal(err)
		}
	}
	own := f.register(t, f.p, "mine")

	if a, err := f.images.AllowedImagesSettings(ctx, f.p); err != nil || a.State != "disabled" {
		t.Fatalf("Allowed AMIs at first: %+v, %v", a, err)
	}
	if err := f.images.ReplaceImageCriteria(ctx, f.p, []ImageCriterion{{ImageProviders: []string{pub.AccountID}, ImageNames: []string{"golden-*"}}}); err != nil {
		t.Fatal(err)
	}
	if got := f.visible(t, f.p, DescribeImagesInput{}); len(got) != 3 {
		t.Fatalf("criteria without the state enabled hide images: %d listed", len(got))
	}
	if err := f.images.SetAllowedImagesState(ctx, f.p, "enabled"); err != nil {
		t.Fatal(err)
	}
	got := f.visible(t, f.p, DescribeImagesInput{})
	if _, ok := got[good]; !ok || len(got) != 2 {
		t.Fatalf("enabled: listed %v, want %s and the account's own", keys(got), good)
	}
	if _, ok := got[own]; !ok {
		t.Fatal("the account's own image is hidden by Allowed AMIs")
	}
	if err := f.launchable(f.p, good); err != nil {
		t.Fatalf("launching an allowed image: %v", err)
	}
	wantClass(t, "launching an image the criteria do not allow", f.launchable(f.p, bad), openami.NotFound, openami.ResourceImage)
	if err := f.launchable(f.p, own); err != nil {
		t.Fatalf("launching the account's own image: %v", err)
	}
	// Another account's settings are its own.
	if err := f.launchable(pub, bad); err != nil {
		t.Fatalf("Allowed AMIs of one account restrict another: %v", err)
	}

	if err := f.images.SetAllowedImagesState(ctx, f.p, "audit-mode"); err != nil {
		t.Fatal(err)
	}
	got = f.visible(t, f.p, DescribeImagesInput{})
	if len(got) != 3 || got[bad].Allowed == nil || *got[bad].Allowed || got[good].Allowed == nil || !*got[good].Allowed {
		t.Fatalf("audit mode: %d listed, bad allowed %v, good allowed %v", len(got), got[bad].Allowed, got[good].Allowed)
	}
	if err := f.launchable(f.p, bad); err != nil {
		t.Fatalf("audit mode refused a launch: %v", err)
	}

	// Bad settings change nothing.
	if err := f.images.SetAllowedImagesState(ctx, f.p, "on"); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("state on: %v", err)
	}
	if err := f.images.ReplaceImageCriteria(ctx, f.p, []ImageCriterion{{ImageProviders: []string{"someone"}}}); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("a bad provider: %v", err)
	}
	if a, _ := f.images.AllowedImagesSettings(ctx, f.p); a.State != "audit-mode" || len(a.Criteria) != 1 || a.Criteria[0].ImageNames[0] != "golden-*" {
		t.Fatalf("refused changes changed the settings: %+v", a)
	}
}

// keys returns the ids of a listing.
func keys(m map[string]ImageView) []string {
	var out []string
	for id := range m {
		out = append(out, id)
	}
	return out
}
