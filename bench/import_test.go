package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkImportSnapshot measures issue 16's import: ImportSnapshot of a
// qcow2 of OPENAMI_IMPORT_BENCH_BYTES (default 2 GiB) whose first half is
// random data and second half unallocated, already uploaded to openami's
// S3 (`openami serve`, SQLite, blobs in DATA_DIR), from the request to
// the task's completed — against `qemu-img convert -O raw` of the same
// file to local disk, in the same run, on the same disk. It reports the
// server's peak RSS over the import (VmHWM, reset before it) and CPU time.
// Then, end to end with the upload: `openami image import` against
// `aws s3 cp` + `aws ec2 import-image` + describe-import-image-tasks.
//
//	nice go test -run '^$' -bench ImportSnapshot -benchtime 1x -timeout 30m ./bench/
func BenchmarkImportSnapshot(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv("OPENAMI_IMPORT_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 16<<20 {
			b.Fatalf("OPENAMI_IMPORT_BENCH_BYTES=%q: want at least 16 MiB", v)
		}
		size = n
	}
	dir := b.TempDir()
	raw, qcow := filepath.Join(dir, "disk.raw"), filepath.Join(dir, "disk.qcow2")
	f, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 8<<20)
	for off := int64(0); off < size/2; off += int64(len(chunk)) {
		rand.Read(chunk)
		if off == 0 { // an MBR with a partition, for ImportImage's check
			chunk[446+4], chunk[510], chunk[511] = 0x83, 0x55, 0xAA
		}
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Truncate(size)
	f.Close()
	if out, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		b.Fatalf("qemu-img: %v: %s", err, out)
	}
	os.Remove(raw)
	st, _ := os.Stat(qcow)

	bin := build(b, b.TempDir())
	var args []string
	debug := ""
	if os.Getenv("OPENAMI_IMPORT_BENCH_PROFILE") != "" {
		debug = "127.0.0.1:" + strconv.Itoa(freePort(b))
		args = []string{"--debug-listen", debug}
	}
	oa := startOpenami(b, bin, "openami", args...)
	ctx := context.Background()
	s3c := s3BenchClient(oa.endpoint, oa.key, oa.secret)
	bucket := "import-bench"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		b.Fatal(err)
	}
	qf, err := os.Open(qcow)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("disk.qcow2"), Body: qf,
		ContentLength: aws.Int64(st.Size())}); err != nil {
		b.Fatal(err)
	}
	qf.Close()
	ec := ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(oa.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(oa.key, oa.secret, "")})

	var imp, conv, cmdWall, cliWall time.Duration
	var cpu time.Duration
	var rssKB int64
	for b.Loop() {
		pid := strconv.Itoa(oa.pid)
		os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0)
		cpu0 := procCPU(pid)
		if debug != "" {
			go exec.Command("curl", "-s", "-o", os.Getenv("OPENAMI_IMPORT_BENCH_PROFILE"), "http://"+debug+"/debug/pprof/profile?seconds=8").Run()
		}
		start := time.Now()
		res, err := ec.ImportSnapshot(ctx, &ec2.ImportSnapshotInput{DiskContainer: &ec2types.SnapshotDiskContainer{
			UserBucket: &ec2types.UserBucket{S3Bucket: &bucket, S3Key: aws.String("disk.qcow2")}}})
		if err != nil {
			b.Fatal(err)
		}
		stages, last := "", ""
		for {
			time.Sleep(100 * time.Millisecond)
			d, err := ec.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{*res.ImportTaskId}})
			if err != nil {
				b.Fatal(err)
			}
			det := d.ImportSnapshotTasks[0].SnapshotTaskDetail
			if st := aws.ToString(det.StatusMessage) + "(" + aws.ToString(det.Progress)[:min(1, len(aws.ToString(det.Progress)))] + ")"; st != last { // when each stage (and tenth of progress) began
				last = st
				stages += fmt.Sprintf(" %.1fs %s(%s)", time.Since(start).Seconds(), st, aws.ToString(det.Progress))
			}
			if s := aws.ToString(det.Status); s != "active" {
				if s != "completed" {
					b.Fatalf("task %s: %s", s, aws.ToString(det.StatusMessage))
				}
				break
			}
		}
		imp, cpu, rssKB = time.Since(start), procCPU(pid)-cpu0, procStatusKB(pid, "VmHWM")
		if debug != "" {
			// The heap as the import left it (FILE.heap), and the Go
			// runtime's view of the process's memory, for what grows with
			// the disk's size.
			exec.Command("curl", "-s", "-o", os.Getenv("OPENAMI_IMPORT_BENCH_PROFILE")+".heap", "http://"+debug+"/debug/pprof/heap").Run()
			if out, err := exec.Command("curl", "-s", "http://"+debug+"/debug/pprof/heap?debug=1").Output(); err == nil {
				if i := strings.Index(string(out), "# runtime.MemStats"); i >= 0 {
					b.Logf("server memory after the import (VmRSS %d kB):\n%s", procStatusKB(pid, "VmRSS"), out[i:min(len(out), i+900)])
				}
			}
		}
		b.Logf("stages:%s", stages)

		start = time.Now()
		if out, err := exec.Command("qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", qcow, filepath.Join(dir, "out.raw")).CombinedOutput(); err != nil {
			b.Fatalf("qemu-img: %v: %s", err, out)
		}
		conv = time.Since(start)
		os.Remove(filepath.Join(dir, "out.raw"))
		b.Logf("run: ImportSnapshot %.2f s, server CPU %.2f s, peak RSS %.0f MB; qemu-img convert %.2f s; ratio %.2f",
			imp.Seconds(), cpu.Seconds(), float64(rssKB)/1024, conv.Seconds(), imp.Seconds()/conv.Seconds())

		if os.Getenv("OPENAMI_IMPORT_BENCH_SKIP_E2E") != "" {
			continue
		}
		// End to end: openami image import, against aws s3 cp + aws ec2
		// import-image + describe-import-image-tasks until completed.
		home := b.TempDir()
		env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+oa.key, "AWS_SECRET_ACCESS_KEY="+oa.secret, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_ENDPOINT_URL="+oa.endpoint, "AWS_CONFIG_FILE="+home+"/config", "AWS_SHARED_CREDENTIALS_FILE="+home+"/credentials", "HOME="+home)
		run := func(name string, args ...string) string {
			cmd := exec.Command(name, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s %v: %v: %s", name, args, err, out)
			}
			return string(out)
		}
		start = time.Now()
		run(bin, "image", "import", qcow, "--endpoint", oa.endpoint, "--data-dir", home, "--bucket", "e2e-cmd")
		cmdWall = time.Since(start)
		start = time.Now()
		run("aws", "s3", "mb", "s3://e2e-cli")
		run("aws", "s3", "cp", qcow, "s3://e2e-cli/disk.qcow2")
		var task struct{ ImportTaskId string }
		json.Unmarshal([]byte(run("aws", "ec2", "import-image", "--disk-containers", "Url=s3://e2e-cli/disk.qcow2")), &task)
		for {
			var d struct {
				ImportImageTasks []struct{ Status, StatusMessage string }
			}
			json.Unmarshal([]byte(run("aws", "ec2", "describe-import-image-tasks", "--import-task-ids", task.ImportTaskId)), &d)
			if st := d.ImportImageTasks[0]; st.Status != "active" {
				if st.Status != "completed" {
					b.Fatalf("aws import-image: %+v", st)
				}
				break
			}
			time.Sleep(time.Second)
		}
		cliWall = time.Since(start)
	}
	b.Logf("\n%d MiB disk (qcow2 of %d MiB: half random data, half unallocated), one run:\n\n"+
		"| path | wall s | server CPU s | server peak RSS MB |\n|---|--:|--:|--:|\n"+
		"| ImportSnapshot, request → completed | %.1f | %.1f | %.0f |\n| qemu-img convert -O raw to local disk | %.1f | | |\n\nImportSnapshot ÷ qemu-img: %.2f\n",
		size>>20, st.Size()>>20, imp.Seconds(), cpu.Seconds(), float64(rssKB)/1024, conv.Seconds(), imp.Seconds()/conv.Seconds())
	b.Logf("\nEnd to end, upload included, one run:\n\n| path | wall s |\n|---|--:|\n"+
		"| openami image import (multipart upload, ImportImage, wait) | %.1f |\n| aws s3 cp + aws ec2 import-image + describe-import-image-tasks every 1 s | %.1f |\n",
		cmdWall.Seconds(), cliWall.Seconds())
}
