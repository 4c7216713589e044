// Package storetest is the conformance suite of metadata.Store: every
// implementation runs it, so that they all keep the outcomes metadata.go
// documents.
//
// An implementation's test calls Run with a function that opens a new,
// empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) metadata.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Run runs the conformance suite against stores made by open, one new,
// empty store per subtest. The subtests run in parallel, so open must be
// safe to call concurrently. Run closes each store when its subtest ends.
func Run(t *testing.T, open func(t *testing.T) metadata.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s metadata.Store)
	}{
		{"Accounts/CreateGet", testAccountCreateGet},
		{"Accounts/Duplicate", testAccountDuplicate},
		{"Accounts/NotFound", testAccountNotFound},
		{"Accounts/List", testAccountList},
		{"Accounts/SetStatus", testAccountSetStatus},
		{"Accounts/SetOrganization", testAccountSetOrganization},
		{"Accounts/DeleteCascades", testAccountDeleteCascades},
		{"AccessKeys/CreateGet", testKeyCreateGet},
		{"AccessKeys/Duplicate", testKeyDuplicate},
		{"AccessKeys/NoAccount", testKeyNoAccount},
		{"AccessKeys/ListDelete", testKeyListDelete},
		{"KeyPairs/CreateList", testKeyPairCreateList},
		{"KeyPairs/Duplicate", testKeyPairDuplicate},
		{"KeyPairs/Delete", testKeyPairDelete},
		{"Tags/SetOf", testTagsSetOf},
		{"Tags/Delete", testTagsDelete},
		{"Tags/Partitioned", testTagsPartitioned},
		{"Tags/ScanPages", testTagsScanPages},
		{"Tags/ScanNarrow", testTagsScanNarrow},
		{"Tags/ScanLongLists", testTagsScanLongLists},
		{"Settings", testSettings},
		{"ViewSerial", testViewSerial},
		{"Snapshots/CreateGet", testSnapshotCreateGet},
		{"Snapshots/Duplicate", testSnapshotDuplicate},
		{"Snapshots/NotFound", testSnapshotNotFound},
		{"Snapshots/ByClientToken", testSnapshotByClientToken},
		{"Snapshots/Update", testSnapshotUpdate},
		{"Snapshots/Delete", testSnapshotDelete},
		{"Snapshots/Permissions", testSnapshotPermissions},
		{"Snapshots/ListVisibility", testSnapshotListVisibility},
		{"Snapshots/ListPages", testSnapshotListPages},
		{"Snapshots/ListLongLists", testSnapshotListLongLists},
		{"Snapshots/Pending", testSnapshotPending},
		{"Snapshots/Blocks", testSnapshotBlocks},
		{"Volumes/CreateGet", testVolumeCreateGet},
		{"Volumes/Duplicate", testVolumeDuplicate},
		{"Volumes/NotFound", testVolumeNotFound},
		{"Volumes/ByClientToken", testVolumeByClientToken},
		{"Volumes/Update", testVolumeUpdate},
		{"Volumes/Delete", testVolumeDelete},
		{"Volumes/List", testVolumeList},
		{"Volumes/Blocks", testVolumeBlocks},
		{"Accounts/DeleteBlockStorage", testAccountDeleteBlockStorage},
		{"Instances/CreateGet", testInstanceCreateGet},
		{"Instances/UpdateDelete", testInstanceUpdateDelete},
		{"Instances/List", testInstanceList},
		{"Images/CreateGet", testImageCreateGet},
		{"Images/Duplicate", testImageDuplicate},
		{"Images/NotFound", testImageNotFound},
		{"Images/Update", testImageUpdate},
		{"Images/Delete", testImageDelete},
		{"Images/Permissions", testImagePermissions},
		{"Images/ListSelections", testImageListSelections},
		{"Images/ListPages", testImageListPages},
		{"Images/ListLongLists", testImageListLongLists},
		{"Images/ListNamePrefixes", testImageListNamePrefixes},
		{"Images/ListTags", testImageListTags},
		{"Images/UsingSnapshot", testImageUsingSnapshot},
		{"Accounts/DeleteImages", testAccountDeleteImages},
		{"KMS/KeyCreateGet", testKMSKeyCreateGet},
		{"KMS/KeyUpdateDelete", testKMSKeyUpdateDelete},
		{"KMS/KeyList", testKMSKeyList},
		{"KMS/Aliases", testKMSAliases},
		{"Accounts/DeleteKMS", testAccountDeleteKMS},
		{"KMS/GrantCreateGet", testKMSGrantCreateGet},
		{"KMS/GrantList", testKMSGrantList},
		{"KMS/GrantDelete", testKMSGrantDelete},
		{"Accounts/DeleteKMSGrants", testAccountDeleteKMSGrants},
		{"Chunks/Touch", testChunkTouch},
		{"Chunks/List", testChunkList},
		{"Chunks/Deleting", testChunkDeleting},
		{"Chunks/Claim", testChunkClaim},
		{"Chunks/TouchLarge", testChunkTouchLarge},
		{"Nodes", testNodes},
		{"Tx/Rollback", testRollback},
		{"Tx/ContinueAfterDuplicate", testContinueAfterDuplicate},
		{"Tx/ViewReadOnly", testViewReadOnly},
		{"Tx/ViewIsolation", testViewIsolation},
		{"Tx/ConcurrentUpdates", testConcurrentUpdates},
		{"Tx/Canceled", testCanceled},
		{"Timestamps", testTimestamps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// Fixtures.

const (
	acct1   = "111111111111"
	acct2   = "222222222222"
	region1 = "us-east-1"
	region2 = "eu-west-1"
)

// t0 is a creation time with nanoseconds and a zone other than UTC, so that
// a store that drops either is caught.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 5*3600+30*60))

func account(id, name string) openami.Account {
	return openami.Account{ID: id, Name: name, Status: openami.AccountActive, CreatedAt: t0}
}

func keyPair(region, acct, id, name string) openami.KeyPair {
	return openami.KeyPair{
		ID: id, Region: region, AccountID: acct, Name: name,
		Type:        openami.KeyTypeED25519,
		Fingerprint: "SHA256:" + name,
		PublicKey:   "ssh-ed25519 AAAA " + name,
		CreatedAt:   t0,
	}
}

func update(t *testing.T, s metadata.Store, fn func(metadata.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s metadata.Store, fn func(metadata.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// updateErr runs fn in Update and returns the error fn got, checking that
// Update returned it unchanged.
func updateErr(t *testing.T, s metadata.Store, fn func(metadata.Tx) error) error {
	t.Helper()
	var got error
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		got = fn(tx)
		return got
	})
	if err != got {
		t.Fatalf("Update returned %v, want the function's error %v unchanged", err, got)
	}
	return got
}

// wantClass fails the test unless err is an *openami.Error of the class and
// resource type.
func wantClass(t *testing.T, err error, class openami.Class, res openami.ResourceType) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %q", class, res)
	}
	var sentinel error
	switch class {
	case openami.NotFound:
		sentinel = openami.ErrNotFound
	case openami.Duplicate:
		sentinel = openami.ErrDuplicate
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q: errors.Is(err, %v) is false", err, sentinel)
	}
	if got := openami.ClassOf(err); got != class {
		t.Fatalf("error %q has class %s, want %s", err, got, class)
	}
	if got := openami.ResourceOf(err); got != res {
		t.Fatalf("error %q is about %q, want %q", err, got, res)
	}
}

func wantMessage(t *testing.T, err error, want string) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Message != want {
		t.Fatalf("error %q: message %q, want %q", err, messageOf(err), want)
	}
}

func messageOf(err error) string {
	var e *openami.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// utc returns a's times as the store returns them.
func utcAccount(a openami.Account) openami.Account { a.CreatedAt = a.CreatedAt.UTC(); return a }
func utcKey(k openami.AccessKey) openami.AccessKey { k.CreatedAt = k.CreatedAt.UTC(); return k }
func utcKeyPair(k openami.KeyPair) openami.KeyPair { k.CreatedAt = k.CreatedAt.UTC(); return k }

// Accounts.

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

// Key pairs.

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

// Tags.

func tagsOf(t *testing.T, s metadata.Store, region, acct string, ids ...string) map[string][]openami.Tag {
	t.Helper()
	var m map[string][]openami.Tag
	view(t, s, func(tx metadata.Tx) error {
		var err error
		m, err = tx.Tags().Of(region, acct, ids)
		return err
	})
	return m
}

func testTagsSetOf(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Tags().Set(region1, acct1, "ami-1", openami.ResourceImage, []openami.Tag{
			{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "B", Value: "3"},
		}); err != nil {
			return err
		}
		// Overwrite one, add one; the last of a repeated key wins.
		if err := tx.Tags().Set(region1, acct1, "ami-1", openami.ResourceImage, []openami.Tag{
			{Key: "a", Value: "x"}, {Key: "c", Value: ""}, {Key: "a", Value: "new"},
		}); err != nil {
			return err
		}
		return tx.Tags().Set(region1, acct1, "snap-1", openami.ResourceSnapshot, []openami.Tag{{Key: "k", Value: "v"}})
	})
	got := tagsOf(t, s, region1, acct1, "ami-1", "snap-1", "vol-untagged")
	equal(t, "Of", got, map[string][]openami.Tag{
		"ami-1":  {{Key: "B", Value: "3"}, {Key: "a", Value: "new"}, {Key: "b", Value: "1"}, {Key: "c", Value: ""}},
		"snap-1": {{Key: "k", Value: "v"}},
	})
	if m := tagsOf(t, s, region1, acct1); len(m) != 0 {
		t.Errorf("Of no resources: %v", m)
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().Set(region1, acct1, "ami-2", openami.ResourceImage, nil) })
	if m := tagsOf(t, s, region1, acct1, "ami-2"); len(m) != 0 {
		t.Errorf("Set of no tags made %v", m)
	}
}

func testTagsDelete(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"ami-1", "ami-2"} {
			if err := tx.Tags().Set(region1, acct1, id, openami.ResourceImage, []openami.Tag{
				{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"},
			}); err != nil {
				return err
			}
		}
		return nil
	})
	two, wrong := "2", "wrong"
	update(t, s, func(tx metadata.Tx) error {
		return tx.Tags().Delete(region1, acct1, "ami-1", []metadata.TagKey{
			{Key: "a"},                // by key
			{Key: "b", Value: &two},   // by key and matching value
			{Key: "c", Value: &wrong}, // value does not match: kept
			{Key: "zzz"},              // no such key: ignored
		})
	})
	equal(t, "Of after Delete", tagsOf(t, s, region1, acct1, "ami-1", "ami-2"), map[string][]openami.Tag{
		"ami-1": {{Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
		"ami-2": {{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().DeleteAll(region1, acct1, "ami-1") })
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().DeleteAll(region1, acct1, "ami-none") })
	equal(t, "Of after DeleteAll", tagsOf(t, s, region1, acct1, "ami-1", "ami-2"), map[string][]openami.Tag{
		"ami-2": {{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
	})
}

func testTagsPartitioned(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, r := range []string{region1, region2} {
			for _, a := range []string{acct1, acct2} {
				if err := tx.Tags().Set(r, a, "ami-1", openami.ResourceImage, []openami.Tag{{Key: "where", Value: r + "/" + a}}); err != nil {
					return err
				}
			}
		}
		return tx.Tags().DeleteAll(region2, acct2, "ami-1")
	})
	for _, c := range []struct{ r, a string }{{region1, acct1}, {region1, acct2}, {region2, acct1}} {
		equal(t, "Of "+c.r+"/"+c.a, tagsOf(t, s, c.r, c.a, "ami-1"), map[string][]openami.Tag{
			"ami-1": {{Key: "where", Value: c.r + "/" + c.a}},
		})
	}
	if m := tagsOf(t, s, region2, acct2, "ami-1"); len(m) != 0 {
		t.Errorf("DeleteAll in one region and account left %v", m)
	}
}

// scanFixture tags 10 resources of two types with 3 keys each, in one region
// and account, plus noise elsewhere, and returns the rows in scan order.
func scanFixture(t *testing.T, s metadata.Store) []metadata.TagRow {
	var all []metadata.TagRow
	update(t, s, func(tx metadata.Tx) error {
		for i := range 10 {
			id, typ := fmt.Sprintf("ami-%02d", i), openami.ResourceImage
			if i%2 == 1 {
				id, typ = fmt.Sprintf("snap-%02d", i), openami.ResourceSnapshot
			}
			var ts []openami.Tag
			for _, k := range []string{"k1", "k2", "k3"} {
				ts = append(ts, openami.Tag{Key: k, Value: id + k})
				all = append(all, metadata.TagRow{ResourceID: id, ResourceType: typ, Key: k, Value: id + k})
			}
			if err := tx.Tags().Set(region1, acct1, id, typ, ts); err != nil {
				return err
			}
			if err := tx.Tags().Set(region2, acct1, id, typ, ts); err != nil {
				return err
			}
			if err := tx.Tags().Set(region1, acct2, id, typ, ts); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(all, func(a, b metadata.TagRow) int {
		if a.ResourceID != b.ResourceID {
			if a.ResourceID < b.ResourceID {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return all
}

// scanAll pages through the scan q, limit rows at a time, and returns every
// row and the number of pages.
func scanAll(t *testing.T, s metadata.Store, q metadata.TagScan, limit int) ([]metadata.TagRow, int) {
	t.Helper()
	var rows []metadata.TagRow
	pages := 0
	for {
		q.Limit = limit
		var page []metadata.TagRow
		view(t, s, func(tx metadata.Tx) error {
			var err error
			page, err = tx.Tags().Scan(region1, acct1, q)
			return err
		})
		pages++
		if len(page) > limit && limit > 0 {
			t.Fatalf("Scan with Limit %d returned %d rows", limit, len(page))
		}
		rows = append(rows, page...)
		if limit == 0 || len(page) < limit {
			return rows, pages
		}
		last := page[len(page)-1]
		q.AfterResourceID, q.AfterKey = last.ResourceID, last.Key
		if pages > 1000 {
			t.Fatal("Scan does not advance")
		}
	}
}

func testTagsScanPages(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	got, pages := scanAll(t, s, metadata.TagScan{}, 0)
	equal(t, "Scan without limit", got, all)
	if pages != 1 {
		t.Errorf("Scan without limit took %d pages", pages)
	}
	for _, limit := range []int{1, 4, 7, 30, 31} {
		got, pages := scanAll(t, s, metadata.TagScan{}, limit)
		equal(t, fmt.Sprintf("Scan with Limit %d", limit), got, all)
		if want := len(all)/limit + 1; pages != want {
			t.Errorf("Scan with Limit %d took %d pages, want %d", limit, pages, want)
		}
	}
	// Starting in the middle of a resource's tags, and after a position
	// that is not itself a row.
	view(t, s, func(tx metadata.Tx) error {
		page, err := tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "ami-02", AfterKey: "k2", Limit: 2})
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(r metadata.TagRow) bool { return r.ResourceID == "ami-02" && r.Key == "k2" })
		equal(t, "Scan after ami-02/k2", page, all[i+1:i+3])
		page, err = tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "ami-03", AfterKey: "", Limit: 1})
		if err != nil {
			return err
		}
		i = slices.IndexFunc(all, func(r metadata.TagRow) bool { return r.ResourceID == "ami-04" && r.Key == "k1" })
		equal(t, "Scan after ami-03", page, all[i:i+1])
		page, err = tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "zzz"})
		if err != nil {
			return err
		}
		if len(page) != 0 {
			t.Errorf("Scan after the end: %v", page)
		}
		return nil
	})
}

func filterRows(rows []metadata.TagRow, keep func(metadata.TagRow) bool) []metadata.TagRow {
	var out []metadata.TagRow
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func testTagsScanNarrow(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	cases := []struct {
		name string
		q    metadata.TagScan
		keep func(metadata.TagRow) bool
	}{
		{"ResourceIDs", metadata.TagScan{ResourceIDs: []string{"snap-03", "ami-04", "ami-99"}},
			func(r metadata.TagRow) bool { return r.ResourceID == "snap-03" || r.ResourceID == "ami-04" }},
		{"ResourceTypes", metadata.TagScan{ResourceTypes: []openami.ResourceType{openami.ResourceSnapshot}},
			func(r metadata.TagRow) bool { return r.ResourceType == openami.ResourceSnapshot }},
		{"Keys", metadata.TagScan{Keys: []string{"k3", "k1"}},
			func(r metadata.TagRow) bool { return r.Key != "k2" }},
		{"All three", metadata.TagScan{
			ResourceIDs:   []string{"ami-00", "ami-02", "snap-05"},
			ResourceTypes: []openami.ResourceType{openami.ResourceImage, openami.ResourceVolume},
			Keys:          []string{"k2"},
		}, func(r metadata.TagRow) bool {
			return (r.ResourceID == "ami-00" || r.ResourceID == "ami-02") && r.Key == "k2"
		}},
		{"Nothing matches", metadata.TagScan{Keys: []string{"nope"}},
			func(metadata.TagRow) bool { return false }},
	}
	for _, c := range cases {
		want := filterRows(all, c.keep)
		for _, limit := range []int{0, 1, 2, 5} {
			got, _ := scanAll(t, s, c.q, limit)
			equal(t, fmt.Sprintf("%s, Limit %d", c.name, limit), got, want)
		}
	}
}

// testTagsScanLongLists narrows by more values than fit one SQL statement
// comfortably, which an implementation may handle differently.
func testTagsScanLongLists(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	ids := []string{"snap-07", "ami-02"}
	keys := []string{"k2"}
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("vol-%05d", i))
		keys = append(keys, fmt.Sprintf("x%05d", i))
	}
	want := filterRows(all, func(r metadata.TagRow) bool {
		return (r.ResourceID == "snap-07" || r.ResourceID == "ami-02") && r.Key == "k2"
	})
	for _, limit := range []int{0, 1} {
		got, _ := scanAll(t, s, metadata.TagScan{ResourceIDs: ids, Keys: keys}, limit)
		equal(t, fmt.Sprintf("Scan with long lists, Limit %d", limit), got, want)
	}
	m := tagsOf(t, s, region1, acct1, ids...)
	if len(m) != 2 || len(m["snap-07"]) != 3 || len(m["ami-02"]) != 3 {
		t.Errorf("Of with a long list: %v", m)
	}
}

// Settings.

func testSettings(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Settings().Get("secret")
		return err
	})
	wantClass(t, err, openami.NotFound, "")

	get := func(key string) []byte {
		var v []byte
		view(t, s, func(tx metadata.Tx) error {
			var err error
			v, err = tx.Settings().Get(key)
			return err
		})
		return v
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("a", []byte{0, 1, 0xfe}) })
	equal(t, "Get after Put", get("a"), []byte{0, 1, 0xfe})
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("a", []byte("second")) })
	equal(t, "Get after second Put", get("a"), []byte("second"))
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("empty", nil) })
	if v := get("empty"); len(v) != 0 {
		t.Errorf("Get of an empty value: %q", v)
	}

	var v1, v2 []byte
	update(t, s, func(tx metadata.Tx) error {
		var err error
		v1, err = tx.Settings().PutIfAbsent("b", []byte("first"))
		return err
	})
	update(t, s, func(tx metadata.Tx) error {
		var err error
		v2, err = tx.Settings().PutIfAbsent("b", []byte("later"))
		return err
	})
	equal(t, "PutIfAbsent of an absent setting", v1, []byte("first"))
	equal(t, "PutIfAbsent of a set setting", v2, []byte("first"))
	equal(t, "Get after PutIfAbsent", get("b"), []byte("first"))

	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Delete("b") })
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Delete("never-set") })
	s.View(context.Background(), func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("b"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want NotFound", err)
		}
		return nil
	})
}

// Transactions.

func testRollback(t *testing.T, s metadata.Store) {
	errBoom := errors.New("boom")
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		if err := tx.Accounts().Create(account(acct1, "alice")); err != nil {
			return err
		}
		if err := tx.Settings().Put("k", []byte("v")); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if _, err := tx.Accounts().Get(acct1); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update returned %v, want the function's error unchanged", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Accounts().Get(acct1); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("account created in a rolled back transaction: Get returned %v", err)
		}
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("setting put in a rolled back transaction: Get returned %v", err)
		}
		return nil
	})
}

// testContinueAfterDuplicate checks that a documented failure leaves the
// transaction usable: a function may handle Duplicate and carry on.
func testContinueAfterDuplicate(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct1, "alice")) })
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Accounts().Create(account(acct1, "alice")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate: %v", err)
		}
		if err := tx.KeyPairs().Create(keyPair(region1, acct1, "key-1", "k")); err != nil {
			return err
		}
		if err := tx.KeyPairs().Create(keyPair(region1, acct1, "key-2", "k")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate key pair: %v", err)
		}
		if err := tx.Accounts().CreateKey(openami.AccessKey{ID: "AKIA", AccountID: acct2, SealedSecret: []byte("x")}); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("CreateKey for a missing account: %v", err)
		}
		if err := tx.KeyPairs().Delete(region1, acct1, "key-none"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Delete of a missing key pair: %v", err)
		}
		return tx.Settings().Put("after", []byte("yes"))
	})
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("after")
		if err != nil {
			return err
		}
		equal(t, "setting put after handled failures", v, []byte("yes"))
		return nil
	})
}

func testViewReadOnly(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		return tx.Settings().Put("k", []byte("v"))
	})
	if err == nil {
		t.Error("Put inside View succeeded")
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Put inside View was kept: Get returned %v", err)
		}
		return nil
	})
}

func testViewIsolation(t *testing.T, s metadata.Store) {
	written := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx metadata.Tx) error {
			if err := tx.Settings().Put("k", []byte("v")); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if v, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("View saw an uncommitted write: %q, %v", v, err)
		}
		return nil
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("k")
		if err != nil {
			return err
		}
		equal(t, "Get after commit", v, []byte("v"))
		return nil
	})
}

func testConcurrentUpdates(t *testing.T, s metadata.Store) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.Update(context.Background(), func(tx metadata.Tx) error {
				v, err := tx.Settings().Get("counter")
				if err != nil && !errors.Is(err, openami.ErrNotFound) {
					return err
				}
				c := 0
				if err == nil {
					fmt.Sscan(string(v), &c)
				}
				return tx.Settings().Put("counter", []byte(fmt.Sprint(c+1)))
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Update: %v", err)
		}
	}
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil {
			return err
		}
		equal(t, "counter", string(v), fmt.Sprint(n))
		return nil
	})
}

func testCanceled(t *testing.T, s metadata.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx metadata.Tx) error {
		ran = true
		return tx.Settings().Put("k", []byte("v"))
	})
	if err == nil {
		t.Fatal("Update with a canceled context succeeded")
	}
	if ran && !errors.Is(err, context.Canceled) {
		t.Logf("Update with a canceled context: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Update with a canceled context was kept: %v", err)
		}
		return nil
	})
}

func testTimestamps(t *testing.T, s metadata.Store) {
	times := []time.Time{
		t0,
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 1, time.FixedZone("Y", -8*3600)),
		time.Now(), // with a monotonic reading, which must not matter
	}
	update(t, s, func(tx metadata.Tx) error {
		for i, at := range times {
			id := fmt.Sprintf("%012d", i)
			a := account(id, id)
			a.CreatedAt = at
			if err := tx.Accounts().Create(a); err != nil {
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
		for i, a := range list {
			if !a.CreatedAt.Equal(times[i]) {
				t.Errorf("time %d: got %v, want %v", i, a.CreatedAt, times[i])
			}
			if a.CreatedAt.Location() != time.UTC {
				t.Errorf("time %d: location %v, want UTC", i, a.CreatedAt.Location())
			}
		}
		return nil
	})
}

// testViewSerial checks that ViewSerial sees committed writes, rolls back
// nothing, and returns fn's error unchanged.
func testViewSerial(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("serial", []byte("1")) })
	var got []byte
	err := s.ViewSerial(context.Background(), func(tx metadata.Tx) error {
		var err error
		got, err = tx.Settings().Get("serial")
		return err
	})
	if err != nil || string(got) != "1" {
		t.Fatalf("ViewSerial read %q, %v", got, err)
	}
	sentinel := errors.New("mine")
	if err := s.ViewSerial(context.Background(), func(metadata.Tx) error { return sentinel }); err != sentinel {
		t.Fatalf("ViewSerial returned %v, want fn's error", err)
	}
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
