package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/objects"
)

func (rq *request) listBuckets() error {
	list, err := rq.h.rules.ListBuckets(rq.ctx(), rq.c)
	if err != nil {
		return err
	}
	type bucketXML struct {
		Name         string
		CreationDate string
		BucketRegion string
	}
	out := struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		NS      string   `xml:"xmlns,attr"`
		Owner   owner
		Buckets []bucketXML `xml:"Buckets>Bucket"`
	}{NS: xmlNS, Owner: ownerOf(rq.c.Principal.AccountID)}
	for _, b := range list {
		out.Buckets = append(out.Buckets, bucketXML{Name: b.Name, CreationDate: timeISO(b.CreatedAt), BucketRegion: b.Region})
	}
	return rq.writeXML(out)
}

func (rq *request) createBucket() error {
	var cfg struct {
		LocationConstraint string
	}
	b, err := rq.readSmall()
	if err != nil {
		return err
	}
	if len(b) > 0 {
		if err := xml.Unmarshal(b, &cfg); err != nil {
			return errorf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		}
	}
	acl, err := aclFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	region := cfg.LocationConstraint
	if region == "EU" {
		region = "eu-west-1"
	}
	if region == "" && rq.region == "" {
		return errorf(403, "AccessDenied", "Access Denied")
	}
	bk, err := rq.h.rules.CreateBucket(rq.ctx(), rq.c, rq.bucket, region, acl)
	if openami.ReasonOf(err) == openami.ReasonOwnedByYou && bk.Region == "us-east-1" {
		// S3 answers success in us-east-1 (its legacy behaviour).
		err = nil
	}
	if err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (rq *request) headBucket() error {
	b, err := rq.h.rules.HeadBucket(rq.ctx(), rq.c, rq.bucket)
	if err != nil {
		return err
	}
	rq.w.Header().Set("x-amz-bucket-region", b.Region)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (rq *request) deleteBucket() error {
	if err := rq.h.rules.DeleteBucket(rq.ctx(), rq.c, rq.bucket); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rq *request) getBucketLocation() error {
	region, err := rq.h.rules.BucketLocation(rq.ctx(), rq.c, rq.bucket)
	if err != nil {
		return err
	}
	if region == "us-east-1" {
		region = "" // as S3 answers for us-east-1
	}
	return rq.writeXML(struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		NS      string   `xml:"xmlns,attr"`
		Region  string   `xml:",chardata"`
	}{NS: xmlNS, Region: region})
}

func (rq *request) getBucketPolicy() error {
	doc, err := rq.h.rules.BucketPolicy(rq.ctx(), rq.c, rq.bucket)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write([]byte(doc))
	return nil
}

func (rq *request) putBucketPolicy() error {
	b, err := rq.readSmall()
	if err != nil {
		return err
	}
	if err := rq.h.rules.PutBucketPolicy(rq.ctx(), rq.c, rq.bucket, string(b)); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rq *request) deleteBucketPolicy() error {
	if err := rq.h.rules.DeleteBucketPolicy(rq.ctx(), rq.c, rq.bucket); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxKeys reads a max-keys style parameter: default 1000, at most 1000.
func maxKeys(v string) (int, error) {
	if v == "" {
		return objects.MaxListKeys, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errorf(400, "InvalidArgument", "Provided max-keys not an integer or within integer range")
	}
	return min(n, objects.MaxListKeys), nil
}

type objectXML struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        *owner `xml:",omitempty"`
}

type prefixXML struct {
	Prefix string
}

func (rq *request) listObjects(v2 bool) error {
	q := rq.q
	n, err := maxKeys(q.Get("max-keys"))
	if err != nil {
		return err
	}
	encode := q.Get("encoding-type") == "url"
	in := objects.ListInput{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), MaxKeys: n}
	token := q.Get("continuation-token")
	if v2 {
		in.After = q.Get("start-after")
		if token != "" {
			t, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil {
				return errorf(400, "InvalidArgument", "The continuation token provided is incorrect")
			}
			if string(t) > in.After {
				in.After = string(t)
			}
		}
	} else {
		in.After = q.Get("marker")
	}
	pg, err := rq.h.rules.ListObjects(rq.ctx(), rq.c, rq.bucket, in)
	if err != nil {
		return err
	}
	enc := func(s string) string {
		if encode {
			return urlEncodeKey(s)
		}
		return s
	}
	out := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		NS                    string   `xml:"xmlns,attr"`
		Name                  string
		Prefix                string
		Marker                *string `xml:",omitempty"`
		NextMarker            string  `xml:",omitempty"`
		StartAfter            string  `xml:",omitempty"`
		ContinuationToken     string  `xml:",omitempty"`
		NextContinuationToken string  `xml:",omitempty"`
		KeyCount              *int    `xml:",omitempty"`
		MaxKeys               int
		Delimiter             string `xml:",omitempty"`
		EncodingType          string `xml:",omitempty"`
		IsTruncated           bool
		Contents              []objectXML
		CommonPrefixes        []prefixXML
	}{NS: xmlNS, Name: rq.bucket, Prefix: enc(in.Prefix), MaxKeys: n, Delimiter: enc(in.Delimiter), IsTruncated: pg.Truncated}
	if encode {
		out.EncodingType = "url"
	}
	for _, o := range pg.Objects {
		x := objectXML{Key: enc(o.Key), LastModified: timeISO(o.LastModified), ETag: quoted(o.ETag), Size: o.Size, StorageClass: "STANDARD"}
		if !v2 || q.Get("fetch-owner") == "true" {
			ow := ownerOf(o.AccountID)
			x.Owner = &ow
		}
		out.Contents = append(out.Contents, x)
	}
	for _, p := range pg.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, prefixXML{enc(p)})
	}
	if v2 {
		count := len(pg.Objects) + len(pg.CommonPrefixes)
		out.KeyCount = &count
		out.StartAfter = enc(q.Get("start-after"))
		out.ContinuationToken = token
		if pg.Truncated {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(pg.Last))
		}
	} else {
		m := enc(in.After)
		out.Marker = &m
		if pg.Truncated && in.Delimiter != "" {
			out.NextMarker = enc(pg.Last)
		}
	}
	return rq.writeXML(out)
}

// urlEncodeKey encodes a key as S3's encoding-type=url does.
func urlEncodeKey(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	return string(b)
}

func (rq *request) deleteObjects() error {
	var in struct {
		Quiet  bool
		Object []struct {
			Key string
		}
	}
	if err := rq.decodeXML(&in); err != nil {
		return err
	}
	if len(in.Object) > objects.MaxListKeys {
		return errorf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	keys := make([]string, len(in.Object))
	for i, o := range in.Object {
		keys[i] = o.Key
	}
	errs, err := rq.h.rules.DeleteObjects(rq.ctx(), rq.c, rq.bucket, keys)
	if err != nil {
		return err
	}
	type deleted struct{ Key string }
	type failed struct{ Key, Code, Message string }
	out := struct {
		XMLName xml.Name `xml:"DeleteResult"`
		NS      string   `xml:"xmlns,attr"`
		Deleted []deleted
		Error   []failed
	}{NS: xmlNS}
	for i, k := range keys {
		if errs[i] != nil {
			e := code(errs[i])
			out.Error = append(out.Error, failed{k, e.Code, e.Message})
		} else if !in.Quiet {
			out.Deleted = append(out.Deleted, deleted{k})
		}
	}
	return rq.writeXML(out)
}
