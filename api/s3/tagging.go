package s3

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openami/openami"
)

// tagSet is S3's Tagging document: GetObjectTagging's answer and
// PutObjectTagging's body.
type tagSet struct {
	XMLName xml.Name `xml:"Tagging"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	Tags    []s3Tag  `xml:"TagSet>Tag"`
}

type s3Tag struct {
	Key   string
	Value string
}

// badTaggingHeader is S3's answer to an x-amz-tagging it cannot read.
func badTaggingHeader() error {
	return errorf(400, "InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
}

// tagsFromHeader reads x-amz-tagging: URL query parameters, KEY=VALUE
// joined by &, in the order given (the rules check S3's tag rules).
func tagsFromHeader(h http.Header) ([]openami.Tag, error) {
	v := h.Get("x-amz-tagging")
	if v == "" {
		return nil, nil
	}
	var tags []openami.Tag
	for _, kv := range strings.Split(v, "&") {
		if kv == "" {
			continue
		}
		k, val, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, badTaggingHeader()
		}
		if val, err = url.QueryUnescape(val); err != nil {
			return nil, badTaggingHeader()
		}
		tags = append(tags, openami.Tag{Key: k, Value: val})
	}
	return tags, nil
}

// writtenHeaders reads the headers an object is written with (PutObject,
// CreateMultipartUpload): headersOf's and the tags of x-amz-tagging.
func writtenHeaders(h http.Header) (openami.ObjectHeaders, error) {
	oh := headersOf(h)
	tags, err := tagsFromHeader(h)
	oh.Tags = tags
	return oh, err
}

// taggingDirective reads a copy's x-amz-tagging-directive: replace is
// true for REPLACE (the tags of x-amz-tagging), false for COPY (the
// source's), the default.
func taggingDirective(h http.Header) (replace bool, tags []openami.Tag, err error) {
	switch h.Get("x-amz-tagging-directive") {
	case "", "COPY":
		return false, nil, nil
	case "REPLACE":
		tags, err = tagsFromHeader(h)
		return true, tags, err
	}
	return false, nil, errorf(400, "InvalidArgument", "Unknown tagging directive.")
}

// setTaggingCount sets x-amz-tagging-count on a GetObject's or
// HeadObject's answer when the object has tags its caller may read.
func setTaggingCount(h http.Header, o openami.Object) {
	if n := len(o.Headers.Tags); n > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(n))
	}
}

func (rq *request) getObjectTagging() error {
	tags, err := rq.h.rules.ObjectTags(rq.ctx(), rq.c, rq.bucket, rq.key)
	if err != nil {
		return err
	}
	out := tagSet{NS: xmlNS, Tags: []s3Tag{}}
	for _, t := range tags {
		out.Tags = append(out.Tags, s3Tag(t))
	}
	return rq.writeXML(out)
}

func (rq *request) putObjectTagging() error {
	var in tagSet
	if err := rq.decodeXML(&in); err != nil {
		return err
	}
	tags := make([]openami.Tag, 0, len(in.Tags))
	for _, t := range in.Tags {
		tags = append(tags, openami.Tag(t))
	}
	if err := rq.h.rules.PutObjectTags(rq.ctx(), rq.c, rq.bucket, rq.key, tags); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (rq *request) deleteObjectTagging() error {
	if err := rq.h.rules.DeleteObjectTags(rq.ctx(), rq.c, rq.bucket, rq.key); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
