package objects

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
)

// MaxPolicySize is the largest bucket policy, in bytes (S3's 20 KB).
const MaxPolicySize = 20 << 10

// policy is a bucket policy of the supported subset: statements with
// Effect Allow or Deny, Principal "*" or {"AWS": account ARNs or ids},
// Action and Resource as strings or lists, with * and ? wildcards.
type policy struct {
	statements []statement
}

type statement struct {
	deny      bool
	anyone    bool     // Principal "*" or {"AWS": "*"}
	accounts  []string // account ids
	actions   []string // lower case patterns
	resources []string // patterns
}

// strings1 is a JSON string or list of strings.
type strings1 []string

func (s *strings1) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func malformed(format string, args ...any) error {
	return openami.Errorf(openami.Malformed, openami.ResourceBucketPolicy, format, args...)
}

// parsePolicy parses and checks a bucket policy of bucket; "" is no
// policy. Anything outside the supported subset is Malformed.
func parsePolicy(doc, bucket string) (policy, error) {
	var p policy
	if doc == "" {
		return p, nil
	}
	if len(doc) > MaxPolicySize {
		return p, malformed("Policies must be at most %d bytes", MaxPolicySize)
	}
	var raw struct {
		Version   string
		Id        string
		Statement json.RawMessage
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return p, malformed("Policies must be valid JSON and of the supported form: %v", err)
	}
	if raw.Version != "" && raw.Version != "2012-10-17" && raw.Version != "2008-10-17" {
		return p, malformed("The policy version %q is not supported", raw.Version)
	}
	var stmts []json.RawMessage
	if len(raw.Statement) > 0 && raw.Statement[0] == '{' {
		stmts = []json.RawMessage{raw.Statement}
	} else if err := json.Unmarshal(raw.Statement, &stmts); err != nil || len(stmts) == 0 {
		return p, malformed("Missing required field Statement")
	}
	for _, rs := range stmts {
		var st struct {
			Sid       string
			Effect    string
			Principal json.RawMessage
			Action    strings1
			Resource  strings1
		}
		d := json.NewDecoder(strings.NewReader(string(rs)))
		d.DisallowUnknownFields()
		if err := d.Decode(&st); err != nil {
			return p, malformed("A statement is not of the supported form (Sid, Effect, Principal, Action, Resource): %v", err)
		}
		var s statement
		switch st.Effect {
		case "Allow":
		case "Deny":
			s.deny = true
		default:
			return p, malformed("Invalid effect: %s", st.Effect)
		}
		if err := s.principal(st.Principal); err != nil {
			return p, err
		}
		if len(st.Action) == 0 {
			return p, malformed("Missing required field Action")
		}
		for _, a := range st.Action {
			a = strings.ToLower(a)
			if !knownAction(a) {
				return p, malformed("Policy has invalid action: %s", a)
			}
			s.actions = append(s.actions, a)
		}
		if len(st.Resource) == 0 {
			return p, malformed("Missing required field Resource")
		}
		for _, r := range st.Resource {
			name, _, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:s3:::"), "/")
			if !strings.HasPrefix(r, "arn:aws:s3:::") || name != bucket {
				return p, malformed("Policy has invalid resource: %s", r)
			}
			s.resources = append(s.resources, r)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

// principal reads a statement's Principal: "*", {"AWS": "*"} or
// {"AWS": [arn:aws:iam::ACCOUNT:root or ACCOUNT, …]}.
func (s *statement) principal(raw json.RawMessage) error {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return malformed("Invalid principal in policy")
		}
		s.anyone = true
		return nil
	}
	var m map[string]strings1
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 || m["AWS"] == nil {
		return malformed("Invalid principal in policy: only \"*\" and {\"AWS\": accounts} are supported")
	}
	for _, v := range m["AWS"] {
		if v == "*" {
			s.anyone = true
			continue
		}
		acct := v
		if rest, ok := strings.CutPrefix(v, "arn:aws:iam::"); ok {
			var root string
			acct, root, _ = strings.Cut(rest, ":")
			if root != "root" {
				return malformed("Invalid principal in policy: %s (only account roots are supported)", v)
			}
		}
		if !ids.ValidAccountID(acct) {
			return malformed("Invalid principal in policy: %s", v)
		}
		s.accounts = append(s.accounts, acct)
	}
	return nil
}

// knownAction reports whether a (lower case) names or matches a
// supported action.
func knownAction(a string) bool {
	if !strings.HasPrefix(a, "s3:") {
		return false
	}
	for _, k := range knownActions {
		if match(strings.ToLower(k), a) {
			return true
		}
	}
	return false
}

// match reports whether s matches the IAM pattern p (* any run, ? one
// character).
func match(s, p string) bool {
	// path.Match's * stops at '/', which IAM's does not: escape the
	// slashes away by matching on a slash-free copy.
	ok, err := path.Match(strings.ReplaceAll(escapeBrackets(p), "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

// escapeBrackets escapes what path.Match treats specially besides * and
// ?, which IAM patterns take literally.
func escapeBrackets(p string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(p)
}

// decide returns whether a statement denies, and whether one allows, the
// caller the action on the resource.
func (p policy) decide(c Caller, action, resource string) (deny, allow bool) {
	action = strings.ToLower(action)
	for _, s := range p.statements {
		if !s.covers(c) || !anyMatch(action, s.actions) || !anyMatch(resource, s.resources) {
			continue
		}
		if s.deny {
			deny = true
		} else {
			allow = true
		}
	}
	return deny, allow
}

func (s statement) covers(c Caller) bool {
	if s.anyone {
		return true
	}
	for _, a := range s.accounts {
		if c.account() == a {
			return true
		}
	}
	return false
}

func anyMatch(s string, patterns []string) bool {
	for _, p := range patterns {
		if match(s, p) {
			return true
		}
	}
	return false
}
