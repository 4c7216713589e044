package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func signingCert(acct, id, fingerprint string, at time.Time) openami.SigningCertificate {
	return openami.SigningCertificate{ID: id, AccountID: acct, Body: "-----BEGIN CERTIFICATE-----\n" + id + "\n-----END CERTIFICATE-----",
		Fingerprint: fingerprint, Status: openami.CertificateActive, UploadedAt: at}
}

func utcCert(c openami.SigningCertificate) openami.SigningCertificate {
	c.UploadedAt = c.UploadedAt.UTC()
	return c
}

func createAccounts(t *testing.T, s metadata.Store, ids ...string) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range ids {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// testSigningCertificates: create, list in upload order, status, delete,
// the refusals, and the certificates going with their account.
func testSigningCertificates(t *testing.T, s metadata.Store) {
	createAccounts(t, s, acct1, acct2)
	a := signingCert(acct1, "CERTAAAAAAAAAAAAAAAAAAAA", "fa", t0.Add(time.Second))
	b := signingCert(acct1, "CERTBBBBBBBBBBBBBBBBBBBB", "fb", t0)
	other := signingCert(acct2, "CERTCCCCCCCCCCCCCCCCCCCC", "fa", t0)
	update(t, s, func(tx metadata.Tx) error {
		for _, c := range []openami.SigningCertificate{a, b, other} {
			if err := tx.Certificates().CreateSigning(c); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(acct string) []openami.SigningCertificate {
		var out []openami.SigningCertificate
		view(t, s, func(tx metadata.Tx) error {
			var err error
			out, err = tx.Certificates().Signing(acct)
			return err
		})
		return out
	}
	equal(t, "Signing", list(acct1), []openami.SigningCertificate{utcCert(b), utcCert(a)})

	// The same certificate twice in one account, or a taken id: Duplicate.
	for _, c := range []openami.SigningCertificate{
		signingCert(acct1, "CERTDDDDDDDDDDDDDDDDDDDD", "fa", t0),
		signingCert(acct2, a.ID, "fz", t0),
	} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Certificates().CreateSigning(c) })
		wantClass(t, err, openami.Duplicate, openami.ResourceSigningCertificate)
	}
	// A certificate of no account: refused.
	if err := s.Update(t.Context(), func(tx metadata.Tx) error {
		return tx.Certificates().CreateSigning(signingCert(acct3, "CERTEEEEEEEEEEEEEEEEEEEE", "fe", t0))
	}); err == nil {
		t.Error("CreateSigning for an account that does not exist succeeded")
	}

	// Another account's certificate is not found, and unchanged.
	err := updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Certificates().SetSigningStatus(acct2, a.ID, openami.CertificateInactive)
	})
	wantClass(t, err, openami.NotFound, openami.ResourceSigningCertificate)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Certificates().DeleteSigning(acct2, a.ID) })
	wantClass(t, err, openami.NotFound, openami.ResourceSigningCertificate)
	update(t, s, func(tx metadata.Tx) error {
		return tx.Certificates().SetSigningStatus(acct1, a.ID, openami.CertificateInactive)
	})
	a.Status = openami.CertificateInactive
	equal(t, "Signing after SetSigningStatus", list(acct1), []openami.SigningCertificate{utcCert(b), utcCert(a)})
	update(t, s, func(tx metadata.Tx) error { return tx.Certificates().DeleteSigning(acct1, b.ID) })
	equal(t, "Signing after DeleteSigning", list(acct1), []openami.SigningCertificate{utcCert(a)})

	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	if got := list(acct1); len(got) != 0 {
		t.Errorf("certificates of a deleted account: %v", got)
	}
	equal(t, "Signing of another account", list(acct2), []openami.SigningCertificate{utcCert(other)})
}

// testRegionKeys: one key per region, the first stored wins, and the
// sealed key may be replaced.
func testRegionKeys(t *testing.T, s metadata.Store) {
	err := viewErr(s, func(tx metadata.Tx) error {
		_, err := tx.Certificates().RegionKey(region1)
		return err
	})
	wantClass(t, err, openami.NotFound, openami.ResourceRegionKey)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Certificates().SetRegionKeySealed(region1, []byte{1}) })
	wantClass(t, err, openami.NotFound, openami.ResourceRegionKey)

	k1 := metadata.RegionKey{Region: region1, Certificate: "pem1", SealedKey: []byte{1, 2, 3}, CreatedAt: t0}
	// Writers race to create the key: each gets the one stored.
	var (
		wg  sync.WaitGroup
		got [4]metadata.RegionKey
	)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := k1
			k.Certificate = "pem" + string(rune('a'+i))
			update(t, s, func(tx metadata.Tx) error {
				var err error
				got[i], err = tx.Certificates().CreateRegionKeyIfAbsent(k)
				return err
			})
		}()
	}
	wg.Wait()
	var stored metadata.RegionKey
	view(t, s, func(tx metadata.Tx) error {
		var err error
		stored, err = tx.Certificates().RegionKey(region1)
		return err
	})
	for i, k := range got {
		equal(t, "CreateRegionKeyIfAbsent "+string(rune('0'+i)), k, stored)
	}
	k2 := metadata.RegionKey{Region: region2, Certificate: "pem2", SealedKey: []byte{4}, CreatedAt: t0}
	update(t, s, func(tx metadata.Tx) error {
		_, err := tx.Certificates().CreateRegionKeyIfAbsent(k2)
		if err != nil {
			return err
		}
		return tx.Certificates().SetRegionKeySealed(region2, []byte{5, 6})
	})
	k2.SealedKey, k2.CreatedAt = []byte{5, 6}, t0.UTC()
	view(t, s, func(tx metadata.Tx) error {
		all, err := tx.Certificates().RegionKeys()
		equal(t, "RegionKeys", all, []metadata.RegionKey{k2, stored}) // eu-west-1 first
		return err
	})
}
