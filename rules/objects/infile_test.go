package objects

import (
	"bytes"
	"io"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
)

// OpenFile hands a one-part object on a directory store over as its file,
// only to a caller who may read it, and declines a multipart object.
func TestOpenFile(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	f.put(t, f.owner, "alpha", "disk", []byte("a disk image"))
	file, o, err := f.b.OpenFile(ctx, f.owner, "alpha", "disk")
	if err != nil || file == nil {
		t.Fatalf("OpenFile of a one-part object: %v, %v", file, err)
	}
	got, err := io.ReadAll(file)
	file.Close()
	if err != nil || string(got) != "a disk image" || o.Size != int64(len(got)) {
		t.Fatalf("the file reads %q, %v (size %d)", got, err, o.Size)
	}
	_, _, err = f.b.OpenFile(ctx, f.other, "alpha", "disk")
	rulestest.WantClass(t, "another account", err, openami.Unauthorized, "")
	_, _, err = f.b.OpenFile(ctx, f.owner, "alpha", "missing")
	rulestest.WantClass(t, "a missing key", err, openami.NotFound, openami.ResourceObject)

	u, err := f.b.CreateUpload(ctx, f.owner, "alpha", "m", openami.ObjectHeaders{}, ACLInput{}, openami.Checksum{})
	if err != nil {
		t.Fatal(err)
	}
	var done []CompletedPart
	for i, body := range [][]byte{bytes.Repeat([]byte{7}, MinPartSize), []byte("tail")} {
		p, err := f.b.UploadPart(ctx, f.owner, "alpha", "m", u.ID, i+1, bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, CompletedPart{Number: i + 1, ETag: p.ETag})
	}
	if _, err := f.b.CompleteUpload(ctx, f.owner, "alpha", "m", u.ID, done, nil); err != nil {
		t.Fatal(err)
	}
	if file, _, err := f.b.OpenFile(ctx, f.owner, "alpha", "m"); err != nil || file != nil {
		t.Fatalf("OpenFile of a multipart object: %v, %v; want no file, no error", file, err)
	}
}
