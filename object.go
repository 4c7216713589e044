package openami

import "time"

// ResourceBucket and the other object-storage resource types name what an
// error of rules/objects concerns.
const (
	ResourceBucket ResourceType = "bucket"
	ResourceObject ResourceType = "object"
	ResourceUpload ResourceType = "upload"
	ResourcePart   ResourceType = "part"
	// ResourceBucketPolicy is a bucket's policy document.
	ResourceBucketPolicy ResourceType = "bucket-policy"
)

// Reasons of object storage's refusals, where one class and resource
// cover conditions a caller must tell apart.
const (
	// ReasonOwnedByYou: the bucket name is taken by the caller's own
	// bucket (Duplicate on ResourceBucket).
	ReasonOwnedByYou Reason = "owned-by-you"
	// ReasonTooSmall: a part other than the last is below the minimum
	// part size (InvalidParameter on ResourcePart).
	ReasonTooSmall Reason = "too-small"
	// ReasonTooLarge: an object or part exceeds its maximum size.
	ReasonTooLarge Reason = "too-large"
	// ReasonOrder: a multipart completion lists parts out of order.
	ReasonOrder Reason = "order"
	// ReasonDigest: the body does not match the digest the client sent.
	ReasonDigest Reason = "digest"
	// ReasonPrecondition: a conditional request's condition failed.
	ReasonPrecondition Reason = "precondition"
	// ReasonNotModified: a conditional GET's object has not changed.
	ReasonNotModified Reason = "not-modified"
	// ReasonNotEmpty: a bucket still holds objects or uploads.
	ReasonNotEmpty Reason = "not-empty"
	// ReasonTag: an object's tag set breaks S3's tag rules (too many
	// tags, a key or value too long or of characters S3 refuses, a key
	// given twice): InvalidParameter on ResourceObject.
	ReasonTag Reason = "tag"
)

// Bucket is an object-storage bucket: a name unique across every account
// and region, kept in one region, owned by one account.
type Bucket struct {
	// ID names the bucket's bytes in its region's blob store; random, and
	// never the user's name (blob keys are [a-z0-9._/-] only).
	ID        string
	Name      string
	Region    string
	AccountID string
	CreatedAt time.Time
	// ACL is what the bucket grants besides its owner's full control.
	ACL ACL
	// Policy is the bucket policy as the owner wrote it ("" for none); it
	// was checked to be of the supported subset when it was put.
	Policy string
}

// ACL is an access control list: the grants of a bucket or object, whose
// owner always holds full control.
type ACL struct {
	Grants []ACLGrant
}

// ACLGrant gives one grantee one permission.
type ACLGrant struct {
	Grantee    Grantee
	Permission Permission
}

// GranteeKind says who a Grantee is.
type GranteeKind string

const (
	// GranteeAccount is one account (AccountID).
	GranteeAccount GranteeKind = "account"
	// GranteeAllUsers is everybody, anonymous callers included.
	GranteeAllUsers GranteeKind = "all-users"
	// GranteeAuthenticatedUsers is every caller who signs a request.
	GranteeAuthenticatedUsers GranteeKind = "authenticated-users"
	// GranteeEC2 is EC2 itself, reading bundles to launch them (the
	// canned ACL aws-exec-read grants it read).
	GranteeEC2 GranteeKind = "ec2"
)

// Grantee is the one who holds an ACLGrant.
type Grantee struct {
	Kind      GranteeKind
	AccountID string `json:",omitempty"`
}

// Permission is what an ACLGrant allows.
type Permission string

const (
	PermRead        Permission = "read"
	PermWrite       Permission = "write"
	PermReadACP     Permission = "read-acp"
	PermWriteACP    Permission = "write-acp"
	PermFullControl Permission = "full-control"
)

// ObjectHeaders are the headers of an object that are stored with it and
// returned with it.
type ObjectHeaders struct {
	ContentType        string `json:",omitempty"`
	ContentDisposition string `json:",omitempty"`
	ContentEncoding    string `json:",omitempty"`
	ContentLanguage    string `json:",omitempty"`
	CacheControl       string `json:",omitempty"`
	Expires            string `json:",omitempty"`
	// Metadata is the user's metadata (x-amz-meta-NAME), by lower-case
	// name.
	Metadata map[string]string `json:",omitempty"`
	// Tags are the object's tag set (S3 object tagging: x-amz-tagging
	// on a write, the tagging subresource after): kept here, with what
	// an object is written with, so that a multipart upload and a copy
	// carry them to the object as they do its other headers. Only their
	// count is returned with the object (x-amz-tagging-count).
	Tags []Tag `json:",omitempty"`
}

// Object is a stored object: its record, and the blobs that hold its
// bytes in order.
type Object struct {
	BucketID string
	Key      string
	// AccountID owns the object: the account that wrote it.
	AccountID    string
	Size         int64
	ETag         string // as S3 computes it, without quotes
	LastModified time.Time
	Headers      ObjectHeaders
	ACL          ACL
	// Parts are the object's bytes: one blob for a single PUT, one per
	// part of a multipart upload.
	Parts []ObjectPart
	// Checksum is the object's checksum besides its ETag, when its
	// writer asked for one.
	Checksum Checksum `json:",omitzero"`
}

// Checksum is an object's or a part's integrity checksum besides its
// ETag (S3's "flexible" checksums), checked against what the writer sent
// when it sent one.
type Checksum struct {
	// Algorithm is CRC32, CRC32C, CRC64NVME, SHA1 or SHA256; "" for none.
	Algorithm string `json:",omitempty"`
	// Value is the base64 sum; a composite one ends in "-N", N the
	// number of parts. An Upload's is "": it says only how its object's
	// sum will be made.
	Value string `json:",omitempty"`
	// Composite: the sum of the parts' sums (a multipart object's, by
	// default, but for CRC64NVME), not of the object's bytes.
	Composite bool `json:",omitempty"`
}

// ObjectPart is one blob of an object's bytes.
type ObjectPart struct {
	Blob string
	Size int64
}

// Upload is a multipart upload in progress.
type Upload struct {
	ID        string
	BucketID  string
	Key       string
	AccountID string // the initiator, who will own the object
	Initiated time.Time
	Headers   ObjectHeaders
	ACL       ACL
	// Checksum is the algorithm every part must send and how the
	// object's sum is made from theirs (Value is "").
	Checksum Checksum `json:",omitzero"`
}

// UploadPart is one uploaded part of a multipart upload.
type UploadPart struct {
	UploadID     string
	Number       int
	Blob         string
	Size         int64
	ETag         string // MD5 hex of the part, without quotes
	LastModified time.Time
	Checksum     Checksum `json:",omitzero"`
}
