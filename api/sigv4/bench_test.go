package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/openami/openami/api/s3/checksum"
)

// benchSize is the payload of each benchmark operation: a 1 GiB upload,
// in the 64 KiB chunks the SDKs send.
const (
	benchChunk = 64 << 10
	benchSize  = 1 << 30
)

// repeat reads data over and over, n bytes in all.
type repeat struct {
	data []byte
	left int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	for n < len(p) && int64(n) < r.left {
		n += copy(p[n:], r.data)
	}
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.left -= int64(n)
	return n, nil
}

// sink discards what it is written, as a blob store's writer would take
// it: in the copy buffer's pieces (io.Discard would read 8 KiB at a time).
type sink struct{}

func (sink) Write(p []byte) (int, error) { return len(p), nil }

// drain copies r to a sink through a 256 KiB buffer.
func drain(r io.Reader) (int64, error) { return io.CopyBuffer(sink{}, r, make([]byte, 256<<10)) }

// BenchmarkBody decodes a 1 GiB upload per operation in each form Body
// handles, and in the form the S3 API will read the SDKs' uploads: the
// unsigned-trailer decoder under a checksum.Reader computing the MD5 (for
// the ETag) and CRC64NVME. Run it as
//
//	go test ./api/sigv4 -run XXX -bench Body -benchtime 3x
func BenchmarkBody(b *testing.B) {
	data := make([]byte, benchChunk)
	for i := range data {
		data[i] = byte(i * 31)
	}
	seed := docExamples[0].seed
	decode := func(b *testing.B, payload string, check bool) {
		b.SetBytes(benchSize)
		for b.Loop() {
			var declared []string
			if payload != streamingSigned {
				declared = []string{"x-amz-checksum-crc32"}
			}
			c := newChunked(newSource(payload, data, benchSize/benchChunk, seed), payload, benchSize, seed, declared...)
			body := &Body{r: c, chunked: c, size: benchSize}
			var r io.Reader = body
			if check {
				r = checksum.NewReader(body, checksum.Want{Algorithm: checksum.CRC64NVME}, body.Trailer)
			}
			if n, err := drain(r); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	}
	b.Run("signed", func(b *testing.B) { decode(b, streamingSigned, false) })
	b.Run("signed-trailer", func(b *testing.B) { decode(b, streamingSignedTrailer, false) })
	b.Run("unsigned-trailer", func(b *testing.B) { decode(b, streamingUnsigned, false) })
	b.Run("unsigned-trailer+md5+crc64nvme", func(b *testing.B) { decode(b, streamingUnsigned, true) })
	b.Run("sha256", func(b *testing.B) {
		// A whole body signed by its hash: the plain-HTTP SDK upload.
		h := sha256.New()
		io.Copy(h, &repeat{data: data, left: benchSize})
		want := hex.EncodeToString(h.Sum(nil))
		b.SetBytes(benchSize)
		for b.Loop() {
			body, err := newHashBody(&repeat{data: data, left: benchSize}, want, benchSize)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := drain(body); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("md5+crc64nvme", func(b *testing.B) {
		// The checksums alone, over bytes that need no decoding.
		b.SetBytes(benchSize)
		for b.Loop() {
			r := checksum.NewReader(&repeat{data: data, left: benchSize}, checksum.Want{Algorithm: checksum.CRC64NVME}, nil)
			if n, err := drain(r); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		// The floor: the same bytes with nothing decoded or checked.
		b.SetBytes(benchSize)
		for b.Loop() {
			drain(&repeat{data: data, left: benchSize})
		}
	})
}
