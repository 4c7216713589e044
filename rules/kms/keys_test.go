package kms

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

// TestKMSKeyDeletion: a key scheduled for deletion answers as deleted once
// its waiting period is over, with its aliases, even before its row is
// purged; PurgeDeletedKeys then removes the rows, and only those.
func TestKMSKeyDeletion(t *testing.T) {
	ctx := context.Background()
	clock := rulestest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	f := newFixture(t, clock)
	doomed, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.keys.CreateAlias(ctx, f.p, "alias/doomed", doomed.ID); err != nil {
		t.Fatal(err)
	}
	blob, _, err := f.keys.Encrypt(ctx, f.p, EncryptInput{KeyID: "alias/doomed", Plaintext: []byte("bye")})
	if err != nil {
		t.Fatal(err)
	}
	days := 7
	k, err := f.keys.ScheduleKeyDeletion(ctx, f.p, doomed.ID, &days)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(7 * 24 * time.Hour); !k.DeletionDate.Equal(want) || k.State != openami.KeyPendingDeletion {
		t.Fatalf("scheduled: %s %s, want PendingDeletion at %s", k.State, k.DeletionDate, want)
	}

	clock.Add(7*24*time.Hour - time.Second)
	if _, err := f.keys.DescribeKey(ctx, f.p, "alias/doomed"); err != nil {
		t.Fatalf("a second before the deletion date: %v", err)
	}
	if _, err := f.keys.CancelKeyDeletion(ctx, f.p, doomed.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.ScheduleKeyDeletion(ctx, f.p, doomed.ID, &days); err != nil {
		t.Fatal(err)
	}
	clock.Add(7 * 24 * time.Hour)

	if _, err := f.keys.DescribeKey(ctx, f.p, doomed.ID); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("DescribeKey after the deletion date: %v, want NotFound", err)
	}
	if _, err := f.keys.DescribeKey(ctx, f.p, "alias/doomed"); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("DescribeKey by alias after the deletion date: %v, want NotFound", err)
	}
	if _, err := f.keys.CancelKeyDeletion(ctx, f.p, doomed.ID); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("CancelKeyDeletion after the deletion date: %v, want NotFound", err)
	}
	if _, _, err := f.keys.Decrypt(ctx, f.p, DecryptInput{Ciphertext: blob}); openami.ReasonOf(err) != openami.ReasonCiphertext {
		t.Fatalf("Decrypt under a deleted key: %v, want InvalidCiphertext", err)
	}
	keys, _, err := f.keys.ListKeys(ctx, f.p, 0, "")
	if err != nil || len(keys) != 1 || keys[0].ID != kept.ID {
		t.Fatalf("ListKeys after the deletion date: %v %v", keys, err)
	}
	aliases, _, err := f.keys.ListAliases(ctx, f.p, "", 0, "")
	if err != nil || len(aliases) != 1 || aliases[0].Name != EBSManagedAlias || aliases[0].TargetKeyID != "" {
		t.Fatalf("ListAliases after the deletion date: %v %v, want only the predefined alias/aws/ebs", aliases, err)
	}
	// The alias name is free again once the key is purged.
	n, err := f.keys.PurgeDeletedKeys(ctx)
	if err != nil || n != 1 {
		t.Fatalf("PurgeDeletedKeys: %d, %v; want 1", n, err)
	}
	f.store.View(ctx, func(tx metadata.Tx) error {
		if _, err := tx.Keys().Get("us-east-1", doomed.ID); openami.ClassOf(err) != openami.NotFound {
			t.Errorf("purged key's row: %v", err)
		}
		if _, err := tx.Keys().Get("us-east-1", kept.ID); err != nil {
			t.Errorf("kept key's row: %v", err)
		}
		return nil
	})
	if err := f.keys.CreateAlias(ctx, f.p, "alias/doomed", kept.ID); err != nil {
		t.Fatalf("alias name after the purge: %v", err)
	}
}

// TestKMSMaterialAtRest: the store holds a key's material only sealed, and
// a key whose sealed material is damaged fails as a server fault, not as
// the caller's bad ciphertext.
func TestKMSMaterialAtRest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	k, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	var stored openami.Key
	f.store.View(ctx, func(tx metadata.Tx) error {
		stored, err = tx.Keys().Get("us-east-1", k.ID)
		return err
	})
	material, err := openKeyMaterial(f.keys.seal, stored)
	if err != nil {
		t.Fatal(err)
	}
	blob, _, err := f.keys.Encrypt(ctx, f.p, EncryptInput{KeyID: k.ID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := parseCiphertext(blob)
	if pt, err := decryptBlob(parsed, material, nil); err != nil || string(pt) != "x" {
		t.Fatalf("the sealed material is not the key's: %v", err)
	}
	// Sealed material moved to another key's row does not open.
	other, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	err = f.store.Update(ctx, func(tx metadata.Tx) error {
		if err := tx.Keys().Delete("us-east-1", other.ID); err != nil {
			return err
		}
		moved := other
		moved.SealedMaterial = stored.SealedMaterial
		return tx.Keys().Create(moved)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.keys.Encrypt(ctx, f.p, EncryptInput{KeyID: other.ID, Plaintext: []byte("x")})
	if err == nil || openami.ClassOf(err) != openami.Internal {
		t.Fatalf("Encrypt with moved material: %v, want an internal error", err)
	}
}

// TestKMSResealKeyMaterial: after the master key changes, ResealKeyMaterial
// with the old key makes every KMS key usable again under the new one, and
// ciphertexts made before still decrypt.
func TestKMSResealKeyMaterial(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var blobs [][]byte
	for range 3 {
		k, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		blob, _, err := f.keys.Encrypt(ctx, f.p, EncryptInput{KeyID: k.ID, Plaintext: []byte(k.ID)})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, blob)
	}
	old := f.keys.seal
	// The same store under a new master key.
	next, _ := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	f.keys.seal = next
	if _, _, err := f.keys.Decrypt(ctx, f.p, DecryptInput{Ciphertext: blobs[0]}); openami.ClassOf(err) != openami.Internal {
		t.Fatalf("Decrypt before resealing: %v, want an internal error", err)
	}
	for round, want := range []int{3, 0} { // the second run finds nothing to do
		n, err := f.keys.ResealKeyMaterial(ctx, old)
		if err != nil || n != want {
			t.Fatalf("ResealKeyMaterial round %d: %d, %v; want %d", round, n, err, want)
		}
	}
	for _, blob := range blobs {
		pt, k, err := f.keys.Decrypt(ctx, f.p, DecryptInput{Ciphertext: blob})
		if err != nil || string(pt) != k.ID {
			t.Fatalf("Decrypt after resealing: %q, %v", pt, err)
		}
	}
	// A key neither master key opens stops the run.
	third, _ := seal.New(bytes.Repeat([]byte{3}, seal.KeySize))
	f.keys.seal = third
	if _, err := f.keys.ResealKeyMaterial(ctx, old); err == nil {
		t.Fatal("ResealKeyMaterial with the wrong old key succeeded")
	}
}

// TestKMSResealRetriedAndUnserved re-seals through a store that runs every
// transaction twice (as PostgreSQL does after a conflict) and with a key in
// a region the service does not serve: every key must come out under the
// new master key. (service's TestResealAccessKeysRetried does the same for
// access keys.)
func TestKMSResealRetriedAndUnserved(t *testing.T) {
	ctx := context.Background()
	f := newFixtureWith(t, nil, func(s metadata.Store) metadata.Store { return retryStore{s} })
	for range 3 {
		if _, err := f.keys.CreateKey(ctx, f.p, CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	}
	old := f.keys.seal
	far := openami.Key{ID: "00000000-0000-4000-8000-000000000001", Region: "ap-south-1", AccountID: f.p.AccountID,
		Usage: keyUsageEncryptDecrypt, Spec: keySpecSymmetric, State: openami.KeyEnabled, Policy: defaultKeyPolicy(f.p.AccountID),
		CreatedAt: f.clock.Now().UTC()}
	far.SealedMaterial = newKeyMaterial(old, far.Region, far.AccountID, far.ID)
	if err := f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Keys().Create(far) }); err != nil {
		t.Fatal(err)
	}
	next, _ := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	f.keys.seal = next
	n, err := f.keys.ResealKeyMaterial(ctx, old)
	if err != nil || n != 4 {
		t.Fatalf("ResealKeyMaterial = %d, %v; want 4", n, err)
	}
	f.store.View(ctx, func(tx metadata.Tx) error {
		for _, region := range []string{"us-east-1", "ap-south-1"} {
			keys, _ := tx.Keys().List(region, f.p.AccountID, "", 0)
			for _, k := range keys {
				if _, err := openKeyMaterial(next, k); err != nil {
					t.Errorf("key %s of %s is not under the new master key", k.ID, region)
				}
			}
		}
		return nil
	})
}
