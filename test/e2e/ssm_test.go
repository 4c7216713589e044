package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/openami/openami"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/parameters"
)

// ssmClient returns an SSM client for the credentials in the region.
func (s *server) ssm(c identity.Credentials, region string) *ssm.Client {
	return ssm.NewFromConfig(s.awsConfig(c, region))
}

// debianLatest is the public parameter the operator publishes.
const debianLatest = "/aws/service/debian/release/12/latest/amd64"

// publishLatest registers two public images of the administrator's named
// debian-12-amd64-*, publishes them under the owner alias amazon, and
// publishes the newer one's id as debianLatest, as an operator does
// (openami image alias, openami parameter publish). It returns the
// newer image's id.
func publishLatest(t *testing.T, s *server) string {
	t.Helper()
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")
	snap := newSnapshot(t, s, s.admin)
	var id string
	for _, name := range []string{"debian-12-amd64-20260101", "debian-12-amd64-20260201"} {
		reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name), Architecture: types.ArchitectureValuesX8664,
			RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: aws.String("hvm"), BlockDeviceMappings: rootMapping(snap)})
		if err != nil {
			t.Fatal(err)
		}
		id = aws.ToString(reg.ImageId)
		if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.svc.Images().SetImageOwnerAlias(ctx, "us-east-1", id, "amazon"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.svc.Parameters().Publish(ctx, parameters.PublishInput{Region: "us-east-1", Name: debianLatest, Value: id,
		DataType: openami.DataTypeEC2Image}); err != nil {
		t.Fatal(err)
	}
	return id
}

// ssmCode returns the SSM error code of an SDK error.
func ssmCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSSMParameters drives the Parameter Store with aws-sdk-go-v2 on each
// store: an account's parameters, versions and selectors, paths, SSM's
// refusals (which change nothing), the operator's public parameter read
// by another account, and RunInstances with resolve:ssm:.
func TestSSMParameters(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		latest := publishLatest(t, s)
		user := s.account(t, "ssm-user")
		c := s.ssm(user, "us-east-1")

		put := func(in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) { return c.PutParameter(ctx, in) }
		if out, err := put(&ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String("db1"), Type: ssmtypes.ParameterTypeString,
			Description: aws.String("database host"), Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("infra")}}}); err != nil || out.Version != 1 || out.Tier != ssmtypes.ParameterTierStandard {
			t.Fatalf("PutParameter = %+v, %v", out, err)
		}
		_, err := put(&ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String("db2"), Type: ssmtypes.ParameterTypeString})
		var exists *ssmtypes.ParameterAlreadyExists
		if !errors.As(err, &exists) {
			t.Fatalf("PutParameter again: %v, want ParameterAlreadyExists", err)
		}
		if out, err := put(&ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String("db2"), Overwrite: aws.Bool(true)}); err != nil || out.Version != 2 {
			t.Fatalf("overwrite = %+v, %v", out, err)
		}
		if _, err := put(&ssm.PutParameterInput{Name: aws.String("/app/db/ports"), Value: aws.String("5432,5433"), Type: ssmtypes.ParameterTypeStringList}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/host")})
		if err != nil || aws.ToString(got.Parameter.Value) != "db2" || got.Parameter.Version != 2 || got.Parameter.Type != ssmtypes.ParameterTypeString ||
			aws.ToString(got.Parameter.DataType) != "text" || got.Parameter.LastModifiedDate == nil ||
			aws.ToString(got.Parameter.ARN) != "arn:aws:ssm:us-east-1:"+user.AccountID+":parameter/app/db/host" {
			t.Fatalf("GetParameter = %+v, %v", got.Parameter, err)
		}
		old, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/host:1")})
		if err != nil || aws.ToString(old.Parameter.Value) != "db1" || aws.ToString(old.Parameter.Selector) != ":1" {
			t.Fatalf("GetParameter :1 = %+v, %v", old.Parameter, err)
		}
		_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/host:7")})
		var noVersion *ssmtypes.ParameterVersionNotFound
		if !errors.As(err, &noVersion) {
			t.Errorf("GetParameter :7: %v, want ParameterVersionNotFound", err)
		}
		_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/none")})
		var notFound *ssmtypes.ParameterNotFound
		if !errors.As(err, &notFound) {
			t.Errorf("GetParameter /app/none: %v, want ParameterNotFound", err)
		}
		many, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/app/db/host", "/app/none", debianLatest}})
		if err != nil || len(many.Parameters) != 2 || !slices.Equal(many.InvalidParameters, []string{"/app/none"}) {
			t.Errorf("GetParameters = %+v, %v", many, err)
		}
		var names []string
		pages := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true), MaxResults: aws.Int32(1)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Parameters {
				names = append(names, aws.ToString(p.Name))
			}
		}
		if !slices.Equal(names, []string{"/app/db/host", "/app/db/ports"}) {
			t.Errorf("GetParametersByPath /app recursive = %q", names)
		}
		if flat, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app")}); err != nil || len(flat.Parameters) != 0 {
			t.Errorf("GetParametersByPath /app one level = %+v, %v; want none", flat, err)
		}
		desc, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
			{Key: aws.String("Type"), Values: []string{"StringList"}}}})
		if err != nil || len(desc.Parameters) != 1 || aws.ToString(desc.Parameters[0].Name) != "/app/db/ports" {
			t.Errorf("DescribeParameters Type=StringList = %+v, %v", desc, err)
		}
		hist, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/db/host")})
		if err != nil || len(hist.Parameters) != 2 || aws.ToString(hist.Parameters[0].Value) != "db1" || aws.ToString(hist.Parameters[1].Description) != "database host" {
			t.Errorf("GetParameterHistory = %+v, %v", hist, err)
		}

		// Refusals change nothing.
		for what, c2 := range map[string]struct {
			in   *ssm.PutParameterInput
			code string
		}{
			"no such image":  {&ssm.PutParameterInput{Name: aws.String("/img"), Value: aws.String("ami-0123456789abcdef0"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")}, "ValidationException"},
			"reserved":       {&ssm.PutParameterInput{Name: aws.String(debianLatest), Value: aws.String(latest), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}, "AccessDeniedException"},
			"16 levels":      {&ssm.PutParameterInput{Name: aws.String(strings.Repeat("/a", 16)), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString}, "HierarchyLevelLimitExceededException"},
			"secure":         {&ssm.PutParameterInput{Name: aws.String("/secret"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString}, "UnsupportedParameterType"},
			"pattern":        {&ssm.PutParameterInput{Name: aws.String("/pat"), Value: aws.String("ABC"), Type: ssmtypes.ParameterTypeString, AllowedPattern: aws.String("^[a-z]+$")}, "ParameterPatternMismatchException"},
			"value too long": {&ssm.PutParameterInput{Name: aws.String("/long"), Value: aws.String(strings.Repeat("x", 4097)), Type: ssmtypes.ParameterTypeString}, "ValidationException"},
		} {
			if _, err := put(c2.in); ssmCode(err) != c2.code {
				t.Errorf("%s: %v, want %s", what, err, c2.code)
			}
		}
		if all, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{}); err != nil || len(all.Parameters) != 2 {
			t.Errorf("after refusals, DescribeParameters = %+v, %v; want the two parameters", all, err)
		}
		// An image the account may launch is a valid aws:ec2:image value.
		if _, err := put(&ssm.PutParameterInput{Name: aws.String("/my/ami"), Value: aws.String(latest), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")}); err != nil {
			t.Errorf("aws:ec2:image of a public image: %v", err)
		}

		// The operator's public parameter, and a launch through it.
		pub, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(debianLatest)})
		if err != nil || aws.ToString(pub.Parameter.Value) != latest || aws.ToString(pub.Parameter.DataType) != "aws:ec2:image" ||
			aws.ToString(pub.Parameter.ARN) != "arn:aws:ssm:us-east-1::parameter"+debianLatest {
			t.Fatalf("public GetParameter = %+v, %v", pub, err)
		}
		e := s.ec2(user, "us-east-1")
		for _, ref := range []string{"resolve:ssm:" + debianLatest, "resolve:ssm:/my/ami:1"} {
			run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ref), InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			if err != nil || len(run.Instances) != 1 || aws.ToString(run.Instances[0].ImageId) != latest {
				t.Fatalf("RunInstances %s: %+v, %v; want an instance of %s", ref, run, err, latest)
			}
		}
		// A launch template that names the public parameter launches its image.
		lt, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("latest-debian"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("resolve:ssm:" + debianLatest), InstanceType: types.InstanceTypeT3Micro}})
		if err != nil {
			t.Fatalf("CreateLaunchTemplate with resolve:ssm: %v", err)
		}
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId},
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil || len(run.Instances) != 1 || aws.ToString(run.Instances[0].ImageId) != latest {
			t.Fatalf("RunInstances from the template: %+v, %v; want an instance of %s", run, err, latest)
		}
		_, err = e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("none"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("resolve:ssm:/app/none")}})
		if ssmCode(err) != "InvalidParameterValue" {
			t.Errorf("CreateLaunchTemplate with a missing parameter: %v, want InvalidParameterValue", err)
		}
		_, err = e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("resolve:ssm:/app/none"), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if ssmCode(err) != "InvalidParameterValue" {
			t.Errorf("RunInstances with a missing parameter: %v, want InvalidParameterValue", err)
		}

		// Labels select versions; tags stay with the parameter.
		if lab, err := c.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String("/app/db/host"), ParameterVersion: aws.Int64(1),
			Labels: []string{"stable", "9bad"}}); err != nil || lab.ParameterVersion != 1 || !slices.Equal(lab.InvalidLabels, []string{"9bad"}) {
			t.Errorf("LabelParameterVersion = %+v, %v", lab, err)
		}
		if got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/host:stable")}); err != nil || aws.ToString(got.Parameter.Value) != "db1" {
			t.Errorf("GetParameter :stable = %+v, %v", got, err)
		}
		if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter,
			ResourceId: aws.String("/app/db/host"), Tags: []ssmtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
			t.Fatal(err)
		}
		tags, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/db/host")})
		if err != nil || len(tags.TagList) != 2 || aws.ToString(tags.TagList[0].Key) != "env" || aws.ToString(tags.TagList[1].Key) != "team" {
			t.Errorf("ListTagsForResource = %+v, %v", tags, err)
		}
		if _, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/none")}); ssmCode(err) != "InvalidResourceId" {
			t.Errorf("ListTagsForResource /app/none: %v, want InvalidResourceId", err)
		}

		if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/db/host")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/db/host")}); !errors.As(err, &notFound) {
			t.Errorf("DeleteParameter again: %v, want ParameterNotFound", err)
		}
		del, err := c.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: []string{"/app/db/ports", "/app/none"}})
		if err != nil || !slices.Equal(del.DeletedParameters, []string{"/app/db/ports"}) || !slices.Equal(del.InvalidParameters, []string{"/app/none"}) {
			t.Errorf("DeleteParameters = %+v, %v", del, err)
		}

		// Overwrites at once each make a version of their own.
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = put(&ssm.PutParameterInput{Name: aws.String("/conc"), Value: aws.String(strconv.Itoa(i)), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/conc")}); err != nil || len(h.Parameters) != n || h.Parameters[n-1].Version != n {
			t.Errorf("history of /conc: %+v, %v; want %d versions", h, err, n)
		}
	})
}

// TestSSMClients: the aws CLI and boto3 write and read parameters, read
// the operator's public one by path, and the aws CLI launches through
// resolve:ssm:, as a second account.
func TestSSMClients(t *testing.T) {
	for _, tool := range []string{"aws", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on the PATH", tool)
		}
	}
	s := start(t, "sqlite")
	latest := publishLatest(t, s)
	user := s.account(t, "ssm-cli")

	out := runCLI(t, s, user, "ssm", "put-parameter", "--name", "/cli/a/b", "--value", "one", "--type", "String")
	if v, _ := out["Version"].(float64); v != 1 {
		t.Errorf("put-parameter: %v", out)
	}
	runCLI(t, s, user, "ssm", "put-parameter", "--name", "/cli/a/b", "--value", "two", "--overwrite")
	_, err := runCLIErr(t, s, user, "ssm", "put-parameter", "--name", "/cli/a/b", "--value", "three", "--type", "String")
	wantCLICode(t, err, "ParameterAlreadyExists")
	out = runCLI(t, s, user, "ssm", "get-parameter", "--name", "/cli/a/b")
	if p, _ := out["Parameter"].(map[string]any); p["Value"] != "two" || p["Version"] != float64(2) {
		t.Errorf("get-parameter: %v", out)
	}
	_, err = runCLIErr(t, s, user, "ssm", "get-parameter", "--name", "/cli/none")
	wantCLICode(t, err, "ParameterNotFound")
	out = runCLI(t, s, user, "ssm", "get-parameters-by-path", "--path", "/aws/service/debian", "--recursive")
	if ps, _ := out["Parameters"].([]any); len(ps) != 1 || ps[0].(map[string]any)["Value"] != latest {
		t.Errorf("get-parameters-by-path --recursive: %v", out)
	}
	out = runCLI(t, s, user, "ec2", "run-instances", "--image-id", "resolve:ssm:"+debianLatest, "--instance-type", "t3.micro", "--count", "1")
	if is, _ := out["Instances"].([]any); len(is) != 1 || is[0].(map[string]any)["ImageId"] != latest {
		t.Errorf("run-instances --image-id resolve:ssm:: %v", out)
	}

	var got struct {
		Value string   `json:"value"`
		Names []string `json:"names"`
		Error string   `json:"error"`
	}
	boto3(t, s, user, `
import json, os, boto3
c = boto3.client("ssm", endpoint_url=os.environ["ENDPOINT"])
c.put_parameter(Name="/py/x", Value="a,b", Type="StringList", Description="from boto3")
names = []
for page in c.get_paginator("get_parameters_by_path").paginate(Path="/", Recursive=True, PaginationConfig={"PageSize": 1}):
    names += [p["Name"] for p in page["Parameters"]]
err = ""
try:
    c.delete_parameter(Name="/py/none")
except c.exceptions.ParameterNotFound as e:
    err = e.response["Error"]["Code"]
print(json.dumps({"value": c.get_parameter(Name="/py/x")["Parameter"]["Value"], "names": names, "error": err}))
`, &got)
	if got.Value != "a,b" || !slices.Equal(got.Names, []string{"/cli/a/b", "/py/x"}) || got.Error != "ParameterNotFound" {
		t.Errorf("boto3: %+v", got)
	}
}

// TestTerraformSSM: Terraform's aws_ssm_parameter data source reads the
// operator's public parameter, and aws_ami with owners = ["amazon"] and
// most_recent finds the image it names, as another account.
func TestTerraformSSM(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	latest := publishLatest(t, s)
	user := s.account(t, "ssm-tf")
	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "ssm", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	x.vars(map[string]any{"endpoint": s.URL, "access_key": user.AccessKeyID, "secret_key": user.SecretAccessKey,
		"parameter": debianLatest, "owner": "amazon", "name_prefix": "debian-12-amd64-"})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()
	for name, want := range map[string]string{
		"parameter_value": latest, "parameter_type": "String", "parameter_version": "1",
		"parameter_arn": "arn:aws:ssm:us-east-1::parameter" + debianLatest, "ami_id": latest, "ami_owner_alias": "amazon",
	} {
		if got := str(t, outs, name); got != want {
			t.Errorf("terraform output %s = %q, want %q", name, got, want)
		}
	}
	// Its own parameter, as openami has it.
	c := s.ssm(user, "us-east-1")
	mine, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/app/ami")})
	if err != nil || aws.ToString(mine.Parameter.Value) != latest || aws.ToString(mine.Parameter.DataType) != "aws:ec2:image" ||
		str(t, outs, "mine_version") != "1" || str(t, outs, "mine_arn") != aws.ToString(mine.Parameter.ARN) {
		t.Errorf("aws_ssm_parameter: %+v, %v; terraform's version %s arn %s", mine, err, str(t, outs, "mine_version"), str(t, outs, "mine_arn"))
	}
	tags, err := c.ListTagsForResource(context.Background(), &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami")})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "team" {
		t.Errorf("tags of /app/ami: %+v, %v", tags, err)
	}
	x.noDrift()
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	if _, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/app/ami")}); ssmCode(err) != "ParameterNotFound" {
		t.Errorf("after destroy: %v, want ParameterNotFound", err)
	}
}

// TestBinaryParameterPublish: `openami parameter publish` beside a
// running server writes a public parameter that an account reads through
// the server; refusals (a private path, an image that does not exist)
// fail the command and publish nothing; unpublish removes it.
func TestBinaryParameterPublish(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	endpoint, _ := serveBinary(t, "--data-dir", dataDir, "--regions", "us-east-1")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), append(args, "--data-dir", dataDir, "--regions", "us-east-1")...).CombinedOutput()
		return string(out), err
	}
	out, err := run("account", "create", "--name", "reader")
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	var c struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("account create printed %q: %v", out, err)
	}
	s := &server{URL: endpoint}
	reader := s.ssm(identity.Credentials{AccountID: c.AccountId, AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey}, "us-east-1")
	const name = "/openami/service/motd"
	for _, args := range [][]string{
		{"parameter", "publish", "/private/motd", "hello"},
		{"parameter", "publish", name, "ami-0123456789abcdef0", "--data-type", "aws:ec2:image"},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("%v succeeded:\n%s", args, out)
		}
	}
	if _, err := reader.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)}); ssmCode(err) != "ParameterNotFound" {
		t.Fatalf("after refusals: %v, want ParameterNotFound", err)
	}
	if out, err := run("parameter", "publish", name, "hello", "--description", "greeting"); err != nil || !strings.Contains(out, `"Version": 1`) {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	got, err := reader.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil || aws.ToString(got.Parameter.Value) != "hello" || aws.ToString(got.Parameter.ARN) != "arn:aws:ssm:us-east-1::parameter"+name {
		t.Fatalf("GetParameter = %+v, %v", got, err)
	}
	if out, err := run("parameter", "unpublish", name); err != nil {
		t.Fatalf("unpublish: %v\n%s", err, out)
	}
	if _, err := reader.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)}); ssmCode(err) != "ParameterNotFound" {
		t.Errorf("after unpublish: %v, want ParameterNotFound", err)
	}
}
