package storetest

import (
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

var t0Objects = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)

func bucket(name, id, acct string) openami.Bucket {
	return openami.Bucket{ID: id, Name: name, Region: region1, AccountID: acct, CreatedAt: t0Objects}
}

func object(bucketID, key string, blobs ...string) openami.Object {
	o := openami.Object{BucketID: bucketID, Key: key, AccountID: acct1, ETag: "e", LastModified: t0Objects,
		Headers: openami.ObjectHeaders{ContentType: "text/plain", Metadata: map[string]string{"a": "b"}}}
	for _, b := range blobs {
		o.Parts = append(o.Parts, openami.ObjectPart{Blob: b, Size: 1})
		o.Size++
	}
	return o
}

func testBuckets(t *testing.T, s metadata.Store) {
	b := bucket("bravo", "b1", acct1)
	b.ACL = openami.ACL{Grants: []openami.ACLGrant{{Grantee: openami.Grantee{Kind: openami.GranteeAllUsers}, Permission: openami.PermRead}}}
	update(t, s, func(tx metadata.Tx) error {
		for _, x := range []openami.Bucket{b, bucket("alpha", "b2", acct1), bucket("charlie", "b3", acct2)} {
			if err := tx.Buckets().Create(x); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Buckets().Create(bucket("bravo", "b9", acct2)) }),
		openami.Duplicate, openami.ResourceBucket)
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Buckets().Create(bucket("delta", "b1", acct2)) }),
		openami.Duplicate, openami.ResourceBucket)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Buckets().Get("bravo")
		if err != nil {
			return err
		}
		equal(t, "Get", got, b)
		_, err = tx.Buckets().Get("nope")
		wantClass(t, err, openami.NotFound, openami.ResourceBucket)
		list, err := tx.Buckets().List(acct1)
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "bravo" {
			t.Errorf("List(acct1): %v", list)
		}
		all, err := tx.Buckets().List("")
		if err != nil {
			return err
		}
		if len(all) != 3 {
			t.Errorf("List(all): %v", all)
		}
		return nil
	})
	b.Policy = `{"Version":"2012-10-17"}`
	b.ACL = openami.ACL{}
	update(t, s, func(tx metadata.Tx) error { return tx.Buckets().Update(b) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Buckets().Get("bravo")
		equal(t, "Get after Update", got, b)
		return err
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Buckets().Delete("alpha") })
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Buckets().Delete("alpha") }), openami.NotFound, openami.ResourceBucket)
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Buckets().Update(bucket("alpha", "b2", acct1)) }),
		openami.NotFound, openami.ResourceBucket)
}

func testObjects(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Buckets().Create(bucket("bravo", "b1", acct1)) })
	keys := []string{"a\xc3\xa9", "a0", "a/b", "a/c/d", "Z", "b"}
	update(t, s, func(tx metadata.Tx) error {
		for _, k := range keys {
			old, err := tx.Objects().Put(object("b1", k, "objects/b1/"+k))
			if err != nil || old != nil {
				t.Errorf("Put %q: %v, %v", k, old, err)
			}
		}
		return nil
	})
	replaced := object("b1", "b", "objects/b1/new1", "objects/b1/new2")
	update(t, s, func(tx metadata.Tx) error {
		old, err := tx.Objects().Put(replaced)
		if err != nil {
			return err
		}
		equal(t, "replaced", old, &[]openami.Object{object("b1", "b", "objects/b1/b")}[0])
		return nil
	})
	listKeys := func(q metadata.ObjectQuery) []string {
		var out []string
		view(t, s, func(tx metadata.Tx) error {
			list, err := tx.Objects().List("b1", q)
			for _, o := range list {
				out = append(out, o.Key)
			}
			return err
		})
		return out
	}
	equal(t, "List all", listKeys(metadata.ObjectQuery{}), []string{"Z", "a/b", "a/c/d", "a0", "a\xc3\xa9", "b"})
	equal(t, "List prefix a/", listKeys(metadata.ObjectQuery{Prefix: "a/"}), []string{"a/b", "a/c/d"})
	equal(t, "List after a/b", listKeys(metadata.ObjectQuery{After: "a/b", Limit: 2}), []string{"a/c/d", "a0"})
	equal(t, "List prefix a after a/\\xff", listKeys(metadata.ObjectQuery{Prefix: "a", After: "a/\xff"}), []string{"a0", "a\xc3\xa9"})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Objects().Get("b1", "b")
		equal(t, "Get", got, replaced)
		_, gerr := tx.Objects().Get("b1", "nope")
		wantClass(t, gerr, openami.NotFound, openami.ResourceObject)
		var blobs []string
		if err := tx.Objects().Blobs("b1", func(b string) { blobs = append(blobs, b) }); err != nil {
			return err
		}
		if len(blobs) != 7 {
			t.Errorf("Blobs: %q", blobs)
		}
		empty, eerr := tx.Objects().Empty("b1")
		if eerr != nil || empty {
			t.Errorf("Empty: %v %v", empty, eerr)
		}
		return err
	})
	update(t, s, func(tx metadata.Tx) error {
		for _, k := range keys {
			if _, err := tx.Objects().Delete("b1", k); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { _, err := tx.Objects().Delete("b1", "b"); return err }),
		openami.NotFound, openami.ResourceObject)
	view(t, s, func(tx metadata.Tx) error {
		empty, err := tx.Objects().Empty("b1")
		if !empty {
			t.Errorf("Empty after deletes: false")
		}
		return err
	})
}

func testUploads(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Buckets().Create(bucket("bravo", "b1", acct1)) })
	u := openami.Upload{ID: "u2", BucketID: "b1", Key: "big", AccountID: acct1, Initiated: t0Objects,
		Headers: openami.ObjectHeaders{ContentType: "x/y"}}
	update(t, s, func(tx metadata.Tx) error {
		for _, x := range []openami.Upload{u, {ID: "u1", BucketID: "b1", Key: "big"}, {ID: "u0", BucketID: "b1", Key: "other"}} {
			if err := tx.Objects().CreateUpload(x); err != nil {
				return err
			}
		}
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Objects().CreateUpload(u) }), openami.Duplicate, openami.ResourceUpload)
	part := func(n int, blob string) openami.UploadPart {
		return openami.UploadPart{UploadID: "u2", Number: n, Blob: blob, Size: 5, ETag: "m", LastModified: t0Objects}
	}
	update(t, s, func(tx metadata.Tx) error {
		for _, p := range []openami.UploadPart{part(2, "p2"), part(1, "p1")} {
			if old, err := tx.Objects().PutPart(p); err != nil || old != nil {
				t.Errorf("PutPart %d: %v %v", p.Number, old, err)
			}
		}
		old, err := tx.Objects().PutPart(part(2, "p2b"))
		if err != nil {
			return err
		}
		equal(t, "replaced part", old, &[]openami.UploadPart{part(2, "p2")}[0])
		return nil
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error {
		_, err := tx.Objects().PutPart(openami.UploadPart{UploadID: "u9", Number: 1})
		return err
	}),
		openami.NotFound, openami.ResourceUpload)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Objects().GetUpload("b1", "u2")
		equal(t, "GetUpload", got, u)
		_, gerr := tx.Objects().GetUpload("b2", "u2")
		wantClass(t, gerr, openami.NotFound, openami.ResourceUpload)
		parts, _ := tx.Objects().ListParts("u2", 0, 0)
		equal(t, "ListParts", parts, []openami.UploadPart{part(1, "p1"), part(2, "p2b")})
		parts, _ = tx.Objects().ListParts("u2", 1, 1)
		equal(t, "ListParts after 1", parts, []openami.UploadPart{part(2, "p2b")})
		ups, _ := tx.Objects().ListUploads("b1", metadata.UploadQuery{})
		if len(ups) != 3 || ups[0].ID != "u1" || ups[1].ID != "u2" || ups[2].ID != "u0" {
			t.Errorf("ListUploads: %v", ups)
		}
		ups, _ = tx.Objects().ListUploads("b1", metadata.UploadQuery{AfterKey: "big", AfterID: "u1", Limit: 1})
		if len(ups) != 1 || ups[0].ID != "u2" {
			t.Errorf("ListUploads after (big, u1): %v", ups)
		}
		ups, _ = tx.Objects().ListUploads("b1", metadata.UploadQuery{Prefix: "o"})
		if len(ups) != 1 || ups[0].ID != "u0" {
			t.Errorf("ListUploads prefix o: %v", ups)
		}
		empty, _ := tx.Objects().Empty("b1")
		if empty {
			t.Errorf("a bucket with uploads is empty")
		}
		return err
	})
	update(t, s, func(tx metadata.Tx) error {
		parts, err := tx.Objects().DeleteUpload("b1", "u2")
		if len(parts) != 2 {
			t.Errorf("DeleteUpload returned %v", parts)
		}
		return err
	})
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { _, err := tx.Objects().DeleteUpload("b1", "u2"); return err }),
		openami.NotFound, openami.ResourceUpload)
}
