package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// The mixed-load benchmark: many clients writing and reading at once.
// Run it with
//
//	go test -run '^$' -bench MixedLoad -benchtime 1x -timeout 20m ./bench/
//
// BENCH_MIXED_CLIENTS (64), BENCH_MIXED_SECONDS (20) and
// BENCH_MIXED_TARGETS (sqlite; "sqlite,postgres" adds PostgreSQL) change
// the load; BENCH_BASELINE_REF=<git ref> also builds that commit and runs
// it first, on the same machine in the same run, for a before/after
// comparison; BENCH_MIXED_ROUNDS=N (1) runs every build N times,
// alternating, each on a fresh server, and adds a table of medians;
// BENCH_MIXED_PACE_MS=M makes each writing client start a request (or a
// RegisterImage+DeregisterImage pair) at most every M ms, to compare reads
// under the same write load rather than as fast as the writes go; BENCH_MIXED_PPROF=DIR saves a CPU profile and a goroutine
// dump of each server taken in the middle of its run;
// BENCH_MIXED_MARKDOWN=FILE writes the table. docs/BENCHMARKS.md ("Writes
// under load (SQLite)") describes it and gives the latest results.

// mixedRole is what one client of the mixed load does, again and again.
type mixedRole struct {
	name   string
	weight int // clients out of every 8 that take this role
}

// mixedRoles share the clients out: of every 8 clients, 2 upload blocks, 2
// tag, 2 register and deregister images, 1 lists images and 1 key pairs.
var mixedRoles = []mixedRole{
	{"PutSnapshotBlock", 2},
	{"CreateTags", 2},
	{"RegisterImage+DeregisterImage", 2},
	{"DescribeImages", 1},
	{"DescribeKeyPairs", 1},
}

// mixedActions are the actions measured, in the order they are reported.
var mixedActions = []string{"PutSnapshotBlock", "CreateTags", "RegisterImage", "DeregisterImage", "DescribeImages", "DescribeKeyPairs"}

// mixedSnapshots is how many pending snapshots the uploaders share.
const mixedSnapshots = 4

// mixedStats are one action's latencies and errors over a run.
type mixedStats struct {
	lat      []time.Duration
	errs     int
	firstErr string
}

// mixedResult is one target's run.
type mixedResult struct {
	target  string
	round   int
	clients int
	elapsed time.Duration
	actions map[string]*mixedStats
	srvCPU  time.Duration
	genCPU  time.Duration // the load generator's (this process's) CPU time
	srvHWM  int64         // server VmHWM at the end, kB
}

// BenchmarkMixedLoad runs BENCH_MIXED_CLIENTS concurrent aws-sdk-go-v2
// clients for BENCH_MIXED_SECONDS against the openami binary, each in a
// fixed role (see mixedRoles): PutSnapshotBlock of fresh random 512 KiB
// blocks into a few pending snapshots, CreateTags on a few images,
// RegisterImage then DeregisterImage of a new image over a completed
// snapshot, DescribeImages, DescribeKeyPairs. Each client sends its next
// request when its last is answered (writers at most every
// BENCH_MIXED_PACE_MS, when it is set). It reports each action's client-side
// p50 and p99, errors and rate, and the server's peak RSS and CPU time.
func BenchmarkMixedLoad(b *testing.B) {
	clients := intsEnv(b, "BENCH_MIXED_CLIENTS", []int{64})[0]
	seconds := intsEnv(b, "BENCH_MIXED_SECONDS", []int{20})[0]
	rounds := intsEnv(b, "BENCH_MIXED_ROUNDS", []int{1})[0]
	var paceMS int
	if os.Getenv("BENCH_MIXED_PACE_MS") != "" {
		paceMS = intsEnv(b, "BENCH_MIXED_PACE_MS", nil)[0]
	}
	targets := []string{"sqlite"}
	if v := os.Getenv("BENCH_MIXED_TARGETS"); v != "" {
		targets = strings.Split(v, ",")
	}
	info := machine()
	tmp := b.TempDir()
	type variant struct{ label, bin string }
	var builds []variant
	if ref := os.Getenv("BENCH_BASELINE_REF"); ref != "" {
		builds = append(builds, variant{"before (" + ref + ")", buildRef(b, tmp, ref)})
	}
	head := "this tree"
	if out, err := exec.Command("git", "-C", repoRoot(), "rev-parse", "--short", "HEAD").Output(); err == nil {
		head = "after (" + strings.TrimSpace(string(out)) + "+tree)"
	}
	builds = append(builds, variant{head, buildInto(b, filepath.Join(tmp, "head"))})

	var results []mixedResult
	for _, tg := range targets {
		// Rounds alternate the builds, so that both see the same spells
		// of load from whatever else runs on the machine.
		for round := 1; round <= rounds; round++ {
			for _, bd := range builds {
				name := fmt.Sprintf("%s/%s", tg, bd.label)
				b.Run(fmt.Sprintf("%s/round=%d", strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(name), round), func(b *testing.B) {
					for range b.N {
						var t *target
						switch tg {
						case "sqlite":
							t = startOpenami(b, bd.bin, "openami-sqlite", "--debug-listen", "127.0.0.1:0")
						case "postgres":
							t = startPostgres(b, bd.bin)
						default:
							b.Fatalf("BENCH_MIXED_TARGETS: unknown target %q", tg)
						}
						t.name = name
						r := mixedRun(b, t, clients, time.Duration(seconds)*time.Second, time.Duration(paceMS)*time.Millisecond)
						stop(t.cmd)
						r.round = round
						for _, a := range mixedActions {
							st := r.actions[a]
							slices.Sort(st.lat)
							b.ReportMetric(ms(percentile(st.lat, 0.99)), a+"-p99-ms")
						}
						b.ReportMetric(float64(r.srvHWM)/1024, "srv-peakRSS-MB")
						results = append(results, r)
					}
				})
			}
		}
	}
	table := mixedMarkdown(info, results)
	fmt.Print("\n" + table)
	if path := os.Getenv("BENCH_MIXED_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// buildInto builds ./cmd/openami of this tree into dir.
func buildInto(b *testing.B, dir string) string {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return build(b, dir)
}

// buildRef builds ./cmd/openami as of a git ref, from `git archive` of it
// unpacked under tmp, and returns the binary's path.
func buildRef(b *testing.B, tmp, ref string) string {
	b.Helper()
	src := filepath.Join(tmp, "ref-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	sh := fmt.Sprintf("git -C %q archive %q | tar -x -C %q", repoRoot(), ref, src)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		b.Fatalf("git archive %s: %v\n%s", ref, err, out)
	}
	bin := filepath.Join(tmp, "openami-ref")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/openami")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/openami at %s: %v\n%s", ref, err, out)
	}
	return bin
}

// mixedRun seeds the target and runs the mixed load on it for d.
func mixedRun(b *testing.B, t *target, clients int, d, pace time.Duration) mixedResult {
	b.Helper()
	ctx := context.Background()
	cfg := blockConfig(t, "us-east-1", clients+8)
	ec, eb := ec2.NewFromConfig(cfg), ebs.NewFromConfig(cfg)

	// Seed: the key pairs DescribeKeyPairs lists, a completed snapshot
	// images are registered over, a few images to tag and list, and the
	// pending snapshots the uploaders write to.
	seed(b, ec)
	base := startSnapshot(b, eb, 1)
	putBlocks(b, eb, ec, base, randomBlocks(1, 0, 1, 1))
	var tagImages []string
	for i := range 8 {
		tagImages = append(tagImages, benchImageOf(b, ec, fmt.Sprintf("mixed-tagged-%d", i), base))
	}
	var pending []string
	for range mixedSnapshots {
		pending = append(pending, startSnapshot(b, eb, 1024))
	}

	roles := make([]string, 0, clients)
	for len(roles) < clients {
		for _, r := range mixedRoles {
			for range r.weight {
				if len(roles) < clients {
					roles = append(roles, r.name)
				}
			}
		}
	}
	// Buffers of random bytes; each block is one of them with a fresh
	// counter in its first 16 bytes, so no two blocks are the same
	// (identical blocks would be stored once and cost less).
	var bufs [][]byte
	rng := rand.NewChaCha8([32]byte{'m', 'i', 'x', 'e', 'd'})
	for range 8 {
		buf := make([]byte, blockSize)
		rng.Read(buf)
		bufs = append(bufs, buf)
	}

	stats := map[string]*mixedStats{}
	for _, a := range mixedActions {
		stats[a] = &mixedStats{}
	}
	var (
		mu       sync.Mutex
		blockSeq atomic.Int64
		nameSeq  atomic.Int64
		wg       sync.WaitGroup
	)
	record := func(local map[string]*mixedStats) {
		mu.Lock()
		defer mu.Unlock()
		for a, s := range local {
			st := stats[a]
			st.lat = append(st.lat, s.lat...)
			st.errs += s.errs
			if st.firstErr == "" {
				st.firstErr = s.firstErr
			}
		}
	}
	pprofDir := os.Getenv("BENCH_MIXED_PPROF")
	if pprofDir != "" {
		wg.Go(func() { saveProfiles(b, t, pprofDir, d) })
	}
	pid := strconv.Itoa(t.pid)
	srv0, gen0 := procCPU(pid), procCPU("self")
	deadline := time.Now().Add(d)
	start := time.Now()
	for w, role := range roles {
		wg.Go(func() {
			local := map[string]*mixedStats{}
			do := func(action string, f func() error) {
				s := local[action]
				if s == nil {
					s = &mixedStats{}
					local[action] = s
				}
				t0 := time.Now()
				err := f()
				s.lat = append(s.lat, time.Since(t0))
				if err != nil {
					s.errs++
					if s.firstErr == "" {
						s.firstErr = err.Error()
					}
				}
			}
			block := make([]byte, blockSize)
			next := time.Now()
			for time.Now().Before(deadline) {
				if pace > 0 && !strings.HasPrefix(role, "Describe") {
					// A paced writer starts its requests at most every
					// pace, so that the offered write load is the same
					// whatever the server's speed.
					time.Sleep(time.Until(next))
					next = next.Add(pace)
					if !time.Now().Before(deadline) {
						break
					}
				}
				switch role {
				case "PutSnapshotBlock":
					n := blockSeq.Add(1)
					copy(block, bufs[n%int64(len(bufs))])
					binary.LittleEndian.PutUint64(block, uint64(n))
					binary.LittleEndian.PutUint64(block[8:], uint64(w))
					sum := sha256.Sum256(block)
					snap := pending[n%mixedSnapshots]
					index := int32((n / mixedSnapshots) % (1024 << 30 / blockSize))
					do("PutSnapshotBlock", func() error {
						_, err := eb.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
							SnapshotId: aws.String(snap), BlockIndex: aws.Int32(index), BlockData: bytes.NewReader(block),
							DataLength: aws.Int32(blockSize), Checksum: aws.String(checksum(sum)),
							ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
						})
						return err
					})
				case "CreateTags":
					n := nameSeq.Add(1)
					img := tagImages[n%int64(len(tagImages))]
					do("CreateTags", func() error {
						_, err := ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{img}, Tags: []types.Tag{
							{Key: aws.String(fmt.Sprintf("client-%d", w)), Value: aws.String(strconv.FormatInt(n, 10))},
						}})
						return err
					})
				case "RegisterImage+DeregisterImage":
					name := fmt.Sprintf("mixed-%d", nameSeq.Add(1))
					var id string
					do("RegisterImage", func() error {
						out, err := ec.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
							BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(base), VolumeType: types.VolumeTypeGp3}}}})
						if err == nil {
							id = aws.ToString(out.ImageId)
						}
						return err
					})
					if id != "" {
						do("DeregisterImage", func() error {
							_, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
							return err
						})
					}
				case "DescribeImages":
					do("DescribeImages", func() error {
						_, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
						return err
					})
				case "DescribeKeyPairs":
					do("DescribeKeyPairs", func() error {
						out, err := ec.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
						if err == nil && len(out.KeyPairs) != keyPairs {
							err = fmt.Errorf("DescribeKeyPairs returned %d key pairs, want %d", len(out.KeyPairs), keyPairs)
						}
						return err
					})
				}
			}
			record(local)
		})
	}
	wg.Wait()
	return mixedResult{
		target: t.name, clients: clients, elapsed: time.Since(start), actions: stats,
		srvCPU: procCPU(pid) - srv0, genCPU: procCPU("self") - gen0, srvHWM: procStatusKB(pid, "VmHWM"),
	}
}

// startSnapshot starts a pending snapshot of sizeGiB.
func startSnapshot(b *testing.B, eb *ebs.Client, sizeGiB int64) string {
	b.Helper()
	out, err := eb.StartSnapshot(context.Background(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(sizeGiB), Timeout: aws.Int32(60)})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.SnapshotId)
}

// saveProfiles saves a CPU profile of the middle half of the run and a
// goroutine dump at its middle, from the server's --debug-listen.
func saveProfiles(b *testing.B, t *target, dir string, d time.Duration) {
	addr := debugAddr(t)
	if addr == "" {
		b.Logf("%s: no profiler address in the log", t.name)
		return
	}
	prefix := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "_", "(", "", ")", "", "+", "").Replace(t.name))
	time.Sleep(d / 4)
	get := func(path, file string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			b.Logf("profile %s: %v", path, err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		os.WriteFile(prefix+file, data, 0o644)
	}
	done := make(chan struct{})
	go func() {
		get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(d.Seconds()/2))), ".cpu.pprof")
		close(done)
	}()
	time.Sleep(d / 4)
	get("/debug/pprof/goroutine?debug=1", ".goroutines.txt")
	<-done
}

// debugAddr returns the profiler's address of a target started with
// --debug-listen 127.0.0.1:0. The server logs it after the line
// startOpenamiIn waits for, and that reader discards the rest of the log,
// so it is found instead among the process's listening sockets: the one
// that is not the API's and answers /debug/pprof/.
func debugAddr(t *target) string {
	ports := listeningPorts(t.pid)
	api := t.endpoint[strings.LastIndexByte(t.endpoint, ':')+1:]
	for _, p := range ports {
		if p == api {
			continue
		}
		resp, err := http.Get("http://127.0.0.1:" + p + "/debug/pprof/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return "127.0.0.1:" + p
		}
	}
	return ""
}

// listeningPorts returns the TCP ports pid listens on.
func listeningPorts(pid int) []string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(s, "]")] = true
		}
	}
	var ports []string
	for _, f := range []string{"tcp", "tcp6"} {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" && inodes[fs[9]] {
				_, hex, _ := strings.Cut(fs[1], ":")
				if n, err := strconv.ParseInt(hex, 16, 32); err == nil {
					ports = append(ports, strconv.FormatInt(n, 10))
				}
			}
		}
	}
	return ports
}

// mixedMarkdown returns the runs as Markdown: one row per run and action,
// then, when a build ran more than once, the median over its runs of each
// figure.
func mixedMarkdown(info string, rs []mixedResult) string {
	var s strings.Builder
	s.WriteString(info)
	s.WriteString("\n| target | round | action | requests | req/s | errors | p50 ms | p99 ms | max ms | server peak RSS MB |\n|---|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
	type fig struct{ rate, p50, p99 []float64 }
	med := map[string]*fig{} // target + action → figures of its runs
	var order []string
	runs := map[string]int{}
	for _, r := range rs {
		runs[r.target]++
		total := 0
		for _, a := range append(slices.Clone(mixedActions), "writes") {
			var lat []time.Duration
			errs := 0
			if a == "writes" {
				// Every write action together.
				for _, w := range mixedActions[:4] {
					lat = append(lat, r.actions[w].lat...)
					errs += r.actions[w].errs
				}
			} else {
				lat = r.actions[a].lat
				errs = r.actions[a].errs
				total += len(lat)
			}
			slices.Sort(lat)
			var mx time.Duration
			if len(lat) > 0 {
				mx = lat[len(lat)-1]
			}
			rate := float64(len(lat)) / r.elapsed.Seconds()
			p50, p99 := ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99))
			fmt.Fprintf(&s, "| %s | %d | %s | %d | %.1f | %d | %.1f | %.1f | %.1f | |\n", r.target, r.round, a, len(lat), rate, errs, p50, p99, ms(mx))
			k := r.target + "\x00" + a
			if med[k] == nil {
				med[k] = &fig{}
				order = append(order, k)
			}
			med[k].rate = append(med[k].rate, rate)
			med[k].p50 = append(med[k].p50, p50)
			med[k].p99 = append(med[k].p99, p99)
		}
		fmt.Fprintf(&s, "| %s | %d | all (%d clients, %.0f s) | %d | %.1f | | | | | %.1f |\n", r.target, r.round, r.clients, r.elapsed.Seconds(), total, float64(total)/r.elapsed.Seconds(), float64(r.srvHWM)/1024)
	}
	if len(rs) > len(runs) {
		s.WriteString("\nMedians over the rounds:\n\n| target | action | runs | req/s | p50 ms | p99 ms |\n|---|---|--:|--:|--:|--:|\n")
		median := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
		for _, k := range order {
			target, a, _ := strings.Cut(k, "\x00")
			f := med[k]
			fmt.Fprintf(&s, "| %s | %s | %d | %.1f | %.1f | %.1f |\n", target, a, len(f.p99), median(f.rate), median(f.p50), median(f.p99))
		}
	}
	s.WriteString("\nServer peak RSS (VmHWM) and CPU time, and the load generator's CPU time, over each run:")
	for _, r := range rs {
		fmt.Fprintf(&s, " %s round %d: %.1f MB, %.1f s CPU (load generator %.1f s);", r.target, r.round, float64(r.srvHWM)/1024, r.srvCPU.Seconds(), r.genCPU.Seconds())
	}
	fmt.Fprintf(&s, " load generator (this test binary) peak RSS %.1f MB.\n", float64(procStatusKB("self", "VmHWM"))/1024)
	for _, r := range rs {
		for _, a := range mixedActions {
			if st := r.actions[a]; st.firstErr != "" {
				fmt.Fprintf(&s, "\nFirst %s error on %s round %d: %s\n", a, r.target, r.round, st.firstErr)
			}
		}
	}
	return s.String()
}
