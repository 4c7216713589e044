package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestKMSGrants: a second account uses the owner's key through a grant
// (with its token, by key ARN, within its constraints), a third account
// retires what it may, and the second loses the key on revoke; listings,
// named retries and AWS's errors on the way.
func TestKMSGrants(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		owner, friend, ops := s.account(t, "grant-owner"), s.account(t, "grant-friend"), s.account(t, "grant-ops")
		oc, fc, xc := s.kms(owner, "us-east-1"), s.kms(friend, "us-east-1"), s.kms(ops, "us-east-1")
		md := createKey(t, oc, nil)
		encCtx := map[string]string{"volume": "vol-1"}
		friendRole := "arn:aws:iam::" + friend.AccountID + ":role/app"
		opsRoot := "arn:aws:iam::" + ops.AccountID + ":root"

		// Without a grant the friend is refused.
		_, err := fc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: encCtx})
		wantCode(t, err, "AccessDeniedException")

		cg, err := oc.CreateGrant(ctx, &kms.CreateGrantInput{
			KeyId: md.KeyId, GranteePrincipal: aws.String(friendRole), RetiringPrincipal: aws.String(opsRoot),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationGenerateDataKey, kmstypes.GrantOperationDecrypt,
				kmstypes.GrantOperationDescribeKey},
			Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: encCtx},
			Name:        aws.String("ebs-vol-1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(*cg.GrantId) != 64 || *cg.GrantToken == "" {
			t.Fatalf("CreateGrant: %+v", cg)
		}

		// The friend uses the key at once, with and without the token.
		dk, err := fc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: kmstypes.DataKeySpecAes256,
			EncryptionContext: encCtx, GrantTokens: []string{*cg.GrantToken}})
		if err != nil {
			t.Fatalf("the grantee's GenerateDataKey with the token: %v", err)
		}
		dec, err := fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
		if err != nil || string(dec.Plaintext) != string(dk.Plaintext) || *dec.KeyId != *md.Arn {
			t.Fatalf("the grantee's Decrypt: %v", err)
		}
		d, err := fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.Arn, GrantTokens: []string{*cg.GrantToken}})
		if err != nil || *d.KeyMetadata.KeyId != *md.KeyId {
			t.Fatalf("the grantee's DescribeKey: %v", err)
		}
		// Outside the grant: another context, another operation, a bad
		// token.
		_, err = fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx, KeyId: md.Arn,
			GrantTokens: []string{"bm90IGEgdG9rZW4"}})
		wantCode(t, err, "InvalidGrantTokenException")
		_, err = fc.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: kmstypes.DataKeySpecAes256,
			EncryptionContext: map[string]string{"volume": "vol-2"}})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.Encrypt(ctx, &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("x"), EncryptionContext: encCtx})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.Arn})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.Arn})
		wantCode(t, err, "NotFoundException")

		// A named retry returns the same grant with a new token; other
		// parameters make another grant.
		again, err := oc.CreateGrant(ctx, &kms.CreateGrantInput{
			KeyId: md.Arn, GranteePrincipal: aws.String(friendRole), RetiringPrincipal: aws.String(opsRoot),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDescribeKey, kmstypes.GrantOperationDecrypt,
				kmstypes.GrantOperationGenerateDataKey},
			Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: encCtx},
			Name:        aws.String("ebs-vol-1"),
		})
		if err != nil || *again.GrantId != *cg.GrantId || *again.GrantToken == *cg.GrantToken {
			t.Fatalf("named retry: %+v %v", again, err)
		}
		second, err := oc.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt}, Name: aws.String("ebs-vol-1")})
		if err != nil || *second.GrantId == *cg.GrantId {
			t.Fatalf("same name, other parameters: %+v %v", second, err)
		}

		// Listings.
		list, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId})
		if err != nil || len(list.Grants) != 2 || list.Truncated {
			t.Fatalf("ListGrants: %+v %v", list, err)
		}
		var g kmstypes.GrantListEntry
		for _, e := range list.Grants {
			if *e.GrantId == *cg.GrantId {
				g = e
			}
		}
		slices.Sort(g.Operations)
		switch {
		case g.GrantId == nil, *g.KeyId != *md.Arn, *g.Name != "ebs-vol-1", *g.GranteePrincipal != friendRole,
			*g.RetiringPrincipal != opsRoot, *g.IssuingAccount != "arn:aws:iam::"+owner.AccountID+":root",
			g.CreationDate == nil, g.Constraints == nil || g.Constraints.EncryptionContextSubset["volume"] != "vol-1",
			g.Constraints.EncryptionContextEquals != nil,
			!slices.Equal(g.Operations, []kmstypes.GrantOperation{"Decrypt", "DescribeKey", "GenerateDataKey"}):
			t.Fatalf("grant entry %+v", g)
		}
		page, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId, Limit: aws.Int32(1)})
		if err != nil || len(page.Grants) != 1 || !page.Truncated {
			t.Fatalf("ListGrants page: %+v %v", page, err)
		}
		rest, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId, Limit: aws.Int32(1), Marker: page.NextMarker})
		if err != nil || len(rest.Grants) != 1 || rest.Truncated || *rest.Grants[0].GrantId == *page.Grants[0].GrantId {
			t.Fatalf("ListGrants second page: %+v %v", rest, err)
		}
		byGrantee, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.Arn, GranteePrincipal: aws.String(opsRoot)})
		if err != nil || len(byGrantee.Grants) != 1 || *byGrantee.Grants[0].GrantId != *second.GrantId || byGrantee.Grants[0].Constraints != nil {
			t.Fatalf("ListGrants by grantee: %+v %v", byGrantee, err)
		}
		_, err = oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId, GrantId: aws.String(strings.Repeat("0", 64))})
		wantCode(t, err, "InvalidGrantIdException")
		retirable, err := xc.ListRetirableGrants(ctx, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(opsRoot)})
		if err != nil || len(retirable.Grants) != 1 || *retirable.Grants[0].GrantId != *cg.GrantId {
			t.Fatalf("ListRetirableGrants: %+v %v", retirable, err)
		}
		_, err = fc.ListRetirableGrants(ctx, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(opsRoot)})
		wantCode(t, err, "AccessDeniedException")

		// Bad input gets AWS's errors and makes nothing.
		for name, in := range map[string]*kms.CreateGrantInput{
			"ValidationException unknown operation": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot), Operations: []kmstypes.GrantOperation{"Launch"}},
			"ValidationException asymmetric operation": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationSign}},
			"ValidationException two constraints": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
				Operations:  []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt},
				Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: encCtx, EncryptionContextEquals: encCtx}},
			"ValidationException bad name": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}, Name: aws.String("a name")},
			"InvalidArnException": {KeyId: md.KeyId, GranteePrincipal: aws.String("bob"),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}},
			"InvalidGrantTokenException": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}, GrantTokens: []string{"x"}},
			"NotFoundException": {KeyId: aws.String("00000000-0000-4000-8000-000000000000"), GranteePrincipal: aws.String(opsRoot),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}},
			"DryRunOperationException": {KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
				Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}, DryRun: aws.Bool(true)},
		} {
			_, err := oc.CreateGrant(ctx, in)
			wantCode(t, err, strings.Fields(name)[0])
		}
		if l, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId}); err != nil || len(l.Grants) != 2 {
			t.Fatalf("grants after bad requests: %+v %v", l, err)
		}

		// The friend may not retire or revoke its grant (no RetireGrant in
		// it); ops may not retire the second grant, whose grantee it is
		// without RetireGrant.
		_, err = fc.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: cg.GrantToken})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: md.Arn, GrantId: cg.GrantId})
		wantCode(t, err, "AccessDeniedException")
		_, err = xc.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: md.Arn, GrantId: second.GrantId})
		wantCode(t, err, "AccessDeniedException")
		_, err = xc.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: aws.String("garbage")})
		wantCode(t, err, "InvalidGrantTokenException")
		_, err = xc.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: md.Arn})
		wantCode(t, err, "ValidationException")
		_, err = oc.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: aws.String("nope")})
		wantCode(t, err, "InvalidGrantIdException")

		// The owner revokes the friend's grant: its access ends at once.
		if _, err := oc.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: cg.GrantId}); err != nil {
			t.Fatal(err)
		}
		_, err = fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
		wantCode(t, err, "AccessDeniedException")
		_, err = fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.Arn, GrantTokens: []string{*cg.GrantToken}})
		wantCode(t, err, "AccessDeniedException")
		_, err = oc.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: cg.GrantId})
		wantCode(t, err, "InvalidGrantIdException")
		_, err = xc.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: again.GrantToken})
		wantCode(t, err, "NotFoundException")

		// A grant the ops account may retire (its retiring principal),
		// retired by token.
		third, err := oc.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(friendRole),
			RetiringPrincipal: aws.String("arn:aws:iam::" + ops.AccountID + ":user/janitor"),
			Operations:        []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fc.Encrypt(ctx, &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("Encrypt through the third grant: %v", err)
		}
		if _, err := xc.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: third.GrantToken}); err != nil {
			t.Fatalf("the retiring principal's RetireGrant: %v", err)
		}
		_, err = fc.Encrypt(ctx, &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")})
		wantCode(t, err, "AccessDeniedException")

		// Disabled keys take no grants; deletion takes them all.
		if _, err := oc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = oc.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(opsRoot),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}})
		wantCode(t, err, "DisabledException")
		if l, err := oc.ListGrants(ctx, &kms.ListGrantsInput{KeyId: md.KeyId}); err != nil || len(l.Grants) != 1 {
			t.Fatalf("ListGrants of a disabled key: %+v %v", l, err)
		}
	})
}

// TestKMSGrantTerraform applies aws_kms_grant (cross-account, with a
// constraint) with real Terraform, checks the friend can use the key,
// checks the plan shows no drift, and destroys it (RevokeGrant), after
// which the friend cannot.
func TestKMSGrantTerraform(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	friend := s.account(t, "tf-grantee")
	c, fc := s.kms(s.admin, "us-east-1"), s.kms(friend, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "kms_grant", "main.tf"))
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
	keyARN, grantID := str(t, outs, "key_arn"), str(t, outs, "grant_id")

	list, err := c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyARN)})
	if err != nil || len(list.Grants) != 2 {
		t.Fatalf("ListGrants after apply: %+v %v", list, err)
	}
	var g kmstypes.GrantListEntry
	for _, e := range list.Grants {
		if *e.GrantId == grantID {
			g = e
		}
	}
	if g.GrantId == nil || *g.Name != "tf-grant" || *g.GranteePrincipal != fmt.Sprintf("arn:aws:iam::%s:root", friend.AccountID) ||
		g.Constraints == nil || g.Constraints.EncryptionContextEquals["app"] != "tf" {
		t.Fatalf("the grant terraform made: %+v", g)
	}
	encCtx := map[string]string{"app": "tf"}
	enc, err := fc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("granted"), EncryptionContext: encCtx})
	if err != nil {
		t.Fatalf("the grantee's Encrypt: %v", err)
	}
	if _, err := fc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx}); err != nil {
		t.Fatalf("the grantee's Decrypt: %v", err)
	}
	// The grant token terraform recorded works as a GrantTokens entry.
	token, err := base64.RawURLEncoding.DecodeString(str(t, outs, "grant_token"))
	if err != nil || len(token) == 0 {
		t.Fatalf("grant token %q: %v", str(t, outs, "grant_token"), err)
	}
	if _, err := fc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN), GrantTokens: []string{str(t, outs, "grant_token")}}); err != nil {
		t.Fatalf("DescribeKey with terraform's grant token: %v", err)
	}

	x.noDrift()
	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	_, err = fc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x"), EncryptionContext: encCtx})
	wantCode(t, err, "AccessDeniedException")
	list, err = c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyARN)})
	if err != nil || len(list.Grants) != 0 {
		t.Fatalf("ListGrants after destroy: %+v %v", list, err)
	}
}
