package ec2

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsquery"
	"github.com/openami/openami/rules/templates"
)

// TestLaunchTemplateDataWire: LaunchTemplateData decodes from the query
// names the SDKs send, and encodes back in EC2's shape: a network
// interface's groups as <groupSet><groupId>, the template's own lists as
// <item>s, and a field the version does not hold left out.
func TestLaunchTemplateDataWire(t *testing.T) {
	form := "LaunchTemplateName=web&LaunchTemplateData.ImageId=ami-12345678&LaunchTemplateData.InstanceType=t3.micro" +
		"&LaunchTemplateData.SecurityGroupId.1=sg-a&LaunchTemplateData.NetworkInterface.1.DeviceIndex=0" +
		"&LaunchTemplateData.NetworkInterface.1.SubnetId=subnet-1&LaunchTemplateData.NetworkInterface.1.SecurityGroupId.1=sg-b" +
		"&LaunchTemplateData.NetworkInterface.1.AssociatePublicIpAddress=true" +
		"&LaunchTemplateData.BlockDeviceMapping.1.DeviceName=/dev/sdb&LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize=20" +
		"&LaunchTemplateData.MetadataOptions.HttpTokens=required&LaunchTemplateData.Monitoring.Enabled=false" +
		"&LaunchTemplateData.TagSpecification.1.ResourceType=instance&LaunchTemplateData.TagSpecification.1.Tag.1.Key=Name" +
		"&LaunchTemplateData.TagSpecification.1.Tag.1.Value=web&LaunchTemplateData.Placement.AvailabilityZone=us-east-1a" +
		"&TagSpecification.1.ResourceType=launch-template&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=a"
	v, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	var in createLaunchTemplateInput
	if err := awsquery.Decode(v, &in); err != nil {
		t.Fatal(err)
	}
	if err := in.LaunchTemplateData.unsupported(); err != nil {
		t.Fatal(err)
	}
	d := in.LaunchTemplateData.data()
	if d.ImageID != "ami-12345678" || len(d.NetworkInterfaces) != 1 || d.NetworkInterfaces[0].Groups[0] != "sg-b" ||
		!*d.NetworkInterfaces[0].AssociatePublicIPAddress || d.BlockDeviceMappings[0].Ebs.VolumeSize != 20 ||
		d.MetadataOptions.HttpTokens != "required" || *d.Monitoring || d.AvailabilityZone != "us-east-1a" ||
		d.TagSpecifications[0].Tags[0].Value != "web" {
		t.Fatalf("decoded %+v", d)
	}
	var b bytes.Buffer
	view := templates.VersionView{LaunchTemplateVersion: openami.LaunchTemplateVersion{TemplateID: "lt-1", Number: 1, Data: *d}, TemplateName: "web", Default: true}
	if err := encodeResponse(&b, "CreateLaunchTemplateVersionResponse", &createLaunchTemplateVersionResponse{LaunchTemplateVersion: ltVersionOf(view)}); err != nil {
		t.Fatal(err)
	}
	body := b.String()
	for _, want := range []string{
		"<groupSet><groupId>sg-b</groupId></groupSet>",
		"<securityGroupIdSet><item>sg-a</item></securityGroupIdSet>",
		"<associatePublicIpAddress>true</associatePublicIpAddress>",
		"<ebs><volumeSize>20</volumeSize></ebs>",
		"<monitoring><enabled>false</enabled></monitoring>",
		"<placement><availabilityZone>us-east-1a</availabilityZone></placement>",
		"<defaultVersion>true</defaultVersion>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("response lacks %s:\n%s", want, body)
		}
	}
	for _, absent := range []string{"<keyName>", "<userData>", "<ebsOptimized>", "<securityGroupSet>", "<deleteOnTermination>"} {
		if strings.Contains(body, absent) {
			t.Errorf("response has %s, which the version does not hold:\n%s", absent, body)
		}
	}
	if elementsNamed(t, b.Bytes(), "launchTemplateData") != 1 {
		t.Errorf("no launchTemplateData:\n%s", body)
	}

	// What openami cannot launch is refused when the template is made.
	for _, bad := range []string{"LaunchTemplateData.IamInstanceProfile.Name=web", "LaunchTemplateData.Placement.Tenancy=dedicated"} {
		v, _ := url.ParseQuery("LaunchTemplateName=web&" + bad)
		var in createLaunchTemplateInput
		if err := awsquery.Decode(v, &in); err != nil {
			t.Fatal(err)
		}
		if err := in.LaunchTemplateData.unsupported(); openami.ClassOf(err) != openami.Unsupported {
			t.Errorf("%s: %v, want Unsupported", bad, err)
		}
	}
}

// TestLaunchTemplateErrorCodes: the rules' refusals about launch
// templates get EC2's codes, and DeleteLaunchTemplateVersions' failures
// their own.
func TestLaunchTemplateErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{openami.Errorf(openami.NotFound, openami.ResourceLaunchTemplate, "x"), "InvalidLaunchTemplateId.NotFound"},
		{openami.ReasonErrorf(openami.NotFound, openami.ResourceLaunchTemplate, openami.ReasonName, "x"), "InvalidLaunchTemplateName.NotFoundException"},
		{openami.ReasonErrorf(openami.NotFound, openami.ResourceLaunchTemplate, openami.ReasonVersion, "x"), "InvalidLaunchTemplateId.VersionNotFound"},
		{openami.Errorf(openami.Duplicate, openami.ResourceLaunchTemplate, "x"), "InvalidLaunchTemplateName.AlreadyExistsException"},
		{openami.ReasonErrorf(openami.Malformed, openami.ResourceLaunchTemplate, openami.ReasonName, "x"), "InvalidLaunchTemplateName.MalformedException"},
		{openami.Errorf(openami.Malformed, openami.ResourceLaunchTemplate, "x"), "InvalidLaunchTemplateId.Malformed"},
		{openami.ReasonErrorf(openami.NotFound, "", openami.ReasonSSMParameter, "x"), "InvalidParameterValue"},
		// An image's malformed name keeps its own code.
		{openami.ReasonErrorf(openami.Malformed, openami.ResourceImage, openami.ReasonName, "x"), "InvalidAMIName.Malformed"},
	} {
		if got := toWire(c.err).Code; got != c.code {
			t.Errorf("%v: %s, want %s", c.err, got, c.code)
		}
	}
	if got := versionFailure(openami.ReasonErrorf(openami.NotFound, openami.ResourceLaunchTemplate, openami.ReasonVersion, "gone")); got.Code != "launchTemplateVersionDoesNotExist" || got.Message != "gone" {
		t.Errorf("missing version: %+v", got)
	}
	if got := versionFailure(openami.ReasonErrorf(openami.InUse, openami.ResourceLaunchTemplate, openami.ReasonDefault, "default")); got.Code != "unexpectedError" || got.Message != "default" {
		t.Errorf("default version: %+v", got)
	}
}
