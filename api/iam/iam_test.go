package iam

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/rules/param"
)

// fakeRules answers with fixed values, or err when set, and records the
// inputs of the last call.
type fakeRules struct {
	err  error
	last []string
}

var (
	at   = time.Date(2026, 12, 7, 2, 0, 0, 500, time.UTC)
	cert = openami.SigningCertificate{ID: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", AccountID: "111111111111", Body: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", Status: openami.CertificateActive, UploadedAt: at}
)

func (f *fakeRules) UploadSigningCertificate(ctx context.Context, p openami.Principal, userName, body string) (openami.SigningCertificate, string, error) {
	f.last = []string{p.AccountID, userName, body}
	return cert, "alice", f.err
}

func (f *fakeRules) ListSigningCertificates(ctx context.Context, p openami.Principal, userName, marker string, maxItems int) ([]openami.SigningCertificate, string, string, error) {
	f.last = []string{userName, marker, strings.Repeat("x", max(maxItems, 0))}
	if maxItems == -1 {
		f.last[2] = "-1"
	}
	return []openami.SigningCertificate{cert}, "alice", "NEXTID", f.err
}

func (f *fakeRules) UpdateSigningCertificate(ctx context.Context, p openami.Principal, userName, id string, status openami.CertificateStatus) error {
	f.last = []string{userName, id, string(status)}
	return f.err
}

func (f *fakeRules) DeleteSigningCertificate(ctx context.Context, p openami.Principal, userName, id string) error {
	f.last = []string{userName, id}
	return f.err
}

func (f *fakeRules) RootUser(ctx context.Context, p openami.Principal, userName string) (openami.Account, error) {
	f.last = []string{userName}
	return openami.Account{ID: p.AccountID, Name: "alice", CreatedAt: at}, f.err
}

func serve(t *testing.T, h *Handler, params url.Values) (int, string) {
	t.Helper()
	params.Set("Version", "2010-05-08")
	body := params.Encode()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w := httptest.NewRecorder()
	h.Serve(w, r, []byte(body), openami.Principal{AccountID: "111111111111", Region: "us-east-1"}, "req-1")
	return w.Code, w.Body.String()
}

func wantBody(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	body = html.UnescapeString(body)
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("%s: no %q in\n%s", what, p, body)
		}
	}
}

// TestWireShapes: each action's answer, in IAM's elements and namespace.
func TestWireShapes(t *testing.T) {
	f := &fakeRules{}
	h := New(f)
	status, body := serve(t, h, url.Values{"Action": {"UploadSigningCertificate"}, "CertificateBody": {"PEM"}})
	if status != 200 || f.last[2] != "PEM" {
		t.Fatalf("upload: %d %q", status, f.last)
	}
	wantBody(t, "upload", body,
		`<UploadSigningCertificateResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><UploadSigningCertificateResult><Certificate><UserName>alice</UserName><CertificateId>ABCDEFGHIJKLMNOPQRSTUVWXYZ</CertificateId><CertificateBody>-----BEGIN CERTIFICATE-----`+"\n"+`MIIB`+"\n"+`-----END CERTIFICATE-----</CertificateBody><Status>Active</Status><UploadDate>2026-12-07T02:00:00Z</UploadDate></Certificate></UploadSigningCertificateResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></UploadSigningCertificateResponse>`)

	status, body = serve(t, h, url.Values{"Action": {"ListSigningCertificates"}, "UserName": {"alice"}, "Marker": {"M"}, "MaxItems": {"3"}})
	if status != 200 || f.last[0] != "alice" || f.last[1] != "M" || f.last[2] != "xxx" {
		t.Fatalf("list: %d %q", status, f.last)
	}
	wantBody(t, "list", body, `<ListSigningCertificatesResult><UserName>alice</UserName><Certificates><member><UserName>alice</UserName><CertificateId>ABCDEFGHIJKLMNOPQRSTUVWXYZ</CertificateId>`,
		`</member></Certificates><IsTruncated>true</IsTruncated><Marker>NEXTID</Marker></ListSigningCertificatesResult>`)
	serve(t, h, url.Values{"Action": {"ListSigningCertificates"}, "MaxItems": {"0"}})
	if f.last[2] != "-1" {
		t.Errorf("MaxItems=0 reached the rules as the default: %q", f.last)
	}

	status, body = serve(t, h, url.Values{"Action": {"UpdateSigningCertificate"}, "CertificateId": {"ID"}, "Status": {"Inactive"}})
	if status != 200 || f.last[1] != "ID" || f.last[2] != "Inactive" {
		t.Fatalf("update: %d %q", status, f.last)
	}
	wantBody(t, "update", body, `<UpdateSigningCertificateResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></UpdateSigningCertificateResponse>`)
	status, body = serve(t, h, url.Values{"Action": {"DeleteSigningCertificate"}, "CertificateId": {"ID"}, "UserName": {"alice"}})
	if status != 200 || f.last[0] != "alice" || f.last[1] != "ID" {
		t.Fatalf("delete: %d %q", status, f.last)
	}
	wantBody(t, "delete", body, `<DeleteSigningCertificateResponse xmlns=`)

	status, body = serve(t, h, url.Values{"Action": {"GetUser"}})
	if status != 200 {
		t.Fatalf("GetUser: %d", status)
	}
	wantBody(t, "GetUser", body, `<GetUserResult><User><UserId>111111111111</UserId><Arn>arn:aws:iam::111111111111:root</Arn><CreateDate>2026-12-07T02:00:00Z</CreateDate></User></GetUserResult>`)
}

// TestErrors: IAM's codes, statuses and sentences for what the rules
// refuse, in IAM's ErrorResponse.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		err     error
		status  int
		code    string
		message string
	}{
		{openami.Errorf(openami.NotFound, openami.ResourceSigningCertificate, "The Certificate with id X cannot be found."), 404, "NoSuchEntity", "The Certificate with id X cannot be found."},
		{openami.Errorf(openami.NotFound, openami.ResourceAccount, "The user with name bob cannot be found."), 404, "NoSuchEntity", "The user with name bob cannot be found."},
		{openami.Errorf(openami.Malformed, openami.ResourceSigningCertificate, "Unable to parse certificate."), 400, "MalformedCertificate", "Unable to parse certificate."},
		{openami.Errorf(openami.Duplicate, openami.ResourceSigningCertificate, "same"), 409, "DuplicateCertificate", "same"},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceSigningCertificate, "Cannot exceed quota for CertificatesPerUser: 2"), 409, "LimitExceeded", "Cannot exceed quota for CertificatesPerUser: 2"},
		{param.Missing("CertificateBody"), 400, "ValidationError", "1 validation error detected: Value null at 'certificateBody' failed to satisfy constraint: Member must not be null"},
		{param.Breaks("CertificateStatus", "on", "must satisfy enum value set: [Active, Inactive]"), 400, "ValidationError", "1 validation error detected: Value 'on' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"},
		{param.Invalid("Marker", "M", "is not a marker of this listing."), 400, "InvalidInput", "Invalid marker 'M' is not a marker of this listing."},
		{&sigv4.Error{Failure: sigv4.UnknownKey, Message: "bad key"}, 403, "InvalidClientTokenId", "bad key"},
		{errors.New("a disk broke"), 500, "ServiceFailure", "Request processing has failed due to some unknown error, exception or failure."},
	} {
		h := New(&fakeRules{err: tc.err})
		status, body := serve(t, h, url.Values{"Action": {"DeleteSigningCertificate"}, "CertificateId": {"X"}})
		typ := "Sender"
		if status >= 500 {
			typ = "Receiver"
		}
		if status != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, status, tc.status)
		}
		wantBody(t, tc.code, body, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>`+typ+`</Type><Code>`+tc.code+`</Code><Message>`+tc.message+`</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`)
	}
	h := New(&fakeRules{})
	status, body := serve(t, h, url.Values{"Action": {"CreateUser"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidAction</Code>") {
		t.Errorf("an unknown action: %d %s", status, body)
	}
	status, body = serve(t, h, url.Values{"Action": {"GetUser"}, "Bogus": {"1"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidInput</Code>") {
		t.Errorf("an unknown parameter: %d %s", status, body)
	}
}
