// Package checksum checks and computes the integrity checksums of S3
// object bodies as they stream: Content-MD5, and the "flexible"
// checksums x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1 and -sha256,
// whether sent as a header before the body or as an aws-chunked trailer
// after it.
//
// An S3 handler reads what the request asks for, then reads the body
// through a Reader, which fails its last Read when a checksum does not
// match and otherwise holds the sums to store:
//
//	want, err := checksum.FromRequest(r.Header)  // InvalidDigest, Invalid
//	if want.Algorithm == "" {
//		want.Algorithm = checksum.CRC64NVME      // compute one to store, as S3 does
//	}
//	cr := checksum.NewReader(body, want, body.Trailer) // body: a *sigv4.Body
//	n, err := io.Copy(blob, cr)                  // BadDigest, Mismatch, Invalid
//	etag := hex.EncodeToString(cr.MD5())         // always computed
//	alg, sum := cr.Algorithm(), cr.Sum()         // base64, to answer and store
//
// The package never names a wire error code: every failure is an *Error
// whose Failure says which class of S3 error to answer with (package
// api/s3's table).
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strconv"
	"strings"
)

// Algorithm is a flexible checksum algorithm, named as S3 names it in
// x-amz-sdk-checksum-algorithm and ChecksumAlgorithm.
type Algorithm string

// The algorithms S3 offers (S3's newer SHA512, MD5 and XXHASH* are not).
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// Algorithms lists every Algorithm, in S3's order.
var Algorithms = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// crc64NVMEPoly is the NVMe CRC-64 polynomial (0xad93d23594c93659) bit-
// reversed, as hash/crc64 takes it; with crc64's ~0 initial value and
// final inversion this is CRC-64/NVME, the value S3 and the SDKs compute.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVMEPoly)
)

// ParseAlgorithm reads an algorithm's name, in any case.
func ParseAlgorithm(name string) (Algorithm, bool) {
	for _, a := range Algorithms {
		if strings.EqualFold(name, string(a)) {
			return a, true
		}
	}
	return "", false
}

// Header is the name of the header (and trailer) that carries a's value:
// x-amz-checksum-crc32 and so on.
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// New returns a new hash computing a, or nil for an unknown algorithm.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvme)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	return nil
}

// Size is the length in bytes of a's sum, or 0 for an unknown algorithm.
func (a Algorithm) Size() int {
	switch a {
	case CRC32, CRC32C:
		return 4
	case CRC64NVME:
		return 8
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

// Sum returns a's base64 checksum of data, as the headers carry it.
func (a Algorithm) Sum(data []byte) string {
	h := a.New()
	if h == nil {
		return ""
	}
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Failure classifies a checksum failure. Package api/s3 maps each to S3's
// error code.
type Failure int

const (
	// BadDigest: the body's MD5 is not the one Content-MD5 gave. S3
	// answers BadDigest.
	BadDigest Failure = iota + 1
	// InvalidDigest: Content-MD5 is not the base64 of 16 bytes. S3
	// answers InvalidDigest.
	InvalidDigest
	// Mismatch: the body's checksum is not the one x-amz-checksum-* gave,
	// as a header or a trailer. S3 answers BadDigest.
	Mismatch
	// Invalid: the checksum headers do not make sense: a value that is
	// not the base64 of its algorithm's sum, more than one algorithm, an
	// unknown algorithm, an x-amz-sdk-checksum-algorithm that names none
	// sent, a declared trailer that never came. S3 answers InvalidRequest.
	Invalid
)

// String returns the failure's name.
func (f Failure) String() string {
	switch f {
	case BadDigest:
		return "BadDigest"
	case InvalidDigest:
		return "InvalidDigest"
	case Mismatch:
		return "Mismatch"
	case Invalid:
		return "Invalid"
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// Error returns a short description, so that a bare Failure can serve as
// a sentinel in errors.Is.
func (f Failure) Error() string { return "checksum: " + f.String() }

// Error is the only error type of this package. Message is written for
// the client, in S3's words.
type Error struct {
	Failure Failure
	Message string
}

// Error returns Message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the failure class, so errors.Is(err, checksum.Mismatch)
// works.
func (e *Error) Unwrap() error { return e.Failure }

func fail(f Failure, format string, args ...any) *Error {
	return &Error{Failure: f, Message: fmt.Sprintf(format, args...)}
}

// Want is what a request asks to have checked.
type Want struct {
	// MD5 is the decoded Content-MD5, nil when the request sent none.
	MD5 []byte
	// Algorithm is the flexible checksum asked for, "" for none. A
	// caller may set it when the request names none, to have the sum
	// computed (not checked) for storing.
	Algorithm Algorithm
	// Value is the base64 sum x-amz-checksum-<algorithm> gave; "" when it
	// comes in the trailer, or when the sum is only to be computed.
	Value string
	// Trailer reports that the value comes as an aws-chunked trailer.
	Trailer bool
}

// FromRequest reads Content-MD5, x-amz-checksum-*, x-amz-sdk-checksum-
// algorithm and x-amz-trailer. It returns InvalidDigest for a malformed
// Content-MD5 and Invalid for flexible checksum headers that do not make
// sense together.
func FromRequest(h http.Header) (Want, error) {
	var w Want
	if vs := h.Values("Content-Md5"); len(vs) > 0 {
		md, err := base64.StdEncoding.DecodeString(vs[0])
		if len(vs) > 1 || err != nil || len(md) != md5.Size {
			return w, fail(InvalidDigest, "The Content-MD5 you specified was invalid.")
		}
		w.MD5 = md
	}
	for _, a := range Algorithms {
		vs := h.Values(a.Header())
		if len(vs) == 0 {
			continue
		}
		if w.Algorithm != "" || len(vs) > 1 {
			return w, fail(Invalid, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		if !valid(a, vs[0]) {
			return w, fail(Invalid, "Value for %s header is invalid.", a.Header())
		}
		w.Algorithm, w.Value = a, vs[0]
	}
	for _, list := range h.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(list, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			a, ok := ParseAlgorithm(strings.TrimPrefix(name, "x-amz-checksum-"))
			if !ok || !strings.HasPrefix(name, "x-amz-checksum-") {
				return w, fail(Invalid, "The value specified in the x-amz-trailer header is not supported")
			}
			if w.Algorithm != "" {
				return w, fail(Invalid, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			w.Algorithm, w.Trailer = a, true
		}
	}
	if v := h.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" {
		a, ok := ParseAlgorithm(v)
		switch {
		case !ok:
			return w, fail(Invalid, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		case w.Algorithm == "":
			return w, fail(Invalid, "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
		case a != w.Algorithm:
			return w, fail(Invalid, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
	}
	return w, nil
}

// valid reports whether v is the base64 of an a-sized sum.
func valid(a Algorithm, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == a.Size()
}
