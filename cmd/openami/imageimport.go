package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// The client side of `openami image import`: it talks to an openami
// endpoint as any AWS client would (S3 multipart upload, then
// ImportImage and DescribeImportImageTasks), so it runs wherever the
// disk file is, not only on the server.

// importPartSize and importParallel shape the upload: 16 MiB parts, 4 at
// a time (64 MiB of buffers at most).
const (
	importPartSize = 16 << 20
	importParallel = 4
)

// clientProfile is what the command needs to reach an endpoint.
type clientProfile struct {
	endpoint, region, accessKey, secretKey string
}

// loadProfile finds the endpoint and credentials: the flags, then the
// AWS_* environment, then the profile (default openami) in the data
// dir's credentials and config files (written by openami serve), then
// ~/.aws's.
func loadProfile(dataDir, profile, endpoint, region string) (clientProfile, error) {
	p := clientProfile{endpoint: endpoint, region: region,
		accessKey: os.Getenv("AWS_ACCESS_KEY_ID"), secretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{dataDir, filepath.Join(home, ".aws")} {
		creds := iniKeys(filepath.Join(dir, "credentials"), profile)
		conf := iniKeys(filepath.Join(dir, "config"), "profile "+profile)
		if p.accessKey == "" && creds["aws_access_key_id"] != "" {
			p.accessKey, p.secretKey = creds["aws_access_key_id"], creds["aws_secret_access_key"]
		}
		if p.endpoint == "" {
			p.endpoint = conf["endpoint_url"]
		}
		if p.region == "" {
			p.region = conf["region"]
		}
	}
	if p.region == "" {
		p.region = "us-east-1"
	}
	switch {
	case p.endpoint == "":
		return p, fmt.Errorf("no endpoint: pass --endpoint, or --data-dir of a server that ran (its config file names it)")
	case p.accessKey == "" || p.secretKey == "":
		return p, fmt.Errorf("no credentials for profile %q: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile", profile)
	}
	return p, nil
}

func imageImportCommand(cfg *config, region *string) *cobra.Command {
	var name, bucket, endpoint, profile, arch string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Upload a disk file (qcow2, raw, vmdk, vhd, vhdx, ova) through the S3 endpoint and import it as an AMI (ImportImage)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := *region
			if !cmd.Flags().Changed("region") {
				r = ""
			}
			p, err := loadProfile(cfg.dataDir, profile, endpoint, r)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer stop()
			return importImage(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), p, args[0], name, bucket, arch)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a description of the import (default: the file's name)")
	cmd.Flags().StringVar(&bucket, "bucket", "openami-import", "the bucket to upload into (created if missing)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the openami endpoint URL (default: the profile's endpoint_url)")
	cmd.Flags().StringVar(&profile, "profile", "openami", "the profile of the credentials and config files")
	cmd.Flags().StringVar(&arch, "architecture", "x86_64", "the image's architecture")
	return cmd
}

// progress prints what the command does: one line rewritten in place on
// a terminal, plain lines otherwise.
type progress struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgress(w io.Writer) *progress {
	pr := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		pr.tty = err == nil
	}
	return pr
}

func (pr *progress) show(line string) {
	if line == pr.last {
		return
	}
	pr.last = line
	if pr.tty {
		fmt.Fprintf(pr.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(pr.w, line)
}

func (pr *progress) done() {
	if pr.tty && pr.last != "" {
		fmt.Fprintln(pr.w)
	}
	pr.last = ""
}

// importImage uploads the file at path and imports it as an AMI, whose
// id alone it prints on out (so that `AMI=$(openami image import FILE)`
// works); the progress and the task's id go to errOut.
func importImage(ctx context.Context, out, errOut io.Writer, p clientProfile, path, name, bucket, arch string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if name == "" {
		name = filepath.Base(path)
	}
	awsCfg := aws.Config{Region: p.region, Credentials: credentials.NewStaticCredentialsProvider(p.accessKey, p.secretKey, ""),
		BaseEndpoint: aws.String(p.endpoint)}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	ec2c := ec2.NewFromConfig(awsCfg)
	pr := newProgress(errOut)

	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			return fmt.Errorf("bucket %s: %w", bucket, err)
		}
	}
	key := fmt.Sprintf("%s-%d", filepath.Base(path), time.Now().UnixNano())
	if err := upload(ctx, s3c, pr, f, st.Size(), bucket, key); err != nil {
		return err
	}
	res, err := ec2c.ImportImage(ctx, &ec2.ImportImageInput{Description: &name, Architecture: &arch,
		DiskContainers: []ec2types.ImageDiskContainer{{UserBucket: &ec2types.UserBucket{S3Bucket: &bucket, S3Key: &key}}}})
	if err != nil {
		return fmt.Errorf("ImportImage: %w", err)
	}
	id := aws.ToString(res.ImportTaskId)
	fmt.Fprintf(errOut, "import task %s\n", id)
	for {
		select {
		case <-ctx.Done():
			pr.done()
			_, err := ec2c.CancelImportTask(context.WithoutCancel(ctx), &ec2.CancelImportTaskInput{ImportTaskId: &id})
			if err != nil {
				return fmt.Errorf("interrupted; cancelling %s: %w", id, err)
			}
			return fmt.Errorf("interrupted: import task %s cancelled", id)
		case <-time.After(time.Second):
		}
		d, err := ec2c.DescribeImportImageTasks(ctx, &ec2.DescribeImportImageTasksInput{ImportTaskIds: []string{id}})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
		t := d.ImportImageTasks[0]
		switch aws.ToString(t.Status) {
		case "completed":
			pr.done()
			fmt.Fprintf(out, "%s\n", aws.ToString(t.ImageId))
			return nil
		case "active":
			pr.show(fmt.Sprintf("%s: %s %s%%", id, aws.ToString(t.StatusMessage), aws.ToString(t.Progress)))
		default:
			pr.done()
			return fmt.Errorf("import task %s %s: %s", id, aws.ToString(t.Status), aws.ToString(t.StatusMessage))
		}
	}
}

// upload sends a file as a multipart upload, importParallel parts at a
// time, showing bytes, rate and ETA; it aborts the upload on failure or
// interrupt.
func upload(ctx context.Context, c *s3.Client, pr *progress, f *os.File, size int64, bucket, key string) (err error) {
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer func() {
		if err != nil {
			c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: mp.UploadId})
		}
	}()
	nparts := int((size + importPartSize - 1) / importPartSize)
	if nparts == 0 {
		nparts = 1
	}
	parts := make([]s3types.CompletedPart, nparts)
	var sent atomic.Int64
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range importParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, importPartSize)
			for i := range next {
				n, err := f.ReadAt(buf, int64(i)*importPartSize)
				if err != nil && !errors.Is(err, io.EOF) {
					cancel(err)
					return
				}
				num := int32(i + 1)
				res, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: mp.UploadId,
					PartNumber: &num, Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
				if err != nil {
					cancel(err)
					return
				}
				parts[i] = s3types.CompletedPart{ETag: res.ETag, PartNumber: &num}
				sent.Add(int64(n))
			}
		}()
	}
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	showUpload := func() {
		s, el := sent.Load(), time.Since(start).Seconds()
		rate := float64(s) / max(el, 0.001)
		eta := "-"
		if rate > 0 {
			eta = (time.Duration(float64(size-s)/rate) * time.Second).Round(time.Second).String()
		}
		pr.show(fmt.Sprintf("upload %d/%d MiB %.1f MiB/s ETA %s", s>>20, size>>20, rate/(1<<20), eta))
	}
feed:
	for i := 0; i < nparts; i++ {
		for {
			select {
			case next <- i:
				continue feed
			case <-ctx.Done():
				break feed
			case <-ticker.C:
				showUpload()
			}
		}
	}
	close(next)
	wg.Wait()
	showUpload()
	pr.done()
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("upload: %w", cause)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: mp.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	return nil
}
