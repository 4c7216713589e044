package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// docKey and docPrefix are the signing key and string-to-sign prefix of
// the documented examples.
var (
	docKey    = signingKey(docSecret, "20130524", "us-east-1", "s3")
	docPrefix = docDate + "\n20130524/us-east-1/s3/aws4_request\n"
)

// newChunked is the decoder Body builds for payload, over body, with the
// documented examples' key and seed.
func newChunked(body io.Reader, payload string, size int64, seed string, declared ...string) *chunkReader {
	c := &chunkReader{
		br:       bufio.NewReaderSize(body, 64<<10),
		left:     size,
		signed:   payload != streamingUnsigned,
		trailers: payload != streamingSigned,
		declared: map[string]bool{},
	}
	for _, d := range declared {
		c.declared[d] = true
	}
	if c.signed {
		c.key, c.prefix, c.prev = docKey, docPrefix, seed
	}
	return c
}

// chunkedSource generates an aws-chunked body of n chunks of data, signed
// in a chain from seed with the documented key (unless unsigned), with a
// CRC32 trailer when the payload has one. It makes a body of any length
// without holding it: each chunk's signature needs only data's hash.
type chunkedSource struct {
	payload string
	data    []byte
	hash    string
	n       int
	prev    string
	buf     bytes.Buffer
	part    []byte
	done    bool
}

func newSource(payload string, data []byte, n int, seed string) *chunkedSource {
	sum := sha256.Sum256(data)
	return &chunkedSource{payload: payload, data: data, hash: hex.EncodeToString(sum[:]), n: n, prev: seed}
}

func (s *chunkedSource) sign(hash string) string {
	sig := hex.EncodeToString(hmacSHA256(docKey, chunkAlgorithm+"\n"+docPrefix+s.prev+"\n"+emptySHA256+"\n"+hash))
	s.prev = sig
	return sig
}

func (s *chunkedSource) header(size int, hash string) string {
	h := strconv.FormatInt(int64(size), 16)
	if s.payload != streamingUnsigned {
		h += ";chunk-signature=" + s.sign(hash)
	}
	return h + "\r\n"
}

func (s *chunkedSource) Read(p []byte) (int, error) {
	for len(s.part) == 0 {
		switch {
		case s.n > 0:
			s.n--
			s.buf.Reset()
			s.buf.WriteString(s.header(len(s.data), s.hash))
			s.buf.Write(s.data)
			s.buf.WriteString("\r\n")
		case !s.done:
			s.done = true
			s.buf.Reset()
			s.buf.WriteString(s.header(0, emptySHA256))
			if s.payload != streamingSigned {
				line := "x-amz-checksum-crc32:AAAAAA=="
				s.buf.WriteString(line + "\r\n")
				if s.payload == streamingSignedTrailer {
					sum := sha256.Sum256([]byte(line + "\n"))
					sig := hex.EncodeToString(hmacSHA256(docKey, trailerAlgorithm+"\n"+docPrefix+s.prev+"\n"+hex.EncodeToString(sum[:])))
					s.buf.WriteString(trailerSigName + ":" + sig + "\r\n")
				}
			}
			s.buf.WriteString("\r\n")
		default:
			return 0, io.EOF
		}
		s.part = s.buf.Bytes()
	}
	n := copy(p, s.part)
	s.part = s.part[n:]
	return n, nil
}

// TestChunkedSource decodes generated bodies of every payload form, so
// the generator the fuzzer and the benchmark use is known to be right.
func TestChunkedSource(t *testing.T) {
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, p := range []string{streamingSigned, streamingSignedTrailer, streamingUnsigned} {
		var declared []string
		if p != streamingSigned {
			declared = []string{"x-amz-checksum-crc32"}
		}
		c := newChunked(newSource(p, data, 5, docExamples[0].seed), p, 50000, docExamples[0].seed, declared...)
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, bytes.Repeat(data, 5)) {
			t.Fatalf("%s: %d bytes, %v", p, len(got), err)
		}
		if p != streamingSigned && c.trailer.Get("x-amz-checksum-crc32") != "AAAAAA==" {
			t.Errorf("%s: trailer %v", p, c.trailer)
		}
	}
}

// FuzzChunked feeds arbitrary bodies to the aws-chunked decoder in each
// payload form. It must never panic, fail only with an *Error of a known
// class, return no more bytes than the declared length, and never buffer
// much more than it was sent. The documented examples are 66 KB seeds, and
// the fuzzer's minimising of such inputs stalls it for minutes: run it as
//
//	go test ./api/sigv4 -run XXX -fuzz FuzzChunked -fuzzminimizetime 50x
func FuzzChunked(f *testing.F) {
	f.Add([]byte(docExamples[0].body()), uint8(0), int64(66560), "")
	f.Add([]byte(docExamples[1].body()), uint8(1), int64(66560), "x-amz-checksum-crc32c")
	f.Add([]byte("b\r\nHello world\r\n0\r\nx-amz-checksum-crc32:i9aeUg==\r\n\r\n"), uint8(2), int64(11), "x-amz-checksum-crc32")
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(2), int64(1<<62), "")
	f.Add([]byte("1000000\r\n"), uint8(2), int64(1<<40), "")
	f.Add([]byte("3;x\r\nabc\r\n0\r\n\r\n"), uint8(2), int64(3), "")
	f.Add([]byte("0\r\n"+strings.Repeat("a:b\r\n", 40)), uint8(2), int64(0), "a")
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, size int64, declared string) {
		if size < 0 {
			size = -size
		}
		payload := []string{streamingSigned, streamingSignedTrailer, streamingUnsigned}[mode%3]
		seed := docExamples[0].seed
		if payload == streamingSignedTrailer {
			seed = docExamples[1].seed
		}
		c := newChunked(bytes.NewReader(body), payload, size, seed, strings.Split(declared, ",")...)
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Failure < Missing || e.Failure > PayloadMismatch || e.Message == "" {
				t.Fatalf("bad error %T %#v", err, err)
			}
		}
		if n > size || n > int64(len(body)) {
			t.Fatalf("%d bytes out of a %d-byte body declared as %d", n, len(body), size)
		}
		if cap(c.store) > max(2*len(body), 64<<10) {
			t.Fatalf("buffered %d bytes of a %d-byte body", cap(c.store), len(body))
		}
		if err == nil && n != size {
			t.Fatalf("EOF after %d bytes, declared %d", n, size)
		}
	})
}

// TestChunkedRandomSplits decodes a generated body whose chunk sizes are
// random, read through reads of random sizes.
func TestChunkedRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		var wire, want bytes.Buffer
		for k := rng.IntN(5); k >= 0; k-- {
			chunk := make([]byte, rng.IntN(3000)+1)
			for j := range chunk {
				chunk[j] = byte(rng.Uint32())
			}
			want.Write(chunk)
			wire.WriteString(strconv.FormatInt(int64(len(chunk)), 16) + "\r\n")
			wire.Write(chunk)
			wire.WriteString("\r\n")
		}
		wire.WriteString("0\r\n\r\n")
		c := newChunked(&wire, streamingUnsigned, int64(want.Len()), "")
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf[:rng.IntN(len(buf))+1])
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("round %d: decoded %d bytes, want %d", i, got.Len(), want.Len())
		}
	}
}

// TestSignedStreamOverHTTP sends signed aws-chunked bodies (the forms no
// client at hand sends; the Java SDKs and minio-go do, over plain HTTP)
// through a real net/http server, with HTTP's own chunked transfer coding
// beneath and no Content-Length, the seed signature made by aws-sdk-go-v2's
// signer.
func TestSignedStreamOverHTTP(t *testing.T) {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 13)
	}
	const chunks = 40
	for _, payload := range []string{streamingSigned, streamingSignedTrailer} {
		var (
			got     int64
			trailer http.Header
			srvErr  error
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, b, err := readS3(r, docSecret, docTime)
			if b != nil {
				trailer = b.Trailer()
			}
			got = int64(len(body))
			srvErr = err
		}))
		r, _ := http.NewRequest("PUT", srv.URL+"/bucket/big object", nil)
		r.Header.Set("X-Amz-Content-Sha256", payload)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(chunks*len(data)))
		if payload == streamingSignedTrailer {
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		}
		c := aws.Credentials{AccessKeyID: docAKID, SecretAccessKey: docSecret}
		if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
			SignHTTP(context.Background(), c, r, payload, "s3", "us-east-1", docTime); err != nil {
			t.Fatal(err)
		}
		authz := r.Header.Get("Authorization")
		seed := authz[strings.LastIndex(authz, "=")+1:]
		r.Body = io.NopCloser(newSource(payload, data, chunks, seed))
		r.ContentLength = -1
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if srvErr != nil || got != int64(chunks*len(data)) {
			t.Errorf("%s: %v, %d bytes", payload, srvErr, got)
		}
		if payload == streamingSignedTrailer && trailer.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
			t.Errorf("%s: trailer %v", payload, trailer)
		}
	}
}
