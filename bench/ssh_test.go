package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
)

// The SSH benchmark: issue 14's measures for the Debian cloud image
// (docs/CLOUDIMAGE.md). Run it with
//
//	go test -run '^$' -bench SSH -benchtime 1x -timeout 90m ./bench/
//
// It needs qemu-system-x86_64, ssh and scp, python3 with boto3, what
// scripts/cloudimage/build.sh needs (the image is built once and
// cached), and the right to listen on port 22 of the public pool (root,
// or net.ipv4.ip_unprivileged_port_start ≤ 22). docs/BENCHMARKS.md
// ("SSH into the cloud image") gives the latest results.
//
// BENCH_SSH_RUNS (3) boots of each, alternating: an instance of
// `openami serve --runtime qemu` (t2.micro: 1 vCPU, 1 GiB; the image made
// an AMI with scripts/cloudimage/register.py; a key pair; a group that
// allows tcp/22 from 0.0.0.0/0; check.sh's user data), and the same raw
// file booted by QEMU directly as scripts/cloudimage/check.sh boots it
// (the file with snapshot=on, libslirp with a hostfwd to port 22), with
// openami's own VM's accelerator, vCPUs, memory, machine, SMBIOS tables
// and MAC address copied from its command line, and for metadata the
// tree openami's IMDS served the first openami instance, read from
// inside that guest and answered by a server in this process
// (sshimds_test.go) — the same key, user data and network/ tree, as fast
// as openami's. For each: the time from RunInstances (or QEMU's start) to
// the first `ssh … true` that succeeds (tried every 0.5 s), the bytes
// openami read from its block store meanwhile (/metrics'
// openami_blob_read_bytes_total), then BENCH_SSH_COPIES (1) times `scp`
// of a 256 MiB file of random bytes into the guest, to /dev/null (the
// network and sshd only) and to /var/tmp (the guest's disk too), with
// openami's peak RSS during each copy (VmHWM, reset through
// /proc/PID/clear_refs before it).
func BenchmarkSSH(b *testing.B) {
	for _, tool := range []string{"qemu-system-x86_64", "ssh", "scp", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s not found (apt-get install qemu-system-x86 openssh-client python3-boto3)", tool)
		}
	}
	runs := intsEnv(b, "BENCH_SSH_RUNS", []int{3})[0]
	copies := intsEnv(b, "BENCH_SSH_COPIES", []int{1})[0]
	info := machine()
	img := testenv.CloudImage(b)
	bin := build(b, b.TempDir())
	work := b.TempDir()
	blobFile := filepath.Join(work, "blob")
	writeRandom(b, blobFile, 256<<20, 1)

	for range b.N {
		// A short data dir: the VMs' unix sockets live under it.
		dataDir, err := os.MkdirTemp("", "obs-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dataDir) })
		pid := os.Getpid()
		pool := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 80, byte(pid >> 6), byte(pid<<2) & 0xfc}), 30)
		if ln, err := net.Listen("tcp4", netip.AddrPortFrom(pool.Addr().Next(), 22).String()); err != nil {
			b.Fatalf("cannot listen on port 22 of the public pool (root, or sysctl net.ipv4.ip_unprivileged_port_start=22): %v", err)
		} else {
			ln.Close()
		}
		t := startOpenamiIn(b, bin, "qemu", dataDir, "--runtime", "qemu", "--public-ips", pool.String())
		s := newSSHBench(b, t, img, work)

		type sample struct {
			login                float64 // s
			readMB               float64 // from the block store, during the boot
			scpNull, scpDisk     float64 // s
			rssNullMB, rssDiskMB float64 // openami's peak during the copy
		}
		got := map[string][]sample{}    // per boot: login, readMB
		copied := map[string][]sample{} // per copy: scp*, rss*
		order := []string{"openami", "direct"}
		for k := range runs * len(order) {
			what := order[k%len(order)]
			var sm sample
			var g guest
			if what == "openami" {
				r0 := blobReadBytes(b, t)
				g = s.launch()
				sm.readMB = float64(blobReadBytes(b, t)-r0) / mb
			} else {
				g = s.direct()
			}
			sm.login = g.login.Seconds()
			got[what] = append(got[what], sm)
			fmt.Printf("%s run %d: login %.1f s, read %.1f MB\n", what, len(got[what]), sm.login, sm.readMB)
			for range copies {
				var c sample
				c.scpNull, c.rssNullMB = s.scp(g, blobFile, "/dev/null")
				c.scpDisk, c.rssDiskMB = s.scp(g, blobFile, "/var/tmp/blob")
				copied[what] = append(copied[what], c)
				fmt.Printf("%s run %d: scp /dev/null %.1f s (openami peak %.0f MB), scp /var/tmp %.1f s (%.0f MB)\n",
					what, len(got[what]), c.scpNull, c.rssNullMB, c.scpDisk, c.rssDiskMB)
			}
			if what == "openami" && s.imdsPort == 0 {
				s.imdsPort = serveIMDS(b, s.crawlIMDS(g))
			}
			g.stop()
		}

		pick := func(from map[string][]sample, what string, f func(sample) float64) []float64 {
			var v []float64
			for _, sm := range from[what] {
				v = append(v, f(sm))
			}
			slices.Sort(v)
			return v
		}
		list := func(v []float64, format string) string {
			var out []string
			for _, x := range v {
				out = append(out, fmt.Sprintf(format, x))
			}
			return strings.Join(out, ", ")
		}
		rate := func(sec float64) float64 { return 256 / sec } // MiB/s
		var report strings.Builder
		fmt.Fprintf(&report, "\nThe Debian cloud image, %d boots each, alternating, %d copies of each kind per boot; accelerator %s:\n\n", runs, copies, s.accel)
		fmt.Fprintf(&report, "| boot | RunInstances (or QEMU start) → SSH login, median s | runs s | block store read MB, median | scp 256 MiB → /dev/null, median s (MiB/s) | runs s | scp 256 MiB → /var/tmp, median s (MiB/s) | runs s | openami peak RSS MB during the copies → /dev/null, → /var/tmp (max) |\n|---|--:|---|--:|--:|---|--:|---|--:|\n")
		med := map[string]map[string]float64{}
		for _, what := range order {
			login := pick(got, what, func(sm sample) float64 { return sm.login })
			read := pick(got, what, func(sm sample) float64 { return sm.readMB })
			null := pick(copied, what, func(sm sample) float64 { return sm.scpNull })
			disk := pick(copied, what, func(sm sample) float64 { return sm.scpDisk })
			rssNull := pick(copied, what, func(sm sample) float64 { return sm.rssNullMB })
			rssDisk := pick(copied, what, func(sm sample) float64 { return sm.rssDiskMB })
			med[what] = map[string]float64{"login": median(login), "null": median(null), "disk": median(disk)}
			readCol, rssCol := fmt.Sprintf("%.1f", median(read)), fmt.Sprintf("%.0f, %.0f", rssNull[len(rssNull)-1], rssDisk[len(rssDisk)-1])
			if what == "direct" {
				readCol, rssCol = "–", "–"
			}
			fmt.Fprintf(&report, "| %s | %.1f | %s | %s | %.1f (%.1f) | %s | %.1f (%.1f) | %s | %s |\n", what,
				median(login), list(login, "%.1f"), readCol, median(null), rate(median(null)), list(null, "%.1f"),
				median(disk), rate(median(disk)), list(disk, "%.1f"), rssCol)
			b.ReportMetric(median(login), what+"-login-s")
			b.ReportMetric(median(null), what+"-scp-null-s")
			b.ReportMetric(median(disk), what+"-scp-disk-s")
		}
		fmt.Fprintf(&report, "\nRatios openami ÷ direct of the medians: SSH login %.2f; scp to /dev/null %.2f; scp to /var/tmp %.2f (goal: ≤ 1.2).\n",
			med["openami"]["login"]/med["direct"]["login"], med["openami"]["null"]/med["direct"]["null"], med["openami"]["disk"]/med["direct"]["disk"])
		fmt.Printf("\n%s\n%s", info, report.String())
		if path := os.Getenv("BENCH_SSH_MARKDOWN"); path != "" {
			if err := os.WriteFile(path, []byte(info+"\n"+report.String()), 0o644); err != nil {
				b.Error(err)
			}
		}
	}
}

// sshBench is what both kinds of boot share: the key pair, the user
// data, and openami with the image registered.
type sshBench struct {
	b            *testing.B
	t            *target
	c            *ec2.Client
	raw, dir     string
	key          string // the private key's file
	userData     string // check.sh's, with a token of its own
	image, group string
	accel        string   // the accelerator openami's VMs run under
	qemuArgs     []string // openami's VM's size, machine and SMBIOS, once one has run
	mac          string   // openami's VM's NIC's, which its metadata's network/ tree names
	imdsPort     int      // the direct boots' metadata service (serveIMDS), once openami's has been read
	relay        string   // what guestfwd runs per connection to reach it (buildRelay)
	directRuns   int
}

func newSSHBench(b *testing.B, t *target, raw, dir string) *sshBench {
	ctx := context.Background()
	s := &sshBench{b: b, t: t, c: ec2.NewFromConfig(blockConfig(t, "us-east-1", 8)), raw: raw, dir: dir}
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+t.key, "AWS_SECRET_ACCESS_KEY="+t.secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL="+t.endpoint, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	cmd := exec.Command("python3", filepath.Join(repoRoot(), "scripts", "cloudimage", "register.py"), "--name", "debian-12-bench", raw)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("register.py: %v\n%s", err, stderr)
	}
	s.image = strings.TrimSpace(string(out))
	key, err := s.c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("bench"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		b.Fatal(err)
	}
	// OpenSSH wants the newline after the END line that AWS leaves off.
	s.key = filepath.Join(dir, "bench.pem")
	if err := os.WriteFile(s.key, []byte(*key.KeyMaterial+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	sg, err := s.c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ssh"), Description: aws.String("SSH from anywhere")})
	if err != nil {
		b.Fatal(err)
	}
	s.group = *sg.GroupId
	if _, err := s.c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("0.0.0.0/0")}); err != nil {
		b.Fatal(err)
	}
	token := make([]byte, 6)
	rand.Read(token)
	s.userData = fmt.Sprintf("#cloud-config\nwrite_files:\n  - path: /var/lib/openami-check/marker\n    content: \"openami-cloudimage-check %x\\n\"\n"+
		"runcmd:\n  - [ sh, -c, 'echo \"openami-cloudimage: user-data ran %x\" > /dev/console' ]\n", token, token)
	return s
}

// guest is a booted guest and the time its first SSH login took.
type guest struct {
	host  string
	port  int
	login time.Duration
	stop  func()
}

// launch runs an instance and waits for its first SSH login.
func (s *sshBench) launch() guest {
	b, ctx := s.b, context.Background()
	t0 := time.Now()
	run, err := s.c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(s.image), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("bench"), SecurityGroupIds: []string{s.group},
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(s.userData)))})
	if err != nil {
		b.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	host := aws.ToString(run.Instances[0].PublicIpAddress)
	if host == "" {
		out, err := s.c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		host = aws.ToString(out.Reservations[0].Instances[0].PublicIpAddress)
	}
	if host == "" {
		b.Fatalf("%s has no public address", id)
	}
	g := guest{host: host, port: 22}
	g.stop = func() {
		if _, err := s.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			b.Fatal(err)
		}
		for {
			out, err := s.c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
			if err != nil {
				b.Fatal(err)
			}
			if out.Reservations[0].Instances[0].State.Name == types.InstanceStateNameTerminated {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	g.login = s.waitLogin(g, t0, filepath.Join(s.t.dataDir, "vms", id, "console.log"))
	if s.qemuArgs == nil {
		s.qemuArgs, s.accel, s.mac = vmArgs(b, filepath.Join(s.t.dataDir, "vms", id, "qemu.pid"))
	}
	return g
}

// direct boots the raw file with QEMU as check.sh does, with openami's
// VM's size, accelerator and SMBIOS, and waits for its first SSH login.
func (s *sshBench) direct() guest {
	b := s.b
	if s.qemuArgs == nil || s.imdsPort == 0 {
		b.Fatal("the direct boot copies openami's VM's options and metadata: run openami first")
	}
	s.directRuns++
	dir := filepath.Join(s.dir, fmt.Sprintf("direct-%d", s.directRuns))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	if s.relay == "" {
		s.relay = buildRelay(b, s.dir)
	}
	args := append(slices.Clone(s.qemuArgs), "-no-user-config", "-nodefaults", "-display", "none",
		"-drive", "file="+s.raw+",format=raw,if=virtio,cache=writeback", "-snapshot",
		"-netdev", fmt.Sprintf("user,id=net0,net=169.254.0.0/16,hostfwd=tcp:127.0.0.1:%d-:22,guestfwd=tcp:169.254.169.254:80-cmd:%s 127.0.0.1:%d", port, s.relay, s.imdsPort),
		"-device", "virtio-net-pci,netdev=net0,romfile=,mac="+s.mac, "-serial", "file:"+filepath.Join(dir, "console"))
	cmd := exec.Command("qemu-system-x86_64", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	g := guest{host: "127.0.0.1", port: port}
	g.stop = func() { cmd.Process.Kill(); <-exited }
	select {
	case <-exited:
		b.Fatalf("qemu-system-x86_64 %s: exited at once:\n%s", strings.Join(args, " "), out.String())
	case <-time.After(time.Second):
	}
	g.login = s.waitLogin(g, t0, filepath.Join(dir, "console"))
	return g
}

// sshArgs are ssh's and scp's options for the guest (scp takes the port
// as -P).
func (s *sshBench) sshArgs(portFlag string, g guest) []string {
	return []string{"-F", "/dev/null", "-i", s.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", portFlag, strconv.Itoa(g.port)}
}

// waitLogin tries `ssh … true` every 0.5 s until it succeeds, and
// returns the time since t0.
func (s *sshBench) waitLogin(g guest, t0 time.Time, console string) time.Duration {
	for {
		cmd := exec.Command("ssh", append(s.sshArgs("-p", g), "admin@"+g.host, "true")...)
		if err := cmd.Run(); err == nil {
			return time.Since(t0)
		}
		if time.Since(t0) > 15*time.Minute {
			text, _ := os.ReadFile(console)
			s.b.Fatalf("no SSH login to %s:%d within 15 minutes; console:\n%s", g.host, g.port, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// scp copies file into the guest at dst and returns the seconds it took
// and openami's peak RSS meanwhile, in MB.
func (s *sshBench) scp(g guest, file, dst string) (float64, float64) {
	pid := strconv.Itoa(s.t.pid)
	// Reset the peak RSS (VmHWM) to the RSS of now.
	if err := os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0); err != nil {
		s.b.Fatalf("reset openami's peak RSS: %v", err)
	}
	t0 := time.Now()
	out, err := exec.Command("scp", append(s.sshArgs("-P", g), file, "admin@"+g.host+":"+dst)...).CombinedOutput()
	if err != nil {
		s.b.Fatalf("scp to %s:%d: %v\n%s", g.host, g.port, err, out)
	}
	return time.Since(t0).Seconds(), float64(procStatusKB(pid, "VmHWM")) / 1024
}

// vmArgs returns the options of a running VM of openami's that make its
// size, accelerator, machine and SMBIOS tables, from its command line,
// the accelerator, and its NIC's MAC address.
func vmArgs(b *testing.B, pidFile string) ([]string, string, string) {
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/cmdline")
	if err != nil {
		b.Fatal(err)
	}
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	var out []string
	var accel, mac string
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] == "-device" && strings.HasPrefix(argv[i+1], "virtio-net-pci,") {
			for _, opt := range strings.Split(argv[i+1], ",") {
				if v, ok := strings.CutPrefix(opt, "mac="); ok {
					mac = v
				}
			}
		}
		switch argv[i] {
		case "-accel", "-cpu", "-smp", "-m", "-machine", "-smbios", "-rtc":
			out = append(out, argv[i], argv[i+1])
			if argv[i] == "-accel" {
				accel = argv[i+1]
			}
			i++
		}
	}
	if accel == "" {
		b.Fatalf("openami's VM's command line has no -accel: %q", argv)
	}
	if mac == "" {
		b.Fatalf("openami's VM's command line has no virtio-net-pci with a mac=: %q", argv)
	}
	return out, accel, mac
}

// blobReadBytes is what openami has read from its block store so far.
func blobReadBytes(b *testing.B, t *target) int64 {
	resp, err := http.Get(t.endpoint + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, `openami_blob_read_bytes_total{region="us-east-1"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("/metrics: %q", line)
			}
			return int64(f)
		}
	}
	return 0
}
