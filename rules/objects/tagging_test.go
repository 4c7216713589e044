package objects

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
)

func tags(kv ...string) []openami.Tag {
	var out []openami.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, openami.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestCheckTags(t *testing.T) {
	eleven := make([]openami.Tag, 11)
	for i := range eleven {
		eleven[i] = openami.Tag{Key: fmt.Sprint("k", i)}
	}
	ten := eleven[:10]
	for _, c := range []struct {
		name string
		tags []openami.Tag
		ok   bool
	}{
		{"none", nil, true},
		{"ten", ten, true},
		{"eleven", eleven, false},
		{"unicode and symbols", tags("Ünïcode キー", "a+b-c=d.e_f:g/h@i 9"), true},
		{"empty value", tags("k", ""), true},
		{"empty key", tags("", "v"), false},
		{"key 128", tags(strings.Repeat("é", 128), "v"), true},
		{"key 129", tags(strings.Repeat("é", 129), "v"), false},
		{"value 256", tags("k", strings.Repeat("ü", 256)), true},
		{"value 257", tags("k", strings.Repeat("ü", 257)), false},
		{"aws: prefix", tags("aws:x", "v"), false},
		{"bad key char", tags("a!b", "v"), false},
		{"bad value char", tags("k", "v*"), false},
		{"not utf-8", tags("k", "\xff"), false},
		{"duplicate key", tags("k", "1", "k", "2"), false},
	} {
		err := CheckTags(c.tags)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok {
			wantReason(t, c.name, err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag)
		}
	}
}

// TestObjectTagging: tags set on a PUT, read, replaced and deleted
// through the tagging subresource without touching the object's bytes or
// ETag; refusals change nothing; only the owner and the policy's allowed
// may touch them (no ACL grants tags); a copy keeps or replaces them.
func TestObjectTagging(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	body := []byte("tagged")
	put, err := f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "k", Headers: openami.ObjectHeaders{Tags: tags("a", "1", "b", "2")},
		Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.b.ObjectTags(ctx, f.owner, "alpha", "k")
	if err != nil || !reflect.DeepEqual(got, tags("a", "1", "b", "2")) {
		t.Fatalf("ObjectTags after PUT: %v %v", got, err)
	}
	_, err = f.b.PutObject(ctx, f.owner, PutInput{Bucket: "alpha", Key: "bad", Headers: openami.ObjectHeaders{Tags: tags("k", "1", "k", "2")},
		Body: bytes.NewReader(body), Size: int64(len(body))})
	wantReason(t, "PUT with duplicate tags", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag)
	if _, err := f.get(t, f.owner, "alpha", "bad", nil); err == nil {
		t.Error("an object put with bad tags was stored")
	}

	if err := f.b.PutObjectTags(ctx, f.owner, "alpha", "k", tags("c", "3")); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "eleven tags", f.b.PutObjectTags(ctx, f.owner, "alpha", "k", make([]openami.Tag, 11)),
		openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag)
	o, err := f.b.HeadObject(ctx, f.owner, "alpha", "k", Conditions{})
	if err != nil || !reflect.DeepEqual(o.Headers.Tags, tags("c", "3")) || o.ETag != put.ETag || !o.LastModified.Equal(put.LastModified) {
		t.Errorf("after PutObjectTags: %+v %v", o, err)
	}
	if b, err := f.get(t, f.owner, "alpha", "k", nil); err != nil || string(b) != string(body) {
		t.Errorf("body after tagging: %q %v", b, err)
	}

	// Others: a public-read ACL lets them read the object, not its tags.
	if err := f.b.PutObjectACL(ctx, f.owner, "alpha", "k", ACLInput{Canned: CannedPublicRead}); err != nil {
		t.Fatal(err)
	}
	_, err = f.b.ObjectTags(ctx, f.other, "alpha", "k")
	rulestest.WantClass(t, "other reads tags", err, openami.Unauthorized, "")
	rulestest.WantClass(t, "other puts tags", f.b.PutObjectTags(ctx, f.other, "alpha", "k", nil), openami.Unauthorized, "")
	rulestest.WantClass(t, "other deletes tags", f.b.DeleteObjectTags(ctx, f.other, "alpha", "k"), openami.Unauthorized, "")
	if o, err := f.b.HeadObject(ctx, f.other, "alpha", "k", Conditions{}); err != nil || len(o.Headers.Tags) != 0 {
		t.Errorf("other's HeadObject shows tags it may not read: %+v %v", o.Headers.Tags, err)
	}
	_, err = f.b.ObjectTags(ctx, f.other, "alpha", "missing")
	rulestest.WantClass(t, "other, missing key", err, openami.Unauthorized, "")
	_, err = f.b.ObjectTags(ctx, f.owner, "alpha", "missing")
	rulestest.WantClass(t, "owner, missing key", err, openami.NotFound, openami.ResourceObject)

	// The bucket's policy may allow them.
	pol := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"%s"},
 "Action":["s3:GetObjectTagging","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::alpha/*"}]}`, f.other.Principal.AccountID)
	if err := f.b.PutBucketPolicy(ctx, f.owner, "alpha", pol); err != nil {
		t.Fatal(err)
	}
	if err := f.b.PutObjectTags(ctx, f.other, "alpha", "k", tags("d", "4")); err != nil {
		t.Errorf("other puts tags under the policy: %v", err)
	}
	if got, err := f.b.ObjectTags(ctx, f.other, "alpha", "k"); err != nil || !reflect.DeepEqual(got, tags("d", "4")) {
		t.Errorf("other reads tags under the policy: %v %v", got, err)
	}
	rulestest.WantClass(t, "other deletes tags, not allowed", f.b.DeleteObjectTags(ctx, f.other, "alpha", "k"), openami.Unauthorized, "")

	// Copies: COPY keeps the source's tags, REPLACE sets new ones, even
	// with the metadata directive REPLACE.
	if _, err := f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "k", Bucket: "alpha", Key: "c1",
		ReplaceHeaders: true, Headers: openami.ObjectHeaders{ContentType: "x/y"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.b.ObjectTags(ctx, f.owner, "alpha", "c1"); !reflect.DeepEqual(got, tags("d", "4")) {
		t.Errorf("COPY tags: %v", got)
	}
	if _, err := f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "k", Bucket: "alpha", Key: "c2",
		ReplaceTags: true, Tags: tags("e", "5")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.b.ObjectTags(ctx, f.owner, "alpha", "c2"); !reflect.DeepEqual(got, tags("e", "5")) {
		t.Errorf("REPLACE tags: %v", got)
	}
	_, err = f.b.CopyObject(ctx, f.owner, CopyInput{SourceBucket: "alpha", SourceKey: "k", Bucket: "alpha", Key: "c3",
		ReplaceTags: true, Tags: tags("aws:x", "5")})
	wantReason(t, "copy with bad tags", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag)

	if err := f.b.DeleteObjectTags(ctx, f.owner, "alpha", "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.b.ObjectTags(ctx, f.owner, "alpha", "k"); err != nil || len(got) != 0 {
		t.Errorf("after DeleteObjectTags: %v %v", got, err)
	}
}

// TestMultipartTags: CreateUpload's tags become the object's.
func TestMultipartTags(t *testing.T) {
	f := newFixture(t)
	f.mkBucket(t, "alpha")
	_, err := f.b.CreateUpload(ctx, f.owner, "alpha", "m", openami.ObjectHeaders{Tags: tags("a", strings.Repeat("v", 257))}, ACLInput{}, openami.Checksum{})
	wantReason(t, "bad tags", err, openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag)
	u, err := f.b.CreateUpload(ctx, f.owner, "alpha", "m", openami.ObjectHeaders{Tags: tags("a", "1")}, ACLInput{}, openami.Checksum{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.b.UploadPart(ctx, f.owner, "alpha", "m", u.ID, 1, strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.CompleteUpload(ctx, f.owner, "alpha", "m", u.ID, []CompletedPart{{Number: 1, ETag: p.ETag}}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := f.b.ObjectTags(ctx, f.owner, "alpha", "m"); err != nil || !reflect.DeepEqual(got, tags("a", "1")) {
		t.Errorf("tags of the completed upload: %v %v", got, err)
	}
}
