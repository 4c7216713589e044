package s3

import (
	"errors"
	"fmt"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/api/s3/checksum"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/api/transport"
)

// TestErrorTable: every refusal rules/objects makes reaches S3's code and
// status, wrapped or not.
func TestErrorTable(t *testing.T) {
	r := func(c openami.Class, res openami.ResourceType, why openami.Reason, msg string) error {
		return fmt.Errorf("wrapped: %w", &openami.Error{Class: c, Resource: res, Reason: why, Message: msg})
	}
	for _, c := range []struct {
		err    error
		code   string
		status int
	}{
		{r(openami.NotFound, openami.ResourceBucket, "", "m"), "NoSuchBucket", 404},
		{r(openami.NotFound, openami.ResourceObject, "", "m"), "NoSuchKey", 404},
		{r(openami.NotFound, openami.ResourceUpload, "", "m"), "NoSuchUpload", 404},
		{r(openami.NotFound, openami.ResourceBucketPolicy, "", "m"), "NoSuchBucketPolicy", 404},
		{r(openami.Duplicate, openami.ResourceBucket, openami.ReasonOwnedByYou, "m"), "BucketAlreadyOwnedByYou", 409},
		{r(openami.Duplicate, openami.ResourceBucket, "", "m"), "BucketAlreadyExists", 409},
		{r(openami.InUse, openami.ResourceBucket, openami.ReasonNotEmpty, "m"), "BucketNotEmpty", 409},
		{r(openami.Malformed, openami.ResourceBucket, "", "m"), "InvalidBucketName", 400},
		{r(openami.Malformed, openami.ResourceBucketPolicy, "", "m"), "MalformedPolicy", 400},
		{r(openami.Malformed, "", "", "m"), "MalformedACLError", 400},
		{r(openami.Unauthorized, "", "", "Access Denied"), "AccessDenied", 403},
		{r(openami.IncorrectState, openami.ResourceObject, openami.ReasonNotModified, "m"), "NotModified", 304},
		{r(openami.IncorrectState, openami.ResourceObject, openami.ReasonPrecondition, "m"), "PreconditionFailed", 412},
		{r(openami.InvalidParameter, openami.ResourceObject, openami.ReasonDigest, "m"), "BadDigest", 400},
		{r(openami.InvalidParameter, openami.ResourceObject, openami.ReasonRange, "m"), "InvalidRange", 416},
		{r(openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLarge, "m"), "EntityTooLarge", 400},
		{r(openami.InvalidParameter, openami.ResourcePart, openami.ReasonTooSmall, "m"), "EntityTooSmall", 400},
		{r(openami.InvalidParameter, openami.ResourcePart, openami.ReasonOrder, "m"), "InvalidPartOrder", 400},
		{r(openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLong, "m"), "KeyTooLongError", 400},
		{r(openami.InvalidParameter, openami.ResourcePart, "", "One or more of the specified parts could not be found."), "InvalidPart", 400},
		{r(openami.InvalidParameter, openami.ResourceRegion, openami.ReasonConstraint, "m"), "InvalidLocationConstraint", 400},
		{r(openami.InvalidParameter, "", "", "m"), "InvalidArgument", 400},
		{r(openami.Unsupported, "", "", "m"), "NotImplemented", 501},
		{r(openami.Internal, "", "", "disk on fire"), "InternalError", 500},
		{errors.New("unclassified"), "InternalError", 500},
		{fmt.Errorf("put: %w", &sigv4.Error{Failure: sigv4.PayloadMismatch}), "XAmzContentSHA256Mismatch", 400},
		{&sigv4.Error{Failure: sigv4.BadBody}, "IncompleteBody", 400},
		{fmt.Errorf("put: %w", &checksum.Error{Failure: checksum.BadDigest}), "BadDigest", 400},
		{&checksum.Error{Failure: checksum.Mismatch}, "BadDigest", 400},
		{&checksum.Error{Failure: checksum.InvalidDigest}, "InvalidDigest", 400},
		{&checksum.Error{Failure: checksum.Invalid}, "InvalidRequest", 400},
		{&sigv4.Error{Failure: sigv4.Mismatch}, "SignatureDoesNotMatch", 403},
		{&sigv4.Error{Failure: sigv4.UnknownKey}, "InvalidAccessKeyId", 403},
		{&sigv4.Error{Failure: sigv4.Unsupported}, "NotImplemented", 501},
		{&sigv4.Error{Failure: sigv4.Expired}, "RequestTimeTooSkewed", 403},
		{fmt.Errorf("body: %w", transport.New(transport.Timeout, nil)), "RequestTimeout", 400},
		{transport.New(transport.Incomplete, nil), "IncompleteBody", 400},
		{ErrMissingContentSHA256, "InvalidRequest", 400},
	} {
		if e := code(c.err); e.Code != c.code || e.Status != c.status {
			t.Errorf("%v: %s %d, want %s %d", c.err, e.Code, e.Status, c.code, c.status)
		}
	}
	// An internal fault's detail never reaches the client.
	if e := code(r(openami.Internal, "", "", "disk on fire")); e.Message == "disk on fire" {
		t.Errorf("internal detail leaked: %q", e.Message)
	}
}
