package objects

import (
	"bytes"
	"strings"
	"testing"

	"github.com/openami/openami"
)

// TestCheck: Check finds every object whole, then an object whose blob
// was changed (by its ETag, when verifying), one whose blob is missing,
// and one whose blob has the wrong size.
func TestCheck(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	a := f.put(t, f.owner, "alpha", "a", []byte("abc"))
	f.put(t, f.owner, "alpha", "empty", nil)
	s := f.put(t, f.owner, "alpha", "s", []byte("short"))
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
	m, err := f.b.CompleteUpload(ctx, f.owner, "alpha", "m", u.ID, done, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.b.Check(ctx, "us-east-1", true)
	if err != nil || rep.Damaged() || rep.Buckets != 1 || rep.Objects != 4 || rep.Blobs != 5 {
		t.Fatalf("Check of whole objects: %+v %v", rep, err)
	}

	// Same size, other bytes: only verifying finds it.
	if err := f.blobsE.Put(ctx, a.Parts[0].Blob, strings.NewReader("abd"), 3); err != nil {
		t.Fatal(err)
	}
	if err := f.blobsE.Put(ctx, s.Parts[0].Blob, strings.NewReader("longer"), 6); err != nil {
		t.Fatal(err)
	}
	if err := f.blobsE.Delete(ctx, m.Parts[1].Blob); err != nil {
		t.Fatal(err)
	}
	rep, err = f.b.Check(ctx, "us-east-1", false)
	if err != nil || len(rep.BadETag) != 0 || len(rep.Missing) != 1 || len(rep.WrongSize) != 1 ||
		!strings.HasPrefix(rep.Missing[0], "alpha/m: ") || !strings.HasPrefix(rep.WrongSize[0], "alpha/s: ") {
		t.Fatalf("quick Check: %+v %v", rep, err)
	}
	rep, err = f.b.Check(ctx, "us-east-1", true)
	if err != nil || len(rep.BadETag) != 1 || rep.BadETag[0] != "alpha/a" || len(rep.Missing) != 1 || len(rep.WrongSize) != 1 {
		t.Fatalf("verifying Check: %+v %v", rep, err)
	}
}
