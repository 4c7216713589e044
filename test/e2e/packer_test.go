package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
	"golang.org/x/crypto/ssh"
)

// bakeTimeout bounds `packer build` and the `terraform apply` whose
// remote-exec waits for SSH: each boots the Debian image once (60–120 s
// under TCG here, far longer on a busy machine). Never asserted on.
const bakeTimeout = 25 * time.Minute

// TestQemuPackerTerraform is the bake cycle: Packer bakes an AMI, and
// Terraform deploys it and configures the instance over SSH.
//
// Under `openami serve --runtime qemu` it makes the Debian cloud image an
// AMI (register.py), then runs `packer build` of the README's template
// (examples/packer/debian.json, amazon-ebs) with only its variables set:
// the source AMI filter finds the image, Packer makes its temporary key
// pair and security group, launches, logs in as admin at the public
// address, provisions /etc/baked-by-packer, stops the instance, creates the
// image and waits for it, and cleans up. openami must then hold the
// image, available, described and tagged, its root grown to the
// template's 4 GiB and its snapshot tagged, and nothing of the build: the instance
// terminated, the temporary group and key pair gone.
//
// Then Terraform (testdata/terraform/remote_exec) launches the baked
// image with a key pair of the test's own key and a group allowing SSH,
// and its remote-exec provisioner logs in and writes
// /etc/deployed-by-terraform. The test logs in itself and reads both
// files: the bake's change is in the image, and the deploy's on the
// instance. `terraform destroy` then leaves nothing, and no QEMU runs.
//
// One test rather than two: each half boots the Debian image once, and
// the second half's image is the first half's product.
func TestQemuPackerTerraform(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	for _, tool := range []string{"packer", "aws", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on the PATH (Debian: apt-get install packer awscli python3-boto3; .ci/run installs them)", tool)
		}
	}
	// A public pool of the test's own, so that another server on this
	// machine (another test, a benchmark) holding the default pool's
	// first address does not hold its port 22.
	var pool [2]byte
	rand.Read(pool[:])
	prefix := fmt.Sprintf("127.%d.%d.", 100+pool[0]%100, pool[1])
	// SSH is port 22: forwarding it from a public address needs root or
	// a lower net.ipv4.ip_unprivileged_port_start (docs/NETWORK.md).
	if l, err := net.Listen("tcp", prefix+"14:22"); err != nil {
		t.Skipf("cannot listen on port 22 of a public address, so no instance's SSH would be forwarded: %v "+
			"(run as root, or sysctl net.ipv4.ip_unprivileged_port_start=22; docs/NETWORK.md)", err)
	} else {
		l.Close()
	}
	mirror := terraformMirror(t)
	img := testenv.CloudImage(t)
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "oqp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir, "--public-ips", prefix+"0/28")
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")
	env := cliEnv(t, creds, "us-east-1", q.url)

	// The source image, as the README makes it.
	cmd := exec.Command("python3", filepath.Join(repoRoot(t), "scripts", "cloudimage", "register.py"), "--name", "debian-12", img)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("register.py: %v\n%s", err, stderrOf(err))
	}
	source := strings.TrimSpace(string(out))

	tokenBytes := make([]byte, 6)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	baked := "baked by packer " + token
	amiName := "debian-12-baked-" + token

	// Bake.
	ami := packerBuild(t, env, filepath.Join(repoRoot(t), "examples", "packer", "debian.json"),
		"endpoint="+q.url, "ami_name="+amiName, "message="+baked)
	images, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		t.Fatal(err)
	}
	image := images.Images[0]
	if image.State != types.ImageStateAvailable || aws.ToString(image.Name) != amiName || tagMap(image.Tags)["baked-by"] != "packer" ||
		aws.ToString(image.Description) != "Debian 12, baked by Packer" || len(image.BlockDeviceMappings) != 1 {
		t.Fatalf("the baked image: %+v (tags %v)", image, tagMap(image.Tags))
	}
	// launch_block_device_mappings grew the root volume to 4 GiB, and
	// snapshot_tags tagged its snapshot.
	root := image.BlockDeviceMappings[0].Ebs
	snaps, err := e.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{aws.ToString(root.SnapshotId)}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(root.VolumeSize) != 4 || aws.ToInt32(snaps.Snapshots[0].VolumeSize) != 4 || tagMap(snaps.Snapshots[0].Tags)["baked-by"] != "packer" {
		t.Errorf("the baked image's root: %d GiB, its snapshot %d GiB, tags %v", aws.ToInt32(root.VolumeSize),
			aws.ToInt32(snaps.Snapshots[0].VolumeSize), tagMap(snaps.Snapshots[0].Tags))
	}
	builders, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"Packer Builder"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(builders.Reservations) != 1 {
		t.Fatalf("%d reservations of Packer's builder instance, want 1", len(builders.Reservations))
	}
	builder := builders.Reservations[0].Instances[0]
	if aws.ToString(builder.ImageId) != source || builder.State.Name != types.InstanceStateNameTerminated ||
		aws.ToString(image.SourceInstanceId) != aws.ToString(builder.InstanceId) {
		t.Errorf("Packer's builder instance %s (of %s, %s); the image's source instance %s", aws.ToString(builder.InstanceId),
			aws.ToString(builder.ImageId), builder.State.Name, aws.ToString(image.SourceInstanceId))
	}
	groups, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if strings.HasPrefix(aws.ToString(g.GroupName), "packer_") {
			t.Errorf("Packer's temporary security group %s is left", aws.ToString(g.GroupName))
		}
	}
	keys, err := e.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.KeyPairs) != 0 {
		t.Errorf("key pairs left after the bake: %s", aws.ToString(keys.KeyPairs[0].KeyName))
	}

	// Deploy.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	x := newTF(t, mirror)
	x.timeout = bakeTimeout
	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "remote_exec", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	deployed := "deployed by terraform " + token
	x.vars(map[string]any{
		"endpoint": q.url, "access_key": creds.AccessKeyID, "secret_key": creds.SecretAccessKey, "image_id": ami,
		"public_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), "private_key": string(pem.EncodeToMemory(block)),
		"message": deployed,
	})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()
	id, publicIP := str(t, outs, "instance_id"), str(t, outs, "public_ip")
	inst := describeOne(t, e, id)
	if inst.State.Name != types.InstanceStateNameRunning || aws.ToString(inst.ImageId) != ami || aws.ToString(inst.PublicIpAddress) != publicIP {
		t.Fatalf("the deployed instance: %s of %s, public address %s (terraform says %s)", inst.State.Name,
			aws.ToString(inst.ImageId), aws.ToString(inst.PublicIpAddress), publicIP)
	}
	// The guest's disk is the baked image's 4 GiB (in 512-byte sectors).
	got := sshOutput(t, net.JoinHostPort(publicIP, "22"), signer, "cat /etc/baked-by-packer /etc/deployed-by-terraform /sys/block/vda/size")
	if want := baked + "\n" + deployed + "\n" + "8388608\n"; got != want {
		t.Fatalf("on the deployed instance, the two files and the disk's size read %q, want %q", got, want)
	}

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	if inst := describeOne(t, e, id); inst.State.Name != types.InstanceStateNameTerminated {
		t.Errorf("after destroy the instance is %s", inst.State.Name)
	}
	groups, err = e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"tf-ssh"}}}})
	if err != nil || len(groups.SecurityGroups) != 0 {
		t.Errorf("after destroy, the group tf-ssh: %v %+v", err, groups)
	}
	keys, err = e.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil || len(keys.KeyPairs) != 0 {
		t.Errorf("after destroy, key pairs: %v %+v", err, keys)
	}
	if left := qemuProcesses(dataDir); len(left) > 0 {
		t.Fatalf("QEMU processes left after destroy: %v", left)
	}
}

// packerBuild runs `packer build -machine-readable` of template with the
// given variables (NAME=VALUE) in env, and returns the id of the one AMI
// it made. It fails the test, with Packer's output and the tail of its
// log, if the build fails or takes longer than bakeTimeout.
func packerBuild(t *testing.T, env []string, template string, vars ...string) string {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "packer.log")
	args := []string{"build", "-machine-readable", "-color=false"}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bakeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "packer", append(args, template)...)
	cmd.Dir = dir // packer_cache goes here
	cmd.Env = append(env, "CHECKPOINT_DISABLE=1", "PACKER_LOG=1", "PACKER_LOG_PATH="+logPath,
		"PACKER_CACHE_DIR="+filepath.Join(dir, "packer_cache"), "PACKER_CONFIG="+filepath.Join(dir, "no-packerconfig"))
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	err := cmd.Run()
	t.Logf("packer build: %v", time.Since(started).Round(time.Second))
	if err != nil {
		data, _ := os.ReadFile(logPath)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		t.Fatalf("packer build: %v (context: %v)\n%s\n--- the end of PACKER_LOG ---\n%s", err, ctx.Err(), out.String(), strings.Join(lines, "\n"))
	}
	// TIMESTAMP,amazon-ebs,artifact,0,id,us-east-1:ami-…
	m := regexp.MustCompile(`(?m)^\d+,amazon-ebs,artifact,0,id,[a-z0-9-]+:(ami-[0-9a-f]{17})$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("packer build named no AMI:\n%s", out.String())
	}
	return m[1]
}

// sshOutput logs in to addr as admin with key, runs command and returns
// its standard output. It tries again for a minute while the connection
// or the handshake fails.
func sshOutput(t *testing.T, addr string, key ssh.Signer, command string) string {
	t.Helper()
	config := &ssh.ClientConfig{User: "admin", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	var client *ssh.Client
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		if client, err = ssh.Dial("tcp", addr, config); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("ssh admin@%s: %v", addr, err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	if err := session.Run(command); err != nil {
		t.Fatalf("ssh admin@%s %s: %v\n%s", addr, command, err, stderr.String())
	}
	return stdout.String()
}
