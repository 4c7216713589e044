package bundle

import (
	"errors"
	"fmt"
)

// The classes of failure, for errors.Is. Every error the package returns
// about a bundle wraps one of them; I/O errors of the caller's sources and
// sinks are returned wrapped as they came.
var (
	// ErrMalformed: a manifest that does not parse, is not version
	// 2007-10-10, or lacks or misstates a required field.
	ErrMalformed = errors.New("malformed bundle manifest")
	// ErrSignature: the manifest's signature verifies under none of the
	// certificates given, or the manifest changed since it was signed.
	ErrSignature = errors.New("bundle manifest signature does not verify")
	// ErrDigest: a part's SHA-1, or the image's, is not the manifest's.
	ErrDigest = errors.New("bundle digest mismatch")
	// ErrSize: the parts' total is not the manifest's bundled_size, or the
	// image is not its size.
	ErrSize = errors.New("bundle size mismatch")
	// ErrMissingPart: a part the manifest names is not there.
	ErrMissingPart = errors.New("bundle part missing")
	// ErrKey: the AES key or IV cannot be decrypted with the key given, or
	// is not a 128-bit value in hex.
	ErrKey = errors.New("bundle key cannot be decrypted")
	// ErrCorrupt: the parts match their digests, yet the stream does not
	// decrypt, decompress or untar into one file (a wrong key, or a bundle
	// made wrong).
	ErrCorrupt = errors.New("bundle stream is corrupt")
)

// PartError is an error about one part of a bundle: it names the part and
// wraps the class (ErrDigest, ErrMissingPart) or the I/O error.
type PartError struct {
	Part Part
	Err  error
}

func (e *PartError) Error() string {
	return fmt.Sprintf("bundle part %d (%s): %v", e.Part.Index, e.Part.Filename, e.Err)
}

func (e *PartError) Unwrap() error { return e.Err }

// malformed returns an ErrMalformed error with a message.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
