package bundle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ManifestVersion is the one manifest version the package reads and
// writes, the AMI tools' since 1.3 (ManifestV20071010).
const ManifestVersion = "2007-10-10"

// Image types of <image><type>.
const (
	TypeMachine = "machine"
	TypeKernel  = "kernel"
	TypeRamdisk = "ramdisk"
)

// CipherAlgorithm and DigestAlgorithm are the algorithms a 2007-10-10
// manifest names in its algorithm attributes.
const (
	CipherAlgorithm = "AES-128-CBC"
	DigestAlgorithm = "SHA1"
)

// MaxManifestSize bounds what ParseManifest reads: a manifest is about
// 2 KiB plus 150 bytes a part, so this allows bundles of terabytes.
const MaxManifestSize = 16 << 20

// Manifest is a bundle's manifest: what <machine_configuration> and
// <image> say, the bundler, and the signature. A Manifest parsed by
// ParseManifest keeps the exact bytes that were signed, so Verify and
// Marshal use them as long as the fields are unchanged; after a change,
// Sign again.
type Manifest struct {
	Bundler Bundler

	// <machine_configuration>: launch defaults.
	Architecture       string    // i386, x86_64, arm64 …
	BlockDeviceMapping []Mapping // virtual name → device, sorted by virtual name when written
	KernelID           string
	RamdiskID          string
	ProductCodes       []string

	// <image>
	Name           string   // the image's name: the tar entry's name and the parts' prefix
	User           string   // the owner's 12-digit account id
	Type           string   // TypeMachine, TypeKernel or TypeRamdisk
	KernelName     string   // kernel images only (<kernel_name>)
	AncestorAMIIDs []string // <ancestry>
	Digest         []byte   // SHA-1 of the whole tar stream (20 bytes)
	Size           int64    // the image file's size in bytes
	BundledSize    int64    // the parts' total size in bytes

	// The AES-128 key and IV, each the RSA PKCS#1 v1.5 encryption of its
	// 32 hex digits: to the EC2 certificate and to the user's (the user's
	// may be empty in a manifest EC2 made).
	EC2EncryptedKey  []byte
	EC2EncryptedIV   []byte
	UserEncryptedKey []byte
	UserEncryptedIV  []byte

	Parts []Part // in order: Parts[i].Index == i

	// Signature is RSA-SHA1 (PKCS#1 v1.5) over the text of
	// <machine_configuration> and <image>, concatenated.
	Signature []byte

	signed []byte // the exact bytes Signature covers, as parsed or signed
	canon  []byte // this package's encoding of the fields when signed was set
}

// Bundler names the program that made a bundle (<bundler>, not signed).
type Bundler struct {
	Name, Version, Release string
}

// Mapping is one entry of the manifest's block device mapping: a virtual
// name (ami, root, swap, ephemeralN) and the device an instance sees it as
// (sda1, /dev/sda1, …).
type Mapping struct {
	Virtual, Device string
}

// Part is one part of a bundle: its position, its file name (the object
// key's last element), its SHA-1 and, when known (Create sets it; a parsed
// manifest does not say), its size.
type Part struct {
	Index    int
	Filename string
	Digest   []byte
	Size     int64
}

// PartName is the file name of part i of an image named name, as
// euca2ools writes it: NAME.part.NN, two digits at least. (The AMI tools
// pad to the number of digits of the part count; readers take the names
// from the manifest, never from a pattern.)
func PartName(name string, i int) string {
	return fmt.Sprintf("%s.part.%02d", name, i)
}

// xmlManifest is the manifest's XML shape for decoding.
type xmlManifest struct {
	XMLName xml.Name `xml:"manifest"`
	Version string   `xml:"version"`
	Bundler struct {
		Name    string `xml:"name"`
		Version string `xml:"version"`
		Release string `xml:"release"`
	} `xml:"bundler"`
	Machine *struct {
		Architecture string `xml:"architecture"`
		Mappings     []struct {
			Virtual string `xml:"virtual"`
			Device  string `xml:"device"`
		} `xml:"block_device_mapping>mapping"`
		KernelID     string   `xml:"kernel_id"`
		RamdiskID    string   `xml:"ramdisk_id"`
		ProductCodes []string `xml:"product_codes>product_code"`
	} `xml:"machine_configuration"`
	Image *struct {
		Name        string   `xml:"name"`
		User        string   `xml:"user"`
		Type        string   `xml:"type"`
		KernelName  string   `xml:"kernel_name"`
		Ancestry    []string `xml:"ancestry>ancestor_ami_id"`
		Digest      xmlValue `xml:"digest"`
		Size        string   `xml:"size"`
		BundledSize string   `xml:"bundled_size"`
		EC2Key      xmlValue `xml:"ec2_encrypted_key"`
		UserKey     xmlValue `xml:"user_encrypted_key"`
		EC2IV       string   `xml:"ec2_encrypted_iv"`
		UserIV      string   `xml:"user_encrypted_iv"`
		Parts       struct {
			Count string `xml:"count,attr"`
			Part  []struct {
				Index    string   `xml:"index,attr"`
				Filename string   `xml:"filename"`
				Digest   xmlValue `xml:"digest"`
			} `xml:"part"`
		} `xml:"parts"`
	} `xml:"image"`
	Signature string `xml:"signature"`
}

type xmlValue struct {
	Algorithm string `xml:"algorithm,attr"`
	Value     string `xml:",chardata"`
}

// ParseManifest reads a manifest (at most MaxManifestSize bytes) and checks
// that it is complete: version 2007-10-10, an image with its name, user,
// type, digest, sizes, EC2-encrypted key and IV, and parts numbered 0…n-1
// whose file names are plain names. It keeps the signed bytes for Verify;
// it does not verify the signature. A manifest that fails these checks is
// an ErrMalformed error; one whose reader fails, that error.
func ParseManifest(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading bundle manifest: %w", err)
	}
	if len(data) > MaxManifestSize {
		return nil, malformed("over %d bytes", MaxManifestSize)
	}
	var x xmlManifest
	if err := newDecoder(data).Decode(&x); err != nil {
		return nil, malformed("%v", err)
	}
	if v := strings.TrimSpace(x.Version); v != ManifestVersion {
		return nil, malformed("version %q, want %s", v, ManifestVersion)
	}
	m := &Manifest{Bundler: Bundler{trim(x.Bundler.Name), trim(x.Bundler.Version), trim(x.Bundler.Release)}}
	if mc := x.Machine; mc != nil {
		m.Architecture = trim(mc.Architecture)
		for _, mp := range mc.Mappings {
			m.BlockDeviceMapping = append(m.BlockDeviceMapping, Mapping{trim(mp.Virtual), trim(mp.Device)})
		}
		m.KernelID, m.RamdiskID = trim(mc.KernelID), trim(mc.RamdiskID)
		for _, c := range mc.ProductCodes {
			m.ProductCodes = append(m.ProductCodes, trim(c))
		}
	}
	im := x.Image
	if im == nil {
		return nil, malformed("no <image>")
	}
	m.Name, m.User, m.Type, m.KernelName = trim(im.Name), trim(im.User), trim(im.Type), trim(im.KernelName)
	for _, a := range im.Ancestry {
		if a = trim(a); a != "" {
			m.AncestorAMIIDs = append(m.AncestorAMIIDs, a)
		}
	}
	if m.Name == "" || m.User == "" {
		return nil, malformed("<image> lacks <name> or <user>")
	}
	switch m.Type {
	case TypeMachine, TypeKernel, TypeRamdisk:
	default:
		return nil, malformed("image type %q", m.Type)
	}
	if m.Digest, err = sha1Hex(im.Digest, "image digest"); err != nil {
		return nil, err
	}
	if m.Size, err = nonNegative(im.Size, "size"); err != nil {
		return nil, err
	}
	if m.BundledSize, err = nonNegative(im.BundledSize, "bundled_size"); err != nil {
		return nil, err
	}
	for _, k := range []xmlValue{im.EC2Key, im.UserKey} {
		if a := trim(k.Algorithm); a != "" && !strings.EqualFold(a, CipherAlgorithm) {
			return nil, malformed("cipher %q, want %s", a, CipherAlgorithm)
		}
	}
	if m.EC2EncryptedKey, err = hexField(im.EC2Key.Value, "ec2_encrypted_key", true); err != nil {
		return nil, err
	}
	if m.EC2EncryptedIV, err = hexField(im.EC2IV, "ec2_encrypted_iv", true); err != nil {
		return nil, err
	}
	if m.UserEncryptedKey, err = hexField(im.UserKey.Value, "user_encrypted_key", false); err != nil {
		return nil, err
	}
	if m.UserEncryptedIV, err = hexField(im.UserIV, "user_encrypted_iv", false); err != nil {
		return nil, err
	}
	count, err := strconv.Atoi(trim(im.Parts.Count))
	if err != nil || count < 1 || count != len(im.Parts.Part) {
		return nil, malformed("parts count %q for %d parts", im.Parts.Count, len(im.Parts.Part))
	}
	m.Parts = make([]Part, count)
	seen := make([]bool, count)
	for _, xp := range im.Parts.Part {
		i, err := strconv.Atoi(trim(xp.Index))
		if err != nil || i < 0 || i >= count || seen[i] {
			return nil, malformed("part index %q", xp.Index)
		}
		seen[i] = true
		name := trim(xp.Filename)
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			return nil, malformed("part %d file name %q", i, name)
		}
		d, err := sha1Hex(xp.Digest, "part digest")
		if err != nil {
			return nil, err
		}
		m.Parts[i] = Part{Index: i, Filename: name, Digest: d}
	}
	if m.Signature, err = hexField(x.Signature, "signature", false); err != nil {
		return nil, err
	}
	mc, err := elementText(data, "machine_configuration", false)
	if err != nil {
		return nil, err
	}
	img, err := elementText(data, "image", true)
	if err != nil {
		return nil, err
	}
	m.signed = append(mc, img...)
	m.canon = m.encodeSigned()
	return m, nil
}

// elementText returns the bytes from the first "<name>" to the first
// "</name>" of data, as the AMI tools cut them out to sign and verify
// (XMLUtil.get_xml), and checks that they are the child of <manifest> the
// XML parser saw, so that what is verified is what was read. An absent
// optional element is empty.
func elementText(data []byte, name string, required bool) ([]byte, error) {
	start, end := []byte("<"+name+">"), []byte("</"+name+">")
	i, j := bytes.Index(data, start), bytes.Index(data, end)
	if i < 0 || j < i {
		if !required && i < 0 && j < 0 {
			return nil, nil
		}
		return nil, malformed("no <%s>…</%s>", name, name)
	}
	// Find the same element with the parser: a direct child of <manifest>.
	d := newDecoder(data)
	depth := 0
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return nil, malformed("<%s> is not where the text has it", name)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == name {
				if off != int64(i) {
					return nil, malformed("<%s> is not where the text has it", name)
				}
				if err := d.Skip(); err != nil {
					return nil, malformed("%v", err)
				}
				if d.InputOffset() != int64(j+len(end)) {
					return nil, malformed("<%s> is not where the text has it", name)
				}
				return bytes.Clone(data[i : j+len(end)]), nil
			}
		case xml.EndElement:
			depth--
		}
	}
}

// newDecoder returns an XML decoder of data that also takes the ASCII
// declaration euca2ools writes (lxml's encoding='ASCII'): ASCII is UTF-8.
func newDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "ascii", "us-ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q", label)
	}
	return d
}

// Sign signs the manifest with signer (an RSA key: the user's, or a
// region's EC2 key), RSA-SHA1 over this package's encoding of
// <machine_configuration> and <image>, and keeps those bytes for Marshal.
func (m *Manifest) Sign(signer crypto.Signer) error {
	if _, ok := signer.Public().(*rsa.PublicKey); !ok {
		return fmt.Errorf("signing bundle manifest: the key is %T, not RSA", signer.Public())
	}
	data := m.encodeSigned()
	sum := sha1.Sum(data)
	sig, err := signer.Sign(rand.Reader, sum[:], crypto.SHA1)
	if err != nil {
		return fmt.Errorf("signing bundle manifest: %w", err)
	}
	m.Signature, m.signed, m.canon = sig, data, data
	return nil
}

// signedBytes returns the bytes the signature covers, or an ErrSignature
// error when the manifest was never signed or its fields changed since.
func (m *Manifest) signedBytes() ([]byte, error) {
	if m.signed == nil || len(m.Signature) == 0 {
		return nil, fmt.Errorf("%w: the manifest is not signed", ErrSignature)
	}
	if !bytes.Equal(m.encodeSigned(), m.canon) {
		return nil, fmt.Errorf("%w: the manifest changed since it was signed", ErrSignature)
	}
	return m.signed, nil
}

// Verify checks the signature against each certificate's RSA key in turn
// and returns nil at the first that verifies. Which certificates count
// (the owner's active signing certificates, the region's EC2 certificate)
// and whether they are in force is the caller's to decide; Verify reads
// only their public keys. It returns an ErrSignature error when none
// verifies, the manifest is unsigned, or its fields changed since it was
// parsed or signed.
func (m *Manifest) Verify(certs ...*x509.Certificate) error {
	data, err := m.signedBytes()
	if err != nil {
		return err
	}
	sum := sha1.Sum(data)
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], m.Signature) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w under any of the %d certificates", ErrSignature, len(certs))
}

// Marshal returns the manifest's XML: the declaration, <version>,
// <bundler>, the signed elements exactly as they were parsed or signed, and
// <signature>. It returns an ErrSignature error when the manifest is not
// signed or changed since it was (Sign it first).
func (m *Manifest) Marshal() ([]byte, error) {
	signed, err := m.signedBytes()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<manifest>")
	elem(&b, "version", ManifestVersion)
	b.WriteString("<bundler>")
	elem(&b, "name", m.Bundler.Name)
	elem(&b, "version", m.Bundler.Version)
	elem(&b, "release", m.Bundler.Release)
	b.WriteString("</bundler>")
	b.Write(signed)
	elem(&b, "signature", hex.EncodeToString(m.Signature))
	b.WriteString("</manifest>\n")
	return b.Bytes(), nil
}

// encodeSigned is this package's encoding of <machine_configuration> and
// <image>: compact, elements in the AMI tools' order, empty optional
// elements left out, hex in lower case.
func (m *Manifest) encodeSigned() []byte {
	var b bytes.Buffer
	b.WriteString("<machine_configuration>")
	elem(&b, "architecture", m.Architecture)
	if len(m.BlockDeviceMapping) > 0 {
		b.WriteString("<block_device_mapping>")
		for _, mp := range m.BlockDeviceMapping {
			b.WriteString("<mapping>")
			elem(&b, "virtual", mp.Virtual)
			elem(&b, "device", mp.Device)
			b.WriteString("</mapping>")
		}
		b.WriteString("</block_device_mapping>")
	}
	optElem(&b, "kernel_id", m.KernelID)
	optElem(&b, "ramdisk_id", m.RamdiskID)
	if len(m.ProductCodes) > 0 {
		b.WriteString("<product_codes>")
		for _, c := range m.ProductCodes {
			elem(&b, "product_code", c)
		}
		b.WriteString("</product_codes>")
	}
	b.WriteString("</machine_configuration><image>")
	elem(&b, "name", m.Name)
	elem(&b, "user", m.User)
	elem(&b, "type", m.Type)
	optElem(&b, "kernel_name", m.KernelName)
	if len(m.AncestorAMIIDs) > 0 {
		b.WriteString("<ancestry>")
		for _, a := range m.AncestorAMIIDs {
			elem(&b, "ancestor_ami_id", a)
		}
		b.WriteString("</ancestry>")
	}
	fmt.Fprintf(&b, `<digest algorithm="%s">%x</digest>`, DigestAlgorithm, m.Digest)
	fmt.Fprintf(&b, "<size>%d</size><bundled_size>%d</bundled_size>", m.Size, m.BundledSize)
	fmt.Fprintf(&b, `<ec2_encrypted_key algorithm="%s">%x</ec2_encrypted_key>`, CipherAlgorithm, m.EC2EncryptedKey)
	if len(m.UserEncryptedKey) > 0 {
		fmt.Fprintf(&b, `<user_encrypted_key algorithm="%s">%x</user_encrypted_key>`, CipherAlgorithm, m.UserEncryptedKey)
	}
	fmt.Fprintf(&b, "<ec2_encrypted_iv>%x</ec2_encrypted_iv>", m.EC2EncryptedIV)
	if len(m.UserEncryptedIV) > 0 {
		fmt.Fprintf(&b, "<user_encrypted_iv>%x</user_encrypted_iv>", m.UserEncryptedIV)
	}
	fmt.Fprintf(&b, `<parts count="%d">`, len(m.Parts))
	for i, p := range m.Parts {
		fmt.Fprintf(&b, `<part index="%d">`, i)
		elem(&b, "filename", p.Filename)
		fmt.Fprintf(&b, `<digest algorithm="%s">%x</digest></part>`, DigestAlgorithm, p.Digest)
	}
	b.WriteString("</parts></image>")
	return b.Bytes()
}

// elem writes <name>text</name>, the text escaped.
func elem(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(text)) // writes to a bytes.Buffer never fail
	b.WriteString("</" + name + ">")
}

// optElem writes the element unless text is empty.
func optElem(b *bytes.Buffer, name, text string) {
	if text != "" {
		elem(b, name, text)
	}
}

func trim(s string) string { return strings.TrimSpace(s) }

// sha1Hex decodes a SHA-1 digest element, checking its algorithm.
func sha1Hex(v xmlValue, what string) ([]byte, error) {
	if a := trim(v.Algorithm); a != "" && !strings.EqualFold(a, DigestAlgorithm) {
		return nil, malformed("%s algorithm %q, want %s", what, a, DigestAlgorithm)
	}
	d, err := hex.DecodeString(trim(v.Value))
	if err != nil || len(d) != sha1.Size {
		return nil, malformed("%s %q is not a SHA-1 in hex", what, trim(v.Value))
	}
	return d, nil
}

// hexField decodes a hex element; an empty one is an error when required.
func hexField(s, what string, required bool) ([]byte, error) {
	s = trim(s)
	if s == "" {
		if required {
			return nil, malformed("no %s", what)
		}
		return nil, nil
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return nil, malformed("%s is not hex", what)
	}
	return d, nil
}

// nonNegative parses a size element.
func nonNegative(s, what string) (int64, error) {
	n, err := strconv.ParseInt(trim(s), 10, 64)
	if err != nil || n < 0 {
		return 0, malformed("%s %q", what, trim(s))
	}
	return n, nil
}
