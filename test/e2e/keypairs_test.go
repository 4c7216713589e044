package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"
)

// errorCode returns the AWS error code of err, or fails the test if err is
// not an API error.
func errorCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got success", code)
	}
	if got := errorCode(t, err); got != code {
		t.Fatalf("want error %s, got %s (%v)", code, got, err)
	}
}

func TestKeyPairLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-east-1")

		// RSA in PEM: the private key parses and matches the stored public key.
		created, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{
			KeyName: aws.String("deploy"),
			TagSpecifications: []types.TagSpecification{{
				ResourceType: types.ResourceTypeKeyPair,
				Tags:         []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(*created.KeyPairId, "key-") || *created.KeyFingerprint == "" {
			t.Fatalf("bad CreateKeyPair output: %+v", created)
		}
		signer, err := ssh.ParsePrivateKey([]byte(*created.KeyMaterial))
		if err != nil {
			t.Fatalf("KeyMaterial does not parse: %v", err)
		}
		if len(created.Tags) != 1 || *created.Tags[0].Key != "team" {
			t.Fatalf("tags not returned: %+v", created.Tags)
		}

		// ED25519 in PPK.
		ed, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{
			KeyName: aws.String("putty"), KeyType: types.KeyTypeEd25519, KeyFormat: types.KeyFormatPpk,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(*ed.KeyMaterial, "PuTTY-User-Key-File-") {
			t.Fatalf("ppk material: %q", *ed.KeyMaterial)
		}

		// Import an ed25519 public key.
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		sshPub, _ := ssh.NewPublicKey(pub)
		imported, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{
			KeyName: aws.String("laptop"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantFP := strings.TrimPrefix(ssh.FingerprintSHA256(sshPub), "SHA256:")
		if !strings.HasPrefix(*imported.KeyFingerprint, wantFP) {
			t.Errorf("imported fingerprint %s, want %s(=)", *imported.KeyFingerprint, wantFP)
		}

		// Describe: all three, sorted by name, public key on request.
		all, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, k := range all.KeyPairs {
			names = append(names, *k.KeyName)
			if *k.KeyName == "deploy" {
				if got := strings.TrimSpace(*k.PublicKey); got != strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) {
					t.Errorf("public key %q does not match the private key", got)
				}
				if k.KeyType != types.KeyTypeRsa || k.CreateTime == nil || len(k.Tags) != 1 {
					t.Errorf("deploy described as %+v", k)
				}
			}
		}
		if strings.Join(names, ",") != "deploy,laptop,putty" {
			t.Fatalf("key pairs %v", names)
		}

		// Filters: AND across names, OR across values, wildcards, tags.
		for _, tc := range []struct {
			filters []types.Filter
			want    string
		}{
			{[]types.Filter{{Name: aws.String("key-name"), Values: []string{"d*", "lap?op"}}}, "deploy,laptop"},
			{[]types.Filter{{Name: aws.String("key-type"), Values: []string{"ed25519"}}}, "laptop,putty"},
			{[]types.Filter{{Name: aws.String("key-type"), Values: []string{"ed25519"}}, {Name: aws.String("key-name"), Values: []string{"p*"}}}, "putty"},
			{[]types.Filter{{Name: aws.String("tag:team"), Values: []string{"infra"}}}, "deploy"},
			{[]types.Filter{{Name: aws.String("tag-key"), Values: []string{"nope"}}}, ""},
			{[]types.Filter{{Name: aws.String("key-pair-id"), Values: []string{*imported.KeyPairId}}}, "laptop"},
		} {
			out, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range out.KeyPairs {
				got = append(got, *k.KeyName)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("filters %v: got %v, want %s", tc.filters, got, tc.want)
			}
			if tc.want != "" && out.KeyPairs[0].PublicKey != nil {
				t.Errorf("public key returned without IncludePublicKey")
			}
		}
		_, err = c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
		wantCode(t, err, "InvalidParameterValue")

		// Errors: duplicate, unknown name, bad material, bad type.
		_, err = c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")})
		wantCode(t, err, "InvalidKeyPair.Duplicate")
		_, err = c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)})
		wantCode(t, err, "InvalidKeyPair.Duplicate")
		_, err = c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"deploy", "missing"}})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		_, err = c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("junk"), PublicKeyMaterial: []byte("ssh-rsa not-a-key")})
		wantCode(t, err, "InvalidKeyPair.Format")
		_, err = c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("x"), KeyType: "dsa"})
		wantCode(t, err, "InvalidParameterValue")

		// Delete by name and by id; a missing name is not an error, as on AWS.
		if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("deploy")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: imported.KeyPairId}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("deploy")}); err != nil {
			t.Fatalf("deleting a missing name: %v", err)
		}
		_, err = c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: imported.KeyPairId})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		left, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left.KeyPairs) != 1 || *left.KeyPairs[0].KeyName != "putty" {
			t.Fatalf("after deletes: %+v", left.KeyPairs)
		}
		// The deleted key pair's tags are gone too.
		tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.Tags) != 0 {
			t.Fatalf("tags of deleted key pairs remain: %+v", tags.Tags)
		}
	})
}

// TestKeyPairsArePerAccountAndRegion checks that key pairs belong to one
// account in one region: others neither see nor collide with them.
func TestKeyPairsArePerAccountAndRegion(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		alice, bob := s.account(t, "alice"), s.account(t, "bob")
		a1 := s.ec2(alice, "us-east-1")
		if _, err := a1.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		// Same name in another region and another account: no conflict.
		if _, err := s.ec2(alice, "eu-west-1").CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		b1 := s.ec2(bob, "us-east-1")
		if _, err := b1.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k2")}); err != nil {
			t.Fatal(err)
		}
		out, err := b1.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.KeyPairs) != 1 || *out.KeyPairs[0].KeyName != "k2" {
			t.Fatalf("bob sees %+v", out.KeyPairs)
		}
		_, err = b1.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"k"}})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		aliceKeys, _ := a1.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
		// Bob cannot tag or delete Alice's key pair by id.
		id := aliceKeys.KeyPairs[0].KeyPairId
		_, err = b1.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*id}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		_, err = b1.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: id})
		wantCode(t, err, "InvalidKeyPair.NotFound")
		if out, _ := a1.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}); len(out.KeyPairs) != 1 {
			t.Fatal("alice's key pair was affected by bob")
		}
	})
}

func TestImportFormats(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.ec2(s.admin, "us-west-2")
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		sshPub, _ := ssh.NewPublicKey(pub)
		line := ssh.MarshalAuthorizedKey(sshPub)
		// RFC 4716 and base64 DER forms, which AWS accepts for RSA keys only.
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
		rfc := "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"test\"\n" +
			base64.StdEncoding.EncodeToString(rsaPub.Marshal()) + "\n---- END SSH2 PUBLIC KEY ----\n"
		der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		// AWS's fingerprint of an imported RSA key: MD5 of the DER public key.
		sum := md5.Sum(der)
		var hexes []string
		for _, b := range sum {
			hexes = append(hexes, hex.EncodeToString([]byte{b}))
		}
		wantFP := strings.Join(hexes, ":")
		for i, material := range [][]byte{line, []byte(rfc), []byte(base64.StdEncoding.EncodeToString(der))} {
			out, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("k" + string(rune('a'+i))), PublicKeyMaterial: material})
			if err != nil {
				t.Fatalf("format %d: %v", i, err)
			}
			if i > 0 && *out.KeyFingerprint != wantFP {
				t.Fatalf("format %d: fingerprint %s, want %s", i, *out.KeyFingerprint, wantFP)
			}
		}
	})
}
