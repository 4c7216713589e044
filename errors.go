package openami

import (
	"errors"
	"fmt"
)

// Class says what kind of failure an error is. Every error that crosses a
// package boundary in openami is, or wraps, an *Error with a Class; the API
// layer maps (Class, Reason), then (Class, Resource), to a wire error code
// in exactly one table per protocol. Code outside the API layer never names
// a wire code.
type Class int

// The classes of failure. The zero Class is Internal: an error nobody
// classified is a server fault, never the caller's.
const (
	// Internal is a server-side fault: a bug, a broken disk, a lost database.
	Internal Class = iota
	// NotFound: the resource does not exist, or the caller may not see it.
	// The two are deliberately indistinguishable, so that private resources
	// do not leak their existence.
	NotFound
	// Duplicate: a resource with that name or id already exists.
	Duplicate
	// Malformed: an id or name does not have the required form.
	Malformed
	// InvalidParameter: a parameter has a value the operation cannot accept.
	InvalidParameter
	// MissingParameter: a required parameter is absent.
	MissingParameter
	// InvalidCombination: parameters that may not be used together were.
	InvalidCombination
	// UnknownParameter: the request carries a parameter the action does not take.
	UnknownParameter
	// InUse: the resource is in use and cannot be changed or deleted.
	InUse
	// IncorrectState: the resource is not in a state that allows the operation.
	IncorrectState
	// Unauthorized: the caller is known but may not do this to the resource.
	Unauthorized
	// LimitExceeded: a quota would be exceeded.
	LimitExceeded
	// Unsupported: the operation or value is valid but openami does not do it.
	Unsupported
	// InvalidToken: a pagination token is malformed, tampered with, or was
	// issued for a different query.
	InvalidToken
	// DryRun: the request would have succeeded but DryRun was set.
	DryRun
)

var classNames = [...]string{
	Internal:           "internal",
	NotFound:           "not found",
	Duplicate:          "duplicate",
	Malformed:          "malformed",
	InvalidParameter:   "invalid parameter",
	MissingParameter:   "missing parameter",
	InvalidCombination: "invalid parameter combination",
	UnknownParameter:   "unknown parameter",
	InUse:              "in use",
	IncorrectState:     "incorrect state",
	Unauthorized:       "unauthorized",
	LimitExceeded:      "limit exceeded",
	Unsupported:        "unsupported",
	InvalidToken:       "invalid token",
	DryRun:             "dry run",
}

// String returns the class's name in lowercase words.
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Reason refines a Class where one class and resource cover conditions a
// caller must tell apart: an image that is IncorrectState because it is
// gone for good (ReasonUnavailable) rather than not yet available, say.
// A Reason names the condition in openami's terms; which wire code each
// protocol answers with is the API layer's business. The zero Reason adds
// nothing to the class and resource.
type Reason string

// The sub-reasons. Each says what, within the error's resource, is wrong.
const (
	// ReasonName: an image's or launch template's name does not have the
	// required form (Malformed), or no launch template has the name a
	// request gave instead of an id (NotFound).
	ReasonName Reason = "name"
	// ReasonMapping: a block device mapping, of an image or of a launch,
	// cannot be used as given.
	ReasonMapping Reason = "block-device-mapping"
	// ReasonLaunchPermission: a launch permission does not name exactly one
	// account, group, organization or organizational unit.
	ReasonLaunchPermission Reason = "launch-permission"
	// ReasonUnavailable: an image that exists, or existed, but cannot be used:
	// deregistered, disabled, failed or not yet available.
	ReasonUnavailable Reason = "unavailable"
	// ReasonTokenReused: a client (idempotency) token already used for a
	// request with other parameters.
	ReasonTokenReused Reason = "client-token-reused"
	// ReasonCopySource: the region a copy is asked to come from is not one
	// openami serves.
	ReasonCopySource Reason = "copy-source"
	// ReasonZoneMismatch: a volume and an instance in different
	// availability zones.
	ReasonZoneMismatch Reason = "zone-mismatch"
	// ReasonDependency: a parameter given without another one it depends
	// on (a KMS key without encryption).
	ReasonDependency Reason = "dependency"
	// ReasonKeyUnusable: the KMS key of encrypted data (or asked to
	// encrypt it) cannot be used: deleted, disabled, pending deletion, or
	// not usable by the caller.
	ReasonKeyUnusable Reason = "key-unusable"
	// ReasonIDsWithPaging: a Describe request that names the resources it
	// wants by id and also asks for them a page at a time.
	ReasonIDsWithPaging Reason = "ids-with-paging"
	// ReasonAddress: a private IP address asked for in a subnet.
	ReasonAddress Reason = "address"
	// ReasonPublicAddress: the host's pool of public addresses.
	ReasonPublicAddress Reason = "public-address"
	// ReasonHostCapacity: no compute host has room for an instance
	// (docs/HOSTS.md).
	ReasonHostCapacity Reason = "host-capacity"
	// ReasonFenced: a compute host's work under an epoch it no longer
	// holds: another node declared it dead (docs/HOSTS.md).
	ReasonFenced Reason = "fenced"
	// ReasonDisabled: a KMS key that is disabled (as opposed to one pending
	// deletion or pending import).
	ReasonDisabled Reason = "disabled"
	// ReasonPolicy: a KMS key policy document, or its name.
	ReasonPolicy Reason = "policy"
	// ReasonCiphertext: a ciphertext blob that does not decode or does not
	// authenticate, including under its encryption context.
	ReasonCiphertext Reason = "ciphertext"
	// ReasonWrongKey: a KMS key that is not the one that encrypted the
	// ciphertext.
	ReasonWrongKey Reason = "wrong-key"
	// ReasonKeyUsage: an operation or algorithm the KMS key's usage or key
	// spec does not allow.
	ReasonKeyUsage Reason = "key-usage"
	// ReasonGrantToken: a grant token that is not one openami issued in the
	// region.
	ReasonGrantToken Reason = "grant-token"
	// ReasonPrincipal: a principal (a grant's grantee or retiring principal)
	// that is not a valid ARN of an account or role.
	ReasonPrincipal Reason = "principal"
	// ReasonTooLong: a value longer than its field allows.
	ReasonTooLong Reason = "too-long"
	// ReasonExclusive: two fields given together of which a request may
	// give only one (Field and Other).
	ReasonExclusive Reason = "exclusive"
	// ReasonConstraint: a value that breaks a constraint on its field's
	// form (its length, its pattern, the values or the range it may
	// take), which Detail states.
	ReasonConstraint Reason = "constraint"
	// ReasonDefault: a resource every account has by definition (the
	// default VPC, its subnets, a VPC's default security group), which
	// cannot be deleted.
	ReasonDefault Reason = "default"
	// ReasonRange: an address range (CIDR) of the wrong size for its
	// resource, or outside the range it must lie in (a subnet's outside
	// its VPC's).
	ReasonRange Reason = "range"
	// ReasonOverlap: an address range that overlaps another one it may
	// not (a subnet's and a sibling subnet's).
	ReasonOverlap Reason = "overlap"
	// ReasonRuleID: a security group rule named by its id (sgr-…) rather
	// than by what it allows.
	ReasonRuleID Reason = "rule-id"
	// ReasonNetworkMismatch: resources that must be in one VPC are not
	// (a subnet and a security group of a launch).
	ReasonNetworkMismatch Reason = "network-mismatch"
	// ReasonVersion: a version that does not exist: of a launch template,
	// or of a parameter (a version or label a selector names).
	ReasonVersion Reason = "version"
	// ReasonSSMParameter: an SSM parameter an input names (resolve:ssm:)
	// does not exist.
	ReasonSSMParameter Reason = "ssm-parameter"
	// ReasonHierarchy: a parameter name with more levels than a hierarchy
	// may have.
	ReasonHierarchy Reason = "hierarchy"
	// ReasonPattern: a parameter value that does not match the
	// parameter's AllowedPattern.
	ReasonPattern Reason = "pattern"
	// ReasonManifest: a bundle's manifest that cannot be read, does not
	// verify, or names parts that are not there (RegisterImage's
	// ImageLocation).
	ReasonManifest Reason = "manifest"
	// ReasonLeaseLost: background work whose lease (Lease) another node
	// took over, or that expired, before the work's transaction
	// committed; the transaction changed nothing.
	ReasonLeaseLost Reason = "lease-lost"
)

// Error is the error type of openami. Resource names the kind of resource
// involved (a ResourceType such as "key-pair"), if any; Reason refines the
// class where callers must tell conditions apart, if needed; Field names the
// input at fault in the rules' own terms (their input's field name, such as
// "KeyType", "MaxResults" or "BlockToken"), if any; Message is a sentence
// meant for the API caller, in the style AWS uses; Err is an underlying
// cause.
//
// An error about an input whose sentence would name request parameters
// leaves Message empty and says what is wrong in Field, Value, Other and
// Detail instead (package rules/param makes them): each protocol writes
// its own sentence from them, with its own names for the fields.
type Error struct {
	Class    Class
	Resource ResourceType
	Reason   Reason
	Field    string
	// Value is the value given for Field, as text, where a message quotes
	// it.
	Value string
	// Other names a second field the error is about: the one Field
	// requires (ReasonDependency) or excludes (ReasonExclusive), or the
	// one a request may give instead of a missing Field.
	Other string
	// Detail says, in the rules' words, what Field takes or why its value
	// does not do ("Valid values: a, b.", "is not supported for gp2
	// volumes."), for errors without a Message.
	Detail  string
	Message string
	Err     error
}

// ReasonErrorf returns an *Error of class c about resource r, refined by
// the sub-reason why, with a formatted message. Use "" for r when no
// resource type applies.
func ReasonErrorf(c Class, r ResourceType, why Reason, format string, args ...any) error {
	return &Error{Class: c, Resource: r, Reason: why, Message: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the sub-reason of the first *Error in err's chain, or ""
// when there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// FieldErrorf returns an *Error of class c about the request parameter
// field, with a formatted message.
func FieldErrorf(c Class, field string, format string, args ...any) error {
	return &Error{Class: c, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Error returns the message, followed by the cause when there is one.
// An error without a message says its class, fields, value and detail.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Class.String()
		if e.Field != "" {
			msg += " " + e.Field
			if e.Other != "" {
				msg += " (with " + e.Other + ")"
			}
			if e.Value != "" {
				msg += " = " + e.Value
			}
			if e.Detail != "" {
				msg += ": " + e.Detail
			}
		}
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class, so that
// errors.Is(err, openami.ErrNotFound) works for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*sentinel)
	return ok && t.class == e.Class
}

type sentinel struct{ class Class }

func (s *sentinel) Error() string { return s.class.String() }

// Sentinels for errors.Is. They match any *Error of the same class.
var (
	ErrNotFound           error = &sentinel{NotFound}
	ErrDuplicate          error = &sentinel{Duplicate}
	ErrMalformed          error = &sentinel{Malformed}
	ErrInvalidParameter   error = &sentinel{InvalidParameter}
	ErrMissingParameter   error = &sentinel{MissingParameter}
	ErrInvalidCombination error = &sentinel{InvalidCombination}
	ErrUnknownParameter   error = &sentinel{UnknownParameter}
	ErrInUse              error = &sentinel{InUse}
	ErrIncorrectState     error = &sentinel{IncorrectState}
	ErrUnauthorized       error = &sentinel{Unauthorized}
	ErrLimitExceeded      error = &sentinel{LimitExceeded}
	ErrUnsupported        error = &sentinel{Unsupported}
	ErrInvalidToken       error = &sentinel{InvalidToken}
	ErrDryRun             error = &sentinel{DryRun}
)

// Errorf returns an *Error of class c about resource r with a formatted
// message. Use "" for r when no resource type applies.
func Errorf(c Class, r ResourceType, format string, args ...any) error {
	return &Error{Class: c, Resource: r, Message: fmt.Sprintf(format, args...)}
}

// ClassOf returns the class of err: the class of the first *Error in its
// chain, or Internal when there is none. A nil error has no class; ClassOf
// returns Internal for it too, so check for nil first.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Internal
}

// ResourceOf returns the resource type named by the first *Error in err's
// chain, or "" when there is none.
func ResourceOf(err error) ResourceType {
	var e *Error
	if errors.As(err, &e) {
		return e.Resource
	}
	return ""
}
