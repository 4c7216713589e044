package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// fetchEC2Certificate returns the region's cert-ec2.pem as the endpoint
// serves it.
func fetchEC2Certificate(t *testing.T, endpoint, region string) string {
	t.Helper()
	resp, err := http.Get(endpoint + "/cert-ec2.pem?region=" + region)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cert-ec2.pem: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestMasterKeyRotation rotates the master key of a stopped server's data
// directory with `openami master-key rotate` and checks that everything it
// protected still works under the new key: the administrator's access key,
// a KMS key's ciphertext, an encrypted volume's data key, and the
// region's EC2 key.
func TestMasterKeyRotation(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	endpoint, cmd := serveBinary(t, "--data-dir", dataDir, "--regions", "us-east-1")
	admin := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: endpoint}
	km := s.kms(admin, "us-east-1")
	key := createKey(t, km, nil)
	enc, err := km.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("kept across rotations")})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.ebs(admin).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: key.Arn})
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[int32][]byte{2: randomBlock()}
	putBlocks(t, s, admin, *snap.SnapshotId, blocks)
	// The region's EC2 key, made by its first fetch, is sealed too.
	ec2Cert := fetchEC2Certificate(t, endpoint, "us-east-1")
	cmd.Process.Kill()
	cmd.Wait()

	before, err := os.ReadFile(filepath.Join(dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "master-key", "rotate", "--data-dir", dataDir, "--regions", "us-east-1").CombinedOutput()
	if err != nil {
		t.Fatalf("master-key rotate: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(`"ResealedAccessKeys": 1`)) || !bytes.Contains(out, []byte(`"ResealedKMSKeys": 1`)) ||
		!bytes.Contains(out, []byte(`"ResealedRegionKeys": 1`)) {
		t.Fatalf("master-key rotate reported:\n%s", out)
	}
	after, err := os.ReadFile(filepath.Join(dataDir, "master.key"))
	if err != nil || bytes.Equal(before, after) || len(after) != 32 {
		t.Fatalf("master.key was not replaced: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "master.key.new")); !os.IsNotExist(err) {
		t.Fatalf("master.key.new is left: %v", err)
	}

	endpoint, _ = serveBinary(t, "--data-dir", dataDir, "--regions", "us-east-1")
	s = &server{URL: endpoint}
	km = s.kms(admin, "us-east-1")
	dec, err := km.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept across rotations" {
		t.Fatalf("Decrypt after rotation: %v", err)
	}
	// The encrypted snapshot's data key, wrapped by the KMS key, still
	// unwraps: its blocks read back.
	sameBlocks(t, readSnapshot(t, s, admin, *snap.SnapshotId), blocks)
	// The region's key opens under the new master key: the same
	// certificate is served.
	if got := fetchEC2Certificate(t, endpoint, "us-east-1"); got != ec2Cert {
		t.Fatalf("cert-ec2.pem after rotation:\n%s\nbefore:\n%s", got, ec2Cert)
	}
	if _, err := s.ec2(admin, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{}); err != nil {
		t.Fatalf("the administrator's access key after rotation: %v", err)
	}
}
