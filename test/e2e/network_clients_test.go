package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/openami/openami/rules/identity"
)

// netCLIEnv is the environment of an aws CLI or boto3 run as the account,
// with nothing of the user's own configuration.
func netCLIEnv(t *testing.T, c identity.Credentials) []string {
	home := t.TempDir()
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+home+"/config", "AWS_SHARED_CREDENTIALS_FILE="+home+"/credentials",
		"HOME="+home, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
}

// runCLI runs the aws CLI against the server and returns its JSON output
// decoded, failing the test if it fails.
func runCLI(t *testing.T, s *server, c identity.Credentials, args ...string) map[string]any {
	t.Helper()
	out, err := runCLIErr(t, s, c, args...)
	if err != nil {
		t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out
}

type cliError struct{ stderr string }

func (e *cliError) Error() string { return e.stderr }

func runCLIErr(t *testing.T, s *server, c identity.Credentials, args ...string) (map[string]any, error) {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--endpoint-url", s.URL, "--output", "json"}, args...)...)
	cmd.Env = netCLIEnv(t, c)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, &cliError{stderr.String()}
	}
	out := map[string]any{}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("aws %s printed %q: %v", strings.Join(args, " "), b, err)
		}
	}
	return out, nil
}

// wantCLICode fails unless err is the CLI failing with the EC2 code.
func wantCLICode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "("+code+")") {
		t.Fatalf("want the CLI to fail with %s, got %v", code, err)
	}
}

// path walks decoded JSON by keys and list indexes.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestNetworkCLI drives VPCs, subnets and security groups with the aws
// CLI as its documentation shows: the shorthand --protocol/--port/--cidr,
// --ip-permissions, describe, revoke and delete, and its refusals.
func TestNetworkCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the aws CLI is not on the PATH; install it (apt-get install awscli) — .ci/run does")
	}
	s := start(t, "sqlite")
	c := s.account(t, "cli")

	vpc := path(runCLI(t, s, c, "ec2", "create-vpc", "--cidr-block", "10.5.0.0/16"), "Vpc", "VpcId").(string)
	sub := runCLI(t, s, c, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.5.1.0/24")
	subID := path(sub, "Subnet", "SubnetId").(string)
	if n := path(sub, "Subnet", "AvailableIpAddressCount"); n != float64(251) {
		t.Errorf("AvailableIpAddressCount %v", n)
	}
	_, err := runCLIErr(t, s, c, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.5.1.0/25")
	wantCLICode(t, err, "InvalidSubnet.Conflict")

	sg := path(runCLI(t, s, c, "ec2", "create-security-group", "--group-name", "cli", "--description", "from the CLI", "--vpc-id", vpc), "GroupId").(string)
	_, err = runCLIErr(t, s, c, "ec2", "create-security-group", "--group-name", "cli", "--description", "again", "--vpc-id", vpc)
	wantCLICode(t, err, "InvalidGroup.Duplicate")

	runCLI(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	runCLI(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "udp", "--port", "1000-2000", "--cidr", "10.0.0.0/8")
	runCLI(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--ip-permissions",
		`IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=192.0.2.0/24,Description=web}]`)
	_, err = runCLIErr(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	wantCLICode(t, err, "InvalidPermission.Duplicate")
	_, err = runCLIErr(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/40")
	wantCLICode(t, err, "InvalidParameterValue")
	_, err = runCLIErr(t, s, c, "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "70000", "--cidr", "10.0.0.0/8")
	wantCLICode(t, err, "InvalidParameterValue")

	desc := runCLI(t, s, c, "ec2", "describe-security-groups", "--group-ids", sg)
	perms := path(desc, "SecurityGroups", 0, "IpPermissions").([]any)
	if len(perms) != 3 {
		t.Fatalf("three permissions, got %v", perms)
	}
	got := map[string]bool{}
	for _, p := range perms {
		got[path(p, "IpProtocol").(string)+" "+path(p, "IpRanges", 0, "CidrIp").(string)] = true
	}
	for _, w := range []string{"tcp 0.0.0.0/0", "udp 10.0.0.0/8", "tcp 192.0.2.0/24"} {
		if !got[w] {
			t.Errorf("missing %s in %v", w, got)
		}
	}
	if d := path(desc, "SecurityGroups", 0, "IpPermissionsEgress", 0, "IpRanges", 0, "CidrIp"); d != "0.0.0.0/0" {
		t.Errorf("default egress: %v", d)
	}
	rules := runCLI(t, s, c, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+sg)
	if n := len(path(rules, "SecurityGroupRules").([]any)); n != 4 {
		t.Errorf("%d rules, want 4", n)
	}

	runCLI(t, s, c, "ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	_, err = runCLIErr(t, s, c, "ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	wantCLICode(t, err, "InvalidPermission.NotFound")
	if n := len(path(runCLI(t, s, c, "ec2", "describe-security-groups", "--group-ids", sg), "SecurityGroups", 0, "IpPermissions").([]any)); n != 2 {
		t.Errorf("after the revoke: %d permissions", n)
	}

	// In the default VPC by name, as the CLI's --group-name sends it.
	runCLI(t, s, c, "ec2", "create-security-group", "--group-name", "plain", "--description", "default VPC")
	runCLI(t, s, c, "ec2", "authorize-security-group-ingress", "--group-name", "plain", "--protocol", "tcp", "--port", "80", "--source-group", "default")
	plain := runCLI(t, s, c, "ec2", "describe-security-groups", "--group-names", "plain")
	if p := path(plain, "SecurityGroups", 0, "IpPermissions", 0, "UserIdGroupPairs", 0, "GroupId"); p == nil {
		t.Errorf("source-group rule: %v", plain)
	}
	_, err = runCLIErr(t, s, c, "ec2", "describe-security-groups", "--group-names", "nope")
	wantCLICode(t, err, "InvalidGroup.NotFound")
	runCLI(t, s, c, "ec2", "delete-security-group", "--group-name", "plain")

	_, err = runCLIErr(t, s, c, "ec2", "delete-vpc", "--vpc-id", vpc)
	wantCLICode(t, err, "DependencyViolation")
	runCLI(t, s, c, "ec2", "delete-security-group", "--group-id", sg)
	runCLI(t, s, c, "ec2", "delete-subnet", "--subnet-id", subID)
	runCLI(t, s, c, "ec2", "delete-vpc", "--vpc-id", vpc)
	_, err = runCLIErr(t, s, c, "ec2", "describe-vpcs", "--vpc-ids", vpc)
	wantCLICode(t, err, "InvalidVpcID.NotFound")
}

// TestNetworkBoto3 drives the same calls with boto3, whose serializer and
// parser are botocore's, as Python tools use them.
func TestNetworkBoto3(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "boto")
	script := `
import json, os, sys, boto3, botocore
e = boto3.client("ec2", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
out = {}
vpc = e.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "py"}]}])["Vpc"]
out["vpc_tags"] = vpc["Tags"]
sub = e.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.7.0.0/20", AvailabilityZone="us-east-1a")["Subnet"]
out["available"] = sub["AvailableIpAddressCount"]
sg = e.create_security_group(GroupName="py", Description="boto3", VpcId=vpc["VpcId"])["GroupId"]
r = e.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]},
    {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg}]}])
out["rule_ids"] = [x["SecurityGroupRuleId"][:4] for x in r["SecurityGroupRules"]]
try:
    e.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
except botocore.exceptions.ClientError as err:
    out["dup"] = err.response["Error"]["Code"]
try:
    e.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.8.0.0/24")
except botocore.exceptions.ClientError as err:
    out["range"] = err.response["Error"]["Code"]
g = e.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
out["ingress"] = sorted((p["IpProtocol"], p.get("FromPort"), [x["CidrIp"] for x in p["IpRanges"]], [x["GroupId"] for x in p["UserIdGroupPairs"]]) for p in g["IpPermissions"])
rules = e.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
out["rules"] = len(rules)
e.revoke_security_group_ingress(GroupId=sg, SecurityGroupRuleIds=[x["SecurityGroupRuleId"] for x in rules if not x["IsEgress"]])
out["after_revoke"] = len(e.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"])
e.delete_security_group(GroupId=sg)
e.delete_subnet(SubnetId=sub["SubnetId"])
e.delete_vpc(VpcId=vpc["VpcId"])
json.dump(out, sys.stdout)
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(netCLIEnv(t, c), "ENDPOINT="+s.URL)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	var out struct {
		VpcTags    []map[string]string `json:"vpc_tags"`
		Available  int
		RuleIDs    []string `json:"rule_ids"`
		Dup, Range string
		Ingress    [][]any
		Rules      int
		After      int `json:"after_revoke"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
	if len(out.VpcTags) != 1 || out.Available != 4091 || strings.Join(out.RuleIDs, ",") != "sgr-,sgr-" || out.Dup != "InvalidPermission.Duplicate" ||
		out.Range != "InvalidSubnet.Range" || len(out.Ingress) != 2 || out.Rules != 3 || out.After != 0 {
		t.Fatalf("boto3 saw %+v", out)
	}
}
