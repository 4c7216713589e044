package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func testAccountCreateGet(t *testing.T, s metadata.Store) {
	a := account(acct1, "alice")
	a.Admin = true
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Accounts().Get(acct1)
		if err != nil {
			return err
		}
		equal(t, "Get", got, utcAccount(a))
		return nil
	})
}

func testAccountDuplicate(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct1, "alice")) })
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct1, "bob")) })
	wantClass(t, err, openami.Duplicate, openami.ResourceAccount)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct2, "alice")) })
	wantClass(t, err, openami.Duplicate, openami.ResourceAccount)
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Accounts().List()
		if err != nil {
			return err
		}
		equal(t, "List after duplicates", list, []openami.Account{utcAccount(account(acct1, "alice"))})
		return nil
	})
}

func testAccountNotFound(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Accounts().Get(acct1)
		return err
	})
	wantClass(t, err, openami.NotFound, openami.ResourceAccount)
	wantMessage(t, err, fmt.Sprintf("The account '%s' does not exist", acct1))
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().SetStatus(acct1, openami.AccountDisabled) })
	wantClass(t, err, openami.NotFound, openami.ResourceAccount)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	wantClass(t, err, openami.NotFound, openami.ResourceAccount)
}

func testAccountList(t *testing.T, s metadata.Store) {
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Accounts().List()
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Fatalf("List of a new store: %v", list)
		}
		return nil
	})
	ids := []string{"300000000000", "100000000000", "200000000000"}
	update(t, s, func(tx metadata.Tx) error {
		for i, id := range ids {
			if err := tx.Accounts().Create(account(id, fmt.Sprint("n", i))); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Accounts().List()
		if err != nil {
			return err
		}
		var got []string
		for _, a := range list {
			got = append(got, a.ID)
		}
		equal(t, "List ids", got, []string{"100000000000", "200000000000", "300000000000"})
		return nil
	})
}

func testAccountSetStatus(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct1, "alice")) })
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().SetStatus(acct1, openami.AccountDisabled) })
	view(t, s, func(tx metadata.Tx) error {
		a, err := tx.Accounts().Get(acct1)
		if err != nil {
			return err
		}
		equal(t, "Status", a.Status, openami.AccountDisabled)
		return nil
	})
}

func testAccountDeleteCascades(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			if err := tx.Accounts().CreateKey(openami.AccessKey{ID: "AKIA" + id, AccountID: id, SealedSecret: []byte("s"), CreatedAt: t0}); err != nil {
				return err
			}
			for _, r := range []string{region1, region2} {
				kp := keyPair(r, id, "key-"+id+r[:2], "k")
				if err := tx.KeyPairs().Create(kp); err != nil {
					return err
				}
				if err := tx.Tags().Set(r, id, kp.ID, openami.ResourceKeyPair, []openami.Tag{{Key: "a", Value: "b"}}); err != nil {
					return err
				}
				if err := tx.Tags().Set(r, id, "ami-12345678", openami.ResourceImage, []openami.Tag{{Key: "a", Value: "b"}}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })

	counts := func(tx metadata.Tx, id string) (keys, pairs, tags int) {
		ks, err := tx.Accounts().Keys(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{region1, region2} {
			kps, err := tx.KeyPairs().List(r, id)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Tags().Scan(r, id, metadata.TagScan{})
			if err != nil {
				t.Fatal(err)
			}
			pairs += len(kps)
			tags += len(rows)
		}
		return len(ks), pairs, tags
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Accounts().Get(acct1); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get of deleted account: %v", err)
		}
		if _, err := tx.Accounts().Key("AKIA" + acct1); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Key of deleted account: %v", err)
		}
		if k, p, g := counts(tx, acct1); k+p+g != 0 {
			t.Errorf("deleted account still has %d access keys, %d key pairs, %d tags", k, p, g)
		}
		if k, p, g := counts(tx, acct2); k != 1 || p != 2 || g != 4 {
			t.Errorf("other account has %d access keys, %d key pairs, %d tags; want 1, 2, 4", k, p, g)
		}
		return nil
	})
}

// Access keys.

func testKeyCreateGet(t *testing.T, s metadata.Store) {
	k := openami.AccessKey{ID: "AKIAAAAAAAAAAAAAAAAA", AccountID: acct1, SealedSecret: []byte{0, 1, 2, 0xff}, CreatedAt: t0}
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Accounts().Create(account(acct1, "alice")); err != nil {
			return err
		}
		return tx.Accounts().CreateKey(k)
	})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Accounts().Key(k.ID)
		if err != nil {
			return err
		}
		equal(t, "Key", got, utcKey(k))
		return nil
	})
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Accounts().Key("AKIANOTTHERE")
		return err
	})
	wantClass(t, err, openami.NotFound, openami.ResourceAccessKey)
}

func testKeyDuplicate(t *testing.T, s metadata.Store) {
	k := openami.AccessKey{ID: "AKIA1", AccountID: acct1, SealedSecret: []byte("x"), CreatedAt: t0}
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, id)); err != nil {
				return err
			}
		}
		return tx.Accounts().CreateKey(k)
	})
	k2 := k
	k2.AccountID = acct2
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().CreateKey(k2) })
	wantClass(t, err, openami.Duplicate, openami.ResourceAccessKey)
}

func testKeyNoAccount(t *testing.T, s metadata.Store) {
	err := updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Accounts().CreateKey(openami.AccessKey{ID: "AKIA1", AccountID: acct1, SealedSecret: []byte("x"), CreatedAt: t0})
	})
	wantClass(t, err, openami.NotFound, openami.ResourceAccount)
}

func testKeyListDelete(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, id)); err != nil {
				return err
			}
		}
		for _, k := range []openami.AccessKey{
			{ID: "AKIAC", AccountID: acct1, SealedSecret: []byte("c"), CreatedAt: t0},
			{ID: "AKIAA", AccountID: acct1, SealedSecret: []byte("a"), CreatedAt: t0},
			{ID: "AKIAB", AccountID: acct2, SealedSecret: []byte("b"), CreatedAt: t0},
		} {
			if err := tx.Accounts().CreateKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(account string) []string {
		var ids []string
		view(t, s, func(tx metadata.Tx) error {
			ks, err := tx.Accounts().Keys(account)
			for _, k := range ks {
				ids = append(ids, k.ID)
			}
			return err
		})
		return ids
	}
	equal(t, "Keys", ids(acct1), []string{"AKIAA", "AKIAC"})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().DeleteKey("AKIAA") })
	equal(t, "Keys after DeleteKey", ids(acct1), []string{"AKIAC"})
	equal(t, "other account's Keys", ids(acct2), []string{"AKIAB"})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().DeleteKey("AKIAA") })
	wantClass(t, err, openami.NotFound, openami.ResourceAccessKey)
}

func testAccountSetOrganization(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		return tx.Accounts().Create(openami.Account{ID: "555555555555", Name: "org-member", Status: openami.AccountActive})
	})
	const org, ou1, ou2 = "arn:aws:organizations::111111111111:organization/o-abcdefghij", "arn:ou:1", "arn:ou:2"
	update(t, s, func(tx metadata.Tx) error {
		return tx.Accounts().SetOrganization("555555555555", org, []string{ou1, ou2})
	})
	var a openami.Account
	view(t, s, func(tx metadata.Tx) error {
		var err error
		a, err = tx.Accounts().Get("555555555555")
		return err
	})
	if a.OrganizationArn != org || len(a.OUArns) != 2 || a.OUArns[1] != ou2 {
		t.Fatalf("account after SetOrganization: %+v", a)
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().SetOrganization("555555555555", "", nil) })
	view(t, s, func(tx metadata.Tx) error {
		var err error
		a, err = tx.Accounts().Get("555555555555")
		return err
	})
	if a.OrganizationArn != "" || a.OUArns != nil {
		t.Fatalf("account after leaving: %+v", a)
	}
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Accounts().SetOrganization("999999999999", org, nil) })
	if !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("SetOrganization of a missing account: %v", err)
	}
}
