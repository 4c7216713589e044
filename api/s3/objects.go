package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/objects"
)

// headersOf reads the stored headers of an object from a request:
// Content-Type, -Disposition, -Encoding, -Language, Cache-Control,
// Expires and x-amz-meta-*.
func headersOf(h http.Header) openami.ObjectHeaders {
	oh := openami.ObjectHeaders{
		ContentType:        h.Get("Content-Type"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentEncoding:    h.Get("Content-Encoding"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	oh.ContentEncoding = withoutAWSChunked(oh.ContentEncoding)
	for k, v := range h {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok && len(v) > 0 {
			if oh.Metadata == nil {
				oh.Metadata = map[string]string{}
			}
			oh.Metadata[name] = strings.Join(v, ",")
		}
	}
	return oh
}

// withoutAWSChunked is a Content-Encoding without aws-chunked, which is
// the transfer's encoding, not the object's: "aws-chunked, gzip" is
// stored as "gzip", "aws-chunked" alone as nothing.
func withoutAWSChunked(v string) string {
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ", ")
}

// writeHeaders sets an object's headers on a response.
func writeHeaders(w http.ResponseWriter, o openami.Object) {
	h := w.Header()
	ct := o.Headers.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	for k, v := range map[string]string{"Content-Disposition": o.Headers.ContentDisposition, "Content-Encoding": o.Headers.ContentEncoding,
		"Content-Language": o.Headers.ContentLanguage, "Cache-Control": o.Headers.CacheControl, "Expires": o.Headers.Expires} {
		if v != "" {
			h.Set(k, v)
		}
	}
	for k, v := range o.Headers.Metadata {
		h.Set("x-amz-meta-"+k, v)
	}
	h.Set("ETag", quoted(o.ETag))
	h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	if n := len(o.Parts); n > 1 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(n))
	}
	setTaggingCount(h, o)
}

// bodySize is the length of the object a request's body holds: its
// x-amz-decoded-content-length when aws-chunked, else Content-Length,
// which S3 requires.
func (rq *request) bodySize() (int64, error) {
	n := rq.body.Size()
	if n < 0 {
		return 0, errorf(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	return n, nil
}

func (rq *request) putObject() error {
	size, err := rq.bodySize()
	if err != nil {
		return err
	}
	acl, err := aclFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	h, err := writtenHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	body, err := rq.summedBody()
	if err != nil {
		return err
	}
	o, err := rq.h.rules.PutObject(rq.ctx(), rq.c, objects.PutInput{Bucket: rq.bucket, Key: rq.key, Headers: h,
		ACL: acl, Body: body, Size: size})
	if err != nil {
		return err
	}
	rq.w.Header().Set("ETag", quoted(o.ETag))
	writeChecksum(rq.w.Header(), o.Checksum, true)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// conditions reads a request's preconditions from the headers named
// prefix+"If-Match" and so on ("" for GET and HEAD,
// "x-amz-copy-source-" for a copy's source).
func conditions(h http.Header, prefix string) objects.Conditions {
	c := objects.Conditions{IfMatch: unquote(h.Get(prefix + "If-Match")), IfNoneMatch: unquote(h.Get(prefix + "If-None-Match"))}
	if t, err := http.ParseTime(h.Get(prefix + "If-Modified-Since")); err == nil {
		c.IfModifiedSince = t
	}
	if t, err := http.ParseTime(h.Get(prefix + "If-Unmodified-Since")); err == nil {
		c.IfUnmodifiedSince = t
	}
	return c
}

// parseRange reads a Range header of one range, "bytes=FIRST-[LAST]" or
// "bytes=-SUFFIX"; anything else is ignored (nil), as S3 ignores it.
func parseRange(v string) *objects.ByteRange {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return nil
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return nil
		}
		return &objects.ByteRange{First: -n, Last: -1}
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return nil
	}
	last := int64(-1)
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return nil
		}
	}
	return &objects.ByteRange{First: first, Last: last}
}

// partRange returns the range of part n (?partNumber=) of the object:
// its bytes for a multipart object, the whole of any other for part 1.
func (rq *request) partRange(n int) (*objects.ByteRange, error) {
	o, err := rq.h.rules.HeadObject(rq.ctx(), rq.c, rq.bucket, rq.key, objects.Conditions{})
	if err != nil {
		return nil, err
	}
	if n < 1 || n > max(len(o.Parts), 1) {
		return nil, errorf(416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
	}
	off := int64(0)
	for _, p := range o.Parts[:n-1] {
		off += p.Size
	}
	if len(o.Parts) == 0 || o.Parts[n-1].Size == 0 {
		return nil, nil
	}
	return &objects.ByteRange{First: off, Last: off + o.Parts[n-1].Size - 1}, nil
}

func (rq *request) getObject(head bool) error {
	cond := conditions(rq.r.Header, "")
	rng := parseRange(rq.r.Header.Get("Range"))
	if v := rq.q.Get("partNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errorf(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
		}
		if rng, err = rq.partRange(n); err != nil {
			return err
		}
		if head && rng != nil {
			// A HEAD of a part answers the part's length.
			o, err := rq.h.rules.HeadObject(rq.ctx(), rq.c, rq.bucket, rq.key, cond)
			if err != nil {
				return err
			}
			writeHeaders(rq.w, o)
			rq.w.Header().Set("Content-Length", strconv.FormatInt(rng.Last-rng.First+1, 10))
			rq.w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.First, rng.Last, o.Size))
			rq.w.WriteHeader(http.StatusPartialContent)
			return nil
		}
	}
	if head {
		o, err := rq.h.rules.HeadObject(rq.ctx(), rq.c, rq.bucket, rq.key, cond)
		if err != nil {
			if openami.ReasonOf(err) == openami.ReasonNotModified {
				writeHeaders(rq.w, o)
			}
			return err
		}
		writeHeaders(rq.w, o)
		rq.writeObjectChecksum(o, false)
		rq.w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
		rq.w.WriteHeader(http.StatusOK)
		return nil
	}
	rd, err := rq.h.rules.GetObject(rq.ctx(), rq.c, rq.bucket, rq.key, rng, cond)
	if openami.ReasonOf(err) == openami.ReasonNotModified {
		// A 304 carries the object's validators, as S3's does.
		if o, herr := rq.h.rules.HeadObject(rq.ctx(), rq.c, rq.bucket, rq.key, objects.Conditions{}); herr == nil {
			rq.w.Header().Set("ETag", quoted(o.ETag))
			rq.w.Header().Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	if err != nil {
		return err
	}
	defer rd.Body.Close()
	writeHeaders(rq.w, rd.Object)
	for name, header := range map[string]string{"response-content-type": "Content-Type", "response-content-disposition": "Content-Disposition",
		"response-content-encoding": "Content-Encoding", "response-content-language": "Content-Language",
		"response-cache-control": "Cache-Control", "response-expires": "Expires"} {
		if v := rq.q.Get(name); v != "" {
			rq.w.Header().Set(header, v)
		}
	}
	rq.writeObjectChecksum(rd.Object, rd.Ranged)
	rq.w.Header().Set("Content-Length", strconv.FormatInt(rd.Length, 10))
	status := http.StatusOK
	if rd.Ranged {
		rq.w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rd.Offset, rd.Offset+rd.Length-1, rd.Object.Size))
		status = http.StatusPartialContent
	}
	rq.w.WriteHeader(status)
	// The status is sent: a failure now can only cut the body short,
	// which the client sees against Content-Length.
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	if _, err := io.CopyBuffer(rq.w, rd.Body, *buf); err != nil && rq.ctx().Err() == nil {
		return copyFailed{err}
	}
	return nil
}

// writeObjectChecksum sets the object's checksum headers on a GET or
// HEAD that asks for them (x-amz-checksum-mode: ENABLED), unless it reads
// a range: a range has no sum of its own, as on S3.
func (rq *request) writeObjectChecksum(o openami.Object, ranged bool) {
	if ranged || !strings.EqualFold(rq.r.Header.Get("x-amz-checksum-mode"), "ENABLED") {
		return
	}
	writeChecksum(rq.w.Header(), o.Checksum, true)
}

// copyBuffers hold the buffers GetObject sends through: 256 KiB (a read
// of the blob per 256 KiB rather than io.Copy's 32 KiB), one per GET in
// flight.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyFailed is a failure after the answer's status was sent: it is
// logged, not answered.
type copyFailed struct{ err error }

func (c copyFailed) Error() string { return "sending the object: " + c.err.Error() }
func (c copyFailed) Unwrap() error { return c.err }

func (rq *request) deleteObject() error {
	if err := rq.h.rules.DeleteObject(rq.ctx(), rq.c, rq.bucket, rq.key); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// copySource reads x-amz-copy-source: "BUCKET/KEY" or "/BUCKET/KEY",
// URL-encoded ("?versionId=" is refused: no versioning).
func copySource(h http.Header) (string, string, error) {
	v := h.Get("x-amz-copy-source")
	path, query, _ := strings.Cut(v, "?")
	if query != "" {
		return "", "", errorf(501, "NotImplemented", "Versioning is not implemented.")
	}
	p, err := url.PathUnescape(path)
	if err != nil {
		return "", "", errorf(400, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	b, k, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !ok || b == "" || k == "" {
		return "", "", errorf(400, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	return b, k, nil
}

func (rq *request) copyObject() error {
	sb, sk, err := copySource(rq.r.Header)
	if err != nil {
		return err
	}
	acl, err := aclFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	in := objects.CopyInput{SourceBucket: sb, SourceKey: sk, SourceConditions: conditions(rq.r.Header, "x-amz-copy-source-"),
		Bucket: rq.bucket, Key: rq.key, ACL: acl}
	switch d := rq.r.Header.Get("x-amz-metadata-directive"); d {
	case "", "COPY":
	case "REPLACE":
		in.ReplaceHeaders, in.Headers = true, headersOf(rq.r.Header)
	default:
		return errorf(400, "InvalidArgument", "Unknown metadata directive.")
	}
	if in.ReplaceTags, in.Tags, err = taggingDirective(rq.r.Header); err != nil {
		return err
	}
	o, err := rq.h.rules.CopyObject(rq.ctx(), rq.c, in)
	if err != nil {
		return err
	}
	return rq.writeXML(struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		NS           string   `xml:"xmlns,attr"`
		LastModified string
		ETag         string
	}{NS: xmlNS, LastModified: timeISO(o.LastModified), ETag: quoted(o.ETag)})
}
