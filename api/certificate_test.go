package api

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestEC2CertificateRoute: GET /cert-ec2.pem serves the region's EC2
// certificate to anyone, the same each time; an unserved region is a 404.
func TestEC2CertificateRoute(t *testing.T) {
	ts := startServer(t, Limits{})
	get := func(query string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+ts.addr+"/cert-ec2.pem"+query, nil)
		return do(t, req)
	}
	status, body := get("?region=us-east-1")
	block, _ := pem.Decode([]byte(body))
	if status != 200 || block == nil {
		t.Fatalf("GET /cert-ec2.pem: %d %q", status, body)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != "ec2-us-east-1.openami" {
		t.Fatalf("the certificate: %v, %v", err, cert)
	}
	if status, again := get(""); status != 200 || again != body {
		t.Errorf("without region: %d, same certificate: %v", status, again == body)
	}
	if status, _ := get("?region=mars-1"); status != http.StatusNotFound {
		t.Errorf("an unserved region: %d", status)
	}
}

// TestIAMScope: IAM requests are signed for service iam, in a served
// region or in us-east-1 (AWS's clients' scope of the global IAM).
func TestIAMScope(t *testing.T) {
	ts := startServer(t, Limits{})
	send := func(region string) (int, string) {
		body := "Action=ListSigningCertificates&Version=2010-05-08"
		req, _ := http.NewRequest("POST", "http://"+ts.addr+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ts.admin.AccessKeyID, SecretAccessKey: ts.admin.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), "iam", region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	status, body := send("us-east-1")
	if status != 200 || !strings.Contains(body, "<ListSigningCertificatesResult><UserName>admin</UserName><Certificates></Certificates><IsTruncated>false</IsTruncated>") {
		t.Fatalf("ListSigningCertificates: %d %s", status, body)
	}
	if status, body := send("mars-1"); status != http.StatusForbidden || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("an unserved region other than us-east-1: %d %s", status, body)
	}
}
