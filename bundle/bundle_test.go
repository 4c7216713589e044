package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// roundTrip checks that a bundle of img verifies, that its manifest
// survives Marshal and ParseManifest, and that it unbundles to img with
// the user's key and with EC2's.
func roundTrip(t *testing.T, img []byte, opts Options) (*Manifest, *memSink) {
	t.Helper()
	user, ec2, _ := testIDs(t)
	m, sink := bundleOf(t, img, opts)
	if err := m.Verify(user.cert); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ParseManifest: %v\n%s", err, raw)
	}
	if err := parsed.Verify(ec2.cert, user.cert); err != nil {
		t.Fatalf("Verify after parsing: %v", err)
	}
	if parsed.Size != int64(len(img)) || len(parsed.Parts) != len(m.Parts) || parsed.BundledSize != int64(len(sink.all())) {
		t.Fatalf("parsed size %d, %d parts, bundled %d; want %d, %d, %d",
			parsed.Size, len(parsed.Parts), parsed.BundledSize, len(img), len(m.Parts), len(sink.all()))
	}
	for name, decrypt := range map[string]func() ([]byte, []byte, error){
		"user": func() ([]byte, []byte, error) { return parsed.UserKey(Decrypter(user.key)) },
		"ec2":  func() ([]byte, []byte, error) { return parsed.EC2Key(Decrypter(ec2.key)) },
	} {
		key, iv, err := decrypt()
		if err != nil {
			t.Fatalf("%s key: %v", name, err)
		}
		var out bytes.Buffer
		if err := Unbundle(context.Background(), parsed, key, iv, sink.open, &out); err != nil {
			t.Fatalf("Unbundle with the %s key: %v", name, err)
		}
		if !bytes.Equal(out.Bytes(), img) {
			t.Fatalf("Unbundle with the %s key: %d bytes differ from the image's %d", name, out.Len(), len(img))
		}
	}
	if err := CheckParts(context.Background(), parsed, sink.open); err != nil {
		t.Fatalf("CheckParts: %v", err)
	}
	return parsed, sink
}

func TestRoundTripSizes(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 100_000} {
		m, _ := roundTrip(t, randomImage(n), options(t, "image", 0))
		if len(m.Parts) != 1 || m.Parts[0].Filename != "image.part.00" {
			t.Errorf("size %d: parts %+v, want one image.part.00", n, m.Parts)
		}
	}
}

// TestRoundTripPartBoundaries cuts the same stream so that it ends exactly
// at a part's end, one byte past it and one byte short of it.
func TestRoundTripPartBoundaries(t *testing.T) {
	img := randomImage(300_000)
	m, _ := bundleOf(t, img, options(t, "image", 1<<30))
	b := m.BundledSize // the stream's length does not depend on the key
	for _, c := range []struct {
		partSize int64
		parts    int
	}{{b, 1}, {b + 1, 1}, {b - 1, 2}, {b / 2, 2}, {b/2 - 1, 3}, {b / 16, 16}, {b/16 - 1, 17}} {
		m, sink := roundTrip(t, img, options(t, "image", c.partSize))
		if len(m.Parts) != c.parts {
			t.Errorf("part size %d of %d: %d parts, want %d", c.partSize, b, len(m.Parts), c.parts)
		}
		for i, name := range sink.order {
			size := int64(len(sink.parts[name]))
			if name != PartName("image", i) || (i < len(sink.order)-1 && size != c.partSize) {
				t.Errorf("part %d: %s of %d bytes (part size %d)", i, name, size, c.partSize)
			}
		}
	}
}

func TestRoundTripMultiPart(t *testing.T) {
	if testing.Short() {
		t.Skip("25 MiB bundle")
	}
	img := make([]byte, 25<<20)
	copy(img, randomImage(len(img)))
	m, sink := roundTrip(t, img, options(t, "disk.img", 0))
	if len(m.Parts) != 3 {
		t.Fatalf("%d parts, want 3 of at most 10 MiB", len(m.Parts))
	}
	for i, name := range sink.order {
		if n := len(sink.parts[name]); i < 2 && n != DefaultPartSize {
			t.Errorf("%s is %d bytes, want %d", name, n, DefaultPartSize)
		}
	}
}

func TestManifestFields(t *testing.T) {
	m, _ := roundTrip(t, []byte("kernel bytes"), Options{
		ImageName: "vmlinuz", User: "123456789012", Architecture: "x86_64", Type: TypeKernel, KernelName: "vmlinuz-6.1",
		ProductCodes: []string{"abc123"}, AncestorAMIIDs: []string{"ami-1"}, RamdiskID: "ari-1",
		EC2Cert: testID(t, "ec2").cert, UserCert: testID(t, "user").cert, Signer: testID(t, "user").key,
	})
	if m.Type != TypeKernel || m.KernelName != "vmlinuz-6.1" || m.RamdiskID != "ari-1" ||
		len(m.ProductCodes) != 1 || m.ProductCodes[0] != "abc123" || len(m.AncestorAMIIDs) != 1 ||
		m.Bundler.Name != "openami" || m.User != "123456789012" {
		t.Fatalf("parsed %+v", m)
	}
	b, _ := bundleOf(t, nil, options(t, "image", 0))
	want := []Mapping{{"ami", "sda1"}, {"ephemeral0", "sda2"}, {"root", "/dev/sda1"}}
	if len(b.BlockDeviceMapping) != 3 || b.BlockDeviceMapping[0] != want[0] || b.BlockDeviceMapping[2] != want[2] {
		t.Fatalf("mappings %v, want sorted %v", b.BlockDeviceMapping, want)
	}
}

func testID(t testing.TB, name string) identity {
	user, ec2, other := testIDs(t)
	return map[string]identity{"user": user, "ec2": ec2, "other": other}[name]
}

func TestTampering(t *testing.T) {
	user, ec2, other := testIDs(t)
	img := randomImage(200_000)
	m, sink := bundleOf(t, img, options(t, "image", 40_000))
	if len(m.Parts) < 3 {
		t.Fatalf("%d parts, want several", len(m.Parts))
	}
	key, iv, err := m.UserKey(Decrypter(user.key))
	if err != nil {
		t.Fatal(err)
	}
	unbundle := func(open OpenPart) error {
		return Unbundle(context.Background(), m, key, iv, open, io.Discard)
	}
	flipped := func(index, at int) OpenPart {
		return func(p Part) (io.ReadCloser, error) {
			rc, err := sink.open(p)
			if err != nil || p.Index != index {
				return rc, err
			}
			b, _ := io.ReadAll(rc)
			b = bytes.Clone(b)
			b[at] ^= 0x40
			return io.NopCloser(bytes.NewReader(b)), nil
		}
	}
	missing := func(index int) OpenPart {
		return func(p Part) (io.ReadCloser, error) {
			if p.Index == index {
				return sink.open(Part{Filename: "gone"})
			}
			return sink.open(p)
		}
	}
	for _, c := range []struct {
		name  string
		open  OpenPart
		want  error
		index int
	}{
		{"first byte of part 0", flipped(0, 0), ErrDigest, 0},
		{"middle of part 1", flipped(1, 20_000), ErrDigest, 1},
		{"last byte of the last part", flipped(len(m.Parts)-1, len(sink.parts[sink.order[len(sink.order)-1]])-1), ErrDigest, len(m.Parts) - 1},
		{"part 1 missing", missing(1), ErrMissingPart, 1},
		{"last part missing", missing(len(m.Parts) - 1), ErrMissingPart, len(m.Parts) - 1},
	} {
		for fn, err := range map[string]error{"Unbundle": unbundle(c.open), "CheckParts": CheckParts(context.Background(), m, c.open)} {
			var perr *PartError
			if !errors.Is(err, c.want) || !errors.As(err, &perr) || perr.Part.Index != c.index {
				t.Errorf("%s, %s: %v; want %v naming part %d", c.name, fn, err, c.want, c.index)
			}
		}
	}

	// A wrong key: the parts verify, the stream does not decrypt.
	if err := Unbundle(context.Background(), m, iv, key, sink.open, io.Discard); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong key: %v, want ErrCorrupt", err)
	}
	if _, _, err := m.UserKey(Decrypter(other.key)); !errors.Is(err, ErrKey) {
		t.Errorf("user key with another's private key: %v, want ErrKey", err)
	}

	// The manifest: a wrong signer, a changed field, a changed text.
	if err := m.Verify(other.cert, ec2.cert); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify with others' certificates: %v, want ErrSignature", err)
	}
	raw, _ := m.Marshal()
	for old, new := range map[string]string{
		"<size>200000</size>":           "<size>200001</size>",
		"<architecture>x86_64":          "<architecture>i386",
		"<virtual>ami</virtual>":        "<virtual>swap</virtual>",
		"<name>image</name>":            "<name>imagf</name>",
		`<part index="0"><filename>ima`: `<part index="0"><filename> ima`,
	} {
		changed := strings.Replace(string(raw), old, new, 1)
		if changed == string(raw) {
			t.Fatalf("%q not in the manifest:\n%s", old, raw)
		}
		pm, err := ParseManifest(strings.NewReader(changed))
		if err != nil {
			t.Fatalf("parsing with %s: %v", new, err)
		}
		if err := pm.Verify(user.cert); !errors.Is(err, ErrSignature) {
			t.Errorf("manifest with %s: Verify %v, want ErrSignature", new, err)
		}
	}
	// euca2ools declares its manifests ASCII (lxml), REXML writes no encoding.
	for _, decl := range []string{`<?xml version='1.0' encoding='ASCII'?>`, `<?xml version='1.0'?>`} {
		pm, err := ParseManifest(strings.NewReader(strings.Replace(string(raw), `<?xml version="1.0" encoding="UTF-8"?>`, decl, 1)))
		if err != nil || pm.Verify(user.cert) != nil {
			t.Errorf("with %s: %v", decl, err)
		}
	}
	// Unsigned text between the signed elements does not matter.
	pm, err := ParseManifest(strings.NewReader(strings.Replace(string(raw), "<bundler><name>openami", "<bundler><name>other", 1)))
	if err != nil || pm.Verify(user.cert) != nil {
		t.Errorf("a changed bundler name should still verify: %v", err)
	}
	pm.Size++
	if err := pm.Verify(user.cert); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify after changing Size: %v, want ErrSignature", err)
	}
	if _, err := pm.Marshal(); !errors.Is(err, ErrSignature) {
		t.Errorf("Marshal after changing Size: %v, want ErrSignature", err)
	}

	sizeOf := func(p Part) (int64, error) {
		rc, err := sink.open(p)
		if err != nil {
			return 0, err
		}
		return io.Copy(io.Discard, rc)
	}
	if err := CheckPartSizes(m, sizeOf); err != nil {
		t.Errorf("CheckPartSizes: %v", err)
	}
	var perr *PartError
	if err := CheckPartSizes(m, func(p Part) (int64, error) {
		if _, err := missing(2)(p); err != nil {
			return 0, err
		}
		return sizeOf(p)
	}); !errors.Is(err, ErrMissingPart) || !errors.As(err, &perr) || perr.Part.Index != 2 {
		t.Errorf("CheckPartSizes with part 2 missing: %v", err)
	}

	// Sizes that disagree with the manifest.
	wrong := *m
	wrong.Size++
	if err := Unbundle(context.Background(), &wrong, key, iv, sink.open, io.Discard); !errors.Is(err, ErrSize) {
		t.Errorf("Unbundle with a wrong size: %v, want ErrSize", err)
	}
	wrong = *m
	wrong.BundledSize--
	if err := CheckParts(context.Background(), &wrong, sink.open); !errors.Is(err, ErrSize) {
		t.Errorf("CheckParts with a wrong bundled size: %v, want ErrSize", err)
	}
	if err := CheckPartSizes(&wrong, sizeOf); !errors.Is(err, ErrSize) {
		t.Errorf("CheckPartSizes with a wrong bundled size: %v, want ErrSize", err)
	}
	wrong = *m
	wrong.Digest = bytes.Repeat([]byte{1}, 20)
	if err := Unbundle(context.Background(), &wrong, key, iv, sink.open, io.Discard); !errors.Is(err, ErrDigest) {
		t.Errorf("Unbundle with a wrong image digest: %v, want ErrDigest", err)
	}
}

// TestReseal moves a bundle to another EC2 certificate, as CopyImage to
// another region does, without touching its parts.
func TestReseal(t *testing.T) {
	user, ec2, other := testIDs(t)
	img := randomImage(50_000)
	m, sink := bundleOf(t, img, options(t, "image", 0))
	key, iv, err := m.EC2Key(Decrypter(ec2.key))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetEC2Key(key, iv, other.cert); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(user.cert); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify before signing again: %v, want ErrSignature", err)
	}
	if err := m.Sign(other.key); err != nil {
		t.Fatal(err)
	}
	raw, _ := m.Marshal()
	moved, err := ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := moved.Verify(user.cert, other.cert); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, _, err := moved.EC2Key(Decrypter(ec2.key)); !errors.Is(err, ErrKey) {
		t.Fatalf("the old EC2 key still opens it: %v", err)
	}
	k2, iv2, err := moved.EC2Key(Decrypter(other.key))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Unbundle(context.Background(), moved, k2, iv2, sink.open, &out); err != nil || !bytes.Equal(out.Bytes(), img) {
		t.Fatalf("Unbundle after the move: %v", err)
	}
	// The user's own key still opens it.
	if _, _, err := moved.UserKey(Decrypter(user.key)); err != nil {
		t.Fatal(err)
	}
}

func TestCreateErrors(t *testing.T) {
	opts := options(t, "image", 0)
	if _, err := Create(context.Background(), strings.NewReader("short"), 10, opts, &memSink{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: %v", err)
	}
	for _, name := range []string{"", "a/b", ".."} {
		o := opts
		o.ImageName = name
		if _, err := Create(context.Background(), strings.NewReader(""), 0, o, &memSink{}); err == nil {
			t.Errorf("image name %q accepted", name)
		}
	}
	for _, size := range []int64{-1, MaxPartSize + 1} {
		o := opts
		o.PartSize = size
		if _, err := Create(context.Background(), strings.NewReader(""), 0, o, &memSink{}); err == nil {
			t.Errorf("part size %d accepted", size)
		}
	}
	failing := sinkFunc(func(p Part) error {
		if p.Index == 1 {
			return errors.New("disk full")
		}
		return nil
	})
	o := options(t, "image", 1000)
	if _, err := Create(context.Background(), bytes.NewReader(randomImage(100_000)), 100_000, o, failing); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("failing sink: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Create(ctx, bytes.NewReader(randomImage(100_000)), 100_000, o, &memSink{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

type sinkFunc func(Part) error

func (f sinkFunc) PutPart(_ context.Context, p Part, r io.ReadSeeker) error {
	io.Copy(io.Discard, r)
	return f(p)
}

func TestParseManifestMalformed(t *testing.T) {
	m, _ := bundleOf(t, []byte("x"), options(t, "image", 0))
	raw, _ := m.Marshal()
	for old, new := range map[string]string{
		"<version>2007-10-10": "<version>2007-08-29",
		`<parts count="1">`:   `<parts count="2">`,
		`<part index="0">`:    `<part index="1">`,
		"<filename>image.":    "<filename>../image.",
		"<type>machine":       "<type>volume",
		"<size>1<":            "<size>-1<",
		"</image>":            "</imag>",
		`algorithm="SHA1">`:   `algorithm="MD5">`,
		"<ec2_encrypted_iv>":  "<ec2_encrypted_iv>zz",
	} {
		changed := strings.Replace(string(raw), old, new, 1)
		if changed == string(raw) {
			t.Fatalf("%q not in the manifest", old)
		}
		if _, err := ParseManifest(strings.NewReader(changed)); !errors.Is(err, ErrMalformed) {
			t.Errorf("with %s: %v, want ErrMalformed", new, err)
		}
	}
	// A second <image> inside <machine_configuration> would make the AMI
	// tools' text search and the parser disagree.
	odd := strings.Replace(string(raw), "<kernel_id>", "<x><image></image></x><kernel_id>", 1)
	if _, err := ParseManifest(strings.NewReader(odd)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a nested <image>: %v, want ErrMalformed", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	m, _ := bundleOf(f, []byte("fuzz"), options(f, "image", 0))
	raw, _ := m.Marshal()
	f.Add(raw)
	f.Add([]byte("<manifest><version>2007-10-10</version></manifest>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(m.Parts) == 0 || len(m.Digest) != 20 {
			t.Fatalf("parsed a manifest without parts or digest")
		}
		if len(m.Signature) > 0 {
			out, err := m.Marshal()
			if err != nil {
				t.Fatalf("Marshal of a parsed manifest: %v", err)
			}
			if _, err := ParseManifest(bytes.NewReader(out)); err != nil {
				t.Fatalf("re-parsing: %v\n%s", err, out)
			}
		}
	})
}
