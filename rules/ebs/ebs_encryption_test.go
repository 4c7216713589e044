package ebs

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/rulestest"
)

// encryptedSnapshot writes blocks into a new snapshot started with the
// given encryption, completes it and builds its map.
func (f *fixture) encryptedSnapshot(t *testing.T, in StartSnapshotInput, blocks map[int64][]byte) openami.Snapshot {
	t.Helper()
	return f.putSnapshot(t, f.p, in, blocks, true)
}

// waitCompleted runs the background work the worker would (copies, then
// the maps of completing snapshots) and returns the snapshot, which must
// be completed by then.
func (f *fixture) waitCompleted(t *testing.T, region, id string) openami.Snapshot {
	t.Helper()
	f.runCopies(t)
	sn := f.snapshot(t, region, id)
	if sn.State != openami.SnapshotCompleted {
		t.Fatalf("snapshot %s is %s (%s), want completed", id, sn.State, sn.StateReason)
	}
	return sn
}

// waitVolume runs the fills the worker would, and returns the volume.
func (f *fixture) waitVolume(t *testing.T, p openami.Principal, id string) openami.Volume {
	t.Helper()
	f.runFills(t)
	var v openami.Volume
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		v, err = f.vols.Volume(tx, p.Region, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readSnapshotBlock reads block i of a snapshot through GetSnapshotBlock
// and checks the checksum it answers.
func (f *fixture) readSnapshotBlock(t *testing.T, p openami.Principal, id string, i int64) []byte {
	t.Helper()
	tok := f.blockToken(t, p, id, i)
	buf := make([]byte, openami.BlockSize)
	sum, err := f.vols.GetSnapshotBlock(context.Background(), p, id, i, tok, buf)
	if err != nil {
		t.Fatal(err)
	}
	if sum != rulestest.Checksum(buf) {
		t.Fatalf("GetSnapshotBlock checksum %s is not the block's SHA-256", sum)
	}
	return buf
}

// wantEBSKeyError fails unless err is an error of the class about the
// KMS key EBS may not use.
var wantEBSKeyError = rulestest.WantEBSKeyError

// plaintextAtRest reports which file under dir holds a 64-byte window of
// any of the blocks.
var plaintextAtRest = rulestest.PlaintextAtRest

// TestEncryptedSnapshotsAndVolumes follows encrypted data from the EBS
// direct API through volumes and snapshots, and checks that none of it is
// ever stored in plain.
func TestEncryptedSnapshotsAndVolumes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{0: block(0), 1: block(0), 7: block(0)}

	// Encrypted without a key: the AWS managed key, made on first use.
	snap := f.encryptedSnapshot(t, StartSnapshotInput{Encrypted: true}, data)
	if !snap.Encrypted || snap.KmsKeyID == "" {
		t.Fatalf("snapshot is not encrypted: %+v", snap)
	}
	keys, _, err := f.keys.ListAliases(ctx, f.p, "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	managed := ""
	for _, a := range keys {
		if a.Name == "alias/aws/ebs" {
			managed = openami.KeyARN(f.p.Region, f.p.AccountID, a.TargetKeyID)
		}
	}
	if managed == "" || managed != snap.KmsKeyID {
		t.Fatalf("snapshot key %s is not alias/aws/ebs (%s)", snap.KmsKeyID, managed)
	}
	// The account uses its managed key but cannot manage it.
	if err := f.keys.DisableKey(ctx, f.p, managed); !errors.Is(err, openami.ErrUnauthorized) {
		t.Fatalf("DisableKey of alias/aws/ebs: %v, want Unauthorized", err)
	}
	for i, b := range data {
		if !bytes.Equal(f.readSnapshotBlock(t, f.p, snap.ID, i), b) {
			t.Fatalf("block %d reads back wrong", i)
		}
	}

	// A volume under the same key shares the snapshot's map; its writes
	// are encrypted too, and so is its snapshot.
	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: snap.ID})
	if err != nil {
		t.Fatal(err)
	}
	if vol.State != openami.VolumeAvailable || vol.KmsKeyID != snap.KmsKeyID || vol.Base != snap.Root {
		t.Fatalf("volume from an encrypted snapshot: %+v", vol.Volume)
	}
	written := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 3, written); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.readVolume(t, f.p, vol.ID, 1), data[1]) || !bytes.Equal(f.readVolume(t, f.p, vol.ID, 3), written) {
		t.Fatal("volume reads back wrong")
	}
	child, err := f.vols.CreateSnapshot(ctx, f.p, vol.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if child.KmsKeyID != snap.KmsKeyID {
		t.Fatalf("snapshot of an encrypted volume is under %q", child.KmsKeyID)
	}

	// A plain snapshot into a volume under a customer key: filled in the
	// background, then readable.
	key, err := f.keys.CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	plainData := map[int64][]byte{2: block(0), 5: block(0)}
	plain := f.encryptedSnapshot(t, StartSnapshotInput{}, plainData)
	if plain.Encrypted {
		t.Fatal("a snapshot started plain is encrypted")
	}
	filled, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: plain.ID, Encrypted: true, KmsKeyID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	if filled.State != openami.VolumeCreating || filled.KmsKeyID != key.ARN() {
		t.Fatalf("re-keyed volume: %+v", filled.Volume)
	}
	if v := f.waitVolume(t, f.p, filled.ID); v.State != openami.VolumeAvailable {
		t.Fatalf("re-keyed volume ended %s", v.State)
	}
	for i, b := range plainData {
		if !bytes.Equal(f.readVolume(t, f.p, filled.ID, i), b) {
			t.Fatalf("re-keyed volume block %d reads back wrong", i)
		}
	}

	// Nothing encrypted is at rest in plain: not the blocks put, not the
	// block written, not the blocks re-keyed (their plain copies are the
	// plain snapshot's, which goes).
	f.vols.DeleteSnapshot(ctx, f.p, plain.ID)
	if _, err := f.vols.GC(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	all := [][]byte{written}
	for _, b := range data {
		all = append(all, b)
	}
	for _, b := range plainData {
		all = append(all, b)
	}
	if path := plaintextAtRest(t, f.dir, all...); path != "" {
		t.Fatalf("plaintext of an encrypted block is stored in %s", path)
	}
	rep, err := f.vols.Fsck(ctx, "us-east-1", true)
	if err != nil || rep.Damaged() || rep.EncryptedChunks != rep.Chunks {
		t.Fatalf("fsck: %+v %v", rep, err)
	}

	// KmsKeyId without Encrypted; a key that does not exist.
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, KmsKeyID: key.ID})
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.InvalidCombination || e.Reason != openami.ReasonDependency {
		t.Fatalf("KmsKeyId without Encrypted: %v", err)
	}
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, Encrypted: true, KmsKeyID: "alias/nope"})
	wantEBSKeyError(t, "unknown key", err, openami.InvalidParameter)

	// A disabled key: no volume from its data, and nothing left behind.
	if err := f.keys.DisableKey(ctx, f.p, key.ID); err != nil {
		t.Fatal(err)
	}
	keyed, err := f.vols.CreateSnapshot(ctx, f.p, filled.ID, "", nil)
	if err != nil {
		t.Fatal(err) // snapshots of existing volumes go on
	}
	before, _, _ := f.vols.DescribeVolumes(ctx, f.p, nil, nil, Page{})
	_, err = f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: keyed.ID})
	wantEBSKeyError(t, "disabled key", err, openami.IncorrectState)
	after, _, _ := f.vols.DescribeVolumes(ctx, f.p, nil, nil, Page{})
	if len(after) != len(before) {
		t.Fatalf("a refused CreateVolume left a volume: %d → %d", len(before), len(after))
	}

	// Encrypted snapshots are never public.
	if err := f.vols.ModifySnapshotAttribute(ctx, f.p, snap.ID, []Permission{{Group: "all"}}, nil); err == nil {
		t.Fatal("an encrypted snapshot was made public")
	}
}

// TestEncryptedCopies copies plain and encrypted snapshots within and
// across regions, and checks keys, contents, and that a re-keyed child
// moves only its changed block.
func TestEncryptedCopies(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	west := f.p
	west.Region = "us-west-2"
	data := map[int64][]byte{}
	for i := int64(0); i < 20; i++ {
		data[i] = block(0)
	}
	src := f.encryptedSnapshot(t, StartSnapshotInput{Encrypted: true}, data)

	// Across regions: encrypted under the destination's default key.
	cp, err := f.vols.CopySnapshot(ctx, west, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	done := f.waitCompleted(t, "us-west-2", cp.ID)
	if !done.Encrypted || done.KmsKeyID == "" || done.KmsKeyID == src.KmsKeyID {
		t.Fatalf("cross-region copy of encrypted data: %+v", done)
	}
	for _, i := range []int64{0, 13} {
		if !bytes.Equal(f.readSnapshotBlock(t, west, cp.ID, i), data[i]) {
			t.Fatalf("copy block %d differs", i)
		}
	}

	// A child with one block changed: its copy writes one chunk.
	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: src.ID})
	if err != nil {
		t.Fatal(err)
	}
	changed := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 4, changed); err != nil {
		t.Fatal(err)
	}
	child, err := f.vols.CreateSnapshot(ctx, f.p, vol.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := done
	probe.ID, probe.State, probe.Root = "snap-0000000000000000b", openami.SnapshotPending, openami.ZeroDigest
	probe.Deadline = f.clock.Now().Add(time.Hour)
	f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Snapshots().Create(probe) })
	stats, err := f.vols.CopyInto(ctx, child.Snapshot, probe)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 20 || stats.ChunksCopied != 1 {
		t.Fatalf("copy of a child under another key: %+v, want 1 chunk of 20 moved", stats)
	}
	f.store.View(ctx, func(tx metadata.Tx) error {
		sn, err := tx.Snapshots().Get("us-west-2", probe.ID)
		if err != nil || sn.Progress != 99 || !sn.Completing {
			t.Errorf("copied snapshot before its map is built: progress %d, completing %v (%v)", sn.Progress, sn.Completing, err)
		}
		return nil
	})

	// Within a region: the same key shares the map; Encrypted with a key
	// encrypts a plain snapshot; nothing decrypts.
	same, err := f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1", Encrypted: false})
	if err != nil {
		t.Fatal(err)
	}
	if same.State != openami.SnapshotCompleted || same.Root != src.Root || same.KmsKeyID != src.KmsKeyID {
		t.Fatalf("same-key copy: %+v", same.Snapshot)
	}
	key, err := f.keys.CreateKey(ctx, f.p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	plain := f.encryptedSnapshot(t, StartSnapshotInput{}, map[int64][]byte{9: data[9]})
	enc, err := f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: plain.ID, SourceRegion: "us-east-1", Encrypted: true, KmsKeyID: key.ARN()})
	if err != nil {
		t.Fatal(err)
	}
	encDone := f.waitCompleted(t, "us-east-1", enc.ID)
	if encDone.KmsKeyID != key.ARN() || !bytes.Equal(f.readSnapshotBlock(t, f.p, enc.ID, 9), data[9]) {
		t.Fatalf("encrypting copy: %+v", encDone)
	}
	// Re-keying the same data to the same key dedups: no new chunk.
	n := f.chunkFiles(t)
	rekey, err := f.vols.CopySnapshot(ctx, f.p, CopySnapshotInput{SourceSnapshotID: src.ID, SourceRegion: "us-east-1", Encrypted: true, KmsKeyID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.waitCompleted(t, "us-east-1", rekey.ID)
	if got := f.chunkFiles(t); got != n+19 { // block 9 is already under key
		t.Fatalf("re-keying 20 blocks, one already stored under the key, added %d chunks", got-n)
	}

	// A disabled source key stops copies; the copy leaves nothing.
	if err := f.keys.DisableKey(ctx, f.p, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.vols.CopySnapshot(ctx, west, CopySnapshotInput{SourceSnapshotID: enc.ID, SourceRegion: "us-east-1"})
	wantEBSKeyError(t, "copy under a disabled key", err, openami.IncorrectState)
}

// TestEBSNamedManagedAliasFirst: a volume encrypted under alias/aws/ebs,
// named before the account had the key, makes the AWS managed key (as
// the first DescribeKey of it would), and a later DescribeKey finds the
// same key.
func TestEBSNamedManagedAliasFirst(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, Encrypted: true, KmsKeyID: "alias/aws/ebs"})
	if err != nil {
		t.Fatalf("CreateVolume under alias/aws/ebs in a fresh account: %v", err)
	}
	k, err := f.keys.DescribeKey(ctx, f.p, "alias/aws/ebs")
	if err != nil || k.ARN() != vol.KmsKeyID || k.Manager != openami.KeyManagerAWS {
		t.Fatalf("DescribeKey(alias/aws/ebs): %+v %v, want the volume's key %s", k, err, vol.KmsKeyID)
	}
}
