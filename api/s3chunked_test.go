package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/openami/openami/rules/identity"
)

// chunkedUpload is an aws-chunked upload as the SDKs send one: data in
// chunks of chunk bytes, signed in a chain from the request's seed
// signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signed with
// aws-sdk-go-v2's own StreamSigner) or unsigned with a CRC32 trailer
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
type chunkedUpload struct {
	data    []byte
	chunk   int
	signed  bool
	crc     string // the trailer's value; "" for the data's own CRC32
	tamper  bool   // change a byte of the first chunk after signing
	headers []string
}

// request returns the upload's request to path, signed with c.
func (u chunkedUpload) request(t *testing.T, ts *testServer, c identity.Credentials, method, path string) *http.Request {
	t.Helper()
	payload := "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	if u.signed {
		payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	}
	var chunks [][]byte
	for off := 0; off < len(u.data); off += u.chunk {
		chunks = append(chunks, u.data[off:min(off+u.chunk, len(u.data))])
	}
	chunks = append(chunks, nil)
	crc := u.crc
	if crc == "" {
		crc = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(u.data)))
	}
	encode := func(sigs []string) []byte {
		var b bytes.Buffer
		for i, ch := range chunks {
			fmt.Fprintf(&b, "%x", len(ch))
			if u.signed {
				b.WriteString(";chunk-signature=" + sigs[i])
			}
			b.WriteString("\r\n")
			if len(ch) > 0 {
				b.Write(ch)
				b.WriteString("\r\n")
			}
		}
		if !u.signed {
			b.WriteString("x-amz-checksum-crc32:" + crc + "\r\n")
		}
		b.WriteString("\r\n")
		return b.Bytes()
	}
	placeholder := make([]string, len(chunks))
	for i := range placeholder {
		placeholder[i] = strings.Repeat("0", 64)
	}
	size := len(encode(placeholder))
	req, err := http.NewRequest(method, "http://"+ts.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(size)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(u.data)))
	req.Header.Set("Content-Encoding", "aws-chunked")
	if !u.signed {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	for i := 0; i+1 < len(u.headers); i += 2 {
		req.Header.Set(u.headers[i], u.headers[i+1])
	}
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	now := time.Now().UTC()
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), creds, req, payload, "s3", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	sigs := placeholder
	if u.signed {
		_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
		seedBytes, _ := hex.DecodeString(seed)
		ss := v4.NewStreamSigner(creds, "s3", "us-east-1", seedBytes)
		sigs = make([]string, len(chunks))
		for i, ch := range chunks {
			sig, err := ss.GetSignature(context.Background(), nil, ch, now)
			if err != nil {
				t.Fatal(err)
			}
			sigs[i] = hex.EncodeToString(sig)
		}
	}
	body := encode(sigs)
	if u.tamper {
		i := bytes.Index(body, chunks[0])
		body[i] ^= 1
	}
	req.Body = http.NoBody
	if len(body) > 0 {
		req.Body = nopCloser{bytes.NewReader(body)}
	}
	return req
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TestS3Chunked: aws-chunked uploads through the endpoint, signed chunk
// by chunk or unsigned with a CRC32 trailer, store the decoded bytes
// (sized by x-amz-decoded-content-length, stored without aws-chunked in
// Content-Encoding, with the trailer's checksum); a tampered chunk, a
// wrong trailer and a body shorter than announced are refused and store nothing.
func TestS3Chunked(t *testing.T) {
	ts := startServer(t, Limits{})
	a := ts.admin
	if st, b := s3Do(t, ts.s3Request(t, a, "PUT", "/chunks", "", "")); st != 200 {
		t.Fatalf("CreateBucket: %d %s", st, b)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes: 3 chunks of 64 KiB
	for _, signed := range []bool{true, false} {
		key := fmt.Sprintf("/chunks/obj-%v", signed)
		up := chunkedUpload{data: data, chunk: 64 << 10, signed: signed, headers: []string{"Content-Type", "text/plain"}}
		if st, b := s3Do(t, up.request(t, ts, a, "PUT", key)); st != 200 {
			t.Fatalf("signed %v: PutObject %d %s", signed, st, b)
		}
		get := ts.s3Request(t, a, "GET", key, "", "", "x-amz-checksum-mode", "ENABLED")
		resp, err := http.DefaultClient.Do(get)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got.Bytes(), data) || resp.ContentLength != int64(len(data)) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("signed %v: got %d bytes (Content-Length %d, Content-Encoding %q), want %d", signed, got.Len(), resp.ContentLength, resp.Header.Get("Content-Encoding"), len(data))
		}
		if want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))); !signed && resp.Header.Get("x-amz-checksum-crc32") != want {
			t.Errorf("trailer's checksum not stored: %v", resp.Header)
		}
	}
	for _, c := range []struct {
		what string
		up   chunkedUpload
		code string
	}{
		{"tampered chunk", chunkedUpload{data: data, chunk: 64 << 10, signed: true, tamper: true}, "SignatureDoesNotMatch"},
		{"wrong trailer", chunkedUpload{data: data, chunk: 64 << 10, crc: "AAAAAA=="}, "BadDigest"},
		{"shorter than announced", chunkedUpload{data: data, chunk: 64 << 10, headers: []string{"X-Amz-Decoded-Content-Length", strconv.Itoa(len(data) + 1)}}, "IncompleteBody"},
	} {
		st, b := s3Do(t, c.up.request(t, ts, a, "PUT", "/chunks/bad"))
		if st != 400 && st != 403 || !strings.Contains(b, "<Code>"+c.code+"</Code>") {
			t.Errorf("%s: %d %s", c.what, st, b)
		}
		if st, b := s3Do(t, ts.s3Request(t, a, "GET", "/chunks/bad", "", "")); st != 404 {
			t.Errorf("%s: stored: %d %s", c.what, st, b)
		}
	}
}
