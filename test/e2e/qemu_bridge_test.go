package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/rules/identity"
)

// bridgeNetnsEnv carries, to the test re-executed in a network namespace
// of its own, the openami binary and the test image its parent built
// (the namespace has no network to build them with).
const bridgeNetnsEnv = "OPENAMI_E2E_BRIDGE_NETNS"

// TestQemuBridgeNetwork runs `openami serve --runtime qemu --network
// bridge` as root inside a fresh network namespace, with two instances
// of the test image in one VPC across two subnets: each gets its private
// address by DHCP and reads its own metadata; A reaches B's port that
// B's group allows from A's group by private address, not a port no rule
// allows, and no longer once the rule is revoked; B's public address
// reaches it from the namespace's host side. Meanwhile two accounts'
// default-VPC instances run at the same private address in
// 172.31.0.0/16, each with its own lease and metadata, each public
// address reaching its own. The host's links and ruleset are the same
// before and after.
func TestQemuBridgeNetwork(t *testing.T) {
	if env := os.Getenv(bridgeNetnsEnv); env != "" {
		bin, img, _ := strings.Cut(env, "\n")
		bridgeNetworkInNetns(t, bin, img)
		return
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the bridge network needs root (CAP_NET_ADMIN)")
	}
	for _, tool := range []string{"unshare", "nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian: util-linux, nftables, iproute2; .ci/run installs them): %v", tool, err)
		}
	}
	img := testenv.TestImage(t)
	bin := binary(t)
	before := hostNetState(t)
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run", "^TestQemuBridgeNetwork$", "-test.v", "-test.count=1", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), bridgeNetnsEnv+"="+bin+"\n"+img)
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace:\n%s", out)
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestQemuBridgeNetwork")) {
		t.Errorf("the test in its network namespace failed: %v", err)
	}
	if after := hostNetState(t); after != before {
		t.Errorf("the host's links or ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// hostNetState is the host's links and nftables ruleset, as text.
func hostNetState(t *testing.T) string {
	t.Helper()
	links, err := exec.Command("ip", "-j", "link").Output()
	if err != nil {
		t.Fatalf("ip -j link: %v", err)
	}
	rules, err := exec.Command("nft", "list", "ruleset").Output()
	if err != nil {
		t.Fatalf("nft list ruleset: %v", err)
	}
	return string(links) + "\n" + string(rules)
}

func bridgeNetworkInNetns(t *testing.T, bin, img string) {
	ctx := context.Background()
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v %s", err, out)
	}
	buildOnce.Do(func() { binPath = bin }) // the parent's binary
	dataDir, err := os.MkdirTemp("", "oqb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir, "--network", "bridge", "--public-ips", "198.51.100.0/24")
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")

	snap := uploadImage(t, s, creds, img)
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := vpc.Vpc.VpcId
	subnet := func(cidr string) *string {
		out, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(cidr)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Subnet.SubnetId
	}
	subnetA, subnetB := subnet("10.20.1.0/24"), subnet("10.20.2.0/24")
	group := func(name string) *string {
		out, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: vpcID, GroupName: aws.String(name), Description: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return out.GroupId
	}
	sgA, sgB := group("a"), group("b")
	fromA := []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: sgA}}}}
	if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sgB, IpPermissions: fromA}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sgB, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(9090), ToPort: aws.Int32(9090), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}

	run := func(subnet, sg *string, userData string) types.Instance {
		out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT2Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: subnet, SecurityGroupIds: []string{*sg},
			UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
		if err != nil {
			t.Fatal(err)
		}
		return out.Instances[0]
	}
	// B serves a page on three ports; A probes two of them on B's private
	// address, round after round, and says what it got.
	b := run(subnetB, sgB, "#!/bin/sh\nmkdir -p /run/www\necho served-by-b > /run/www/index.html\n"+
		"for p in 8080 8081 9090; do httpd -p $p -h /run/www; done\n")
	bPrivate := aws.ToString(b.PrivateIpAddress)
	a := run(subnetA, sgA, fmt.Sprintf("#!/bin/sh\n(n=0; while [ $n -lt 1000 ]; do n=$((n+1)); "+
		"for p in 8080 8081; do if r=$(timeout 3 wget -q -O - http://%s:$p/ 2>/dev/null); then echo \"probe $n $p $r\"; else echo \"probe $n $p failed\"; fi; done; "+
		"sleep 1; done) &\n", bPrivate))
	aID, bID := *a.InstanceId, *b.InstanceId

	// Two accounts' default VPCs, both 172.31.0.0/16, each with an
	// instance in its first default subnet (at the same address), at
	// the same time as A and B: each serves its account's name on 8080,
	// which each account's default group allows from anywhere.
	out, err := exec.Command(bin, "account", "create", "--data-dir", dataDir, "--name", "second").Output()
	if err != nil {
		t.Fatalf("account create: %v", err)
	}
	var second struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal(out, &second); err != nil {
		t.Fatalf("account create printed %q: %v", out, err)
	}
	e2 := s.ec2(identity.Credentials{AccountID: second.AccountId, AccessKeyID: second.AccessKeyId, SecretAccessKey: second.SecretAccessKey}, "us-east-1")
	if _, err := e.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(second.AccountId)}}}}); err != nil {
		t.Fatal(err)
	}
	defaults := map[string]types.Instance{} // by the name it serves
	for name, client := range map[string]*ec2.Client{"first": e, "second": e2} {
		groups, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}})
		if err != nil || len(groups.SecurityGroups) != 1 {
			t.Fatalf("the %s account's default group: %v", name, err)
		}
		if _, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: groups.SecurityGroups[0].GroupId,
			IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
				IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
			t.Fatal(err)
		}
		run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT2Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\nmkdir -p /run/www\necho served-by-" + name +
				" > /run/www/index.html\nhttpd -p 8080 -h /run/www\n")))})
		if err != nil {
			t.Fatalf("the %s account's default-VPC instance: %v", name, err)
		}
		defaults[name] = run.Instances[0]
	}
	if p1, p2 := aws.ToString(defaults["first"].PrivateIpAddress), aws.ToString(defaults["second"].PrivateIpAddress); p1 != p2 {
		t.Fatalf("the two default-VPC instances have private addresses %s and %s; want the same one", p1, p2)
	}

	for _, inst := range []types.Instance{a, b} {
		id := *inst.InstanceId
		text := waitConsole(t, e, q, id, "openami-testimage: init done", 1)
		for _, want := range []string{
			"openami-testimage: ip eth0 " + aws.ToString(inst.PrivateIpAddress) + "/24",
			"openami-testimage: imds v2",
			"openami-testimage: instance-id " + id,
		} {
			if !strings.Contains(text, want) {
				t.Fatalf("%s's console lacks %q:\n%s", id, want, text)
			}
		}
	}

	// A reaches B's 8080 (allowed from A's group), never its 8081.
	text := waitConsole(t, e, q, aID, "8080 served-by-b", 1)
	first := probeRound(text, "8080 served-by-b")
	// Two more rounds, so that 8081 was tried while 8080 answered.
	text = waitConsole(t, e, q, aID, fmt.Sprintf("probe %d 8081", first+2), 1)
	if m := regexp.MustCompile(`probe \d+ 8081 served`).FindString(text); m != "" {
		t.Fatalf("A reached B's port 8081, which no rule allows (%q):\n%s", m, text)
	}

	// B's public address, from the namespace's host side: 9090 is
	// allowed from anywhere, 8081 from nowhere.
	bPublic := aws.ToString(describeOne(t, e, bID).PublicIpAddress)
	get := func(port int) (string, error) { return httpGet(fmt.Sprintf("http://%s:%d/", bPublic, port)) }
	if body, err := get(9090); err != nil || body != "served-by-b\n" {
		t.Fatalf("B's public address %s:9090: %q, %v", bPublic, body, err)
	}
	if body, err := get(8081); err == nil {
		t.Fatalf("B's public address %s:8081, which no rule allows, answered %q", bPublic, body)
	}

	// Both default-VPC instances run, each with its own lease and
	// metadata, and each public address reaches its own.
	for name, client := range map[string]*ec2.Client{"first": e, "second": e2} {
		inst := defaults[name]
		id := aws.ToString(inst.InstanceId)
		text := waitConsole(t, client, q, id, "openami-testimage: init done", 1)
		for _, want := range []string{
			"openami-testimage: ip eth0 " + aws.ToString(inst.PrivateIpAddress) + "/20",
			"openami-testimage: instance-id " + id,
		} {
			if !strings.Contains(text, want) {
				t.Fatalf("the %s account's %s: its console lacks %q:\n%s", name, id, want, text)
			}
		}
		public := aws.ToString(describeOne(t, client, id).PublicIpAddress)
		deadline := time.Now().Add(guestTimeout)
		for {
			body, err := httpGet(fmt.Sprintf("http://%s:8080/", public))
			if err == nil && body == "served-by-"+name+"\n" {
				break
			}
			if err == nil || time.Now().After(deadline) {
				t.Fatalf("the %s account's default-VPC instance's public address %s:8080: %q, %v", name, public, body, err)
			}
			time.Sleep(time.Second)
		}
	}

	// The rule is revoked: A's connections to 8080 fail from then on.
	if _, err := e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sgB, IpPermissions: fromA}); err != nil {
		t.Fatal(err)
	}
	revokedAt := lastProbeRound(console(t, e, aID))
	deadline := time.Now().Add(guestTimeout)
	for {
		text := console(t, e, aID)
		// The refresh is a couple of seconds: three rounds after the
		// revoke, the rule is gone; the next three must all fail.
		var results []string
		for n := revokedAt + 3; n < revokedAt+6; n++ {
			if m := regexp.MustCompile(fmt.Sprintf(`probe %d 8080 (\S+)`, n)).FindStringSubmatch(text); m != nil {
				results = append(results, m[1])
			}
		}
		if len(results) == 3 {
			for _, r := range results {
				if r != "failed" {
					t.Fatalf("A still reaches B's 8080 after the rule was revoked (rounds %d-%d: %v):\n%s", revokedAt+3, revokedAt+5, results, text)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's probes did not go on after the revoke:\n%s", text)
		}
		time.Sleep(time.Second)
	}

	// Terminated, and openami stopped: nothing of the network is left.
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aID, bID, *defaults["first"].InstanceId}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*defaults["second"].InstanceId}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, aID, types.InstanceStateNameTerminated)
	waitInstance(t, e, bID, types.InstanceStateNameTerminated)
	waitInstance(t, e, *defaults["first"].InstanceId, types.InstanceStateNameTerminated)
	waitInstance(t, e2, *defaults["second"].InstanceId, types.InstanceStateNameTerminated)
	q.cmd.Process.Signal(os.Interrupt)
	select {
	case <-q.exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("openami did not exit on SIGINT")
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	if m := regexp.MustCompile(`\d+: (oa[btv][0-9a-f]{12})`).FindSubmatch(links); m != nil {
		t.Errorf("link %s is left after openami exited:\n%s", m[1], links)
	}
	if tables, _ := exec.Command("nft", "list", "tables").Output(); bytes.Contains(tables, []byte("openami")) {
		t.Errorf("openami's tables are left after it exited:\n%s", tables)
	}
}

// httpGet returns the body of a GET, within 5 s.
func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// probeRound returns the round of the first probe line that ends in
// what, or 0.
func probeRound(text, what string) int {
	m := regexp.MustCompile(`probe (\d+) ` + regexp.QuoteMeta(what)).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// lastProbeRound returns the round of the last probe line.
func lastProbeRound(text string) int {
	all := regexp.MustCompile(`probe (\d+) `).FindAllStringSubmatch(text, -1)
	if len(all) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(all[len(all)-1][1])
	return n
}
