package objects

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

func wantReason(t *testing.T, what string, err error, class openami.Class, res openami.ResourceType, why openami.Reason) {
	t.Helper()
	rulestest.WantClass(t, what, err, class, res)
	if got := openami.ReasonOf(err); got != why {
		t.Fatalf("%s: reason %q, want %q (%v)", what, got, why, err)
	}
}

func TestBucketNames(t *testing.T) {
	for _, good := range []string{"abc", "my.bucket-1", strings.Repeat("a", 63), "1bucket"} {
		if err := CheckBucketName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"ab", strings.Repeat("a", 64), "Abc", "a..b", "-ab", "ab-", "192.168.1.1", "xn--ab", "ab-s3alias", "a_b", "a b"} {
		rulestest.WantClass(t, bad, CheckBucketName(bad), openami.Malformed, openami.ResourceBucket)
	}
}

func TestCreateBucket(t *testing.T) {
	f := newFixture(t)
	b := f.mkBucket(t, "alpha")
	if b.Region != "us-east-1" || b.AccountID != f.owner.Principal.AccountID {
		t.Errorf("bucket %+v", b)
	}
	_, err := f.b.CreateBucket(ctx, f.owner, "alpha", "", ACLInput{})
	wantReason(t, "again by the owner", err, openami.Duplicate, openami.ResourceBucket, openami.ReasonOwnedByYou)
	_, err = f.b.CreateBucket(ctx, f.other, "alpha", "", ACLInput{})
	wantReason(t, "by another", err, openami.Duplicate, openami.ResourceBucket, "")
	_, err = f.b.CreateBucket(ctx, f.owner, "Bad_Name", "", ACLInput{})
	rulestest.WantClass(t, "bad name", err, openami.Malformed, openami.ResourceBucket)
	_, err = f.b.CreateBucket(ctx, f.owner, "beta", "mars-1", ACLInput{})
	rulestest.WantClass(t, "bad region", err, openami.InvalidParameter, openami.ResourceRegion)
	_, err = f.b.CreateBucket(ctx, Anonymous(), "gamma", "", ACLInput{})
	rulestest.WantClass(t, "anonymous", err, openami.Unauthorized, "")
	w, err := f.b.CreateBucket(ctx, f.owner, "west", "us-west-2", ACLInput{Canned: CannedPublicRead})
	if err != nil || w.Region != "us-west-2" {
		t.Fatalf("west: %+v %v", w, err)
	}
	if loc, err := f.b.BucketLocation(ctx, f.owner, "west"); err != nil || loc != "us-west-2" {
		t.Errorf("location %q %v", loc, err)
	}
	list, err := f.b.ListBuckets(ctx, f.owner)
	if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "west" {
		t.Errorf("ListBuckets: %v %v", list, err)
	}
	if list, _ := f.b.ListBuckets(ctx, f.other); len(list) != 0 {
		t.Errorf("other's buckets: %v", list)
	}
	if _, err := f.b.HeadBucket(ctx, f.other, "alpha"); err == nil {
		t.Error("other may head a private bucket")
	}
	if _, err := f.b.HeadBucket(ctx, f.other, "west"); err != nil {
		t.Errorf("other may not head a public-read bucket: %v", err)
	}
	_, err = f.b.HeadBucket(ctx, f.owner, "nope")
	rulestest.WantClass(t, "missing", err, openami.NotFound, openami.ResourceBucket)
}

func TestPutGetObject(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	body := []byte("hello, world")
	h := openami.ObjectHeaders{ContentType: "text/plain", CacheControl: "no-cache", Metadata: map[string]string{"color": "blue"}}
	o, err := f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "dir/hello.txt", Headers: h, Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	if o.ETag != hex.EncodeToString(sum[:]) || o.Size != 12 {
		t.Errorf("object %+v", o)
	}
	got, err := f.get(t, f.owner, "alpha", "dir/hello.txt", nil)
	if err != nil || string(got) != string(body) {
		t.Fatalf("get: %q %v", got, err)
	}
	head, err := f.b.HeadObject(ctx, f.owner, "alpha", "dir/hello.txt", Conditions{})
	if err != nil || head.Headers.CacheControl != "no-cache" || head.Headers.Metadata["color"] != "blue" {
		t.Errorf("head %+v %v", head, err)
	}
	for _, c := range []struct {
		r    ByteRange
		want string
	}{{ByteRange{0, 4}, "hello"}, {ByteRange{7, -1}, "world"}, {ByteRange{-5, -1}, "world"}, {ByteRange{7, 100}, "world"}} {
		got, err := f.get(t, f.owner, "alpha", "dir/hello.txt", &c.r)
		if err != nil || string(got) != c.want {
			t.Errorf("range %+v: %q %v", c.r, got, err)
		}
	}
	_, err = f.get(t, f.owner, "alpha", "dir/hello.txt", &ByteRange{20, -1})
	wantReason(t, "unsatisfiable range", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonRange)
	_, err = f.get(t, f.owner, "alpha", "nope", nil)
	rulestest.WantClass(t, "missing key", err, openami.NotFound, openami.ResourceObject)
	_, err = f.get(t, f.other, "alpha", "nope", nil)
	rulestest.WantClass(t, "missing key, other", err, openami.Unauthorized, "")
	_, err = f.get(t, f.other, "alpha", "dir/hello.txt", nil)
	rulestest.WantClass(t, "other reads", err, openami.Unauthorized, "")
	_, err = f.get(t, Anonymous(), "alpha", "dir/hello.txt", nil)
	rulestest.WantClass(t, "anonymous reads", err, openami.Unauthorized, "")

	// Replacing an object drops the old blob.
	f.put(t, f.owner, "alpha", "dir/hello.txt", []byte("second"))
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs after a replace, want 1", n)
	}
}

func TestPutRefusals(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	body := []byte("data")
	// A body that fails (as the API's payload and checksum checks do at
	// EOF) stores nothing.
	failing := io.MultiReader(bytes.NewReader(body), errReader{errors.New("payload hash mismatch")})
	_, err := f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "k", Body: failing, Size: 4})
	if err == nil || !strings.Contains(err.Error(), "payload hash mismatch") {
		t.Errorf("failing body: %v", err)
	}
	_, err = f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "k", Body: bytes.NewReader(body), Size: MaxPutSize + 1})
	wantReason(t, "too large", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLarge)
	_, err = f.b.PutObject(ctx, f.other, PutInput{Bucket: "alpha", Key: "k", Body: bytes.NewReader(body), Size: 4})
	rulestest.WantClass(t, "other writes", err, openami.Unauthorized, "")
	_, err = f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: strings.Repeat("k", 1025), Body: bytes.NewReader(body), Size: 4})
	wantReason(t, "long key", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLong)
	_, err = f.b.PutObject(ctx, f.owner, PutInput{Bucket: "nope", Key: "k", Body: bytes.NewReader(body), Size: 4})
	rulestest.WantClass(t, "no bucket", err, openami.NotFound, openami.ResourceBucket)
	if n := f.blobCount(t); n != 0 {
		t.Errorf("%d blobs after refusals", n)
	}
	if pg, _ := f.b.ListObjects(ctx, f.owner, "alpha", ListInput{MaxKeys: -1}); len(pg.Objects) != 0 {
		t.Errorf("objects after refusals: %v", pg.Objects)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestConditions(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	o := f.put(t, f.owner, "alpha", "k", []byte("x"))
	before, after := o.LastModified.Add(-time.Hour), o.LastModified.Add(time.Hour)
	for _, c := range []struct {
		cond Conditions
		why  openami.Reason
	}{
		{Conditions{IfMatch: o.ETag}, ""},
		{Conditions{IfMatch: "nope"}, openami.ReasonPrecondition},
		{Conditions{IfNoneMatch: o.ETag}, openami.ReasonNotModified},
		{Conditions{IfNoneMatch: "nope"}, ""},
		{Conditions{IfModifiedSince: after}, openami.ReasonNotModified},
		{Conditions{IfModifiedSince: before}, ""},
		{Conditions{IfUnmodifiedSince: before}, openami.ReasonPrecondition},
		{Conditions{IfUnmodifiedSince: after}, ""},
		{Conditions{IfMatch: o.ETag, IfUnmodifiedSince: before}, ""},
	} {
		_, err := f.b.HeadObject(ctx, f.owner, "alpha", "k", c.cond)
		if got := openami.ReasonOf(err); got != c.why || (c.why == "" && err != nil) {
			t.Errorf("%+v: %v, want %q", c.cond, err, c.why)
		}
	}
}

func TestListObjects(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	for _, k := range []string{"a/1", "a/2", "b", "c/x/1", "c/y", "d"} {
		f.put(t, f.owner, "alpha", k, []byte(k))
	}
	keys := func(pg ListPage) string {
		var out []string
		for _, o := range pg.Objects {
			out = append(out, o.Key)
		}
		return fmt.Sprintf("%v %v %v", out, pg.CommonPrefixes, pg.Truncated)
	}
	for _, c := range []struct {
		in   ListInput
		want string
	}{
		{ListInput{MaxKeys: -1}, "[a/1 a/2 b c/x/1 c/y d] [] false"},
		{ListInput{Delimiter: "/", MaxKeys: -1}, "[b d] [a/ c/] false"},
		{ListInput{Prefix: "c/", Delimiter: "/", MaxKeys: -1}, "[c/y] [c/x/] false"},
		{ListInput{MaxKeys: 2}, "[a/1 a/2] [] true"},
		{ListInput{Delimiter: "/", MaxKeys: 2}, "[b] [a/] true"},
		{ListInput{Delimiter: "/", After: "b", MaxKeys: 2}, "[d] [c/] false"},
		{ListInput{Delimiter: "/", After: "a/", MaxKeys: 1}, "[b] [] true"},
		{ListInput{After: "c/x/1", MaxKeys: -1}, "[c/y d] [] false"},
		{ListInput{MaxKeys: 0}, "[] [] false"},
	} {
		pg, err := f.b.ListObjects(ctx, f.owner, "alpha", c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(pg); got != c.want {
			t.Errorf("%+v: %s, want %s", c.in, got, c.want)
		}
	}
	_, err := f.b.ListObjects(ctx, f.other, "alpha", ListInput{})
	rulestest.WantClass(t, "other lists", err, openami.Unauthorized, "")
}

func TestDeleteObjectAndBucket(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	f.put(t, f.owner, "alpha", "k", []byte("x"))
	err := f.b.DeleteBucket(ctx, f.owner, "alpha")
	wantReason(t, "not empty", err, openami.InUse, openami.ResourceBucket, openami.ReasonNotEmpty)
	rulestest.WantClass(t, "other deletes", f.b.DeleteObject(ctx, f.other, "alpha", "k"), openami.Unauthorized, "")
	if err := f.b.DeleteObject(ctx, f.owner, "alpha", "k"); err != nil {
		t.Fatal(err)
	}
	if err := f.b.DeleteObject(ctx, f.owner, "alpha", "k"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	if n := f.blobCount(t); n != 0 {
		t.Errorf("%d blobs after delete", n)
	}
	u, err := f.b.CreateUpload(ctx, f.owner, "alpha", "big", openami.ObjectHeaders{}, ACLInput{}, openami.Checksum{})
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, "upload in progress", f.b.DeleteBucket(ctx, f.owner, "alpha"), openami.InUse, openami.ResourceBucket, openami.ReasonNotEmpty)
	if err := f.b.AbortUpload(ctx, f.owner, "alpha", "big", u.ID); err != nil {
		t.Fatal(err)
	}
	rulestest.WantClass(t, "other deletes bucket", f.b.DeleteBucket(ctx, f.other, "alpha"), openami.Unauthorized, "")
	if err := f.b.DeleteBucket(ctx, f.owner, "alpha"); err != nil {
		t.Fatal(err)
	}
	rulestest.WantClass(t, "again", f.b.DeleteBucket(ctx, f.owner, "alpha"), openami.NotFound, openami.ResourceBucket)
}

func TestMultipart(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	u, err := f.b.CreateUpload(ctx, f.owner, "alpha", "big", openami.ObjectHeaders{ContentType: "x/y"}, ACLInput{}, openami.Checksum{})
	if err != nil {
		t.Fatal(err)
	}
	p1 := bytes.Repeat([]byte{1}, MinPartSize)
	p2 := []byte("tail")
	up := func(n int, b []byte) openami.UploadPart {
		p, err := f.b.UploadPart(ctx, f.owner, "alpha", "big", u.ID, n, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		return p
	}
	a, b := up(1, p1), up(2, p2)
	up(3, []byte("unlisted"))
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "big", u.ID, []CompletedPart{{Number: 2, ETag: b.ETag}, {Number: 1, ETag: a.ETag}}, nil)
	wantReason(t, "order", err, openami.InvalidParameter, openami.ResourcePart, openami.ReasonOrder)
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "big", u.ID, []CompletedPart{{Number: 1, ETag: a.ETag}, {Number: 2, ETag: "bad"}}, nil)
	wantReason(t, "bad etag", err, openami.InvalidParameter, openami.ResourcePart, "")
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "big", u.ID, []CompletedPart{{Number: 1, ETag: b.ETag}, {Number: 2, ETag: b.ETag}}, nil)
	wantReason(t, "etag of another part", err, openami.InvalidParameter, openami.ResourcePart, "")
	_, err = f.b.UploadPart(ctx, f.owner, "alpha", "big", u.ID, 10001, bytes.NewReader(nil), 0)
	rulestest.WantClass(t, "part number", err, openami.InvalidParameter, openami.ResourcePart)
	_, err = f.b.UploadPart(ctx, f.owner, "alpha", "big", "nope", 1, bytes.NewReader(nil), 0)
	rulestest.WantClass(t, "no upload", err, openami.NotFound, openami.ResourceUpload)
	pg, err := f.b.ListParts(ctx, f.owner, "alpha", "big", u.ID, 0, 2)
	if err != nil || len(pg.Parts) != 2 || !pg.Truncated {
		t.Errorf("ListParts: %+v %v", pg, err)
	}
	ups, err := f.b.ListUploads(ctx, f.owner, "alpha", "", "", "", "", 0)
	if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].ID != u.ID {
		t.Errorf("ListUploads: %+v %v", ups, err)
	}
	o, err := f.b.CompleteUpload(ctx, f.owner, "alpha", "big", u.ID, []CompletedPart{{Number: 1, ETag: a.ETag}, {Number: 2, ETag: b.ETag}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := md5.Sum(p1), md5.Sum(p2)
	want := md5.Sum(append(s1[:], s2[:]...))
	if o.ETag != hex.EncodeToString(want[:])+"-2" || o.Size != int64(len(p1)+len(p2)) || o.Headers.ContentType != "x/y" {
		t.Errorf("object %s %d %+v", o.ETag, o.Size, o.Headers)
	}
	got, err := f.get(t, f.owner, "alpha", "big", &ByteRange{MinPartSize - 2, -1})
	if err != nil || !bytes.Equal(got, []byte{1, 1, 't', 'a', 'i', 'l'}) {
		t.Errorf("range across parts: %v %v", got, err)
	}
	if n := f.blobCount(t); n != 2 {
		t.Errorf("%d blobs after completion, want 2 (the unlisted part deleted)", n)
	}
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "big", u.ID, []CompletedPart{{Number: 1, ETag: a.ETag}}, nil)
	rulestest.WantClass(t, "completed twice", err, openami.NotFound, openami.ResourceUpload)

	// A small part that is not the last is refused.
	u2, _ := f.b.CreateUpload(ctx, f.owner, "alpha", "small", openami.ObjectHeaders{}, ACLInput{}, openami.Checksum{})
	x, _ := f.b.UploadPart(ctx, f.owner, "alpha", "small", u2.ID, 1, strings.NewReader("x"), 1)
	y, _ := f.b.UploadPart(ctx, f.owner, "alpha", "small", u2.ID, 2, strings.NewReader("y"), 1)
	_, err = f.b.CompleteUpload(ctx, f.owner, "alpha", "small", u2.ID, []CompletedPart{{Number: 1, ETag: x.ETag}, {Number: 2, ETag: y.ETag}}, nil)
	wantReason(t, "too small", err, openami.InvalidParameter, openami.ResourcePart, openami.ReasonTooSmall)

	// UploadPartCopy of a range.
	c, err := f.b.UploadPartCopy(ctx, f.owner, "alpha", "small", u2.ID, 3, "alpha", "big", &ByteRange{MinPartSize, -1}, Conditions{}, nil)
	if err != nil || c.Size != 4 {
		t.Fatalf("UploadPartCopy: %+v %v", c, err)
	}
	if _, err := f.b.CompleteUpload(ctx, f.owner, "alpha", "small", u2.ID, []CompletedPart{{Number: 3, ETag: c.ETag}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.get(t, f.owner, "alpha", "small", nil); string(got) != "tail" {
		t.Errorf("copied part: %q", got)
	}
}

func TestCopyObject(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	h := openami.ObjectHeaders{ContentType: "a/b", Metadata: map[string]string{"k": "v"}}
	if _, err := f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "src", Headers: h, Body: strings.NewReader("data"), Size: 4}); err != nil {
		t.Fatal(err)
	}
	o, err := f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "src", Bucket: "alpha", Key: "dst"})
	if err != nil || o.Headers.ContentType != "a/b" || o.Headers.Metadata["k"] != "v" {
		t.Fatalf("COPY: %+v %v", o, err)
	}
	o, err = f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "src", Bucket: "alpha", Key: "dst2",
		ReplaceHeaders: true, Headers: openami.ObjectHeaders{ContentType: "c/d"}})
	if err != nil || o.Headers.ContentType != "c/d" || o.Headers.Metadata != nil {
		t.Fatalf("REPLACE: %+v %v", o, err)
	}
	_, err = f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "src", Bucket: "alpha", Key: "src"})
	rulestest.WantClass(t, "onto itself", err, openami.InvalidParameter, openami.ResourceObject)
	if got, _ := f.get(t, f.owner, "alpha", "dst", nil); string(got) != "data" {
		t.Errorf("copy: %q", got)
	}
	// Deleting the source leaves the copy whole.
	f.b.DeleteObject(ctx, f.owner, "alpha", "src")
	if got, _ := f.get(t, f.owner, "alpha", "dst", nil); string(got) != "data" {
		t.Errorf("copy after the source's deletion: %q", got)
	}
}

func TestACLs(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	f.put(t, f.owner, "alpha", "k", []byte("x"))
	if err := f.b.PutObjectACL(ctx, f.owner, "alpha", "k", ACLInput{Canned: CannedPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.get(t, Anonymous(), "alpha", "k", nil); err != nil {
		t.Errorf("anonymous reads public-read: %v", err)
	}
	rulestest.WantClass(t, "other changes ACL", f.b.PutObjectACL(ctx, f.other, "alpha", "k", ACLInput{}), openami.Unauthorized, "")
	if _, acl, _ := f.b.ObjectACL(ctx, f.owner, "alpha", "k"); len(acl.Grants) != 1 || acl.Grants[0].Grantee.Kind != openami.GranteeAllUsers {
		t.Errorf("ACL after a refused change: %+v", acl)
	}
	// A grant to the other account by canonical id.
	grant := ACLInput{Grants: []openami.ACLGrant{{Grantee: openami.Grantee{Kind: openami.GranteeAccount, AccountID: CanonicalID(f.other.Principal.AccountID)}, Permission: openami.PermRead}}}
	if err := f.b.PutObjectACL(ctx, f.owner, "alpha", "k", grant); err != nil {
		t.Fatal(err)
	}
	if _, err := f.get(t, Anonymous(), "alpha", "k", nil); err == nil {
		t.Error("anonymous reads after the ACL went private")
	}
	if _, err := f.get(t, f.other, "alpha", "k", nil); err != nil {
		t.Errorf("other reads with a grant: %v", err)
	}
	owner, acl, err := f.b.ObjectACL(ctx, f.owner, "alpha", "k")
	if err != nil || owner != f.owner.Principal.AccountID || len(acl.Grants) != 1 || acl.Grants[0].Grantee.AccountID != f.other.Principal.AccountID {
		t.Errorf("ObjectACL: %s %+v %v", owner, acl, err)
	}
	bad := ACLInput{Grants: []openami.ACLGrant{{Grantee: openami.Grantee{Kind: openami.GranteeAccount, AccountID: "999999999999"}, Permission: openami.PermRead}}}
	rulestest.WantClass(t, "unknown grantee", f.b.PutObjectACL(ctx, f.owner, "alpha", "k", bad), openami.InvalidParameter, "")
	if _, acl, _ := f.b.ObjectACL(ctx, f.owner, "alpha", "k"); len(acl.Grants) != 1 || acl.Grants[0].Grantee.AccountID != f.other.Principal.AccountID {
		t.Errorf("ACL after a refused grant: %+v", acl)
	}
	// aws-exec-read: EC2 reads, nobody else.
	if err := f.b.PutObjectACL(ctx, f.owner, "alpha", "k", ACLInput{Canned: CannedAWSExecRead}); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := f.b.Open(ctx, EC2(), "alpha", "k"); err != nil {
		t.Errorf("EC2 reads aws-exec-read: %v", err)
	} else {
		rc.Close()
	}
	if _, err := f.get(t, f.other, "alpha", "k", nil); err == nil {
		t.Error("other reads aws-exec-read")
	}
	// A public-read-write bucket lets anybody write.
	if err := f.b.PutBucketACL(ctx, f.owner, "alpha", ACLInput{Canned: CannedPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.PutObject(ctx, f.other, PutInput{Bucket: "alpha", Key: "theirs", Body: strings.NewReader("y"), Size: 1, ACL: ACLInput{Canned: CannedBucketOwnerFullControl}}); err != nil {
		t.Fatalf("other writes into public-read-write: %v", err)
	}
	if _, err := f.get(t, f.owner, "alpha", "theirs", nil); err != nil {
		t.Errorf("bucket owner reads bucket-owner-full-control: %v", err)
	}
	_, bacl, err := f.b.BucketACL(ctx, f.owner, "alpha")
	if err != nil || len(bacl.Grants) != 2 {
		t.Errorf("BucketACL: %+v %v", bacl, err)
	}
	_, _, err = f.b.BucketACL(ctx, f.other, "alpha")
	rulestest.WantClass(t, "other reads bucket ACL", err, openami.Unauthorized, "")
}

func TestBucketPolicy(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	f.put(t, f.owner, "alpha", "pub/a", []byte("a"))
	f.put(t, f.owner, "alpha", "priv/b", []byte("b"))
	other := f.other.Principal.AccountID
	_, err := f.b.BucketPolicy(ctx, f.owner, "alpha")
	rulestest.WantClass(t, "no policy", err, openami.NotFound, openami.ResourceBucketPolicy)
	for _, bad := range []string{
		`{`, `{"Statement":[]}`,
		`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::alpha/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::beta/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*","Condition":{}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*"}]}`,
	} {
		rulestest.WantClass(t, bad, f.b.PutBucketPolicy(ctx, f.owner, "alpha", bad), openami.Malformed, openami.ResourceBucketPolicy)
	}
	_, err = f.b.BucketPolicy(ctx, f.owner, "alpha")
	rulestest.WantClass(t, "policy after refusals", err, openami.NotFound, openami.ResourceBucketPolicy)
	pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::%s:root"]},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::alpha","arn:aws:s3:::alpha/*"]},
 {"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::alpha/pub/*"},
 {"Effect":"Deny","Principal":{"AWS":"%s"},"Action":"s3:*","Resource":"arn:aws:s3:::alpha/priv/secret*"}]}`, other, other)
	rulestest.WantClass(t, "other puts policy", f.b.PutBucketPolicy(ctx, f.other, "alpha", pol), openami.Unauthorized, "")
	if err := f.b.PutBucketPolicy(ctx, f.owner, "alpha", pol); err != nil {
		t.Fatal(err)
	}
	f.put(t, f.owner, "alpha", "priv/secret1", []byte("s"))
	if _, err := f.get(t, f.other, "alpha", "priv/b", nil); err != nil {
		t.Errorf("other reads under the policy: %v", err)
	}
	if _, err := f.b.ListObjects(ctx, f.other, "alpha", ListInput{}); err != nil {
		t.Errorf("other lists under the policy: %v", err)
	}
	_, err = f.get(t, f.other, "alpha", "priv/secret1", nil)
	rulestest.WantClass(t, "denied", err, openami.Unauthorized, "")
	if _, err := f.get(t, Anonymous(), "alpha", "pub/a", nil); err != nil {
		t.Errorf("anonymous reads pub/: %v", err)
	}
	_, err = f.get(t, Anonymous(), "alpha", "priv/b", nil)
	rulestest.WantClass(t, "anonymous reads priv/", err, openami.Unauthorized, "")
	_, err = f.b.PutObject(ctx, f.other, PutInput{Bucket: "alpha", Key: "x", Body: strings.NewReader("x"), Size: 1})
	rulestest.WantClass(t, "other writes", err, openami.Unauthorized, "")
	if got, err := f.b.BucketPolicy(ctx, f.owner, "alpha"); err != nil || got != pol {
		t.Errorf("BucketPolicy: %v", err)
	}
	if err := f.b.DeleteBucketPolicy(ctx, f.owner, "alpha"); err != nil {
		t.Fatal(err)
	}
	_, err = f.get(t, f.other, "alpha", "priv/b", nil)
	rulestest.WantClass(t, "after delete", err, openami.Unauthorized, "")
}

// TestSweep: Sweep keeps blobs younger than the grace period and named
// ones; it removes an old unnamed blob only once an earlier Sweep found it
// unnamed at least confirm ago, so that a blob whose record commits
// meanwhile (a Put whose store dated it from its start) is kept.
func TestSweep(t *testing.T) {
	f := newFixture(t)
	b := f.mkBucket(t, "alpha")
	f.put(t, f.owner, "alpha", "kept", []byte("x"))
	// Crash leftovers: a blob of the bucket no record names, and one of
	// a bucket that is gone; and a blob whose record is about to commit.
	late := newBlobKey(b)
	for _, k := range []string{newBlobKey(b), "objects/0000000000000000/leftover", late} {
		if err := f.blobsE.Put(ctx, k, strings.NewReader("zz"), 2); err != nil {
			t.Fatal(err)
		}
	}
	if sw, err := f.b.Sweep(ctx, time.Hour, time.Minute); err != nil || sw.Blobs != 0 {
		t.Errorf("Sweep within the grace period: %+v %v", sw, err)
	}
	f.env.Clock.Add(2 * time.Hour)
	if sw, err := f.b.Sweep(ctx, time.Hour, time.Minute); err != nil || sw.Blobs != 0 {
		t.Errorf("first Sweep past the grace period: %+v %v", sw, err)
	}
	err := f.env.Store.Update(ctx, func(tx metadata.Tx) error {
		_, err := tx.Objects().Put(openami.Object{BucketID: b.ID, Key: "late", AccountID: b.AccountID, Size: 2, ETag: "x",
			LastModified: f.env.Clock.Now(), Parts: []openami.ObjectPart{{Blob: late, Size: 2}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.env.Clock.Add(30 * time.Second)
	if sw, err := f.b.Sweep(ctx, time.Hour, time.Minute); err != nil || sw.Blobs != 0 {
		t.Errorf("Sweep before confirm: %+v %v", sw, err)
	}
	f.env.Clock.Add(time.Minute)
	sw, err := f.b.Sweep(ctx, time.Hour, time.Minute)
	if err != nil || sw.Blobs != 2 || sw.Bytes != 4 {
		t.Errorf("Sweep: %+v %v", sw, err)
	}
	if got, err := f.get(t, f.owner, "alpha", "kept", nil); err != nil || string(got) != "x" {
		t.Errorf("kept object: %q %v", got, err)
	}
	if got, err := f.get(t, f.owner, "alpha", "late", nil); err != nil || string(got) != "zz" {
		t.Errorf("the object recorded between sweeps: %q %v", got, err)
	}
	if n := f.blobCount(t); n != 2 {
		t.Errorf("%d blobs after Sweep", n)
	}
}

func TestEnsureBucket(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		if _, err := f.b.EnsureBucket(ctx, f.owner.Principal, "bundles"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.b.EnsureBucket(ctx, f.other.Principal, "bundles")
	rulestest.WantClass(t, "another's", err, openami.Duplicate, openami.ResourceBucket)
	if _, err := f.b.Put(ctx, f.owner, "bundles", "m.xml", strings.NewReader("<m/>"), 4, openami.ObjectHeaders{}, CannedAWSExecRead); err != nil {
		t.Fatal(err)
	}
	rc, o, err := f.b.Open(ctx, EC2(), "bundles", "m.xml")
	if err != nil || o.Size != 4 {
		t.Fatalf("Open: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "<m/>" {
		t.Errorf("read %q", got)
	}
}
