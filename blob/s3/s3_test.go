package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/blobtest"
	"github.com/openami/openami/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func config(t *testing.T) Config {
	m := testenv.MinIO(t)
	return Config{
		Endpoint:        m.Endpoint,
		Region:          m.Region,
		Bucket:          m.Bucket,
		AccessKeyID:     m.AccessKeyID,
		SecretAccessKey: m.SecretAccessKey,
		UsePathStyle:    true,
	}
}

func newTestStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newTestStore(t, config(t)) })
}

// The conformance suite again, with a prefix, in one bucket shared with
// blobs of another store that the suite must never see.
func TestConformancePrefix(t *testing.T) {
	cfg := config(t)
	cfg.Prefix = "other/"
	other := newTestStore(t, cfg)
	for _, k := range []string{"chunks/00/00aa", "same/identical", "exact/5", "many/00/0000"} {
		if err := other.Put(context.Background(), k, strings.NewReader("other"), 5); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	blobtest.Run(t, func(t *testing.T) blob.Store {
		n++
		c := cfg
		c.Prefix = "regions/r" + string(rune('a'+n)) + "/"
		return newTestStore(t, c)
	})
}

// New creates the bucket, and a second New on an existing bucket works.
func TestNewBucket(t *testing.T) {
	cfg := config(t)
	a := newTestStore(t, cfg)
	if err := a.Put(context.Background(), "k", strings.NewReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	b := newTestStore(t, cfg)
	if _, err := b.Stat(context.Background(), "k"); err != nil {
		t.Errorf("second store on the bucket: %v", err)
	}
}

func TestNewFails(t *testing.T) {
	good := config(t)
	bad := []func(*Config){
		func(c *Config) { c.Bucket = "" },
		func(c *Config) { c.AccessKeyID = "" },
		func(c *Config) { c.Endpoint = "ftp://x" },
		func(c *Config) { c.SecretAccessKey = "wrong-secret" },
		func(c *Config) { c.Bucket = "Not_A_Bucket" },
	}
	for i, f := range bad {
		c := good
		f(&c)
		if _, err := New(context.Background(), c); err == nil {
			t.Errorf("case %d: New(%+v) succeeded", i, c)
		}
	}
}

// An object of the store's prefix whose name is not a key is not listed.
func TestListSkipsForeignObjects(t *testing.T) {
	cfg := config(t)
	raw := newTestStore(t, cfg)
	cfg.Prefix = "p/"
	s := newTestStore(t, cfg)
	ctx := context.Background()
	for _, k := range []string{"p/a", "p/UPPER", "p/x y", "p/tilde~", "p/é"} {
		if _, err := raw.client.PutObject(ctx, putInput(raw.bucket, k)); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := s.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "a" {
		t.Errorf("List = %q, want [a]", keys)
	}
}

// corrupter flips one byte in the body of every upload (PUT) after the
// SDK computed its checksum, as a faulty network or proxy would.
// It also counts uploads that carry no SHA-256 checksum header.
type corrupter struct {
	c          *awshttp.BuildableClient
	flipped    atomic.Int32
	noChecksum atomic.Int32
}

func (c *corrupter) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil && r.ContentLength > 0 {
		if r.Header.Get("X-Amz-Checksum-Sha256") == "" {
			c.noChecksum.Add(1)
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		b[len(b)/2] ^= 0x20
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		c.flipped.Add(1)
	}
	return c.c.Do(r)
}

// Bytes corrupted in transit are refused, and nothing is stored.
func TestCorruptUploadRefused(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	clean := newTestStore(t, cfg)
	cc := &corrupter{c: awshttp.NewBuildableClient()}
	s, err := newStore(ctx, cfg, cc)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{5, 600 << 10, 9 << 20} {
		data := bytes.Repeat([]byte("openami!"), size/8+1)[:size]
		err := s.Put(ctx, "corrupt", bytes.NewReader(data), int64(size))
		t.Logf("Put of %d corrupted bytes: %v", size, err)
		if err == nil {
			t.Errorf("Put of %d bytes corrupted in transit succeeded", size)
		}
		if _, err := clean.Stat(ctx, "corrupt"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("after a refused Put of %d bytes, Stat = %v, want NotFound", size, err)
		}
	}
	if cc.flipped.Load() == 0 {
		t.Error("the corrupter saw no upload")
	}
	if n := cc.noChecksum.Load(); n > 0 {
		t.Errorf("%d uploads had no x-amz-checksum-sha256 header", n)
	}
}

func putInput(bucket, key string) *sdk.PutObjectInput {
	return &sdk.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("x")}
}
