// Package s3 is a blob.Store in a bucket of S3-compatible object storage
// (AWS S3, MinIO, Ceph RGW), for openami deployments that keep block data
// off the server's own disks. The blob under key K is the object
// Prefix+K.
//
// Every upload carries a SHA-256 checksum of its bytes (x-amz-checksum-sha256),
// which the server verifies before it stores anything, so bytes corrupted
// between openami and the server are refused rather than kept; Get asks
// the server for that checksum back and the SDK verifies the bytes it
// receives against it.
//
// A blob of up to 8 MiB (every chunk: openami's blocks are 512 KiB) is read
// into memory and sent with one PutObject, which S3 makes atomic. A larger
// one goes up as a multipart upload of 8 MiB parts, each with its own
// checksum, which S3 makes visible only when it is completed; one part is
// in memory at a time. The SDK's own streaming checksum (aws-chunked with a
// trailer) would avoid the buffer, but the SDK sends it only over HTTPS
// and refuses an unseekable body over plain HTTP, which is how MinIO on a
// private network is often reached. A multipart upload abandoned by a
// crash stays in the bucket, invisible, until aborted: give the bucket a
// lifecycle rule that aborts incomplete uploads after a day.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// Config says where the store's objects live and how to reach them.
type Config struct {
	// Endpoint is the server's base URL, such as "http://127.0.0.1:9000"
	// for MinIO. Empty means AWS S3 in Region.
	Endpoint string
	// Region is the bucket's region; empty means "us-east-1", which is
	// also what MinIO answers to unless configured otherwise.
	Region string
	// Bucket holds the blobs; New creates it if it does not exist.
	Bucket string
	// Prefix is put verbatim before every key, so that several stores (one
	// per openami region, say) can share a bucket. It normally ends in "/".
	Prefix string
	// AccessKeyID and SecretAccessKey are static credentials; both are
	// required.
	AccessKeyID     string
	SecretAccessKey string
	// UsePathStyle addresses the bucket in the URL's path
	// (http://host/bucket/key) rather than its host name, as MinIO and most
	// self-hosted servers need.
	UsePathStyle bool
}

// Store is a blob.Store in an S3 bucket. Its methods are safe for
// concurrent use.
type Store struct {
	client *sdk.Client
	bucket string
	prefix string
}

var _ blob.Store = (*Store)(nil)

const (
	// singlePutMax is the largest blob sent with one PutObject, read into
	// memory first so that its checksum can go in a header.
	singlePutMax = 8 << 20
	// minPartSize is the part size of larger blobs' multipart uploads.
	minPartSize = 8 << 20
	// maxParts is S3's limit on the parts of one upload.
	maxParts = 10000
	// abortTimeout bounds the cleanup of a failed multipart upload, which
	// runs even when the caller's context is done.
	abortTimeout = 30 * time.Second
)

// New returns the store described by cfg. It checks that the bucket can be
// reached with cfg's credentials and creates it if it does not exist. It
// fails if cfg lacks a bucket or credentials, if Endpoint is not an http
// or https URL, or if the bucket can be neither found nor created.
func New(ctx context.Context, cfg Config) (*Store, error) {
	// The SDK's own client, without the testenv.ReadOnlyBody shim that openami's
	// end-to-end tests and benchmarks put around it. That shim works
	// around a race in which the SDK closes a request body once response
	// headers arrive, net/http's write loop then takes the closed body for
	// a failed write and drops the connection, and a response larger than
	// the transport's 4 KiB read buffer is cut off (aws/aws-sdk-go-v2#1825).
	// Here every request with a body (PutObject, UploadPart,
	// CompleteMultipartUpload, CreateBucket) gets a response of a few
	// hundred bytes, read whole from the buffer, and the requests that get
	// large responses (GetObject, ListObjectsV2) have no body; at worst a
	// connection is not reused. The conformance suite against MinIO on
	// loopback, run repeatedly and under -race, has not hit it.
	return newStore(ctx, cfg, awshttp.NewBuildableClient())
}

// newStore is New with the HTTP client the SDK sends requests through;
// tests pass one that corrupts requests.
func newStore(ctx context.Context, cfg Config, hc aws.HTTPClient) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 blob store: no bucket given")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("s3 blob store: an access key id and a secret access key are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opts := sdk.Options{
		Region:       cfg.Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")),
		UsePathStyle: cfg.UsePathStyle,
		HTTPClient:   hc,
		// The SDK's defaults, spelled out because the package's promise
		// rests on them: every upload names SHA-256 as its checksum
		// algorithm, and every GetObject enables checksum mode, so the
		// SDK computes and verifies checksums for both.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 blob store: endpoint %q is not an http or https URL", cfg.Endpoint)
		}
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	s := &Store{client: sdk.New(opts), bucket: cfg.Bucket, prefix: cfg.Prefix}
	if err := s.ensureBucket(ctx, cfg.Region); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureBucket creates the bucket unless it exists. It looks first, so that
// credentials allowed to use a bucket but not to create one work.
func (s *Store) ensureBucket(ctx context.Context, region string) error {
	_, err := s.client.HeadBucket(ctx, &sdk.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isCode(err, "NotFound", "NoSuchBucket") {
		return fmt.Errorf("s3 blob store: check bucket %s: %w", s.bucket, err)
	}
	in := &sdk.CreateBucketInput{Bucket: &s.bucket}
	if region != "us-east-1" {
		// us-east-1 is the one region S3 refuses to be named in.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return fmt.Errorf("s3 blob store: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Put stores size bytes from r under key: see blob.Store and the package
// comment. It fails with InvalidParameter if the key is invalid or if r
// yields fewer or more than size bytes; with ctx's error (wrapped) if ctx
// is done first; and with a wrapped SDK error if the server refuses the
// upload, for example because its checksum does not match. On failure
// nothing is stored and any previous blob under key is intact.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	if size < 0 {
		return openami.Errorf(openami.InvalidParameter, "", "put blob %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	r = ctxReader{ctx, r}
	if size <= singlePutMax {
		return s.putSingle(ctx, key, r, size)
	}
	return s.putMultipart(ctx, key, r, size)
}

func (s *Store) putSingle(ctx context.Context, key string, r io.Reader, size int64) error {
	buf := make([]byte, size)
	if err := readPart(key, r, buf, size, size); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &sdk.PutObjectInput{
		Bucket:            &s.bucket,
		Key:               aws.String(s.prefix + key),
		Body:              bytes.NewReader(buf),
		ContentLength:     aws.Int64(size),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	partSize := max(int64(minPartSize), (size+maxParts-1)/maxParts)
	buf := make([]byte, partSize)
	objKey := aws.String(s.prefix + key)

	// The first part is read before the upload is created, so that a
	// reader that fails at once costs no requests.
	n := min(partSize, size)
	if err := readPart(key, r, buf[:n], size, size); err != nil {
		return err
	}
	up, err := s.client.CreateMultipartUpload(ctx, &sdk.CreateMultipartUploadInput{
		Bucket:            &s.bucket,
		Key:               objKey,
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return s.fail("put", key, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even if ctx is done: the parts take space until then.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &sdk.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: objKey, UploadId: up.UploadId,
		}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("put blob %s: abort upload: %w", key, aerr))
		}
	}()

	var parts []types.CompletedPart
	for done := int64(0); ; {
		num := int32(len(parts) + 1)
		out, err := s.client.UploadPart(ctx, &sdk.UploadPartInput{
			Bucket:            &s.bucket,
			Key:               objKey,
			UploadId:          up.UploadId,
			PartNumber:        &num,
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(n),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			return s.fail("put", key, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: &num, ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
		done += n
		if done == size {
			break
		}
		n = min(partSize, size-done)
		if err := readPart(key, r, buf[:n], size, size-done); err != nil {
			return err
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &sdk.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             objKey,
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// readPart fills buf from r, the next part of a blob of size bytes of
// which remaining (counting buf) are still to come. When buf holds the
// last bytes, it checks that r has nothing more.
func readPart(key string, r io.Reader, buf []byte, size, remaining int64) error {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return openami.Errorf(openami.InvalidParameter, "", "put blob %s: the reader holds %d bytes, not the %d declared",
			key, size-remaining+int64(n), size)
	case err != nil:
		return fmt.Errorf("put blob %s: read: %w", key, err)
	}
	if int64(len(buf)) < remaining {
		return nil
	}
	var one [1]byte
	n, err = io.ReadFull(r, one[:])
	switch {
	case n > 0:
		return openami.Errorf(openami.InvalidParameter, "", "put blob %s: the reader holds more than the %d bytes declared", key, size)
	case err != io.EOF:
		return fmt.Errorf("put blob %s: read: %w", key, err)
	}
	return nil
}

// Get returns a reader of the object's body, which the SDK checks against
// the checksum stored with it: see blob.Store. It fails with
// InvalidParameter for an invalid key, NotFound if there is no blob, and a
// wrapped SDK error otherwise. The reader fails once ctx is done, and at
// its end if the bytes do not match their checksum.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &sdk.GetObjectInput{
		Bucket:       &s.bucket,
		Key:          aws.String(s.prefix + key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return out.Body, nil
}

// Stat describes the blob: see blob.Store. ModTime has whole seconds, as
// S3's Last-Modified header does. It fails with InvalidParameter for an
// invalid key, NotFound if there is no blob, and a wrapped SDK error
// otherwise.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &sdk.HeadObjectInput{
		Bucket: &s.bucket,
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return blob.Info{}, s.fail("stat", key, err)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the blob: see blob.Store. S3 answers a delete of a
// missing object with success, so deleting a missing key is not an error.
// It fails with InvalidParameter for an invalid key and a wrapped SDK
// error otherwise.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &sdk.DeleteObjectInput{
		Bucket: &s.bucket,
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

// List calls fn for every blob whose key starts with prefix, in key order,
// a page of up to 1,000 keys at a time: see blob.Store. S3 returns keys in
// byte order, which is key order. Objects under the store's Prefix whose
// names are not valid keys (put there by something else) are skipped. It
// fails with InvalidParameter for a prefix no valid key can start with
// (blob.CheckPrefix), with fn's first error, and with a wrapped SDK error.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.CheckPrefix(prefix); err != nil {
		return err
	}
	// MinIO refuses a prefix whose last segment is "." or ".." (a path
	// component it will not resolve), although keys such as ".a" are
	// valid; ask for the segment's directory then, and filter here.
	query := prefix
	if i := strings.LastIndexByte(prefix, '/') + 1; prefix[i:] == "." || prefix[i:] == ".." {
		query = prefix[:i]
	}
	pages := sdk.NewListObjectsV2Paginator(s.client, &sdk.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.prefix + query),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list blobs %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || !strings.HasPrefix(key, prefix) || blob.CheckKey(key) != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("list blobs %q: %w", prefix, err)
			}
			if err := fn(blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// fail classifies an SDK error: a missing object is NotFound, anything
// else is wrapped with what was being done. A missing bucket is not
// NotFound: it means the store is misconfigured, not that a blob is absent.
func (s *Store) fail(op, key string, err error) error {
	if isCode(err, "NoSuchKey", "NotFound") {
		return openami.Errorf(openami.NotFound, "", "blob %s not found", key)
	}
	return fmt.Errorf("%s blob %s: %w", op, key, err)
}

// isCode reports whether err is an S3 error with one of the codes. A
// response without a body, as to HEAD, has its HTTP status text as code:
// "NotFound" for 404.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// ctxReader fails reads once ctx is done, so that a Put fed by a slow or
// endless reader stops promptly when its caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
