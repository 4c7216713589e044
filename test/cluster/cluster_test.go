package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestAcrossNodes starts three API nodes on one PostgreSQL and one MinIO
// and checks that what is made through one node is visible and usable
// through the others, and that every request-to-request state (page
// tokens, client tokens, KMS keys and their state, S3 multipart parts,
// the Allowed AMIs setting) holds across them.
func TestAcrossNodes(t *testing.T) {
	c := Start(t, Options{Nodes: 3})
	ctx := context.Background()
	alice := c.Account(t, "alice")
	n0, n1, n2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]

	// An access key made by the CLI against the database works on every
	// node.
	for _, n := range c.Nodes {
		if _, err := n.EC2(alice).DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
			t.Fatalf("node %d: %v", n.Index, err)
		}
	}

	var snap string
	t.Run("EBSDirect", func(t *testing.T) {
		// Blocks put on node 0 and node 1, completed on node 1, read on
		// node 2.
		start, err := n0.EBS(alice).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		snap = *start.SnapshotId
		blocks := map[int32][]byte{0: randomBlock(), 7: randomBlock()}
		putBlock(t, n0.EBS(alice), snap, 0, blocks[0])
		putBlock(t, n1.EBS(alice), snap, 7, blocks[7])
		if _, err := n1.EBS(alice).CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: &snap, ChangedBlocksCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		waitSnapshot(t, n2.EC2(alice), snap)
		list, err := n2.EBS(alice).ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: &snap})
		if err != nil || len(list.Blocks) != 2 {
			t.Fatalf("ListSnapshotBlocks on node 2: %v %+v", err, list)
		}
		for _, b := range list.Blocks {
			got, err := n2.EBS(alice).GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: &snap, BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(got.BlockData)
			if !bytes.Equal(data, blocks[*b.BlockIndex]) {
				t.Fatalf("block %d read on node 2 differs from what nodes 0 and 1 wrote", *b.BlockIndex)
			}
		}
	})
	if snap == "" {
		t.FailNow()
	}

	t.Run("ImagesAndPageTokens", func(t *testing.T) {
		for i := range 11 {
			n := c.Nodes[i%3]
			if _, err := n.EC2(alice).RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("paged-" + string(rune('a'+i))),
				RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)}); err != nil {
				t.Fatalf("RegisterImage on node %d: %v", i, err)
			}
		}
		// A page token from node 0 is honoured by node 1, and node 1's
		// by node 2.
		in := &ec2.DescribeImagesInput{Owners: []string{"self"}, MaxResults: aws.Int32(5),
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"paged-*"}}}}
		seen, pages := map[string]bool{}, 0
		for i := 0; ; i++ {
			out, err := c.Nodes[i%3].EC2(alice).DescribeImages(ctx, in)
			pages++
			if err != nil {
				t.Fatalf("page %d on node %d: %v", i, i%3, err)
			}
			for _, img := range out.Images {
				seen[*img.ImageId] = true
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if len(seen) != 11 || pages != 3 {
			t.Fatalf("pages across nodes gave %d images in %d pages, want 11 in 3", len(seen), pages)
		}
	})

	t.Run("VolumesAndClientTokens", func(t *testing.T) {
		in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: &snap, ClientToken: aws.String("vol-token-1")}
		a, err := n0.EC2(alice).CreateVolume(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := n2.EC2(alice).CreateVolume(ctx, in)
		if err != nil || *b.VolumeId != *a.VolumeId {
			t.Fatalf("the same client token on node 2: %v, volume %v, want %s", err, b, *a.VolumeId)
		}
		out, err := n1.EC2(alice).DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
		if err != nil || len(out.Volumes) != 1 || *out.Volumes[0].VolumeId != *a.VolumeId {
			t.Fatalf("DescribeVolumes on node 1: %v %+v", err, out)
		}
	})

	t.Run("KeyPairs", func(t *testing.T) {
		if _, err := n0.EC2(alice).CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("across")}); err != nil {
			t.Fatal(err)
		}
		out, err := n1.EC2(alice).DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"across"}})
		if err != nil || len(out.KeyPairs) != 1 {
			t.Fatalf("DescribeKeyPairs on node 1: %v %+v", err, out)
		}
		if _, err := n2.EC2(alice).DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("across")}); err != nil {
			t.Fatal(err)
		}
		if _, err := n0.EC2(alice).DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"across"}}); apiCode(err) != "InvalidKeyPair.NotFound" {
			t.Fatalf("a key pair deleted on node 2, described on node 0: %v", err)
		}
	})

	t.Run("KMS", func(t *testing.T) {
		key, err := n0.KMS(alice).CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		enc, err := n1.KMS(alice).Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("across nodes")})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := n2.KMS(alice).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "across nodes" {
			t.Fatalf("Decrypt on node 2: %v %+v", err, dec)
		}
		// A snapshot encrypted under it, written on node 0, read on node 1.
		start, err := n0.EBS(alice).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: key.KeyMetadata.Arn})
		if err != nil {
			t.Fatal(err)
		}
		block := randomBlock()
		putBlock(t, n0.EBS(alice), *start.SnapshotId, 3, block)
		if _, err := n0.EBS(alice).CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: start.SnapshotId, ChangedBlocksCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		waitSnapshot(t, n1.EC2(alice), *start.SnapshotId)
		read := func(n *Node) ([]byte, error) {
			list, err := n.EBS(alice).ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: start.SnapshotId})
			if err != nil {
				return nil, err
			}
			if len(list.Blocks) != 1 {
				t.Fatalf("%d blocks listed, want 1", len(list.Blocks))
			}
			got, err := n.EBS(alice).GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: start.SnapshotId, BlockIndex: aws.Int32(3), BlockToken: list.Blocks[0].BlockToken})
			if err != nil {
				return nil, err
			}
			return io.ReadAll(got.BlockData)
		}
		if got, err := read(n1); err != nil || !bytes.Equal(got, block) {
			t.Fatalf("the encrypted block read on node 1: %v (%d bytes)", err, len(got))
		}

		// A key disabled on node 2 refuses the next Encrypt on node 0, and
		// the next read of data under it on node 1, whose data key is
		// cached.
		if _, err := n2.KMS(alice).DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
			t.Fatal(err)
		}
		if _, err := read(n1); err == nil || !strings.Contains(err.Error(), "is disabled") {
			t.Fatalf("node 1 reading data under a key disabled on node 2: %v, want a refusal naming the disabled key", err)
		}
		if _, err := n0.KMS(alice).Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); apiCode(err) != "DisabledException" {
			t.Fatalf("Encrypt on node 0 under a key disabled on node 2: %v, want DisabledException", err)
		}
	})

	t.Run("S3Multipart", func(t *testing.T) {
		bucket := aws.String("across-nodes")
		if _, err := n0.S3(alice).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
			t.Fatal(err)
		}
		key := aws.String("big")
		up, err := n1.S3(alice).CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		parts := [][]byte{make([]byte, 5<<20), []byte("the last part")}
		rand.Read(parts[0])
		var done []s3types.CompletedPart
		for i, p := range parts {
			n := []*Node{n0, n2}[i]
			out, err := n.S3(alice).UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatalf("part %d on node %d: %v", i+1, n.Index, err)
			}
			done = append(done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
		}
		if _, err := n1.S3(alice).CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}}); err != nil {
			t.Fatal(err)
		}
		got, err := n2.S3(alice).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		if !bytes.Equal(body, append(append([]byte{}, parts[0]...), parts[1]...)) {
			t.Fatalf("the object read on node 2 is not its parts from nodes 0 and 2 (%d bytes)", len(body))
		}
	})

	t.Run("AllowedAMIsAndLaunches", func(t *testing.T) {
		bob := c.Account(t, "bob")
		img, err := n0.EC2(alice).RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("public-base"),
			RootDeviceName: aws.String("/dev/xvda"), BlockDeviceMappings: rootMapping(snap)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n0.EC2(alice).ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: img.ImageId,
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
			t.Fatal(err)
		}
		launch := func(n *Node, token string) (string, error) {
			out, err := n.EC2(bob).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: img.ImageId, InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String(token)})
			if err != nil {
				return "", err
			}
			return *out.Instances[0].InstanceId, nil
		}
		id, err := launch(n1, "run-1")
		if err != nil {
			t.Fatal(err)
		}
		// The same client token on another node is the same launch.
		if again, err := launch(n2, "run-1"); err != nil || again != id {
			t.Fatalf("RunInstances with the same client token on node 2: %v %s, want %s", err, again, id)
		}
		desc, err := n0.EC2(bob).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(desc.Reservations) != 1 {
			t.Fatalf("DescribeInstances on node 0: %v %+v", err, desc)
		}
		// Allowed AMIs enabled on node 2 hold on the next request to node 1.
		if _, err := n2.EC2(bob).ReplaceImageCriteriaInAllowedImagesSettings(ctx, &ec2.ReplaceImageCriteriaInAllowedImagesSettingsInput{
			ImageCriteria: []types.ImageCriterionRequest{{ImageNames: []string{"nothing-*"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := n2.EC2(bob).EnableAllowedImagesSettings(ctx, &ec2.EnableAllowedImagesSettingsInput{AllowedImagesSettingsState: types.AllowedImagesSettingsEnabledStateEnabled}); err != nil {
			t.Fatal(err)
		}
		if _, err := launch(n1, "run-2"); apiCode(err) != "InvalidAMIID.NotFound" {
			t.Fatalf("a launch on node 1 of an image Allowed AMIs set on node 2 refuse: %v", err)
		}
		if _, err := n0.EC2(bob).DisableAllowedImagesSettings(ctx, &ec2.DisableAllowedImagesSettingsInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := launch(n2, "run-3"); err != nil {
			t.Fatalf("a launch on node 2 after Allowed AMIs were disabled on node 0: %v", err)
		}
	})

	t.Run("KilledNodeRestarts", func(t *testing.T) {
		// Every node serves from the one database: the images made through
		// all three are rows there.
		var images int
		if err := c.DB(t).QueryRow(`SELECT count(*) FROM images WHERE account_id = $1`, alice.AccountID).Scan(&images); err != nil || images != 12 {
			t.Fatalf("alice's images in the database: %d, %v; want 12 (11 paged, 1 public)", images, err)
		}
		n1.WaitLog(t, `action=DescribeRegions`, 10*time.Second)
		n1.Kill(t)
		if n1.Running() {
			t.Fatal("node 1 runs after Kill")
		}
		if _, err := n0.EC2(alice).DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); err != nil {
			t.Fatalf("node 0 with node 1 killed: %v", err)
		}
		n1.Restart(t)
		if _, err := n1.EC2(alice).DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); err != nil {
			t.Fatalf("node 1 restarted: %v", err)
		}
	})

	for _, n := range c.Nodes {
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}

	t.Run("WrongMasterKeyRefused", func(t *testing.T) {
		// A node with a master key of its own would answer every signed
		// request with an internal error; it refuses to start instead.
		cmd := exec.Command(c.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database", c.DSN,
			"--regions", c.Regions, "--blob-store", "s3://"+c.MinIO.Bucket+"/openami", "--s3-endpoint", c.MinIO.Endpoint, "--s3-region", c.MinIO.Region)
		cmd.Env = append(c.Env(), "OPENAMI_MASTER_KEY="+base64.StdEncoding.EncodeToString(seal.Generate()))
		out, err := runWithin(cmd, time.Minute)
		if err == nil || !strings.Contains(out, "master key does not open the secrets") {
			t.Fatalf("serve with another master key: %v\n%s", err, out)
		}
	})
}

func runWithin(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return out.String(), errors.New("still running")
	}
}

func randomBlock() []byte {
	b := make([]byte, 512<<10)
	rand.Read(b)
	return b
}

func putBlock(t *testing.T, c *ebs.Client, snap string, index int32, data []byte) {
	t.Helper()
	sum := sha256Base64(data)
	if _, err := c.PutSnapshotBlock(context.Background(), &ebs.PutSnapshotBlockInput{SnapshotId: &snap, BlockIndex: aws.Int32(index),
		BlockData: bytes.NewReader(data), DataLength: aws.Int32(int32(len(data))), Checksum: &sum,
		ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("PutSnapshotBlock %d: %v", index, err)
	}
}

// waitSnapshot waits until the snapshot is completed (the worker of the
// node that took CompleteSnapshot finishes it), failing after a minute.
func waitSnapshot(t *testing.T, c *ec2.Client, snap string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Snapshots) == 1 && out.Snapshots[0].State == types.SnapshotStateCompleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %s not completed after a minute: %+v", snap, out.Snapshots)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rootMapping(snap string) []types.BlockDeviceMapping {
	return []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}
}

// apiCode returns the error code of an API error ("" for none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func sha256Base64(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestNodesStartTogether starts three nodes at once on a new database:
// they race to migrate it and to make the administrator, and exactly one
// administrator is made, whose key works on every node.
func TestNodesStartTogether(t *testing.T) {
	c := Start(t, Options{Nodes: 3, Together: true})
	out, err := c.Command("account", "list").Output()
	if err != nil {
		t.Fatalf("account list: %v %s", err, stderrOf(err))
	}
	var list struct{ Accounts []struct{ Admin bool } }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Accounts) != 1 || !list.Accounts[0].Admin {
		t.Fatalf("accounts after three nodes started at once: %s", out)
	}
	var admin []Credentials
	for _, n := range c.Nodes {
		if cr, ok := n.AdminCredentials(); ok {
			admin = append(admin, cr)
		}
	}
	if len(admin) != 1 {
		t.Fatalf("%d nodes wrote the administrator's credentials, want 1", len(admin))
	}
	for _, n := range c.Nodes {
		if _, err := n.EC2(admin[0]).DescribeRegions(context.Background(), &ec2.DescribeRegionsInput{}); err != nil {
			t.Fatalf("the administrator on node %d: %v", n.Index, err)
		}
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}
}
