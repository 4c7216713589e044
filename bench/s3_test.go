package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openami/openami/internal/testenv"
)

// BenchmarkS3 measures S3 throughput as the issue asks: a 1 GiB object
// (OPENAMI_S3_BENCH_BYTES) put as a multipart upload of 8 parts sent by 8
// goroutines at once, then read back by 8 ranged GETs at once, with
// aws-sdk-go-v2 and its default checksums (a CRC32 of each part, the
// payload's SHA-256 signed, over HTTP), against openami (`openami
// serve`, SQLite, blobs in DATA_DIR) and MinIO (single drive) on the same
// disk, alternating, OPENAMI_S3_BENCH_RUNS times (default 3). It reports
// the medians and each server's peak RSS in each phase (VmHWM, reset
// before each phase through /proc/PID/clear_refs) and CPU time. With
// OPENAMI_S3_BENCH_PROFILE=DIR, openami's CPU profiles of the first
// run's put and get (its --debug-listen) are written to DIR.
//
//	nice go test -run '^$' -bench S3 -benchtime 1x -timeout 30m ./bench/
func BenchmarkS3(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("OPENAMI_S3_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 8*(5<<20) {
			b.Fatalf("OPENAMI_S3_BENCH_BYTES=%q: want at least 40 MiB", v)
		}
		size = n
	}
	runs := 3
	if v := os.Getenv("OPENAMI_S3_BENCH_RUNS"); v != "" {
		runs, _ = strconv.Atoi(v)
	}
	const workers = 8
	part := size / workers
	// One random part's worth of bytes, sent as every part: the client
	// holds 1/8 of the object, and nothing compresses or deduplicates.
	data := make([]byte, part)
	rand.Read(data)

	bin := build(b, b.TempDir())
	profDir := os.Getenv("OPENAMI_S3_BENCH_PROFILE")
	var debug string
	var args []string
	if profDir != "" {
		debug = "127.0.0.1:" + strconv.Itoa(freePort(b))
		args = []string{"--debug-listen", debug}
	}
	oa := startOpenami(b, bin, "openami", args...)
	mn := testenv.MinIO(b)
	servers := []s3Server{
		{name: "openami", pid: oa.pid, client: s3BenchClient(oa.endpoint, oa.key, oa.secret)},
		{name: "MinIO", pid: mn.PID, client: s3BenchClient(mn.Endpoint, mn.AccessKeyID, mn.SecretAccessKey)},
	}
	ctx := context.Background()
	for i := range servers {
		bucket := "bench-" + strings.ToLower(servers[i].name)
		if _, err := servers[i].client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			b.Fatalf("%s: CreateBucket: %v", servers[i].name, err)
		}
		servers[i].bucket = bucket
	}
	if debug != "" {
		// Outside the measured runs: a put and a get, then each again
		// under the profiler.
		s := &servers[0]
		profile(b, debug, filepath.Join(profDir, "s3-put.pprof"), func() { s.upload(b, ctx, "profiled", data, workers) })
		profile(b, debug, filepath.Join(profDir, "s3-get.pprof"), func() { s.download(b, ctx, "profiled", size, workers) })
	}
	for b.Loop() {
		for run := 0; run < runs; run++ {
			for i := range servers {
				s := &servers[i]
				key := fmt.Sprintf("object-%d", run)
				s.put = append(s.put, s.phase(b, func() { s.upload(b, ctx, key, data, workers) }))
				s.get = append(s.get, s.phase(b, func() { s.download(b, ctx, key, size, workers) }))
				if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
					b.Fatalf("%s: DeleteObject: %v", s.name, err)
				}
			}
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n%d MiB objects, %d parts by %d goroutines, %d runs each, medians:\n\n", size>>20, workers, workers, runs)
	report.WriteString("| server | PutObject (multipart) MB/s | GetObject (8 ranges) MB/s | put: peak RSS MB, CPU s | get: peak RSS MB, CPU s |\n|---|--:|--:|--:|--:|\n")
	for _, s := range servers {
		mb := float64(size) / 1e6
		fmt.Fprintf(&report, "| %s | %.0f | %.0f | %.0f, %.1f | %.0f, %.1f |\n", s.name,
			mb/median(secs(s.put)), mb/median(secs(s.get)),
			median(rss(s.put)), median(cpu(s.put)), median(rss(s.get)), median(cpu(s.get)))
	}
	o, m := servers[0], servers[1]
	fmt.Fprintf(&report, "\nopenami ÷ MinIO: put %.2f, get %.2f\n", median(secs(m.put))/median(secs(o.put)), median(secs(m.get))/median(secs(o.get)))
	b.Log(report.String())
	b.ReportMetric(float64(size)/1e6/median(secs(o.put)), "put-MB/s")
	b.ReportMetric(float64(size)/1e6/median(secs(o.get)), "get-MB/s")
}

// profile runs fn twice and writes the CPU profile of the server at
// debug (its --debug-listen) over the second run to path: a profile of a
// second more than the first run took, so that it covers all of it.
func profile(b *testing.B, debug, path string, fn func()) {
	start := time.Now()
	fn()
	took := time.Since(start)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debug, int(took.Seconds())+1))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	fn()
	if err := <-done; err != nil {
		b.Fatalf("profile: %v", err)
	}
}

// s3Server is one server under measure, and its samples.
type s3Server struct {
	name     string
	pid      int
	client   *s3.Client
	bucket   string
	put, get []s3Sample
}

type s3Sample struct {
	wall, cpu time.Duration
	rssKB     int64
}

func secs(ss []s3Sample) []float64 {
	return sampleOf(ss, func(s s3Sample) float64 { return s.wall.Seconds() })
}
func cpu(ss []s3Sample) []float64 {
	return sampleOf(ss, func(s s3Sample) float64 { return s.cpu.Seconds() })
}
func rss(ss []s3Sample) []float64 {
	return sampleOf(ss, func(s s3Sample) float64 { return float64(s.rssKB) / 1024 })
}

func sampleOf(ss []s3Sample, f func(s3Sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	slices.Sort(out)
	return out
}

// phase runs fn and returns its wall time, and the server's CPU time and
// peak RSS over it: VmHWM is reset first (clear_refs 5), so that each
// phase's peak is its own.
func (s *s3Server) phase(b *testing.B, fn func()) s3Sample {
	pid := strconv.Itoa(s.pid)
	if err := os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("%s: cannot reset the peak RSS (%v): the peak is the run's so far", s.name, err)
	}
	cpu0 := procCPU(pid)
	start := time.Now()
	fn()
	return s3Sample{wall: time.Since(start), cpu: procCPU(pid) - cpu0, rssKB: procStatusKB(pid, "VmHWM")}
}

// upload puts key as a multipart upload of workers parts of data, sent
// at once.
func (s *s3Server) upload(b *testing.B, ctx context.Context, key string, data []byte, workers int) {
	mp, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		b.Fatalf("%s: CreateMultipartUpload: %v", s.name, err)
	}
	parts := make([]types.CompletedPart, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			n := int32(i + 1)
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: mp.UploadId, PartNumber: &n,
				Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			if err != nil {
				errs[i] = err
				return
			}
			parts[i] = types.CompletedPart{PartNumber: &n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("%s: UploadPart: %v", s.name, err)
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		b.Fatalf("%s: CompleteMultipartUpload: %v", s.name, err)
	}
}

// download reads key by workers ranged GETs at once.
func (s *s3Server) download(b *testing.B, ctx context.Context, key string, size int64, workers int) {
	part := size / int64(workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			first := int64(i) * part
			last := first + part - 1
			if i == workers-1 {
				last = size - 1
			}
			out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))})
			if err != nil {
				errs[i] = err
				return
			}
			defer out.Body.Close()
			n, err := io.Copy(io.Discard, out.Body)
			if err == nil && n != last-first+1 {
				err = fmt.Errorf("read %d bytes of %d", n, last-first+1)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("%s: GetObject: %v", s.name, err)
		}
	}
}

// s3BenchClient is an S3 client of an endpoint with the SDK's default
// checksums (as config.LoadDefaultConfig resolves them), path-style.
func s3BenchClient(endpoint, key, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(key, secret, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
}
