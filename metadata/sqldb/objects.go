package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// buckets keeps object-storage buckets: the columns lookups select on
// and the whole record as JSON in doc.
type buckets struct{ t *tx }

func noBucket(name string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceBucket, "The specified bucket does not exist")
}

func (bs buckets) Create(b openami.Bucket) error {
	doc, err := encodeDoc("bucket", b.Name, b)
	if err != nil {
		return err
	}
	n, err := bs.t.execN(`INSERT INTO buckets (name, id, region, account_id, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`, b.Name, b.ID, b.Region, b.AccountID, nanos(b.CreatedAt), doc)
	if err != nil && !bs.t.d.unique(err) {
		return fmt.Errorf("sqldb: create bucket: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceBucket, "The bucket %s already exists", b.Name)
	}
	return nil
}

func (bs buckets) Get(name string) (openami.Bucket, error) {
	var doc []byte
	err := bs.t.get(`SELECT doc FROM buckets WHERE name = ?`, []any{name}, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return openami.Bucket{}, noBucket(name)
	}
	if err != nil {
		return openami.Bucket{}, fmt.Errorf("sqldb: get bucket: %w", err)
	}
	return decodeBucket(doc)
}

func decodeBucket(doc []byte) (openami.Bucket, error) {
	var b openami.Bucket
	if err := json.Unmarshal(doc, &b); err != nil {
		return b, fmt.Errorf("sqldb: decode bucket: %w", err)
	}
	b.CreatedAt = utcTime(b.CreatedAt)
	return b, nil
}

func (bs buckets) List(accountID string) ([]openami.Bucket, error) {
	q, args := `SELECT doc FROM buckets ORDER BY name`, []any(nil)
	if accountID != "" {
		q, args = `SELECT doc FROM buckets WHERE account_id = ? ORDER BY name`, []any{accountID}
	}
	out := []openami.Bucket{}
	err := bs.t.each(q, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		b, err := decodeBucket(doc)
		out = append(out, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list buckets: %w", err)
	}
	return out, nil
}

func (bs buckets) Update(b openami.Bucket) error {
	doc, err := encodeDoc("bucket", b.Name, b)
	if err != nil {
		return err
	}
	n, err := bs.t.execN(`UPDATE buckets SET doc = ? WHERE name = ? AND id = ?`, doc, b.Name, b.ID)
	if err != nil {
		return fmt.Errorf("sqldb: update bucket: %w", err)
	}
	if n == 0 {
		return noBucket(b.Name)
	}
	return nil
}

func (bs buckets) Delete(name string) error {
	n, err := bs.t.execN(`DELETE FROM buckets WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("sqldb: delete bucket: %w", err)
	}
	if n == 0 {
		return noBucket(name)
	}
	return nil
}

// objects keeps a bucket's objects, uploads and parts. Keys are stored
// as bytes (key_bytes) so that both databases order them byte by byte.
type objects struct{ t *tx }

func noObject() error {
	return openami.Errorf(openami.NotFound, openami.ResourceObject, "The specified key does not exist.")
}

func noUpload() error {
	return openami.Errorf(openami.NotFound, openami.ResourceUpload,
		"The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
}

func decodeJSON[T any](what string, doc []byte) (T, error) {
	var v T
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("sqldb: decode %s: %w", what, err)
	}
	return v, nil
}

func (ob objects) Put(o openami.Object) (*openami.Object, error) {
	doc, err := encodeDoc("object", o.Key, o)
	if err != nil {
		return nil, err
	}
	var old *openami.Object
	prev, err := ob.Get(o.BucketID, o.Key)
	switch {
	case err == nil:
		old = &prev
		_, err = ob.t.exec(`UPDATE objects SET doc = ? WHERE bucket_id = ? AND key_bytes = ?`, doc, o.BucketID, []byte(o.Key))
	case errors.Is(err, openami.ErrNotFound):
		_, err = ob.t.exec(`INSERT INTO objects (bucket_id, key_bytes, doc) VALUES (?, ?, ?)`, o.BucketID, []byte(o.Key), doc)
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: put object: %w", err)
	}
	return old, nil
}

func (ob objects) Get(bucketID, key string) (openami.Object, error) {
	var doc []byte
	err := ob.t.get(`SELECT doc FROM objects WHERE bucket_id = ? AND key_bytes = ?`, []any{bucketID, []byte(key)}, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return openami.Object{}, noObject()
	}
	if err != nil {
		return openami.Object{}, fmt.Errorf("sqldb: get object: %w", err)
	}
	return decodeObject(doc)
}

func decodeObject(doc []byte) (openami.Object, error) {
	o, err := decodeJSON[openami.Object]("object", doc)
	o.LastModified = utcTime(o.LastModified)
	return o, err
}

func (ob objects) Delete(bucketID, key string) (openami.Object, error) {
	o, err := ob.Get(bucketID, key)
	if err != nil {
		return o, err
	}
	if _, err := ob.t.exec(`DELETE FROM objects WHERE bucket_id = ? AND key_bytes = ?`, bucketID, []byte(key)); err != nil {
		return o, fmt.Errorf("sqldb: delete object: %w", err)
	}
	return o, nil
}

// keyRange adds to b and args the conditions of keys after after that
// start with prefix.
func keyRange(b *strings.Builder, args []any, prefix, after string) []any {
	lo := after
	if prefix > lo {
		b.WriteString(` AND key_bytes >= ?`)
		args = append(args, []byte(prefix))
	} else if lo != "" {
		b.WriteString(` AND key_bytes > ?`)
		args = append(args, []byte(lo))
	}
	if end, ok := prefixEnd(prefix); ok && prefix != "" {
		b.WriteString(` AND key_bytes < ?`)
		args = append(args, []byte(end))
	}
	return args
}

func (ob objects) List(bucketID string, q metadata.ObjectQuery) ([]openami.Object, error) {
	var b strings.Builder
	b.WriteString(`SELECT doc FROM objects WHERE bucket_id = ?`)
	args := keyRange(&b, []any{bucketID}, q.Prefix, q.After)
	b.WriteString(` ORDER BY key_bytes`)
	query, args := limitClause(b.String(), args, q.Limit)
	out := []openami.Object{}
	err := ob.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		o, err := decodeObject(doc)
		out = append(out, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list objects: %w", err)
	}
	return out, nil
}

func (ob objects) Empty(bucketID string) (bool, error) {
	var one int
	err := ob.t.get(`SELECT 1 FROM objects WHERE bucket_id = ? UNION ALL SELECT 1 FROM uploads WHERE bucket_id = ? LIMIT 1`,
		[]any{bucketID, bucketID}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqldb: bucket empty: %w", err)
	}
	return false, nil
}

func (ob objects) CreateUpload(u openami.Upload) error {
	doc, err := encodeDoc("upload", u.ID, u)
	if err != nil {
		return err
	}
	if _, err := ob.t.exec(`INSERT INTO uploads (bucket_id, id, key_bytes, doc) VALUES (?, ?, ?, ?)`,
		u.BucketID, u.ID, []byte(u.Key), doc); err != nil {
		if ob.t.d.unique(err) {
			return openami.Errorf(openami.Duplicate, openami.ResourceUpload, "The upload %s already exists", u.ID)
		}
		return fmt.Errorf("sqldb: create upload: %w", err)
	}
	return nil
}

func (ob objects) GetUpload(bucketID, id string) (openami.Upload, error) {
	var doc []byte
	err := ob.t.get(`SELECT doc FROM uploads WHERE bucket_id = ? AND id = ?`, []any{bucketID, id}, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return openami.Upload{}, noUpload()
	}
	if err != nil {
		return openami.Upload{}, fmt.Errorf("sqldb: get upload: %w", err)
	}
	u, err := decodeJSON[openami.Upload]("upload", doc)
	u.Initiated = utcTime(u.Initiated)
	return u, err
}

func (ob objects) ListUploads(bucketID string, q metadata.UploadQuery) ([]openami.Upload, error) {
	var b strings.Builder
	b.WriteString(`SELECT doc FROM uploads WHERE bucket_id = ?`)
	args := keyRange(&b, []any{bucketID}, q.Prefix, "")
	if q.AfterKey != "" || q.AfterID != "" {
		b.WriteString(` AND (key_bytes > ? OR (key_bytes = ? AND id > ?))`)
		args = append(args, []byte(q.AfterKey), []byte(q.AfterKey), q.AfterID)
	}
	b.WriteString(` ORDER BY key_bytes, id`)
	query, args := limitClause(b.String(), args, q.Limit)
	out := []openami.Upload{}
	err := ob.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		u, err := decodeJSON[openami.Upload]("upload", doc)
		u.Initiated = utcTime(u.Initiated)
		out = append(out, u)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list uploads: %w", err)
	}
	return out, nil
}

func (ob objects) DeleteUpload(bucketID, id string) ([]openami.UploadPart, error) {
	if _, err := ob.GetUpload(bucketID, id); err != nil {
		return nil, err
	}
	parts, err := ob.ListParts(id, 0, 0)
	if err != nil {
		return nil, err
	}
	if _, err := ob.t.exec(`DELETE FROM upload_parts WHERE upload_id = ?`, id); err != nil {
		return nil, fmt.Errorf("sqldb: delete upload parts: %w", err)
	}
	if _, err := ob.t.exec(`DELETE FROM uploads WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("sqldb: delete upload: %w", err)
	}
	return parts, nil
}

func (ob objects) PutPart(p openami.UploadPart) (*openami.UploadPart, error) {
	var one int
	err := ob.t.get(`SELECT 1 FROM uploads WHERE id = ?`, []any{p.UploadID}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noUpload()
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: put part: %w", err)
	}
	doc, err := encodeDoc("part", p.UploadID, p)
	if err != nil {
		return nil, err
	}
	var old *openami.UploadPart
	var prev []byte
	err = ob.t.get(`SELECT doc FROM upload_parts WHERE upload_id = ? AND number = ?`, []any{p.UploadID, p.Number}, &prev)
	switch {
	case err == nil:
		op, derr := decodeJSON[openami.UploadPart]("part", prev)
		if derr != nil {
			return nil, derr
		}
		op.LastModified = utcTime(op.LastModified)
		old = &op
		_, err = ob.t.exec(`UPDATE upload_parts SET blob_key = ?, doc = ? WHERE upload_id = ? AND number = ?`, p.Blob, doc, p.UploadID, p.Number)
	case errors.Is(err, sql.ErrNoRows):
		_, err = ob.t.exec(`INSERT INTO upload_parts (upload_id, number, blob_key, doc) VALUES (?, ?, ?, ?)`, p.UploadID, p.Number, p.Blob, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: put part: %w", err)
	}
	return old, nil
}

func (ob objects) ListParts(uploadID string, after, limit int) ([]openami.UploadPart, error) {
	query, args := limitClause(`SELECT doc FROM upload_parts WHERE upload_id = ? AND number > ? ORDER BY number`,
		[]any{uploadID, after}, limit)
	out := []openami.UploadPart{}
	err := ob.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		p, err := decodeJSON[openami.UploadPart]("part", doc)
		p.LastModified = utcTime(p.LastModified)
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list parts: %w", err)
	}
	return out, nil
}

func (ob objects) Blobs(bucketID string, fn func(blob string)) error {
	err := ob.t.each(`SELECT doc FROM objects WHERE bucket_id = ?`, []any{bucketID}, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		o, err := decodeJSON[struct{ Parts []openami.ObjectPart }]("object", doc)
		for _, p := range o.Parts {
			fn(p.Blob)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: object blobs: %w", err)
	}
	err = ob.t.each(`SELECT p.blob_key FROM upload_parts p JOIN uploads u ON u.id = p.upload_id WHERE u.bucket_id = ?`,
		[]any{bucketID}, func(r *sql.Rows) error {
			var k string
			if err := r.Scan(&k); err != nil {
				return err
			}
			fn(k)
			return nil
		})
	if err != nil {
		return fmt.Errorf("sqldb: part blobs: %w", err)
	}
	return nil
}
