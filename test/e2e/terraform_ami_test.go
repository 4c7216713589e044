package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerraformAMI registers an image from a snapshot made through the EBS
// direct API with real Terraform and the real AWS provider (aws_ami),
// shares it with a second account and with everyone
// (aws_ami_launch_permission), finds it again with the aws_ami and
// aws_ami_ids data sources, checks what terraform recorded against what
// openami reports (to the owner and to the second account), checks the
// plan shows no drift, changes the description and tags in place, and
// destroys everything.
func TestTerraformAMI(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "ami", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))

	// The root snapshot terraform registers the image from, and the account
	// it shares the image with.
	snap := newSnapshot(t, s, s.admin)
	bob := s.account(t, "tf-share")
	b := s.ec2(bob, "us-east-1")

	// Two images registered beforehand: an older one the name prefix
	// matches (aws_ami_ids lists it, aws_ami's most_recent passes it over)
	// and one it does not match.
	var older string
	for _, name := range []string{"openami-tf-base", "unrelated"} {
		reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{
			Name: aws.String(name), Architecture: types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"),
			VirtualizationType: aws.String("hvm"), BlockDeviceMappings: rootMapping(snap),
		})
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		if name == "openami-tf-base" {
			older = aws.ToString(reg.ImageId)
		}
	}

	const imageName = "openami-tf-web"
	tags := map[string]string{"Name": "tf-web", "team": "infra"}
	vars := map[string]any{
		"endpoint":    s.URL,
		"access_key":  s.admin.AccessKeyID,
		"secret_key":  s.admin.SecretAccessKey,
		"snapshot_id": snap,
		"share_with":  bob.AccountID,
		"image_name":  imageName,
		"name_prefix": "openami-tf-",
		"description": "built by terraform",
		"tags":        tags,
	}
	x.vars(vars)

	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()

	// What openami reports to the owner.
	id := str(t, outs, "image_id")
	described, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeImages %s (terraform's image_id): %v", id, err)
	}
	if len(described.Images) != 1 {
		t.Fatalf("DescribeImages %s: %d images", id, len(described.Images))
	}
	img := described.Images[0]
	if got := aws.ToString(img.Name); got != imageName {
		t.Errorf("openami image name %q, want %q", got, imageName)
	}
	if got := aws.ToString(img.Description); got != "built by terraform" {
		t.Errorf("openami description %q", got)
	}
	if img.Architecture != types.ArchitectureValuesX8664 || aws.ToString(img.RootDeviceName) != "/dev/xvda" ||
		img.RootDeviceType != types.DeviceTypeEbs || img.VirtualizationType != types.VirtualizationTypeHvm ||
		!aws.ToBool(img.EnaSupport) || img.BootMode != types.BootModeValuesUefiPreferred || img.State != types.ImageStateAvailable {
		t.Errorf("openami image: architecture %s, root %s (%s), virtualization %s, ena %v, boot mode %s, state %s",
			img.Architecture, aws.ToString(img.RootDeviceName), img.RootDeviceType, img.VirtualizationType,
			aws.ToBool(img.EnaSupport), img.BootMode, img.State)
	}
	if aws.ToString(img.OwnerId) != s.admin.AccountID || !aws.ToBool(img.Public) {
		t.Errorf("openami image owner %s public %v, want %s and public (group all)", aws.ToString(img.OwnerId), aws.ToBool(img.Public), s.admin.AccountID)
	}
	mappings := map[string]types.BlockDeviceMapping{}
	for _, m := range img.BlockDeviceMappings {
		mappings[aws.ToString(m.DeviceName)] = m
	}
	if len(mappings) != 2 {
		t.Errorf("openami block device mappings %d, want /dev/xvda and /dev/sdb", len(img.BlockDeviceMappings))
	}
	if root := mappings["/dev/xvda"]; root.Ebs == nil || aws.ToString(root.Ebs.SnapshotId) != snap ||
		aws.ToInt32(root.Ebs.VolumeSize) != 8 || root.Ebs.VolumeType != types.VolumeTypeGp3 {
		t.Errorf("openami root mapping %+v, want snapshot %s, 8 GiB gp3", root.Ebs, snap)
	}
	if eph := mappings["/dev/sdb"]; aws.ToString(eph.VirtualName) != "ephemeral0" || eph.Ebs != nil {
		t.Errorf("openami /dev/sdb mapping: virtual name %q, ebs %+v, want ephemeral0", aws.ToString(eph.VirtualName), eph.Ebs)
	}
	if got := tagMap(img.Tags); !equalMaps(got, tags) {
		t.Errorf("openami tags %v, want %v", got, tags)
	}

	// Launch permissions: the second account and everyone.
	perms, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	var users, groups []string
	for _, p := range perms.LaunchPermissions {
		if p.UserId != nil {
			users = append(users, *p.UserId)
		}
		if p.Group != "" {
			groups = append(groups, string(p.Group))
		}
	}
	if !slices.Equal(users, []string{bob.AccountID}) || !slices.Equal(groups, []string{"all"}) {
		t.Errorf("openami launch permissions: users %v groups %v, want [%s] and [all]", users, groups, bob.AccountID)
	}

	// As the second account sees it: by id, and among the images it may launch.
	seen, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(seen.Images) != 1 || aws.ToString(seen.Images[0].OwnerId) != s.admin.AccountID {
		t.Errorf("the second account's DescribeImages %s: %v %+v", id, err, seen)
	}
	if exec, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}}); err != nil || !strings.Contains(imageIDs(exec), id) {
		t.Errorf("the second account's executable images: %v %v, want %s among them", err, exec, id)
	}

	// Terraform's state, its data sources, and openami agree.
	for _, tc := range []struct {
		what, got, want string
	}{
		{"owner_id", str(t, outs, "owner_id"), s.admin.AccountID},
		{"arn", str(t, outs, "arn"), "arn:aws:ec2:us-east-1::image/" + id},
		{"root_snapshot_id", str(t, outs, "root_snapshot_id"), snap},
		{"account_permission_id", str(t, outs, "account_permission_id"), id + "-" + bob.AccountID},
		{"public_permission_id", str(t, outs, "public_permission_id"), id + "-group-all"},
		{"data_id", str(t, outs, "data_id"), id},
		{"data_image_id", str(t, outs, "data_image_id"), id},
		{"data_name", str(t, outs, "data_name"), imageName},
		{"data_description", str(t, outs, "data_description"), "built by terraform"},
		{"data_architecture", str(t, outs, "data_architecture"), "x86_64"},
		{"data_boot_mode", str(t, outs, "data_boot_mode"), "uefi-preferred"},
		{"data_root_device_name", str(t, outs, "data_root_device_name"), "/dev/xvda"},
		{"data_root_device_type", str(t, outs, "data_root_device_type"), "ebs"},
		{"data_root_snapshot_id", str(t, outs, "data_root_snapshot_id"), snap},
		{"data_virtualization_type", str(t, outs, "data_virtualization_type"), "hvm"},
		{"data_state", str(t, outs, "data_state"), "available"},
		{"data_owner_id", str(t, outs, "data_owner_id"), s.admin.AccountID},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if got, ok := outs["data_ena_support"].(bool); !ok || !got {
		t.Errorf("data_ena_support = %#v, want true", outs["data_ena_support"])
	}
	if got, ok := outs["data_public"].(bool); !ok || !got {
		t.Errorf("data_public = %#v, want true", outs["data_public"])
	}
	if got := strMap(t, outs, "tags_all"); !equalMaps(got, tags) {
		t.Errorf("tags_all = %v, want %v", got, tags)
	}
	if got := strMap(t, outs, "data_tags"); !equalMaps(got, tags) {
		t.Errorf("data_tags = %v, want %v", got, tags)
	}
	checkDataMappings(t, outs["data_block_device_mappings"], snap)
	if got := strList(t, outs, "ids"); !equalSets(got, []string{id, older}) {
		t.Errorf("aws_ami_ids ids = %v, want %s and %s (not the unrelated image)", got, id, older)
	}
	if t.Failed() {
		t.FailNow()
	}

	// No drift: a fresh plan refreshes everything and finds nothing to do.
	x.noDrift()

	// The description (ModifyImageAttribute) and tags (CreateTags for a
	// changed and a new tag, DeleteTags for a dropped one) change in place:
	// the image is kept.
	tags = map[string]string{"team": "platform", "owner": "ops"}
	vars["tags"] = tags
	vars["description"] = "rebuilt by terraform"
	x.vars(vars)
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	after, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{imageName}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := imageIDs(after); got != "["+id+"]" {
		t.Fatalf("images named %s after the update: %s, want only %s (the update must not replace it)", imageName, got, id)
	}
	if got := aws.ToString(after.Images[0].Description); got != "rebuilt by terraform" {
		t.Errorf("openami description after the update %q", got)
	}
	if got := tagMap(after.Images[0].Tags); !equalMaps(got, tags) {
		t.Errorf("openami tags after the update = %v, want %v", got, tags)
	}
	outs = x.outputs()
	if got := str(t, outs, "image_id"); got != id {
		t.Errorf("image_id after the update %s, want %s", got, id)
	}
	if got := str(t, outs, "data_description"); got != "rebuilt by terraform" {
		t.Errorf("data_description after the update = %q", got)
	}
	if got := strMap(t, outs, "data_tags"); !equalMaps(got, tags) {
		t.Errorf("data_tags after the update = %v, want %v", got, tags)
	}

	// Destroy: the image is deregistered, its permissions and tags are
	// gone; the snapshot (not terraform's) and the other images stay.
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	if gone, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}); err != nil {
		t.Errorf("the owner describing the just-deregistered image: %v", err)
	} else if len(gone.Images) != 0 {
		t.Errorf("the owner describing the just-deregistered image: %v, want none", imageIDs(gone))
	}
	_, err = b.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	wantCode(t, err, "InvalidAMIID.NotFound")
	if exec, err := b.DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self", "all"}}); err != nil || len(exec.Images) != 0 {
		t.Errorf("the second account may still launch %v (%v)", imageIDs(exec), err)
	}
	_, err = c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
	wantCode(t, err, "InvalidAMIID.NotFound")
	left, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(left.Images); got != 2 || strings.Contains(imageIDs(left), id) {
		t.Errorf("images left after destroy: %s, want the two registered by the test", imageIDs(left))
	}
	tagsLeft, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tagsLeft.Tags) != 0 {
		t.Errorf("tags left on %s after destroy: %+v", id, tagsLeft.Tags)
	}
	waitCompleted(t, s, s.admin, snap)
}

// checkDataMappings checks the aws_ami data source's block_device_mappings:
// the root EBS mapping (its ebs is a map of strings) and the ephemeral one.
func checkDataMappings(t *testing.T, raw any, snap string) {
	t.Helper()
	list, ok := raw.([]any)
	if !ok || len(list) != 2 {
		t.Errorf("data_block_device_mappings = %#v, want two mappings", raw)
		return
	}
	byDevice := map[string]map[string]any{}
	for _, m := range list {
		mm, _ := m.(map[string]any)
		name, _ := mm["device_name"].(string)
		byDevice[name] = mm
	}
	root, ok := byDevice["/dev/xvda"]
	if !ok {
		t.Errorf("data_block_device_mappings has no /dev/xvda: %#v", raw)
		return
	}
	ebsMap, _ := root["ebs"].(map[string]any)
	if ebsMap["snapshot_id"] != snap || ebsMap["volume_size"] != "8" || ebsMap["volume_type"] != "gp3" || ebsMap["delete_on_termination"] != "true" {
		t.Errorf("data_block_device_mappings /dev/xvda ebs = %v, want snapshot %s, 8 GiB gp3, deleted on termination", ebsMap, snap)
	}
	if eph := byDevice["/dev/sdb"]; eph == nil || eph["virtual_name"] != "ephemeral0" {
		t.Errorf("data_block_device_mappings /dev/sdb = %v, want virtual name ephemeral0", eph)
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
