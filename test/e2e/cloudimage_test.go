package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/rules/identity"
)

// cloudBootTimeout bounds the wait for the cloud image's first boot:
// about 70 s under TCG on a quiet machine, far longer on a shared one.
// Never asserted on.
const cloudBootTimeout = 12 * time.Minute

// TestQemuCloudImage makes the Debian 12 cloud image (scripts/cloudimage,
// docs/CLOUDIMAGE.md) an AMI the way the README tells a user to
// (scripts/cloudimage/register.py: boto3, the EBS direct API, then
// RegisterImage), and boots it under `openami serve --runtime qemu` with
// a key pair, cloud-config user data and IMDSv2 required. The image names
// no datasource: cloud-init must find its Ec2 datasource from the SMBIOS
// fields openami gives the VM (and ask for IMDSv2 tokens, which it does
// only once it knows it is on AWS). Read through the aws CLI's
// get-console-output, the console must show cloud-init's final message
// naming the Ec2 datasource, the user data's line, the launch key
// installed for admin (its fingerprint), the SSH host key fingerprints,
// and what the user data's script saw in the guest: the SMBIOS fields
// and its network interface's metadata, the same as DescribeInstances,
// DescribeSubnets and DescribeVpcs say. Then SSH, with the real OpenSSH
// client: port 22 authorized on the instance's group with the aws CLI,
// the host keys checked against the fingerprints cloud-init printed, a
// login as admin with the launch key at the instance's PublicIpAddress;
// in the guest, `hostname -I` is the PrivateIpAddress, curl with an
// IMDSv2 token reads local-ipv4 and public-ipv4 as DescribeInstances
// says them, `sudo -n true` works and the user data's file is there;
// once the rule is revoked a new connection fails. Then terminate: no
// QEMU is left.
func TestQemuCloudImage(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	for _, tool := range []string{"aws", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on the PATH (.ci/run installs it)", tool)
		}
	}
	img := testenv.CloudImage(t)
	ctx := context.Background()
	// A short data dir: the VMs' unix sockets live under it.
	dataDir, err := os.MkdirTemp("", "oqc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	// A pool of the test's own, and its first address's port 22 free for
	// this user to listen on (what the SSH login below needs).
	pool := ownPool(79)
	checkPort22(t, pool.Addr().Next())
	q := startQemuServer(t, dataDir, "--public-ips", pool.String())
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")
	cli := awsCLI{t: t, env: cliEnv(t, creds, "us-east-1", q.url)}

	cmd := exec.Command("python3", filepath.Join(repoRoot(t), "scripts", "cloudimage", "register.py"), "--name", "debian-12-cloud", img)
	cmd.Env = cli.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("register.py: %v\n%s", err, stderrOf(err))
	}
	ami := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^ami-[0-9a-f]{17}$`).MatchString(ami) {
		t.Fatalf("register.py printed %q, not an image id", out)
	}

	key, err := e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("cloud-key"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	// The private key, for the SSH login (ssh -i keyPath admin@PUBLIC_IP).
	// KeyMaterial ends with the END line, as AWS's does, and OpenSSH
	// refuses a key file without a newline there ("error in libcrypto"):
	// the file gets one, as `--query KeyMaterial --output text > key.pem`
	// gives it.
	keyPath := filepath.Join(t.TempDir(), "cloud-key.pem")
	if err := os.WriteFile(keyPath, []byte(*key.KeyMaterial+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := e.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"cloud-key"}, IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	// cloud-init prints the installed key's SHA-256 as colon-separated
	// hex pairs (cc_ssh_authkey_fingerprints).
	pub := strings.Fields(*keys.KeyPairs[0].PublicKey)
	blob, err := base64.StdEncoding.DecodeString(pub[1])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	var pairs []string
	for _, b := range sum {
		pairs = append(pairs, hex.EncodeToString([]byte{b}))
	}
	keyFingerprint := strings.Join(pairs, ":")

	tokenBytes := make([]byte, 6)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	// The user data writes a marker file and prints it from runcmd; its
	// report script prints what the guest sees of itself: the SMBIOS
	// fields (/sys/class/dmi/id) and its network as the metadata service
	// tells it (IMDSv2).
	report := `#!/bin/sh
say() { echo "openami-e2e: $*" > /dev/console; }
say "user-data ran $(cat /var/lib/openami-e2e/marker)"
for f in sys_vendor product_name product_serial product_uuid board_asset_tag; do
  say "dmi $f $(cat /sys/class/dmi/id/$f)"
done
python3 - > /dev/console <<'PY'
import urllib.request
base = "http://169.254.169.254/latest/"
tok = urllib.request.urlopen(urllib.request.Request(base + "api/token", method="PUT",
    headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})).read().decode()
def get(path):
    req = urllib.request.Request(base + path, headers={"X-aws-ec2-metadata-token": tok})
    return urllib.request.urlopen(req).read().decode().replace("\n", ",")
mac = get("meta-data/mac")
for leaf in ["local-ipv4s", "subnet-id", "subnet-ipv4-cidr-block", "vpc-id", "vpc-ipv4-cidr-block",
             "security-group-ids", "security-groups"]:
    print("openami-e2e: imds " + leaf + " " + get("meta-data/network/interfaces/macs/" + mac + "/" + leaf))
PY
`
	userData := "#cloud-config\nwrite_files:\n" +
		"  - path: /var/lib/openami-e2e/marker\n    content: \"openami-e2e " + token + "\\n\"\n" +
		"  - path: /usr/local/sbin/openami-e2e-report\n    permissions: '0755'\n    content: |\n" +
		"      " + strings.ReplaceAll(strings.TrimSuffix(report, "\n"), "\n", "\n      ") + "\n" +
		"runcmd:\n  - [ /usr/local/sbin/openami-e2e-report ]\n"
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("cloud-key"),
		UserData:        aws.String(base64.StdEncoding.EncodeToString([]byte(userData))),
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired}})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	t.Cleanup(func() {
		e.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	})

	inst, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	i := inst.Reservations[0].Instances[0]
	subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{*i.SubnetId}})
	if err != nil {
		t.Fatal(err)
	}
	vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{*i.VpcId}})
	if err != nil {
		t.Fatal(err)
	}
	line := func(s string) *regexp.Regexp {
		return regexp.MustCompile(regexp.QuoteMeta("openami-e2e: "+s) + `\r?\n`)
	}

	// What the console must show, each seen in some read of it (it keeps
	// only its last 64 KiB).
	wants := map[string]*regexp.Regexp{
		"SMBIOS system manufacturer":  line("dmi sys_vendor Amazon EC2"),
		"SMBIOS product name":         line("dmi product_name t3.micro"),
		"SMBIOS board asset tag":      line("dmi board_asset_tag " + id),
		"SMBIOS serial number":        regexp.MustCompile(`openami-e2e: dmi product_serial (ec2[0-9a-f-]{33})\r?\n`),
		"SMBIOS system UUID":          regexp.MustCompile(`openami-e2e: dmi product_uuid (ec2[0-9a-f-]{33})\r?\n`),
		"IMDS local-ipv4s":            line("imds local-ipv4s " + *i.PrivateIpAddress),
		"IMDS subnet-id":              line("imds subnet-id " + *i.SubnetId),
		"IMDS subnet-ipv4-cidr-block": line("imds subnet-ipv4-cidr-block " + *subnets.Subnets[0].CidrBlock),
		"IMDS vpc-id":                 line("imds vpc-id " + *i.VpcId),
		"IMDS vpc-ipv4-cidr-block":    line("imds vpc-ipv4-cidr-block " + *vpcs.Vpcs[0].CidrBlock),
		"IMDS security-group-ids":     line("imds security-group-ids " + *i.SecurityGroups[0].GroupId),
		"IMDS security-groups":        line("imds security-groups " + *i.SecurityGroups[0].GroupName),
		"cloud-init's final message naming the Ec2 datasource": regexp.MustCompile(`Cloud-init v\. \S+ finished at .* Datasource DataSourceEc2\w*`),
		"the user data's runcmd line":                          line("user-data ran openami-e2e " + token),
		"the launch key installed for admin":                   regexp.MustCompile(`Authorized keys from /home/admin/\.ssh/authorized_keys for user admin`),
		"the launch key's fingerprint":                         regexp.MustCompile(regexp.QuoteMeta(keyFingerprint)),
		"the SSH host key fingerprints":                        regexp.MustCompile(`(?s)-----BEGIN SSH HOST KEY FINGERPRINTS-----.*ED25519.*-----END SSH HOST KEY FINGERPRINTS-----`),
	}
	seen := map[string]string{}
	var text string
	deadline := time.Now().Add(cloudBootTimeout)
	for len(seen) < len(wants) {
		text = cli.consoleOutput(id)
		for what, re := range wants {
			if _, ok := seen[what]; !ok {
				if m := re.FindString(text); m != "" {
					seen[what] = m
				}
			}
		}
		if len(seen) == len(wants) {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for what := range wants {
				if _, ok := seen[what]; !ok {
					missing = append(missing, what)
				}
			}
			t.Fatalf("%s: the console never showed %s; console:\n%s\nserver log:\n%s", id, strings.Join(missing, ", "), text, q.log())
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("%s", seen["cloud-init's final message naming the Ec2 datasource"])
	// ds-identify's test for AWS, as the guest saw it.
	serial := wants["SMBIOS serial number"].FindStringSubmatch(seen["SMBIOS serial number"])[1]
	uuid := wants["SMBIOS system UUID"].FindStringSubmatch(seen["SMBIOS system UUID"])[1]
	if !strings.EqualFold(serial, uuid) {
		t.Errorf("the guest's SMBIOS serial %s is not its system UUID %s", serial, uuid)
	}

	// SSH in, as a careful user would: port 22 opened to the world on the
	// instance's group with the aws CLI; the host keys learned with
	// ssh-keyscan (retried until sshd answers) and trusted only if
	// cloud-init printed their fingerprints on the console; then a login
	// with the launch key that checks the host key strictly.
	public := aws.ToString(describeOne(t, e, id).PublicIpAddress)
	group := aws.ToString(i.SecurityGroups[0].GroupId)
	cli.run("ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	printed := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`).FindAllString(seen["the SSH host key fingerprints"], -1)
	ssh := sshClient{t: t, key: keyPath, host: public, knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	ssh.trustHostKeys(printed, cloudBootTimeout)
	ssh.waitLogin(cloudBootTimeout)
	if got := strings.Fields(ssh.run("hostname -I")); len(got) != 1 || got[0] != *i.PrivateIpAddress {
		t.Errorf("hostname -I in the guest: %q, want its PrivateIpAddress %s", got, *i.PrivateIpAddress)
	}
	imds := `set -e; t=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)
for p in local-ipv4 public-ipv4; do echo "$p $(curl -sf -H "X-aws-ec2-metadata-token: $t" http://169.254.169.254/latest/meta-data/$p)"; done`
	if got, want := ssh.run(imds), fmt.Sprintf("local-ipv4 %s\npublic-ipv4 %s\n", *i.PrivateIpAddress, public); got != want {
		t.Errorf("the metadata service through curl with an IMDSv2 token said:\n%s\nwant (DescribeInstances):\n%s", got, want)
	}
	ssh.run("sudo -n true")
	if got := ssh.run("cat /var/lib/openami-e2e/marker"); got != "openami-e2e "+token+"\n" {
		t.Errorf("the user data's file holds %q, want %q", got, "openami-e2e "+token+"\n")
	}
	// Revoked, the rule no longer admits a new connection.
	cli.run("ec2", "revoke-security-group-ingress", "--group-id", group, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	deadline = time.Now().Add(time.Minute)
	for {
		out, err := ssh.command("true").CombinedOutput()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 {
				t.Fatalf("ssh after the revoke failed, but not to connect: %v\n%s", err, out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh still logs in a minute after port 22's rule was revoked\nserver log:\n%s", q.log())
		}
		time.Sleep(500 * time.Millisecond)
	}

	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)
	if left := qemuProcesses(dataDir); len(left) > 0 {
		t.Fatalf("QEMU processes left after terminating the instance: %v", left)
	}
}

// sshClient runs OpenSSH's client against one guest, with the launch
// key, as admin, trusting only the host keys in its own known_hosts file
// and nothing of the machine's SSH configuration.
type sshClient struct {
	t          *testing.T
	key, host  string
	knownHosts string
}

// command is ssh running script in the guest.
func (c sshClient) command(script string) *exec.Cmd {
	return exec.Command("ssh", "-F", "/dev/null", "-i", c.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+c.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=30", "admin@"+c.host, script)
}

// run runs script in the guest and returns its output; a failure fails
// the test.
func (c sshClient) run(script string) string {
	c.t.Helper()
	cmd := c.command(script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("ssh admin@%s %q: %v\n%s%s", c.host, script, err, out, stderr.String())
	}
	return string(out)
}

// trustHostKeys asks the guest's sshd for its host keys (ssh-keyscan,
// again until it answers or the wait is over), and writes them to the
// known_hosts file only if every one's fingerprint is among printed,
// those cloud-init wrote on the console.
func (c sshClient) trustHostKeys(printed []string, wait time.Duration) {
	c.t.Helper()
	if len(printed) == 0 {
		c.t.Fatal("cloud-init printed no host key fingerprint")
	}
	deadline := time.Now().Add(wait)
	var keys []byte
	for {
		out, err := exec.Command("ssh-keyscan", "-T", "20", c.host).Output()
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			keys = out
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("ssh-keyscan %s: no host key within %v: %v %s", c.host, wait, err, stderrOf(err))
		}
		time.Sleep(2 * time.Second)
	}
	scanned := filepath.Join(filepath.Dir(c.knownHosts), "scanned")
	if err := os.WriteFile(scanned, keys, 0o600); err != nil {
		c.t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-f", scanned).Output()
	if err != nil {
		c.t.Fatalf("ssh-keygen -l: %v %s", err, stderrOf(err))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || !slices.Contains(printed, f[1]) {
			c.t.Fatalf("the guest's sshd offers a host key cloud-init did not print on the console: %q (printed: %v)", line, printed)
		}
	}
	c.t.Logf("%d host keys of %s match the console's fingerprints", len(lines), c.host)
	if err := os.Rename(scanned, c.knownHosts); err != nil {
		c.t.Fatal(err)
	}
}

// waitLogin tries `ssh … true` until it succeeds or the wait is over.
func (c sshClient) waitLogin(wait time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		out, err := c.command("true").CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("ssh admin@%s: no login within %v: %v\n%s", c.host, wait, err, out)
		}
		time.Sleep(2 * time.Second)
	}
}

// checkPort22 fails the test unless this process may listen on addr:22,
// which the forward of an instance's SSH port needs: root, or
// CAP_NET_BIND_SERVICE, or a low net.ipv4.ip_unprivileged_port_start,
// and no host service on 0.0.0.0:22 (docs/NETWORK.md).
func checkPort22(t *testing.T, addr netip.Addr) {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(addr, 22).String())
	if err != nil {
		t.Fatalf("cannot listen on %s:22, so openami could not forward an instance's SSH port there: %v "+
			"(as root, or: sudo sysctl net.ipv4.ip_unprivileged_port_start=22; and no host sshd on 0.0.0.0:22; docs/NETWORK.md)", addr, err)
	}
	ln.Close()
}

// awsCLI runs the aws CLI against the test's server.
type awsCLI struct {
	t   *testing.T
	env []string
}

// consoleOutput is `aws ec2 get-console-output --latest`: the console
// text, which the CLI decodes from base64 itself.
func (c awsCLI) consoleOutput(id string) string {
	c.t.Helper()
	cmd := exec.Command("aws", "ec2", "get-console-output", "--instance-id", id, "--latest", "--query", "Output", "--output", "text")
	cmd.Env = c.env
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("aws ec2 get-console-output: %v\n%s", err, stderrOf(err))
	}
	return string(out)
}

// run runs `aws ARGS…` and returns what it printed; a failure fails the
// test.
func (c awsCLI) run(args ...string) string {
	c.t.Helper()
	cmd := exec.Command("aws", args...)
	cmd.Env = c.env
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
}

// cliEnv is the environment for the aws CLI and boto3: the account's
// keys, the region and the server's endpoint (AWS_ENDPOINT_URL), and
// nothing of the machine's own AWS configuration.
func cliEnv(t *testing.T, c identity.Credentials, region, endpoint string) []string {
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey, "AWS_DEFAULT_REGION="+region, "AWS_ENDPOINT_URL="+endpoint,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "no-config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
