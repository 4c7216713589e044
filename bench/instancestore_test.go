package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openami/openami/internal/testenv"
)

// The instance-store launch benchmark: issue 15's measure. Run it with
//
//	nice go test -run '^$' -bench InstanceStore -benchtime 1x -timeout 60m ./bench/
//
// It needs what BenchmarkBoot needs. The guest is the test image grown
// to 1 GiB with random data after its partitions (1 GiB of real data).
// One server (`serve --runtime qemu`, the accelerator it picks); the disk
// is ingested as a snapshot and registered as an EBS-backed image, and,
// for each of BENCH_ISTORE_RUNS (3) runs, bundled anew (`openami bundle
// image`: a new tar, so a new digest, so a cold cache), uploaded
// (aws-exec-read) and registered as an instance store-backed image. Each
// run launches, in turn, the EBS-backed image, the instance store-backed
// one (first launch: the bundle fetched, verified, decrypted and unpacked
// into the cache), and it again (second launch: a cache hit), all
// m1.small, each terminated before the next: the time from sending
// RunInstances to the console's first line (`openami-testimage:
// booting`) and to `init done`. docs/BENCHMARKS.md ("Instance
// store-backed launches") gives the latest results.
func BenchmarkInstanceStore(b *testing.B) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		b.Fatal("qemu-system-x86_64 not found: apt-get install -y qemu-system-x86")
	}
	runs := intsEnv(b, "BENCH_ISTORE_RUNS", []int{3})[0]
	info := machine()
	work := b.TempDir()
	bin := build(b, work)
	raw := filepath.Join(work, "disk.raw")
	copyRaw(b, testenv.TestImage(b), raw, 1<<30)
	var report strings.Builder
	for range b.N {
		dataDir, err := os.MkdirTemp("", "obi-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dataDir) })
		t := startOpenamiIn(b, bin, "qemu", dataDir, "--runtime", "qemu")
		cfg := blockConfig(t, "us-east-1", 8)
		c := ec2.NewFromConfig(cfg)
		r := ingest(b, t, raw, 1<<30, 8, "us-east-1")
		out, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String("istore-ebs"),
			RootDeviceName: aws.String("/dev/xvda"), BootMode: types.BootModeValuesLegacyBios,
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(r.snapshotID)}}}})
		if err != nil {
			b.Fatal(err)
		}
		ebsImage := *out.ImageId
		u := newBundler(b, t, bin, work)

		order := []string{"EBS-backed", "instance store, first launch", "instance store, second launch"}
		firsts, dones := map[string][]float64{}, map[string][]float64{}
		var bundleS, uploadS []float64
		for k := range runs {
			t0 := time.Now()
			dir := u.bundle(b, raw, k)
			t1 := time.Now()
			loc := u.upload(b, dir, k)
			bundleS, uploadS = append(bundleS, t1.Sub(t0).Seconds()), append(uploadS, time.Since(t1).Seconds())
			reg, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(fmt.Sprintf("istore-%d", k)),
				ImageLocation: aws.String(loc), BootMode: types.BootModeValuesLegacyBios})
			if err != nil {
				b.Fatal(err)
			}
			for i, what := range order {
				image := ebsImage
				if i > 0 {
					image = *reg.ImageId
				}
				first, done := bootAs(b, t, c, image, types.InstanceTypeM1Small)
				firsts[what] = append(firsts[what], first.Seconds())
				dones[what] = append(dones[what], done.Seconds())
			}
		}
		hwm := procStatusKB(strconv.Itoa(t.pid), "VmHWM")
		slices.Sort(bundleS)
		slices.Sort(uploadS)
		fmt.Fprintf(&report, "\nLaunches of the test image grown to 1 GiB of data, m1.small, %d runs each (server peak RSS %.1f MB over the whole run, ingest, uploads and launches included; bundling p50 %.1f s, upload p50 %.1f s):\n\n",
			runs, float64(hwm)/1024, median(bundleS), median(uploadS))
		fmt.Fprintf(&report, "| launch | RunInstances → first console line p50 s | min–max s | → `init done` p50 s |\n|---|--:|--:|--:|\n")
		p50 := map[string]float64{}
		for _, what := range order {
			f, d := firsts[what], dones[what]
			slices.Sort(f)
			slices.Sort(d)
			p50[what] = median(f)
			fmt.Fprintf(&report, "| %s | %.2f | %.2f–%.2f | %.2f |\n", what, median(f), f[0], f[len(f)-1], median(d))
			b.ReportMetric(median(f), strings.NewReplacer(" ", "-", ",", "").Replace(what)+"-first-s")
		}
		fmt.Fprintf(&report, "\nRatios of first-line p50s to EBS-backed: first launch %.2f, second launch %.2f.\n",
			p50[order[1]]/p50[order[0]], p50[order[2]]/p50[order[0]])
	}
	fmt.Printf("\n%s\n%s", info, report.String())
	if path := os.Getenv("BENCH_ISTORE_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(info+"\n"+report.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// bootAs launches the image on the type, waits for init done on its
// console, and terminates it.
func bootAs(b *testing.B, t *target, c *ec2.Client, image string, typ types.InstanceType) (first, done time.Duration) {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: typ, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		b.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	first, done = waitMarkers(b, filepath.Join(t.dataDir, "vms", id, "console.log"), t0, nil)
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		b.Fatal(err)
	}
	for {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		if out.Reservations[0].Instances[0].State.Name == types.InstanceStateNameTerminated {
			return first, done
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bundler bundles and uploads images as a user of the target would: a
// key and certificate of its own, registered with IAM; the region's
// cert-ec2.pem; a bucket.
type bundler struct {
	t                            *target
	bin, dir, account, key, cert string
	s3                           *s3.Client
}

func newBundler(b *testing.B, t *target, bin, work string) *bundler {
	b.Helper()
	ctx := context.Background()
	cfg := blockConfig(t, "us-east-1", 8)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		b.Fatal(err)
	}
	u := &bundler{t: t, bin: bin, dir: work, account: *who.Account, key: filepath.Join(work, "key.pem"), cert: filepath.Join(work, "cert.pem")}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(u.cert, certPEM, 0o600)
	os.WriteFile(u.key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600)
	resp, err := http.Get(t.endpoint + "/cert-ec2.pem?region=us-east-1")
	if err != nil {
		b.Fatal(err)
	}
	ec2Cert, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	os.WriteFile(filepath.Join(work, "cert-ec2.pem"), ec2Cert, 0o600)

	// IAM UploadSigningCertificate, a Query request signed for iam.
	form := url.Values{"Action": {"UploadSigningCertificate"}, "Version": {"2010-05-08"}, "CertificateBody": {string(certPEM)}}.Encode()
	req, _ := http.NewRequest("POST", t.endpoint+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(form))
	creds, _ := cfg.Credentials.Retrieve(ctx)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	iam, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(iam.Body)
	iam.Body.Close()
	if iam.StatusCode != 200 {
		b.Fatalf("UploadSigningCertificate: %d %s", iam.StatusCode, body)
	}

	u.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := u.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench-bundles")}); err != nil {
		b.Fatal(err)
	}
	return u
}

// bundle bundles the raw disk into a new directory.
func (u *bundler) bundle(b *testing.B, raw string, k int) string {
	b.Helper()
	dir := filepath.Join(u.dir, fmt.Sprintf("bundle-%d", k))
	os.Mkdir(dir, 0o700)
	out, err := exec.Command(u.bin, "bundle", "image", "-i", raw, "-c", u.cert, "-k", u.key, "-u", u.account,
		"--ec2cert", filepath.Join(u.dir, "cert-ec2.pem"), "-d", dir, "-p", "image").CombinedOutput()
	if err != nil {
		b.Fatalf("openami bundle image: %v\n%s", err, out)
	}
	return dir
}

// upload puts a bundle's files into bench-bundles/run-K, 4 at a time,
// the parts aws-exec-read, and returns the manifest's location.
func (u *bundler) upload(b *testing.B, dir string, k int) string {
	b.Helper()
	files, _ := os.ReadDir(dir)
	prefix := fmt.Sprintf("run-%d/", k)
	sem, errs := make(chan struct{}, 4), make(chan error, len(files))
	for _, f := range files {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			data, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err == nil {
				in := &s3.PutObjectInput{Bucket: aws.String("bench-bundles"), Key: aws.String(prefix + f.Name()), Body: bytes.NewReader(data)}
				if strings.Contains(f.Name(), ".part.") {
					in.ACL = s3types.ObjectCannedACLAwsExecRead
				}
				_, err = u.s3.PutObject(context.Background(), in)
			}
			errs <- err
		}()
	}
	for range files {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	os.RemoveAll(dir)
	return "bench-bundles/" + prefix + "image.manifest.xml"
}
