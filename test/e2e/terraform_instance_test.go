package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerraformInstance launches an instance (aws_instance), makes an
// image of it (aws_ami_from_instance) and copies that image
// (aws_ami_copy) with real Terraform and the AWS provider, checks what
// openami holds against Terraform's state, plans again without drift, and
// destroys everything: the instance terminated, its volumes and the images
// gone.
func TestTerraformInstance(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "instance", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	img := registerTestImage(t, s, c, s.admin, "tf-base")
	x.vars(map[string]any{
		"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey,
		"image_id": img, "instance_type": "t3.micro",
	})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()

	id := str(t, outs, "instance_id")
	desc, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	inst := desc.Reservations[0].Instances[0]
	if inst.State.Name != types.InstanceStateNameRunning || aws.ToString(inst.KeyName) != "tf-instance" ||
		inst.MetadataOptions.HttpTokens != types.HttpTokensStateRequired || len(inst.BlockDeviceMappings) != 2 ||
		aws.ToString(inst.PrivateIpAddress) != str(t, outs, "private_ip") || aws.ToString(inst.SubnetId) != str(t, outs, "subnet_id") {
		t.Fatalf("openami instance: %+v", inst)
	}
	if got := str(t, outs, "instance_state"); got != "running" {
		t.Errorf("instance_state = %q", got)
	}
	root, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{str(t, outs, "root_volume_id")}})
	if err != nil || aws.ToInt32(root.Volumes[0].Size) != 2 || root.Volumes[0].VolumeType != types.VolumeTypeGp3 {
		t.Fatalf("root volume: %v %+v", err, root)
	}
	for _, name := range []string{"golden_id", "copy_id"} {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{str(t, outs, name)}})
		if err != nil || out.Images[0].State != types.ImageStateAvailable {
			t.Fatalf("%s: %v %+v", name, err, out)
		}
		if name == "golden_id" && aws.ToString(out.Images[0].SourceInstanceId) != id {
			t.Errorf("golden image source instance %q, want %s", aws.ToString(out.Images[0].SourceInstanceId), id)
		}
		if name == "copy_id" && aws.ToString(out.Images[0].SourceImageId) != str(t, outs, "golden_id") {
			t.Errorf("copy's source image %q", aws.ToString(out.Images[0].SourceImageId))
		}
	}
	x.noDrift()

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	after, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || after.Reservations[0].Instances[0].State.Name != types.InstanceStateNameTerminated {
		t.Fatalf("instance after destroy: %v %+v", err, after)
	}
	vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	if err != nil || len(vols.Volumes) != 0 {
		t.Fatalf("volumes after destroy: %v %+v", err, vols.Volumes)
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || len(imgs.Images) != 1 || *imgs.Images[0].ImageId != img {
		t.Fatalf("images after destroy: %v %s", err, imageIDs(imgs))
	}
}
