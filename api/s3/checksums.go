package s3

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/api/s3/checksum"
	"github.com/openami/openami/rules/objects"
)

// S3's checksums on the wire: a body's Content-MD5 and x-amz-checksum-*
// (a header, or a trailer of an aws-chunked body) are checked as it
// streams, in the one pass that computes its ETag (package
// api/s3/checksum); rules/objects stores the sums. An object keeps the
// checksum its writer asked for (none when none was asked: the MD5 of the
// ETag is always there, and a CRC64NVME of every object would cost every
// upload a second pass over its bytes for a sum nobody asked for).

// Body is a request's body as the endpoint hands it to Serve: read
// through the checks of its signature (package api/sigv4's *Body).
type Body interface {
	io.Reader
	// Size is the length of the payload as the client announced it
	// (x-amz-decoded-content-length for an aws-chunked body), -1 when
	// unknown.
	Size() int64
	// Trailer is the trailing headers of an aws-chunked body once Read
	// has returned io.EOF.
	Trailer() http.Header
}

// summed is a body read through checksum.Reader: an objects.Summed.
type summed struct{ *checksum.Reader }

func (s summed) Checksum() openami.Checksum {
	return openami.Checksum{Algorithm: string(s.Algorithm()), Value: s.Sum()}
}

var _ objects.Summed = summed{}

// summedBody returns the request's body read through the checks of its
// Content-MD5 and x-amz-checksum-* headers or trailer.
func (rq *request) summedBody() (summed, error) {
	want, err := checksum.FromRequest(rq.r.Header)
	if err != nil {
		return summed{}, err
	}
	return summed{checksum.NewReader(rq.body, want, rq.body.Trailer)}, nil
}

// sumCopy sums the bytes an UploadPartCopy reads with its upload's
// algorithm.
func sumCopy(r io.Reader, algorithm string) objects.Summed {
	return summed{checksum.NewReader(r, checksum.Want{Algorithm: checksum.Algorithm(algorithm)}, nil)}
}

// checksumType is S3's name of how a sum was made.
func checksumType(c openami.Checksum) string {
	if c.Composite {
		return "COMPOSITE"
	}
	return "FULL_OBJECT"
}

// writeChecksum sets the headers of a checksum on a response: its
// x-amz-checksum-<algorithm> and, for an object's, x-amz-checksum-type.
func writeChecksum(h http.Header, c openami.Checksum, withType bool) {
	a, ok := checksum.ParseAlgorithm(c.Algorithm)
	if !ok || c.Value == "" {
		return
	}
	h.Set(a.Header(), c.Value)
	if withType {
		h.Set("x-amz-checksum-type", checksumType(c))
	}
}

// checksumXML is the checksum elements of S3's documents (a part of
// ListParts, CompleteMultipartUploadResult).
type checksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

func checksumElements(c openami.Checksum) checksumXML {
	var x checksumXML
	switch checksum.Algorithm(c.Algorithm) {
	case checksum.CRC32:
		x.ChecksumCRC32 = c.Value
	case checksum.CRC32C:
		x.ChecksumCRC32C = c.Value
	case checksum.CRC64NVME:
		x.ChecksumCRC64NVME = c.Value
	case checksum.SHA1:
		x.ChecksumSHA1 = c.Value
	case checksum.SHA256:
		x.ChecksumSHA256 = c.Value
	}
	return x
}

// value is the one checksum the elements carry, "" for none.
func (x checksumXML) value() string {
	return x.ChecksumCRC32 + x.ChecksumCRC32C + x.ChecksumCRC64NVME + x.ChecksumSHA1 + x.ChecksumSHA256
}

// uploadChecksum reads CreateMultipartUpload's x-amz-checksum-algorithm
// and x-amz-checksum-type: COMPOSITE by default, but for CRC64NVME,
// which only sums the whole object, as on S3.
func uploadChecksum(h http.Header) (openami.Checksum, error) {
	name, typ := h.Get("x-amz-checksum-algorithm"), strings.ToUpper(h.Get("x-amz-checksum-type"))
	if name == "" {
		if typ != "" {
			return openami.Checksum{}, errorf(400, "InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return openami.Checksum{}, nil
	}
	a, ok := checksum.ParseAlgorithm(name)
	if !ok {
		return openami.Checksum{}, errorf(400, "InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	c := openami.Checksum{Algorithm: string(a), Composite: a != checksum.CRC64NVME}
	switch typ {
	case "":
	case "COMPOSITE":
		if a == checksum.CRC64NVME {
			return c, errorf(400, "InvalidRequest", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
		}
	case "FULL_OBJECT":
		if a == checksum.SHA1 || a == checksum.SHA256 {
			return c, errorf(400, "InvalidRequest", "The FULL_OBJECT checksum type cannot be used with the "+strings.ToLower(string(a))+" checksum algorithm.")
		}
		c.Composite = false
	default:
		return c, errorf(400, "InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
	}
	return c, nil
}

// combine returns the objects.Combine of a CompleteMultipartUpload whose
// request may carry the whole object's sum (x-amz-checksum-*, checked
// against a full-object sum: BadDigest).
func combine(h http.Header) objects.Combine {
	return func(u openami.Checksum, parts []openami.UploadPart) (openami.Checksum, error) {
		a := checksum.Algorithm(u.Algorithm)
		sums := make([]checksum.Part, len(parts))
		for i, p := range parts {
			if p.Checksum.Algorithm != u.Algorithm || p.Checksum.Value == "" {
				return openami.Checksum{}, errorf(400, "InvalidRequest", "The upload was created using a "+strings.ToLower(u.Algorithm)+
					" checksum. The complete request must include the checksum for each part. It was missing for part "+strconv.Itoa(p.Number)+" in the request.")
			}
			sums[i] = checksum.Part{Sum: p.Checksum.Value, Size: p.Size}
		}
		out := openami.Checksum{Algorithm: u.Algorithm, Composite: u.Composite}
		var err error
		if u.Composite {
			out.Value, err = checksum.Composite(a, sums)
			return out, err
		}
		if out.Value, err = checksum.FullObject(a, sums); err != nil {
			return out, err
		}
		if want := h.Get(a.Header()); want != "" && want != out.Value {
			return out, errorf(400, "BadDigest", "The "+strings.ToLower(u.Algorithm)+" you specified did not match the calculated checksum.")
		}
		return out, nil
	}
}
