package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestEncryptedImageThroughGrant launches an encrypted image shared with
// another account that may use its key through a KMS grant only (no policy
// change), and is refused once the grant is revoked.
func TestEncryptedImageThroughGrant(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	owner, other := s.account(t, "enc-owner"), s.account(t, "enc-other")
	east := s.ec2(owner, "us-east-1")
	km := s.kms(owner, "us-east-1")
	key := createKey(t, km, nil)
	started, err := s.ebs(owner).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: key.Arn})
	if err != nil {
		t.Fatal(err)
	}
	putBlocks(t, s, owner, *started.SnapshotId, map[int32][]byte{0: randomBlock()})
	waitCompleted(t, s, owner, *started.SnapshotId)
	reg, err := east.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("encrypted"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(*started.SnapshotId)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(other.AccountID)}}}}); err != nil {
		t.Fatal(err)
	}
	run := func() error {
		_, err := s.ec2(other, "us-east-1").RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		return err
	}
	wantCode(t, run(), "InvalidParameterValue")
	g, err := km.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: key.KeyId, GranteePrincipal: aws.String("arn:aws:iam::" + other.AccountID + ":root"),
		Operations: []kmstypes.GrantOperation{"Decrypt", "GenerateDataKeyWithoutPlaintext", "DescribeKey"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Fatalf("launch through a grant: %v", err)
	}
	if _, err := km.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, run(), "InvalidParameterValue")
}
