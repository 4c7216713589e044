package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/openami/openami/rules/identity"
)

// This file holds the end-to-end checks of the details a suite of EC2
// client tests written against AWS found (issue 18, item 3).

// boto3 runs a Python script with boto3 against the server as c; the
// script gets the endpoint in ENDPOINT and prints one JSON value, which
// boto3 decodes into out.
func boto3(t *testing.T, s *server, c identity.Credentials, script string, out any) {
	t.Helper()
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(netCLIEnv(t, c), "ENDPOINT="+s.URL)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("boto3 printed %q: %v", b, err)
	}
}

// TestKMSManagedAliasFirstReference: DescribeKey("alias/aws/ebs") before
// any EBS use answers the account's AWS managed key, made on that first
// reference, once however many clients ask at once (aws-sdk-go-v2), and
// boto3 sees it in a fresh account too.
func TestKMSManagedAliasFirstReference(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		acct := s.account(t, "managed-alias")
		c := s.kms(acct, "us-east-1")
		const n = 6
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
				errs[i] = err
				if err == nil {
					ids[i] = aws.ToString(out.KeyMetadata.KeyId)
					if out.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws || !out.KeyMetadata.Enabled {
						errs[i] = &unexpected{out.KeyMetadata}
					}
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("DescribeKey(alias/aws/ebs) #%d: %s %v, want one AWS managed key (%s)", i, ids[i], errs[i], ids[0])
			}
		}
		keys, err := c.ListKeys(ctx, &kms.ListKeysInput{})
		if err != nil || len(keys.Keys) != 1 || aws.ToString(keys.Keys[0].KeyId) != ids[0] {
			t.Fatalf("ListKeys after the first reference: %+v %v", keys, err)
		}

		var py struct {
			Manager string `json:"manager"`
			Again   bool   `json:"again"`
		}
		boto3(t, s, s.account(t, "managed-alias-py"), `
import json, os, sys, boto3
k = boto3.client("kms", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
a = k.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
b = k.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
json.dump({"manager": a["KeyManager"], "again": a["KeyId"] == b["KeyId"]}, sys.stdout)
`, &py)
		if py.Manager != "AWS" || !py.Again {
			t.Fatalf("boto3 describe_key(alias/aws/ebs): %+v", py)
		}
	})
}

type unexpected struct{ v any }

func (u *unexpected) Error() string { b, _ := json.Marshal(u.v); return "unexpected " + string(b) }
