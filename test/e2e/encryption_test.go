package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestEncryptedImages takes encrypted data through the whole life cycle
// with aws-sdk-go-v2: an encrypted snapshot through the EBS direct API, an
// image over it, launches by the owner and by an account it is shared
// with (which also needs the key), encryption by default, copies that
// encrypt and re-key, and the refusals AWS makes.
func TestEncryptedImages(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		owner, other := s.account(t, "enc-owner"), s.account(t, "enc-other")
		east, west := s.ec2(owner, "us-east-1"), s.ec2(owner, "us-west-2")
		km := s.kms(owner, "us-east-1")
		key := createKey(t, km, nil)

		// An encrypted snapshot under a customer key, through EBS direct.
		started, err := s.ebs(owner).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1),
			Encrypted: aws.Bool(true), KmsKeyArn: key.Arn})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(started.KmsKeyArn) != *key.Arn {
			t.Fatalf("StartSnapshot KmsKeyArn %q", aws.ToString(started.KmsKeyArn))
		}
		blocks := map[int32][]byte{0: randomBlock(), 3: textBlock("encrypted root ")}
		putBlocks(t, s, owner, *started.SnapshotId, blocks)
		snap := waitCompleted(t, s, owner, *started.SnapshotId)
		if !aws.ToBool(snap.Encrypted) || aws.ToString(snap.KmsKeyId) != *key.Arn {
			t.Fatalf("snapshot: encrypted %v key %q", aws.ToBool(snap.Encrypted), aws.ToString(snap.KmsKeyId))
		}
		sameBlocks(t, readSnapshot(t, s, owner, *started.SnapshotId), blocks)

		reg, err := east.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("encrypted"), RootDeviceName: aws.String("/dev/xvda"),
			BlockDeviceMappings: rootMapping(*started.SnapshotId), BootMode: types.BootModeValuesUefiPreferred})
		if err != nil {
			t.Fatal(err)
		}
		img, err := east.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*reg.ImageId}})
		if err != nil || !aws.ToBool(img.Images[0].BlockDeviceMappings[0].Ebs.Encrypted) {
			t.Fatalf("image mapping not encrypted: %v %+v", err, img)
		}

		// The owner launches it: the root volume is under the key.
		run := func(e *ec2.Client) (*ec2.RunInstancesOutput, error) {
			return e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		}
		out, err := run(east)
		if err != nil {
			t.Fatal(err)
		}
		vols, err := east.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{
			{Name: aws.String("attachment.instance-id"), Values: []string{*out.Instances[0].InstanceId}}}})
		if err != nil || len(vols.Volumes) != 1 || !aws.ToBool(vols.Volumes[0].Encrypted) || aws.ToString(vols.Volumes[0].KmsKeyId) != *key.Arn {
			t.Fatalf("launched volume: %v %+v", err, vols)
		}

		// Encrypted images are never public; shared with an account,
		// the account also needs the use of the key.
		_, err = east.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}})
		wantCode(t, err, "InvalidParameterValue")
		if _, err := east.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: reg.ImageId,
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(other.AccountID)}}}}); err != nil {
			t.Fatal(err)
		}
		otherEast := s.ec2(other, "us-east-1")
		_, err = run(otherEast)
		wantCode(t, err, "InvalidParameterValue")
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["kms:Decrypt","kms:GenerateDataKeyWithoutPlaintext","kms:DescribeKey"],"Resource":"*"}]}`,
			owner.AccountID, other.AccountID)
		if _, err := km.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: key.KeyId, PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
			t.Fatal(err)
		}
		if _, err := run(otherEast); err != nil {
			t.Fatalf("launch by an account with the use of the key: %v", err)
		}

		// A disabled key stops launches and leaves no instance behind.
		before, _ := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if _, err := km.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = run(east)
		wantCode(t, err, "InvalidKMSKey.InvalidState")
		after, _ := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if len(after.Reservations) != len(before.Reservations) {
			t.Fatal("a refused launch left an instance")
		}
		if _, err := km.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyId}); err != nil {
			t.Fatal(err)
		}

		// Encryption by default, with the managed key and then a chosen one.
		if on, err := east.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{}); err != nil || aws.ToBool(on.EbsEncryptionByDefault) {
			t.Fatalf("GetEbsEncryptionByDefault: %v %+v", err, on)
		}
		if _, err := east.EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}); err != nil {
			t.Fatal(err)
		}
		vol, err := east.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		def, err := east.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
		if err != nil || !strings.HasSuffix(aws.ToString(def.KmsKeyId), ":alias/aws/ebs") {
			t.Fatalf("GetEbsDefaultKmsKeyId: %v %+v", err, def)
		}
		managed, err := km.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
		if err != nil || string(managed.KeyMetadata.KeyManager) != "AWS" {
			t.Fatalf("alias/aws/ebs: %v %+v", err, managed)
		}
		if !aws.ToBool(vol.Encrypted) || aws.ToString(vol.KmsKeyId) != *managed.KeyMetadata.Arn {
			t.Fatalf("volume under encryption by default: %+v", vol)
		}
		if _, err := east.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: key.KeyId}); err != nil {
			t.Fatal(err)
		}
		vol2, err := east.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
		if err != nil || aws.ToString(vol2.KmsKeyId) != *key.Arn {
			t.Fatalf("volume under the chosen default key: %v %+v", err, vol2)
		}
		if _, err := east.ResetEbsDefaultKmsKeyId(ctx, &ec2.ResetEbsDefaultKmsKeyIdInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := east.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
			t.Fatal(err)
		}
		_, err = east.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), KmsKeyId: key.KeyId})
		wantCode(t, err, "InvalidParameterDependency")

		// Copies: across regions under the destination's default key; a
		// plain image encrypted under a chosen key. Both read back.
		remote, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: reg.ImageId, SourceRegion: aws.String("us-east-1"), Name: aws.String("enc-west")})
		if err != nil {
			t.Fatal(err)
		}
		plainImg := registerTestImage(t, s, east, owner, "plain")
		encCopy, err := east.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(plainImg), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("now-encrypted"), Encrypted: aws.Bool(true), KmsKeyId: key.Arn})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			e   *ec2.Client
			id  string
			key func(string) bool
		}{
			{west, *remote.ImageId, func(k string) bool { return strings.HasPrefix(k, "arn:aws:kms:us-west-2:"+owner.AccountID+":key/") }},
			{east, *encCopy.ImageId, func(k string) bool { return k == *key.Arn }},
		} {
			available := ec2.NewImageAvailableWaiter(w.e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
			if err := available.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{w.id}}, time.Minute); err != nil {
				t.Fatalf("image-available waiter for %s: %v", w.id, err)
			}
			out, err := w.e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{w.id}})
			if err != nil {
				t.Fatal(err)
			}
			snapID := aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
			sn, err := w.e.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
			if err != nil || !aws.ToBool(sn.Snapshots[0].Encrypted) || !w.key(aws.ToString(sn.Snapshots[0].KmsKeyId)) {
				t.Fatalf("copy %s snapshot: %v %+v", w.id, err, sn)
			}
		}
		// The encrypted copy of the plain image launches.
		if _, err := east.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: encCopy.ImageId, InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	})
}
