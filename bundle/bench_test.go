package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
)

// benchImage is 64 MiB: a quarter random, a quarter text, half zeros,
// the mix of scripts/bench/bundle.sh.
func benchImage() []byte {
	const n = 64 << 20
	img := make([]byte, n)
	copy(img, randomImage(n/4))
	copy(img[n/4:n/2], bytes.Repeat([]byte("openami bundles an image: tar, gzip, aes-128-cbc, parts. "), n/4/58+1))
	return img
}

type discardSink struct{}

func (discardSink) PutPart(_ context.Context, _ Part, r io.ReadSeeker) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// BenchmarkCreate: bytes of image bundled per second, parts discarded.
func BenchmarkCreate(b *testing.B) {
	img := benchImage()
	opts := options(b, "image", 0)
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Create(context.Background(), bytes.NewReader(img), int64(len(img)), opts, discardSink{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnbundle: bytes of image unbundled per second, from parts in
// memory, the image discarded.
func BenchmarkUnbundle(b *testing.B) { benchUnbundle(b, benchImage()) }

// BenchmarkUnbundleRandom: the same for 64 MiB of random bytes, the
// incompressible data of the instance store launch benchmark
// (bench/ BenchmarkInstanceStore), where gzip stores rather than inflates.
func BenchmarkUnbundleRandom(b *testing.B) {
	img := make([]byte, 64<<20)
	rand.Read(img)
	benchUnbundle(b, img)
}

func benchUnbundle(b *testing.B, img []byte) {
	user, _, _ := testIDs(b)
	m, sink := bundleOf(b, img, options(b, "image", 0))
	key, iv, err := m.UserKey(Decrypter(user.key))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Unbundle(context.Background(), m, key, iv, sink.open, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
