package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests check the format against tools that are not ours: openssl
// and GNU tar (always), and the Amazon EC2 AMI tools themselves when
// OPENAMI_EC2_AMI_TOOLS names their home (the folder with bin/ and lib/;
// they need ruby). docs/BUNDLES.md says how to get them.

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

func run(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stderr.Bytes(), out)
	}
	return out
}

func sh(t *testing.T, dir, script string) []byte {
	t.Helper()
	return run(t, dir, "bash", "-o", "pipefail", "-c", script)
}

// TestOpenSSLReadsBundle: `openssl enc -d -aes-128-cbc -K … -iv …` of the
// concatenated parts is a gzip whose tar holds the image and nothing else;
// the tar stream's SHA-1 is the manifest's digest; openssl decrypts the
// key and IV (PKCS#1 v1.5, their hex text) and verifies the signature
// (RSA-SHA1 over the two elements' text, cut out as the AMI tools do).
func TestOpenSSLReadsBundle(t *testing.T) {
	need(t, "openssl", "tar", "gzip")
	user, _, _ := testIDs(t)
	dir := t.TempDir()
	userKey, userCert := user.writePEM(t, dir, "user")
	img := randomImage(700_000)
	m, err := Create(context.Background(), bytes.NewReader(img), int64(len(img)), options(t, "disk.img", 100_000), Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPartSizes(m, Dir(dir).Size); err != nil {
		t.Fatalf("CheckPartSizes: %v", err)
	}
	var names []string
	for _, p := range m.Parts {
		names = append(names, p.Filename)
	}
	key, iv, err := m.UserKey(Decrypter(user.key))
	if err != nil {
		t.Fatal(err)
	}
	stream := sh(t, dir, fmt.Sprintf("cat %s | openssl enc -d -aes-128-cbc -K %x -iv %x | gzip -dc",
		strings.Join(names, " "), key, iv))
	if sum := sha1.Sum(stream); !bytes.Equal(sum[:], m.Digest) {
		t.Errorf("SHA-1 of the tar stream %x, manifest %x", sum, m.Digest)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream.tar"), stream, 0o644); err != nil {
		t.Fatal(err)
	}
	if list := strings.TrimSpace(string(run(t, dir, "tar", "-tf", "stream.tar"))); list != "disk.img" {
		t.Errorf("tar lists %q, want just disk.img", list)
	}
	if out := run(t, dir, "tar", "-xOf", "stream.tar"); !bytes.Equal(out, img) {
		t.Errorf("tar extracts %d bytes that are not the image", len(out))
	}

	// The key and IV: openssl decrypts them to their hex text.
	for what, c := range map[string][]byte{"key": m.UserEncryptedKey, "iv": m.UserEncryptedIV} {
		os.WriteFile(filepath.Join(dir, what+".enc"), c, 0o644)
		got := run(t, dir, "openssl", "pkeyutl", "-decrypt", "-inkey", userKey, "-in", what+".enc")
		want := map[string][]byte{"key": key, "iv": iv}[what]
		if string(got) != hex.EncodeToString(want) {
			t.Errorf("openssl decrypts the %s to %q, want %x", what, got, want)
		}
	}

	// The signature, over the text as the AMI tools cut it out.
	raw, _ := m.Marshal()
	text := string(raw)
	cut := func(name string) string {
		i, j := strings.Index(text, "<"+name+">"), strings.Index(text, "</"+name+">")
		return text[i : j+len(name)+3]
	}
	os.WriteFile(filepath.Join(dir, "signed"), []byte(cut("machine_configuration")+cut("image")), 0o644)
	os.WriteFile(filepath.Join(dir, "sig"), m.Signature, 0o644)
	run(t, dir, "openssl", "x509", "-in", userCert, "-pubkey", "-noout", "-out", "pub.pem")
	run(t, dir, "openssl", "dgst", "-sha1", "-verify", "pub.pem", "-signature", "sig", "signed")
}

// TestUnbundleShellPipeline reads a bundle made the AMI tools' way, step
// by step with the same programs (bundle.rb: `tar -c -h -S --owner 0
// --group 0 | tee >(openssl sha1) | gzip | openssl enc -e -aes-128-cbc -K
// HEX -iv HEX`, split, then openssl for the keys and the signature), of a
// sparse image (GNU tar writes it as a sparse entry), with a manifest in
// REXML's form (single-quoted attributes, no whitespace).
func TestUnbundleShellPipeline(t *testing.T) {
	need(t, "openssl", "tar", "gzip", "split")
	user, ec2, _ := testIDs(t)
	dir := t.TempDir()
	userKey, userCert := user.writePEM(t, dir, "user")
	_, ec2Cert := ec2.writePEM(t, dir, "ec2")
	img := make([]byte, 3<<20)
	copy(img[1<<20:], randomImage(300_000)) // holes before and after
	if err := os.WriteFile(filepath.Join(dir, "img"), img[:2<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "img"), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	kb := make([]byte, 32)
	rand.Read(kb)
	keyHex, ivHex := hex.EncodeToString(kb[:16]), hex.EncodeToString(kb[16:])
	sh(t, dir, "tar -c -h -S --owner 0 --group 0 -f stream.tar img")
	stream, _ := os.ReadFile(filepath.Join(dir, "stream.tar"))
	digest := sha1.Sum(stream)
	sh(t, dir, fmt.Sprintf("gzip -c stream.tar | openssl enc -e -aes-128-cbc -K %s -iv %s | split -b 50000 -d -a 1 - img.part.", keyHex, ivHex))

	var parts strings.Builder
	var bundled int64
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("img.part.%d", i)))
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&parts, "</parts>")
			t.Logf("%d parts", i)
			break
		}
		bundled += int64(len(b))
		fmt.Fprintf(&parts, "<part index='%d'><filename>img.part.%d</filename><digest algorithm='SHA1'>%x</digest></part>", i, i, sha1.Sum(b))
	}
	count := strings.Count(parts.String(), "<part ")
	seal := func(cert, text string) string {
		os.WriteFile(filepath.Join(dir, "plain"), []byte(text), 0o644)
		return hex.EncodeToString(run(t, dir, "openssl", "pkeyutl", "-encrypt", "-certin", "-inkey", cert, "-in", "plain"))
	}
	signed := "<machine_configuration><architecture>x86_64</architecture><block_device_mapping><mapping><virtual>ami</virtual><device>sda1</device></mapping><mapping><virtual>root</virtual><device>/dev/sda1</device></mapping></block_device_mapping></machine_configuration>" +
		fmt.Sprintf("<image><name>img</name><user>123456789012</user><type>machine</type><digest algorithm='SHA1'>%x</digest><size>%d</size><bundled_size>%d</bundled_size>", digest, len(img), bundled) +
		fmt.Sprintf("<ec2_encrypted_key algorithm='AES-128-CBC'>%s</ec2_encrypted_key><user_encrypted_key algorithm='AES-128-CBC'>%s</user_encrypted_key>", seal(ec2Cert, keyHex), seal(userCert, keyHex)) +
		fmt.Sprintf("<ec2_encrypted_iv>%s</ec2_encrypted_iv><user_encrypted_iv>%s</user_encrypted_iv>", seal(ec2Cert, ivHex), seal(userCert, ivHex)) +
		fmt.Sprintf("<parts count='%d'>%s</image>", count, parts.String())
	os.WriteFile(filepath.Join(dir, "signed"), []byte(signed), 0o644)
	sig := run(t, dir, "openssl", "dgst", "-sha1", "-sign", userKey, "signed")
	manifest := "<?xml version='1.0'?><manifest><version>2007-10-10</version><bundler><name>ec2-ami-tools</name><version>1.4</version><release>0.7</release></bundler>" +
		signed + fmt.Sprintf("<signature>%x</signature></manifest>", sig)

	m, err := ParseManifest(strings.NewReader(manifest))
	if err != nil {
		t.Fatalf("ParseManifest: %v\n%s", err, manifest)
	}
	if err := m.Verify(user.cert); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for name, dec := range map[string]func(func([]byte) ([]byte, error)) ([]byte, []byte, error){"ec2": m.EC2Key, "user": m.UserKey} {
		id := map[string]identity{"ec2": ec2, "user": user}[name]
		key, iv, err := dec(Decrypter(id.key))
		if err != nil {
			t.Fatalf("%s key: %v", name, err)
		}
		var out bytes.Buffer
		if err := Unbundle(context.Background(), m, key, iv, Dir(dir).Open, &out); err != nil {
			t.Fatalf("Unbundle with the %s key: %v", name, err)
		}
		if !bytes.Equal(out.Bytes(), img) {
			t.Fatalf("Unbundle with the %s key: %d bytes that are not the image", name, out.Len())
		}
	}
}

// TestAMITools bundles with ec2-bundle-image and unbundles with openami,
// and the other way round with ec2-unbundle.
func TestAMITools(t *testing.T) {
	home := os.Getenv("OPENAMI_EC2_AMI_TOOLS")
	if home == "" {
		t.Skip("OPENAMI_EC2_AMI_TOOLS is not set to the EC2 AMI tools' home (see docs/BUNDLES.md)")
	}
	need(t, "ruby", "openssl", "tar", "gzip")
	user, ec2, _ := testIDs(t)
	dir := t.TempDir()
	userKey, userCert := user.writePEM(t, dir, "user")
	_, ec2Cert := ec2.writePEM(t, dir, "ec2")
	img := make([]byte, 12<<20) // more than a part, with a hole
	copy(img, randomImage(11<<20))
	os.WriteFile(filepath.Join(dir, "disk.img"), img, 0o644)
	for _, d := range []string{"theirs", "ours", "out"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	tool := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(home, "bin", name), args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "EC2_AMITOOL_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}

	tool("ec2-bundle-image", "-i", "disk.img", "-c", userCert, "-k", userKey, "-u", "123456789012",
		"--ec2cert", ec2Cert, "-d", "theirs", "-r", "x86_64", "--batch", "-B", "ami=sda1,root=/dev/sda1")
	f, err := os.Open(filepath.Join(dir, "theirs", "disk.img.manifest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(user.cert); err != nil {
		t.Fatalf("Verify of ec2-bundle-image's manifest: %v", err)
	}
	key, iv, err := m.EC2Key(Decrypter(ec2.key))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Unbundle(context.Background(), m, key, iv, Dir(filepath.Join(dir, "theirs")).Open, &out); err != nil {
		t.Fatalf("Unbundle of ec2-bundle-image's bundle: %v", err)
	}
	if !bytes.Equal(out.Bytes(), img) {
		t.Fatal("ec2-bundle-image's bundle unbundles to something else")
	}

	ours, err := Create(context.Background(), bytes.NewReader(img), int64(len(img)), options(t, "disk.img", 0), Dir(filepath.Join(dir, "ours")))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := ours.Marshal()
	os.WriteFile(filepath.Join(dir, "ours", "disk.img.manifest.xml"), raw, 0o644)
	tool("ec2-unbundle", "-m", filepath.Join("ours", "disk.img.manifest.xml"), "-k", userKey, "-s", "ours", "-d", "out")
	got, err := os.ReadFile(filepath.Join(dir, "out", "disk.img"))
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("ec2-unbundle of our bundle: %d bytes, %v", len(got), err)
	}
}
