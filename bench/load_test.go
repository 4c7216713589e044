package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/jackc/pgx/v5"
	"github.com/openami/openami/internal/testenv"
)

// keyPairs is how many key pairs, each with two tags, every target holds
// when DescribeKeyPairs is measured.
const keyPairs = 20

// defaultClients are the numbers of concurrent clients each call is
// measured with; BENCH_CLIENTS=1,4 overrides them.
var defaultClients = []int{1, 8, 32}

// call is one API call under load.
type call struct {
	name string
	do   func(ctx context.Context, c *ec2.Client) error
}

var calls = []call{
	{"DescribeRegions", func(ctx context.Context, c *ec2.Client) error {
		out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err == nil && len(out.Regions) == 0 {
			err = errors.New("DescribeRegions returned no regions")
		}
		return err
	}},
	{"DescribeKeyPairs", func(ctx context.Context, c *ec2.Client) error {
		out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err == nil && len(out.KeyPairs) != keyPairs {
			err = fmt.Errorf("DescribeKeyPairs returned %d key pairs, want %d", len(out.KeyPairs), keyPairs)
		}
		return err
	}},
}

// result is the measurement of one call at one concurrency on one target:
// the last, longest run the benchmark framework made of it.
type result struct {
	target, call string
	clients      int
	requests     int
	elapsed      time.Duration
	p50, p99     time.Duration
	srvCPU       time.Duration // server process CPU time during the run
	genCPU       time.Duration // the load generator's (this process's) CPU time during the run
	dbCPU        time.Duration // PostgreSQL's CPU time during the run (postgres target)
	srvHWM       int64         // server's peak RSS so far, kB
	dbPSS        int64         // PostgreSQL's PSS at the end of the run, kB
	dbConns      int64         // connections openami opened to PostgreSQL during the run
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// BenchmarkAPI measures DescribeRegions and DescribeKeyPairs, with 1, 8
// and 32 concurrent aws-sdk-go-v2 clients, against the openami binary on
// SQLite, the openami binary on PostgreSQL, and moto_server, one after the
// other, each server in its own process on loopback. b.N is the number of
// requests of a run, spread over the clients; each run reports its rate,
// latency percentiles and the server's peak RSS and CPU time per request.
// At the end it prints a summary table with ratios against moto.
func BenchmarkAPI(b *testing.B) {
	clients := defaultClients
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		clients = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("BENCH_CLIENTS=%q: want numbers ≥ 1 separated by commas", v)
			}
			clients = append(clients, n)
		}
	}
	info := machine()
	bin := build(b, b.TempDir())

	var (
		mu      sync.Mutex
		results = map[string]*result{}
		order   []string
		peaks   = map[string]int64{} // target → server VmHWM at its end, kB
	)
	targets := []struct {
		name  string
		start func(*testing.B) *target
	}{
		{"openami-sqlite", func(b *testing.B) *target { return startOpenami(b, bin, "openami-sqlite") }},
		{"openami-postgres", func(b *testing.B) *target { return startPostgres(b, bin) }},
		{"moto", startMoto},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			t := tg.start(b)
			t.name = tg.name
			client := newClient(t)
			seed(b, client)
			for _, c := range calls {
				b.Run(c.name, func(b *testing.B) {
					for _, n := range clients {
						b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
							r := run(b, t, client, c, n)
							key := fmt.Sprintf("%s %s %d", t.name, c.name, n)
							mu.Lock()
							if results[key] == nil {
								order = append(order, key)
							}
							results[key] = &r
							mu.Unlock()
						})
					}
				})
			}
			peaks[t.name] = procStatusKB(strconv.Itoa(t.pid), "VmHWM")
		})
	}

	var rs []result
	for _, k := range order {
		rs = append(rs, *results[k])
	}
	table := summary(info, rs, peaks, procStatusKB("self", "VmHWM"))
	fmt.Print("\n" + table)
	if path := os.Getenv("BENCH_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// newClient returns an EC2 client for the target, shared by all workers as
// an application would share it, with retries off (a retry would hide an
// error and distort latency) and enough idle connections for every worker.
//
// Its HTTP client hides the request body's WriteTo method from net/http,
// to work around a race in smithy-go (the SDK's transport layer): the SDK
// closes the request body as soon as the response headers arrive, and
// from then on the body's WriteTo returns io.EOF. net/http's write loop,
// which after sending a body of known length probes it once more for extra
// bytes, takes that io.EOF for a failed write when the server answered
// before the probe — which a fast server on loopback does — and closes the
// connection under the response still being read. Any response larger
// than the transport's 4 KiB read buffer (DescribeKeyPairs with 20 key
// pairs is 7 KiB) then fails with "deserialization failed, failed to
// decode response body, ... use of closed network connection" (the same
// symptom as aws/aws-sdk-go-v2#1825 and #2935). Through Read, a closed
// body ends with (0, io.EOF), which io.Copy takes for the end it is.
func newClient(t *target) *ec2.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 512
		tr.MaxIdleConnsPerHost = 512
	})
	return ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(t.key, t.secret, ""),
		BaseEndpoint: aws.String(t.endpoint),
		HTTPClient:   testenv.ReadOnlyBody{Client: hc},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// seed creates the key pairs DescribeKeyPairs returns, each tagged Name
// and owner, and checks that the target returns them.
func seed(b *testing.B, c *ec2.Client) {
	b.Helper()
	ctx := context.Background()
	for i := range keyPairs {
		name := fmt.Sprintf("bench-%02d", i)
		_, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{
			KeyName: aws.String(name),
			// ed25519 keeps the setup short; the type does not change
			// what DescribeKeyPairs returns.
			KeyType: types.KeyTypeEd25519,
			TagSpecifications: []types.TagSpecification{{
				ResourceType: types.ResourceTypeKeyPair,
				Tags: []types.Tag{
					{Key: aws.String("Name"), Value: aws.String(name)},
					{Key: aws.String("owner"), Value: aws.String("bench")},
				},
			}},
		})
		if err != nil {
			b.Fatalf("CreateKeyPair %s: %v", name, err)
		}
	}
	out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		b.Fatal(err)
	}
	if len(out.KeyPairs) != keyPairs {
		b.Fatalf("DescribeKeyPairs returned %d key pairs after seeding, want %d", len(out.KeyPairs), keyPairs)
	}
	for _, k := range out.KeyPairs {
		if len(k.Tags) != 2 {
			b.Fatalf("key pair %s has tags %v, want Name and owner", aws.ToString(k.KeyName), k.Tags)
		}
	}
}

// run sends b.N requests of the call from the given number of concurrent
// workers, each sending its next request when its last one is answered,
// and reports the rate, the latency percentiles and the server's resources.
func run(b *testing.B, t *target, c *ec2.Client, cl call, workers int) result {
	ctx := context.Background()
	pid := strconv.Itoa(t.pid)
	lat := make([]time.Duration, b.N)
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	srv0, db0, gen0 := procCPU(pid), pgCPU(t.pgDir), procCPU("self")
	var sessions0 int64
	if t.dsn != "" {
		sessions0 = pgSessions(b, t.dsn)
	}
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(lat)) {
					return
				}
				t0 := time.Now()
				err := cl.do(ctx, c)
				lat[i] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("%s on %s with %d clients: %v", cl.name, t.name, workers, firstErr)
	}

	r := result{
		target: t.name, call: cl.name, clients: workers,
		requests: b.N, elapsed: elapsed,
		srvCPU: procCPU(pid) - srv0,
		genCPU: procCPU("self") - gen0,
		srvHWM: procStatusKB(pid, "VmHWM"),
	}
	slices.Sort(lat)
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	b.ReportMetric(r.rate(), "req/s")
	b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(r.srvCPU.Microseconds())/float64(b.N), "srv-cpu-µs/req")
	b.ReportMetric(float64(r.srvHWM)/1024, "srv-peakRSS-MB")
	if t.pgDir != "" {
		r.dbCPU = pgCPU(t.pgDir) - db0
		for _, p := range pgProcs(t.pgDir) {
			r.dbPSS += pssKB(p)
		}
		b.ReportMetric(float64(r.dbCPU.Microseconds())/float64(b.N), "pg-cpu-µs/req")
		b.ReportMetric(float64(r.dbPSS)/1024, "pg-PSS-MB")
		// The measuring connection that read sessions0 is one of them.
		r.dbConns = pgSessions(b, t.dsn) - sessions0 - 1
		b.ReportMetric(float64(r.dbConns), "pg-new-conns")
	}
	b.ReportMetric(float64(r.genCPU.Microseconds())/float64(b.N), "gen-cpu-µs/req")
	b.ReportMetric(float64(procStatusKB("self", "VmHWM"))/1024, "gen-peakRSS-MB")
	return r
}

// percentile returns the nearest-rank p-quantile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// pgCPU returns the CPU time used by the PostgreSQL cluster in dir: its
// live processes and the backends its postmaster has reaped.
func pgCPU(dir string) time.Duration {
	var sum time.Duration
	for i, p := range pgProcs(dir) {
		sum += procCPU(p)
		if i == 0 {
			sum += procChildrenCPU(p)
		}
	}
	return sum
}

// summary returns the run's results as Markdown: the machine, one row per
// target, call and concurrency with ratios against moto, and the peak RSS
// of every server and of the load generator.
func summary(info string, rs []result, peaks map[string]int64, genHWM int64) string {
	var s strings.Builder
	s.WriteString(info)
	s.WriteString("\n| target | call | clients | requests | req/s | p50 ms | p99 ms | server CPU µs/req | server peak RSS MB | client CPU µs/req | req/s ÷ moto | moto p99 ÷ p99 |\n")
	s.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	moto := map[string]result{}
	for _, r := range rs {
		if r.target == "moto" {
			moto[fmt.Sprintf("%s %d", r.call, r.clients)] = r
		}
	}
	for _, r := range rs {
		cpu := fmt.Sprintf("%.0f", float64(r.srvCPU.Microseconds())/float64(r.requests))
		if r.target == "openami-postgres" {
			cpu += fmt.Sprintf(" (+%.0f PostgreSQL; %d new connections)", float64(r.dbCPU.Microseconds())/float64(r.requests), r.dbConns)
		}
		rate, tail := "", ""
		if m, ok := moto[fmt.Sprintf("%s %d", r.call, r.clients)]; ok && r.target != "moto" {
			rate = fmt.Sprintf("%.1f×", r.rate()/m.rate())
			tail = fmt.Sprintf("%.1f×", float64(m.p99)/float64(r.p99))
		}
		fmt.Fprintf(&s, "| %s | %s | %d | %d | %.0f | %.2f | %.2f | %s | %.1f | %.0f | %s | %s |\n",
			r.target, r.call, r.clients, r.requests, r.rate(), ms(r.p50), ms(r.p99), cpu, float64(r.srvHWM)/1024,
			float64(r.genCPU.Microseconds())/float64(r.requests), rate, tail)
	}
	s.WriteString("\nPeak RSS (VmHWM) of each server process over its whole run:")
	for _, name := range []string{"openami-sqlite", "openami-postgres", "moto"} {
		if kb, ok := peaks[name]; ok {
			fmt.Fprintf(&s, " %s %.1f MB;", name, float64(kb)/1024)
		}
	}
	for _, r := range slices.Backward(rs) {
		if r.target == "openami-postgres" {
			fmt.Fprintf(&s, " PostgreSQL cluster PSS at the end of its run %.1f MB (not counted above);", float64(r.dbPSS)/1024)
			break
		}
	}
	fmt.Fprintf(&s, " load generator (this test binary) %.1f MB.\n", float64(genHWM)/1024)
	return s.String()
}

// pgSessions returns how many sessions PostgreSQL has counted on the
// database of dsn, this one included.
func pgSessions(b *testing.B, dsn string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// machine describes where the benchmark ran.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%s; %d CPUs (%s); %.1f GiB RAM; %s %s/%s; load average at start %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), model,
		float64(procMemTotalKB())/(1<<20), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
}

func procMemTotalKB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
