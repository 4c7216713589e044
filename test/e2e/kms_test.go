package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/openami/openami/rules/identity"
)

// kms returns a KMS client for the credentials in the region.
func (s *server) kms(c identity.Credentials, region string) *kms.Client {
	return kms.NewFromConfig(s.awsConfig(c, region))
}

func createKey(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *kmstypes.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

func TestKMSKeyLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		acct := s.account(t, "kms-owner")
		c := s.kms(acct, "us-east-1")

		before := time.Now().Add(-time.Second)
		md := createKey(t, c, &kms.CreateKeyInput{
			Description: aws.String("backups"),
			Tags:        []kmstypes.Tag{{TagKey: aws.String("team"), TagValue: aws.String("infra")}},
		})
		wantARN := fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/%s", acct.AccountID, *md.KeyId)
		switch {
		case *md.Arn != wantARN, *md.AWSAccountId != acct.AccountID, !md.Enabled,
			md.KeyState != kmstypes.KeyStateEnabled, md.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt,
			md.KeySpec != kmstypes.KeySpecSymmetricDefault, md.Origin != kmstypes.OriginTypeAwsKms,
			md.KeyManager != kmstypes.KeyManagerTypeCustomer, *md.Description != "backups",
			md.CreationDate.Before(before), md.DeletionDate != nil,
			!slices.Equal(md.EncryptionAlgorithms, []kmstypes.EncryptionAlgorithmSpec{kmstypes.EncryptionAlgorithmSpecSymmetricDefault}):
			t.Fatalf("CreateKey metadata: %+v", md)
		}
		if len(*md.KeyId) != 36 || strings.ToLower(*md.KeyId) != *md.KeyId {
			t.Fatalf("key id %q is not a lowercase UUID", *md.KeyId)
		}

		// DescribeKey by id, key ARN, alias name and alias ARN.
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/backups"), TargetKeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		aliasARN := fmt.Sprintf("arn:aws:kms:us-east-1:%s:alias/backups", acct.AccountID)
		for _, id := range []string{*md.KeyId, wantARN, "alias/backups", aliasARN} {
			out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
			if err != nil {
				t.Fatalf("DescribeKey %s: %v", id, err)
			}
			if *out.KeyMetadata.KeyId != *md.KeyId {
				t.Fatalf("DescribeKey %s: key %s", id, *out.KeyMetadata.KeyId)
			}
		}

		// Malformed and unknown ids; keys are per region.
		for id, code := range map[string]string{
			"not-a-key":                              "NotFoundException",
			"alias/nothing":                          "NotFoundException",
			"00000000-0000-4000-8000-000000000000":   "NotFoundException",
			"arn:aws:kms:us-east-1:123:key/whatever": "NotFoundException",
		} {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
			wantCode(t, err, code)
		}
		_, err := s.kms(acct, "us-west-2").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
		wantCode(t, err, "NotFoundException")

		// Tags and the description.
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []kmstypes.Tag{
			{TagKey: aws.String("team"), TagValue: aws.String("storage")}, {TagKey: aws.String("env"), TagValue: aws.String("prod")},
		}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{"env"}}); err != nil {
			t.Fatal(err)
		}
		tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: md.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" || *tags.Tags[0].TagValue != "storage" {
			t.Fatalf("tags %+v", tags.Tags)
		}
		_, err = c.TagResource(ctx, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []kmstypes.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("")}}})
		wantCode(t, err, "TagException")

		// Disable: cryptography refused, description still works.
		if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		wantCode(t, err, "DisabledException")
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/backups"), KeySpec: kmstypes.DataKeySpecAes256})
		wantCode(t, err, "DisabledException")
		out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
		if err != nil || out.KeyMetadata.Enabled || out.KeyMetadata.KeyState != kmstypes.KeyStateDisabled {
			t.Fatalf("disabled key: %+v %v", out, err)
		}
		if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("kept")})
		if err != nil {
			t.Fatal(err)
		}
		// A ciphertext made while enabled does not decrypt while disabled.
		c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		wantCode(t, err, "DisabledException")
		c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId})

		// Scheduled deletion: 7–30 days, then PendingDeletion; cancel
		// leaves it Disabled.
		for _, days := range []int32{6, 31} {
			_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(days)})
			wantCode(t, err, "ValidationException")
		}
		sched, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		if *sched.KeyId != wantARN || sched.KeyState != kmstypes.KeyStatePendingDeletion || *sched.PendingWindowInDays != 7 ||
			sched.DeletionDate.Sub(time.Now()) < 7*24*time.Hour-time.Minute || sched.DeletionDate.Sub(time.Now()) > 7*24*time.Hour+time.Minute {
			t.Fatalf("ScheduleKeyDeletion: %+v", sched)
		}
		out, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
		if err != nil || out.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion || out.KeyMetadata.DeletionDate == nil ||
			*out.KeyMetadata.PendingDeletionWindowInDays != 7 {
			t.Fatalf("pending key: %+v %v", out, err)
		}
		for name, call := range map[string]func() error{
			"Encrypt": func() error {
				_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
				return err
			},
			"Decrypt": func() error {
				_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
				return err
			},
			"EnableKey": func() error {
				_, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId})
				return err
			},
			"DisableKey": func() error {
				_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})
				return err
			},
			"ScheduleKeyDeletion": func() error {
				_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
				return err
			},
			"CreateAlias": func() error {
				_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/late"), TargetKeyId: md.KeyId})
				return err
			},
		} {
			t.Run(name, func(t *testing.T) { wantCode(t, call(), "KMSInvalidStateException") })
		}
		cancel, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String("alias/backups")})
		if err != nil || *cancel.KeyId != wantARN {
			t.Fatalf("CancelKeyDeletion: %+v %v", cancel, err)
		}
		_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
		wantCode(t, err, "KMSInvalidStateException")
		out, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})
		if err != nil || out.KeyMetadata.KeyState != kmstypes.KeyStateDisabled || out.KeyMetadata.DeletionDate != nil {
			t.Fatalf("cancelled key: %+v %v", out, err)
		}
		if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "kept" {
			t.Fatalf("Decrypt after cancel: %v %q", err, dec.Plaintext)
		}

		// Unsupported kinds of key.
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
		wantCode(t, err, "UnsupportedOperationException")
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
		wantCode(t, err, "UnsupportedOperationException")
	})
}

func TestKMSListKeysAndAliases(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		acct := s.account(t, "kms-lister")
		c := s.kms(acct, "us-east-1")
		var ids []string
		for range 5 {
			ids = append(ids, *createKey(t, c, nil).KeyId)
		}
		slices.Sort(ids)
		// Another account's and another region's keys are not listed.
		createKey(t, s.kms(s.account(t, "kms-other"), "us-east-1"), nil)
		createKey(t, s.kms(acct, "us-west-2"), nil)

		var got []string
		var marker *string
		pages := 0
		for {
			out, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, k := range out.Keys {
				got = append(got, *k.KeyId)
				if !strings.HasSuffix(*k.KeyArn, ":"+acct.AccountID+":key/"+*k.KeyId) {
					t.Fatalf("KeyArn %s", *k.KeyArn)
				}
			}
			if !out.Truncated {
				if out.NextMarker != nil {
					t.Fatalf("NextMarker %q on the last page", *out.NextMarker)
				}
				break
			}
			marker = out.NextMarker
		}
		if !slices.Equal(got, ids) || pages != 3 {
			t.Fatalf("ListKeys in %d pages: %v, want %v", pages, got, ids)
		}
		// The paginator agrees.
		p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(3)})
		n := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Keys)
		}
		if n != 5 {
			t.Fatalf("paginator saw %d keys", n)
		}
		_, err := c.ListKeys(ctx, &kms.ListKeysInput{Marker: aws.String("garbage")})
		wantCode(t, err, "InvalidMarkerException")

		// Aliases: prefix rules, reserved names, duplicates, listing,
		// retargeting and deletion.
		for name, code := range map[string]string{
			"backups":           "ValidationException",
			"alias/with:colon":  "ValidationException",
			"alias/with space":  "ValidationException",
			"alias/aws/ebs":     "NotAuthorizedException",
			"alias/aws/mine":    "NotAuthorizedException",
			"alias/" + ids[0]:   "", // a UUID-looking name is fine
			"alias/team/backup": "",
		} {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(ids[0])})
			if code == "" {
				if err != nil {
					t.Fatalf("CreateAlias %s: %v", name, err)
				}
				continue
			}
			wantCode(t, err, code)
		}
		_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/team/backup"), TargetKeyId: aws.String(ids[1])})
		wantCode(t, err, "AlreadyExistsException")
		_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("alias/team/backup")})
		wantCode(t, err, "ValidationException")
		_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("00000000-0000-4000-8000-000000000000")})
		wantCode(t, err, "NotFoundException")
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/second"), TargetKeyId: aws.String(ids[1])}); err != nil {
			t.Fatal(err)
		}
		all, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range all.Aliases {
			if *a.AliasArn != fmt.Sprintf("arn:aws:kms:us-east-1:%s:%s", acct.AccountID, *a.AliasName) {
				t.Fatalf("alias %+v", a)
			}
			if *a.AliasName == "alias/aws/ebs" {
				// Predefined by AWS, its key not made yet: no target, no dates.
				if a.TargetKeyId != nil || a.CreationDate != nil {
					t.Fatalf("predefined alias %+v", a)
				}
				continue
			}
			names = append(names, *a.AliasName)
			if a.CreationDate == nil {
				t.Fatalf("alias %+v", a)
			}
		}
		if want := []string{"alias/" + ids[0], "alias/second", "alias/team/backup"}; !slices.Equal(names, want) || len(all.Aliases) != 4 {
			t.Fatalf("ListAliases: %v and alias/aws/ebs, want %v and alias/aws/ebs", names, want)
		}
		of, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(ids[1])})
		if err != nil || len(of.Aliases) != 1 || *of.Aliases[0].AliasName != "alias/second" || *of.Aliases[0].TargetKeyId != ids[1] {
			t.Fatalf("ListAliases of a key: %+v %v", of, err)
		}
		page, err := c.ListAliases(ctx, &kms.ListAliasesInput{Limit: aws.Int32(3)})
		if err != nil || len(page.Aliases) != 3 || !page.Truncated {
			t.Fatalf("ListAliases page: %+v %v", page, err)
		}
		rest, err := c.ListAliases(ctx, &kms.ListAliasesInput{Limit: aws.Int32(3), Marker: page.NextMarker})
		if err != nil || len(rest.Aliases) != 1 || rest.Truncated || *rest.Aliases[0].AliasName != "alias/team/backup" {
			t.Fatalf("ListAliases second page: %+v %v", rest, err)
		}
		if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/second"), TargetKeyId: aws.String(ids[2])}); err != nil {
			t.Fatal(err)
		}
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/second")})
		if err != nil || *d.KeyMetadata.KeyId != ids[2] {
			t.Fatalf("alias after UpdateAlias: %+v %v", d, err)
		}
		if _, err := c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/second")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/second")})
		wantCode(t, err, "NotFoundException")
		_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/second")})
		wantCode(t, err, "NotFoundException")
	})
}

func TestKMSEncryptDecrypt(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		acct := s.account(t, "kms-crypto")
		c := s.kms(acct, "us-east-1")
		a := createKey(t, c, nil)
		b := createKey(t, c, nil)
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/a"), TargetKeyId: a.KeyId}); err != nil {
			t.Fatal(err)
		}

		// Round trips, without and with an encryption context; Decrypt
		// needs no KeyId.
		plain := make([]byte, 4096)
		rand.Read(plain)
		encCtx := map[string]string{"volume": "vol-1", "purpose": "test"}
		for _, ec := range []map[string]string{nil, encCtx} {
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/a"), Plaintext: plain, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if *enc.KeyId != *a.Arn || enc.EncryptionAlgorithm != kmstypes.EncryptionAlgorithmSpecSymmetricDefault ||
				bytes.Contains(enc.CiphertextBlob, plain[:64]) {
				t.Fatalf("Encrypt: %+v", enc)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.Plaintext, plain) || *dec.KeyId != *a.Arn {
				t.Fatalf("Decrypt: key %s, %d bytes", *dec.KeyId, len(dec.Plaintext))
			}
			// With the right KeyId too, and not with another key's.
			if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: a.Arn}); err != nil {
				t.Fatal(err)
			}
			_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: b.KeyId})
			wantCode(t, err, "IncorrectKeyException")
		}

		// The encryption context is bound: a missing, different or extra
		// pair fails, and so does any altered byte.
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: []byte("secret"), EncryptionContext: encCtx})
		if err != nil {
			t.Fatal(err)
		}
		for _, ec := range []map[string]string{
			nil,
			{"volume": "vol-2", "purpose": "test"},
			{"volume": "vol-1"},
			{"volume": "vol-1", "purpose": "test", "extra": ""},
		} {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			wantCode(t, err, "InvalidCiphertextException")
		}
		for _, i := range []int{0, 1, 20, len(enc.CiphertextBlob) - 1} {
			bad := bytes.Clone(enc.CiphertextBlob)
			bad[i] ^= 1
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: encCtx})
			wantCode(t, err, "InvalidCiphertextException")
		}
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("short")})
		wantCode(t, err, "InvalidCiphertextException")
		// Another region does not know the key.
		_, err = s.kms(acct, "us-west-2").Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
		wantCode(t, err, "InvalidCiphertextException")

		// ReEncrypt moves a ciphertext to another key and context
		// without showing the plaintext.
		re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: encCtx,
			DestinationKeyId: b.KeyId, DestinationEncryptionContext: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if *re.SourceKeyId != *a.Arn || *re.KeyId != *b.Arn {
			t.Fatalf("ReEncrypt keys %s → %s", *re.SourceKeyId, *re.KeyId)
		}
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}})
		if err != nil || string(dec.Plaintext) != "secret" || *dec.KeyId != *b.Arn {
			t.Fatalf("Decrypt of the re-encrypted blob: %v %q", err, dec.Plaintext)
		}

		// Data keys: AES_256, AES_128, NumberOfBytes; without plaintext.
		for _, tc := range []struct {
			in   kms.GenerateDataKeyInput
			size int
		}{
			{kms.GenerateDataKeyInput{KeySpec: kmstypes.DataKeySpecAes256}, 32},
			{kms.GenerateDataKeyInput{KeySpec: kmstypes.DataKeySpecAes128}, 16},
			{kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(64), EncryptionContext: encCtx}, 64},
		} {
			in := tc.in
			in.KeyId = a.KeyId
			dk, err := c.GenerateDataKey(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			if len(dk.Plaintext) != tc.size || *dk.KeyId != *a.Arn {
				t.Fatalf("GenerateDataKey: %d bytes, key %s", len(dk.Plaintext), *dk.KeyId)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: in.EncryptionContext})
			if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
				t.Fatalf("Decrypt of a data key: %v", err)
			}
		}
		np, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: a.KeyId, KeySpec: kmstypes.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: np.CiphertextBlob})
		if err != nil || len(dec.Plaintext) != 32 {
			t.Fatalf("Decrypt of a data key made without plaintext: %v", err)
		}
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: a.KeyId})
		wantCode(t, err, "ValidationException")
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: a.KeyId, KeySpec: kmstypes.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
		wantCode(t, err, "ValidationException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: make([]byte, 4097)})
		wantCode(t, err, "ValidationException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecRsaesOaepSha256})
		wantCode(t, err, "InvalidKeyUsageException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
		wantCode(t, err, "DryRunOperationException")
	})
}

func TestKMSKeyPolicies(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		owner, friend, stranger := s.account(t, "kms-owner"), s.account(t, "kms-friend"), s.account(t, "kms-stranger")
		oc, fc, sc := s.kms(owner, "us-east-1"), s.kms(friend, "us-east-1"), s.kms(stranger, "us-east-1")
		md := createKey(t, oc, nil)
		if _, err := oc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		aliasARN := fmt.Sprintf("arn:aws:kms:us-east-1:%s:alias/shared", owner.AccountID)

		// The default policy trusts the owner's root.
		pol, err := oc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("default")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(*pol.Policy, `"arn:aws:iam::`+owner.AccountID+`:root"`) || !strings.Contains(*pol.Policy, `"kms:*"`) {
			t.Fatalf("default policy %s", *pol.Policy)
		}

		// Before any sharing, the others are refused.
		_, err = fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.Arn})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId}) // a bare id names the caller's own key
		wantCode(t, err, "NotFoundException")

		// Malformed policies and the lockout check.
		for doc, code := range map[string]string{
			"not json":                 "MalformedPolicyDocumentException",
			`{"Version":"2012-10-17"}`: "MalformedPolicyDocumentException",
			`{"Statement":"x"}`:        "MalformedPolicyDocumentException",
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}]}`: "MalformedPolicyDocumentException",
			`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}`:           "MalformedPolicyDocumentException",
			// Valid, but the owner could never change it again.
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + owner.AccountID + `"},"Action":"kms:Encrypt","Resource":"*"}]}`: "MalformedPolicyDocumentException",
		} {
			_, err := oc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("default"), Policy: aws.String(doc)})
			wantCode(t, err, code)
		}

		// Share with the friend: the owner keeps everything, the friend
		// may describe and use the key for data, by key ARN or alias ARN.
		policy := `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + owner.AccountID + `:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Friend", "Effect": "Allow", "Principal": {"AWS": ["` + friend.AccountID + `"]},
     "Action": ["kms:DescribeKey", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"], "Resource": "*"},
    {"Sid": "NoDisabling", "Effect": "Deny", "Principal": "*", "Action": "kms:Disable*", "Resource": "*"}
  ]
}`
		if _, err := oc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(policy)}); err != nil {
			t.Fatal(err)
		}
		got, err := oc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId})
		if err != nil || *got.Policy != policy {
			t.Fatalf("GetKeyPolicy after PutKeyPolicy: %v", err)
		}
		// An explicit Deny binds the owner too.
		_, err = oc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})
		wantCode(t, err, "AccessDeniedException")

		for _, id := range []string{*md.Arn, aliasARN} {
			d, err := fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
			if err != nil || *d.KeyMetadata.KeyId != *md.KeyId || *d.KeyMetadata.AWSAccountId != owner.AccountID {
				t.Fatalf("friend's DescribeKey %s: %+v %v", id, d, err)
			}
		}
		enc, err := fc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(aliasARN), Plaintext: []byte("from friend")})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := oc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "from friend" {
			t.Fatalf("owner decrypts the friend's ciphertext: %v", err)
		}
		dec, err = fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "from friend" {
			t.Fatalf("friend decrypts: %v", err)
		}
		dk, err := fc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: kmstypes.DataKeySpecAes256})
		if err != nil || len(dk.Plaintext) != 32 {
			t.Fatalf("friend's GenerateDataKey: %v", err)
		}
		// Management is never cross-account, whatever the policy.
		_, err = fc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.Arn})
		wantCode(t, err, "NotFoundException")
		_, err = fc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.Arn})
		wantCode(t, err, "NotFoundException")
		// The friend's own ListKeys does not show it.
		lk, err := fc.ListKeys(ctx, &kms.ListKeysInput{})
		if err != nil || len(lk.Keys) != 0 {
			t.Fatalf("friend's ListKeys: %+v %v", lk, err)
		}

		// The stranger is refused everything, and learns nothing from
		// an unknown key either.
		for name, call := range map[string]func() error{
			"DescribeKey": func() error {
				_, err := sc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.Arn})
				return err
			},
			"DescribeKey by alias ARN": func() error {
				_, err := sc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(aliasARN)})
				return err
			},
			"Encrypt": func() error {
				_, err := sc.Encrypt(ctx, &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")})
				return err
			},
			"Decrypt": func() error {
				_, err := sc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
				return err
			},
			"GenerateDataKey": func() error {
				_, err := sc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: kmstypes.DataKeySpecAes256})
				return err
			},
			"ReEncrypt to the key": func() error {
				own := createKey(t, sc, nil)
				e, err := sc.Encrypt(ctx, &kms.EncryptInput{KeyId: own.KeyId, Plaintext: []byte("x")})
				if err != nil {
					return err
				}
				_, err = sc.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: e.CiphertextBlob, DestinationKeyId: md.Arn})
				return err
			},
			"DescribeKey of an unknown key": func() error {
				_, err := sc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(
					fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/00000000-0000-4000-8000-000000000000", owner.AccountID))})
				return err
			},
		} {
			t.Run("stranger "+name, func(t *testing.T) { wantCode(t, call(), "AccessDeniedException") })
		}

		// Taking the friend out of the policy ends its access.
		if _, err := oc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + owner.AccountID + `"},"Action":"kms:*","Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
		_, err = fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		wantCode(t, err, "AccessDeniedException")
		// And the owner's Disable is allowed again.
		if _, err := oc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKMSTerraform applies keys (with the default policy and with a policy
// sharing the key), an alias, a ciphertext and a data source with real
// Terraform and the AWS provider, checks them against openami, checks the
// plan shows no drift, and destroys everything (ScheduleKeyDeletion).
func TestKMSTerraform(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	friend := s.account(t, "tf-friend")
	c := s.kms(s.admin, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "kms", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	x.vars(map[string]any{
		"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey,
		"account_id": s.admin.AccountID, "friend_account_id": friend.AccountID,
	})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()

	plain, shared := str(t, outs, "plain_key_id"), str(t, outs, "shared_key_id")
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/tf-plain")})
	if err != nil || *d.KeyMetadata.KeyId != plain || *d.KeyMetadata.Description != "terraform default policy" {
		t.Fatalf("the alias names %+v, %v; want %s", d, err, plain)
	}
	if str(t, outs, "plain_arn") != *d.KeyMetadata.Arn || str(t, outs, "alias_target_arn") != *d.KeyMetadata.Arn ||
		str(t, outs, "data_key_arn") != *d.KeyMetadata.Arn || str(t, outs, "data_key_state") != "Enabled" {
		t.Fatalf("terraform recorded %v for key %s", outs, *d.KeyMetadata.Arn)
	}
	ebs, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	if err != nil || str(t, outs, "ebs_alias_target_arn") != *ebs.KeyMetadata.Arn || ebs.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws {
		t.Fatalf("data.aws_kms_alias.ebs: %s, DescribeKey %+v %v", str(t, outs, "ebs_alias_target_arn"), ebs, err)
	}
	blob, err := base64.StdEncoding.DecodeString(str(t, outs, "ciphertext"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"purpose": "test"}})
	if err != nil || string(dec.Plaintext) != "terraform secret" {
		t.Fatalf("Decrypt of terraform's ciphertext: %v", err)
	}
	// The shared key's policy lets the friend encrypt with it.
	sharedARN := fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/%s", s.admin.AccountID, shared)
	if _, err := s.kms(friend, "us-east-1").Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(sharedARN), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("friend's Encrypt with the shared key: %v", err)
	}

	x.noDrift()
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	for id, days := range map[string]int32{plain: 7, shared: 10} {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil || d.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion || *d.KeyMetadata.PendingDeletionWindowInDays != days {
			t.Fatalf("key %s after destroy: %+v %v", id, d, err)
		}
	}
	aliases, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil || len(aliases.Aliases) != 1 || *aliases.Aliases[0].AliasName != "alias/aws/ebs" {
		t.Fatalf("aliases after destroy: %+v %v, want only the AWS managed alias/aws/ebs", aliases, err)
	}
}
