package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/rules/identity"
)

// guestTimeout bounds each wait for something a guest does. Guests boot
// under TCG here, on a loaded machine: generous, and never asserted on.
const guestTimeout = 5 * time.Minute

// qemuServer is an `openami serve --runtime qemu` process.
type qemuServer struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and been reaped
	url    string
	logMu  sync.Mutex
	logBuf bytes.Buffer
}

func (q *qemuServer) Write(p []byte) (int, error) {
	q.logMu.Lock()
	defer q.logMu.Unlock()
	return q.logBuf.Write(p)
}

func (q *qemuServer) log() string {
	q.logMu.Lock()
	defer q.logMu.Unlock()
	return q.logBuf.String()
}

// startQemuServer runs the binary with the qemu runtime on dataDir and
// waits until it listens.
func startQemuServer(t testing.TB, dataDir string, flags ...string) *qemuServer {
	t.Helper()
	q := &qemuServer{exited: make(chan struct{})}
	q.cmd = exec.Command(binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--runtime", "qemu"}, flags...)...)
	pr, pw := io.Pipe()
	q.cmd.Stderr = pw
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { q.cmd.Wait(); close(q.exited) }()
	t.Cleanup(func() {
		q.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-q.exited:
		case <-time.After(time.Minute):
			q.cmd.Process.Kill()
			<-q.exited
		}
		pw.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", q.log())
		}
	})
	listening := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var line []byte
		for {
			n, err := pr.Read(buf)
			q.Write(buf[:n])
			line = append(line, buf[:n]...)
			for {
				i := bytes.IndexByte(line, '\n')
				if i < 0 {
					break
				}
				if rest, ok := strings.CutPrefix(string(line[:i]), "openami listening on "); ok {
					listening <- strings.Fields(rest)[0]
				}
				line = line[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case q.url = <-listening:
	case <-time.After(time.Minute):
		t.Fatalf("server did not start:\n%s", q.log())
	}
	return q
}

// qemuProcesses returns the pids of QEMU processes whose command line
// mentions dir.
func qemuProcesses(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("qemu-system")) && bytes.Contains(b, []byte(dir)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// console returns an instance's console output.
func console(t testing.TB, e *ec2.Client, id string) string {
	t.Helper()
	out, err := e.GetConsoleOutput(context.Background(), &ec2.GetConsoleOutputInput{InstanceId: aws.String(id), Latest: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Output == nil {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(*out.Output)
	if err != nil {
		t.Fatalf("console output is not base64: %v", err)
	}
	return string(b)
}

// waitConsole polls the console until it holds want n times.
func waitConsole(t testing.TB, e *ec2.Client, q *qemuServer, id, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(guestTimeout)
	for {
		text := console(t, e, id)
		if strings.Count(text, want) >= n {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q did not appear %d times on the console; console:\n%s\nserver log:\n%s", id, want, n, text, q.log())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitInstance(t testing.TB, e *ec2.Client, id string, state types.InstanceStateName) {
	t.Helper()
	deadline := time.Now().Add(guestTimeout)
	for {
		out, err := e.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Reservations[0].Instances[0].State.Name
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, not %s", id, got, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uploadImage puts a raw disk file into a new snapshot through the EBS
// direct API (its non-zero blocks only) and returns the snapshot's id.
func uploadImage(t testing.TB, s *server, c identity.Credentials, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start, err := s.ebs(c).StartSnapshot(context.Background(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Description: aws.String("openami test image")})
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[int32][]byte{}
	zero := make([]byte, blockSize)
	for i := 0; i*blockSize < len(raw); i++ {
		b := make([]byte, blockSize)
		copy(b, raw[i*blockSize:])
		if !bytes.Equal(b, zero) {
			blocks[int32(i)] = b
		}
	}
	putBlocks(t, s, c, *start.SnapshotId, blocks)
	return *start.SnapshotId
}

// TestQemuRuntime boots the test image (docs/TESTIMAGE.md) under
// `openami serve --runtime qemu` and follows it through its life: the
// guest prints the key pair and user data it read from its metadata
// service; user data writes a file to its disk; CreateImage (with its
// reboot) captures it and the new image's instance prints it, with
// IMDSv2 required; openami killed takes its VMs with it, and a new
// openami boots the running instances again; stop, start and terminate;
// no QEMU process is left.
func TestQemuRuntime(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(t)
	ctx := context.Background()
	// A short data dir: the VMs' unix sockets live under it.
	dataDir, err := os.MkdirTemp("", "oq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir)
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
	if _, err := e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("guest-key"), KeyType: types.KeyTypeEd25519}); err != nil {
		t.Fatal(err)
	}
	keys, err := e.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"guest-key"}, IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(*keys.KeyPairs[0].PublicKey)
	tokenBytes := make([]byte, 6)
	rand.Read(tokenBytes)
	token := hex.EncodeToString(tokenBytes)
	userData := fmt.Sprintf("#!/bin/sh\necho \"e2e-marker-%s\"\necho \"%s\" > /data/proof\n", token, token)

	run := func(image string, in ec2.RunInstancesInput) string {
		t.Helper()
		in.ImageId, in.InstanceType, in.MinCount, in.MaxCount = aws.String(image), types.InstanceTypeT2Micro, aws.Int32(1), aws.Int32(1)
		out, err := e.RunInstances(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return *out.Instances[0].InstanceId
	}
	a := run(*reg.ImageId, ec2.RunInstancesInput{KeyName: aws.String("guest-key"), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	text := waitConsole(t, e, q, a, "openami-testimage: init done", 1)
	for _, want := range []string{
		"openami-testimage: booting",
		// DHCP gave the guest its own PrivateIpAddress, in its /20.
		"openami-testimage: ip eth0 " + aws.ToString(describeOne(t, e, a).PrivateIpAddress) + "/20",
		"openami-testimage: imds v2",
		"openami-testimage: instance-id " + a,
		"openami-testimage: openssh-key " + pub,
		"openami-testimage: user-data #!/bin/sh",
		"e2e-marker-" + token,
		"openami-testimage: user-data script exit 0",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("the console lacks %q:\n%s", want, text)
		}
	}
	waitInstance(t, e, a, types.InstanceStateNameRunning)
	// The guest came up: its instance status check passes.
	st, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.InstanceStatuses) != 1 || st.InstanceStatuses[0].InstanceStatus.Status != types.SummaryStatusOk ||
		st.InstanceStatuses[0].InstanceStatus.Details[0].Status != types.StatusTypePassed {
		t.Fatalf("a booted guest's instance status: %+v", st.InstanceStatuses)
	}

	// CreateImage with its reboot: the guest powers off cleanly, is
	// snapshotted, and boots again; the image is pending meanwhile.
	created, err := e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(a), Name: aws.String("with-proof")})
	if err != nil {
		t.Fatal(err)
	}
	waitImage := ec2.NewImageAvailableWaiter(e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := waitImage.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*created.ImageId}}, guestTimeout); err != nil {
		t.Fatalf("image %s: %v\nserver log:\n%s", *created.ImageId, err, q.log())
	}
	text = waitConsole(t, e, q, a, "openami-testimage: init done", 2)
	if !strings.Contains(text, "openami-testimage: data unmounted") {
		t.Fatalf("the guest did not shut down cleanly for CreateImage:\n%s", text)
	}

	b := run(*created.ImageId, ec2.RunInstancesInput{MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired}})
	text = waitConsole(t, e, q, b, "openami-testimage: init done", 1)
	for _, want := range []string{"openami-testimage: proof " + token, "openami-testimage: imds v2", "openami-testimage: instance-id " + b, "openami-testimage: user-data none", "openami-testimage: openssh-key none"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the new image's instance's console lacks %q:\n%s", want, text)
		}
	}

	// openami killed: its VMs die with it. A new openami boots the
	// running instances again, once each.
	if err := q.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Gone for good (its files closed, the data dir's lock with them)
	// before another server takes the data dir.
	<-q.exited
	deadline := time.Now().Add(time.Minute)
	for len(qemuProcesses(dataDir)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("QEMU processes outlived a killed openami: %v", qemuProcesses(dataDir))
		}
		time.Sleep(100 * time.Millisecond)
	}
	q = startQemuServer(t, dataDir)
	s = &server{URL: q.url}
	e = s.ec2(creds, "us-east-1")
	waitConsole(t, e, q, b, "openami-testimage: init done", 2)
	waitConsole(t, e, q, a, "openami-testimage: init done", 3)
	if n := len(qemuProcesses(dataDir)); n != 2 {
		t.Fatalf("%d QEMU processes for 2 running instances after a restart", n)
	}

	// Stop is a clean ACPI power-off; start boots again.
	if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{b}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, b, types.InstanceStateNameStopped)
	text = console(t, e, b)
	if !strings.Contains(text, "openami-testimage: power button") || !strings.Contains(text, "reboot: Power down") {
		t.Fatalf("the stop was not a clean power-off:\n%s", text[max(0, len(text)-2000):])
	}
	if _, err := e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{b}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, b, types.InstanceStateNameRunning)
	waitConsole(t, e, q, b, "openami-testimage: init done", 3)

	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a, b}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, a, types.InstanceStateNameTerminated)
	waitInstance(t, e, b, types.InstanceStateNameTerminated)
	if left := qemuProcesses(dataDir); len(left) > 0 {
		t.Fatalf("QEMU processes left after terminating every instance: %v", left)
	}
}

// TestQemuParavirtual registers the test image's kernel and initramfs as
// kernel and ramdisk images (`openami image register-kernel|-ramdisk`),
// registers a paravirtual image over the test image's disk naming them,
// and boots it: QEMU loads that kernel directly (no boot loader runs), and
// the guest comes up with the disk as /dev/vda.
// TestQemuImpaired: an instance whose disk holds nothing bootable runs
// (its VM is up) but its guest never writes to the console: its instance
// status check is initializing at first, then fails, with the time it
// failed and a warning in the server's log.
func TestQemuImpaired(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "oq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir, "--qemu-first-output-timeout", "5s")
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")
	blank := filepath.Join(t.TempDir(), "blank.raw")
	if err := os.WriteFile(blank, make([]byte, blockSize), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := uploadImage(t, s, creds, blank)
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("blank"), Architecture: types.ArchitectureValuesX8664,
		VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios, RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT2Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.Instances[0].InstanceId
	waitInstance(t, e, id, types.InstanceStateNameRunning)
	var seen []types.SummaryStatus
	deadline := time.Now().Add(guestTimeout)
	for {
		st, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		got := st.InstanceStatuses[0].InstanceStatus
		if len(seen) == 0 || seen[len(seen)-1] != got.Status {
			seen = append(seen, got.Status)
		}
		if got.Status == types.SummaryStatusImpaired {
			if d := got.Details[0]; d.Status != types.StatusTypeFailed || d.ImpairedSince == nil || d.Name != types.StatusNameReachability {
				t.Fatalf("impaired check details: %+v", d)
			}
			if st.InstanceStatuses[0].SystemStatus.Status != types.SummaryStatusOk {
				t.Fatalf("the host's check failed too: %+v", st.InstanceStatuses[0].SystemStatus)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the silent guest's status check never failed (seen %v)", seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if seen[0] != types.SummaryStatusInitializing {
		t.Fatalf("status checks went %v, want initializing first", seen)
	}
	if !strings.Contains(q.log(), "instance status check failed") || !strings.Contains(q.log(), "wrote nothing to its console within 5s") {
		t.Fatalf("the server did not log why:\n%s", q.log())
	}
}

func TestQemuParavirtual(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(t)
	kernel, initrd := testenv.TestImageBootFiles(t)
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "oq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir)
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")

	register := func(kind, file string) string {
		t.Helper()
		out, err := exec.Command(binary(t), "image", "register-"+kind, "--data-dir", dataDir, "--name", "test-"+kind, file).Output()
		if err != nil {
			t.Fatalf("register-%s: %v", kind, err)
		}
		var res struct{ ImageId, ImageType string }
		if err := json.Unmarshal(out, &res); err != nil || res.ImageType != kind {
			t.Fatalf("register-%s printed %q: %v", kind, out, err)
		}
		return res.ImageId
	}
	aki, ari := register("kernel", kernel), register("ramdisk", initrd)
	desc, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aki, ari}})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range desc.Images {
		want := map[string]types.ImageTypeValues{aki: types.ImageTypeValuesKernel, ari: types.ImageTypeValuesRamdisk}[*im.ImageId]
		if im.ImageType != want || im.State != types.ImageStateAvailable || im.VirtualizationType != types.VirtualizationTypeParavirtual {
			t.Fatalf("boot image %s: type %s, state %s, virtualization %s", *im.ImageId, im.ImageType, im.State, im.VirtualizationType)
		}
	}

	snap := uploadImage(t, s, creds, img)
	regPV := func(kernel, ramdisk string) (*ec2.RegisterImageOutput, error) {
		return e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("pv-" + kernel + ramdisk), Architecture: types.ArchitectureValuesX8664,
			VirtualizationType: aws.String("paravirtual"), RootDeviceName: aws.String("/dev/sda1"), KernelId: aws.String(kernel), RamdiskId: aws.String(ramdisk),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sda1"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	}
	if _, err := regPV(ari, ari); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Fatalf("a ramdisk image as the kernel: %v", err)
	}
	if _, err := regPV("ami-0123456789abcdef0", ari); err == nil || !strings.Contains(err.Error(), "InvalidAMIID.NotFound") {
		t.Fatalf("a kernel that does not exist: %v", err)
	}
	reg, err := regPV(aki, ari)
	if err != nil {
		t.Fatal(err)
	}
	runIn := func(image string) (*ec2.RunInstancesOutput, error) {
		return e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	}
	if _, err := runIn(aki); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Fatalf("launching a kernel image: %v", err)
	}
	run, err := runIn(*reg.ImageId)
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	if run.Instances[0].KernelId == nil || *run.Instances[0].KernelId != aki {
		t.Fatalf("instance kernel %v, want %s", run.Instances[0].KernelId, aki)
	}
	text := waitConsole(t, e, q, id, "openami-testimage: init done", 1)
	for _, want := range []string{"Command line: root=/dev/vda1 console=ttyS0,115200", "openami-testimage: data /dev/vda2 mounted on /data",
		"openami-testimage: instance-id " + id} {
		if !strings.Contains(text, want) {
			t.Fatalf("the paravirtual guest's console lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "openami-testimage: booting") {
		t.Fatalf("the disk's boot loader ran: the kernel was not booted directly:\n%s", text)
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)
	if left := qemuProcesses(dataDir); len(left) > 0 {
		t.Fatalf("QEMU processes left: %v", left)
	}
}
