package blob

import (
	"strings"

	"github.com/openami/openami"
)

// CheckKey returns nil if key is a valid key (see the package comment), and
// an *openami.Error of class InvalidParameter saying why if it is not.
// Every Store method calls it before touching storage, so that a key can
// never name anything outside the store, whatever the back end makes of
// slashes and dots.
func CheckKey(key string) error {
	if key == "" {
		return openami.Errorf(openami.InvalidParameter, "", "blob key is empty")
	}
	if len(key) > MaxKeyLen {
		return openami.Errorf(openami.InvalidParameter, "", "blob key is %d bytes long, more than %d", len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return openami.Errorf(openami.InvalidParameter, "", "blob key %q has a character outside [a-z0-9._/-] at byte %d", key, i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return openami.Errorf(openami.InvalidParameter, "", "blob key %q starts or ends with a slash or contains \"//\"", key)
		case ".", "..":
			return openami.Errorf(openami.InvalidParameter, "", "blob key %q has a %q segment", key, seg)
		}
		if len(seg) > MaxSegmentLen {
			return openami.Errorf(openami.InvalidParameter, "", "blob key %q has a segment longer than %d bytes", key, MaxSegmentLen)
		}
	}
	return nil
}

// CheckPrefix returns nil if prefix is a valid List prefix: empty, or the
// beginning of some valid key (so "chunks/" and "chunks/0" are valid, and
// "/x", "a//" and "A" are not). Otherwise it returns an *openami.Error of
// class InvalidParameter. A prefix that no valid key can start with is
// rejected rather than answered with nothing, because it can only be a bug
// in the caller.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// prefix begins some valid key if and only if prefix+"a" is one: "a"
	// completes a trailing slash into a segment, extends a partial segment
	// (even "." or "..") into a legal one, and cannot repair anything else.
	if CheckKey(prefix+"a") != nil && CheckKey(prefix) != nil {
		return openami.Errorf(openami.InvalidParameter, "", "blob key prefix %q cannot begin a valid key", prefix)
	}
	return nil
}

// MaxKeyLen is the longest valid key in bytes. It keeps keys inside S3's
// 1024-byte limit with room for a store's own prefix, and inside the
// 4096-byte path limit of a local file system.
const MaxKeyLen = 512

// MaxSegmentLen is the longest segment (the text between slashes) of a
// valid key in bytes: the longest file name most local file systems allow,
// so that every back end accepts the same keys.
const MaxSegmentLen = 255

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-'
}
