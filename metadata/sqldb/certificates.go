package sqldb

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type certificates struct{ t *tx }

func (c certificates) CreateSigning(cert openami.SigningCertificate) error {
	n, err := c.t.execN(`INSERT INTO signing_certificates (account_id, id, fingerprint, body, status, uploaded_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		cert.AccountID, cert.ID, cert.Fingerprint, cert.Body, string(cert.Status), nanos(cert.UploadedAt))
	if err != nil && !c.t.d.unique(err) {
		return fmt.Errorf("sqldb: create signing certificate: %w", err)
	}
	if err == nil && n > 0 {
		return nil
	}
	return openami.Errorf(openami.Duplicate, openami.ResourceSigningCertificate, "The request was rejected because the same certificate is associated with an IAM user in the account.")
}

func (c certificates) Signing(accountID string) ([]openami.SigningCertificate, error) {
	var list []openami.SigningCertificate
	err := c.t.each(`SELECT id, fingerprint, body, status, uploaded_at FROM signing_certificates
WHERE account_id = ? ORDER BY uploaded_at, id`, []any{accountID}, func(r *sql.Rows) error {
		cert := openami.SigningCertificate{AccountID: accountID}
		var (
			status string
			at     int64
		)
		if err := r.Scan(&cert.ID, &cert.Fingerprint, &cert.Body, &status, &at); err != nil {
			return err
		}
		cert.Status = openami.CertificateStatus(status)
		cert.UploadedAt = fromNanos(at)
		list = append(list, cert)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list signing certificates: %w", err)
	}
	return list, nil
}

func certificateNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceSigningCertificate, "The Certificate with id %s cannot be found.", id)
}

func (c certificates) SetSigningStatus(accountID, id string, status openami.CertificateStatus) error {
	n, err := c.t.execN(`UPDATE signing_certificates SET status = ? WHERE account_id = ? AND id = ?`, string(status), accountID, id)
	if err != nil {
		return fmt.Errorf("sqldb: update signing certificate: %w", err)
	}
	if n == 0 {
		return certificateNotFound(id)
	}
	return nil
}

func (c certificates) DeleteSigning(accountID, id string) error {
	n, err := c.t.execN(`DELETE FROM signing_certificates WHERE account_id = ? AND id = ?`, accountID, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete signing certificate: %w", err)
	}
	if n == 0 {
		return certificateNotFound(id)
	}
	return nil
}

func (c certificates) RegionKey(region string) (metadata.RegionKey, error) {
	k := metadata.RegionKey{Region: region}
	var at int64
	err := c.t.get(`SELECT certificate, sealed_key, created_at FROM region_keys WHERE region = ?`, []any{region}, &k.Certificate, &k.SealedKey, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.RegionKey{}, openami.Errorf(openami.NotFound, openami.ResourceRegionKey, "The region '%s' has no EC2 key yet", region)
	}
	if err != nil {
		return metadata.RegionKey{}, fmt.Errorf("sqldb: get region key: %w", err)
	}
	k.CreatedAt = fromNanos(at)
	return k, nil
}

func (c certificates) CreateRegionKeyIfAbsent(k metadata.RegionKey) (metadata.RegionKey, error) {
	if _, err := c.t.exec(`INSERT INTO region_keys (region, certificate, sealed_key, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (region) DO NOTHING`, k.Region, k.Certificate, nonNil(k.SealedKey), nanos(k.CreatedAt)); err != nil {
		return metadata.RegionKey{}, fmt.Errorf("sqldb: create region key: %w", err)
	}
	return c.RegionKey(k.Region)
}

func (c certificates) RegionKeys() ([]metadata.RegionKey, error) {
	var list []metadata.RegionKey
	err := c.t.each(`SELECT region, certificate, sealed_key, created_at FROM region_keys ORDER BY region`, nil, func(r *sql.Rows) error {
		var (
			k  metadata.RegionKey
			at int64
		)
		if err := r.Scan(&k.Region, &k.Certificate, &k.SealedKey, &at); err != nil {
			return err
		}
		k.CreatedAt = fromNanos(at)
		list = append(list, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list region keys: %w", err)
	}
	return list, nil
}

func (c certificates) SetRegionKeySealed(region string, sealedKey []byte) error {
	n, err := c.t.execN(`UPDATE region_keys SET sealed_key = ? WHERE region = ?`, nonNil(sealedKey), region)
	if err != nil {
		return fmt.Errorf("sqldb: reseal region key: %w", err)
	}
	if n == 0 {
		return openami.Errorf(openami.NotFound, openami.ResourceRegionKey, "The region '%s' has no EC2 key yet", region)
	}
	return nil
}
