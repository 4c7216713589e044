package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// tagOf returns the value of a tag, "" when absent.
func tagOf(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// TestLaunchTemplatesSDK takes a launch template through its life with
// aws-sdk-go-v2: create, a partial version over a source, describe with
// filters and $Latest/$Default, the default moved, a launch from it with
// a parameter over the template's, GetLaunchTemplateData from that
// instance, deleting versions (partly), the refusals with EC2's codes,
// and delete.
func TestLaunchTemplatesSDK(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "templates")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "templated")

		created, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String("web-tpl"), VersionDescription: aws.String("first"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Small,
				MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: types.LaunchTemplateHttpTokensStateRequired},
				TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{ResourceType: types.ResourceTypeInstance,
					Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("from-template")}}}}},
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeLaunchTemplate,
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		lt := created.LaunchTemplate
		id := aws.ToString(lt.LaunchTemplateId)
		if aws.ToInt64(lt.DefaultVersionNumber) != 1 || aws.ToInt64(lt.LatestVersionNumber) != 1 || tagOf(lt.Tags, "team") != "a" || lt.CreateTime == nil {
			t.Fatalf("CreateLaunchTemplate: %+v", lt)
		}
		_, err = e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web-tpl"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeT3Micro}})
		wantCode(t, err, "InvalidLaunchTemplateName.AlreadyExistsException")
		// Data with no field is no data on the wire: EC2's MissingParameter.
		_, err = e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("empty"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{}})
		wantCode(t, err, "MissingParameter")
		_, err = e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("a b"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeT3Micro}})
		wantCode(t, err, "InvalidLaunchTemplateName.MalformedException")

		v2, err := e.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(id),
			SourceVersion: aws.String("1"), LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeT3Large}})
		if err != nil {
			t.Fatal(err)
		}
		if d := v2.LaunchTemplateVersion.LaunchTemplateData; aws.ToInt64(v2.LaunchTemplateVersion.VersionNumber) != 2 ||
			aws.ToString(d.ImageId) != img || d.InstanceType != types.InstanceTypeT3Large || d.MetadataOptions.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
			t.Fatalf("version 2: %+v", v2.LaunchTemplateVersion)
		}

		lts, err := e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []types.Filter{
			{Name: aws.String("launch-template-name"), Values: []string{"web-*"}}, {Name: aws.String("tag:team"), Values: []string{"a"}}}})
		if err != nil || len(lts.LaunchTemplates) != 1 || aws.ToInt64(lts.LaunchTemplates[0].LatestVersionNumber) != 2 {
			t.Fatalf("DescribeLaunchTemplates: %+v %v", lts, err)
		}
		// Tags on a template, as on any resource.
		if _, err := e.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
			t.Fatal(err)
		}
		lts, err = e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []types.Filter{{Name: aws.String("tag:env"), Values: []string{"prod"}}}})
		if err != nil || len(lts.LaunchTemplates) != 1 || len(lts.LaunchTemplates[0].Tags) != 2 {
			t.Fatalf("after CreateTags: %+v %v", lts, err)
		}
		_, err = e.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"lt-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("x")}}})
		wantCode(t, err, "InvalidLaunchTemplateId.NotFound")
		_, err = e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"nope"}})
		wantCode(t, err, "InvalidLaunchTemplateName.NotFoundException")
		_, err = e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{"lt-0123456789abcdef0"}})
		wantCode(t, err, "InvalidLaunchTemplateId.NotFound")

		vs, err := e.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web-tpl"),
			Versions: []string{"$Latest", "$Default"}})
		if err != nil || len(vs.LaunchTemplateVersions) != 2 || !aws.ToBool(vs.LaunchTemplateVersions[0].DefaultVersion) {
			t.Fatalf("$Latest and $Default: %+v %v", vs, err)
		}
		vs, err = e.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id),
			Filters: []types.Filter{{Name: aws.String("instance-type"), Values: []string{"t3.large"}}}})
		if err != nil || len(vs.LaunchTemplateVersions) != 1 || aws.ToInt64(vs.LaunchTemplateVersions[0].VersionNumber) != 2 {
			t.Fatalf("instance-type filter: %+v %v", vs, err)
		}
		_, err = e.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"7"}})
		wantCode(t, err, "InvalidLaunchTemplateId.VersionNotFound")

		// A launch from the default version, with the type over the
		// template's.
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: types.InstanceTypeT3Micro,
			LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web-tpl")}})
		if err != nil {
			t.Fatal(err)
		}
		inst := run.Instances[0]
		if aws.ToString(inst.ImageId) != img || inst.InstanceType != types.InstanceTypeT3Micro || inst.MetadataOptions.HttpTokens != types.HttpTokensStateRequired ||
			tagOf(inst.Tags, "aws:ec2launchtemplate:id") != id || tagOf(inst.Tags, "aws:ec2launchtemplate:version") != "1" || tagOf(inst.Tags, "Name") != "from-template" {
			t.Fatalf("launched: %+v", inst)
		}
		_, err = e.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String("9")}})
		wantCode(t, err, "InvalidLaunchTemplateId.VersionNotFound")

		data, err := e.GetLaunchTemplateData(ctx, &ec2.GetLaunchTemplateDataInput{InstanceId: inst.InstanceId})
		if err != nil || aws.ToString(data.LaunchTemplateData.ImageId) != img || data.LaunchTemplateData.InstanceType != types.InstanceTypeT3Micro ||
			len(data.LaunchTemplateData.BlockDeviceMappings) != 1 || len(data.LaunchTemplateData.NetworkInterfaces) != 1 ||
			aws.ToString(data.LaunchTemplateData.NetworkInterfaces[0].SubnetId) != aws.ToString(inst.SubnetId) {
			t.Fatalf("GetLaunchTemplateData: %+v %v", data, err)
		}

		if _, err := e.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String("2")}); err != nil {
			t.Fatal(err)
		}
		del, err := e.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"1", "2", "9"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(del.SuccessfullyDeletedLaunchTemplateVersions) != 1 || aws.ToInt64(del.SuccessfullyDeletedLaunchTemplateVersions[0].VersionNumber) != 1 ||
			len(del.UnsuccessfullyDeletedLaunchTemplateVersions) != 2 ||
			del.UnsuccessfullyDeletedLaunchTemplateVersions[1].ResponseError.Code != types.LaunchTemplateErrorCodeLaunchTemplateVersionDoesNotExist {
			t.Fatalf("DeleteLaunchTemplateVersions: %+v", del)
		}

		if _, err := e.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String("web-tpl")}); err != nil {
			t.Fatal(err)
		}
		lts, err = e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
		if err != nil || len(lts.LaunchTemplates) != 0 {
			t.Fatalf("after delete: %+v %v", lts, err)
		}
	})
}

// TestLaunchTemplatesCLI drives the same life cycle with the aws CLI
// (botocore's parsers): create from JSON data, a version, the
// descriptions, run-instances from the template, and delete.
func TestLaunchTemplatesCLI(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "cli-templates")
	img := registerTestImage(t, s, s.ec2(c, "us-east-1"), c, "cli-templated")
	data, _ := json.Marshal(map[string]any{"ImageId": img, "InstanceType": "t3.micro",
		"BlockDeviceMappings": []any{map[string]any{"DeviceName": "/dev/xvda", "Ebs": map[string]any{"VolumeSize": 3}}}})
	out := runCLI(t, s, c, "ec2", "create-launch-template", "--launch-template-name", "cli-tpl", "--launch-template-data", string(data))
	id, _ := out["LaunchTemplate"].(map[string]any)["LaunchTemplateId"].(string)
	if id == "" {
		t.Fatalf("create-launch-template: %v", out)
	}
	runCLI(t, s, c, "ec2", "create-launch-template-version", "--launch-template-id", id, "--source-version", "1",
		"--launch-template-data", `{"InstanceType":"t3.small"}`)
	out = runCLI(t, s, c, "ec2", "describe-launch-template-versions", "--launch-template-id", id, "--versions", "$Latest")
	vs := out["LaunchTemplateVersions"].([]any)
	d := vs[0].(map[string]any)["LaunchTemplateData"].(map[string]any)
	if len(vs) != 1 || d["InstanceType"] != "t3.small" || d["ImageId"] != img {
		t.Fatalf("describe-launch-template-versions: %v", out)
	}
	out = runCLI(t, s, c, "ec2", "run-instances", "--launch-template", "LaunchTemplateName=cli-tpl,Version=$Latest", "--count", "1")
	inst := out["Instances"].([]any)[0].(map[string]any)
	if inst["InstanceType"] != "t3.small" || inst["ImageId"] != img {
		t.Fatalf("run-instances: %v", inst)
	}
	_, err := runCLIErr(t, s, c, "ec2", "create-launch-template", "--launch-template-name", "cli-tpl", "--launch-template-data", `{"InstanceType":"t3.micro"}`)
	wantCLICode(t, err, "InvalidLaunchTemplateName.AlreadyExistsException")
	_, err = runCLIErr(t, s, c, "ec2", "create-launch-template", "--launch-template-name", "ssm-tpl",
		"--launch-template-data", `{"ImageId":"resolve:ssm:/golden/ami"}`)
	wantCLICode(t, err, "InvalidParameterValue")
	_, err = runCLIErr(t, s, c, "ec2", "create-launch-template", "--launch-template-name", "iam-tpl",
		"--launch-template-data", `{"IamInstanceProfile":{"Name":"web"}}`)
	wantCLICode(t, err, "UnsupportedOperation")
	out = runCLI(t, s, c, "ec2", "delete-launch-template", "--launch-template-id", id)
	if out["LaunchTemplate"].(map[string]any)["LaunchTemplateName"] != "cli-tpl" {
		t.Fatalf("delete-launch-template: %v", out)
	}
}

// TestTerraformLaunchTemplate applies aws_launch_template and an
// aws_instance launched from it with real Terraform and the AWS
// provider, plans again without drift, changes the template (a new
// version) and destroys everything.
func TestTerraformLaunchTemplate(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")
	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "launchtemplate", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	img := registerTestImage(t, s, c, s.admin, "tf-templated")
	vars := map[string]any{"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey,
		"image_id": img, "instance_type": "t3.micro"}
	x.vars(vars)
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()
	id, inst := str(t, outs, "template_id"), str(t, outs, "instance_id")
	desc, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	i := desc.Reservations[0].Instances[0]
	if aws.ToString(i.ImageId) != img || i.InstanceType != types.InstanceTypeT3Micro || tagOf(i.Tags, "aws:ec2launchtemplate:id") != id ||
		i.MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
		t.Fatalf("instance from the template: %+v", i)
	}
	x.noDrift()

	// A change of the template is a new version, its latest.
	vars["instance_type"] = "t3.small"
	x.vars(vars)
	x.must("apply", "-auto-approve", "-input=false", "-no-color", "-target=aws_launch_template.web")
	lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}})
	if err != nil || aws.ToInt64(lts.LaunchTemplates[0].LatestVersionNumber) != 2 {
		t.Fatalf("after the change: %+v %v", lts, err)
	}

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	lts, err = c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || len(lts.LaunchTemplates) != 0 {
		t.Fatalf("templates after destroy: %+v %v", lts, err)
	}
	after, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{inst}})
	if err != nil || after.Reservations[0].Instances[0].State.Name != types.InstanceStateNameTerminated {
		t.Fatalf("instance after destroy: %v %s", err, fmt.Sprint(after))
	}
}
