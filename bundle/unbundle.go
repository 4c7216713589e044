package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"

	"github.com/klauspost/pgzip"
)

// OpenPart opens one part of a bundle for reading (a file, an object). An
// error that is fs.ErrNotExist (errors.Is) means the part is missing.
type OpenPart func(p Part) (io.ReadCloser, error)

// Unbundle streams the parts of m in order from open into the image it
// holds, written to dst: it verifies each part's SHA-1 as it ends,
// decrypts with key and iv (from Manifest.EC2Key or UserKey), gunzips,
// and untars the one file, checking its size and the tar stream's SHA-1
// against the manifest. It does not verify the signature (Verify does).
//
// Four stages overlap, on bounded buffers: a goroutine reads the parts
// ahead and hashes them (fetcher, 10 MiB); pgzip's goroutine decrypts and
// inflates ahead of the reader (its blocks, about 4 MiB); the calling
// goroutine untars and hashes the tar stream; a goroutine writes dst
// (asyncWriter, 6 MiB), one Write at a time, in order. At most one part
// is open at a time, none after Unbundle returns, and dst is not written
// to after it returns.
//
// Bytes reach dst before the whole bundle is verified: on an error, what
// dst holds is to be thrown away. Errors: a *PartError wrapping
// ErrMissingPart, ErrDigest or the I/O error of that part (a part that does
// not match its digest is reported as such even when the damage first
// shows downstream); ErrSize when the parts' total or the image's size is
// not the manifest's; ErrDigest when the image's digest is not; ErrCorrupt
// when verified parts still do not decrypt, decompress or untar into one
// file (a wrong key); dst's write errors as they came.
func Unbundle(ctx context.Context, m *Manifest, key, iv []byte, open OpenPart, dst io.Writer) error {
	if len(key) != KeySize || len(iv) != KeySize {
		return fmt.Errorf("%w: key and iv must be %d bytes", ErrKey, KeySize)
	}
	block, _ := aes.NewCipher(key) // a 16-byte key never fails
	parts := newFetcher(ctx, m.Parts, open)
	defer parts.close()
	plain := &cbcReader{r: parts, mode: cipher.NewCBCDecrypter(block, iv), buf: make([]byte, cbcBuffer+aes.BlockSize)}
	async := newAsyncWriter(dst)
	out := &errWriter{w: async}

	err := untar(plain, m, out)
	if werr := async.Close(); werr != nil && out.err == nil {
		out.err = werr
		if err == nil {
			return werr
		}
	}
	if err != nil {
		// A damaged part shows downstream first; name it if it is one.
		if perr := parts.finish(); perr != nil {
			return perr
		}
		if out.err != nil {
			return out.err
		}
		if errors.Is(err, ErrSize) || errors.Is(err, ErrDigest) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if n := parts.read(); n != m.BundledSize {
		return fmt.Errorf("%w: the parts hold %d bytes, the manifest says %d", ErrSize, n, m.BundledSize)
	}
	return nil
}

// untar gunzips the decrypted stream and copies the tar's one file to
// dst, then reads the stream to its end, so that every part is verified
// and the digest covers the tar stream whole.
func untar(plain io.Reader, m *Manifest, dst io.Writer) error {
	gz, err := pgzip.NewReader(plain)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	defer gz.Close()
	gz.Multistream(false)
	digest := sha1.New()
	stream := io.TeeReader(gz, digest)
	tr := tar.NewReader(stream)
	hdr, err := tr.Next()
	if err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, '\x00', tar.TypeGNUSparse:
	default:
		return fmt.Errorf("tar entry %q is of type %q, not a file", hdr.Name, hdr.Typeflag)
	}
	if hdr.Size != m.Size {
		return fmt.Errorf("%w: the image is %d bytes, the manifest says %d", ErrSize, hdr.Size, m.Size)
	}
	if _, err := io.CopyN(dst, tr, hdr.Size); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	if _, err := tr.Next(); err != io.EOF {
		return fmt.Errorf("tar: a second entry or a bad end (%v)", err)
	}
	// The rest of the tar stream (its zero blocks and padding) counts in
	// the digest; then gzip must end, and so must the ciphertext.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if n, err := io.Copy(io.Discard, plain); err != nil || n > 0 {
		return fmt.Errorf("%d bytes after the gzip stream (%v)", n, err)
	}
	if sum := digest.Sum(nil); !bytes.Equal(sum, m.Digest) {
		return fmt.Errorf("%w: the image's SHA-1 is %x, the manifest says %x", ErrDigest, sum, m.Digest)
	}
	return nil
}

// CheckParts reads every part of m from open and checks that each is there
// and matches its SHA-1, and that together they are the bundled size,
// without decrypting: what registering a bundle may check before accepting
// it. Errors: a *PartError wrapping ErrMissingPart, ErrDigest or that
// part's I/O error; ErrSize.
func CheckParts(ctx context.Context, m *Manifest, open OpenPart) error {
	parts := &partsReader{ctx: ctx, parts: m.Parts, open: open, h: sha1.New()}
	if _, err := io.Copy(io.Discard, parts); err != nil {
		return err
	}
	if parts.total != m.BundledSize {
		return fmt.Errorf("%w: the parts hold %d bytes, the manifest says %d", ErrSize, parts.total, m.BundledSize)
	}
	return nil
}

// CheckPartSizes is the cheapest check: that every part is there (size
// reports a part's size, as a HEAD of an object or a stat of a file does)
// and that together they are the bundled size; it reads no part's bytes.
// Errors: a *PartError wrapping ErrMissingPart (size's error is
// fs.ErrNotExist) or size's error; ErrSize.
func CheckPartSizes(m *Manifest, size func(p Part) (int64, error)) error {
	var total int64
	for _, p := range m.Parts {
		n, err := size(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %v", ErrMissingPart, err)
			}
			return &PartError{Part: p, Err: err}
		}
		total += n
	}
	if total != m.BundledSize {
		return fmt.Errorf("%w: the parts hold %d bytes, the manifest says %d", ErrSize, total, m.BundledSize)
	}
	return nil
}

// partsReader reads the parts one after the other, verifying each one's
// SHA-1 when it ends.
type partsReader struct {
	ctx   context.Context
	parts []Part
	open  OpenPart
	h     hash.Hash
	i     int           // the current part
	cur   io.ReadCloser // nil between parts
	total int64
	err   error // the first error returned
}

func (r *partsReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func (r *partsReader) read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.i == len(r.parts) {
				return 0, io.EOF
			}
			if err := r.ctx.Err(); err != nil {
				return 0, err
			}
			part := r.parts[r.i]
			rc, err := r.open(part)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					err = fmt.Errorf("%w: %v", ErrMissingPart, err)
				}
				return 0, &PartError{Part: part, Err: err}
			}
			r.cur = rc
			r.h.Reset()
		}
		n, err := r.cur.Read(p)
		r.h.Write(p[:n])
		r.total += int64(n)
		if err == io.EOF {
			if err := r.endPart(); err != nil {
				return n, err
			}
			if n == 0 {
				continue
			}
			return n, nil
		}
		if err != nil {
			return n, &PartError{Part: r.parts[r.i], Err: err}
		}
		return n, nil
	}
}

// endPart closes the current part and checks its digest.
func (r *partsReader) endPart() error {
	part := r.parts[r.i]
	r.cur.Close()
	r.cur = nil
	r.i++
	if sum := r.h.Sum(nil); !bytes.Equal(sum, part.Digest) {
		return &PartError{Part: part, Err: fmt.Errorf("%w: SHA-1 %x, the manifest says %x", ErrDigest, sum, part.Digest)}
	}
	return nil
}

// cbcReader decrypts AES-CBC ciphertext from r and removes the PKCS#7
// padding at its end. It holds back the last whole block until it knows
// whether the stream ends there.
type cbcReader struct {
	r     io.Reader
	mode  cipher.BlockMode
	buf   []byte // ciphertext read: buf[start:end]; plaintext ready: buf[pos:start]
	pos   int
	start int
	end   int
	done  bool
}

func (c *cbcReader) Read(p []byte) (int, error) {
	for c.pos == c.start {
		if c.done {
			return 0, io.EOF
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.pos:c.start])
	c.pos += n
	return n, nil
}

// fill reads more ciphertext and decrypts every whole block but the last.
func (c *cbcReader) fill() error {
	// Move the undecrypted tail to the front.
	c.end = copy(c.buf, c.buf[c.start:c.end])
	c.pos, c.start = 0, 0
	n, err := io.ReadAtLeast(c.r, c.buf[c.end:], aes.BlockSize)
	c.end += n
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if c.end == 0 || c.end%aes.BlockSize != 0 {
			return fmt.Errorf("ciphertext of %d bytes is not whole blocks", c.end)
		}
		c.mode.CryptBlocks(c.buf[:c.end], c.buf[:c.end])
		pad := int(c.buf[c.end-1])
		if pad < 1 || pad > aes.BlockSize || !bytes.Equal(c.buf[c.end-pad:c.end], bytes.Repeat([]byte{byte(pad)}, pad)) {
			return errors.New("bad padding (a wrong key?)")
		}
		c.start, c.done = c.end-pad, true
		return nil
	case err != nil:
		return err
	}
	k := c.end - c.end%aes.BlockSize
	if k == c.end {
		k -= aes.BlockSize
	}
	c.mode.CryptBlocks(c.buf[:k], c.buf[:k])
	c.start = k
	return nil
}

// errWriter remembers its writer's error, to tell it from the reader's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
