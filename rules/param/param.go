// Package param holds the checks of request parameters that every
// subsystem's rules make the same way, so that they answer alike.
package param

import (
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
	return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter %s is invalid. Valid values: %s.", v, field, strings.Join(allowed, ", "))
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
