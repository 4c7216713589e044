package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/service"
)

// The DescribeImages benchmark. Run it with
//
//	go test -run '^$' -bench Images -benchtime 1x -timeout 20m ./bench/
//
// Every leaf benchmark's operation is one whole measurement (seed a
// server, then time every query), so -benchtime 1x runs each once;
// docs/BENCHMARKS.md ("DescribeImages at scale") describes it and gives
// the latest results.

// The data set. Every account owns imagesPerAccount images in us-east-1;
// image i of an account is named "appA-buildBBB" with A = i/100 and
// BBB = i%100, so that the prefix "appA-" selects 100 of them. Tags, on the
// image's owner's side only: env=prod on every tenth image (i%10 == 0),
// env=test on another tenth (i%10 == 5). Visibility: the images with
// i%100 == 99 (1%) are public; those with i%100 == 50 (1%) are shared with
// the next account (account k shares with k+1, the last with the first).
// The caller is the first account: it sees its own 1000 images, the
// public images of every other account, and the 10 images the last
// account shares with it.
const (
	imagesPerAccount = 1000
	imagesRegion     = "us-east-1"
	seedBatch        = 2000 // images per seeding transaction
)

func imageName(i int) string { return fmt.Sprintf("app%d-build%03d", i/100, i%100) }

func imageTags(i int) []openami.Tag {
	switch i % 10 {
	case 0:
		return []openami.Tag{{Key: "env", Value: "prod"}}
	case 5:
		return []openami.Tag{{Key: "env", Value: "test"}}
	}
	return nil
}

func imagePublic(i int) bool { return i%100 == 99 }
func imageShared(i int) bool { return i%100 == 50 }

// imageSet is what the queries need to know about a seeded target.
type imageSet struct {
	accounts int
	caller   string   // the caller's account id
	key      string   // its access key (openami)
	secret   string   //
	sharer   string   // the account that shares images with the caller
	own      []string // the caller's image ids
	seedTime time.Duration
}

func (s imageSet) total() int { return s.accounts * imagesPerAccount }

// imageQuery is one DescribeImages request shape. want is the number of
// images openami must return (moto returns what it returns; the count is
// reported).
type imageQuery struct {
	name  string
	input func(s imageSet, k int) *ec2.DescribeImagesInput
	want  func(s imageSet) int
}

var imageQueries = []imageQuery{
	{"by-id", func(s imageSet, k int) *ec2.DescribeImagesInput {
		// A different image each time, spread over the caller's.
		return &ec2.DescribeImagesInput{ImageIds: []string{s.own[(k*37)%len(s.own)]}}
	}, func(imageSet) int { return 1 }},
	{"owner-self", func(s imageSet, k int) *ec2.DescribeImagesInput {
		return &ec2.DescribeImagesInput{Owners: []string{"self"}, MaxResults: aws.Int32(100)}
	}, func(imageSet) int { return 100 }},
	{"owner-other", func(s imageSet, k int) *ec2.DescribeImagesInput {
		return &ec2.DescribeImagesInput{Owners: []string{s.sharer}, MaxResults: aws.Int32(100)}
	}, func(s imageSet) int {
		if s.accounts == 1 {
			return 0
		}
		return imagesPerAccount / 100 * 2 // its public and its shared images
	}},
	{"name-prefix+tag", func(s imageSet, k int) *ec2.DescribeImagesInput {
		return &ec2.DescribeImagesInput{Filters: []types.Filter{
			{Name: aws.String("name"), Values: []string{fmt.Sprintf("app%d-*", k%(imagesPerAccount/100))}},
			{Name: aws.String("tag:env"), Values: []string{"prod"}},
		}}
	}, func(imageSet) int { return 10 }},
}

// imageResult is one query's latencies on one target at one scale.
type imageResult struct {
	target   string
	images   int // images in the store
	query    string
	returned int // images in the last response
	n        int
	p50, p99 time.Duration
	mean     time.Duration
	srvCPU   time.Duration // server CPU over the n requests
	dbCPU    time.Duration // PostgreSQL's
	genCPU   time.Duration // the load generator's
}

// imageRun is one seeded server: its queries and its resources.
type imageRun struct {
	target  string
	images  int
	seed    time.Duration
	srvHWM  int64 // server's VmHWM at the end, kB
	dbPSS   int64 // PostgreSQL's PSS at the end, kB
	dbBytes int64 // size of the metadata: metadata.db* or the PostgreSQL database
	results []imageResult
}

// BenchmarkImages measures DescribeImages through the API, one request at
// a time from one aws-sdk-go-v2 client, with many registered images:
// openami on SQLite and on PostgreSQL seeded through the metadata store
// before the server starts (at moto's scale and at 100 accounts × 1000
// images), and moto_server seeded through its API, each in its own
// process. It prints a Markdown table at the end.
func BenchmarkImages(b *testing.B) {
	iters := intsEnv(b, "BENCH_IMAGES_ITERS", []int{200})[0]
	fullAccounts := intsEnv(b, "BENCH_IMAGES_ACCOUNTS", []int{100})[0]
	motoAccounts := intsEnv(b, "BENCH_IMAGES_MOTO_ACCOUNTS", []int{5})[0]
	info := machine()
	bin := build(b, b.TempDir())
	var runs []imageRun

	scales := []int{motoAccounts}
	if fullAccounts != motoAccounts {
		scales = append(scales, fullAccounts)
	}
	for _, store := range []string{"openami-sqlite", "openami-postgres"} {
		for _, accounts := range scales {
			b.Run(fmt.Sprintf("%s/images=%d", store, accounts*imagesPerAccount), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					dataDir := b.TempDir()
					dsn := ""
					if store == "openami-postgres" {
						dsn = testenv.Postgres(b)
					}
					set := seedOpenami(b, dataDir, dsn, accounts)
					var args []string
					if dsn != "" {
						args = []string{"--database", dsn}
					}
					t := startOpenamiIn(b, bin, store, dataDir, args...)
					if dsn != "" {
						if m := regexp.MustCompile(`host=(\S+)`).FindStringSubmatch(dsn); m != nil {
							t.pgDir = m[1]
						}
						t.dsn = dsn
					}
					c := imagesClient(t.endpoint, set.key, set.secret, "")
					waitIdle(b, t)
					b.StartTimer()
					r := measureImages(b, t, c, set, iters, true)
					b.StopTimer()
					r.seed = set.seedTime
					r.srvHWM = procStatusKB(strconv.Itoa(t.pid), "VmHWM")
					for _, p := range pgProcs(t.pgDir) {
						r.dbPSS += pssKB(p)
					}
					r.dbBytes = metadataBytes(b, dataDir, dsn)
					stop(t.cmd)
					b.StartTimer()
					report(b, r)
					runs = append(runs, r)
				}
			})
		}
	}
	b.Run(fmt.Sprintf("moto/images=%d", motoAccounts*imagesPerAccount), func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			// moto's own catalogue of public Amazon images would add
			// hundreds of images to every account's listings; openami has
			// none, so leave them out.
			b.Setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
			t := startMoto(b)
			set := seedMoto(b, t, motoAccounts)
			c := imagesClient(t.endpoint, t.key, t.secret, set.caller)
			b.StartTimer()
			r := measureImages(b, t, c, set, iters, false)
			b.StopTimer()
			r.seed = set.seedTime
			r.srvHWM = procStatusKB(strconv.Itoa(t.pid), "VmHWM")
			b.StartTimer() // startMoto stops moto when b ends
			report(b, r)
			runs = append(runs, r)
		}
	})

	table := imagesMarkdown(info, runs)
	fmt.Print("\n" + table)
	if path := os.Getenv("BENCH_IMAGES_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			b.Error(err)
		}
	}
}

func report(b *testing.B, r imageRun) {
	for _, q := range r.results {
		b.ReportMetric(ms(q.p50), q.query+"-p50-ms")
		b.ReportMetric(ms(q.p99), q.query+"-p99-ms")
	}
	b.ReportMetric(float64(r.srvHWM)/1024, "srv-peakRSS-MB")
	b.ReportMetric(r.seed.Seconds(), "seed-s")
}

// imagesClient is newClient's client for given keys, with retries off;
// account, for moto, is sent as x-moto-account-id, the header moto takes
// for the caller's account.
func imagesClient(endpoint, key, secret, account string) *ec2.Client {
	hc := awshttp.NewBuildableClient().WithTimeout(5 * time.Minute).WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 16
		tr.MaxIdleConnsPerHost = 16
	})
	var h aws.HTTPClient = testenv.ReadOnlyBody{Client: hc}
	if account != "" {
		h = motoAccount{h, account}
	}
	return ec2.NewFromConfig(aws.Config{
		Region:       imagesRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   h,
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// motoAccount sends requests to moto as the given account: moto keeps a
// separate EC2 backend per account and picks it from this header (when
// MOTO_ACCOUNT_ID is not set).
type motoAccount struct {
	c       aws.HTTPClient
	account string
}

func (m motoAccount) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("x-moto-account-id", m.account)
	return m.c.Do(r)
}

// seedOpenami fills a new openami data directory (and, with dsn, a new
// PostgreSQL database) with accounts × imagesPerAccount images, through
// the metadata store directly, as the server would have recorded them:
// accounts through the service (so their access keys are sealed with the
// data directory's key), images with tx.Images().Create, tags with
// tx.Tags().Set and shares with tx.Images().AddPermissions, seedBatch
// images per transaction. Every image maps its root device to a snapshot
// id that does not exist: DescribeImages does not look at snapshots.
func seedOpenami(b *testing.B, dataDir, dsn string, accounts int) imageSet {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	key, err := seal.LoadOrCreate(dataDir)
	if err != nil {
		b.Fatal(err)
	}
	var store metadata.Store
	if dsn == "" {
		store, err = sqlite.Open(filepath.Join(dataDir, "metadata.db"))
	} else {
		store, err = postgres.Open(ctx, dsn)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	regions, err := identity.ParseRegions(identity.DefaultRegions)
	if err != nil {
		b.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		if blobs[r.Name], err = dir.New(filepath.Join(dataDir, "blocks", r.Name)); err != nil {
			b.Fatal(err)
		}
	}
	svc, err := service.New(ctx, service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs})
	if err != nil {
		b.Fatal(err)
	}
	set := imageSet{accounts: accounts}
	acct := make([]string, accounts)
	for a := range accounts {
		ac, creds, err := svc.Identity().CreateAccount(ctx, fmt.Sprintf("bench-%03d", a), false)
		if err != nil {
			b.Fatal(err)
		}
		acct[a] = ac.ID
		if a == 0 {
			set.caller, set.key, set.secret = ac.ID, creds.AccessKeyID, creds.SecretAccessKey
		}
	}
	set.sharer = acct[accounts-1]

	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	total := accounts * imagesPerAccount
	// One transaction at a time: SQLite has one writer, and concurrent
	// serializable transactions on PostgreSQL conflict and retry (three
	// at once took twice as long as one).
	const workers = 1
	batches := (total + seedBatch - 1) / seedBatch
	own := make([][]string, batches)
	var (
		next   atomic.Int64
		failed atomic.Bool
		errs   = make([]error, batches)
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				k := int(next.Add(1) - 1)
				if k >= batches {
					return
				}
				start, end := k*seedBatch, min((k+1)*seedBatch, total)
				errs[k] = store.Update(ctx, func(tx metadata.Tx) error {
					own[k] = nil
					for n := start; n < end; n++ {
						a, i := n/imagesPerAccount, n%imagesPerAccount
						img := benchImage(acct[a], i, created.Add(time.Duration(n)*time.Second))
						if err := tx.Images().Create(img); err != nil {
							return err
						}
						if tags := imageTags(i); tags != nil {
							if err := tx.Tags().Set(imagesRegion, acct[a], img.ID, openami.ResourceImage, tags); err != nil {
								return err
							}
						}
						if imageShared(i) && accounts > 1 {
							p := []openami.LaunchPermission{{AccountID: acct[(a+1)%accounts]}}
							if err := tx.Images().AddPermissions(img.ID, p); err != nil {
								return err
							}
						}
						if a == 0 {
							own[k] = append(own[k], img.ID)
						}
					}
					return nil
				})
				if errs[k] != nil {
					errs[k] = fmt.Errorf("seeding images %d–%d: %w", start, end, errs[k])
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for k := range batches {
		if errs[k] != nil {
			b.Fatal(errs[k])
		}
		set.own = append(set.own, own[k]...)
	}
	if dsn != "" {
		// Statistics, as autovacuum would have gathered them on a server
		// that registered these images over time.
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, err = conn.Exec(ctx, "ANALYZE")
		conn.Close(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
	set.seedTime = time.Since(t0)
	b.Logf("seeded %d images in %d accounts in %.1fs", total, accounts, set.seedTime.Seconds())
	return set
}

// benchImage is image i of an account, as RegisterImage would record it
// with an 8 GiB gp3 root volume.
func benchImage(account string, i int, created time.Time) openami.Image {
	name := imageName(i)
	return openami.Image{
		ID: ids.New("ami"), Region: imagesRegion, AccountID: account, Name: name,
		Description: "bench image " + name, State: openami.ImageAvailable,
		Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
		ImageType: "machine", ImageLocation: account + "/" + name, BootMode: "uefi-preferred", EnaSupport: true,
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{
			SnapshotID: ids.New("snap"), VolumeSize: 8, VolumeType: "gp3", Iops: 3000, Throughput: 125, DeleteOnTermination: true,
		}}},
		CreatedAt: created, DeregistrationProtection: openami.DeregistrationProtection{State: "disabled"}, Public: imagePublic(i),
	}
}

// seedMoto registers accounts × imagesPerAccount images in moto through
// its API, from 4 concurrent clients: RegisterImage (moto records Name
// and Description only, and makes a snapshot for each image), CreateTags
// for 100 images at a time, and ModifyImageAttribute for the public and
// shared ones. Its accounts are 12-digit ids sent as x-moto-account-id.
func seedMoto(b *testing.B, t *target, accounts int) imageSet {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	acct := make([]string, accounts)
	for a := range accounts {
		acct[a] = strconv.Itoa(100000000000 + a*1111)
	}
	set := imageSet{accounts: accounts, caller: acct[0], sharer: acct[accounts-1]}
	clients := make([]*ec2.Client, accounts)
	for a := range accounts {
		clients[a] = imagesClient(t.endpoint, t.key, t.secret, acct[a])
	}
	idsOf := make([][]string, accounts)
	for a := range accounts {
		idsOf[a] = make([]string, imagesPerAccount)
	}
	const workers = 4
	var (
		next    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	total := int64(accounts * imagesPerAccount)
	for range workers {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= total || failed.Load() {
					return
				}
				a, i := int(n)/imagesPerAccount, int(n)%imagesPerAccount
				name := imageName(i)
				out, err := clients[a].RegisterImage(ctx, &ec2.RegisterImageInput{
					Name: aws.String(name), Description: aws.String("bench image " + name),
					Architecture: types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"),
					VirtualizationType: aws.String("hvm"),
				})
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("RegisterImage: %w", err) })
					failed.Store(true)
					return
				}
				idsOf[a][i] = aws.ToString(out.ImageId)
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	for a := range accounts {
		c := clients[a]
		for _, env := range []struct {
			value string
			rest  int
		}{{"prod", 0}, {"test", 5}} {
			var tagged []string
			for i := range imagesPerAccount {
				if i%10 == env.rest {
					tagged = append(tagged, idsOf[a][i])
				}
			}
			for len(tagged) > 0 {
				batch := tagged[:min(100, len(tagged))]
				tagged = tagged[len(batch):]
				_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: batch, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String(env.value)}}})
				if err != nil {
					b.Fatalf("CreateTags: %v", err)
				}
			}
		}
		for i := range imagesPerAccount {
			var lp types.LaunchPermission
			switch {
			case imagePublic(i):
				lp.Group = types.PermissionGroupAll
			case imageShared(i) && accounts > 1:
				lp.UserId = aws.String(acct[(a+1)%accounts])
			default:
				continue
			}
			_, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId: aws.String(idsOf[a][i]), LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{lp}},
			})
			if err != nil {
				b.Fatalf("ModifyImageAttribute: %v", err)
			}
		}
	}
	set.own = idsOf[0]
	set.seedTime = time.Since(t0)
	b.Logf("seeded moto with %d images in %d accounts in %.1fs (%.0f RegisterImage/s)", total, accounts,
		set.seedTime.Seconds(), float64(total)/set.seedTime.Seconds())
	return set
}

// measureImages times every query: 10 warm-up requests (or as many as
// fit in 2 s), then iters requests one after the other from one client,
// query by query; a query stops early, after at least 30 requests, once
// it has run for BENCH_IMAGES_QUERY_SECONDS (20 s: moto's owner-self). strict
// checks the number of images each response holds (openami); without it
// the count is only recorded (moto).
func measureImages(b *testing.B, t *target, c *ec2.Client, set imageSet, iters int, strict bool) imageRun {
	b.Helper()
	budget := time.Duration(intsEnv(b, "BENCH_IMAGES_QUERY_SECONDS", []int{20})[0]) * time.Second
	ctx := context.Background()
	pid := strconv.Itoa(t.pid)
	r := imageRun{target: t.name, images: set.total()}
	for _, q := range imageQueries {
		lat := make([]time.Duration, 0, iters)
		var srv0, db0, gen0 time.Duration
		returned := 0
		// Up to 10 warm-up requests (at most 2 s of them), then iters
		// requests, or fewer (at least 30) if they take over budget.
		warm, began := 10, time.Now()
		for k := 0; len(lat) < iters; k++ {
			if k < warm && time.Since(began) > 2*time.Second {
				warm = k
			}
			if k == warm {
				srv0, db0, gen0 = procCPU(pid), pgCPU(t.pgDir), procCPU("self")
				began = time.Now()
			}
			if k > warm && len(lat) >= 30 && time.Since(began) > budget {
				break
			}
			t0 := time.Now()
			out, err := c.DescribeImages(ctx, q.input(set, k))
			d := time.Since(t0)
			if err != nil {
				b.Fatalf("%s %s: %v", t.name, q.name, err)
			}
			returned = len(out.Images)
			if strict && returned != q.want(set) {
				b.Fatalf("%s %s: %d images, want %d", t.name, q.name, returned, q.want(set))
			}
			if strict && q.name == "name-prefix+tag" {
				for _, img := range out.Images {
					if aws.ToString(img.OwnerId) != set.caller || !strings.HasPrefix(aws.ToString(img.Name), fmt.Sprintf("app%d-", k%10)) || len(img.Tags) != 1 {
						b.Fatalf("%s %s: unexpected image %s %s owner %s tags %v", t.name, q.name, aws.ToString(img.ImageId), aws.ToString(img.Name), aws.ToString(img.OwnerId), img.Tags)
					}
				}
			}
			if k >= warm {
				lat = append(lat, d)
			}
		}
		res := imageResult{
			target: r.target, images: r.images, query: q.name, returned: returned, n: len(lat),
			srvCPU: procCPU(pid) - srv0, dbCPU: pgCPU(t.pgDir) - db0, genCPU: procCPU("self") - gen0,
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		slices.Sort(lat)
		res.p50, res.p99, res.mean = percentile(lat, 0.5), percentile(lat, 0.99), sum/time.Duration(len(lat))
		b.Logf("%s, %d images, %s: %d returned, p50 %.2fms p99 %.2fms mean %.2fms, server CPU %.0fµs/req, PostgreSQL %.0fµs/req",
			r.target, r.images, q.name, returned, ms(res.p50), ms(res.p99), ms(res.mean),
			float64(res.srvCPU.Microseconds())/float64(res.n), float64(res.dbCPU.Microseconds())/float64(res.n))
		r.results = append(r.results, res)
	}
	return r
}

// waitIdle waits until the server has used less than 20 ms of CPU in
// 250 ms (at most 20 s): the background pass a server runs when it starts
// (finishing snapshots, emptying the Recycle Bin) reads every image once,
// and would otherwise land on the first query measured.
func waitIdle(b *testing.B, t *target) {
	pid := strconv.Itoa(t.pid)
	t0 := time.Now()
	for time.Since(t0) < 20*time.Second {
		c0 := procCPU(pid)
		time.Sleep(250 * time.Millisecond)
		if procCPU(pid)-c0 < 20*time.Millisecond {
			break
		}
	}
	b.Logf("%s idle %.1fs after it listened, CPU so far %.2fs", t.name, time.Since(t0).Seconds(), procCPU(pid).Seconds())
}

// metadataBytes is the size of the metadata: the SQLite files, or the
// PostgreSQL database.
func metadataBytes(b *testing.B, dataDir, dsn string) int64 {
	if dsn == "" {
		var n int64
		matches, _ := filepath.Glob(filepath.Join(dataDir, "metadata.db*"))
		for _, m := range matches {
			if info, err := os.Stat(m); err == nil {
				n += info.Size()
			}
		}
		return n
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func imagesMarkdown(info string, runs []imageRun) string {
	var s strings.Builder
	s.WriteString(info)
	moto := map[string]imageResult{}
	motoImages := 0
	for _, r := range runs {
		if r.target == "moto" {
			motoImages = r.images
			for _, q := range r.results {
				moto[q.query] = q
			}
		}
	}
	fmt.Fprintf(&s, "\n| target | images | query | returned | requests | p50 ms | p99 ms | mean ms | server CPU µs/req | moto p50 ÷ p50 (moto at %d) | moto p99 ÷ p99 |\n", motoImages)
	s.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range runs {
		for _, q := range r.results {
			cpu := fmt.Sprintf("%.0f", float64(q.srvCPU.Microseconds())/float64(q.n))
			if strings.HasSuffix(r.target, "postgres") {
				cpu += fmt.Sprintf(" (+%.0f PostgreSQL)", float64(q.dbCPU.Microseconds())/float64(q.n))
			}
			r50, r99 := "", ""
			if m, ok := moto[q.query]; ok && r.target != "moto" {
				r50 = fmt.Sprintf("%.1f×", float64(m.p50)/float64(q.p50))
				r99 = fmt.Sprintf("%.1f×", float64(m.p99)/float64(q.p99))
			}
			fmt.Fprintf(&s, "| %s | %d | %s | %d | %d | %.2f | %.2f | %.2f | %s | %s | %s |\n",
				r.target, r.images, q.query, q.returned, q.n, ms(q.p50), ms(q.p99), ms(q.mean), cpu, r50, r99)
		}
	}
	s.WriteString("\n| target | images | seeding s | server peak RSS MB | metadata size MB |\n|---|--:|--:|--:|--:|\n")
	for _, r := range runs {
		size := ""
		if r.dbBytes > 0 {
			size = fmt.Sprintf("%.1f", float64(r.dbBytes)/1e6)
		}
		rss := fmt.Sprintf("%.1f", float64(r.srvHWM)/1024)
		if r.dbPSS > 0 {
			rss += fmt.Sprintf(" (+ PostgreSQL PSS %.1f)", float64(r.dbPSS)/1024)
		}
		fmt.Fprintf(&s, "| %s | %d | %.1f | %s | %s |\n", r.target, r.images, r.seed.Seconds(), rss, size)
	}
	return s.String()
}
