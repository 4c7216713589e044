package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"regexp"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// Signing certificates, the way IAM registers them (UploadSigningCertificate
// and its siblings): an account registers the X.509 certificate whose key
// signs its bundles' manifests, and RegisterImage verifies a manifest
// against the account's active certificates (ManifestSigners).
//
// openami has accounts, not IAM users: every certificate belongs to the
// account's root user. IAM takes an optional UserName; here it may be
// absent (the caller's own account, as IAM does for the root user's
// credentials) or the account's own name, which is the user name the
// answers report. Any other name is NotFound ("The user with name … cannot
// be found."), as IAM answers for a user the account does not have.

// MaxSigningCertificates is how many signing certificates an account may
// hold, as IAM allows a user (its quota CertificatesPerUser).
const MaxSigningCertificates = 2

// maxCertificateBody is the longest certificate body IAM takes.
const maxCertificateBody = 16384

// certificateID is the form IAM takes for a certificate id; userName
// the form of a user name.
var (
	certificateID   = regexp.MustCompile(`^\w+$`)
	userNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
)

// newCertificateID returns a random certificate id of IAM's form (24 to
// 32 uppercase letters and digits): crypto/rand's Text, 26 characters of
// [A-Z2-7], 130 bits.
func newCertificateID() string { return rand.Text() }

// certificateUser returns the account the caller's UserName names, with
// the user name the answers report (the account's name). userName must be
// empty or the account's name.
func (s *Accounts) certificateUser(tx metadata.Tx, p openami.Principal, userName string) (openami.Account, error) {
	if userName != "" && !userNamePattern.MatchString(userName) {
		return openami.Account{}, param.Breaks("UserName", userName, `must satisfy regular expression pattern: [\w+=,.@-]+`)
	}
	acct, err := tx.Accounts().Get(p.AccountID)
	if err != nil {
		return openami.Account{}, err
	}
	if userName != "" && userName != acct.Name {
		return openami.Account{}, openami.Errorf(openami.NotFound, openami.ResourceAccount, "The user with name %s cannot be found.", userName)
	}
	return acct, nil
}

// ParseSigningCertificate parses a PEM X.509 certificate with an RSA
// public key, as UploadSigningCertificate takes one, and returns it with
// its fingerprint (hex SHA-256 of its DER). Malformed (about
// openami.ResourceSigningCertificate) otherwise.
func ParseSigningCertificate(body string) (*x509.Certificate, string, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(body)))
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, "", openami.Errorf(openami.Malformed, openami.ResourceSigningCertificate, "Unable to parse certificate. Please ensure the certificate is in PEM format.")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", openami.Errorf(openami.Malformed, openami.ResourceSigningCertificate, "Unable to parse certificate. Please ensure the certificate is in PEM format.")
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, "", openami.Errorf(openami.Malformed, openami.ResourceSigningCertificate, "The certificate's public key is not RSA: bundles are signed with RSA keys.")
	}
	sum := sha256.Sum256(cert.Raw)
	return cert, hex.EncodeToString(sum[:]), nil
}

// UploadSigningCertificate registers a signing certificate (PEM X.509, RSA
// key) with the caller's account, active, and returns it with the user
// name it is listed under. Malformed for a body that is not such a
// certificate, Duplicate for a certificate the account already holds,
// LimitExceeded beyond MaxSigningCertificates.
func (s *Accounts) UploadSigningCertificate(ctx context.Context, p openami.Principal, userName, body string) (openami.SigningCertificate, string, error) {
	switch {
	case body == "":
		return openami.SigningCertificate{}, "", param.Missing("CertificateBody")
	case len(body) > maxCertificateBody:
		return openami.SigningCertificate{}, "", param.Breaks("CertificateBody", "", "must have length less than or equal to %d", maxCertificateBody)
	}
	_, fingerprint, err := ParseSigningCertificate(body)
	if err != nil {
		return openami.SigningCertificate{}, "", err
	}
	cert := openami.SigningCertificate{
		ID: newCertificateID(), AccountID: p.AccountID, Body: strings.TrimSpace(body),
		Fingerprint: fingerprint, Status: openami.CertificateActive, UploadedAt: s.nowUTC(),
	}
	var user string
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		acct, err := s.certificateUser(tx, p, userName)
		if err != nil {
			return err
		}
		user = acct.Name
		have, err := tx.Certificates().Signing(acct.ID)
		if err != nil {
			return err
		}
		for _, c := range have {
			if c.Fingerprint == fingerprint {
				return openami.Errorf(openami.Duplicate, openami.ResourceSigningCertificate, "The request was rejected because the same certificate is associated with an IAM user in the account.")
			}
		}
		if len(have) >= MaxSigningCertificates {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceSigningCertificate, "Cannot exceed quota for CertificatesPerUser: %d", MaxSigningCertificates)
		}
		return tx.Certificates().CreateSigning(cert)
	})
	if err != nil {
		return openami.SigningCertificate{}, "", err
	}
	return cert, user, nil
}

// ListSigningCertificates returns a page of the caller's account's signing
// certificates in upload order, at most maxItems of them (0 for IAM's
// default, 100; 1 to 1000), starting at marker (the next of an earlier
// page, "" for the first), with the user name they are listed under and
// the marker of the next page ("" when this is the last).
func (s *Accounts) ListSigningCertificates(ctx context.Context, p openami.Principal, userName, marker string, maxItems int) (certs []openami.SigningCertificate, user, next string, err error) {
	if maxItems == 0 {
		maxItems = 100
	}
	if maxItems < 1 || maxItems > 1000 {
		return nil, "", "", param.Breaks("MaxItems", strconv.Itoa(maxItems), "must have value between 1 and 1000")
	}
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		acct, err := s.certificateUser(tx, p, userName)
		if err != nil {
			return err
		}
		user = acct.Name
		certs, err = tx.Certificates().Signing(acct.ID)
		return err
	})
	if err != nil {
		return nil, "", "", err
	}
	if marker != "" {
		at := -1
		for i, c := range certs {
			if c.ID == marker {
				at = i
			}
		}
		if at < 0 {
			return nil, "", "", param.Invalid("Marker", marker, "is not a marker of this listing.")
		}
		certs = certs[at:]
	}
	if len(certs) > maxItems {
		next = certs[maxItems].ID
		certs = certs[:maxItems]
	}
	return certs, user, next, nil
}

// checkCertificateID checks the form of a certificate id a request names.
func checkCertificateID(id string) error {
	switch {
	case id == "":
		return param.Missing("CertificateId")
	case len(id) < 24 || len(id) > 128:
		return param.Breaks("CertificateId", id, "must have length between 24 and 128")
	case !certificateID.MatchString(id):
		return param.Breaks("CertificateId", id, `must satisfy regular expression pattern: [\w]+`)
	}
	return nil
}

// UpdateSigningCertificate sets the status of one of the caller's
// account's signing certificates: Active, or Inactive (kept, but verifying
// nothing). NotFound if the account has no certificate with the id.
func (s *Accounts) UpdateSigningCertificate(ctx context.Context, p openami.Principal, userName, id string, status openami.CertificateStatus) error {
	if err := checkCertificateID(id); err != nil {
		return err
	}
	switch status {
	case "":
		return param.Missing("CertificateStatus")
	case openami.CertificateActive, openami.CertificateInactive:
	default:
		return param.Breaks("CertificateStatus", string(status), "must satisfy enum value set: [Active, Inactive]")
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		acct, err := s.certificateUser(tx, p, userName)
		if err != nil {
			return err
		}
		return tx.Certificates().SetSigningStatus(acct.ID, id, status)
	})
}

// DeleteSigningCertificate removes one of the caller's account's signing
// certificates. NotFound if the account has no certificate with the id.
func (s *Accounts) DeleteSigningCertificate(ctx context.Context, p openami.Principal, userName, id string) error {
	if err := checkCertificateID(id); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		acct, err := s.certificateUser(tx, p, userName)
		if err != nil {
			return err
		}
		return tx.Certificates().DeleteSigning(acct.ID, id)
	})
}

// RootUser returns the caller's account, whose root user is the one user
// IAM's GetUser reports here; userName, if given, must be the account's
// name (NotFound otherwise, as for UploadSigningCertificate).
func (s *Accounts) RootUser(ctx context.Context, p openami.Principal, userName string) (openami.Account, error) {
	var acct openami.Account
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		acct, err = s.certificateUser(tx, p, userName)
		return err
	})
	return acct, err
}
