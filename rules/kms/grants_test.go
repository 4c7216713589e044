package kms

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

func root(acct string) string { return "arn:aws:iam::" + acct + ":root" }

func TestGrantConstraintsAllow(t *testing.T) {
	sub := func(kv ...string) openami.GrantConstraints {
		return openami.GrantConstraints{EncryptionContextSubset: pairs(kv...)}
	}
	eq := func(kv ...string) openami.GrantConstraints {
		return openami.GrantConstraints{EncryptionContextEquals: pairs(kv...)}
	}
	for _, c := range []struct {
		name string
		c    openami.GrantConstraints
		ctx  map[string]string
		want bool
	}{
		{"none, no context", openami.GrantConstraints{}, nil, true},
		{"none, any context", openami.GrantConstraints{}, pairs("a", "b"), true},
		{"subset, exact", sub("vol", "1"), pairs("vol", "1"), true},
		{"subset, more pairs", sub("vol", "1"), pairs("vol", "1", "snap", "2"), true},
		{"subset, no context", sub("vol", "1"), nil, false},
		{"subset, other value", sub("vol", "1"), pairs("vol", "2"), false},
		{"subset, value case differs", sub("vol", "abc"), pairs("vol", "ABC"), false},
		{"subset, key case differs", sub("Vol", "1"), pairs("vOL", "1"), true},
		{"subset, one of two missing", sub("a", "1", "b", "2"), pairs("a", "1", "c", "2"), false},
		{"subset, empty value", sub("a", ""), pairs("a", ""), true},
		{"subset, empty value absent", sub("a", ""), nil, false},
		{"equals, exact", eq("a", "1", "b", "2"), pairs("b", "2", "a", "1"), true},
		{"equals, key case differs", eq("A", "1"), pairs("a", "1"), true},
		{"equals, extra pair", eq("a", "1"), pairs("a", "1", "b", "2"), false},
		{"equals, missing pair", eq("a", "1", "b", "2"), pairs("a", "1"), false},
		{"equals, other value", eq("a", "1"), pairs("a", "2"), false},
		{"equals, no context", eq("a", "1"), nil, false},
	} {
		if got := constraintsAllow(c.c, c.ctx); got != c.want {
			t.Errorf("%s: constraintsAllow(%v, %v) = %v, want %v", c.name, c.c, c.ctx, got, c.want)
		}
	}
}

func pairs(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestGrantAtLeastAsStrict(t *testing.T) {
	none := openami.GrantConstraints{}
	sub := func(kv ...string) openami.GrantConstraints {
		return openami.GrantConstraints{EncryptionContextSubset: pairs(kv...)}
	}
	eq := func(kv ...string) openami.GrantConstraints {
		return openami.GrantConstraints{EncryptionContextEquals: pairs(kv...)}
	}
	for _, c := range []struct {
		name          string
		child, parent openami.GrantConstraints
		want          bool
	}{
		{"unconstrained parent", none, none, true},
		{"unconstrained parent, constrained child", sub("a", "1"), none, true},
		{"subset parent, unconstrained child", none, sub("a", "1"), false},
		{"subset parent, same subset", sub("a", "1"), sub("a", "1"), true},
		{"subset parent, larger subset", sub("a", "1", "b", "2"), sub("a", "1"), true},
		{"subset parent, other subset", sub("b", "2"), sub("a", "1"), false},
		{"subset parent, other value", sub("a", "2"), sub("a", "1"), false},
		{"subset parent, equals including it", eq("a", "1", "b", "2"), sub("a", "1"), true},
		{"subset parent, equals without it", eq("b", "2"), sub("a", "1"), false},
		{"equals parent, unconstrained child", none, eq("a", "1"), false},
		{"equals parent, same equals", eq("a", "1"), eq("a", "1"), true},
		{"equals parent, same equals, key case differs", eq("A", "1"), eq("a", "1"), true},
		{"equals parent, larger equals", eq("a", "1", "b", "2"), eq("a", "1"), false},
		{"equals parent, subset child", sub("a", "1"), eq("a", "1"), false},
	} {
		if got := atLeastAsStrict(c.child, c.parent); got != c.want {
			t.Errorf("%s: atLeastAsStrict(%v, %v) = %v, want %v", c.name, c.child, c.parent, got, c.want)
		}
	}
}

// TestMayRetire is the table of who may retire a grant: the key's account,
// the retiring principal's account, and the grantee's account when the
// grant allows RetireGrant.
func TestMayRetire(t *testing.T) {
	g := func(grantee, retiring string, ops ...string) openami.Grant {
		acct, _ := principalAccountOf("GranteePrincipal", grantee)
		return openami.Grant{AccountID: owner, GranteePrincipal: grantee, GranteeAccount: acct, RetiringPrincipal: retiring, Operations: ops}
	}
	for _, c := range []struct {
		name   string
		caller string
		grant  openami.Grant
		want   bool
	}{
		{"the key's account", owner, g(root(friend), "", "Encrypt"), true},
		{"the grantee without RetireGrant", friend, g(root(friend), "", "Encrypt"), false},
		{"the grantee with RetireGrant", friend, g(root(friend), "", "Encrypt", "RetireGrant"), true},
		{"the grantee by a user ARN with RetireGrant", friend, g("arn:aws:iam::"+friend+":user/app", "", "RetireGrant"), true},
		{"the retiring principal's account", stranger, g(root(friend), root(stranger), "Encrypt"), true},
		{"the retiring principal's account by a role ARN", stranger, g(root(friend), "arn:aws:iam::"+stranger+":role/r", "Encrypt"), true},
		{"the grantee, retiring principal elsewhere", friend, g(root(friend), root(stranger), "Encrypt"), false},
		{"a stranger", stranger, g(root(friend), "", "Encrypt", "RetireGrant"), false},
		{"a stranger, service retiring principal", stranger, g(root(friend), "ec2.amazonaws.com", "Encrypt"), false},
	} {
		if got := mayRetire(openami.Principal{AccountID: c.caller}, c.grant); got != c.want {
			t.Errorf("%s: mayRetire = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPrincipalAccountOf(t *testing.T) {
	for _, c := range []struct {
		in   string
		acct string
		why  openami.Reason // of the error, "" for none
		fail bool
	}{
		{in: root(friend), acct: friend},
		{in: "arn:aws:iam::" + friend + ":user/app", acct: friend},
		{in: "arn:aws:iam::" + friend + ":user/path/to/app", acct: friend},
		{in: "arn:aws:iam::" + friend + ":role/service-role/r", acct: friend},
		{in: "arn:aws:sts::" + friend + ":assumed-role/r/session", acct: friend},
		{in: "arn:aws:sts::" + friend + ":federated-user/bob", acct: friend},
		{in: "ec2.amazonaws.com", acct: ""},
		{in: "", fail: true},
		{in: "has space", why: openami.ReasonConstraint, fail: true},
		{in: strings.Repeat("a", 257), why: openami.ReasonConstraint, fail: true},
		{in: "bob", why: openami.ReasonPrincipal, fail: true},
		{in: friend, why: openami.ReasonPrincipal, fail: true},
		{in: "arn:aws:iam::123:root", why: openami.ReasonPrincipal, fail: true},
		{in: "arn:aws:iam::" + friend + ":group/g", why: openami.ReasonPrincipal, fail: true},
		{in: "arn:aws:iam::" + friend + ":user/", why: openami.ReasonPrincipal, fail: true},
		{in: "arn:aws:kms:us-east-1:" + friend + ":key/x", why: openami.ReasonPrincipal, fail: true},
	} {
		acct, err := principalAccountOf("GranteePrincipal", c.in)
		switch {
		case c.fail && err == nil:
			t.Errorf("%q: account %q, want an error", c.in, acct)
		case c.fail && openami.ReasonOf(err) != c.why:
			t.Errorf("%q: %v for %q, want for %q", c.in, err, openami.ReasonOf(err), c.why)
		case !c.fail && (err != nil || acct != c.acct):
			t.Errorf("%q: %q, %v; want %q", c.in, acct, err, c.acct)
		}
	}
}

func TestCheckGrantInput(t *testing.T) {
	ops, err := checkGrantOperations([]string{"Encrypt", "Decrypt", "Encrypt", "GenerateDataKeyPair"})
	if err != nil || strings.Join(ops, ",") != "Encrypt,Decrypt,GenerateDataKeyPair" {
		t.Errorf("checkGrantOperations: %v, %v", ops, err)
	}
	for _, bad := range [][]string{nil, {}, {"Encrypt", "encrypt"}, {"Sign"}, {"GenerateMac"}, {"ScheduleKeyDeletion"}} {
		if _, err := checkGrantOperations(bad); openami.ClassOf(err) != openami.MissingParameter && openami.ClassOf(err) != openami.InvalidParameter {
			t.Errorf("checkGrantOperations(%q): %v, want a validation error", bad, err)
		}
	}
	c, err := checkGrantConstraints(openami.GrantConstraints{EncryptionContextSubset: pairs("a", "b"), EncryptionContextEquals: map[string]string{}})
	if err != nil || c.EncryptionContextEquals != nil || c.EncryptionContextSubset["a"] != "b" {
		t.Errorf("an empty Equals beside a Subset: %v, %v", c, err)
	}
	for name, bad := range map[string]openami.GrantConstraints{
		"both":         {EncryptionContextSubset: pairs("a", "b"), EncryptionContextEquals: pairs("a", "b")},
		"nine pairs":   {EncryptionContextSubset: pairs("1", "", "2", "", "3", "", "4", "", "5", "", "6", "", "7", "", "8", "", "9", "")},
		"long value":   {EncryptionContextEquals: pairs("a", strings.Repeat("x", 385))},
		"empty key":    {EncryptionContextEquals: pairs("", "x")},
		"nine equals ": {EncryptionContextEquals: pairs("1", "", "2", "", "3", "", "4", "", "5", "", "6", "", "7", "", "8", "", "9", "")},
	} {
		if _, err := checkGrantConstraints(bad); openami.ClassOf(err) != openami.InvalidParameter {
			t.Errorf("%s: %v, want InvalidParameter", name, err)
		}
	}
}

// grantWorld is a fixture with three accounts (owner is the fixture's,
// then friend and stranger) and a key of the owner's.
type grantWorld struct {
	*fixture
	friend, stranger openami.Principal
	key              openami.Key
}

func newGrantWorld(t *testing.T, clock *rulestest.Clock) grantWorld {
	t.Helper()
	f := newFixture(t, clock)
	w := grantWorld{fixture: f}
	for name, p := range map[string]*openami.Principal{"grant-friend": &w.friend, "grant-stranger": &w.stranger} {
		*p = f.newAccount(t, name)
	}
	k, err := f.keys.CreateKey(context.Background(), f.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	w.key = k
	return w
}

func (w grantWorld) grant(t *testing.T, in CreateGrantInput) (openami.Grant, string) {
	t.Helper()
	if in.KeyID == "" {
		in.KeyID = w.key.ARN()
	}
	g, token, err := w.keys.CreateGrant(context.Background(), w.p, in)
	if err != nil {
		t.Fatalf("CreateGrant %+v: %v", in, err)
	}
	return g, token
}

func wantClassOf(t *testing.T, what string, err error, class openami.Class) {
	t.Helper()
	if openami.ClassOf(err) != class || err == nil {
		t.Fatalf("%s: %v (class %s), want %s", what, err, openami.ClassOf(err), class)
	}
}

// TestKMSGrantsHonoured: a grant lets another account use the key, within
// its operations and constraints, by key ARN and by the ciphertext alone;
// an explicit Deny in the policy wins; revoking ends it at once.
func TestKMSGrantsHonoured(t *testing.T) {
	ctx := context.Background()
	w := newGrantWorld(t, nil)
	fr := w.friend
	encCtx := map[string]string{"volume": "vol-1"}

	// Before the grant, the friend is refused.
	_, _, err := w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: encCtx})
	wantClassOf(t, "Encrypt before the grant", err, openami.Unauthorized)

	g, token := w.grant(t, CreateGrantInput{GranteePrincipal: "arn:aws:iam::" + fr.AccountID + ":role/app",
		Operations:  []string{"Encrypt", "Decrypt", "DescribeKey"},
		Constraints: openami.GrantConstraints{EncryptionContextSubset: map[string]string{"Volume": "vol-1"}}})
	if len(g.ID) != 64 || g.AccountID != w.p.AccountID || g.GranteeAccount != fr.AccountID || token == "" {
		t.Fatalf("grant %+v, token %q", g, token)
	}
	if err := w.keys.CheckGrantTokens(fr, []string{token}); err != nil {
		t.Fatalf("the grantee's CheckGrantTokens: %v", err)
	}

	blob, k, err := w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: map[string]string{"volume": "vol-1", "more": "y"}})
	if err != nil || k.ID != w.key.ID {
		t.Fatalf("the grantee's Encrypt: %v", err)
	}
	pt, _, err := w.keys.Decrypt(ctx, fr, DecryptInput{Ciphertext: blob, Context: map[string]string{"volume": "vol-1", "more": "y"}})
	if err != nil || string(pt) != "x" {
		t.Fatalf("the grantee's Decrypt: %q %v", pt, err)
	}
	if _, err := w.keys.DescribeKey(ctx, fr, w.key.ARN()); err != nil {
		t.Fatalf("the grantee's DescribeKey (constraints do not apply): %v", err)
	}
	for name, call := range map[string]func() error{
		"Encrypt without the context": func() error {
			_, _, err := w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x")})
			return err
		},
		"Encrypt with another volume": func() error {
			_, _, err := w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: map[string]string{"volume": "vol-2"}})
			return err
		},
		"GenerateDataKey (not granted)": func() error {
			_, _, _, err := w.keys.GenerateDataKey(ctx, fr, DataKeyInput{KeyID: w.key.ARN(), KeySpec: "AES_256", Context: encCtx}, true)
			return err
		},
		"ReEncrypt to the key (not granted)": func() error {
			_, _, _, err := w.keys.ReEncrypt(ctx, fr, ReEncryptInput{Ciphertext: blob, SourceContext: map[string]string{"volume": "vol-1", "more": "y"},
				DestinationKeyID: w.key.ARN(), DestinationContext: encCtx})
			return err
		},
		"the stranger's Encrypt": func() error {
			_, _, err := w.keys.Encrypt(ctx, w.stranger, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: encCtx})
			return err
		},
		"the grantee's ListGrants (policy only)": func() error {
			_, _, err := w.keys.ListGrants(ctx, fr, ListGrantsInput{KeyID: w.key.ARN()})
			return err
		},
	} {
		wantClassOf(t, name, call(), openami.Unauthorized)
	}
	// Management stays the owner's, whatever the grants.
	_, err = w.keys.KeyPolicy(ctx, fr, w.key.ARN(), "")
	wantClassOf(t, "the grantee's GetKeyPolicy", err, openami.NotFound)

	// An explicit Deny in the policy beats the grant.
	deny := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + w.p.AccountID + `"},"Action":"kms:*","Resource":"*"},
{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + fr.AccountID + `"}}}]}`
	if err := w.keys.PutKeyPolicy(ctx, w.p, w.key.ID, "", deny, false); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.keys.Decrypt(ctx, fr, DecryptInput{Ciphertext: blob, Context: map[string]string{"volume": "vol-1", "more": "y"}})
	wantClassOf(t, "Decrypt under an explicit Deny", err, openami.Unauthorized)
	if _, _, err := w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: encCtx}); err != nil {
		t.Fatalf("Encrypt, which the Deny does not name: %v", err)
	}

	// Revoking ends the grant at once; the token stays well formed.
	if err := w.keys.RevokeGrant(ctx, w.p, w.key.ID, g.ID, false); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.keys.Encrypt(ctx, fr, EncryptInput{KeyID: w.key.ARN(), Plaintext: []byte("x"), Context: encCtx})
	wantClassOf(t, "Encrypt after RevokeGrant", err, openami.Unauthorized)
	if err := w.keys.CheckGrantTokens(fr, []string{token}); err != nil {
		t.Fatalf("CheckGrantTokens of a revoked grant's token: %v", err)
	}
	err = w.keys.RevokeGrant(ctx, w.p, w.key.ID, g.ID, false)
	if openami.ResourceOf(err) != openami.ResourceKMSGrant || openami.ClassOf(err) != openami.InvalidParameter {
		t.Fatalf("RevokeGrant again: %v, want InvalidGrantId", err)
	}
}

// TestKMSGrantTokens: tokens name their grant, differ every time, and are
// refused when altered, from another region or not openami's.
func TestKMSGrantTokens(t *testing.T) {
	ctx := context.Background()
	w := newGrantWorld(t, nil)
	in := CreateGrantInput{GranteePrincipal: root(w.friend.AccountID), Operations: []string{"Encrypt"}, Name: "n"}
	g1, t1 := w.grant(t, in)
	g2, t2 := w.grant(t, in)
	if g1.ID != g2.ID || t1 == t2 {
		t.Fatalf("a named retry: grants %s and %s, tokens equal: %v", g1.ID, g2.ID, t1 == t2)
	}
	for _, tok := range []string{t1, t2} {
		if id, err := w.keys.grantOfToken(w.p, "GrantToken", tok); err != nil || id != g1.ID {
			t.Fatalf("grantOfToken: %q %v", id, err)
		}
	}
	raw, _ := base64.RawURLEncoding.DecodeString(t1)
	raw[len(raw)-1] ^= 1
	west := w.p
	west.Region = "us-west-2"
	for name, err := range map[string]error{
		"altered":        w.keys.CheckGrantTokens(w.p, []string{base64.RawURLEncoding.EncodeToString(raw)}),
		"garbage":        w.keys.CheckGrantTokens(w.p, []string{"not a token!"}),
		"another region": w.keys.CheckGrantTokens(west, []string{t1}),
		"one of two bad": w.keys.CheckGrantTokens(w.p, []string{t1, "AAAA"}),
	} {
		if openami.ReasonOf(err) != openami.ReasonGrantToken {
			t.Errorf("%s: %v, want InvalidGrantToken", name, err)
		}
	}
	for name, tokens := range map[string][]string{
		"eleven": {t1, t1, t1, t1, t1, t1, t1, t1, t1, t1, t1},
		"empty":  {""},
		"long":   {strings.Repeat("A", 8193)},
	} {
		if err := w.keys.CheckGrantTokens(w.p, tokens); openami.ClassOf(err) != openami.InvalidParameter || openami.ResourceOf(err) != "" {
			t.Errorf("%s: %v, want ValidationException", name, err)
		}
	}
	// Retiring by token; then the token names nothing.
	if err := w.keys.RetireGrant(ctx, w.friend, RetireGrantInput{GrantToken: t2}); openami.ClassOf(err) != openami.Unauthorized {
		t.Fatalf("the grantee's RetireGrant without RetireGrant: %v", err)
	}
	if err := w.keys.RetireGrant(ctx, w.p, RetireGrantInput{GrantToken: t2}); err != nil {
		t.Fatal(err)
	}
	err := w.keys.RetireGrant(ctx, w.p, RetireGrantInput{GrantToken: t1})
	wantClassOf(t, "RetireGrant of a retired grant's token", err, openami.NotFound)
}

// TestKMSGrantRetireRevoke is the table of who may retire and revoke a
// grant, end to end through the service.
func TestKMSGrantRetireRevoke(t *testing.T) {
	ctx := context.Background()
	w := newGrantWorld(t, nil)
	fr, st := w.friend, w.stranger
	revokePolicy := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + w.p.AccountID + `"},"Action":"kms:*","Resource":"*"},
{"Effect":"Allow","Principal":{"AWS":"` + st.AccountID + `"},"Action":"kms:RevokeGrant","Resource":"*"}]}`
	if err := w.keys.PutKeyPolicy(ctx, w.p, w.key.ID, "", revokePolicy, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		in       CreateGrantInput
		caller   openami.Principal
		retire   bool // RetireGrant, else RevokeGrant
		byToken  bool
		want     openami.Class // 0: success
		resource openami.ResourceType
	}{
		{name: "owner retires", in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt"}},
			caller: w.p, retire: true},
		{name: "grantee retires with RetireGrant, by token", caller: fr, retire: true, byToken: true,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt", "RetireGrant"}}},
		{name: "grantee retires with RetireGrant, by key ARN and id", caller: fr, retire: true,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt", "RetireGrant"}}},
		{name: "grantee may not retire without RetireGrant", caller: fr, retire: true, want: openami.Unauthorized,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt"}}},
		{name: "retiring principal retires", caller: st, retire: true,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), RetiringPrincipal: "arn:aws:iam::" + st.AccountID + ":user/ops", Operations: []string{"Encrypt"}}},
		{name: "a stranger may not retire", caller: st, retire: true, want: openami.Unauthorized,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt", "RetireGrant"}}},
		{name: "owner revokes", caller: w.p, in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt"}}},
		{name: "the grantee may not revoke", caller: fr, want: openami.Unauthorized,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt", "RetireGrant"}}},
		{name: "the policy lets the stranger revoke", caller: st,
			in: CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, token := w.grant(t, c.in)
			var err error
			switch {
			case c.retire && c.byToken:
				err = w.keys.RetireGrant(ctx, c.caller, RetireGrantInput{GrantToken: token})
			case c.retire:
				err = w.keys.RetireGrant(ctx, c.caller, RetireGrantInput{KeyID: w.key.ARN(), GrantID: g.ID})
			default:
				err = w.keys.RevokeGrant(ctx, c.caller, w.key.ARN(), g.ID, false)
			}
			if c.want != 0 {
				wantClassOf(t, "retire/revoke", err, c.want)
			} else if err != nil {
				t.Fatal(err)
			}
			var left []openami.Grant
			w.store.View(ctx, func(tx metadata.Tx) error {
				left, err = tx.Grants().List(w.p.Region, metadata.GrantQuery{ID: g.ID})
				return err
			})
			if gone := len(left) == 0; gone != (c.want == 0) {
				t.Fatalf("grant gone: %v, want %v", gone, c.want == 0)
			}
		})
	}
	// Bad requests change nothing.
	g, _ := w.grant(t, CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt", "RetireGrant"}})
	other, err := w.keys.CreateKey(ctx, w.p, CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"retire with neither":       w.keys.RetireGrant(ctx, w.p, RetireGrantInput{KeyID: w.key.ID}),
		"retire with the wrong key": w.keys.RetireGrant(ctx, w.p, RetireGrantInput{KeyID: other.ID, GrantID: g.ID}),
		"revoke with the wrong key": w.keys.RevokeGrant(ctx, w.p, other.ID, g.ID, false),
		"revoke an unknown id":      w.keys.RevokeGrant(ctx, w.p, w.key.ID, strings.Repeat("0", 64), false),
		"revoke without an id":      w.keys.RevokeGrant(ctx, w.p, w.key.ID, "", false),
		"revoke by alias":           w.keys.RevokeGrant(ctx, w.p, "alias/x", g.ID, false),
		"retire, dry run":           w.keys.RetireGrant(ctx, fr, RetireGrantInput{KeyID: w.key.ARN(), GrantID: g.ID, DryRun: true}),
		"revoke, dry run":           w.keys.RevokeGrant(ctx, w.p, w.key.ID, g.ID, true),
	} {
		if err == nil {
			t.Errorf("%s: succeeded", name)
		}
	}
	grants, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID, GrantID: g.ID})
	if err != nil || len(grants) != 1 {
		t.Fatalf("the grant after bad requests: %v %v", grants, err)
	}
}

// TestKMSGrantDelegation: a grant with CreateGrant lets its grantee make
// grants with no more operations and at least as strict constraints.
func TestKMSGrantDelegation(t *testing.T) {
	ctx := context.Background()
	w := newGrantWorld(t, nil)
	fr, st := w.friend, w.stranger
	w.grant(t, CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Decrypt", "CreateGrant"},
		Constraints: openami.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "a"}}})
	delegate := func(ops []string, c openami.GrantConstraints) error {
		_, _, err := w.keys.CreateGrant(ctx, fr, CreateGrantInput{KeyID: w.key.ARN(), GranteePrincipal: root(st.AccountID), Operations: ops, Constraints: c})
		return err
	}
	if err := delegate([]string{"Encrypt"}, openami.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "a"}}); openami.ClassOf(err) != openami.Unauthorized {
		t.Fatalf("delegating an operation the parent lacks: %v", err)
	}
	if err := delegate([]string{"Decrypt"}, openami.GrantConstraints{}); openami.ClassOf(err) != openami.Unauthorized {
		t.Fatalf("delegating without the parent's constraint: %v", err)
	}
	if err := delegate([]string{"Decrypt"}, openami.GrantConstraints{EncryptionContextEquals: map[string]string{"tenant": "a", "x": "y"}}); err != nil {
		t.Fatalf("delegating a stricter grant: %v", err)
	}
	blob, _, err := w.keys.Encrypt(ctx, w.p, EncryptInput{KeyID: w.key.ID, Plaintext: []byte("s"), Context: map[string]string{"tenant": "a", "x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.keys.Decrypt(ctx, st, DecryptInput{Ciphertext: blob, Context: map[string]string{"tenant": "a", "x": "y"}}); err != nil {
		t.Fatalf("the delegate's Decrypt: %v", err)
	}
	// The stranger's grant does not let it delegate further.
	_, _, err = w.keys.CreateGrant(ctx, st, CreateGrantInput{KeyID: w.key.ARN(), GranteePrincipal: root(st.AccountID), Operations: []string{"Decrypt"},
		Constraints: openami.GrantConstraints{EncryptionContextEquals: map[string]string{"tenant": "a", "x": "y"}}})
	wantClassOf(t, "CreateGrant without CreateGrant", err, openami.Unauthorized)
}

// TestKMSGrantValidation: bad CreateGrant and ListGrants input gets AWS's
// errors and creates nothing; key states; the key's purge takes its
// grants.
func TestKMSGrantValidation(t *testing.T) {
	ctx := context.Background()
	clock := rulestest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	w := newGrantWorld(t, clock)
	good := CreateGrantInput{KeyID: w.key.ID, GranteePrincipal: root(w.friend.AccountID), Operations: []string{"Encrypt"}}
	for _, c := range []struct {
		name  string
		edit  func(*CreateGrantInput)
		class openami.Class
		res   openami.ResourceType
		why   openami.Reason
	}{
		{"no key", func(in *CreateGrantInput) { in.KeyID = "" }, openami.MissingParameter, "", ""},
		{"unknown key", func(in *CreateGrantInput) { in.KeyID = "00000000-0000-4000-8000-000000000000" }, openami.NotFound, openami.ResourceKMSKey, ""},
		{"alias", func(in *CreateGrantInput) { in.KeyID = "alias/x" }, openami.NotFound, openami.ResourceKMSKey, ""},
		{"no grantee", func(in *CreateGrantInput) { in.GranteePrincipal = "" }, openami.MissingParameter, "", ""},
		{"grantee not an ARN", func(in *CreateGrantInput) { in.GranteePrincipal = "bob" }, openami.InvalidParameter, openami.ResourceKMSGrant, openami.ReasonPrincipal},
		{"bad retiring principal", func(in *CreateGrantInput) { in.RetiringPrincipal = "has space" }, openami.InvalidParameter, "", openami.ReasonConstraint},
		{"no operations", func(in *CreateGrantInput) { in.Operations = nil }, openami.MissingParameter, "", ""},
		{"unknown operation", func(in *CreateGrantInput) { in.Operations = []string{"Encrypt", "Launch"} }, openami.InvalidParameter, "", openami.ReasonConstraint},
		{"asymmetric operation", func(in *CreateGrantInput) { in.Operations = []string{"Sign"} }, openami.InvalidParameter, "", ""},
		{"both constraints", func(in *CreateGrantInput) {
			in.Constraints = openami.GrantConstraints{EncryptionContextSubset: pairs("a", "b"), EncryptionContextEquals: pairs("a", "b")}
		}, openami.InvalidParameter, "", ""},
		{"bad name", func(in *CreateGrantInput) { in.Name = "no spaces" }, openami.InvalidParameter, "", openami.ReasonConstraint},
		{"bad token", func(in *CreateGrantInput) { in.GrantTokens = []string{"x"} }, openami.InvalidParameter, openami.ResourceKMSGrant, openami.ReasonGrantToken},
		{"dry run", func(in *CreateGrantInput) { in.DryRun = true }, openami.DryRun, "", ""},
	} {
		in := good
		c.edit(&in)
		_, _, err := w.keys.CreateGrant(ctx, w.p, in)
		if openami.ClassOf(err) != c.class || openami.ResourceOf(err) != c.res || openami.ReasonOf(err) != c.why || err == nil {
			t.Errorf("%s: %v (%s, %q, %q), want %s %q %q", c.name, err, openami.ClassOf(err), openami.ResourceOf(err), openami.ReasonOf(err), c.class, c.res, c.why)
		}
	}
	// The stranger may not create grants on the key: the policy does not
	// let it, and an unknown key of another account looks the same.
	_, _, err := w.keys.CreateGrant(ctx, w.stranger, CreateGrantInput{KeyID: w.key.ARN(), GranteePrincipal: root(w.stranger.AccountID), Operations: []string{"Encrypt"}})
	wantClassOf(t, "the stranger's CreateGrant", err, openami.Unauthorized)
	grants, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID})
	if err != nil || len(grants) != 0 {
		t.Fatalf("grants after refused requests: %v %v", grants, err)
	}

	// Key states: disabled and pending deletion keys take no new grants,
	// but list, retire and revoke theirs.
	g, _ := w.grant(t, good)
	if err := w.keys.DisableKey(ctx, w.p, w.key.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.keys.CreateGrant(ctx, w.p, good)
	if openami.ReasonOf(err) != openami.ReasonDisabled {
		t.Fatalf("CreateGrant on a disabled key: %v", err)
	}
	days := 7
	if _, err := w.keys.ScheduleKeyDeletion(ctx, w.p, w.key.ID, &days); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.keys.CreateGrant(ctx, w.p, good)
	if openami.ClassOf(err) != openami.IncorrectState || openami.ResourceOf(err) != openami.ResourceKMSKey {
		t.Fatalf("CreateGrant on a key pending deletion: %v", err)
	}
	if grants, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID}); err != nil || len(grants) != 1 || grants[0].ID != g.ID {
		t.Fatalf("ListGrants of a key pending deletion: %v %v", grants, err)
	}
	// Past the deletion date the key and its grants are gone, and the
	// purge removes the rows.
	clock.Add(8 * 24 * time.Hour)
	if _, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID}); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("ListGrants of a deleted key: %v", err)
	}
	if n, err := w.keys.PurgeDeletedKeys(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeDeletedKeys: %d %v", n, err)
	}
	w.store.View(ctx, func(tx metadata.Tx) error {
		left, err := tx.Grants().List(w.p.Region, metadata.GrantQuery{})
		if err != nil || len(left) != 0 {
			t.Fatalf("grants after the purge: %v %v", left, err)
		}
		return nil
	})
}

// TestKMSListGrants: paging, filters and ListRetirableGrants.
func TestKMSListGrants(t *testing.T) {
	ctx := context.Background()
	w := newGrantWorld(t, nil)
	fr := w.friend
	var ids []string
	for i := range 5 {
		in := CreateGrantInput{GranteePrincipal: root(fr.AccountID), Operations: []string{"Encrypt"}}
		if i%2 == 0 {
			in.GranteePrincipal = "arn:aws:iam::" + fr.AccountID + ":user/u"
			in.RetiringPrincipal = root(w.stranger.AccountID)
		}
		g, _ := w.grant(t, in)
		ids = append(ids, g.ID)
	}
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		page, next, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ARN(), Limit: 2, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page {
			got = append(got, g.ID)
		}
		if next == "" {
			if pages != 2 {
				t.Fatalf("%d pages", pages+1)
			}
			break
		}
		marker = next
	}
	if len(got) != 5 {
		t.Fatalf("ListGrants paged: %v", got)
	}
	for _, id := range ids {
		if !strings.Contains(strings.Join(got, " "), id) {
			t.Fatalf("ListGrants lacks %s", id)
		}
	}
	if page, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID, GranteePrincipal: "arn:aws:iam::" + fr.AccountID + ":user/u"}); err != nil || len(page) != 3 {
		t.Fatalf("ListGrants by grantee: %d %v", len(page), err)
	}
	_, _, err := w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID, GrantID: strings.Repeat("a", 64)})
	if openami.ResourceOf(err) != openami.ResourceKMSGrant {
		t.Fatalf("ListGrants of an unknown grant id: %v", err)
	}
	_, _, err = w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID, Marker: "garbage"})
	wantClassOf(t, "ListGrants with a bad marker", err, openami.InvalidToken)
	_, _, err = w.keys.ListGrants(ctx, w.p, ListGrantsInput{KeyID: w.key.ID, Limit: 1001})
	wantClassOf(t, "ListGrants with Limit 1001", err, openami.InvalidParameter)

	ret, _, err := w.keys.ListRetirableGrants(ctx, w.stranger, root(w.stranger.AccountID), 0, "")
	if err != nil || len(ret) != 3 {
		t.Fatalf("ListRetirableGrants: %d %v", len(ret), err)
	}
	_, _, err = w.keys.ListRetirableGrants(ctx, w.p, root(w.stranger.AccountID), 0, "")
	wantClassOf(t, "ListRetirableGrants of another account's principal", err, openami.Unauthorized)
	if ret, _, err := w.keys.ListRetirableGrants(ctx, fr, root(fr.AccountID), 0, ""); err != nil || len(ret) != 0 {
		t.Fatalf("ListRetirableGrants of a principal retiring nothing: %v %v", ret, err)
	}
}

// FuzzGrantOfToken: grantOfToken decodes untrusted text; it must never
// panic, and accept only tokens sealed by the service's key for the
// region (go test ./rules/kms -run '^$' -fuzz FuzzGrantOfToken).
func FuzzGrantOfToken(f *testing.F) {
	key, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	s := &Keys{seal: key}
	g := openami.Grant{ID: strings.Repeat("ab", 32), Region: "us-east-1"}
	p := openami.Principal{AccountID: owner, Region: g.Region}
	token := s.newGrantToken(g)
	if id, err := s.grantOfToken(p, "GrantToken", token); err != nil || id != g.ID {
		f.Fatalf("the token names %q, %v", id, err)
	}
	f.Add(token)
	f.Add(token[:len(token)-1])
	f.Add(token + "A")
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, in string) {
		// Accepted tokens open under the key (so name g: the fuzzer
		// cannot forge a seal) and are in canonical base64url.
		id, err := s.grantOfToken(p, "GrantToken", in)
		if err != nil {
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(in)
		if id != g.ID || base64.RawURLEncoding.EncodeToString(raw) != in {
			t.Fatalf("token %q accepted as grant %q", in, id)
		}
	})
}
