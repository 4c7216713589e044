package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/openami/openami/rules/objects"
)

func (rq *request) createUpload() error {
	acl, err := aclFromHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	sum, err := uploadChecksum(rq.r.Header)
	if err != nil {
		return err
	}
	h, err := writtenHeaders(rq.r.Header)
	if err != nil {
		return err
	}
	u, err := rq.h.rules.CreateUpload(rq.ctx(), rq.c, rq.bucket, rq.key, h, acl, sum)
	if err != nil {
		return err
	}
	if u.Checksum.Algorithm != "" {
		rq.w.Header().Set("x-amz-checksum-algorithm", u.Checksum.Algorithm)
		rq.w.Header().Set("x-amz-checksum-type", checksumType(u.Checksum))
	}
	return rq.writeXML(struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}{NS: xmlNS, Bucket: rq.bucket, Key: rq.key, UploadID: u.ID})
}

// partNumber reads ?partNumber=.
func (rq *request) partNumber() (int, error) {
	n, err := strconv.Atoi(rq.q.Get("partNumber"))
	if err != nil {
		return 0, errorf(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

func (rq *request) uploadPart(uploadID string) error {
	n, err := rq.partNumber()
	if err != nil {
		return err
	}
	size, err := rq.bodySize()
	if err != nil {
		return err
	}
	body, err := rq.summedBody()
	if err != nil {
		return err
	}
	p, err := rq.h.rules.UploadPart(rq.ctx(), rq.c, rq.bucket, rq.key, uploadID, n, body, size)
	if err != nil {
		return err
	}
	rq.w.Header().Set("ETag", quoted(p.ETag))
	writeChecksum(rq.w.Header(), p.Checksum, false)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (rq *request) uploadPartCopy(uploadID string) error {
	n, err := rq.partNumber()
	if err != nil {
		return err
	}
	sb, sk, err := copySource(rq.r.Header)
	if err != nil {
		return err
	}
	var rng *objects.ByteRange
	if v := rq.r.Header.Get("x-amz-copy-source-range"); v != "" {
		if rng = parseRange(v); rng == nil || rng.First < 0 || rng.Last < 0 {
			return errorf(400, "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
	}
	p, err := rq.h.rules.UploadPartCopy(rq.ctx(), rq.c, rq.bucket, rq.key, uploadID, n, sb, sk, rng, conditions(rq.r.Header, "x-amz-copy-source-"), sumCopy)
	if err != nil {
		return err
	}
	return rq.writeXML(struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		NS           string   `xml:"xmlns,attr"`
		LastModified string
		ETag         string
		checksumXML
	}{NS: xmlNS, LastModified: timeISO(p.LastModified), ETag: quoted(p.ETag), checksumXML: checksumElements(p.Checksum)})
}

func (rq *request) completeUpload(uploadID string) error {
	var in struct {
		Part []struct {
			PartNumber int
			ETag       string
			checksumXML
		}
	}
	if err := rq.decodeXML(&in); err != nil {
		return err
	}
	parts := make([]objects.CompletedPart, len(in.Part))
	for i, p := range in.Part {
		parts[i] = objects.CompletedPart{Number: p.PartNumber, ETag: unquote(p.ETag), Checksum: p.value()}
	}
	o, err := rq.h.rules.CompleteUpload(rq.ctx(), rq.c, rq.bucket, rq.key, uploadID, parts, combine(rq.r.Header))
	if err != nil {
		return err
	}
	out := struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Location string
		Bucket   string
		Key      string
		ETag     string
		checksumXML
		ChecksumType string `xml:",omitempty"`
	}{NS: xmlNS, Location: "/" + rq.bucket + "/" + rq.key, Bucket: rq.bucket, Key: rq.key, ETag: quoted(o.ETag), checksumXML: checksumElements(o.Checksum)}
	if o.Checksum.Algorithm != "" {
		out.ChecksumType = checksumType(o.Checksum)
	}
	return rq.writeXML(out)
}

func (rq *request) abortUpload(uploadID string) error {
	if err := rq.h.rules.AbortUpload(rq.ctx(), rq.c, rq.bucket, rq.key, uploadID); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (rq *request) listParts(uploadID string) error {
	after := 0
	if v := rq.q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(400, "InvalidArgument", "part-number-marker must be an integer")
		}
		after = n
	}
	n, err := maxKeys(rq.q.Get("max-parts"))
	if err != nil {
		return err
	}
	pg, err := rq.h.rules.ListParts(rq.ctx(), rq.c, rq.bucket, rq.key, uploadID, after, n)
	if err != nil {
		return err
	}
	type partXML struct {
		PartNumber   int
		LastModified string
		ETag         string
		Size         int64
		checksumXML
	}
	out := struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		NS                   string   `xml:"xmlns,attr"`
		Bucket               string
		Key                  string
		UploadID             string `xml:"UploadId"`
		Initiator            owner
		Owner                owner
		StorageClass         string
		ChecksumAlgorithm    string `xml:",omitempty"`
		ChecksumType         string `xml:",omitempty"`
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Part                 []partXML
	}{NS: xmlNS, Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, Initiator: ownerOf(pg.Upload.AccountID), Owner: ownerOf(pg.Upload.AccountID),
		StorageClass: "STANDARD", PartNumberMarker: after, MaxParts: n, IsTruncated: pg.Truncated}
	if u := pg.Upload.Checksum; u.Algorithm != "" {
		out.ChecksumAlgorithm, out.ChecksumType = u.Algorithm, checksumType(u)
	}
	for _, p := range pg.Parts {
		out.Part = append(out.Part, partXML{p.Number, timeISO(p.LastModified), quoted(p.ETag), p.Size, checksumElements(p.Checksum)})
		out.NextPartNumberMarker = p.Number
	}
	return rq.writeXML(out)
}

func (rq *request) listUploads() error {
	n, err := maxKeys(rq.q.Get("max-uploads"))
	if err != nil {
		return err
	}
	prefix, delim := rq.q.Get("prefix"), rq.q.Get("delimiter")
	keyMarker, idMarker := rq.q.Get("key-marker"), rq.q.Get("upload-id-marker")
	pg, err := rq.h.rules.ListUploads(rq.ctx(), rq.c, rq.bucket, prefix, delim, keyMarker, idMarker, n)
	if err != nil {
		return err
	}
	type uploadXML struct {
		Key          string
		UploadID     string `xml:"UploadId"`
		Initiator    owner
		Owner        owner
		StorageClass string
		Initiated    string
	}
	out := struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		NS                 string   `xml:"xmlns,attr"`
		Bucket             string
		KeyMarker          string
		UploadIDMarker     string `xml:"UploadIdMarker"`
		NextKeyMarker      string `xml:",omitempty"`
		NextUploadIDMarker string `xml:"NextUploadIdMarker,omitempty"`
		Prefix             string
		Delimiter          string `xml:",omitempty"`
		MaxUploads         int
		IsTruncated        bool
		Upload             []uploadXML
		CommonPrefixes     []prefixXML
	}{NS: xmlNS, Bucket: rq.bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker, Prefix: prefix, Delimiter: delim, MaxUploads: n, IsTruncated: pg.Truncated}
	for _, u := range pg.Uploads {
		out.Upload = append(out.Upload, uploadXML{u.Key, u.ID, ownerOf(u.AccountID), ownerOf(u.AccountID), "STANDARD", timeISO(u.Initiated)})
		out.NextKeyMarker, out.NextUploadIDMarker = u.Key, u.ID
	}
	for _, p := range pg.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, prefixXML{p})
	}
	return rq.writeXML(out)
}
