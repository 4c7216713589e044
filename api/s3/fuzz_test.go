package s3

import (
	"net/http"
	"testing"

	"github.com/openami/openami/rules/objects"
)

// FuzzParseRange: a Range header never panics, and a range it accepts is
// well formed.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=5-", "bytes=-3", "bytes=1-2,4-5", "bytes=x", "items=0-1", "bytes=9-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := parseRange(s)
		if r == nil {
			return
		}
		if r.First < 0 && r.Last != -1 || r.First >= 0 && r.Last != -1 && r.Last < r.First {
			t.Fatalf("%q gave %+v", s, r)
		}
	})
}

// FuzzACLHeaders: grant headers never panic.
func FuzzACLHeaders(f *testing.F) {
	for _, s := range []string{`id="abc"`, `uri="http://acs.amazonaws.com/groups/global/AllUsers", id=1`, `emailAddress="a@b"`, `=`, `id`} {
		f.Add("private", s)
	}
	f.Fuzz(func(t *testing.T, canned, grant string) {
		h := http.Header{}
		h.Set("x-amz-acl", canned)
		h.Set("x-amz-grant-read", grant)
		aclFromHeaders(h)
	})
}

// FuzzTaggingHeader: x-amz-tagging never panics, and the tags it reads
// survive the rules' check or are refused as InvalidTag, never more.
func FuzzTaggingHeader(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "k", "a=%zz", "a%20b=c%2Fd&&=", "aws%3Ax=1", "k=1&k=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		h.Set("x-amz-tagging", s)
		tags, err := tagsFromHeader(h)
		if err != nil {
			return
		}
		if err := objects.CheckTags(tags); err != nil && code(err).Code != "InvalidTag" {
			t.Fatalf("%q: %v answered %s", s, err, code(err).Code)
		}
	})
}
