package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/rbin"
	rbintypes "github.com/aws/aws-sdk-go-v2/service/rbin/types"
	"github.com/openami/openami/rules/identity"
)

// newSnapshot makes a completed 1 GiB snapshot holding one block.
func newSnapshot(t *testing.T, s *server, c identity.Credentials) string {
	t.Helper()
	start, err := s.ebs(c).StartSnapshot(context.Background(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	putBlocks(t, s, c, *start.SnapshotId, map[int32][]byte{0: randomBlock()})
	return *start.SnapshotId
}

func rootMapping(snap string) []types.BlockDeviceMapping {
	return []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeType: types.VolumeTypeGp3}}}
}

func imageIDs(out *ec2.DescribeImagesOutput) string {
	var ids []string
	for _, i := range out.Images {
		ids = append(ids, *i.ImageId)
	}
	sort.Strings(ids)
	return fmt.Sprint(ids)
}

func TestImages(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		root, data := newSnapshot(t, s, s.admin), newSnapshot(t, s, s.admin)
		reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{
			Name: aws.String("web (2026) v1.0"), Description: aws.String("first"), Architecture: types.ArchitectureValuesArm64,
			RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: aws.String("hvm"), EnaSupport: aws.Bool(true),
			BootMode: types.BootModeValuesUefi, TpmSupport: types.TpmSupportValuesV20, ImdsSupport: types.ImdsSupportValuesV20,
			BlockDeviceMappings: []types.BlockDeviceMapping{
				{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(root), VolumeSize: aws.Int32(8), VolumeType: types.VolumeTypeGp3}},
				{DeviceName: aws.String("/dev/sdb"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(data), DeleteOnTermination: aws.Bool(false)}},
				{DeviceName: aws.String("/dev/sdc"), VirtualName: aws.String("ephemeral0")},
				{DeviceName: aws.String("/dev/sdd"), NoDevice: aws.String("")},
			},
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("role"), Value: aws.String("web")}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := *reg.ImageId
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		img := out.Images[0]
		if img.State != types.ImageStateAvailable || img.Architecture != types.ArchitectureValuesArm64 || *img.OwnerId != s.admin.AccountID ||
			*img.RootDeviceName != "/dev/xvda" || img.RootDeviceType != types.DeviceTypeEbs || *img.Public || !*img.EnaSupport ||
			img.BootMode != types.BootModeValuesUefi || len(img.BlockDeviceMappings) != 4 || len(img.Tags) != 1 || *img.Name != "web (2026) v1.0" {
			t.Fatalf("described image %+v", img)
		}
		if m := img.BlockDeviceMappings[1]; *m.Ebs.VolumeSize != 1 || *m.Ebs.DeleteOnTermination || m.Ebs.VolumeType != types.VolumeTypeGp2 {
			t.Fatalf("data mapping %+v", m.Ebs)
		}
		if m := img.BlockDeviceMappings[0]; *m.Ebs.VolumeSize != 8 || !*m.Ebs.DeleteOnTermination || *m.Ebs.Iops != 3000 {
			t.Fatalf("root mapping %+v", m.Ebs)
		}
		if img.BlockDeviceMappings[3].NoDevice == nil || *img.BlockDeviceMappings[2].VirtualName != "ephemeral0" {
			t.Fatalf("ephemeral/no-device mappings %+v", img.BlockDeviceMappings[2:])
		}

		// Registration errors.
		for _, tc := range []struct {
			in   ec2.RegisterImageInput
			code string
		}{
			{ec2.RegisterImageInput{Name: aws.String("web (2026) v1.0"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(root)}, "InvalidAMIName.Duplicate"},
			{ec2.RegisterImageInput{Name: aws.String("no*stars"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(root)}, "InvalidAMIName.Malformed"},
			{ec2.RegisterImageInput{Name: aws.String("no root"), RootDeviceName: aws.String("/dev/sda1"), BlockDeviceMappings: rootMapping(root)}, "InvalidBlockDeviceMapping"},
			{ec2.RegisterImageInput{Name: aws.String("bad snap"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping("snap-0123456789abcdef0")}, "InvalidSnapshot.NotFound"},
			{ec2.RegisterImageInput{Name: aws.String("bad arch"), Architecture: "sparc", RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(root)}, "InvalidParameterValue"},
		} {
			_, err := c.RegisterImage(ctx, &tc.in)
			wantCode(t, err, tc.code)
		}

		// Filters and owners.
		for _, tc := range []struct {
			in   ec2.DescribeImagesInput
			want int
		}{
			{ec2.DescribeImagesInput{Owners: []string{"self"}}, 1},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"web (*"}}}}, 1},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("block-device-mapping.snapshot-id"), Values: []string{data}}}}, 1},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("block-device-mapping.device-name"), Values: []string{"/dev/sdc"}}}}, 1},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("architecture"), Values: []string{"x86_64"}}}}, 0},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("tag:role"), Values: []string{"web"}}, {Name: aws.String("is-public"), Values: []string{"false"}}}}, 1},
			{ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("creation-date"), Values: []string{"20*T*Z"}}}}, 1},
			{ec2.DescribeImagesInput{Owners: []string{"amazon"}}, 0},
		} {
			out, err := c.DescribeImages(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Images) != tc.want {
				t.Errorf("%+v: %d images, want %d", tc.in, len(out.Images), tc.want)
			}
		}
		_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("flavour"), Values: []string{"x"}}}})
		wantCode(t, err, "InvalidParameterValue")
		_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-nope"}})
		wantCode(t, err, "InvalidAMIID.Malformed")

		// Sharing: private to bob until shared with him, then public.
		bob, carol := s.account(t, "bob"), s.account(t, "carol")
		b, cc := s.ec2(bob, "us-east-1"), s.ec2(carol, "us-east-1")
		_, err = b.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		wantCode(t, err, "InvalidAMIID.NotFound")
		_, err = b.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), Description: &types.AttributeValue{Value: aws.String("mine")}})
		wantCode(t, err, "InvalidAMIID.NotFound")
		if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id),
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(bob.AccountID)}}}}); err != nil {
			t.Fatal(err)
		}
		shared, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}})
		if err != nil || imageIDs(shared) != fmt.Sprint([]string{id}) || len(shared.Images[0].Tags) != 0 {
			t.Fatalf("bob's shared images: %v %+v", err, shared)
		}
		if out, _ := cc.DescribeImages(ctx, &ec2.DescribeImagesInput{}); len(out.Images) != 0 {
			t.Fatal("carol sees an image shared with bob")
		}
		_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), Attribute: aws.String("launchPermission"),
			OperationType: types.OperationTypeAdd, UserGroups: []string{"everyone"}})
		wantCode(t, err, "InvalidAMIAttributeItemValue")
		if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), Attribute: aws.String("launchPermission"),
			OperationType: types.OperationTypeAdd, UserGroups: []string{"all"}}); err != nil {
			t.Fatal(err)
		}
		pub, err := cc.DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"all"}})
		if err != nil || imageIDs(pub) != fmt.Sprint([]string{id}) || !*pub.Images[0].Public {
			t.Fatalf("public images for carol: %v %+v", err, pub)
		}
		attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
		if err != nil || len(attr.LaunchPermissions) != 2 {
			t.Fatalf("launch permissions: %v %+v", err, attr)
		}
		if _, err := c.ResetImageAttribute(ctx, &ec2.ResetImageAttributeInput{ImageId: aws.String(id), Attribute: types.ResetImageAttributeNameLaunchPermission}); err != nil {
			t.Fatal(err)
		}
		_, err = cc.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		wantCode(t, err, "InvalidAMIID.NotFound")

		// Attributes.
		if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), Description: &types.AttributeValue{Value: aws.String("second")}}); err != nil {
			t.Fatal(err)
		}
		desc, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameDescription})
		if err != nil || *desc.Description.Value != "second" {
			t.Fatalf("description: %v %+v", err, desc)
		}
		bdm, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameBlockDeviceMapping})
		if err != nil || len(bdm.BlockDeviceMappings) != 4 {
			t.Fatalf("blockDeviceMapping: %v %+v", err, bdm)
		}

		// Snapshots in use; deregistration deletes only what it may.
		_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(root)})
		wantCode(t, err, "InvalidSnapshot.InUse")
		other, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("shares data"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(data)})
		if err != nil {
			t.Fatal(err)
		}
		dereg, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id), DeleteAssociatedSnapshots: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		codes := map[string]string{}
		for _, r := range dereg.DeleteSnapshotResults {
			codes[*r.SnapshotId] = string(r.ReturnCode)
		}
		if codes[root] != "success" || codes[data] != "skipped" {
			t.Fatalf("deregister results %v", codes)
		}
		_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{root}})
		wantCode(t, err, "InvalidSnapshot.NotFound")
		// Just deregistered: an empty list, as EC2 answers for a while
		// (Ansible's ec2_ami waits for it).
		if gone, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}); err != nil {
			t.Fatalf("describing a just-deregistered image: %v", err)
		} else if len(gone.Images) != 0 {
			t.Fatalf("describing a just-deregistered image: %v, want none", imageIDs(gone))
		}
		if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: other.ImageId}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(data)}); err != nil {
			t.Fatalf("snapshot still in use after its images were deregistered: %v", err)
		}
	})
}

func TestImageLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		bob := s.account(t, "bob")
		b := s.ec2(bob, "us-east-1")
		reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("life"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(newSnapshot(t, s, s.admin))})
		if err != nil {
			t.Fatal(err)
		}
		id := reg.ImageId
		share := &ec2.ModifyImageAttributeInput{ImageId: id, LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(bob.AccountID)}}}}
		if _, err := c.ModifyImageAttribute(ctx, share); err != nil {
			t.Fatal(err)
		}
		count := func(cl *ec2.Client, in *ec2.DescribeImagesInput) int {
			t.Helper()
			out, err := cl.DescribeImages(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return len(out.Images)
		}

		// Deprecation: hidden from bob's listings unless he asks, shown by id.
		at := time.Now().Add(2 * time.Minute)
		if _, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: id, DeprecateAt: &at}); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Hour)
		_, err = c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: id, DeprecateAt: &past})
		wantCode(t, err, "InvalidParameterValue")
		out, _ := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*id}})
		if out.Images[0].DeprecationTime == nil {
			t.Fatal("no DeprecationTime")
		}
		if _, err := c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}
		if n := count(b, &ec2.DescribeImagesInput{}); n != 1 {
			t.Fatalf("bob sees %d images", n)
		}

		// Protection blocks deregistration until disabled.
		prot, err := c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: id})
		if err != nil || *prot.Return != "enabled" {
			t.Fatalf("protection: %v %+v", err, prot)
		}
		_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id})
		wantCode(t, err, "IncorrectState")
		attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: id, Attribute: types.ImageAttributeNameDeregistrationProtection})
		if err != nil || *attr.DeregistrationProtection.Value != "enabled" {
			t.Fatalf("protection attribute: %v %+v", err, attr)
		}
		if _, err := c.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}

		// Bob gives up his permission.
		if _, err := b.CancelImageLaunchPermission(ctx, &ec2.CancelImageLaunchPermissionInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}
		if n := count(b, &ec2.DescribeImagesInput{}); n != 0 {
			t.Fatal("bob still sees the image after cancelling his permission")
		}
		_, err = b.CancelImageLaunchPermission(ctx, &ec2.CancelImageLaunchPermissionInput{ImageId: id})
		wantCode(t, err, "InvalidAMIID.NotFound")

		// Block public access stops new public sharing.
		if _, err := c.EnableImageBlockPublicAccess(ctx, &ec2.EnableImageBlockPublicAccessInput{ImageBlockPublicAccessState: types.ImageBlockPublicAccessEnabledStateBlockNewSharing}); err != nil {
			t.Fatal(err)
		}
		st, err := c.GetImageBlockPublicAccessState(ctx, &ec2.GetImageBlockPublicAccessStateInput{})
		if err != nil || *st.ImageBlockPublicAccessState != "block-new-sharing" {
			t.Fatalf("block public access state: %v %+v", err, st)
		}
		public := &ec2.ModifyImageAttributeInput{ImageId: id, LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}
		_, err = c.ModifyImageAttribute(ctx, public)
		wantCode(t, err, "OperationNotPermitted")
		if _, err := c.DisableImageBlockPublicAccess(ctx, &ec2.DisableImageBlockPublicAccessInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ModifyImageAttribute(ctx, public); err != nil {
			t.Fatal(err)
		}

		// Disable: hidden from everyone but its owner asking for it, and
		// its launch permissions gone for good.
		if _, err := c.DisableImage(ctx, &ec2.DisableImageInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}
		if n := count(b, &ec2.DescribeImagesInput{}); n != 0 {
			t.Fatal("bob sees a disabled image")
		}
		if n := count(c, &ec2.DescribeImagesInput{Owners: []string{"self"}}); n != 0 {
			t.Fatal("a disabled image is listed without IncludeDisabled")
		}
		if n := count(c, &ec2.DescribeImagesInput{Owners: []string{"self"}, IncludeDisabled: aws.Bool(true)}); n != 1 {
			t.Fatal("the owner cannot see a disabled image with IncludeDisabled")
		}
		if _, err := c.EnableImage(ctx, &ec2.EnableImageInput{ImageId: id}); err != nil {
			t.Fatal(err)
		}
		out, _ = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*id}})
		if out.Images[0].State != types.ImageStateAvailable || *out.Images[0].Public {
			t.Fatalf("after EnableImage: %+v", out.Images[0])
		}
	})
}

// TestImageSharedWithOrganizations grants an image to an organization and
// to an OU: members see and may use it, others do not.
func TestImageSharedWithOrganizations(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		const (
			org = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
			ou  = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-cdefgh34"
		)
		c := s.ec2(s.admin, "us-east-1")
		inOrg, inOU, outside := s.account(t, "in-org"), s.account(t, "in-ou"), s.account(t, "outside")
		if _, err := s.svc.Identity().JoinOrganization(ctx, "in-org", org, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Identity().JoinOrganization(ctx, "in-ou", org, []string{ou}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Identity().JoinOrganization(ctx, "outside", "not-an-arn", nil); err == nil {
			t.Fatal("a malformed organization ARN was accepted")
		}
		snap := newSnapshot(t, s, s.admin)
		toOrg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("for the org"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)})
		if err != nil {
			t.Fatal(err)
		}
		toOU, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("for the ou"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*ec2.ModifyImageAttributeInput{
			{ImageId: toOrg.ImageId, LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{OrganizationArn: aws.String(org)}}}},
			{ImageId: toOU.ImageId, Attribute: aws.String("launchPermission"), OperationType: types.OperationTypeAdd, OrganizationalUnitArns: []string{ou}},
		} {
			if _, err := c.ModifyImageAttribute(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			who  identity.Credentials
			want []string
		}{
			{inOrg, []string{*toOrg.ImageId}},
			{inOU, []string{*toOrg.ImageId, *toOU.ImageId}},
			{outside, nil},
		} {
			out, err := s.ec2(tc.who, "us-east-1").DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}})
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(tc.want)
			if got := imageIDs(out); got != fmt.Sprint(tc.want) && !(len(tc.want) == 0 && got == "[]") {
				t.Errorf("%s sees %s, want %v", tc.who.AccountID, got, tc.want)
			}
		}
		_, err = s.ec2(outside, "us-east-1").DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*toOrg.ImageId}})
		wantCode(t, err, "InvalidAMIID.NotFound")
	})
}

// TestImageAliasesAndProductCodes publishes a public image under the
// amazon alias with a product code, as an operator would.
func TestImageAliasesAndProductCodes(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("al2023-ami"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(newSnapshot(t, s, s.admin))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Images().SetImageOwnerAlias(ctx, "us-east-1", *reg.ImageId, "amazon"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Images().SetImageProductCode(ctx, "us-east-1", *reg.ImageId, "abcdefgh12345678", "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Images().SetImageOwnerAlias(ctx, "us-east-1", *reg.ImageId, "evil-corp"); err == nil {
			t.Fatal("an unknown alias was accepted")
		}
		bob := s.ec2(s.account(t, "bob"), "us-east-1")
		out, err := bob.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}, Filters: []types.Filter{{Name: aws.String("product-code"), Values: []string{"abcdefgh12345678"}}}})
		if err != nil || len(out.Images) != 1 {
			t.Fatalf("images owned by amazon: %v %+v", err, out)
		}
		img := out.Images[0]
		if *img.ImageOwnerAlias != "amazon" || len(img.ProductCodes) != 1 || img.ProductCodes[0].ProductCodeType != types.ProductCodeValuesMarketplace {
			t.Fatalf("published image %+v", img)
		}
		attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: reg.ImageId, Attribute: types.ImageAttributeNameProductCodes})
		if err != nil || len(attr.ProductCodes) != 1 || *attr.ProductCodes[0].ProductCodeId != "abcdefgh12345678" {
			t.Fatalf("productCodes attribute: %v %+v", err, attr)
		}
		if out, _ := bob.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"aws-marketplace"}}); len(out.Images) != 0 {
			t.Fatal("an image shows under another alias")
		}
	})
}

// TestAllowedImages: Allowed AMIs restrict other accounts' images (here a
// publisher's public ones) in listings and launches, never the caller's
// own.
func TestAllowedImages(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		publisher := s.account(t, "publisher")
		pub := s.ec2(publisher, "us-east-1")
		snap := newSnapshot(t, s, publisher)
		var ids []string
		for _, name := range []string{"al2023-base", "ubuntu-24.04"} {
			reg, err := pub.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pub.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
				LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, *reg.ImageId)
		}
		own, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("mine"), RootDeviceName: aws.String("/dev/xvda"),
			BlockDeviceMappings: rootMapping(newSnapshot(t, s, s.admin))})
		if err != nil {
			t.Fatal(err)
		}
		fromPublisher := &ec2.DescribeImagesInput{Owners: []string{publisher.AccountID}}
		if _, err := c.ReplaceImageCriteriaInAllowedImagesSettings(ctx, &ec2.ReplaceImageCriteriaInAllowedImagesSettingsInput{
			ImageCriteria: []types.ImageCriterionRequest{{ImageNames: []string{"al2023-*"}, CreationDateCondition: &types.CreationDateConditionRequest{MaximumDaysSinceCreated: aws.Int32(30)}}},
		}); err != nil {
			t.Fatal(err)
		}
		// Audit mode: both listed, each marked.
		if _, err := c.EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: types.AllowedImagesSettingsEnabledStateAuditMode}); err != nil {
			t.Fatal(err)
		}
		out, err := c.DescribeImages(ctx, fromPublisher)
		if err != nil || len(out.Images) != 2 {
			t.Fatalf("audit mode: %v %+v", err, out)
		}
		for _, img := range out.Images {
			want := *img.Name == "al2023-base"
			if img.ImageAllowed == nil || *img.ImageAllowed != want {
				t.Errorf("%s: ImageAllowed %v, want %v", *img.Name, img.ImageAllowed, want)
			}
		}
		// Enabled: only the allowed one is discoverable.
		if _, err := c.EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: types.AllowedImagesSettingsEnabledStateEnabled}); err != nil {
			t.Fatal(err)
		}
		out, err = c.DescribeImages(ctx, fromPublisher)
		if err != nil || len(out.Images) != 1 || *out.Images[0].ImageId != ids[0] {
			t.Fatalf("enabled: %v %+v", err, out)
		}
		mine, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
		if err != nil || len(mine.Images) != 1 || *mine.Images[0].ImageId != *own.ImageId {
			t.Fatalf("own images with Allowed AMIs enabled: %v %+v", err, mine)
		}
		launch := func(id string) error {
			_, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(id), InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}
		wantCode(t, launch(ids[1]), "InvalidAMIID.NotFound")
		for _, id := range []string{ids[0], *own.ImageId} {
			if err := launch(id); err != nil {
				t.Fatalf("launching allowed image %s: %v", id, err)
			}
		}
		got, err := c.GetAllowedImagesSettings(ctx, &ec2.GetAllowedImagesSettingsInput{})
		if err != nil || *got.State != "enabled" || len(got.ImageCriteria) != 1 || got.ImageCriteria[0].ImageNames[0] != "al2023-*" ||
			*got.ImageCriteria[0].CreationDateCondition.MaximumDaysSinceCreated != 30 {
			t.Fatalf("GetAllowedImagesSettings: %v %+v", err, got)
		}
		if _, err := c.DisableAllowedImagesSettings(ctx, &ec2.DisableAllowedImagesSettingsInput{}); err != nil {
			t.Fatal(err)
		}
		out, _ = c.DescribeImages(ctx, fromPublisher)
		if len(out.Images) != 2 || out.Images[0].ImageAllowed != nil {
			t.Fatalf("disabled: %+v", out)
		}
	})
}

func TestRecycleBin(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")
		rb := rbin.NewFromConfig(s.awsConfig(s.admin, "us-east-1"))
		rule, err := rb.CreateRule(ctx, &rbin.CreateRuleInput{
			ResourceType:    rbintypes.ResourceTypeEc2Image,
			RetentionPeriod: &rbintypes.RetentionPeriod{RetentionPeriodValue: aws.Int32(7), RetentionPeriodUnit: rbintypes.RetentionPeriodUnitDays},
			ResourceTags:    []rbintypes.ResourceTag{{ResourceTagKey: aws.String("keep"), ResourceTagValue: aws.String("yes")}},
			Description:     aws.String("keep tagged images a week"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rb.GetRule(ctx, &rbin.GetRuleInput{Identifier: rule.Identifier}); err != nil || *got.RetentionPeriod.RetentionPeriodValue != 7 {
			t.Fatalf("GetRule: %v %+v", err, got)
		}
		list, err := rb.ListRules(ctx, &rbin.ListRulesInput{ResourceType: rbintypes.ResourceTypeEc2Image})
		if err != nil || len(list.Rules) != 1 {
			t.Fatalf("ListRules: %v %+v", err, list)
		}
		// The bin holds images only: a snapshot rule that would not act is
		// refused rather than recorded.
		_, err = rb.CreateRule(ctx, &rbin.CreateRuleInput{
			ResourceType:    rbintypes.ResourceTypeEbsSnapshot,
			RetentionPeriod: &rbintypes.RetentionPeriod{RetentionPeriodValue: aws.Int32(7), RetentionPeriodUnit: rbintypes.RetentionPeriodUnitDays},
		})
		var validation *rbintypes.ValidationException
		if !errorsAs(err, &validation) {
			t.Fatalf("CreateRule for EBS_SNAPSHOT: %v, want ValidationException", err)
		}

		snap := newSnapshot(t, s, s.admin)
		register := func(name string, tags ...types.Tag) string {
			in := &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)}
			if len(tags) > 0 {
				in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: tags}}
			}
			out, err := c.RegisterImage(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return *out.ImageId
		}
		kept := register("kept", types.Tag{Key: aws.String("keep"), Value: aws.String("yes")})
		gone := register("gone")
		for _, id := range []string{kept, gone} {
			if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
				t.Fatal(err)
			}
		}
		bin, err := c.ListImagesInRecycleBin(ctx, &ec2.ListImagesInRecycleBinInput{})
		if err != nil || len(bin.Images) != 1 || *bin.Images[0].ImageId != kept ||
			bin.Images[0].RecycleBinExitTime.Sub(*bin.Images[0].RecycleBinEnterTime) != 7*24*time.Hour {
			t.Fatalf("recycle bin: %v %+v", err, bin)
		}
		if out, _ := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); len(out.Images) != 0 {
			t.Fatalf("images in the bin are listed: %+v", out.Images)
		}
		_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(kept)})
		wantCode(t, err, "InvalidAMIID.Unavailable")
		_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
		wantCode(t, err, "InvalidSnapshot.InUse")
		_, err = c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: aws.String(gone)})
		wantCode(t, err, "InvalidAMIID.NotFound")
		if _, err := c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: aws.String(kept)}); err != nil {
			t.Fatal(err)
		}
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{kept}})
		if err != nil || out.Images[0].State != types.ImageStateAvailable || len(out.Images[0].Tags) != 1 {
			t.Fatalf("restored image: %v %+v", err, out)
		}
		if _, err := rb.DeleteRule(ctx, &rbin.DeleteRuleInput{Identifier: rule.Identifier}); err != nil {
			t.Fatal(err)
		}
		_, err = rb.DeleteRule(ctx, &rbin.DeleteRuleInput{Identifier: rule.Identifier})
		var nf *rbintypes.ResourceNotFoundException
		if !errorsAs(err, &nf) {
			t.Fatalf("deleting a deleted rule: %v", err)
		}
	})
}

func TestImageAncestryOfARegisteredImage(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")
	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("root image"), RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(newSnapshot(t, s, s.admin))})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetImageAncestry(ctx, &ec2.GetImageAncestryInput{ImageId: reg.ImageId})
	if err != nil || len(out.ImageAncestryEntries) != 1 || *out.ImageAncestryEntries[0].ImageId != *reg.ImageId || out.ImageAncestryEntries[0].SourceImageId != nil {
		t.Fatalf("ancestry: %v %+v", err, out)
	}
	_, err = s.ec2(s.account(t, "bob"), "us-east-1").GetImageAncestry(ctx, &ec2.GetImageAncestryInput{ImageId: reg.ImageId})
	wantCode(t, err, "InvalidAMIID.NotFound")
}

// TestImagePendingUntilSnapshotCompletes: an image registered from a
// snapshot still being written is pending, and the SDK's image-available
// waiter returns once the snapshot completes.
func TestImagePendingUntilSnapshotCompletes(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "pending")
		e := s.ec2(c, "us-east-1")
		start, err := s.ebs(c).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("pending-image"), RootDeviceName: aws.String("/dev/xvda"),
			BlockDeviceMappings: rootMapping(*start.SnapshotId)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*reg.ImageId}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Images) != 1 || out.Images[0].State != types.ImageStatePending {
			t.Fatalf("image of an uncompleted snapshot: %+v, want one pending image", out.Images)
		}
		putBlocks(t, s, c, *start.SnapshotId, map[int32][]byte{0: randomBlock()}) // and completes it
		w := ec2.NewImageAvailableWaiter(e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*reg.ImageId}}, 30*time.Second); err != nil {
			t.Fatalf("image-available waiter: %v", err)
		}
	})
}

// TestImageDeregistrationCooldown: protection enabled with cooldown and
// then disabled reads "disabled-until <time>" (24 hours on, to the
// millisecond, in UTC) in DisableImageDeregistrationProtection's answer,
// DescribeImages and DescribeImageAttribute alike, and DeregisterImage
// refuses the image in the meantime, quoting it.
func TestImageDeregistrationCooldown(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")
	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("cooldown"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(newSnapshot(t, s, s.admin))})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.ImageId
	prot, err := c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: id, WithCooldown: aws.Bool(true)})
	if err != nil || *prot.Return != "enabled-with-cooldown" {
		t.Fatalf("protection: %v %+v", err, prot)
	}
	before := time.Now()
	off, err := c.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: id})
	if err != nil {
		t.Fatal(err)
	}
	state := *off.Return
	m := regexp.MustCompile(`^disabled-until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$`).FindStringSubmatch(state)
	if m == nil {
		t.Fatalf("DisableImageDeregistrationProtection = %q, want disabled-until <time>", state)
	}
	until, _ := time.Parse("2006-01-02T15:04:05.000Z", m[1])
	if d := until.Sub(before); d < 24*time.Hour-time.Second || d > 24*time.Hour+time.Minute {
		t.Errorf("the cooldown ends %v after the request, want 24h", d)
	}
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*id}})
	if err != nil || len(out.Images) != 1 || aws.ToString(out.Images[0].DeregistrationProtection) != state {
		t.Errorf("DescribeImages: %v %+v, want protection %q", err, out, state)
	}
	attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: id, Attribute: types.ImageAttributeNameDeregistrationProtection})
	if err != nil || aws.ToString(attr.DeregistrationProtection.Value) != state {
		t.Errorf("DescribeImageAttribute: %v %+v, want %q", err, attr, state)
	}
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id})
	if want := "Image " + *id + " has deregistration protection enabled (" + state + ")."; err == nil || errorCode(t, err) != "IncorrectState" || !strings.Contains(err.Error(), want) {
		t.Errorf("DeregisterImage in the cooldown: %v, want IncorrectState %q", err, want)
	}
	// Enabled again, then disabled without cooldown: plainly disabled.
	if _, err := c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: id}); err != nil {
		t.Fatal(err)
	}
	if off, err := c.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: id}); err != nil || *off.Return != "disabled" {
		t.Fatalf("disable: %v %+v", err, off)
	}
	if out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*id}}); err != nil || aws.ToString(out.Images[0].DeregistrationProtection) != "disabled" {
		t.Errorf("DescribeImages after a plain disable: %v %+v", err, out)
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id}); err != nil {
		t.Errorf("DeregisterImage after a plain disable: %v", err)
	}
}
