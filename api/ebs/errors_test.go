package ebs

import (
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/param"
)

// TestParamSentences: the rules refuse an input in their own terms
// (rules/param); the EBS direct API's sentence is made here.
func TestParamSentences(t *testing.T) {
	for _, c := range []struct {
		err              error
		typ, reason, msg string
	}{
		{param.Requires("KmsKeyID", "Encrypted"), "ValidationException", "INVALID_PARAMETER_VALUE",
			"The parameter KmsKeyId requires the parameter Encrypted to be set."},
		{openami.FieldErrorf(openami.InvalidParameter, "VolumeSize", "own sentence"), "ValidationException", "INVALID_VOLUME_SIZE", "own sentence"},
	} {
		e := toException(c.err)
		if e.Type != c.typ || e.Reason != c.reason || e.Msg != c.msg {
			t.Errorf("toException(%v) = %s %s %q, want %s %s %q", c.err, e.Type, e.Reason, e.Msg, c.typ, c.reason, c.msg)
		}
	}
}
