package objects

import (
	"bytes"
	"crypto/md5"
	"errors"
	"hash"
	"io"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// fakeSummed is a Summed body whose checksum is a fixed value, as the S3
// API's reader gives one it has checked.
type fakeSummed struct {
	r   io.Reader
	h   hash.Hash
	sum openami.Checksum
}

func summedOf(b []byte, alg, value string) *fakeSummed {
	return &fakeSummed{r: bytes.NewReader(b), h: md5.New(), sum: openami.Checksum{Algorithm: alg, Value: value}}
}

func (f *fakeSummed) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.h.Write(p[:n])
	return n, err
}
func (f *fakeSummed) MD5() []byte                { return f.h.Sum(nil) }
func (f *fakeSummed) Checksum() openami.Checksum { return f.sum }

// TestChecksums: a Summed body's ETag and checksum are the object's and
// the part's records; a part of another algorithm than its upload's is
// refused before any byte is stored; completion keeps the checksum
// combine makes of the listed parts', refuses a listed checksum that is
// not the part's, and fails (storing nothing) when combine fails; a copy
// keeps a full-object checksum.
func TestChecksums(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	o, err := f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "k", Body: summedOf([]byte("data"), "CRC32", "rfSbAw=="), Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	var stored openami.Object
	f.b.view(ctx, func(tx metadata.Tx) error {
		b, _ := bucket(tx, "alpha")
		stored, err = tx.Objects().Get(b.ID, "k")
		return err
	})
	want := openami.Checksum{Algorithm: "CRC32", Value: "rfSbAw=="}
	if o.Checksum != want || stored.Checksum != want || stored.ETag != "8d777f385d3dfec8815d20f7496026dc" {
		t.Errorf("stored %+v %q, returned %+v", stored.Checksum, stored.ETag, o.Checksum)
	}
	c, err := f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "k", Bucket: "alpha", Key: "copy"})
	if err != nil || c.Checksum != want {
		t.Errorf("copy: %+v %v", c.Checksum, err)
	}

	u, err := f.b.CreateUpload(ctx, f.owner, "alpha", "mp", openami.ObjectHeaders{}, ACLInput{}, openami.Checksum{Algorithm: "CRC32", Composite: true})
	if err != nil || u.Checksum.Algorithm != "CRC32" || !u.Checksum.Composite {
		t.Fatalf("CreateUpload: %+v %v", u.Checksum, err)
	}
	before := f.blobCount(t)
	_, err = f.b.UploadPart(ctx, f.owner, "alpha", "mp", u.ID, 1, summedOf([]byte("x"), "SHA256", "whatever"), 1)
	if err == nil || !strings.Contains(err.Error(), "expected checksum Type: crc32, actual checksum Type: sha256") || f.blobCount(t) != before {
		t.Errorf("part of another algorithm: %v (%d blobs, %d before)", err, f.blobCount(t), before)
	}
	_, err = f.b.UploadPart(ctx, f.owner, "alpha", "mp", u.ID, 1, summedOf([]byte("x"), "", ""), 1)
	if err == nil || !strings.Contains(err.Error(), "actual checksum Type: null") {
		t.Errorf("part without a checksum: %v", err)
	}
	p1, err := f.b.UploadPart(ctx, f.owner, "alpha", "mp", u.ID, 1, summedOf(bytes.Repeat([]byte{1}, MinPartSize), "CRC32", "AAAAAQ=="), MinPartSize)
	if err != nil || p1.Checksum.Value != "AAAAAQ==" {
		t.Fatalf("part 1: %+v %v", p1, err)
	}
	p2, err := f.b.UploadPart(ctx, f.owner, "alpha", "mp", u.ID, 2, summedOf([]byte("tail"), "CRC32", "AAAAAg=="), 4)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := f.b.ListParts(ctx, f.owner, "alpha", "mp", u.ID, 0, 0)
	if err != nil || pg.Upload.Checksum.Algorithm != "CRC32" || len(pg.Parts) != 2 || pg.Parts[1].Checksum.Value != "AAAAAg==" {
		t.Errorf("ListParts: %+v %v", pg, err)
	}
	list := []CompletedPart{{Number: 1, ETag: p1.ETag, Checksum: "AAAAAQ=="}, {Number: 2, ETag: p2.ETag}}
	var seen []openami.UploadPart
	combine := func(up openami.Checksum, parts []openami.UploadPart) (openami.Checksum, error) {
		seen = parts
		return openami.Checksum{Algorithm: up.Algorithm, Value: "combined-2", Composite: up.Composite}, nil
	}
	bad := []CompletedPart{{Number: 1, ETag: p1.ETag, Checksum: "AAAAAg=="}, {Number: 2, ETag: p2.ETag}}
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "mp", u.ID, bad, combine)
	wantReason(t, "listed checksum not the part's", err, openami.InvalidParameter, openami.ResourcePart, "")
	boom := errors.New("parts do not combine")
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "mp", u.ID, list, func(openami.Checksum, []openami.UploadPart) (openami.Checksum, error) {
		return openami.Checksum{}, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("combine failing: %v", err)
	}
	if _, err := f.b.HeadObject(ctx, f.owner, "alpha", "mp", Conditions{}); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("an object after a failed completion: %v", err)
	}
	o, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "mp", u.ID, list, combine)
	if err != nil {
		t.Fatal(err)
	}
	if o.Checksum != (openami.Checksum{Algorithm: "CRC32", Value: "combined-2", Composite: true}) || len(seen) != 2 || seen[0].Number != 1 || seen[1].Size != 4 {
		t.Errorf("completed: %+v, combine saw %+v", o.Checksum, seen)
	}
	if h, _ := f.b.HeadObject(ctx, f.owner, "alpha", "mp", Conditions{}); h.Checksum != o.Checksum {
		t.Errorf("stored %+v", h.Checksum)
	}
	c, err = f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "mp", Bucket: "alpha", Key: "copy2"})
	if err != nil || c.Checksum != (openami.Checksum{}) {
		t.Errorf("copy of a composite: %+v %v", c.Checksum, err)
	}
}
