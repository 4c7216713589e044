package ec2

import (
	"fmt"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/images"
)

// TestEveryClassHasACode guards the error table: a class added to openami
// without an EC2 code would otherwise surface as InternalError.
func TestEveryClassHasACode(t *testing.T) {
	for c := openami.NotFound; c <= openami.DryRun; c++ {
		if codes[c][""] == "" {
			t.Errorf("class %v has no default EC2 code", c)
		}
	}
	for f := sigv4.Missing; f <= sigv4.BadRegion; f++ {
		if authCodes[f] == "" {
			t.Errorf("signature failure %v has no EC2 code", f)
		}
	}
}

func TestToWire(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "x"), "InvalidKeyPair.NotFound", 400},
		{openami.Errorf(openami.NotFound, "no-such-type", "x"), "InvalidParameterValue", 400},
		{fmt.Errorf("wrapped: %w", openami.Errorf(openami.Duplicate, openami.ResourceKeyPair, "x")), "InvalidKeyPair.Duplicate", 400},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceFilter, "x"), "FilterLimitExceeded", 400},
		{openami.Errorf(openami.DryRun, "", "x"), "DryRunOperation", 412},
		{openami.ReasonErrorf(openami.Malformed, openami.ResourceImage, openami.ReasonName, "x"), "InvalidAMIName.Malformed", 400},
		{openami.Errorf(openami.Malformed, openami.ResourceImage, "x"), "InvalidAMIID.Malformed", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, "", openami.ReasonMapping, "x"), "InvalidBlockDeviceMapping", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceImage, openami.ReasonLaunchPermission, "x"), "InvalidAMIAttributeItemValue", 400},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceImage, openami.ReasonUnavailable, "x"), "InvalidAMIID.Unavailable", 400},
		{openami.ReasonErrorf(openami.Duplicate, openami.ResourceImage, openami.ReasonTokenReused, "x"), "IdempotentParameterMismatch", 400},
		{openami.Errorf(openami.Duplicate, openami.ResourceImage, "x"), "InvalidAMIName.Duplicate", 400},
		{openami.ReasonErrorf(openami.Duplicate, openami.ResourceInstance, openami.ReasonTokenReused, "x"), "IdempotentParameterMismatch", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceRegion, openami.ReasonCopySource, "x"), "InvalidRegion", 400},
		{openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "x"), "InvalidParameterValue", 400},
		{openami.ReasonErrorf(openami.InUse, openami.ResourceSubnet, openami.ReasonAddress, "x"), "InvalidIPAddress.InUse", 400},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceKMSKey, openami.ReasonDisabled, "x"), "IncorrectState", 400},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceInstance, "no-such-reason", "x"), "IncorrectInstanceState", 400},
		{openami.ReasonErrorf(openami.Duplicate, openami.ResourceVolume, openami.ReasonTokenReused, "x"), "IdempotentParameterMismatch", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceVolume, openami.ReasonZoneMismatch, "x"), "InvalidVolume.ZoneMismatch", 400},
		{&openami.Error{Class: openami.InvalidCombination, Reason: openami.ReasonDependency, Field: "KmsKeyId", Message: "x"}, "InvalidParameterDependency", 400},
		{openami.Errorf(openami.InvalidCombination, "", "x"), "InvalidParameterCombination", 400},
		{openami.ReasonErrorf(openami.IncorrectState, openami.ResourceKMSKey, openami.ReasonKeyUnusable, "x"), "InvalidKMSKey.InvalidState", 400},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceKMSKey, openami.ReasonKeyUnusable, "x"), "InvalidParameterValue", 400},
		{&sigv4.Error{Failure: sigv4.Mismatch, Message: "m"}, "SignatureDoesNotMatch", 403},
		{&sigv4.Error{Failure: sigv4.UnknownKey, Message: "m"}, "AuthFailure", 401},
		{&invalidAction{"Nope"}, "InvalidAction", 400},
		{fmt.Errorf("disk on fire"), "InternalError", 500},
		{&openami.Error{Class: openami.Internal, Message: "secret detail"}, "InternalError", 500},
	} {
		w := toWire(tc.err)
		if w.Code != tc.code || w.Status != tc.status {
			t.Errorf("toWire(%v) = %s %d, want %s %d", tc.err, w.Code, w.Status, tc.code, tc.status)
		}
		if w.Code == "InternalError" && w.Message != "An internal error has occurred" {
			t.Errorf("internal error leaks detail: %q", w.Message)
		}
	}
}

// TestMessageNamesWireParameters: the rules refuse ids with MaxResults in
// their own terms; the EC2 sentence, which names the request's parameters,
// is made here.
func TestMessageNamesWireParameters(t *testing.T) {
	for r, set := range map[openami.ResourceType]string{openami.ResourceImage: "imageIdsSet", openami.ResourceSnapshot: "snapshotSet",
		openami.ResourceVolume: "volumeSet", openami.ResourceInstance: "instancesSet"} {
		err := describe.CheckIDs(r, []string{"x"}, describe.Page{MaxResults: 5})
		w := toWire(err)
		if w.Code != "InvalidParameterCombination" || w.Message != "The parameter "+set+" cannot be used with the parameter maxResults" {
			t.Errorf("%s: %s %q", r, w.Code, w.Message)
		}
	}
	if err := describe.CheckIDs(openami.ResourceImage, []string{"x"}, describe.Page{}); err != nil {
		t.Errorf("ids without MaxResults refused: %v", err)
	}
	if err := describe.CheckIDs(openami.ResourceImage, nil, describe.Page{MaxResults: 5}); err != nil {
		t.Errorf("MaxResults without ids refused: %v", err)
	}
}

// TestProtectionWords: EC2's text for deregistration protection, in the
// answers that show it and in DeregisterImage's refusal, from the state
// and the end of the cooldown the rules record (an earlier version's
// record whose time did not parse keeps its text, and shows it).
func TestProtectionWords(t *testing.T) {
	until := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		prot openami.DeregistrationProtection
		want string
	}{
		{openami.DeregistrationProtection{}, ""},
		{openami.DeregistrationProtection{State: "disabled"}, "disabled"},
		{openami.DeregistrationProtection{State: "enabled"}, "enabled"},
		{openami.DeregistrationProtection{State: "enabled-with-cooldown"}, "enabled-with-cooldown"},
		{openami.DeregistrationProtection{State: "disabled", Until: until}, "disabled-until 2026-12-07T09:00:00.123Z"},
		{openami.DeregistrationProtection{State: "disabled-until tomorrow"}, "disabled-until tomorrow"},
	} {
		if got := protectionWords(c.prot); got != c.want {
			t.Errorf("protectionWords(%+v) = %q, want %q", c.prot, got, c.want)
		}
	}
	err := fmt.Errorf("deregister: %w", &openami.Error{Class: openami.IncorrectState, Resource: openami.ResourceImage,
		Err: &images.Protected{ImageID: "ami-1", Protection: openami.DeregistrationProtection{State: "disabled", Until: until}}})
	if w := toWire(err); w.Code != "IncorrectState" || w.Message != "Image ami-1 has deregistration protection enabled (disabled-until 2026-12-07T09:00:00.123Z)." {
		t.Errorf("toWire(%v) = %s %q", err, w.Code, w.Message)
	}
}
