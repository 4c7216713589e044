package kms

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openami/openami"
	kmsrules "github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/rulestest"
)

// serveRules returns a Handler over the real rules of KMS, on SQLite in a
// temp dir, and the principal of an account in us-east-1.
func serveRules(t *testing.T) (*Handler, openami.Principal) {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	p := rulestest.NewAccount(t, env.Identity(), "sentences")
	rules := kmsrules.New(kmsrules.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens})
	return New(rules), p
}

// call serves one KMS operation with a JSON body and returns the status,
// the exception's type and message (or the result's body).
func call(t *testing.T, h *Handler, p openami.Principal, op string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(string(b)))
	r.Header.Set("X-Amz-Target", targetPrefix+op)
	w := httptest.NewRecorder()
	h.Serve(w, r, b, p, "req")
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: body %q: %v", op, w.Body, err)
	}
	return w.Code, out
}

// TestValidationSentences pins, word for word, the ValidationException
// sentences a client of KMS sees for inputs that break KMS's constraints
// (null, length, pattern, enum, range), through the real rules of KMS.
func TestValidationSentences(t *testing.T) {
	h, p := serveRules(t)
	_, made := call(t, h, p, "CreateKey", map[string]any{})
	keyID := made["KeyMetadata"].(map[string]any)["KeyId"].(string)
	_, enc := call(t, h, p, "Encrypt", map[string]any{"KeyId": keyID, "Plaintext": []byte("x")})
	blob := enc["CiphertextBlob"] // base64, as JSON carries bytes
	grantee := "arn:aws:iam::" + p.AccountID + ":root"
	long := func(n int) string { return strings.Repeat("a", n) }
	tokens := make([]string, 11)
	for i := range tokens {
		tokens[i] = "t"
	}
	const v = "1 validation error detected: "
	for _, c := range []struct {
		op   string
		body map[string]any
		msg  string
	}{
		{"CreateAlias", map[string]any{"TargetKeyId": keyID},
			v + "Value null at 'aliasName' failed to satisfy constraint: Member must not be null"},
		{"CreateAlias", map[string]any{"AliasName": "alias/" + long(251), "TargetKeyId": keyID},
			v + "Value 'alias/" + long(251) + "' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"CreateAlias", map[string]any{"AliasName": "alias/x"},
			v + "Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null"},
		{"DescribeKey", map[string]any{},
			v + "Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"DescribeKey", map[string]any{"KeyId": long(2049)},
			v + "Value at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{"CreateKey", map[string]any{"KeyUsage": "X"},
			v + "Value 'X' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT]"},
		{"CreateKey", map[string]any{"KeySpec": "X"},
			v + "Value 'X' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSA_2048, …]"},
		{"CreateKey", map[string]any{"CustomerMasterKeySpec": "X"},
			v + "Value 'X' at 'customerMasterKeySpec' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSA_2048, …]"},
		{"CreateKey", map[string]any{"Origin": "X"},
			v + "Value 'X' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]"},
		{"CreateKey", map[string]any{"Description": long(8193)},
			v + "Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192"},
		{"UpdateKeyDescription", map[string]any{"KeyId": keyID, "Description": long(8193)},
			v + "Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192"},
		{"ListKeys", map[string]any{"Limit": -1},
			v + "Value '-1' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"ListKeys", map[string]any{"Limit": 1001},
			v + "Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{"ScheduleKeyDeletion", map[string]any{"KeyId": keyID, "PendingWindowInDays": 3},
			v + "Value '3' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "Operations": []string{"Encrypt"}},
			v + "Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "Operations": []string{"Encrypt"}, "GranteePrincipal": long(257)},
			v + "Value at 'granteePrincipal' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "Operations": []string{"Encrypt"}, "GranteePrincipal": "a b"},
			v + "Value 'a b' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "Operations": []string{"Encrypt"}, "GranteePrincipal": grantee, "RetiringPrincipal": "a b"},
			v + "Value 'a b' at 'retiringPrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$"},
		{"ListRetirableGrants", map[string]any{},
			v + "Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "GranteePrincipal": grantee},
			v + "Value null at 'operations' failed to satisfy constraint: Member must not be null"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "GranteePrincipal": grantee, "Operations": []string{"Nope", "Encrypt"}},
			v + "Value '[Nope, Encrypt]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, DeriveSharedSecret]]"},
		{"CreateGrant", map[string]any{"KeyId": keyID, "GranteePrincipal": grantee, "Operations": []string{"Encrypt"}, "Name": "bad name"},
			v + "Value 'bad name' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$ and have length at most 256"},
		{"ListGrants", map[string]any{"KeyId": keyID, "GranteePrincipal": "a b"},
			v + "Value 'a b' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$ and have length at most 256"},
		{"RevokeGrant", map[string]any{"KeyId": keyID},
			v + "Value null at 'grantId' failed to satisfy constraint: Member must not be null"},
		{"Encrypt", map[string]any{"KeyId": keyID, "Plaintext": []byte("x"), "GrantTokens": []string{""}},
			v + "Value at 'grantTokens' failed to satisfy constraint: Member must have length between 1 and 8192"},
		{"Encrypt", map[string]any{"KeyId": keyID, "Plaintext": []byte("x"), "GrantTokens": tokens},
			v + "Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"RetireGrant", map[string]any{"GrantToken": long(8193)},
			v + "Value at 'grantToken' failed to satisfy constraint: Member must have length between 1 and 8192"},
		{"PutKeyPolicy", map[string]any{"KeyId": keyID, "PolicyName": "default"},
			v + "Value at 'policy' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"PutKeyPolicy", map[string]any{"KeyId": keyID, "PolicyName": "default", "Policy": long(32*1024 + 1)},
			v + "Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768"},
		{"Encrypt", map[string]any{"KeyId": keyID},
			v + "Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"Encrypt", map[string]any{"KeyId": keyID, "Plaintext": make([]byte, 4097)},
			v + "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"},
		{"Encrypt", map[string]any{"KeyId": keyID, "Plaintext": []byte("x"), "EncryptionAlgorithm": "X"},
			v + "Value 'X' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"},
		{"Decrypt", map[string]any{},
			v + "Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"Decrypt", map[string]any{"CiphertextBlob": make([]byte, 6145)},
			v + "Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144"},
		{"ReEncrypt", map[string]any{"CiphertextBlob": []byte("x"), "SourceEncryptionAlgorithm": "X"},
			v + "Value 'X' at 'sourceEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"},
		{"ReEncrypt", map[string]any{"CiphertextBlob": []byte("x"), "DestinationEncryptionAlgorithm": "X"},
			v + "Value 'X' at 'destinationEncryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]"},
		{"ReEncrypt", map[string]any{"CiphertextBlob": []byte("x")},
			v + "Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null"},
		{"ReEncrypt", map[string]any{"CiphertextBlob": blob, "SourceKeyId": long(2049), "DestinationKeyId": keyID},
			v + "Value at 'sourceKeyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{"GenerateDataKey", map[string]any{"KeyId": keyID, "KeySpec": "X"},
			v + "Value 'X' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"},
		{"GenerateDataKey", map[string]any{"KeyId": keyID, "NumberOfBytes": 2000},
			v + "Value '2000' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"},
	} {
		code, out := call(t, h, p, c.op, c.body)
		if code != 400 || out["__type"] != "ValidationException" || out["message"] != c.msg {
			t.Errorf("%s %.80v: %d %s %q,\n want 400 ValidationException %q", c.op, c.body, code, out["__type"], out["message"], c.msg)
		}
	}
}
