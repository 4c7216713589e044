package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
)

// testCertificate returns a self-signed PEM certificate over a new key
// (RSA 2048, or ECDSA P-256 when rsaKey is false), and its key.
func testCertificate(t testing.TB, rsaKey bool) (string, any) {
	t.Helper()
	var (
		pub, priv any
	)
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "user"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), priv
}

func wantClass(t *testing.T, what string, err error, class openami.Class, resource openami.ResourceType) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Resource != resource {
		t.Fatalf("%s: got %v, want %v on %q", what, err, class, resource)
	}
}

func wantField(t *testing.T, what string, err error, class openami.Class, field string) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Field != field {
		t.Fatalf("%s: got %#v, want %v of field %s", what, err, class, field)
	}
}

func (f *fixture) certIDs(t *testing.T) []string {
	t.Helper()
	certs, _, _, err := f.accounts.ListSigningCertificates(context.Background(), f.p, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range certs {
		ids = append(ids, c.ID+":"+string(c.Status))
	}
	return ids
}

// TestSigningCertificates: upload, list, update and delete, with the
// account's name as the user name and an absent one alike.
func TestSigningCertificates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	body, _ := testCertificate(t, true)
	c, user, err := f.accounts.UploadSigningCertificate(ctx, f.p, "", "\n"+body+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if user != "test" || c.Status != openami.CertificateActive || c.Body != strings.TrimSpace(body) || len(c.ID) < 24 || len(c.ID) > 32 || strings.ToUpper(c.ID) != c.ID {
		t.Errorf("UploadSigningCertificate = %+v, user %q", c, user)
	}
	body2, _ := testCertificate(t, true)
	c2, _, err := f.accounts.UploadSigningCertificate(ctx, f.p, "test", body2)
	if err != nil {
		t.Fatal(err)
	}
	certs, user, next, err := f.accounts.ListSigningCertificates(ctx, f.p, "test", "", 1)
	if err != nil || user != "test" || len(certs) != 1 || certs[0].ID != c.ID || next != c2.ID {
		t.Fatalf("first page: %v %q %q %v", certs, user, next, err)
	}
	certs, _, next, err = f.accounts.ListSigningCertificates(ctx, f.p, "", next, 1)
	if err != nil || len(certs) != 1 || certs[0].ID != c2.ID || next != "" {
		t.Fatalf("second page: %v %q %v", certs, next, err)
	}

	if err := f.accounts.UpdateSigningCertificate(ctx, f.p, "", c.ID, openami.CertificateInactive); err != nil {
		t.Fatal(err)
	}
	if got := f.certIDs(t); len(got) != 2 || got[0] != c.ID+":Inactive" || got[1] != c2.ID+":Active" {
		t.Errorf("after UpdateSigningCertificate: %q", got)
	}
	if err := f.accounts.DeleteSigningCertificate(ctx, f.p, "test", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.certIDs(t); len(got) != 1 || got[0] != c2.ID+":Active" {
		t.Errorf("after DeleteSigningCertificate: %q", got)
	}
	u, err := f.accounts.RootUser(ctx, f.p, "")
	if err != nil || u.ID != f.p.AccountID || u.Name != "test" {
		t.Errorf("RootUser = %+v, %v", u, err)
	}
	_, err = f.accounts.RootUser(ctx, f.p, "bob")
	wantClass(t, "RootUser of another user", err, openami.NotFound, openami.ResourceAccount)
}

// TestSigningCertificateRefusals: each refusal, and nothing changed after
// it.
func TestSigningCertificateRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	body, _ := testCertificate(t, true)
	c, _, err := f.accounts.UploadSigningCertificate(ctx, f.p, "", body)
	if err != nil {
		t.Fatal(err)
	}
	before := f.certIDs(t)
	ecBody, _ := testCertificate(t, false)
	other, _, err := f.accounts.CreateAccount(ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	otherP := openami.Principal{AccountID: other.ID, Region: "us-east-1"}

	upload := func(user, body string) error {
		_, _, err := f.accounts.UploadSigningCertificate(ctx, f.p, user, body)
		return err
	}
	wantField(t, "no body", upload("", ""), openami.MissingParameter, "CertificateBody")
	wantField(t, "a body too long", upload("", strings.Repeat("x", 16385)), openami.InvalidParameter, "CertificateBody")
	wantClass(t, "not PEM", upload("", "hello"), openami.Malformed, openami.ResourceSigningCertificate)
	wantClass(t, "PEM of no certificate", upload("", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), openami.Malformed, openami.ResourceSigningCertificate)
	wantClass(t, "a private key", upload("", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), openami.Malformed, openami.ResourceSigningCertificate)
	wantClass(t, "two certificates", upload("", body+body), openami.Malformed, openami.ResourceSigningCertificate)
	wantClass(t, "an ECDSA key", upload("", ecBody), openami.Malformed, openami.ResourceSigningCertificate)
	wantClass(t, "the same certificate", upload("", body), openami.Duplicate, openami.ResourceSigningCertificate)
	wantClass(t, "another user", upload("bob", body), openami.NotFound, openami.ResourceAccount)
	wantField(t, "a user name of the wrong form", upload("a b", body), openami.InvalidParameter, "UserName")
	if got := f.certIDs(t); len(got) != len(before) || got[0] != before[0] {
		t.Fatalf("after refused uploads: %q, want %q", got, before)
	}

	// The same certificate in another account is that account's own.
	if _, _, err := f.accounts.UploadSigningCertificate(ctx, otherP, "", body); err != nil {
		t.Fatalf("the same certificate in another account: %v", err)
	}
	// Two per account.
	b2, _ := testCertificate(t, true)
	b3, _ := testCertificate(t, true)
	if err := upload("", b2); err != nil {
		t.Fatal(err)
	}
	before = f.certIDs(t)
	wantClass(t, "a third certificate", upload("", b3), openami.LimitExceeded, openami.ResourceSigningCertificate)

	// Another account's certificate, an unknown one, or ids of the
	// wrong form; bad statuses.
	wantClass(t, "update another's", f.accounts.UpdateSigningCertificate(ctx, otherP, "", c.ID, openami.CertificateInactive), openami.NotFound, openami.ResourceSigningCertificate)
	wantClass(t, "delete another's", f.accounts.DeleteSigningCertificate(ctx, otherP, "", c.ID), openami.NotFound, openami.ResourceSigningCertificate)
	wantClass(t, "delete as another user", f.accounts.DeleteSigningCertificate(ctx, f.p, "other", c.ID), openami.NotFound, openami.ResourceAccount)
	wantClass(t, "delete an unknown id", f.accounts.DeleteSigningCertificate(ctx, f.p, "", strings.Repeat("A", 26)), openami.NotFound, openami.ResourceSigningCertificate)
	wantField(t, "no id", f.accounts.DeleteSigningCertificate(ctx, f.p, "", ""), openami.MissingParameter, "CertificateId")
	wantField(t, "a short id", f.accounts.DeleteSigningCertificate(ctx, f.p, "", "ABC"), openami.InvalidParameter, "CertificateId")
	wantField(t, "an id of the wrong form", f.accounts.UpdateSigningCertificate(ctx, f.p, "", strings.Repeat("-", 26), openami.CertificateActive), openami.InvalidParameter, "CertificateId")
	wantField(t, "no status", f.accounts.UpdateSigningCertificate(ctx, f.p, "", c.ID, ""), openami.MissingParameter, "CertificateStatus")
	wantField(t, "a bad status", f.accounts.UpdateSigningCertificate(ctx, f.p, "", c.ID, "active"), openami.InvalidParameter, "CertificateStatus")
	_, _, _, err = f.accounts.ListSigningCertificates(ctx, f.p, "", "", 1001)
	wantField(t, "MaxItems 1001", err, openami.InvalidParameter, "MaxItems")
	_, _, _, err = f.accounts.ListSigningCertificates(ctx, f.p, "", "NOSUCHMARKER", 0)
	wantField(t, "an unknown marker", err, openami.InvalidParameter, "Marker")
	_, _, _, err = f.accounts.ListSigningCertificates(ctx, f.p, "bob", "", 0)
	wantClass(t, "list another user's", err, openami.NotFound, openami.ResourceAccount)
	if got := f.certIDs(t); len(got) != 2 || got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("after refusals: %q, want %q", got, before)
	}
}
