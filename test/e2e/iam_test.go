package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// userCertificate makes an RSA key and a self-signed certificate with
// openssl, as a user bundling images would, and returns the
// certificate's path.
func userCertificate(t *testing.T, dir, name string) string {
	t.Helper()
	cert := filepath.Join(dir, name+".pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(dir, name+"-key.pem"),
		"-out", cert, "-subj", "/CN="+name, "-days", "365").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return cert
}

// TestIAMSigningCertificatesCLI: the aws CLI registers, lists, updates and
// deletes a signing certificate of the account (IAM's actions, signed for
// iam in us-east-1), and gets IAM's errors for what is refused.
func TestIAMSigningCertificatesCLI(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "carol")
	dir := t.TempDir()
	cert := userCertificate(t, dir, "carol")

	up := runCLI(t, s, c, "iam", "upload-signing-certificate", "--certificate-body", "file://"+cert)
	got := up["Certificate"].(map[string]any)
	id, _ := got["CertificateId"].(string)
	body, _ := os.ReadFile(cert)
	if got["UserName"] != "carol" || got["Status"] != "Active" || len(id) < 24 || got["CertificateBody"] != strings.TrimSpace(string(body)) {
		t.Fatalf("upload-signing-certificate: %v", up)
	}
	_, err := runCLIErr(t, s, c, "iam", "upload-signing-certificate", "--certificate-body", "file://"+cert)
	wantCLICode(t, err, "DuplicateCertificate")
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a certificate"), 0o644)
	_, err = runCLIErr(t, s, c, "iam", "upload-signing-certificate", "--certificate-body", "file://"+filepath.Join(dir, "bad.pem"))
	wantCLICode(t, err, "MalformedCertificate")
	runCLI(t, s, c, "iam", "upload-signing-certificate", "--user-name", "carol", "--certificate-body", "file://"+userCertificate(t, dir, "second"))
	_, err = runCLIErr(t, s, c, "iam", "upload-signing-certificate", "--certificate-body", "file://"+userCertificate(t, dir, "third"))
	wantCLICode(t, err, "LimitExceeded")
	_, err = runCLIErr(t, s, c, "iam", "list-signing-certificates", "--user-name", "bob")
	wantCLICode(t, err, "NoSuchEntity")

	runCLI(t, s, c, "iam", "update-signing-certificate", "--certificate-id", id, "--status", "Inactive")
	list := runCLI(t, s, c, "iam", "list-signing-certificates")
	certs := list["Certificates"].([]any)
	if len(certs) != 2 || certs[0].(map[string]any)["CertificateId"] != id || certs[0].(map[string]any)["Status"] != "Inactive" {
		t.Fatalf("list-signing-certificates: %v", list)
	}
	_, err = runCLIErr(t, s, c, "iam", "update-signing-certificate", "--certificate-id", id, "--status", "Off")
	if err == nil {
		t.Fatal("update-signing-certificate --status Off succeeded")
	}
	runCLI(t, s, c, "iam", "delete-signing-certificate", "--certificate-id", id)
	_, err = runCLIErr(t, s, c, "iam", "delete-signing-certificate", "--certificate-id", id)
	wantCLICode(t, err, "NoSuchEntity")
	if n := len(runCLI(t, s, c, "iam", "list-signing-certificates")["Certificates"].([]any)); n != 1 {
		t.Fatalf("%d certificates after delete", n)
	}
	user := runCLI(t, s, c, "iam", "get-user")["User"].(map[string]any)
	if !strings.HasSuffix(user["Arn"].(string), ":root") || len(user["UserId"].(string)) != 12 {
		t.Fatalf("get-user: %v", user)
	}
}

// TestIAMSigningCertificatesBoto3: the same through boto3.
func TestIAMSigningCertificatesBoto3(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "dora")
	cert := userCertificate(t, t.TempDir(), "dora")
	script := `
import json, os, sys, boto3, botocore
i = boto3.client("iam", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
out = {}
body = open(os.environ["CERT"]).read()
c = i.upload_signing_certificate(CertificateBody=body)["Certificate"]
out["status"] = c["Status"]
out["user"] = c["UserName"]
try:
    i.upload_signing_certificate(CertificateBody=body)
except botocore.exceptions.ClientError as err:
    out["dup"] = err.response["Error"]["Code"]
i.update_signing_certificate(CertificateId=c["CertificateId"], Status="Inactive")
out["listed"] = [(x["CertificateId"] == c["CertificateId"], x["Status"]) for x in i.list_signing_certificates()["Certificates"]]
i.delete_signing_certificate(UserName="dora", CertificateId=c["CertificateId"])
try:
    i.delete_signing_certificate(CertificateId=c["CertificateId"])
except botocore.exceptions.ClientError as err:
    out["gone"] = err.response["Error"]["Code"]
out["after"] = len(i.list_signing_certificates()["Certificates"])
json.dump(out, sys.stdout)
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(netCLIEnv(t, c), "ENDPOINT="+s.URL, "CERT="+cert)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	var out struct {
		Status, User, Dup, Gone string
		Listed                  [][]any
		After                   int
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
	if out.Status != "Active" || out.User != "dora" || out.Dup != "DuplicateCertificate" || out.Gone != "NoSuchEntity" || out.After != 0 ||
		len(out.Listed) != 1 || out.Listed[0][0] != true || out.Listed[0][1] != "Inactive" {
		t.Fatalf("boto3 saw %+v", out)
	}
}

// TestEC2CertificateFetched: a region's cert-ec2.pem, fetched from the
// endpoint without credentials, is a certificate that what openssl
// encrypts to it (PKCS#1 v1.5, as the AMI tools encrypt a bundle's key
// and IV) decrypts under, through rules/identity's EC2Decrypt.
func TestEC2CertificateFetched(t *testing.T) {
	s := start(t, "sqlite")
	resp, err := http.Get(s.URL + "/cert-ec2.pem?region=us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cert-ec2.pem: %d %s", resp.StatusCode, pemBytes)
	}
	dir := t.TempDir()
	certPath := filepath.Join(dir, "cert-ec2.pem")
	os.WriteFile(certPath, pemBytes, 0o644)
	subject, err := exec.Command("openssl", "x509", "-in", certPath, "-noout", "-subject").CombinedOutput()
	if err != nil || !strings.Contains(string(subject), "ec2-us-west-2.openami") {
		t.Fatalf("openssl x509: %v %s", err, subject)
	}
	const secret = "0123456789abcdef0123456789abcdef"
	enc := exec.Command("openssl", "pkeyutl", "-encrypt", "-certin", "-inkey", certPath, "-pkeyopt", "rsa_padding_mode:pkcs1")
	enc.Stdin = strings.NewReader(secret)
	ct, err := enc.Output()
	if err != nil {
		t.Fatalf("openssl pkeyutl: %v", err)
	}
	plain, err := s.svc.Identity().EC2Decrypt(context.Background(), "us-west-2", ct)
	if err != nil || string(plain) != secret {
		t.Fatalf("EC2Decrypt = %q, %v", plain, err)
	}
}

// TestEC2CertificateCommand: `openami region cert` prints what the running
// server serves at /cert-ec2.pem, and IAM signed for us-east-1 works on a
// server that serves only us-west-2 (IAM is global).
func TestEC2CertificateCommand(t *testing.T) {
	dataDir := t.TempDir()
	endpoint, _ := serveBinary(t, "--data-dir", dataDir, "--regions", "us-west-2")
	out, err := exec.Command(binary(t), "region", "cert", "us-west-2", "--data-dir", dataDir, "--regions", "us-west-2").Output()
	if err != nil {
		t.Fatalf("openami region cert: %v", err)
	}
	resp, err := http.Get(endpoint + "/cert-ec2.pem?region=us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(served) != string(out) || !strings.HasPrefix(string(out), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("the command printed %q, the server served %d %q", out, resp.StatusCode, served)
	}
	if err := exec.Command(binary(t), "region", "cert", "us-east-1", "--data-dir", dataDir, "--regions", "us-west-2").Run(); err == nil {
		t.Error("openami region cert of an unserved region succeeded")
	}
	admin := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: endpoint}
	user := runCLI(t, s, admin, "iam", "get-user")["User"].(map[string]any)
	if user["UserId"] != strings.Split(user["Arn"].(string), ":")[4] {
		t.Fatalf("get-user: %v", user)
	}
}
