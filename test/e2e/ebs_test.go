package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami"
	"github.com/openami/openami/rules/identity"
)

const blockSize = openami.BlockSize

// ebs returns an EBS direct API client for the credentials in us-east-1.
func (s *server) ebs(c identity.Credentials) *ebs.Client {
	return ebs.NewFromConfig(s.awsConfig(c, "us-east-1"))
}

func randomBlock() []byte {
	b := make([]byte, blockSize)
	rand.Read(b)
	return b
}

// textBlock returns a compressible block.
func textBlock(seed string) []byte {
	return bytes.Repeat([]byte(seed), blockSize/len(seed)+1)[:blockSize]
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// putBlocks writes the blocks to a pending snapshot and completes it with
// the LINEAR aggregate checksum, then waits until it is completed.
func putBlocks(t testing.TB, s *server, c identity.Credentials, id string, blocks map[int32][]byte) {
	t.Helper()
	ctx := context.Background()
	eb := s.ebs(c)
	var idx []int
	for i, b := range blocks {
		idx = append(idx, int(i))
		_, err := eb.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
			SnapshotId: aws.String(id), BlockIndex: aws.Int32(i), BlockData: bytes.NewReader(b),
			DataLength: aws.Int32(blockSize), Checksum: aws.String(checksum(b)),
			ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		})
		if err != nil {
			t.Fatalf("put block %d: %v", i, err)
		}
	}
	sort.Ints(idx)
	h := sha256.New()
	for _, i := range idx {
		sum := sha256.Sum256(blocks[int32(i)])
		h.Write(sum[:])
	}
	out, err := eb.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{
		SnapshotId: aws.String(id), ChangedBlocksCount: aws.Int32(int32(len(blocks))),
		Checksum: aws.String(base64.StdEncoding.EncodeToString(h.Sum(nil))), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear,
	})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if out.Status != ebstypes.StatusPending && out.Status != ebstypes.StatusCompleted {
		t.Fatalf("complete status %q", out.Status)
	}
	waitCompleted(t, s, c, id)
}

// waitCompleted polls DescribeSnapshots until the snapshot is completed.
func waitCompleted(t testing.TB, s *server, c identity.Credentials, id string) types.Snapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.ec2(c, "us-east-1").DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		snap := out.Snapshots[0]
		if snap.State == types.SnapshotStateCompleted {
			if *snap.Progress != "100%" {
				t.Fatalf("completed snapshot with progress %s", *snap.Progress)
			}
			return snap
		}
		if snap.State == types.SnapshotStateError || time.Now().After(deadline) {
			t.Fatalf("snapshot %s is %s", id, snap.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readSnapshot reads every listed block of a snapshot through the EBS
// direct API and returns them by index.
func readSnapshot(t *testing.T, s *server, c identity.Credentials, id string) map[int32][]byte {
	t.Helper()
	ctx := context.Background()
	eb := s.ebs(c)
	out := map[int32][]byte{}
	p := ebs.NewListSnapshotBlocksPaginator(eb, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id), MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if *page.BlockSize != blockSize {
			t.Fatalf("block size %d", *page.BlockSize)
		}
		for _, b := range page.Blocks {
			got, err := eb.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(id), BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(got.BlockData)
			got.BlockData.Close()
			if err != nil {
				t.Fatal(err)
			}
			if *got.Checksum != checksum(data) || *got.DataLength != blockSize {
				t.Fatalf("block %d: checksum %s for data %s, length %d", *b.BlockIndex, *got.Checksum, checksum(data), *got.DataLength)
			}
			out[*b.BlockIndex] = data
		}
	}
	return out
}

func sameBlocks(t *testing.T, got, want map[int32][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d blocks, want %d", len(got), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(got[i], w) {
			t.Fatalf("block %d differs", i)
		}
	}
}

func TestEBSDirect(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		eb := s.ebs(s.admin)
		start, err := eb.StartSnapshot(ctx, &ebs.StartSnapshotInput{
			VolumeSize: aws.Int64(1), Description: aws.String("base"),
			Tags: []ebstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if start.Status != ebstypes.StatusPending || *start.BlockSize != blockSize || *start.OwnerId != s.admin.AccountID {
			t.Fatalf("StartSnapshot: %+v", start)
		}
		id := *start.SnapshotId

		// Bad blocks are refused and store nothing.
		good := randomBlock()
		for _, tc := range []struct {
			name  string
			index int32
			data  []byte
			sum   string
		}{
			{"wrong checksum", 3, good, checksum(textBlock("x"))},
			{"short block", 3, good[:4096], checksum(good[:4096])},
			{"beyond the volume", 2048, good, checksum(good)},
		} {
			_, err := eb.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
				SnapshotId: aws.String(id), BlockIndex: aws.Int32(tc.index), BlockData: bytes.NewReader(tc.data),
				DataLength: aws.Int32(int32(len(tc.data))), Checksum: aws.String(tc.sum),
				ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
			})
			var ve *ebstypes.ValidationException
			if !errorsAs(err, &ve) {
				t.Fatalf("%s: want ValidationException, got %v", tc.name, err)
			}
		}
		_, err = eb.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: aws.String(id), ChangedBlocksCount: aws.Int32(1)})
		if err == nil {
			t.Fatal("CompleteSnapshot with a wrong block count succeeded")
		}

		base := map[int32][]byte{0: good, 1: make([]byte, blockSize), 5: randomBlock(), 100: textBlock("openami ")}
		putBlocks(t, s, s.admin, id, base)
		delete(base, 1) // zero blocks hold no data
		sameBlocks(t, readSnapshot(t, s, s.admin, id), base)

		// A child with a parent: one block changed, one zeroed.
		child, err := eb.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), ParentSnapshotId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		changed := randomBlock()
		putBlocks(t, s, s.admin, *child.SnapshotId, map[int32][]byte{5: changed, 0: make([]byte, blockSize)})
		want := map[int32][]byte{5: changed, 100: base[100]}
		sameBlocks(t, readSnapshot(t, s, s.admin, *child.SnapshotId), want)

		diff, err := eb.ListChangedBlocks(ctx, &ebs.ListChangedBlocksInput{FirstSnapshotId: aws.String(id), SecondSnapshotId: child.SnapshotId})
		if err != nil {
			t.Fatal(err)
		}
		var idx []int32
		for _, b := range diff.ChangedBlocks {
			idx = append(idx, *b.BlockIndex)
		}
		if fmt.Sprint(idx) != "[0 5]" || diff.ChangedBlocks[0].SecondBlockToken != nil || diff.ChangedBlocks[1].FirstBlockToken == nil {
			t.Fatalf("changed blocks %v: %+v", idx, diff.ChangedBlocks)
		}

		// Tokens are bound to their block.
		list, err := eb.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = eb.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(id), BlockIndex: aws.Int32(5), BlockToken: list.Blocks[0].BlockToken})
		var ve *ebstypes.ValidationException
		if !errorsAs(err, &ve) || ve.Reason != ebstypes.ValidationExceptionReasonInvalidBlockToken {
			t.Fatalf("a token for another block: %v", err)
		}
		_, err = eb.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String("snap-0123456789abcdef0")})
		var nf *ebstypes.ResourceNotFoundException
		if !errorsAs(err, &nf) {
			t.Fatalf("unknown snapshot: %v", err)
		}

		// Another account sees nothing until the snapshot is shared.
		bob := s.account(t, "bob")
		_, err = s.ebs(bob).ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id)})
		if !errorsAs(err, &nf) {
			t.Fatalf("bob reads alice's snapshot: %v", err)
		}
		c := s.ec2(s.admin, "us-east-1")
		if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId: aws.String(id), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
			CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String(bob.AccountID)}}},
		}); err != nil {
			t.Fatal(err)
		}
		sameBlocks(t, readSnapshot(t, s, bob, id), base)
		attr, err := c.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(id), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil || len(attr.CreateVolumePermissions) != 1 || *attr.CreateVolumePermissions[0].UserId != bob.AccountID {
			t.Fatalf("attribute: %v %+v", err, attr)
		}
		if _, err := c.ResetSnapshotAttribute(ctx, &ec2.ResetSnapshotAttributeInput{SnapshotId: aws.String(id), Attribute: types.SnapshotAttributeNameCreateVolumePermission}); err != nil {
			t.Fatal(err)
		}
		_, err = s.ebs(bob).ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id)})
		if !errorsAs(err, &nf) {
			t.Fatalf("bob still reads after reset: %v", err)
		}
	})
}

func TestVolumesAndSnapshots(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		eb := s.ebs(s.admin)
		c := s.ec2(s.admin, "us-east-1")
		start, err := eb.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(2)})
		if err != nil {
			t.Fatal(err)
		}
		data := map[int32][]byte{0: randomBlock(), 3000: textBlock("block 3000 ")}
		putBlocks(t, s, s.admin, *start.SnapshotId, data)

		// A volume from the snapshot reads its data, copy-on-write.
		vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{
			AvailabilityZone: aws.String("us-east-1b"), SnapshotId: start.SnapshotId, VolumeType: types.VolumeTypeGp3,
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("data")}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if *vol.Size != 2 || *vol.Iops != 3000 || *vol.Throughput != 125 || vol.State != types.VolumeStateAvailable {
			t.Fatalf("CreateVolume: %+v", vol)
		}
		p := openami.Principal{AccountID: s.admin.AccountID, Region: "us-east-1"}
		buf := make([]byte, blockSize)
		for i, want := range map[int64][]byte{0: data[0], 3000: data[3000], 7: make([]byte, blockSize)} {
			if err := s.svc.EBS().ReadVolumeBlock(ctx, p, *vol.VolumeId, i, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("volume block %d differs from the snapshot", i)
			}
		}
		written := textBlock("written after launch ")
		if err := s.svc.EBS().WriteVolumeBlock(ctx, p, *vol.VolumeId, 7, written); err != nil {
			t.Fatal(err)
		}
		if err := s.svc.EBS().WriteVolumeBlock(ctx, p, *vol.VolumeId, 4096, written); err == nil {
			t.Fatal("a write beyond the end of the volume succeeded")
		}

		// A snapshot of the volume holds the base plus the write, and
		// differs from the source in exactly that block.
		snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId, Description: aws.String("after write")})
		if err != nil {
			t.Fatal(err)
		}
		waitCompleted(t, s, s.admin, *snap.SnapshotId)
		diff, err := eb.ListChangedBlocks(ctx, &ebs.ListChangedBlocksInput{FirstSnapshotId: start.SnapshotId, SecondSnapshotId: snap.SnapshotId})
		if err != nil {
			t.Fatal(err)
		}
		if len(diff.ChangedBlocks) != 1 || *diff.ChangedBlocks[0].BlockIndex != 7 {
			t.Fatalf("changed blocks %+v", diff.ChangedBlocks)
		}
		data[7] = written
		sameBlocks(t, readSnapshot(t, s, s.admin, *snap.SnapshotId), data)

		// Describe with filters and pagination.
		vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
			{Name: aws.String("tag:Name"), Values: []string{"data"}}, {Name: aws.String("volume-type"), Values: []string{"gp3"}},
		}})
		if err != nil || len(vols.Volumes) != 1 || *vols.Volumes[0].VolumeId != *vol.VolumeId {
			t.Fatalf("DescribeVolumes: %v %+v", err, vols)
		}
		snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{{Name: aws.String("volume-id"), Values: []string{*vol.VolumeId}}}})
		if err != nil || len(snaps.Snapshots) != 1 || *snaps.Snapshots[0].SnapshotId != *snap.SnapshotId {
			t.Fatalf("DescribeSnapshots: %v %+v", err, snaps)
		}
		var all []string
		pg := ec2.NewDescribeSnapshotsPaginator(c, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, MaxResults: aws.Int32(5)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, sn := range out.Snapshots {
				all = append(all, *sn.SnapshotId)
			}
		}
		if len(all) != 2 {
			t.Fatalf("paged snapshots %v", all)
		}

		// Grow the volume; shrinking is refused.
		mod, err := c.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: vol.VolumeId, Size: aws.Int32(4)})
		if err != nil || *mod.VolumeModification.TargetSize != 4 || *mod.VolumeModification.OriginalSize != 2 {
			t.Fatalf("ModifyVolume: %v %+v", err, mod)
		}
		_, err = c.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: vol.VolumeId, Size: aws.Int32(1)})
		wantCode(t, err, "InvalidParameterValue")

		// Same-region copy shares the blocks.
		cp, err := c.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: snap.SnapshotId, SourceRegion: aws.String("us-east-1")})
		if err != nil {
			t.Fatal(err)
		}
		sameBlocks(t, readSnapshot(t, s, s.admin, *cp.SnapshotId), data)

		// Errors.
		_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: start.SnapshotId, Size: aws.Int32(1)})
		wantCode(t, err, "InvalidParameterValue")
		_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: types.VolumeTypeGp2, Iops: aws.Int32(300)})
		wantCode(t, err, "InvalidParameterCombination")
		_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a")})
		wantCode(t, err, "MissingParameter")
		_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"}})
		wantCode(t, err, "InvalidVolume.NotFound")
		_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-nope"}})
		wantCode(t, err, "InvalidVolumeID.Malformed")
		_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String("snap-0123456789abcdef0")})
		wantCode(t, err, "InvalidSnapshot.NotFound")
		_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-zz"}})
		wantCode(t, err, "InvalidSnapshotID.Malformed")

		// Tags on snapshots and volumes; delete both.
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*snap.SnapshotId, *vol.VolumeId}, Tags: []types.Tag{{Key: aws.String("t"), Value: aws.String("1")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: snap.SnapshotId}); err != nil {
			t.Fatal(err)
		}
		// The copy still reads after its source is gone.
		sameBlocks(t, readSnapshot(t, s, s.admin, *cp.SnapshotId), data)
		tags, _ := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"t"}}}})
		if len(tags.Tags) != 0 {
			t.Fatalf("tags of deleted resources remain: %+v", tags.Tags)
		}
	})
}
