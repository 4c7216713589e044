package service

import (
	"regexp"
	"strings"

	"github.com/openami/openami"
)

// The names of devices in block device mappings, as rules/images checks
// an image's.
var (
	ephemeralName = regexp.MustCompile(`^ephemeral([0-9]|1[0-9]|2[0-3])$`)
	deviceName    = regexp.MustCompile(`^/dev/(sd[a-z]|xvd[a-z]|sd[a-z][0-9]{1,2}|xvd[a-z][0-9]{1,2}|nvme[0-9]+n[0-9]+|hd[a-z])$|^[a-z]{2,4}[a-z0-9]*$`)
)

// oneOf checks that v, the value of field, is one of allowed.
func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter %s is invalid. Valid values: %s.", v, field, strings.Join(allowed, ", "))
}

// badMapping is the error of a bad block device mapping (RunInstances',
// CreateImage's).
func badMapping(format string, args ...any) error {
	return openami.ReasonErrorf(openami.InvalidParameter, "", openami.ReasonMapping, format, args...)
}

// firstError returns the first error of errs that is not nil, or nil.
func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
