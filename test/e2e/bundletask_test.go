package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// writeBundleIdentity writes an RSA key and a self-signed certificate
// for it into dir as NAME-key.pem and NAME-cert.pem.
func writeBundleIdentity(t *testing.T, dir, name string) (keyPath, certPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath = filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, name+"-cert.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyPath, certPath
}

// runOpenami runs the openami binary with env (nil: the test's own) and
// returns its output, failing the test if it fails.
func runOpenami(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openami %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBundleUploadDownload: a bundle made by `openami bundle image`
// goes up with `openami bundle upload` (making the bucket, parts with
// aws-exec-read, the manifest last), is listed by the aws CLI, uploads
// again sending only a missing part, comes back with `openami bundle
// download` and unbundles to the image's bytes.
func TestBundleUploadDownload(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "bundler")
	ctx := context.Background()
	dir := t.TempDir()
	userKey, userCert := writeBundleIdentity(t, dir, "user")
	_, ec2Cert := writeBundleIdentity(t, dir, "ec2")
	img := make([]byte, 3<<20)
	rand.Read(img[:2<<20])
	imgPath := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(imgPath, img, 0o600); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(dir, "bundle")
	os.Mkdir(bdir, 0o700)
	runOpenami(t, nil, "bundle", "image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "123456789012",
		"--ec2cert", ec2Cert, "-d", bdir, "-p", "web", "--part-size", "1000000")

	// With flags, as the AMI tools take them.
	env := append(netCLIEnv(t, c), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	keys := []string{"--endpoint", s.URL, "-a", c.AccessKeyID, "-s", c.SecretAccessKey, "--region", "us-east-1"}
	out := runOpenami(t, env, append([]string{"bundle", "upload", "-b", "bundles/v1", "-m", filepath.Join(bdir, "web.manifest.xml")}, keys...)...)
	if !strings.Contains(out, "Uploaded manifest to s3://bundles/v1/web.manifest.xml") {
		t.Fatalf("upload said:\n%s", out)
	}
	ls := mustCLI(t, s, c, dir, "s3", "ls", "s3://bundles/v1/")
	for _, name := range []string{"web.part.0", "web.manifest.xml"} {
		if !strings.Contains(ls, name) {
			t.Errorf("aws s3 ls lacks %s:\n%s", name, ls)
		}
	}
	acl := mustCLI(t, s, c, dir, "s3api", "get-object-acl", "--bucket", "bundles", "--key", "v1/web.part.00")
	if !strings.Contains(acl, "za-team@amazon.com") && !strings.Contains(acl, "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c") {
		t.Errorf("part 00's ACL grants EC2 nothing (aws-exec-read): %s", acl)
	}

	// Resumed: a part gone is sent again, the others are skipped.
	client := s3.NewFromConfig(s.awsConfig(c, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bundles"), Key: aws.String("v1/web.part.01")}); err != nil {
		t.Fatal(err)
	}
	out = runOpenami(t, env, append([]string{"bundle", "upload", "-b", "bundles", "--prefix", "v1", "-m", filepath.Join(bdir, "web.manifest.xml")}, keys...)...)
	if !strings.Contains(out, "Uploaded v1/web.part.01") || !strings.Contains(out, "Skipped v1/web.part.00") {
		t.Errorf("second upload said:\n%s", out)
	}

	// Down again with the data dir's files, as `openami serve` writes
	// them: no flag, no AWS_* variable.
	dataDir := t.TempDir()
	os.WriteFile(filepath.Join(dataDir, "credentials"), fmt.Appendf(nil, "[openami]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey), 0o600)
	os.WriteFile(filepath.Join(dataDir, "config"), fmt.Appendf(nil, "[profile openami]\nregion = us-east-1\nendpoint_url = %s\n", s.URL), 0o600)
	var plain []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			plain = append(plain, kv)
		}
	}
	plain = append(plain, "HOME="+t.TempDir())
	ddir := filepath.Join(dir, "down")
	runOpenami(t, plain, "--data-dir", dataDir, "bundle", "download", "-b", "bundles", "-m", "v1/web.manifest.xml", "-d", ddir)
	odir := filepath.Join(dir, "out")
	os.Mkdir(odir, 0o700)
	runOpenami(t, nil, "bundle", "unbundle", "-m", filepath.Join(ddir, "web.manifest.xml"), "-k", userKey, "-c", userCert, "-d", odir)
	got, err := os.ReadFile(filepath.Join(odir, "web"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Errorf("unbundled %d bytes, not the image's %d", len(got), len(img))
	}
}
