// The records of object storage (the S3 API): buckets, their objects,
// multipart uploads and parts.

package metadata

import (
	"github.com/openami/openami"
)

// Buckets records object-storage buckets. Bucket names are unique across
// every account and region.
type Buckets interface {
	// Create records a bucket. Duplicate if the name (or id) is taken.
	Create(b openami.Bucket) error
	// Get returns the bucket of that name; NotFound if there is none.
	Get(name string) (openami.Bucket, error)
	// List returns the account's buckets (every bucket for ""), ordered
	// by name.
	List(accountID string) ([]openami.Bucket, error)
	// Update replaces a bucket's ACL and policy; NotFound if it is gone.
	Update(b openami.Bucket) error
	// Delete removes the bucket of that name; NotFound if there is none.
	Delete(name string) error
}

// ObjectQuery selects a page of a bucket's objects, in key order (byte
// order): the keys after After that start with Prefix, at most Limit of
// them (0: all).
type ObjectQuery struct {
	Prefix string
	After  string
	Limit  int
}

// UploadQuery selects a page of a bucket's multipart uploads, in order of
// key then id: those whose key starts with Prefix and comes after
// (AfterKey, AfterID), at most Limit (0: all).
type UploadQuery struct {
	Prefix   string
	AfterKey string
	AfterID  string
	Limit    int
}

// Objects records a bucket's objects, its multipart uploads and their
// parts.
type Objects interface {
	// Put records o, replacing the object of the same bucket and key, and
	// returns the replaced one (nil if there was none).
	Put(o openami.Object) (*openami.Object, error)
	// Get returns an object; NotFound if there is none.
	Get(bucketID, key string) (openami.Object, error)
	// Delete removes an object and returns it; NotFound if there is none.
	Delete(bucketID, key string) (openami.Object, error)
	// List returns the objects q selects.
	List(bucketID string, q ObjectQuery) ([]openami.Object, error)
	// Empty reports whether the bucket holds neither objects nor uploads.
	Empty(bucketID string) (bool, error)

	// CreateUpload records a multipart upload. Duplicate if the id is
	// taken.
	CreateUpload(u openami.Upload) error
	// GetUpload returns an upload of the bucket; NotFound if there is
	// none.
	GetUpload(bucketID, id string) (openami.Upload, error)
	// ListUploads returns the uploads q selects.
	ListUploads(bucketID string, q UploadQuery) ([]openami.Upload, error)
	// DeleteUpload removes an upload and its parts, and returns the
	// parts; NotFound if there is no such upload.
	DeleteUpload(bucketID, id string) ([]openami.UploadPart, error)
	// PutPart records a part, replacing the upload's part of the same
	// number, and returns the replaced one (nil if none). NotFound if the
	// upload is gone.
	PutPart(p openami.UploadPart) (*openami.UploadPart, error)
	// ListParts returns an upload's parts numbered above after, in order,
	// at most limit of them (0: all).
	ListParts(uploadID string, after, limit int) ([]openami.UploadPart, error)
	// Blobs calls fn with every blob the bucket's objects and parts name.
	Blobs(bucketID string, fn func(blob string)) error
}
