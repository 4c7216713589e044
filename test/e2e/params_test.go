package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestParamMessages: the rules refuse bad inputs in their own terms, and
// a client sees EC2's (or KMS's) sentence with the wire's parameter
// names, word for word. The messages do not depend on the store, so one
// store will do.
func TestParamMessages(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.account(t, "params")
	e, k := s.ec2(c, "us-east-1"), s.kms(c, "us-east-1")
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"key type", "InvalidParameterValue", "Value (dsa) for parameter keyType is invalid. Valid values are: rsa, ed25519.", func() error {
			_, err := e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"), KeyType: "dsa"})
			return err
		}},
		{"key name too long", "InvalidParameterValue", "Value for parameter KeyName is invalid. Length exceeds maximum of 255 ASCII characters.", func() error {
			_, err := e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(strings.Repeat("k", 256))})
			return err
		}},
		{"key pair by nothing", "MissingParameter", "The request must contain the parameter KeyName or KeyPairId", func() error {
			_, err := e.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{})
			return err
		}},
		{"iops on gp2", "InvalidParameterCombination", "The parameter iops is not supported for gp2 volumes.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), VolumeType: "gp2", Iops: aws.Int32(100)})
			return err
		}},
		{"io1 without iops", "MissingParameter", "The parameter iops must be specified for io1 volumes.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: "io1"})
			return err
		}},
		{"iops out of range", "InvalidParameterValue", "Value (50) for parameter iops is invalid for io1 volumes: expecting 100 to 64000.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: "io1", Iops: aws.Int32(50)})
			return err
		}},
		{"throughput out of range", "InvalidParameterValue", "Value (2000) for parameter throughput is invalid: expecting 125 to 1000.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: "gp3", Throughput: aws.Int32(2000)})
			return err
		}},
		{"neither size nor snapshot", "MissingParameter", "The request must contain the parameter size or snapshotId", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a")})
			return err
		}},
		{"key without encryption", "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), KmsKeyId: aws.String("alias/aws/ebs")})
			return err
		}},
		{"tags page size", "InvalidParameterValue", "Value (2) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", func() error {
			_, err := e.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(2)})
			return err
		}},
		{"account attribute", "InvalidParameterValue", "Value (nope) for parameter attributeName is invalid. Unknown attribute.", func() error {
			_, err := e.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []ec2types.AccountAttributeName{"nope"}})
			return err
		}},
		{"both key specs", "ValidationException", "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.", func() error {
			_, err := k.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecSymmetricDefault, CustomerMasterKeySpec: kmstypes.CustomerMasterKeySpecSymmetricDefault})
			return err
		}},
	} {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: succeeded, want %s", tc.name, tc.code)
			continue
		}
		if got := errorCode(t, err); got != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %s %v,\n want %s %q", tc.name, got, err, tc.code, tc.msg)
		}
	}
}

// TestKmsKeySentences: a KMS key EC2 or the EBS direct API cannot use is
// refused in their words, quoting KMS's refusal; a key id KMS refuses for
// its shape is quoted in KMS's sentence, under the wire's name for the
// input that gave it. Word for word.
func TestKmsKeySentences(t *testing.T) {
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.account(t, "kmswords")
	e, k := s.ec2(c, "us-east-1"), s.kms(c, "us-east-1")
	long := strings.Repeat("a", 2049)
	tooLong := func(name string) string {
		return "The specified KMS key " + long + " is not accessible: 1 validation error detected: Value at '" + name +
			"' failed to satisfy constraint: Member must have length less than or equal to 2048"
	}
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	arn := *key.KeyMetadata.Arn
	root := newSnapshot(t, s, c)
	mapping := func(keyID string) []ec2types.BlockDeviceMapping {
		return append(rootMapping(root), ec2types.BlockDeviceMapping{DeviceName: aws.String("/dev/sdb"),
			Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(8), Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyID)}})
	}
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"volume key too long", "InvalidParameterValue", tooLong("kmsKeyId"), func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), Encrypted: aws.Bool(true), KmsKeyId: aws.String(long)})
			return err
		}},
		{"default key too long", "InvalidParameterValue", tooLong("kmsKeyId"), func() error {
			_, err := e.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String(long)})
			return err
		}},
		{"mapping key too long", "InvalidParameterValue", tooLong("blockDeviceMapping.Ebs.KmsKeyId"), func() error {
			_, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("kmswords"), RootDeviceName: aws.String("/dev/xvda"),
				BlockDeviceMappings: mapping(long)})
			return err
		}},
		{"no such key", "InvalidParameterValue", "The specified KMS key alias/nope is not accessible: Alias arn:aws:kms:us-east-1:" + c.AccountID + ":alias/nope is not found.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/nope")})
			return err
		}},
		{"disabled key", "InvalidKMSKey.InvalidState", "The KMS key provided is in an incorrect state: " + arn + " is disabled.", func() error {
			_, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1), Encrypted: aws.Bool(true), KmsKeyId: aws.String(arn)})
			return err
		}},
		{"start snapshot key too long", "AccessDeniedException", tooLong("kmsKeyArn"), func() error {
			_, err := s.ebs(c).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), Encrypted: aws.Bool(true), KmsKeyArn: aws.String(long)})
			return err
		}},
	} {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: succeeded, want %s", tc.name, tc.code)
			continue
		}
		if got := errorCode(t, err); got != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %s %v,\n want %s %q", tc.name, got, err, tc.code, tc.msg)
		}
	}
}
