// Package param holds the checks of request inputs that every
// subsystem's rules make the same way, so that they answer alike, and the
// errors about an input that they return. The errors name inputs in the
// rules' own terms (their input structs' field names, such as "KeyType");
// they carry no sentence, so that each protocol in api/ writes its own,
// with its own names for the fields (openami.Error).
package param

import (
	"fmt"
	"strings"

	"github.com/openami/openami"
)

// OneOf checks that v, the value of field, is one of allowed; an
// InvalidParameter error that lists them otherwise.
func OneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return Invalid(field, v, "Valid values: %s.", strings.Join(allowed, ", "))
}

// Invalid returns the InvalidParameter error of the value v given for
// field, with a detail (a sentence, formatted) saying what field takes or
// what is wrong with v.
func Invalid(field, v, detail string, args ...any) error {
	return &openami.Error{Class: openami.InvalidParameter, Field: field, Value: v, Detail: fmt.Sprintf(detail, args...)}
}

// TooLong returns the InvalidParameter error of the value v given for
// field, longer than field allows (ReasonTooLong), with a detail
// (formatted) saying the limit.
func TooLong(field, v, detail string, args ...any) error {
	return &openami.Error{Class: openami.InvalidParameter, Reason: openami.ReasonTooLong, Field: field, Value: v, Detail: fmt.Sprintf(detail, args...)}
}

// Breaks returns the InvalidParameter error of a value given for field
// that breaks a constraint on its form: its length, its pattern, the
// values or the range it may take (ReasonConstraint). detail (formatted)
// states the constraint as a clause that follows the field's name ("must
// have length less than or equal to 2048"). v is the value as text, or ""
// where it is not to be repeated: a secret, or one too long to quote.
func Breaks(field, v, detail string, args ...any) error {
	return &openami.Error{Class: openami.InvalidParameter, Reason: openami.ReasonConstraint, Field: field, Value: v, Detail: fmt.Sprintf(detail, args...)}
}

// Empty returns the MissingParameter error of field given empty where
// its form requires a length (ReasonConstraint), with detail (formatted)
// stating the constraint as Breaks does ("must have length greater than
// or equal to 1").
func Empty(field, detail string, args ...any) error {
	return &openami.Error{Class: openami.MissingParameter, Reason: openami.ReasonConstraint, Field: field, Detail: fmt.Sprintf(detail, args...)}
}

// Missing returns the MissingParameter error of a required field that was
// not given.
func Missing(field string) error {
	return &openami.Error{Class: openami.MissingParameter, Field: field}
}

// MissingEither returns the MissingParameter error of a request that
// gives neither field nor other, where it needs one of them.
func MissingEither(field, other string) error {
	return &openami.Error{Class: openami.MissingParameter, Field: field, Other: other}
}

// MissingFor returns the MissingParameter error of a field required in
// the circumstances detail (formatted) states, as a clause that follows
// the field's name ("must be specified for io1 volumes.").
func MissingFor(field, detail string, args ...any) error {
	return &openami.Error{Class: openami.MissingParameter, Field: field, Detail: fmt.Sprintf(detail, args...)}
}

// NotWith returns the InvalidCombination error of a field given where the
// request's other inputs do not allow it, as detail (formatted) states in
// a clause that follows the field's name ("is not supported for gp2
// volumes.").
func NotWith(field, detail string, args ...any) error {
	return &openami.Error{Class: openami.InvalidCombination, Field: field, Detail: fmt.Sprintf(detail, args...)}
}

// Requires returns the InvalidCombination error of field given without
// other, which it depends on (ReasonDependency).
func Requires(field, other string) error {
	return &openami.Error{Class: openami.InvalidCombination, Reason: openami.ReasonDependency, Field: field, Other: other}
}

// Exclusive returns the InvalidCombination error of field and other given
// together where a request may give only one of them (ReasonExclusive).
func Exclusive(field, other string) error {
	return &openami.Error{Class: openami.InvalidCombination, Reason: openami.ReasonExclusive, Field: field, Other: other}
}

// TokenReused returns the Duplicate error of a client (idempotency)
// token already used for a request about a resource of type r with other
// inputs (ReasonTokenReused).
func TokenReused(r openami.ResourceType, token string) error {
	return &openami.Error{Class: openami.Duplicate, Resource: r, Reason: openami.ReasonTokenReused, Field: "ClientToken", Value: token}
}

// FirstError returns the first error of errs that is not nil, or nil.
func FirstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
