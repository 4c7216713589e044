package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/kms"
)

// TestInputRefusalsInOwnTerms: the rules refuse a bad input in their own
// terms — class, reason, their own name for the field, the value — and
// leave the sentence, which names request parameters, to the protocol
// (api/ec2's and api/kms's tests check the sentences).
func TestInputRefusalsInOwnTerms(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	two := 2
	for _, c := range []struct {
		name   string
		err    error
		class  openami.Class
		reason openami.Reason
		field  string
		other  string
		value  string
	}{
		{name: "key type", class: openami.InvalidParameter, field: "KeyType", value: "dsa",
			err: second(f.svc.Identity().CreateKeyPair(ctx, f.p, identity.CreateKeyPairInput{Name: "k", Type: "dsa"}))},
		{name: "key name too long", class: openami.InvalidParameter, reason: openami.ReasonTooLong, field: "KeyName", value: strings.Repeat("k", 256),
			err: second(f.svc.Identity().CreateKeyPair(ctx, f.p, identity.CreateKeyPairInput{Name: strings.Repeat("k", 256)}))},
		{name: "delete key pair by nothing", class: openami.MissingParameter, field: "KeyName", other: "KeyPairID",
			err: second(f.svc.Identity().DeleteKeyPair(ctx, f.p, "", ""))},
		{name: "volume type", class: openami.InvalidParameter, field: "VolumeType", value: "gp9",
			err: second(f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, Type: "gp9"}))},
		{name: "iops on gp2", class: openami.InvalidCombination, field: "Iops",
			err: second(f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, Type: "gp2", Iops: &two}))},
		{name: "no zone", class: openami.MissingParameter, field: "AvailabilityZone",
			err: second(f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{Size: 1}))},
		{name: "no size or snapshot", class: openami.MissingParameter, field: "Size", other: "SnapshotID",
			err: second(f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a"}))},
		{name: "key without encryption", class: openami.InvalidCombination, reason: openami.ReasonDependency, field: "KmsKeyID", other: "Encrypted",
			err: second(f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", Size: 1, KmsKeyID: "alias/aws/ebs"}))},
		{name: "copy without source", class: openami.MissingParameter, field: "SourceRegion",
			err: second(f.svc.EBS().CopySnapshot(ctx, f.p, ebs.CopySnapshotInput{SourceSnapshotID: "snap-0123456789abcdef0"}))},
		{name: "tags page size", class: openami.InvalidParameter, field: "MaxResults", value: "2",
			err: third(f.svc.DescribeTags(ctx, f.p, nil, Page{MaxResults: 2}))},
		{name: "tags without resources", class: openami.MissingParameter, field: "ResourceIDs",
			err: f.svc.CreateTags(ctx, f.p, nil, []openami.Tag{{Key: "k"}})},
		{name: "both key specs", class: openami.InvalidCombination, reason: openami.ReasonExclusive, field: "KeySpec", other: "CustomerMasterKeySpec",
			err: second(f.svc.KMS().CreateKey(ctx, f.p, kms.CreateKeyInput{KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT"}))},
	} {
		var oe *openami.Error
		if !errors.As(c.err, &oe) {
			t.Errorf("%s: %v, want an *openami.Error", c.name, c.err)
			continue
		}
		if oe.Class != c.class || oe.Reason != c.reason || oe.Field != c.field || oe.Other != c.other || oe.Value != c.value || oe.Message != "" {
			t.Errorf("%s: %v %q field %q other %q value %q message %q,\n want %v %q field %q other %q value %q and no message",
				c.name, oe.Class, oe.Reason, oe.Field, oe.Other, oe.Value, oe.Message, c.class, c.reason, c.field, c.other, c.value)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }
