package kms

import (
	"errors"
	"testing"

	"github.com/openami/openami"
)

const (
	owner    = "111111111111"
	friend   = "222222222222"
	stranger = "333333333333"
)

func TestParsePolicyRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":                   `{"Statement": [`,
		"not an object":              `["Statement"]`,
		"null":                       `null`,
		"no Statement":               `{"Version": "2012-10-17"}`,
		"empty Statement":            `{"Statement": []}`,
		"Statement a string":         `{"Statement": "Allow"}`,
		"statement not object":       `{"Statement": ["x"]}`,
		"no Effect":                  `{"Statement": [{"Principal": "*", "Action": "kms:*"}]}`,
		"bad Effect":                 `{"Statement": [{"Effect": "allow", "Principal": "*", "Action": "kms:*"}]}`,
		"no Principal":               `{"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}`,
		"Principal a name":           `{"Statement": [{"Effect": "Allow", "Principal": "bob", "Action": "kms:*"}]}`,
		"AWS principal garbage":      `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*"}]}`,
		"short account id":           `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "12345"}, "Action": "kms:*"}]}`,
		"AWS principal number":       `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": 111111111111}, "Action": "kms:*"}]}`,
		"empty principal map":        `{"Statement": [{"Effect": "Allow", "Principal": {}, "Action": "kms:*"}]}`,
		"NotPrincipal":               `{"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "Action": "kms:*"}]}`,
		"no Action":                  `{"Statement": [{"Effect": "Allow", "Principal": "*"}]}`,
		"Action and NotAction":       `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Decrypt"}]}`,
		"empty Action list":          `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": []}]}`,
		"Action a number":            `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": 7}]}`,
		"Condition a list":           `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": []}]}`,
		"Condition value empty list": `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": {"a": []}}}]}`,
		"Condition value map":        `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"StringEquals": {"a": {"b": 1}}}}]}`,
	} {
		_, err := parsePolicy(doc)
		var e *openami.Error
		if !errors.As(err, &e) || e.Class != openami.Malformed || e.Reason != openami.ReasonPolicy {
			t.Errorf("%s: %v, want Malformed policy", name, err)
		}
	}
	if _, err := parsePolicy(""); openami.ClassOf(err) != openami.MissingParameter {
		t.Errorf("empty policy: %v, want MissingParameter", err)
	}
	big := `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Sid": "` + string(make([]byte, maxPolicySize)) + `"}]}`
	if _, err := parsePolicy(big); openami.ClassOf(err) != openami.InvalidParameter {
		t.Errorf("oversized policy: %v, want InvalidParameter", err)
	}
}

// TestPolicyDecide is the table of policy evaluation: principals, action
// patterns, Deny over Allow, NotAction, and conditions (known ones
// evaluated, unknown ones failing closed).
func TestPolicyDecide(t *testing.T) {
	stmt := func(effect, principal, action, extra string) string {
		return `{"Effect": "` + effect + `", "Principal": ` + principal + `, "Action": ` + action + extra + `}`
	}
	policy := func(stmts ...string) string {
		doc := `{"Version": "2012-10-17", "Statement": [`
		for i, s := range stmts {
			if i > 0 {
				doc += ", "
			}
			doc += s
		}
		return doc + `]}`
	}
	ownerAll := stmt("Allow", `{"AWS": "arn:aws:iam::`+owner+`:root"}`, `"kms:*"`, "")
	for _, c := range []struct {
		name    string
		policy  string
		account string
		action  string
		context map[string]string
		want    policyDecision
	}{
		{"default policy, owner", defaultKeyPolicy(owner), owner, "kms:Encrypt", nil, allowed},
		{"default policy, owner, any action", defaultKeyPolicy(owner), owner, "kms:PutKeyPolicy", nil, allowed},
		{"default policy, another account", defaultKeyPolicy(owner), friend, "kms:Encrypt", nil, implicitDeny},
		{"root ARN", policy(ownerAll, stmt("Allow", `{"AWS": "arn:aws:iam::`+friend+`:root"}`, `"kms:Decrypt"`, "")), friend, "kms:Decrypt", nil, allowed},
		{"bare account id", policy(stmt("Allow", `{"AWS": "`+friend+`"}`, `"kms:Decrypt"`, "")), friend, "kms:Decrypt", nil, allowed},
		{"account in a list", policy(stmt("Allow", `{"AWS": ["`+stranger+`", "`+friend+`"]}`, `["kms:Encrypt", "kms:Decrypt"]`, "")), friend, "kms:Decrypt", nil, allowed},
		{"action not listed", policy(stmt("Allow", `{"AWS": "`+friend+`"}`, `["kms:Encrypt"]`, "")), friend, "kms:Decrypt", nil, implicitDeny},
		{"other account not listed", policy(stmt("Allow", `{"AWS": "`+friend+`"}`, `"kms:*"`, "")), stranger, "kms:Decrypt", nil, implicitDeny},
		{"anyone, star", policy(stmt("Allow", `"*"`, `"kms:Encrypt"`, "")), stranger, "kms:Encrypt", nil, allowed},
		{"anyone, AWS star", policy(stmt("Allow", `{"AWS": "*"}`, `"kms:Encrypt"`, "")), stranger, "kms:Encrypt", nil, allowed},
		{"IAM role matches no caller", policy(stmt("Allow", `{"AWS": "arn:aws:iam::`+friend+`:role/app"}`, `"kms:*"`, "")), friend, "kms:Encrypt", nil, implicitDeny},
		{"service principal matches no caller", policy(stmt("Allow", `{"Service": "ec2.amazonaws.com"}`, `"kms:*"`, "")), friend, "kms:Encrypt", nil, implicitDeny},
		{"wildcard ReEncrypt*", policy(stmt("Allow", `"*"`, `"kms:ReEncrypt*"`, "")), friend, "kms:ReEncryptFrom", nil, allowed},
		{"wildcard Generate*", policy(stmt("Allow", `"*"`, `"kms:GenerateDataKey*"`, "")), friend, "kms:GenerateDataKeyWithoutPlaintext", nil, allowed},
		{"wildcard ?", policy(stmt("Allow", `"*"`, `"kms:?ncrypt"`, "")), friend, "kms:Encrypt", nil, allowed},
		{"wildcard does not cross", policy(stmt("Allow", `"*"`, `"kms:Re*From"`, "")), friend, "kms:ReEncryptTo", nil, implicitDeny},
		{"action case-insensitive", policy(stmt("Allow", `"*"`, `"KMS:encrypt"`, "")), friend, "kms:Encrypt", nil, allowed},
		{"bare star action", policy(stmt("Allow", `"*"`, `"*"`, "")), friend, "kms:Encrypt", nil, allowed},
		{"other service's action", policy(stmt("Allow", `"*"`, `"s3:*"`, "")), friend, "kms:Encrypt", nil, implicitDeny},
		{"NotAction", policy(`{"Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt"}`), friend, "kms:Encrypt", nil, allowed},
		{"NotAction excludes", policy(`{"Effect": "Allow", "Principal": "*", "NotAction": ["kms:Decrypt", "kms:Put*"]}`), friend, "kms:PutKeyPolicy", nil, implicitDeny},
		{"Deny beats Allow", policy(ownerAll, stmt("Deny", `"*"`, `"kms:Disable*"`, "")), owner, "kms:DisableKey", nil, explicitDeny},
		{"Deny of another action", policy(ownerAll, stmt("Deny", `"*"`, `"kms:Disable*"`, "")), owner, "kms:EnableKey", nil, allowed},
		{"Deny of another account", policy(ownerAll, stmt("Deny", `{"AWS": "`+friend+`"}`, `"kms:*"`, "")), owner, "kms:EnableKey", nil, allowed},
		{"single statement object", `{"Statement": ` + ownerAll + `}`, owner, "kms:Encrypt", nil, allowed},
		{"CallerAccount condition holds", policy(stmt("Allow", `"*"`, `"kms:*"`, `, "Condition": {"StringEquals": {"kms:CallerAccount": ["`+friend+`"]}}`)), friend, "kms:Encrypt", nil, allowed},
		{"CallerAccount condition fails", policy(stmt("Allow", `"*"`, `"kms:*"`, `, "Condition": {"StringEquals": {"kms:CallerAccount": "`+friend+`"}}`)), stranger, "kms:Encrypt", nil, implicitDeny},
		{"condition key case-insensitive", policy(stmt("Allow", `"*"`, `"kms:*"`, `, "Condition": {"StringEquals": {"AWS:PrincipalAccount": "`+friend+`"}}`)), friend, "kms:Encrypt", nil, allowed},
		{"encryption context condition", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringEquals": {"kms:EncryptionContext:volume": "vol-1"}}`)), friend, "kms:Decrypt", map[string]string{"volume": "vol-1"}, allowed},
		{"encryption context differs", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringEquals": {"kms:EncryptionContext:volume": "vol-1"}}`)), friend, "kms:Decrypt", map[string]string{"volume": "vol-2"}, implicitDeny},
		{"encryption context absent", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringEquals": {"kms:EncryptionContext:volume": "vol-1"}}`)), friend, "kms:Decrypt", nil, implicitDeny},
		{"StringLike", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringLike": {"kms:EncryptionContext:volume": "vol-*"}}`)), friend, "kms:Decrypt", map[string]string{"volume": "vol-9"}, allowed},
		{"StringNotEquals on a missing key holds", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringNotEquals": {"kms:EncryptionContext:x": "y"}}`)), friend, "kms:Decrypt", nil, allowed},
		{"ViaService is never present", policy(stmt("Allow", `"*"`, `"kms:Decrypt"`, `, "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}`)), friend, "kms:Decrypt", nil, implicitDeny},
		{"unknown condition key: Allow does not apply", policy(stmt("Allow", `"*"`, `"kms:*"`, `, "Condition": {"StringEquals": {"aws:SourceIp": "10.0.0.1"}}`)), friend, "kms:Encrypt", nil, implicitDeny},
		{"unknown operator: Allow does not apply", policy(stmt("Allow", `"*"`, `"kms:*"`, `, "Condition": {"IpAddress": {"kms:CallerAccount": "`+friend+`"}}`)), friend, "kms:Encrypt", nil, implicitDeny},
		{"unknown condition: Deny applies", policy(ownerAll, stmt("Deny", `"*"`, `"kms:*"`, `, "Condition": {"Bool": {"aws:SecureTransport": false}}`)), owner, "kms:Encrypt", nil, explicitDeny},
		{"numeric and boolean condition values parse", policy(ownerAll, stmt("Deny", `"*"`, `"kms:*"`, `, "Condition": {"NumericLessThan": {"kms:X": [5, 6]}, "Bool": {"aws:SecureTransport": false}}`)), owner, "kms:Encrypt", nil, explicitDeny},
		{"known false condition: Deny does not apply", policy(ownerAll, stmt("Deny", `"*"`, `"kms:*"`, `, "Condition": {"StringEquals": {"kms:CallerAccount": "`+friend+`"}}`)), owner, "kms:Encrypt", nil, allowed},
	} {
		p, err := parsePolicy(c.policy)
		if err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
			continue
		}
		if got := p.decide(policyRequest{account: c.account, action: c.action, context: c.context}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abcd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*/*", "a/b", true},
		{"[a]", "[a]", true},
		{"[a]", "a", false},
		{"kms:*key*", "kms:describekey", true},
		{"**a", "bbba", true},
	} {
		if got := wildcardMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// TestParseKeyRef is the table of key identifiers.
func TestParseKeyRef(t *testing.T) {
	p := openami.Principal{AccountID: owner, Region: "us-east-1"}
	const id = "0b7a1c8e-8f3e-4a55-9d1e-0123456789ab"
	for _, c := range []struct {
		in    string
		want  keyRef
		class openami.Class
	}{
		{id, keyRef{account: owner, id: id}, 0},
		{"0B7A1C8E-8F3E-4A55-9D1E-0123456789AB", keyRef{account: owner, id: id}, 0},
		{"arn:aws:kms:us-east-1:" + owner + ":key/" + id, keyRef{account: owner, id: id, arn: true}, 0},
		{"arn:aws:kms:us-east-1:" + friend + ":key/" + id, keyRef{account: friend, id: id, arn: true}, 0},
		{"alias/backups", keyRef{account: owner, alias: "alias/backups"}, 0},
		{"arn:aws:kms:us-east-1:" + friend + ":alias/shared", keyRef{account: friend, alias: "alias/shared", arn: true}, 0},
		{"", keyRef{}, openami.MissingParameter},
		{"backups", keyRef{}, openami.NotFound},
		{"0b7a1c8e8f3e4a559d1e0123456789ab", keyRef{}, openami.NotFound},
		{"key/" + id, keyRef{}, openami.NotFound},
		{"arn:aws:kms:us-west-2:" + owner + ":key/" + id, keyRef{}, openami.NotFound},
		{"arn:aws:kms:us-east-1:123:key/" + id, keyRef{}, openami.NotFound},
		{"arn:aws:ec2:us-east-1:" + owner + ":key/" + id, keyRef{}, openami.NotFound},
		{"arn:aws:kms:us-east-1:" + owner + ":key/nope", keyRef{}, openami.NotFound},
		{"arn:aws:kms:us-east-1:" + owner + ":" + id, keyRef{}, openami.NotFound},
		{"arn:aws:kms:us-east-1:" + owner, keyRef{}, openami.NotFound},
		{string(make([]byte, 2049)), keyRef{}, openami.InvalidParameter},
	} {
		got, err := parseKeyRef(p, "KeyId", c.in)
		if c.class != 0 {
			if openami.ClassOf(err) != c.class {
				t.Errorf("parseKeyRef(%.60q): %v, want class %s", c.in, err, c.class)
			}
			continue
		}
		got.input = ""
		if err != nil || got != c.want {
			t.Errorf("parseKeyRef(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestValidateAliasName(t *testing.T) {
	for name, class := range map[string]openami.Class{
		"alias/ok":                           0,
		"alias/a/b_c-D9":                     0,
		"":                                   openami.MissingParameter,
		"ok":                                 openami.InvalidParameter,
		"alias/":                             openami.InvalidParameter,
		"alias/a:b":                          openami.InvalidParameter,
		"alias/a.b":                          openami.InvalidParameter,
		"alias/é":                            openami.InvalidParameter,
		"alias/aws/ebs":                      openami.Unauthorized,
		"alias/" + string(make([]byte, 251)): openami.InvalidParameter,
	} {
		err := validateAliasName(name)
		switch {
		case class == 0 && err != nil:
			t.Errorf("%.40q: %v", name, err)
		case class != 0 && openami.ClassOf(err) != class:
			t.Errorf("%.40q: %v, want class %s", name, err, class)
		}
	}
}
