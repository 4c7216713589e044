package instances

import (
	"context"
	"encoding/base64"
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
	"github.com/openami/openami/rules/templates"
)

// TestRunFromTemplate: a launch from a template takes every parameter it
// leaves out from the version it names (default when none), keeps those
// it gives, merges the tags, and tags its instances with the template's
// id and version.
func TestRunFromTemplate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := f.image(t, "app")
	yes := true
	lt, err := f.machines.templates.CreateLaunchTemplate(ctx, f.p, templates.CreateInput{LaunchTemplateName: "web",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img, InstanceType: "t3.small",
			UserData:                          base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n")),
			MetadataOptions:                   &openami.MetadataOptions{HttpTokens: "required"},
			DisableAPITermination:             &yes,
			InstanceInitiatedShutdownBehavior: "terminate",
			TagSpecifications: []openami.LaunchTemplateTagSpec{{ResourceType: openami.ResourceInstance,
				Tags: []openami.Tag{{Key: "Name", Value: "template"}, {Key: "team", Value: "a"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.machines.templates.CreateLaunchTemplateVersion(ctx, f.p, templates.VersionInput{TemplateID: lt.ID, SourceVersion: "1",
		LaunchTemplateData: &openami.LaunchTemplateData{InstanceType: "t3.large"}}); err != nil {
		t.Fatal(err)
	}

	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1,
		LaunchTemplate: &templates.Ref{Name: "web"}, InstanceTags: []openami.Tag{{Key: "Name", Value: "mine"}}})
	if err != nil {
		t.Fatal(err)
	}
	i := r.Instances[0]
	if i.ImageID != img || i.InstanceType != "t3.small" || i.MetadataOptions.HttpTokens != "required" || !i.DisableAPITermination ||
		i.InstanceInitiatedShutdownBehavior != "terminate" {
		t.Errorf("launched from the default version: %+v", i.Instance)
	}
	want := []openami.Tag{{Key: "Name", Value: "mine"}, {Key: TagTemplateID, Value: lt.ID}, {Key: TagTemplateVersion, Value: "1"}, {Key: "team", Value: "a"}}
	if !reflect.DeepEqual(i.Tags, want) {
		t.Errorf("tags %v, want %v", i.Tags, want)
	}
	got := f.instance(t, i.ID)
	d, err := f.machines.GetLaunchTemplateData(ctx, f.p, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.ImageID != img || d.InstanceType != "t3.small" || d.UserData != base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n")) ||
		len(d.BlockDeviceMappings) != 1 || d.BlockDeviceMappings[0].DeviceName != "/dev/xvda" || len(d.NetworkInterfaces) != 1 ||
		d.NetworkInterfaces[0].SubnetID != got.SubnetID || d.MetadataOptions.HttpTokens != "required" ||
		len(d.TagSpecifications) != 1 || len(d.TagSpecifications[0].Tags) != 2 {
		t.Errorf("GetLaunchTemplateData: %+v", d)
	}

	// $Latest, with the request's type over the template's.
	r, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1, InstanceType: "t3.micro",
		LaunchTemplate: &templates.Ref{ID: lt.ID, Version: "$Latest"}})
	if err != nil {
		t.Fatal(err)
	}
	if i := r.Instances[0]; i.InstanceType != "t3.micro" || tagValue(i.Tags, TagTemplateVersion) != "2" {
		t.Errorf("from $Latest with a type: %+v", i)
	}
	r, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &templates.Ref{ID: lt.ID, Version: "2"}})
	if err != nil || r.Instances[0].InstanceType != "t3.large" || !r.Instances[0].DisableAPITermination {
		t.Errorf("from version 2: %+v, %v", r, err)
	}
	// A false the request gives is the request's, over the template's true.
	r, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &templates.Ref{ID: lt.ID},
		Given: Given{DisableAPITermination: true}})
	if err != nil || r.Instances[0].DisableAPITermination {
		t.Errorf("DisableApiTermination=false over the template's true: %+v, %v", r, err)
	}
}

// TestRunFromTemplateRefused: a template or version that does not exist,
// or data a launch refuses, launches nothing.
func TestRunFromTemplateRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	lt, err := f.machines.templates.CreateLaunchTemplate(ctx, f.p, templates.CreateInput{LaunchTemplateName: "broken",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: "ami-0123456789abcdef0", InstanceType: "t3.micro"}})
	if err != nil {
		t.Fatalf("a template's image is checked only at launch: %v", err)
	}
	for _, c := range []struct {
		what     string
		ref      templates.Ref
		class    openami.Class
		resource openami.ResourceType
	}{
		{"missing image", templates.Ref{ID: lt.ID}, openami.NotFound, openami.ResourceImage},
		{"missing version", templates.Ref{ID: lt.ID, Version: "5"}, openami.NotFound, openami.ResourceLaunchTemplate},
		{"missing template", templates.Ref{Name: "nope"}, openami.NotFound, openami.ResourceLaunchTemplate},
	} {
		_, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{MinCount: 1, MaxCount: 1, LaunchTemplate: &c.ref})
		rulestest.WantClass(t, c.what, err, c.class, c.resource)
	}
	rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, nil, nil, Page{})
	if err != nil || len(rs) != 0 {
		t.Errorf("after refusals: %+v, %v", rs, err)
	}
}

func tagValue(tags []openami.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}
