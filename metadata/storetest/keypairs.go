package storetest

import (
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func testKeyPairCreateList(t *testing.T, s metadata.Store) {
	b := keyPair(region1, acct1, "key-0000000000000000b", "bravo")
	a := keyPair(region1, acct1, "key-0000000000000000a", "alpha")
	a.Type = openami.KeyTypeRSA
	other := []openami.KeyPair{
		keyPair(region2, acct1, "key-0000000000000000c", "alpha"),
		keyPair(region1, acct2, "key-0000000000000000d", "alpha"),
	}
	update(t, s, func(tx metadata.Tx) error {
		for _, k := range append([]openami.KeyPair{b, a}, other...) {
			if err := tx.KeyPairs().Create(k); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.KeyPairs().List(region1, acct1)
		if err != nil {
			return err
		}
		equal(t, "List", list, []openami.KeyPair{utcKeyPair(a), utcKeyPair(b)})
		list, err = tx.KeyPairs().List("ap-south-1", acct1)
		if err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("List of an empty region: %v", list)
		}
		return nil
	})
}

func testKeyPairDuplicate(t *testing.T, s metadata.Store) {
	k := keyPair(region1, acct1, "key-0000000000000000a", "alpha")
	update(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Create(k) })
	sameName := keyPair(region1, acct1, "key-0000000000000000b", "alpha")
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Create(sameName) })
	wantClass(t, err, openami.Duplicate, openami.ResourceKeyPair)
	wantMessage(t, err, "The keypair 'alpha' already exists.")
	sameID := keyPair(region2, acct2, "key-0000000000000000a", "other")
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Create(sameID) })
	wantClass(t, err, openami.Duplicate, openami.ResourceKeyPair)
}

func testKeyPairDelete(t *testing.T, s metadata.Store) {
	k := keyPair(region1, acct1, "key-0000000000000000a", "alpha")
	keep := keyPair(region1, acct1, "key-0000000000000000b", "bravo")
	tag := []openami.Tag{{Key: "Name", Value: "x"}}
	update(t, s, func(tx metadata.Tx) error {
		for _, kp := range []openami.KeyPair{k, keep} {
			if err := tx.KeyPairs().Create(kp); err != nil {
				return err
			}
			if err := tx.Tags().Set(region1, acct1, kp.ID, openami.ResourceKeyPair, tag); err != nil {
				return err
			}
		}
		return nil
	})
	// Not the owner's region or account: not found, and nothing deleted.
	for _, c := range []struct{ region, acct string }{{region2, acct1}, {region1, acct2}} {
		err := updateErr(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Delete(c.region, c.acct, k.ID) })
		wantClass(t, err, openami.NotFound, openami.ResourceKeyPair)
		wantMessage(t, err, "The key pair 'key-0000000000000000a' does not exist")
	}
	update(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Delete(region1, acct1, k.ID) })
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.KeyPairs().List(region1, acct1)
		if err != nil {
			return err
		}
		equal(t, "List after Delete", list, []openami.KeyPair{utcKeyPair(keep)})
		of, err := tx.Tags().Of(region1, acct1, []string{k.ID, keep.ID})
		if err != nil {
			return err
		}
		equal(t, "tags after Delete", of, map[string][]openami.Tag{keep.ID: tag})
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.KeyPairs().Delete(region1, acct1, k.ID) })
	wantClass(t, err, openami.NotFound, openami.ResourceKeyPair)
}
