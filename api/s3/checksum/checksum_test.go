package checksum

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestKnownVectors checks each algorithm against published values: those
// of aws-sdk-go-v2's checksum tests for "hello world", and the CRC
// catalogue's check value of CRC-64/NVME ("123456789" → ae8b14860a799888).
func TestKnownVectors(t *testing.T) {
	for a, want := range map[Algorithm]string{
		CRC32:     "DUoRhQ==",
		CRC32C:    "yZRlqg==",
		CRC64NVME: "jSnVw/bqjr4=",
		SHA1:      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
		SHA256:    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
	} {
		if got := a.Sum([]byte("hello world")); got != want {
			t.Errorf("%s: %s, want %s", a, got, want)
		}
	}
	h := CRC64NVME.New()
	io.WriteString(h, "123456789")
	if got := binary.BigEndian.Uint64(h.Sum(nil)); got != 0xae8b14860a799888 {
		t.Errorf("CRC-64/NVME check value %x", got)
	}
	// The AWS documentation's trailer example: 66560 bytes of 'a'.
	if got := CRC32C.Sum(bytes.Repeat([]byte("a"), 66560)); got != "sOO8/Q==" {
		t.Errorf("crc32c of the documented example: %s", got)
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestFromRequest(t *testing.T) {
	md := md5.Sum([]byte("x"))
	b64md := base64.StdEncoding.EncodeToString(md[:])
	good := []struct {
		h    http.Header
		want Want
	}{
		{hdr(), Want{}},
		{hdr("Content-MD5", b64md), Want{MD5: md[:]}},
		{hdr("x-amz-checksum-crc32", "DUoRhQ==", "x-amz-sdk-checksum-algorithm", "crc32"), Want{Algorithm: CRC32, Value: "DUoRhQ=="}},
		{hdr("x-amz-trailer", "x-amz-checksum-crc64nvme", "x-amz-sdk-checksum-algorithm", "CRC64NVME"), Want{Algorithm: CRC64NVME, Trailer: true}},
		{hdr("X-Amz-Trailer", "X-Amz-Checksum-Sha256", "Content-MD5", b64md), Want{MD5: md[:], Algorithm: SHA256, Trailer: true}},
	}
	for _, c := range good {
		got, err := FromRequest(c.h)
		if err != nil || got.Algorithm != c.want.Algorithm || got.Value != c.want.Value || got.Trailer != c.want.Trailer || !bytes.Equal(got.MD5, c.want.MD5) {
			t.Errorf("%v: %+v, %v; want %+v", c.h, got, err, c.want)
		}
	}
	bad := []struct {
		h    http.Header
		want Failure
	}{
		{hdr("Content-MD5", "nope"), InvalidDigest},
		{hdr("Content-MD5", "DUoRhQ=="), InvalidDigest},
		{hdr("x-amz-checksum-crc32", "DUoRhQ"), Invalid},
		{hdr("x-amz-checksum-crc32", "jSnVw/bqjr4="), Invalid},
		{hdr("x-amz-checksum-crc32", "DUoRhQ==", "x-amz-checksum-crc32c", "yZRlqg=="), Invalid},
		{hdr("x-amz-checksum-crc32", "DUoRhQ==", "x-amz-trailer", "x-amz-checksum-crc32"), Invalid},
		{hdr("x-amz-trailer", "x-amz-checksum-md4"), Invalid},
		{hdr("x-amz-trailer", "x-amz-meta-x"), Invalid},
		{hdr("x-amz-sdk-checksum-algorithm", "crc32"), Invalid},
		{hdr("x-amz-sdk-checksum-algorithm", "whirlpool", "x-amz-checksum-crc32", "DUoRhQ=="), Invalid},
		{hdr("x-amz-sdk-checksum-algorithm", "sha1", "x-amz-checksum-crc32", "DUoRhQ=="), Invalid},
	}
	for _, c := range bad {
		if _, err := FromRequest(c.h); !errors.Is(err, c.want) {
			t.Errorf("%v: %v, want %v", c.h, err, c.want)
		}
	}
}

// read reads body through a Reader checking want, a byte at a time.
func read(body string, want Want, trailer http.Header) (string, *Reader, error) {
	r := NewReader(iotest.OneByteReader(strings.NewReader(body)), want, func() http.Header { return trailer })
	got, err := io.ReadAll(r)
	return string(got), r, err
}

func TestReader(t *testing.T) {
	body := "hello world"
	md := md5.Sum([]byte(body))
	other := md5.Sum([]byte("hello worle"))

	got, r, err := read(body, Want{MD5: md[:], Algorithm: CRC32, Value: "DUoRhQ=="}, nil)
	if err != nil || got != body || !bytes.Equal(r.MD5(), md[:]) || r.Sum() != "DUoRhQ==" || r.N() != 11 {
		t.Fatalf("%q %v md5 %x sum %s", got, err, r.MD5(), r.Sum())
	}
	// Computed only, to store.
	if _, r, err := read(body, Want{Algorithm: CRC64NVME}, nil); err != nil || r.Sum() != "jSnVw/bqjr4=" {
		t.Errorf("computed: %v %s", err, r.Sum())
	}
	// From the trailer.
	if _, r, err := read(body, Want{Algorithm: SHA1, Trailer: true}, hdr("X-Amz-Checksum-Sha1", "Kq5sNclPz7QV2+lfQIuc6R7oRu0=")); err != nil || r.Sum() != "Kq5sNclPz7QV2+lfQIuc6R7oRu0=" {
		t.Errorf("trailer: %v %s", err, r.Sum())
	}
	for name, c := range map[string]struct {
		want    Want
		trailer http.Header
		fail    Failure
	}{
		"md5":             {Want{MD5: other[:]}, nil, BadDigest},
		"crc32c header":   {Want{Algorithm: CRC32C, Value: "AAAAAA=="}, nil, Mismatch},
		"sha256 trailer":  {Want{Algorithm: SHA256, Trailer: true}, hdr("X-Amz-Checksum-Sha256", SHA256.Sum([]byte("x"))), Mismatch},
		"missing trailer": {Want{Algorithm: CRC32, Trailer: true}, hdr(), Invalid},
		"bad trailer":     {Want{Algorithm: CRC32, Trailer: true}, hdr("X-Amz-Checksum-Crc32", "x"), Invalid},
	} {
		got, r, err := read(body, c.want, c.trailer)
		if !errors.Is(err, c.fail) || got != body || r.MD5() != nil || r.Sum() != "" {
			t.Errorf("%s: %v (want %v), sums %x %q", name, err, c.fail, r.MD5(), r.Sum())
		}
	}
	// An error of the body beneath passes through.
	boom := errors.New("boom")
	r = NewReader(iotest.ErrReader(boom), Want{MD5: md[:]}, nil)
	if _, err := io.ReadAll(r); err != boom {
		t.Errorf("body error: %v", err)
	}
}

// TestMultipart checks FULL_OBJECT checksums computed from parts against
// the checksum of the whole, and COMPOSITE ones against their definition.
func TestMultipart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	cuts := [][]int{{0, 300000}, {0, 1, 300000}, {0, 100000, 100001, 250000, 300000}, {0, 0, 7, 300000}}
	for _, alg := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, cut := range cuts {
			var parts []Part
			for i := 1; i < len(cut); i++ {
				parts = append(parts, Part{alg.Sum(data[cut[i-1]:cut[i]]), int64(cut[i] - cut[i-1])})
			}
			got, err := FullObject(alg, parts)
			if want := alg.Sum(data); err != nil || got != want {
				t.Errorf("%s %v: %s %v, want %s", alg, cut, got, err, want)
			}
		}
	}
	a, b := SHA256.Sum([]byte("a")), SHA256.Sum([]byte("b"))
	raw := func(s string) []byte { d, _ := base64.StdEncoding.DecodeString(s); return d }
	got, err := Composite(SHA256, []Part{{a, 1}, {b, 1}})
	if want := SHA256.Sum(append(raw(a), raw(b)...)) + "-2"; err != nil || got != want {
		t.Errorf("composite %s %v, want %s", got, err, want)
	}
	if _, err := Composite(CRC64NVME, nil); !errors.Is(err, Invalid) {
		t.Errorf("composite crc64nvme: %v", err)
	}
	if _, err := FullObject(SHA1, nil); !errors.Is(err, Invalid) {
		t.Errorf("full-object sha1: %v", err)
	}
	if _, err := FullObject(CRC32, []Part{{"x", 1}}); !errors.Is(err, Invalid) {
		t.Errorf("bad part: %v", err)
	}
}
