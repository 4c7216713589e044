// Package bundle reads and writes the bundle format of the Amazon EC2 AMI
// tools (ec2-bundle-image, ec2-unbundle; euca2ools speaks the same): the
// form an instance store-backed image takes in a bucket.
//
// A bundle is an image file turned into a stream and cut into parts:
//
//	tar (one file entry) → gzip → AES-128-CBC (PKCS#7 padding) → parts of 10 MiB
//
// and a manifest (version 2007-10-10, XML) that names the parts in order
// with the SHA-1 of each, the SHA-1 of the whole tar stream, the image's
// size and the bundled size, and the AES key and IV, each encrypted with
// RSA PKCS#1 v1.5 to the EC2 certificate (so that EC2 can launch the image)
// and to the bundler's own certificate (so that the user can unbundle it).
// The manifest is signed with RSA-SHA1 over the exact text of its
// <machine_configuration> and <image> elements, concatenated.
// docs/BUNDLES.md states the format in full and what was checked against
// which source.
//
// Create makes a bundle from a stream, handing each part to a PartSink
// (files, objects) as it is made; Unbundle streams the parts back into the
// image, verifying each part, the sizes and the image's digest; CheckParts
// verifies the parts alone (their digests and total), CheckPartSizes only
// that they are there with the right total. Both directions hold at most a couple of parts
// in memory, whatever the image's size.
//
// Private keys need not be in this process: the key and IV are decrypted
// through a function the caller supplies (Manifest.EC2Key, UserKey), and
// manifests are signed with any crypto.Signer.
//
// Errors wrap the sentinels below (ErrMalformed, ErrSignature, ErrDigest,
// ErrSize, ErrMissingPart, ErrKey, ErrCorrupt); an error about one part is
// a *PartError that names it. The package knows nothing of openami: its
// callers map these to their own errors.
package bundle
