package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/rules/identity"
)

// crashServer is an `openami serve` process over a data directory that a
// test kills with SIGKILL and starts again.
type crashServer struct {
	t       *testing.T
	dataDir string
	regions string
	cmd     *exec.Cmd
	s       *server
	creds   identity.Credentials
}

func newCrashServer(t *testing.T, regions string) *crashServer {
	c := &crashServer{t: t, dataDir: t.TempDir(), regions: regions}
	c.start()
	return c
}

func (c *crashServer) start() {
	c.t.Helper()
	endpoint, cmd := serveBinary(c.t, "--data-dir", c.dataDir, "--regions", c.regions)
	c.cmd, c.s = cmd, &server{URL: endpoint}
	c.creds = readCredentials(c.t, filepath.Join(c.dataDir, "credentials"))
}

// crash kills the server with SIGKILL (no shutdown of any kind) and
// starts it again over the same data directory.
func (c *crashServer) crash() {
	c.t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd.Wait()
	c.start()
}

// client is an S3 client of the running server's administrator.
func (c *crashServer) client() *s3.Client { return c.s.s3Client(c.creds, false) }

// stop kills the server for good (the maintenance commands run without
// it).
func (c *crashServer) stop() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// run runs an openami maintenance command over the data directory and
// returns its output and error.
func (c *crashServer) run(args ...string) (string, error) {
	args = append(args, "--data-dir", c.dataDir, "--regions", c.regions)
	out, err := exec.Command(binary(c.t), args...).Output()
	return string(out), err
}

// tempFiles returns blob/dir's temporary files (interrupted Puts) under
// the data directory's blob store.
func tempFiles(t *testing.T, dataDir string) []string {
	var out []string
	filepath.WalkDir(filepath.Join(dataDir, "blocks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".put~") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// wantObject checks that key reads back whole: body's size and MD5.
func wantObject(t *testing.T, cl *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	got, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	b, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(b, body) {
		t.Fatalf("GetObject %s: %d bytes (want %d), %v", key, len(b), len(body), err)
	}
}

// wantAbsent checks that key is not an object: NoSuchKey on GET and HEAD
// (404), and not listed.
func wantAbsent(t *testing.T, cl *s3.Client, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); s3Code(err) != "NoSuchKey" {
		t.Fatalf("GetObject %s: %v, want NoSuchKey", key, err)
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if *o.Key == key {
			t.Fatalf("%s is listed: %+v", key, o)
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// TestS3Crash kills `openami serve` with SIGKILL in the middle of S3
// writes and checks, after each restart, that nothing acknowledged is
// lost and nothing interrupted is visible: a PUT whose body was half
// sent is no object; acknowledged multipart parts survive (ListParts,
// Complete); a CompleteMultipartUpload, DeleteObjects or DeleteBucket
// that a crash cut short either happened whole or not at all. At the end
// `openami fsck` finds every object's blobs whole, and `openami gc`
// sweeps the blobs and temporary files no record names.
func TestS3Crash(t *testing.T) {
	ctx := context.Background()
	c := newCrashServer(t, "us-east-1")
	cl := c.client()
	const bucket = "crash"
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"crash-empty", "crash-full"} {
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	whole := randomBytes(64 << 10)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("whole"), Body: bytes.NewReader(whole)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash-full"), Key: aws.String("k"), Body: bytes.NewReader(whole)}); err != nil {
		t.Fatal(err)
	}
	small := map[string][]byte{}
	for i := range 20 {
		k := fmt.Sprintf("del/%02d", i)
		small[k] = randomBytes(1000 + i)
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(small[k])}); err != nil {
			t.Fatal(err)
		}
	}
	// An upload with two acknowledged parts (the first of S3's least
	// size, 5 MiB).
	parts := [][]byte{randomBytes(5 << 20), randomBytes(100)}
	mp := createUpload(t, cl, bucket, "multi", parts)

	// (a) A PUT killed while its body streams: the server is writing its
	// blob (a temporary file exists) when it dies.
	// The PUT goes to a presigned URL (UNSIGNED-PAYLOAD), its body from
	// a pipe that sends part of it and then holds back.
	presigned, err := s3.NewPresignClient(cl).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("partial")})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, presigned.URL, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 4 << 20
	putDone := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				putDone <- nil
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		putDone <- err
	}()
	go func() {
		chunk := randomBytes(64 << 10)
		for sent := 0; sent < 2<<20; sent += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the PUT's temporary blob", func() bool { return len(tempFiles(t, c.dataDir)) > 0 })
	// (c) A DeleteObjects and a DeleteBucket under way when it dies.
	go cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: objectIDs(small)}})
	go cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("crash-empty")})
	c.crash()
	pw.CloseWithError(io.ErrClosedPipe)
	if err := <-putDone; err == nil {
		t.Fatal("the interrupted PUT was acknowledged")
	}
	cl = c.client()
	wantAbsent(t, cl, bucket, "partial")
	wantObject(t, cl, bucket, "whole", whole)
	for k, b := range small {
		if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); s3Code(err) == "NotFound" {
			continue
		} else if err != nil {
			t.Fatalf("HeadObject %s: %v", k, err)
		}
		wantObject(t, cl, bucket, k, b)
	}
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("crash-empty")}); err != nil && s3Code(err) != "NotFound" {
		t.Fatalf("HeadBucket of the bucket deleted in the crash: %v", err)
	}
	// (b) The parts acknowledged before the crash are listed and complete
	// the upload.
	lp, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("multi"), UploadId: mp.id})
	if err != nil || len(lp.Parts) != 2 || *lp.Parts[0].ETag != etagOf(parts[0]) || *lp.Parts[1].ETag != etagOf(parts[1]) ||
		*lp.Parts[0].Size != int64(len(parts[0])) {
		t.Fatalf("ListParts after the crash: %+v %v", lp, err)
	}
	if err := mp.complete(cl); err != nil {
		t.Fatalf("CompleteMultipartUpload after the crash: %v", err)
	}
	wantObject(t, cl, bucket, "multi", bytes.Join(parts, nil))

	// A crash between UploadPart calls, then during a
	// CompleteMultipartUpload: afterwards either the upload is still
	// there and completes, or the object is whole.
	mp2 := createUpload(t, cl, bucket, "multi2", parts[:1])
	c.crash()
	cl = c.client()
	mp2.upload(t, cl, 2, parts[1])
	go mp2.complete(cl)
	c.crash()
	cl = c.client()
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("multi2")}); s3Code(err) == "NotFound" {
		if err := mp2.complete(cl); err != nil {
			t.Fatalf("CompleteMultipartUpload of the upload a crash cut short: %v", err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	wantObject(t, cl, bucket, "multi2", bytes.Join(parts, nil))
	wantObject(t, cl, "crash-full", "k", whole)
	c.stop()

	// The store's invariants: every object's blobs are there and read
	// back with its ETag; a blob no record names (planted, as a crash
	// between a blob's Put and its record's commit leaves one) and the
	// killed PUT's temporary file are what gc removes.
	out, err := c.run("fsck")
	if err != nil {
		t.Fatalf("fsck after the crashes: %v\n%s", err, out)
	}
	var fr struct {
		Objects []struct {
			Objects, Blobs              int
			Missing, WrongSize, BadETag []string
		}
	}
	if err := json.Unmarshal([]byte(out), &fr); err != nil || len(fr.Objects) != 1 || fr.Objects[0].Objects < 4 {
		t.Fatalf("fsck's report: %v\n%s", err, out)
	}
	bs, err := dir.New(filepath.Join(c.dataDir, "blocks", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Put(ctx, "objects/00000000deadbeef/leftover", strings.NewReader("left"), 4); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	temps := tempFiles(t, c.dataDir)
	for _, p := range temps {
		os.Chtimes(p, old, old)
	}
	if len(temps) == 0 {
		t.Fatal("no temporary file of the killed PUT is left (start's cleanup removes only old ones)")
	}
	out, err = c.run("gc", "--sweep-objects", "--object-grace", "0s")
	if err != nil || !strings.Contains(out, fmt.Sprintf(`"DeletedTemporaryFiles": %d`, len(temps))) {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	if _, err := bs.Stat(ctx, "objects/00000000deadbeef/leftover"); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("gc left the unnamed blob: %v\n%s", err, out)
	}
	if n := len(tempFiles(t, c.dataDir)); n != 0 {
		t.Fatalf("%d temporary files after gc", n)
	}
	out, err = c.run("fsck")
	fr.Objects = nil
	if err != nil || !strings.Contains(out, `"TemporaryFiles": 0`) || json.Unmarshal([]byte(out), &fr) != nil || len(fr.Objects) != 1 {
		t.Fatalf("fsck after gc: %v\n%s", err, out)
	}
	// What is left is exactly the objects' blobs (no upload is in
	// progress): whatever a crash cut off (a deletion's blobs) is gone.
	stored := 0
	if err := bs.List(ctx, "objects/", func(blob.Info) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	if stored != fr.Objects[0].Blobs {
		t.Fatalf("%d object blobs stored after gc, %d named by objects", stored, fr.Objects[0].Blobs)
	}
	c.start()
	cl = c.client()
	wantObject(t, cl, bucket, "whole", whole)
	wantObject(t, cl, bucket, "multi", bytes.Join(parts, nil))
}

// upload is a multipart upload a test drives by hand.
type upload struct {
	bucket, key string
	id          *string
	done        []types.CompletedPart
}

// createUpload starts a multipart upload and uploads parts (numbered
// from 1).
func createUpload(t *testing.T, cl *s3.Client, bucket, key string, parts [][]byte) *upload {
	t.Helper()
	cu, err := cl.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	u := &upload{bucket: bucket, key: key, id: cu.UploadId}
	for i, p := range parts {
		u.upload(t, cl, int32(i+1), p)
	}
	return u
}

func (u *upload) upload(t *testing.T, cl *s3.Client, n int32, body []byte) {
	t.Helper()
	up, err := cl.UploadPart(context.Background(), &s3.UploadPartInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: u.id,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("UploadPart %d: %v", n, err)
	}
	u.done = append(u.done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: up.ETag})
}

// complete completes the upload.
func (u *upload) complete(cl *s3.Client) error {
	_, err := cl.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key),
		UploadId: u.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: u.done}})
	return err
}

func objectIDs(m map[string][]byte) []types.ObjectIdentifier {
	var out []types.ObjectIdentifier
	for k := range m {
		out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
	}
	return out
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
