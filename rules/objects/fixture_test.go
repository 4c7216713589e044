package objects

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Buckets over a SQLite store and a blob/dir store per region,
// with two accounts (owner and other, in us-east-1).
type fixture struct {
	b      *Buckets
	env    *rulestest.Env
	owner  Caller
	other  Caller
	blobsE blob.Store // us-east-1's blob store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	ids := env.Identity()
	f := &fixture{env: env, b: New(Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Clock: env.Clock.Now}),
		blobsE: env.Blobs["us-east-1"]}
	f.owner = As(rulestest.NewAccount(t, ids, "owner"))
	f.other = As(rulestest.NewAccount(t, ids, "other"))
	return f
}

var ctx = context.Background()

func (f *fixture) mkBucket(t *testing.T, name string) openami.Bucket {
	t.Helper()
	b, err := f.b.CreateBucket(ctx, f.owner, name, "", ACLInput{})
	if err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return b
}

func (f *fixture) put(t *testing.T, c Caller, bucket, key string, body []byte) openami.Object {
	t.Helper()
	o, err := f.b.PutObject(ctx, c, PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatalf("PutObject %s/%s: %v", bucket, key, err)
	}
	return o
}

func (f *fixture) get(t *testing.T, c Caller, bucket, key string, rng *ByteRange) ([]byte, error) {
	t.Helper()
	r, err := f.b.GetObject(ctx, c, bucket, key, rng, Conditions{})
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// blobCount is the number of object blobs in us-east-1's store.
func (f *fixture) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	if err := f.blobsE.List(ctx, blobPrefix, func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
