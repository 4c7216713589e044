package kms

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// TestKMSDescribeManagedAlias: DescribeKey of alias/aws/ebs before any EBS
// use makes the account's AWS managed key, once, in the caller's account
// and region; concurrent first references make one key; the alias ARN
// names it too; another account's alias is never made for the caller;
// an alias/aws/ name openami does not predefine stays NotFound.
func TestKMSDescribeManagedAlias(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(metadata.Store) metadata.Store
	}{
		{"store", nil},
		{"store that reruns transactions", func(s metadata.Store) metadata.Store { return retryStore{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixtureWith(t, nil, tc.wrap)
			// Before: the predefined alias is listed, with no key, among
			// the caller's own, in name order and across pages.
			k1, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"alias/a", "alias/zz"} {
				if err := f.keys.CreateAlias(ctx, f.p, name, k1.ID); err != nil {
					t.Fatal(err)
				}
			}
			var listed []string
			for marker, first := "", true; first || marker != ""; first = false {
				var page []openami.KeyAlias
				page, marker, err = f.keys.ListAliases(ctx, f.p, "", 1, marker)
				if err != nil || len(page) != 1 {
					t.Fatalf("ListAliases page of 1: %v %v", page, err)
				}
				if page[0].Name == "alias/aws/ebs" && (page[0].TargetKeyID != "" || !page[0].CreatedAt.IsZero()) {
					t.Fatalf("the predefined alias before its key: %+v", page[0])
				}
				listed = append(listed, page[0].Name)
			}
			if want := []string{"alias/a", "alias/aws/ebs", "alias/zz"}; !slices.Equal(listed, want) {
				t.Fatalf("ListAliases before the first reference: %v, want %v", listed, want)
			}
			if of, _, err := f.keys.ListAliases(ctx, f.p, k1.ID, 0, ""); err != nil || len(of) != 2 {
				t.Fatalf("ListAliases of a key lists no predefined alias: %v %v", of, err)
			}
			const n = 8
			got := make([]openami.Key, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = f.keys.DescribeKey(ctx, f.p, "alias/aws/ebs")
				}()
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("DescribeKey(alias/aws/ebs) #%d: %v", i, errs[i])
				}
				if got[i].ID != got[0].ID {
					t.Fatalf("concurrent first references made two keys: %s and %s", got[0].ID, got[i].ID)
				}
			}
			k := got[0]
			if k.Manager != openami.KeyManagerAWS || k.State != openami.KeyEnabled || k.AccountID != f.p.AccountID || k.Region != f.p.Region {
				t.Fatalf("managed key %+v", k)
			}
			keys, _, err := f.keys.ListKeys(ctx, f.p, 0, "")
			if err != nil || len(keys) != 2 || !slices.ContainsFunc(keys, func(x openami.Key) bool { return x.ID == k.ID }) {
				t.Fatalf("ListKeys after the first reference: %v %v", keys, err)
			}
			aliases, _, err := f.keys.ListAliases(ctx, f.p, "", 0, "")
			if err != nil || len(aliases) != 3 || aliases[1].Name != "alias/aws/ebs" || aliases[1].TargetKeyID != k.ID || aliases[1].CreatedAt.IsZero() {
				t.Fatalf("ListAliases after the first reference: %v %v", aliases, err)
			}
			byARN, err := f.keys.DescribeKey(ctx, f.p, openami.AliasARN(f.p.Region, f.p.AccountID, "alias/aws/ebs"))
			if err != nil || byARN.ID != k.ID {
				t.Fatalf("DescribeKey by alias ARN: %+v %v, want %s", byARN, err, k.ID)
			}
			if _, err := f.keys.KeyPolicy(ctx, f.p, "alias/aws/ebs", ""); err != nil {
				t.Fatalf("GetKeyPolicy of the managed key: %v", err)
			}
			// The account may read the key, not manage it.
			if err := f.keys.DisableKey(ctx, f.p, k.ID); openami.ClassOf(err) != openami.Unauthorized {
				t.Fatalf("DisableKey of the managed key: %v, want Unauthorized", err)
			}

			// Another region of the same account gets its own key.
			west := f.p
			west.Region = "us-west-2"
			wk, err := f.keys.DescribeKey(ctx, west, "alias/aws/ebs")
			if err != nil || wk.ID == k.ID || wk.Region != "us-west-2" {
				t.Fatalf("DescribeKey in us-west-2: %+v %v", wk, err)
			}

			// Another account's alias ARN: not made on the caller's behalf.
			other := f.newAccount(t, "other")
			if _, err := f.keys.DescribeKey(ctx, f.p, openami.AliasARN(other.Region, other.AccountID, "alias/aws/ebs")); openami.ClassOf(err) != openami.Unauthorized {
				t.Fatalf("DescribeKey of another account's alias/aws/ebs: %v, want Unauthorized (AccessDenied)", err)
			}
			if keys, _, err := f.keys.ListKeys(ctx, other, 0, ""); err != nil || len(keys) != 0 {
				t.Fatalf("the other account's keys: %v %v, want none", keys, err)
			}
			if _, err := f.keys.DescribeKey(ctx, f.p, "alias/aws/nothing"); openami.ClassOf(err) != openami.NotFound {
				t.Fatalf("DescribeKey(alias/aws/nothing): %v, want NotFound", err)
			}
			if _, err := f.keys.DescribeKey(ctx, f.p, "alias/plain"); openami.ClassOf(err) != openami.NotFound {
				t.Fatalf("DescribeKey(alias/plain): %v, want NotFound", err)
			}
		})
	}
}
