package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/openami/openami/bundle"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

// bundleTransfers is how many parts upload or download at once.
const bundleTransfers = 4

// s3Flags are how the bundle commands reach S3 (openami's endpoint): the
// aws CLI's own ways, in its order — flags, then the environment
// (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_CONFIG_FILE, …) and the profile's
// files. When the environment names no profile and no files and the data
// dir holds the credentials and config files `openami serve` writes, they
// are used, with their profile openami (its endpoint_url, region and
// keys), so that on the server's machine the commands need no flag.
type s3Flags struct {
	endpoint, profile, accessKey, secretKey, region string
}

func (f *s3Flags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "the S3 endpoint URL (default: the profile's endpoint_url)")
	fl.StringVar(&f.profile, "profile", "", "the aws CLI profile to use (default: AWS_PROFILE, or openami with the data dir's files)")
	fl.StringVarP(&f.accessKey, "access-key", "a", "", "the access key id (default: the profile's)")
	fl.StringVarP(&f.secretKey, "secret-key", "s", "", "the secret access key (default: the profile's)")
	fl.StringVar(&f.region, "region", "", "the region (default: the profile's)")
}

// client returns an S3 client for the flags, path-style (docs/S3.md).
func (f *s3Flags) client(ctx context.Context, dataDir string) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	profile := f.profile
	if os.Getenv("AWS_CONFIG_FILE") == "" && os.Getenv("AWS_SHARED_CREDENTIALS_FILE") == "" && os.Getenv("AWS_PROFILE") == "" {
		creds, conf := filepath.Join(dataDir, "credentials"), filepath.Join(dataDir, "config")
		if _, err := os.Stat(conf); err == nil {
			opts = append(opts, awsconfig.WithSharedConfigFiles([]string{conf}), awsconfig.WithSharedCredentialsFiles([]string{creds}))
			if profile == "" {
				profile = "openami"
			}
		}
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	if f.region != "" {
		opts = append(opts, awsconfig.WithRegion(f.region))
	}
	if (f.accessKey == "") != (f.secretKey == "") {
		return nil, errors.New("--access-key and --secret-key go together")
	}
	if f.accessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(f.accessKey, f.secretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		if f.endpoint != "" {
			o.BaseEndpoint = aws.String(f.endpoint)
		}
	}), nil
}

// joinKey is the key of name under prefix, a "folder" of the bucket.
func joinKey(prefix, name string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// splitBucket takes the AMI tools' --bucket BUCKET/PREFIX form apart.
func splitBucket(bucketFlag, prefix string) (string, string) {
	b, p, _ := strings.Cut(bucketFlag, "/")
	return b, joinKey(p, prefix)
}

func bundleUploadCommand(cfg *config) *cobra.Command {
	var s3f s3Flags
	var bucketFlag, prefix, manifestPath, partsDir, acl string
	cmd := &cobra.Command{
		Use:   "upload",
		Short: "Upload a bundle's parts, then its manifest, to a bucket (ec2-upload-bundle)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			raw, err := os.ReadFile(manifestPath)
			if err != nil {
				return err
			}
			m, err := bundle.ParseManifest(bytes.NewReader(raw))
			if err != nil {
				return err
			}
			if partsDir == "" {
				partsDir = filepath.Dir(manifestPath)
			}
			dir := bundle.Dir(partsDir)
			if err := bundle.CheckPartSizes(m, dir.Size); err != nil {
				return err
			}
			client, err := s3f.client(ctx, cfg.dataDir)
			if err != nil {
				return err
			}
			bucket, prefix := splitBucket(bucketFlag, prefix)
			if err := ensureBucket(ctx, client, bucket); err != nil {
				return err
			}
			out := &syncWriter{w: cmd.OutOrStdout()}
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(bundleTransfers)
			for _, p := range m.Parts {
				g.Go(func() error {
					key := joinKey(prefix, p.Filename)
					skipped, err := uploadPart(gctx, client, bucket, key, filepath.Join(partsDir, p.Filename), p, types.ObjectCannedACL(acl))
					if err != nil {
						return fmt.Errorf("%s: %w", key, err)
					}
					if skipped {
						fmt.Fprintf(out, "Skipped %s (already uploaded)\n", key)
					} else {
						fmt.Fprintf(out, "Uploaded %s\n", key)
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				return err
			}
			// The manifest last: once it is there, the bundle is whole.
			key := joinKey(prefix, filepath.Base(manifestPath))
			sum := md5.Sum(raw)
			_, err = client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &bucket, Key: &key, Body: bytes.NewReader(raw), ContentLength: aws.Int64(int64(len(raw))),
				ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ACL: types.ObjectCannedACL(acl),
			})
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			fmt.Fprintf(out, "Uploaded manifest to s3://%s/%s\n", bucket, key)
			return nil
		},
	}
	s3f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&bucketFlag, "bucket", "b", "", "the bucket, or BUCKET/PREFIX; made if absent (required)")
	fl.StringVar(&prefix, "prefix", "", "the key prefix (a folder) of the bundle's objects")
	fl.StringVarP(&manifestPath, "manifest", "m", "", "the bundle's manifest file (required)")
	fl.StringVarP(&partsDir, "directory", "d", "", "the directory of the parts (default: the manifest's)")
	fl.StringVar(&acl, "acl", "aws-exec-read", "the canned ACL of the uploaded objects (aws-exec-read lets EC2 read them to launch)")
	for _, f := range []string{"bucket", "manifest"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// ensureBucket makes the bucket when it does not exist, as the AMI tools
// did, in the client's region.
func ensureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err == nil || !notFound(err) {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: &bucket}
	if r := client.Options().Region; r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err = client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return nil
	}
	return err
}

// uploadPart uploads one part file unless an object of its size and MD5
// (a single PUT's ETag) is there already: an upload that failed half-way
// runs again and sends only what is missing. It checks the part's SHA-1
// against the manifest as it hashes the file, sending no corrupt part.
func uploadPart(ctx context.Context, client *s3.Client, bucket, key, file string, p bundle.Part, acl types.ObjectCannedACL) (skipped bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	md, sh := md5.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(md, sh), f)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(sh.Sum(nil), p.Digest) {
		return false, &bundle.PartError{Part: p, Err: bundle.ErrDigest}
	}
	sum := md.Sum(nil)
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil && aws.ToInt64(head.ContentLength) == n && strings.Trim(aws.ToString(head.ETag), `"`) == hex.EncodeToString(sum) {
		return true, nil
	}
	if err != nil && !notFound(err) {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: f, ContentLength: aws.Int64(n),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum)), ACL: acl,
	})
	return false, err
}

// notFound reports whether an S3 error says the bucket or key is absent.
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchBucket":
			return true
		}
	}
	return false
}

func bundleDownloadCommand(cfg *config) *cobra.Command {
	var s3f s3Flags
	var bucketFlag, manifestKey, dest string
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download a bundle's manifest and parts from a bucket, checking each part's digest (ec2-download-bundle)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			client, err := s3f.client(ctx, cfg.dataDir)
			if err != nil {
				return err
			}
			bucket, manifestKey := splitBucket(bucketFlag, manifestKey)
			obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &manifestKey})
			if err != nil {
				return fmt.Errorf("%s: %w", manifestKey, err)
			}
			raw, err := io.ReadAll(io.LimitReader(obj.Body, bundle.MaxManifestSize+1))
			obj.Body.Close()
			if err != nil {
				return err
			}
			m, err := bundle.ParseManifest(bytes.NewReader(raw))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
			folder := path.Dir(manifestKey)
			if folder == "." {
				folder = ""
			}
			out := &syncWriter{w: cmd.OutOrStdout()}
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(bundleTransfers)
			for _, p := range m.Parts {
				g.Go(func() error {
					key := joinKey(folder, p.Filename)
					if err := downloadPart(gctx, client, bucket, key, dest, p); err != nil {
						return fmt.Errorf("%s: %w", key, err)
					}
					fmt.Fprintf(out, "Downloaded %s\n", key)
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				return err
			}
			target := filepath.Join(dest, path.Base(manifestKey))
			if err := writeFileAtomic(target, raw); err != nil {
				return err
			}
			fmt.Fprintf(out, "Manifest %s: %d parts in %s\n", target, len(m.Parts), dest)
			return nil
		},
	}
	s3f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&bucketFlag, "bucket", "b", "", "the bucket, or BUCKET/PREFIX (required)")
	fl.StringVarP(&manifestKey, "manifest", "m", "", "the manifest's key, under the prefix if one is given (required)")
	fl.StringVarP(&dest, "destination", "d", ".", "the directory to write the manifest and parts to")
	for _, f := range []string{"bucket", "manifest"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// downloadPart writes one part into dir, whole or not at all, checking
// its SHA-1 against the manifest's; a part already there with the right
// digest is kept.
func downloadPart(ctx context.Context, client *s3.Client, bucket, key, dir string, p bundle.Part) error {
	target := filepath.Join(dir, p.Filename)
	if f, err := os.Open(target); err == nil {
		h := sha1.New()
		_, err := io.Copy(h, f)
		f.Close()
		if err == nil && bytes.Equal(h.Sum(nil), p.Digest) {
			return nil
		}
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	f, err := os.CreateTemp(dir, "."+p.Filename+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, nothing
	h := sha1.New()
	_, err = io.Copy(io.MultiWriter(f, h), obj.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !bytes.Equal(h.Sum(nil), p.Digest) {
		err = &bundle.PartError{Part: p, Err: bundle.ErrDigest}
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), target)
}

// syncWriter serialises the lines of parallel transfers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
