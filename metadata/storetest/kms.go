package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// KMS keys and aliases.

func kmsKey(region, acct, id string) openami.Key {
	return openami.Key{
		ID: id, Region: region, AccountID: acct, Usage: "ENCRYPT_DECRYPT", Spec: "SYMMETRIC_DEFAULT",
		State: openami.KeyEnabled, Policy: `{"Statement":[]}`, CreatedAt: t0, SealedMaterial: []byte("sealed " + id),
	}
}

func utcKMSKey(k openami.Key) openami.Key {
	k.CreatedAt, k.DeletionDate = utcTime(k.CreatedAt), utcTime(k.DeletionDate)
	return k
}

func utcAlias(a openami.KeyAlias) openami.KeyAlias {
	a.CreatedAt, a.UpdatedAt = utcTime(a.CreatedAt), utcTime(a.UpdatedAt)
	return a
}

func alias(region, acct, name, key string) openami.KeyAlias {
	return openami.KeyAlias{Name: name, Region: region, AccountID: acct, TargetKeyID: key, CreatedAt: t0, UpdatedAt: t0}
}

func createKMSKeys(t *testing.T, s metadata.Store, list ...openami.Key) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, k := range list {
			if err := tx.Keys().Create(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func kmsKeyIDs(list []openami.Key) []string {
	out := []string{}
	for _, k := range list {
		out = append(out, k.ID)
	}
	return out
}

func aliasNames(list []openami.KeyAlias) []string {
	out := []string{}
	for _, a := range list {
		out = append(out, a.Name)
	}
	return out
}

func testKMSKeyCreateGet(t *testing.T, s metadata.Store) {
	full := openami.Key{
		ID: "0b7a1c8e-8f3e-4a55-9d1e-0123456789ab", Region: region1, AccountID: acct1, Description: "for backups",
		Usage: "ENCRYPT_DECRYPT", Spec: "SYMMETRIC_DEFAULT", State: openami.KeyPendingDeletion,
		Policy:    `{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}`,
		Tags:      []openami.Tag{{Key: "team", Value: "infra"}, {Key: "empty", Value: ""}},
		CreatedAt: t0, DeletionDate: t0.Add(7 * 24 * time.Hour), PendingWindowDays: 7,
		SealedMaterial: []byte{0, 1, 2, 0xff},
	}
	empty := openami.Key{ID: "k-empty", Region: region1, AccountID: acct1, State: openami.KeyEnabled}
	createKMSKeys(t, s, full, empty)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Key{full, empty} {
			got, err := tx.Keys().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcKMSKey(want))
		}
		_, err := tx.Keys().Get(region2, full.ID)
		wantClass(t, err, openami.NotFound, openami.ResourceKMSKey)
		return nil
	})
	// Ids are unique across regions and accounts.
	other := kmsKey(region2, acct2, full.ID)
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().Create(other) })
	wantClass(t, err, openami.Duplicate, openami.ResourceKMSKey)
}

func testKMSKeyUpdateDelete(t *testing.T, s metadata.Store) {
	k := kmsKey(region1, acct1, "k-1")
	createKMSKeys(t, s, k, kmsKey(region1, acct1, "k-2"))
	changed := k
	changed.State, changed.DeletionDate, changed.PendingWindowDays = openami.KeyPendingDeletion, t0.Add(time.Hour), 30
	changed.Description, changed.Policy, changed.Tags = "new", `{"Statement":[1]}`, []openami.Tag{{Key: "a", Value: "b"}}
	changed.AccountID, changed.CreatedAt, changed.SealedMaterial = acct2, t0.Add(time.Hour), []byte("other") // ignored
	update(t, s, func(tx metadata.Tx) error { return tx.Keys().Update(changed) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Keys().Get(region1, "k-1")
		if err != nil {
			return err
		}
		want := changed
		want.AccountID, want.CreatedAt, want.SealedMaterial = acct1, k.CreatedAt, k.SealedMaterial
		equal(t, "Get after Update", got, utcKMSKey(want))
		return nil
	})
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Keys().CreateAlias(alias(region1, acct1, "alias/one", "k-2")); err != nil {
			return err
		}
		return tx.Keys().Delete(region1, "k-2")
	})
	view(t, s, func(tx metadata.Tx) error {
		_, err := tx.Keys().Alias(region1, acct1, "alias/one")
		wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Keys().Reseal(region1, "k-1", []byte("resealed")) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Keys().Get(region1, "k-1")
		if err != nil {
			return err
		}
		equal(t, "sealed material after Reseal", got.SealedMaterial, []byte("resealed"))
		return nil
	})
	for _, err := range []error{
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().Reseal(region2, "k-1", []byte("x")) }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().Delete(region1, "k-2") }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().Update(kmsKey(region1, acct1, "k-2")) }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().Delete(region2, "k-1") }),
	} {
		wantClass(t, err, openami.NotFound, openami.ResourceKMSKey)
	}
}

func testKMSKeyList(t *testing.T, s metadata.Store) {
	var list []openami.Key
	for i := range 7 {
		list = append(list, kmsKey(region1, acct1, fmt.Sprintf("k-%d", i)))
	}
	due := []time.Duration{time.Hour, 0, -time.Hour}
	for i, d := range due {
		list[i].State, list[i].DeletionDate = openami.KeyPendingDeletion, t0.Add(d)
	}
	list[3].State = openami.KeyDisabled
	createKMSKeys(t, s, append(list, kmsKey(region1, acct2, "k-a2"), kmsKey(region2, acct1, "k-r2"),
		func() openami.Key {
			k := kmsKey(region2, acct1, "k-r2-due")
			k.State, k.DeletionDate = openami.KeyPendingDeletion, t0.Add(-time.Hour)
			return k
		}())...)
	view(t, s, func(tx metadata.Tx) error {
		regions, err := tx.Keys().Regions()
		want := []string{region1, region2}
		slices.Sort(want)
		equal(t, "Regions", regions, want)
		return err
	})
	view(t, s, func(tx metadata.Tx) error {
		for _, c := range []struct {
			name         string
			region, acct string
			after        string
			limit        int
			want         []string
		}{
			{"all", region1, acct1, "", 0, []string{"k-0", "k-1", "k-2", "k-3", "k-4", "k-5", "k-6"}},
			{"page", region1, acct1, "k-1", 3, []string{"k-2", "k-3", "k-4"}},
			{"last page", region1, acct1, "k-4", 3, []string{"k-5", "k-6"}},
			{"other account", region1, acct2, "", 0, []string{"k-a2"}},
			{"other region", region2, acct1, "", 0, []string{"k-r2", "k-r2-due"}},
			{"none", region2, acct2, "", 0, []string{}},
		} {
			got, err := tx.Keys().List(c.region, c.acct, c.after, c.limit)
			if err != nil {
				return err
			}
			equal(t, c.name, kmsKeyIDs(got), c.want)
		}
		got, err := tx.Keys().DueForDeletion(region1, t0, 0)
		if err != nil {
			return err
		}
		equal(t, "due at t0", kmsKeyIDs(got), []string{"k-1", "k-2"})
		got, err = tx.Keys().DueForDeletion(region1, t0.Add(time.Hour), 2)
		if err != nil {
			return err
		}
		equal(t, "due an hour later, two", kmsKeyIDs(got), []string{"k-0", "k-1"})
		got, err = tx.Keys().DueForDeletion(region2, t0, 0)
		if err != nil {
			return err
		}
		equal(t, "due in region2", kmsKeyIDs(got), []string{"k-r2-due"})
		return nil
	})
}

func testKMSAliases(t *testing.T, s metadata.Store) {
	createKMSKeys(t, s, kmsKey(region1, acct1, "k-1"), kmsKey(region1, acct1, "k-2"),
		kmsKey(region1, acct2, "k-3"), kmsKey(region2, acct1, "k-4"))
	update(t, s, func(tx metadata.Tx) error {
		for _, a := range []openami.KeyAlias{
			alias(region1, acct1, "alias/b", "k-1"),
			alias(region1, acct1, "alias/a", "k-2"),
			alias(region1, acct1, "alias/c", "k-1"),
			alias(region1, acct2, "alias/a", "k-3"),
			alias(region2, acct1, "alias/a", "k-4"),
		} {
			if err := tx.Keys().CreateAlias(a); err != nil {
				return err
			}
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Keys().CreateAlias(alias(region1, acct1, "alias/a", "k-1"))
	})
	wantClass(t, err, openami.Duplicate, openami.ResourceKMSAlias)
	for _, target := range []string{"k-none", "k-4"} { // missing, or in another region
		err = updateErr(t, s, func(tx metadata.Tx) error {
			return tx.Keys().CreateAlias(alias(region1, acct1, "alias/z", target))
		})
		wantClass(t, err, openami.NotFound, openami.ResourceKMSKey)
	}
	// A Duplicate does not void the transaction (PostgreSQL aborts a
	// transaction on any error the database raises).
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Keys().CreateAlias(alias(region1, acct1, "alias/a", "k-1")); err == nil {
			return fmt.Errorf("duplicate alias created")
		}
		return tx.Keys().CreateAlias(alias(region1, acct1, "alias/d", "k-2"))
	})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Keys().Alias(region1, acct1, "alias/a")
		if err != nil {
			return err
		}
		equal(t, "Alias", got, utcAlias(alias(region1, acct1, "alias/a", "k-2")))
		_, err = tx.Keys().Alias(region1, acct1, "alias/none")
		wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
		_, err = tx.Keys().Alias(region2, acct2, "alias/a")
		wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
		for _, c := range []struct {
			name string
			q    metadata.AliasQuery
			want []string
		}{
			{"all", metadata.AliasQuery{}, []string{"alias/a", "alias/b", "alias/c", "alias/d"}},
			{"of k-1", metadata.AliasQuery{KeyID: "k-1"}, []string{"alias/b", "alias/c"}},
			{"page", metadata.AliasQuery{After: "alias/a", Limit: 2}, []string{"alias/b", "alias/c"}},
			{"page of k-2", metadata.AliasQuery{KeyID: "k-2", After: "alias/a"}, []string{"alias/d"}},
		} {
			got, err := tx.Keys().Aliases(region1, acct1, c.q)
			if err != nil {
				return err
			}
			equal(t, c.name, aliasNames(got), c.want)
		}
		return nil
	})

	moved := alias(region1, acct1, "alias/b", "k-2")
	moved.UpdatedAt = t0.Add(time.Hour)
	update(t, s, func(tx metadata.Tx) error { return tx.Keys().UpdateAlias(moved) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Keys().Alias(region1, acct1, "alias/b")
		if err != nil {
			return err
		}
		equal(t, "Alias after UpdateAlias", got, utcAlias(moved))
		return nil
	})
	err = updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Keys().UpdateAlias(alias(region1, acct1, "alias/none", "k-1"))
	})
	wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
	err = updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Keys().UpdateAlias(alias(region1, acct1, "alias/b", "k-none"))
	})
	wantClass(t, err, openami.NotFound, openami.ResourceKMSKey)

	update(t, s, func(tx metadata.Tx) error { return tx.Keys().DeleteAlias(region1, acct1, "alias/b") })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().DeleteAlias(region1, acct1, "alias/b") })
	wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Keys().DeleteAlias(region1, acct2, "alias/c") })
	wantClass(t, err, openami.NotFound, openami.ResourceKMSAlias)
}

func testAccountDeleteKMS(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "name"+id)); err != nil {
				return err
			}
			for _, r := range []string{region1, region2} {
				if err := tx.Keys().Create(kmsKey(r, id, "k-"+id+r)); err != nil {
					return err
				}
				if err := tx.Keys().CreateAlias(alias(r, id, "alias/x", "k-"+id+r)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Delete(acct1) })
	view(t, s, func(tx metadata.Tx) error {
		for _, r := range []string{region1, region2} {
			for acct, want := range map[string][]string{acct1: {}, acct2: {"k-" + acct2 + r}} {
				keys, err := tx.Keys().List(r, acct, "", 0)
				if err != nil {
					return err
				}
				equal(t, "keys of "+acct+" in "+r, kmsKeyIDs(keys), want)
				aliases, err := tx.Keys().Aliases(r, acct, metadata.AliasQuery{})
				if err != nil {
					return err
				}
				if len(want) > 0 {
					want = []string{"alias/x"}
				}
				equal(t, "aliases of "+acct+" in "+r, aliasNames(aliases), want)
			}
		}
		return nil
	})
	// The deleted account's key ids can be used again.
	createKMSKeys(t, s, kmsKey(region1, acct1, "k-"+acct1+region1))
}
