// Package s3 is the S3 API (REST-XML) over rules/objects: buckets,
// objects, multipart uploads, ACLs and bucket policies, addressed
// path-style (/BUCKET/KEY) or virtual-hosted-style (Host BUCKET.DOMAIN for
// a configured domain). Bodies stream: the endpoint hands each request a
// reader of its body that checks its signature as it goes (package
// api/sigv4: the signed payload hash, or each aws-chunked chunk's
// signature), this package reads it through the checks of its
// checksums (package api/s3/checksum), and an object is stored only once
// its body has checked out. Errors are S3's error document (none for HEAD), from
// the one table in errors.go.
package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/objects"
)

// Rules is what the S3 API asks of object storage (*objects.Buckets of
// rules/objects).
type Rules interface {
	CreateBucket(ctx context.Context, c objects.Caller, name, region string, acl objects.ACLInput) (openami.Bucket, error)
	HeadBucket(ctx context.Context, c objects.Caller, name string) (openami.Bucket, error)
	BucketLocation(ctx context.Context, c objects.Caller, name string) (string, error)
	ListBuckets(ctx context.Context, c objects.Caller) ([]openami.Bucket, error)
	DeleteBucket(ctx context.Context, c objects.Caller, name string) error
	BucketACL(ctx context.Context, c objects.Caller, name string) (string, openami.ACL, error)
	PutBucketACL(ctx context.Context, c objects.Caller, name string, in objects.ACLInput) error
	BucketPolicy(ctx context.Context, c objects.Caller, name string) (string, error)
	PutBucketPolicy(ctx context.Context, c objects.Caller, name, doc string) error
	DeleteBucketPolicy(ctx context.Context, c objects.Caller, name string) error

	PutObject(ctx context.Context, c objects.Caller, in objects.PutInput) (openami.Object, error)
	HeadObject(ctx context.Context, c objects.Caller, bucket, key string, cond objects.Conditions) (openami.Object, error)
	GetObject(ctx context.Context, c objects.Caller, bucket, key string, rng *objects.ByteRange, cond objects.Conditions) (*objects.Reading, error)
	DeleteObject(ctx context.Context, c objects.Caller, bucket, key string) error
	DeleteObjects(ctx context.Context, c objects.Caller, bucket string, keys []string) ([]error, error)
	CopyObject(ctx context.Context, c objects.Caller, in objects.CopyInput) (openami.Object, error)
	ListObjects(ctx context.Context, c objects.Caller, bucket string, in objects.ListInput) (objects.ListPage, error)
	ObjectACL(ctx context.Context, c objects.Caller, bucket, key string) (string, openami.ACL, error)
	PutObjectACL(ctx context.Context, c objects.Caller, bucket, key string, in objects.ACLInput) error
	ObjectTags(ctx context.Context, c objects.Caller, bucket, key string) ([]openami.Tag, error)
	PutObjectTags(ctx context.Context, c objects.Caller, bucket, key string, tags []openami.Tag) error
	DeleteObjectTags(ctx context.Context, c objects.Caller, bucket, key string) error

	CreateUpload(ctx context.Context, c objects.Caller, bucket, key string, h openami.ObjectHeaders, acl objects.ACLInput, sum openami.Checksum) (openami.Upload, error)
	UploadPart(ctx context.Context, c objects.Caller, bucket, key, uploadID string, n int, body io.Reader, size int64) (openami.UploadPart, error)
	UploadPartCopy(ctx context.Context, c objects.Caller, bucket, key, uploadID string, n int, srcBucket, srcKey string, rng *objects.ByteRange, cond objects.Conditions, sum objects.Summer) (openami.UploadPart, error)
	CompleteUpload(ctx context.Context, c objects.Caller, bucket, key, uploadID string, parts []objects.CompletedPart, combine objects.Combine) (openami.Object, error)
	AbortUpload(ctx context.Context, c objects.Caller, bucket, key, uploadID string) error
	ListParts(ctx context.Context, c objects.Caller, bucket, key, uploadID string, after, max int) (objects.PartsPage, error)
	ListUploads(ctx context.Context, c objects.Caller, bucket, prefix, delimiter, keyMarker, idMarker string, max int) (objects.UploadsPage, error)
}

var _ Rules = (*objects.Buckets)(nil)

// DefaultDomains are the domains under which a Host names a bucket
// (virtual-hosted-style) when none are configured.
var DefaultDomains = []string{"s3.localhost", "localhost"}

// Handler serves the S3 API.
type Handler struct {
	rules   Rules
	domains []string
}

// New returns the S3 API over rules; a Host BUCKET.DOMAIN[:port] for one
// of domains addresses BUCKET (virtual-hosted-style), any other Host
// path-style.
func New(rules Rules, domains []string) *Handler {
	ds := make([]string, 0, len(domains))
	for _, d := range domains {
		if d = strings.Trim(strings.ToLower(strings.TrimSpace(d)), "."); d != "" {
			ds = append(ds, d)
		}
	}
	return &Handler{rules: rules, domains: ds}
}

// xmlNS is S3's namespace.
const xmlNS = "http://s3.amazonaws.com/doc/2006-03-01/"

// Address returns the bucket and key a request addresses: from its Host
// when that is BUCKET.DOMAIN for a configured domain, else from the first
// segment of its path.
func (h *Handler) Address(r *http.Request) (bucket, key string) {
	host := strings.ToLower(r.Host)
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	path := r.URL.Path
	for _, d := range h.domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// request is one S3 request being served.
type request struct {
	h      *Handler
	w      http.ResponseWriter
	r      *http.Request
	q      url.Values
	body   Body
	c      objects.Caller
	region string
	bucket string
	key    string
	reqID  string
}

// Serve answers an S3 request from caller c, signed for region ("" for an
// anonymous one: the first served region applies), whose body reads
// through body. It returns the operation's name, the error code ("" on
// success) and the error behind it.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body Body, c objects.Caller, region, requestID string) (action, code string, err error) {
	rq := &request{h: h, w: w, r: r, q: r.URL.Query(), body: body, c: c, region: region, reqID: requestID}
	rq.bucket, rq.key = h.Address(r)
	w.Header().Set("x-amz-request-id", requestID)
	action, err = rq.route()
	var cf copyFailed
	if errors.As(err, &cf) {
		return action, "", err
	}
	if err != nil {
		return action, writeError(w, r, requestID, err), err
	}
	return action, "", nil
}

// WriteError answers a request that failed before Serve.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, requestID string, err error) string {
	return writeError(w, r, requestID, err)
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

func (rq *request) has(name string) bool { _, ok := rq.q[name]; return ok }

// route calls the operation the method, bucket, key and subresource name.
func (rq *request) route() (string, error) {
	m := rq.r.Method
	if rq.bucket == "" {
		if m == http.MethodGet {
			return "ListBuckets", rq.listBuckets()
		}
		return "", errorf(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	if rq.key == "" {
		switch {
		case rq.has("acl") && m == http.MethodGet:
			return "GetBucketAcl", rq.getBucketACL()
		case rq.has("acl") && m == http.MethodPut:
			return "PutBucketAcl", rq.putBucketACL()
		case rq.has("policy") && m == http.MethodGet:
			return "GetBucketPolicy", rq.getBucketPolicy()
		case rq.has("policy") && m == http.MethodPut:
			return "PutBucketPolicy", rq.putBucketPolicy()
		case rq.has("policy") && m == http.MethodDelete:
			return "DeleteBucketPolicy", rq.deleteBucketPolicy()
		case rq.has("location") && m == http.MethodGet:
			return "GetBucketLocation", rq.getBucketLocation()
		case rq.has("uploads") && m == http.MethodGet:
			return "ListMultipartUploads", rq.listUploads()
		case rq.has("delete") && m == http.MethodPost:
			return "DeleteObjects", rq.deleteObjects()
		case m == http.MethodGet && rq.q.Get("list-type") == "2":
			return "ListObjectsV2", rq.listObjects(true)
		case m == http.MethodGet && len(unsupportedBucketSubresource(rq.q)) > 0:
			return "", errorf(501, "NotImplemented", "The "+unsupportedBucketSubresource(rq.q)+" subresource is not implemented.")
		case m == http.MethodGet:
			return "ListObjects", rq.listObjects(false)
		case m == http.MethodHead:
			return "HeadBucket", rq.headBucket()
		case m == http.MethodPut && len(rq.q) == 0:
			return "CreateBucket", rq.createBucket()
		case m == http.MethodDelete && len(rq.q) == 0:
			return "DeleteBucket", rq.deleteBucket()
		}
		return "", errorf(501, "NotImplemented", "A header or query you provided implies functionality that is not implemented.")
	}
	uploadID := rq.q.Get("uploadId")
	switch {
	case rq.has("acl") && m == http.MethodGet:
		return "GetObjectAcl", rq.getObjectACL()
	case rq.has("acl") && m == http.MethodPut:
		return "PutObjectAcl", rq.putObjectACL()
	case rq.has("tagging") && m == http.MethodGet:
		return "GetObjectTagging", rq.getObjectTagging()
	case rq.has("tagging") && m == http.MethodPut:
		return "PutObjectTagging", rq.putObjectTagging()
	case rq.has("tagging") && m == http.MethodDelete:
		return "DeleteObjectTagging", rq.deleteObjectTagging()
	case rq.has("uploads") && m == http.MethodPost:
		return "CreateMultipartUpload", rq.createUpload()
	case uploadID != "" && m == http.MethodPut && rq.r.Header.Get("x-amz-copy-source") != "":
		return "UploadPartCopy", rq.uploadPartCopy(uploadID)
	case uploadID != "" && m == http.MethodPut:
		return "UploadPart", rq.uploadPart(uploadID)
	case uploadID != "" && m == http.MethodPost:
		return "CompleteMultipartUpload", rq.completeUpload(uploadID)
	case uploadID != "" && m == http.MethodDelete:
		return "AbortMultipartUpload", rq.abortUpload(uploadID)
	case uploadID != "" && m == http.MethodGet:
		return "ListParts", rq.listParts(uploadID)
	case len(unsupportedObjectSubresource(rq.q)) > 0:
		return "", errorf(501, "NotImplemented", "The "+unsupportedObjectSubresource(rq.q)+" subresource is not implemented.")
	case m == http.MethodPut && rq.r.Header.Get("x-amz-copy-source") != "":
		return "CopyObject", rq.copyObject()
	case m == http.MethodPut:
		return "PutObject", rq.putObject()
	case m == http.MethodGet:
		return "GetObject", rq.getObject(false)
	case m == http.MethodHead:
		return "HeadObject", rq.getObject(true)
	case m == http.MethodDelete:
		return "DeleteObject", rq.deleteObject()
	}
	return "", errorf(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

// bucketSubresources are the subresources of a bucket S3 has and openami
// does not implement.
var bucketSubresources = []string{"accelerate", "analytics", "cors", "encryption", "intelligent-tiering", "inventory",
	"lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls", "policyStatus",
	"publicAccessBlock", "replication", "requestPayment", "tagging", "versioning", "versions", "website"}

var objectSubresources = []string{"attributes", "legal-hold", "restore", "retention", "select", "torrent"}

func unsupportedBucketSubresource(q url.Values) string {
	for _, s := range bucketSubresources {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

func unsupportedObjectSubresource(q url.Values) string {
	for _, s := range objectSubresources {
		if _, ok := q[s]; ok {
			return s
		}
	}
	return ""
}

// writeXML answers 200 with v as an XML document.
func (rq *request) writeXML(v any) error {
	b, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/xml")
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write([]byte(xml.Header))
	rq.w.Write(b)
	return nil
}

// maxXMLBody bounds the XML and JSON bodies S3 requests carry (ACLs,
// policies, DeleteObjects' 1000 keys, CompleteMultipartUpload's 10000
// parts).
const maxXMLBody = 2 << 20

// readSmall reads a small body in full (XML or a policy), checking its
// Content-MD5 and x-amz-checksum-*.
func (rq *request) readSmall() ([]byte, error) {
	if rq.body.Size() > maxXMLBody {
		return nil, errorf(400, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	body, err := rq.summedBody()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(body, maxXMLBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxXMLBody {
		return nil, errorf(400, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	return b, nil
}

// decodeXML reads the body as XML into v.
func (rq *request) decodeXML(v any) error {
	b, err := rq.readSmall()
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return errorf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	return nil
}

// timeISO is the form of S3's XML timestamps.
func timeISO(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quoted is an ETag as S3 sends it.
func quoted(etag string) string { return `"` + etag + `"` }

// unquote takes the quotes off an ETag a client sends.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// owner is S3's Owner element.
type owner struct {
	ID          string
	DisplayName string `xml:",omitempty"`
}

func ownerOf(accountID string) owner {
	return owner{ID: objects.CanonicalID(accountID), DisplayName: accountID}
}
