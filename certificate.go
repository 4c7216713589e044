package openami

import "time"

// CertificateStatus is whether a signing certificate counts: an inactive
// certificate stays registered but verifies nothing.
type CertificateStatus string

// Signing certificate statuses, in IAM's spelling.
const (
	CertificateActive   CertificateStatus = "Active"
	CertificateInactive CertificateStatus = "Inactive"
)

// SigningCertificate is an X.509 certificate an account registered (IAM's
// UploadSigningCertificate) so that openami can tell which manifests the
// account signed. openami has accounts, not IAM users: a certificate
// belongs to the account's root user. An account holds at most two, as an
// IAM user does.
type SigningCertificate struct {
	// ID is IAM's form of a certificate id: 24 to 32 uppercase letters
	// and digits.
	ID        string
	AccountID string
	// Body is the certificate in PEM, as uploaded (trimmed of surrounding
	// white space).
	Body string
	// Fingerprint is the hex SHA-256 of the certificate's DER: an account
	// cannot register the same certificate twice.
	Fingerprint string
	Status      CertificateStatus
	UploadedAt  time.Time
}
