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
//
// The tests live one file per record family: accounts.go (accounts and
// access keys), keypairs.go, tags.go, settings.go, snapshots.go and
// snapshots_list.go, certificates.go (signing certificates and region
// keys), parameters.go (SSM parameters), volumes.go, blocks.go (the blocks of pending snapshots
// and of volume overlays), instances.go, networks.go (VPCs, subnets and
// security groups), objects.go (buckets, objects, multipart uploads), images.go, image_permissions.go
// security groups), launchtemplates.go, images.go, image_permissions.go
// and images_list.go, kms.go and grants.go (KMS keys, aliases and grants),
// chunks.go (chunks and block-map nodes), leases.go, and tx.go (transactions,
// ViewSerial and timestamps). This file holds Run and the fixtures the
// families share.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
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
		{"Certificates/Signing", testSigningCertificates},
		{"Certificates/RegionKeys", testRegionKeys},
		{"Parameters/Versions", testParameterVersions},
		{"Parameters/List", testParameterList},
		{"Parameters/AccountDelete", testParameterAccountDelete},
		{"ImportTasks", testImportTasks},
		{"ExportTasks", testExportTasks},
		{"Hosts", testHosts},
		{"Tags/SetOf", testTagsSetOf},
		{"Tags/Delete", testTagsDelete},
		{"Tags/Partitioned", testTagsPartitioned},
		{"Tags/ScanPages", testTagsScanPages},
		{"Tags/ScanNarrow", testTagsScanNarrow},
		{"Tags/ScanLongLists", testTagsScanLongLists},
		{"Settings", testSettings},
		{"Leases/Holders", testLeasesHolders},
		{"Leases/Expiry", testLeasesExpiry},
		{"Leases/Fence", testLeasesFence},
		{"Leases/Race", testLeasesRace},
		{"Leases/Purge", testLeasesPurge},
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
		{"Snapshots/Tiering", testSnapshotTiering},
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
		{"Networks/VPCs", testNetworkVPCs},
		{"Networks/Subnets", testNetworkSubnets},
		{"Networks/Groups", testNetworkGroups},
		{"Networks/DeleteAccount", testNetworkDeleteAccount},
		{"Objects/Buckets", testBuckets},
		{"Objects/Objects", testObjects},
		{"Objects/Uploads", testUploads},
		{"LaunchTemplates/Templates", testLaunchTemplates},
		{"LaunchTemplates/Versions", testLaunchTemplateVersions},
		{"LaunchTemplates/DeleteAccount", testLaunchTemplatesDeleteAccount},
		{"AutoScaling/Groups", testAutoScalingGroups},
		{"Instances/PublicIPs", testInstancePublicIPs},
		{"Instances/BundleTasks", testBundleTasks},
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
	acct3   = "333333333333"
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

// digest returns a distinct digest for each i.
func digest(i int) openami.Digest { return sha256.Sum256(fmt.Appendf(nil, "block %d", i)) }

func utcTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func viewErr(s metadata.Store, fn func(metadata.Tx) error) error {
	return s.View(context.Background(), fn)
}

// pageIDs pages through a listing from after, limit at a time, with list
// returning the ids of the page after an id, and returns all the ids.
func pageIDs(t *testing.T, limit int, after string, list func(after string) []string) []string {
	t.Helper()
	ids := []string{}
	for pages := 0; ; pages++ {
		page := list(after)
		if len(page) > limit {
			t.Fatalf("List with Limit %d returned %d", limit, len(page))
		}
		ids = append(ids, page...)
		if len(page) < limit {
			return ids
		}
		after = page[len(page)-1]
		if pages > 1000 {
			t.Fatal("List does not advance")
		}
	}
}
