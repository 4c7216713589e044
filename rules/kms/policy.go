package kms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/param"
)

// This file is the key policy: its validation and its evaluation. openami
// has no IAM, so every caller acts as its account's root principal, and a
// key policy is the whole story of who may use a key (docs/KMS.md):
//
//   - A request is allowed when some Allow statement applies to it and no
//     Deny statement does; otherwise it is refused (AccessDeniedException).
//   - A statement applies when its principal names the caller's account
//     (arn:aws:iam::ACCOUNT:root, the bare account id, or "*"), its Action
//     (or NotAction) list matches the action (kms:*, kms:Encrypt,
//     kms:ReEncrypt*, …; case-insensitive, * and ? wildcards), and its
//     Condition holds.
//   - Conditions: the operators StringEquals, StringNotEquals,
//     StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike and
//     StringNotLike on the keys kms:CallerAccount, aws:PrincipalAccount,
//     kms:ViaService (never present: requests come straight to KMS) and
//     kms:EncryptionContext:NAME. A condition openami cannot evaluate never
//     makes an Allow apply and always makes a Deny apply: it fails closed.
//   - Principals naming IAM users or roles, and service principals, match
//     no caller: there are no such callers.

// maxPolicySize is the largest key policy KMS accepts, in bytes.
const maxPolicySize = 32 * 1024

// defaultKeyPolicy returns the policy a key gets when CreateKey names none:
// the owning account's root may do everything, as on AWS.
func defaultKeyPolicy(accountID string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + accountID + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// keyPolicy is a parsed key policy.
type keyPolicy struct {
	statements []policyStatement
}

type policyStatement struct {
	allow bool
	// anyone: the principal is "*"; accounts: the accounts named.
	anyone   bool
	accounts []string
	// actions, or notActions when not nil: lowercased patterns.
	actions    []string
	notActions []string
	conditions []policyCondition
}

type policyCondition struct {
	op     string // as written
	key    string // lowercased
	values []string
}

// policyRequest is what a statement is evaluated against.
type policyRequest struct {
	account string
	action  string // kms:Encrypt
	context map[string]string
}

func malformedPolicy(format string, args ...any) error {
	return openami.ReasonErrorf(openami.Malformed, openami.ResourceKMSKey, openami.ReasonPolicy, format, args...)
}

// stringList decodes a JSON string or list of strings.
func stringList(raw json.RawMessage) ([]string, bool) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil && len(list) > 0 {
		return list, true
	}
	return nil, false
}

// scalarList decodes a condition's values: a JSON string, number or
// boolean, or a non-empty list of them, each as its text.
func scalarList(raw json.RawMessage) ([]string, bool) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		list = []json.RawMessage{raw}
	} else if len(list) == 0 {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		var v any
		d := json.NewDecoder(bytes.NewReader(item))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, false
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, v.String())
		case bool:
			out = append(out, fmt.Sprint(v))
		default:
			return nil, false
		}
	}
	return out, true
}

var (
	principalAccount = regexp.MustCompile(`^[0-9]{12}$`)
	principalRoot    = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):root$`)
	principalIAM     = regexp.MustCompile(`^arn:aws:(iam|sts)::[0-9]{12}:.+$`)
)

// parsePolicy parses and validates a key policy document. It fails with
// class Malformed and resource kms-key-policy (MalformedPolicyDocument)
// when the document is not a JSON object with a non-empty Statement list
// of well-formed statements.
func parsePolicy(doc string) (keyPolicy, error) {
	if len(doc) == 0 {
		return keyPolicy{}, param.Empty("Policy", "must have length greater than or equal to 1")
	}
	if len(doc) > maxPolicySize {
		return keyPolicy{}, param.Breaks("Policy", "", "must have length less than or equal to %d", maxPolicySize)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil || top == nil {
		return keyPolicy{}, malformedPolicy("The policy is not valid JSON.")
	}
	raw, ok := top["Statement"]
	if !ok {
		return keyPolicy{}, malformedPolicy("Policy is missing required element - 'Statement'.")
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil || one == nil {
			return keyPolicy{}, malformedPolicy("The policy's Statement must be a statement or a list of statements.")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return keyPolicy{}, malformedPolicy("Policy is missing required element - 'Statement'.")
	}
	var p keyPolicy
	for _, st := range stmts {
		s, err := parseStatement(st)
		if err != nil {
			return keyPolicy{}, err
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

func parseStatement(st map[string]json.RawMessage) (policyStatement, error) {
	var s policyStatement
	if st == nil {
		return s, malformedPolicy("A policy statement must be a JSON object.")
	}
	var effect string
	if err := json.Unmarshal(st["Effect"], &effect); err != nil || (effect != "Allow" && effect != "Deny") {
		return s, malformedPolicy("Policy statement has an invalid or missing Effect: it must be Allow or Deny.")
	}
	s.allow = effect == "Allow"

	if _, ok := st["NotPrincipal"]; ok {
		return s, malformedPolicy("NotPrincipal is not supported in key policies.")
	}
	raw, ok := st["Principal"]
	if !ok {
		return s, malformedPolicy("Policy statement is missing required element - 'Principal'.")
	}
	var star string
	if err := json.Unmarshal(raw, &star); err == nil {
		if star != "*" {
			return s, malformedPolicy("Policy contains a statement with one or more invalid principals.")
		}
		s.anyone = true
	} else {
		var byType map[string]json.RawMessage
		if err := json.Unmarshal(raw, &byType); err != nil || len(byType) == 0 {
			return s, malformedPolicy("Policy contains a statement with one or more invalid principals.")
		}
		for typ, v := range byType {
			names, ok := stringList(v)
			if !ok {
				return s, malformedPolicy("Policy contains a statement with one or more invalid principals.")
			}
			if typ != "AWS" {
				continue // service and federated principals name no caller here
			}
			for _, n := range names {
				switch {
				case n == "*":
					s.anyone = true
				case principalAccount.MatchString(n):
					s.accounts = append(s.accounts, n)
				case principalRoot.MatchString(n):
					s.accounts = append(s.accounts, principalRoot.FindStringSubmatch(n)[1])
				case principalIAM.MatchString(n):
					// An IAM user or role: no caller is one.
				default:
					return s, malformedPolicy("Policy contains a statement with one or more invalid principals.")
				}
			}
		}
	}

	rawAction, hasAction := st["Action"]
	rawNot, hasNot := st["NotAction"]
	switch {
	case hasAction == hasNot:
		return s, malformedPolicy("Policy statement must contain exactly one of Action or NotAction.")
	case hasAction:
		list, ok := stringList(rawAction)
		if !ok {
			return s, malformedPolicy("Policy statement has an invalid Action.")
		}
		s.actions = lowerAll(list)
	default:
		list, ok := stringList(rawNot)
		if !ok {
			return s, malformedPolicy("Policy statement has an invalid NotAction.")
		}
		s.notActions = lowerAll(list)
	}

	if raw, ok := st["Condition"]; ok {
		var ops map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ops); err != nil {
			return s, malformedPolicy("Policy statement has an invalid Condition.")
		}
		for op, keys := range ops {
			for key, v := range keys {
				values, ok := scalarList(v)
				if !ok {
					return s, malformedPolicy("Policy statement has an invalid Condition.")
				}
				s.conditions = append(s.conditions, policyCondition{op: op, key: strings.ToLower(key), values: values})
			}
		}
	}
	return s, nil
}

func lowerAll(list []string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = strings.ToLower(v)
	}
	return out
}

// wildcardMatch matches s against an IAM pattern, where * matches any run
// of characters and ? any one character (bytewise, in O(len(pattern) ×
// len(s)) at worst).
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func (s policyStatement) matchesPrincipal(account string) bool {
	if s.anyone {
		return true
	}
	for _, a := range s.accounts {
		if a == account {
			return true
		}
	}
	return false
}

func (s policyStatement) matchesAction(action string) bool {
	action = strings.ToLower(action)
	if s.notActions != nil {
		for _, p := range s.notActions {
			if wildcardMatch(p, action) {
				return false
			}
		}
		return true
	}
	for _, p := range s.actions {
		if wildcardMatch(p, action) {
			return true
		}
	}
	return false
}

// conditionResult is the outcome of a condition: true, false, or unknown
// (an operator or key openami does not evaluate).
type conditionResult int

const (
	condFalse conditionResult = iota
	condTrue
	condUnknown
)

func (c policyCondition) eval(r policyRequest) conditionResult {
	var (
		value   string
		present bool
	)
	switch {
	case c.key == "kms:calleraccount" || c.key == "aws:principalaccount":
		value, present = r.account, true
	case c.key == "kms:viaservice":
		present = false
	case strings.HasPrefix(c.key, "kms:encryptioncontext:"):
		name := c.key[len("kms:encryptioncontext:"):]
		// Context keys are case-sensitive, condition keys are not: match
		// the context key case-insensitively, as AWS documents.
		for k, v := range r.context {
			if strings.ToLower(k) == name {
				value, present = v, true
				break
			}
		}
	default:
		return condUnknown
	}
	var negate, fold, like bool
	switch c.op {
	case "StringEquals":
	case "StringNotEquals":
		negate = true
	case "StringEqualsIgnoreCase":
		fold = true
	case "StringNotEqualsIgnoreCase":
		negate, fold = true, true
	case "StringLike":
		like = true
	case "StringNotLike":
		negate, like = true, true
	default:
		return condUnknown
	}
	match := false
	if present {
		for _, v := range c.values {
			switch {
			case like && wildcardMatch(v, value):
				match = true
			case fold && strings.EqualFold(v, value):
				match = true
			case !like && !fold && v == value:
				match = true
			}
		}
	}
	if match != negate {
		return condTrue
	}
	return condFalse
}

// applies reports whether the statement applies to the request; unknown
// conditions count as applying to a Deny and not to an Allow.
func (s policyStatement) applies(r policyRequest) bool {
	if !s.matchesPrincipal(r.account) || !s.matchesAction(r.action) {
		return false
	}
	for _, c := range s.conditions {
		switch c.eval(r) {
		case condFalse:
			return false
		case condUnknown:
			if s.allow {
				return false
			}
		}
	}
	return true
}

// policyDecision is the outcome of evaluating a policy.
type policyDecision int

const (
	// implicitDeny: no statement allows the request.
	implicitDeny policyDecision = iota
	allowed
	// explicitDeny: a Deny statement applies.
	explicitDeny
)

// decide evaluates the policy for the request.
func (p keyPolicy) decide(r policyRequest) policyDecision {
	d := implicitDeny
	for _, s := range p.statements {
		if !s.applies(r) {
			continue
		}
		if !s.allow {
			return explicitDeny
		}
		d = allowed
	}
	return d
}
