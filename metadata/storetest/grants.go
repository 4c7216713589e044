package storetest

import (
	"fmt"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// KMS grants.

func grant(region, acct, key, id, grantee string) openami.Grant {
	return openami.Grant{
		ID: id, KeyID: key, Region: region, AccountID: acct,
		GranteePrincipal: "arn:aws:iam::" + grantee + ":root", GranteeAccount: grantee,
		Operations: []string{"Encrypt", "Decrypt"}, CreatedAt: t0,
	}
}

func utcGrant(g openami.Grant) openami.Grant {
	g.CreatedAt = utcTime(g.CreatedAt)
	return g
}

func createGrants(t *testing.T, s metadata.Store, list ...openami.Grant) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, g := range list {
			if err := tx.Grants().Create(g); err != nil {
				return err
			}
		}
		return nil
	})
}

func grantIDs(list []openami.Grant) []string {
	out := []string{}
	for _, g := range list {
		out = append(out, g.ID)
	}
	return out
}

func testKMSGrantCreateGet(t *testing.T, s metadata.Store) {
	createKMSKeys(t, s, kmsKey(region1, acct1, "k-1"))
	full := openami.Grant{
		ID: "g-full", KeyID: "k-1", Region: region1, AccountID: acct1, Name: "backup-job",
		GranteePrincipal: "arn:aws:iam::" + acct2 + ":role/backup", GranteeAccount: acct2,
		RetiringPrincipal: "arn:aws:iam::" + acct1 + ":user/admin",
		Operations:        []string{"GenerateDataKey", "Decrypt", "RetireGrant"},
		Constraints: openami.GrantConstraints{EncryptionContextSubset: map[string]string{
			"volume": "vol-1", "Empty": "", "ünï": "cödé"}},
		CreatedAt: t0,
	}
	equals := grant(region1, acct1, "k-1", "g-equals", acct2)
	equals.Constraints.EncryptionContextEquals = map[string]string{"a": "b"}
	service := grant(region1, acct1, "k-1", "g-service", "")
	service.GranteePrincipal = "ec2.amazonaws.com"
	createGrants(t, s, full, equals, service)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Grant{full, equals, service} {
			got, err := tx.Grants().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcGrant(want))
		}
		_, err := tx.Grants().Get(region2, full.ID)
		wantClass(t, err, openami.NotFound, openami.ResourceKMSGrant)
		_, err = tx.Grants().Get(region1, "g-none")
		wantClass(t, err, openami.NotFound, openami.ResourceKMSGrant)
		return nil
	})
	// Ids are unique across regions; the key must exist in the region.
	createKMSKeys(t, s, kmsKey(region2, acct1, "k-2"))
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Grants().Create(grant(region2, acct1, "k-2", "g-full", acct2)) })
	wantClass(t, err, openami.Duplicate, openami.ResourceKMSGrant)
	for _, key := range []string{"k-none", "k-2"} {
		err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Grants().Create(grant(region1, acct1, key, "g-new", acct2)) })
		wantClass(t, err, openami.NotFound, openami.ResourceKMSKey)
	}
	// Neither failure voids the transaction.
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Grants().Create(grant(region1, acct1, "k-none", "g-new", acct2)); err == nil {
			return fmt.Errorf("grant on a missing key created")
		}
		if err := tx.Grants().Create(grant(region1, acct1, "k-1", "g-full", acct2)); err == nil {
			return fmt.Errorf("duplicate grant created")
		}
		return tx.Grants().Create(grant(region1, acct1, "k-1", "g-new", acct2))
	})
}

func testKMSGrantList(t *testing.T, s metadata.Store) {
	createKMSKeys(t, s, kmsKey(region1, acct1, "k-1"), kmsKey(region1, acct1, "k-2"), kmsKey(region2, acct1, "k-3"))
	var list []openami.Grant
	for i := range 6 {
		g := grant(region1, acct1, "k-1", fmt.Sprintf("g-%d", i), acct2)
		if i%2 == 0 {
			g.GranteePrincipal, g.GranteeAccount = "arn:aws:iam::"+acct1+":user/u", acct1
		}
		if i < 3 {
			g.Name = "n"
			g.RetiringPrincipal = "arn:aws:iam::" + acct2 + ":root"
		}
		list = append(list, g)
	}
	other := grant(region1, acct1, "k-2", "g-k2", acct2)
	other.RetiringPrincipal = "arn:aws:iam::" + acct2 + ":root"
	elsewhere := grant(region2, acct1, "k-3", "g-r2", acct2)
	elsewhere.RetiringPrincipal = other.RetiringPrincipal
	createGrants(t, s, append(list, other, elsewhere)...)
	view(t, s, func(tx metadata.Tx) error {
		for _, c := range []struct {
			name   string
			region string
			q      metadata.GrantQuery
			want   []string
		}{
			{"of k-1", region1, metadata.GrantQuery{KeyID: "k-1"}, []string{"g-0", "g-1", "g-2", "g-3", "g-4", "g-5"}},
			{"page", region1, metadata.GrantQuery{KeyID: "k-1", After: "g-1", Limit: 2}, []string{"g-2", "g-3"}},
			{"by id", region1, metadata.GrantQuery{KeyID: "k-1", ID: "g-4"}, []string{"g-4"}},
			{"by id of another key", region1, metadata.GrantQuery{KeyID: "k-2", ID: "g-4"}, []string{}},
			{"by name", region1, metadata.GrantQuery{KeyID: "k-1", Name: "n"}, []string{"g-0", "g-1", "g-2"}},
			{"by grantee principal", region1, metadata.GrantQuery{KeyID: "k-1", GranteePrincipal: "arn:aws:iam::" + acct1 + ":user/u"},
				[]string{"g-0", "g-2", "g-4"}},
			{"by grantee account", region1, metadata.GrantQuery{KeyID: "k-1", GranteeAccount: acct2}, []string{"g-1", "g-3", "g-5"}},
			{"retirable", region1, metadata.GrantQuery{RetiringPrincipal: "arn:aws:iam::" + acct2 + ":root"},
				[]string{"g-0", "g-1", "g-2", "g-k2"}},
			{"retirable page", region1, metadata.GrantQuery{RetiringPrincipal: "arn:aws:iam::" + acct2 + ":root", After: "g-2"},
				[]string{"g-k2"}},
			{"retirable elsewhere", region2, metadata.GrantQuery{RetiringPrincipal: "arn:aws:iam::" + acct2 + ":root"}, []string{"g-r2"}},
			{"of a key in another region", region2, metadata.GrantQuery{KeyID: "k-1"}, []string{}},
		} {
			got, err := tx.Grants().List(c.region, c.q)
			if err != nil {
				return err
			}
			equal(t, c.name, grantIDs(got), c.want)
		}
		return nil
	})
}

func testKMSGrantDelete(t *testing.T, s metadata.Store) {
	createKMSKeys(t, s, kmsKey(region1, acct1, "k-1"), kmsKey(region1, acct1, "k-2"))
	createGrants(t, s, grant(region1, acct1, "k-1", "g-1", acct2), grant(region1, acct1, "k-1", "g-2", acct2),
		grant(region1, acct1, "k-2", "g-3", acct2))
	update(t, s, func(tx metadata.Tx) error { return tx.Grants().Delete(region1, "g-1") })
	for _, err := range []error{
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Grants().Delete(region1, "g-1") }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Grants().Delete(region2, "g-2") }),
	} {
		wantClass(t, err, openami.NotFound, openami.ResourceKMSGrant)
	}
	// Deleting a key deletes its grants.
	update(t, s, func(tx metadata.Tx) error { return tx.Keys().Delete(region1, "k-1") })
	view(t, s, func(tx metadata.Tx) error {
		for key, want := range map[string][]string{"k-1": {}, "k-2": {"g-3"}} {
			got, err := tx.Grants().List(region1, metadata.GrantQuery{KeyID: key})
			if err != nil {
				return err
			}
			equal(t, "grants of "+key, grantIDs(got), want)
		}
		return nil
	})
}

func testAccountDeleteKMSGrants(t *testing.T, s metadata.Store) {
	const acct3 = "333333333333"
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2, acct3} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			if err := tx.Keys().Create(kmsKey(region1, id, "k-"+id)); err != nil {
				return err
			}
		}
		for _, g := range []openami.Grant{
			grant(region1, acct1, "k-"+acct1, "g-1to2", acct2), // the deleted account's key's grant
			grant(region1, acct2, "k-"+acct2, "g-2to1", acct1), // a grant to the deleted account
			grant(region1, acct2, "k-"+acct2, "g-2to3", acct3),
			grant(region1, acct3, "k-"+acct3, "g-3to2", acct2),
		} {
			if err := tx.Grants().Create(g); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Grants().List(region1, metadata.GrantQuery{})
		if err != nil {
			return err
		}
		equal(t, "grants after the account's deletion", grantIDs(got), []string{"g-2to3", "g-3to2"})
		return nil
	})
}
