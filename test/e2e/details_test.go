package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/openami/openami/rules/identity"
)

// This file holds the end-to-end checks of the details a suite of EC2
// client tests written against AWS found (issue 18, item 3).

// boto3 runs a Python script with boto3 against the server as c; the
// script gets the endpoint in ENDPOINT (and env) and prints one JSON
// value, which boto3 decodes into out.
func boto3(t *testing.T, s *server, c identity.Credentials, script string, out any, env ...string) {
	t.Helper()
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(append(netCLIEnv(t, c), "ENDPOINT="+s.URL), env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
}

// TestKMSManagedAliasFirstReference: DescribeKey("alias/aws/ebs") before
// any EBS use answers the account's AWS managed key, made on that first
// reference, once however many clients ask at once (aws-sdk-go-v2), and
// boto3 sees it in a fresh account too.
func TestKMSManagedAliasFirstReference(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		acct := s.account(t, "managed-alias")
		c := s.kms(acct, "us-east-1")
		const n = 6
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
				errs[i] = err
				if err == nil {
					ids[i] = aws.ToString(out.KeyMetadata.KeyId)
					if out.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws || !out.KeyMetadata.Enabled {
						errs[i] = &unexpected{out.KeyMetadata}
					}
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("DescribeKey(alias/aws/ebs) #%d: %s %v, want one AWS managed key (%s)", i, ids[i], errs[i], ids[0])
			}
		}
		keys, err := c.ListKeys(ctx, &kms.ListKeysInput{})
		if err != nil || len(keys.Keys) != 1 || aws.ToString(keys.Keys[0].KeyId) != ids[0] {
			t.Fatalf("ListKeys after the first reference: %+v %v", keys, err)
		}

		var py struct {
			Manager string `json:"manager"`
			Again   bool   `json:"again"`
		}
		boto3(t, s, s.account(t, "managed-alias-py"), `
import json, os, sys, boto3
k = boto3.client("kms", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
a = k.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
b = k.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
json.dump({"manager": a["KeyManager"], "again": a["KeyId"] == b["KeyId"]}, sys.stdout)
`, &py)
		if py.Manager != "AWS" || !py.Again {
			t.Fatalf("boto3 describe_key(alias/aws/ebs): %+v", py)
		}
	})
}

// TestUntaggedResourcesHaveNoTags: boto3 sees no 'Tags' key on an
// untagged instance (RunInstances and DescribeInstances), volume or image,
// nor in CreateKeyPair's answer, as on EC2, and still sees "Tags": [] on
// an untagged key pair in DescribeKeyPairs, as EC2 answers there.
func TestUntaggedResourcesHaveNoTags(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "untagged")
	img := registerTestImage(t, s, s.ec2(c, "us-east-1"), c, "untagged")
	var out map[string]any
	boto3(t, s, c, `
import json, os, sys, boto3
e = boto3.client("ec2", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
out = {}
r = e.run_instances(ImageId=os.environ["IMAGE"], InstanceType="t3.micro", MinCount=1, MaxCount=1)
out["run"] = "Tags" in r["Instances"][0]
i = e.describe_instances(InstanceIds=[r["Instances"][0]["InstanceId"]])["Reservations"][0]["Instances"][0]
out["describe_instance"] = "Tags" in i
v = e.create_volume(AvailabilityZone="us-east-1a", Size=1)
out["create_volume"] = "Tags" in v
out["describe_volume"] = "Tags" in e.describe_volumes(VolumeIds=[v["VolumeId"]])["Volumes"][0]
out["image"] = "Tags" in e.describe_images(ImageIds=[os.environ["IMAGE"]])["Images"][0]
k = e.create_key_pair(KeyName="untagged")
out["create_key_pair"] = "Tags" in k
out["describe_key_pair"] = e.describe_key_pairs(KeyNames=["untagged"])["KeyPairs"][0].get("Tags")
t = e.create_volume(AvailabilityZone="us-east-1a", Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}])
out["tagged_volume"] = t.get("Tags")
json.dump(out, sys.stdout)
`+"\n", &out, "IMAGE="+img)
	for _, k := range []string{"run", "describe_instance", "create_volume", "describe_volume", "image", "create_key_pair"} {
		if out[k] != false {
			t.Errorf("boto3: 'Tags' in the %s answer of an untagged resource (%v), want no key", k, out[k])
		}
	}
	if kp, ok := out["describe_key_pair"].([]any); !ok || len(kp) != 0 {
		t.Errorf("boto3 describe_key_pairs Tags: %v, want []", out["describe_key_pair"])
	}
	if tv, ok := out["tagged_volume"].([]any); !ok || len(tv) != 1 {
		t.Errorf("boto3 create_volume of a tagged volume: Tags %v, want one", out["tagged_volume"])
	}
}

// TestReservationInLaunchIndexOrder: aws-sdk-go-v2 gets a reservation's
// instances by AmiLaunchIndex from RunInstances and DescribeInstances,
// whatever order their random ids have.
func TestReservationInLaunchIndexOrder(t *testing.T) {
	ctx := context.Background()
	s := start(t, "sqlite")
	c := s.account(t, "fleet")
	e := s.ec2(c, "us-east-1")
	img := registerTestImage(t, s, e, c, "fleet")
	const n = 12
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(n), MaxCount: aws.Int32(n)})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, list []types.Instance) {
		t.Helper()
		if len(list) != n {
			t.Fatalf("%s: %d instances, want %d", what, len(list), n)
		}
		for k, i := range list {
			if aws.ToInt32(i.AmiLaunchIndex) != int32(k) {
				t.Fatalf("%s: instance %d has AmiLaunchIndex %d", what, k, aws.ToInt32(i.AmiLaunchIndex))
			}
		}
	}
	check("RunInstances", run.Instances)
	for range 3 {
		d, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil || len(d.Reservations) != 1 {
			t.Fatalf("DescribeInstances: %+v %v", d, err)
		}
		check("DescribeInstances", d.Reservations[0].Instances)
	}
}

// TestInstanceTypeCatalogue: the types clients name (t2.nano, t1.micro,
// t3a.*, m6i.*, c7g.*) are described and launchable, and
// DescribeInstanceTypeOfferings lists them by region and by zone, through
// aws-sdk-go-v2's paginator and boto3.
func TestInstanceTypeCatalogue(t *testing.T) {
	ctx := context.Background()
	s := start(t, "sqlite")
	c := s.account(t, "catalogue")
	e := s.ec2(c, "us-east-1")
	its, err := e.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []types.InstanceType{"t2.nano", "t1.micro", "t3a.large", "m6i.xlarge", "c7g.large", "m3.medium"}})
	if err != nil || len(its.InstanceTypes) != 6 {
		t.Fatalf("DescribeInstanceTypes: %+v %v", its, err)
	}
	byName := map[types.InstanceType]types.InstanceTypeInfo{}
	for _, it := range its.InstanceTypes {
		byName[it.InstanceType] = it
	}
	if c7g := byName["c7g.large"]; *c7g.VCpuInfo.DefaultVCpus != 2 || *c7g.MemoryInfo.SizeInMiB != 4096 ||
		c7g.ProcessorInfo.SupportedArchitectures[0] != types.ArchitectureTypeArm64 || !*c7g.CurrentGeneration ||
		c7g.EbsInfo.EbsOptimizedSupport != types.EbsOptimizedSupportDefault || c7g.EbsInfo.NvmeSupport != types.EbsNvmeSupportRequired {
		t.Fatalf("c7g.large: %+v", c7g)
	}
	if m3 := byName["m3.medium"]; *m3.CurrentGeneration || m3.InstanceStorageInfo == nil || *m3.InstanceStorageInfo.TotalSizeInGB != 4 ||
		m3.InstanceStorageInfo.Disks[0].Type != types.DiskTypeSsd || m3.EbsInfo.EbsOptimizedSupport != types.EbsOptimizedSupportUnsupported {
		t.Fatalf("m3.medium: %+v", m3)
	}
	img := registerTestImage(t, s, e, c, "catalogue")
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: "m6i.xlarge", MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil || run.Instances[0].InstanceType != "m6i.xlarge" {
		t.Fatalf("RunInstances m6i.xlarge: %v", err)
	}

	var offered []types.InstanceTypeOffering
	pages := ec2.NewDescribeInstanceTypeOfferingsPaginator(e, &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: types.LocationTypeAvailabilityZone, MaxResults: aws.Int32(5),
		Filters: []types.Filter{{Name: aws.String("instance-type"), Values: []string{"t3a.*"}}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		offered = append(offered, page.InstanceTypeOfferings...)
	}
	zones, err := e.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(offered) != 7*len(zones.AvailabilityZones) || offered[0].LocationType != types.LocationTypeAvailabilityZone ||
		*offered[0].Location != *zones.AvailabilityZones[0].ZoneName {
		t.Fatalf("t3a offerings by zone: %d (%+v), want 7 types in %d zones", len(offered), offered[0], len(zones.AvailabilityZones))
	}
	_, err = e.DescribeInstanceTypeOfferings(ctx, &ec2.DescribeInstanceTypeOfferingsInput{LocationType: "galaxy"})
	wantCode(t, err, "InvalidParameterValue")

	var py struct {
		Region []string `json:"region"`
		ZoneID []string `json:"zone_id"`
	}
	boto3(t, s, c, `
import json, os, sys, boto3
e = boto3.client("ec2", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
r = e.describe_instance_type_offerings(Filters=[{"Name": "instance-type", "Values": ["c7g.large", "t2.nano"]}])["InstanceTypeOfferings"]
z = e.describe_instance_type_offerings(LocationType="availability-zone-id",
    Filters=[{"Name": "location", "Values": ["use1-az1"]}, {"Name": "instance-type", "Values": ["t1.micro"]}])["InstanceTypeOfferings"]
json.dump({"region": [o["InstanceType"] + "@" + o["Location"] for o in r],
           "zone_id": [o["InstanceType"] + "@" + o["Location"] + "/" + o["LocationType"] for o in z]}, sys.stdout)
`, &py)
	if strings.Join(py.Region, ",") != "c7g.large@us-east-1,t2.nano@us-east-1" || strings.Join(py.ZoneID, ",") != "t1.micro@use1-az1/availability-zone-id" {
		t.Fatalf("boto3 describe_instance_type_offerings: %+v", py)
	}
}

type unexpected struct{ v any }

func (u *unexpected) Error() string { b, _ := json.Marshal(u.v); return "unexpected " + string(b) }
