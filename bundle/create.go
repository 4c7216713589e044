package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	"github.com/klauspost/pgzip"
)

// DefaultPartSize is the AMI tools' part size (Bundle::CHUNK_SIZE).
const DefaultPartSize = 10 << 20

// MaxPartSize is the largest part Create makes: S3's limit for one PUT.
const MaxPartSize = 5 << 30

// tarRecord is tar(1)'s record size (20 blocks of 512 bytes): GNU tar and
// Python's tarfile pad their output to it, and so does Create.
const tarRecord = 10240

// Options describe the bundle Create makes.
type Options struct {
	// ImageName names the image: the tar entry, <image><name> and the
	// parts (NAME.part.NN). Required; a plain name, no slashes.
	ImageName string
	// User is the owner's 12-digit account id. Required.
	User string
	// Type is TypeMachine (the default), TypeKernel or TypeRamdisk;
	// KernelName is required for kernel images (<kernel_name>).
	Type, KernelName string

	// Launch defaults (<machine_configuration>).
	Architecture       string // e.g. x86_64. Required.
	BlockDeviceMapping []Mapping
	KernelID           string
	RamdiskID          string
	ProductCodes       []string
	AncestorAMIIDs     []string

	// EC2Cert is the certificate the key and IV are encrypted to for EC2
	// (the region's cert-ec2.pem). Required.
	EC2Cert *x509.Certificate
	// UserCert, when set, gets the key and IV too, so that its owner can
	// unbundle; a bundle without it opens only with EC2's key.
	UserCert *x509.Certificate
	// Signer signs the manifest (the user's private key, or EC2's for
	// bundles EC2 makes). Required.
	Signer crypto.Signer

	// PartSize is the size of every part but the last, at most
	// MaxPartSize; 0 means DefaultPartSize.
	PartSize int64
	// Bundler names the program (default openami).
	Bundler Bundler
	// ModTime is the tar entry's modification time (default now).
	ModTime time.Time
	// Rand is where the AES key and IV come from (default crypto/rand).
	Rand io.Reader
}

// PartSink stores the parts of a bundle as Create makes them.
type PartSink interface {
	// PutPart stores part p (its Index, Filename, Size and Digest set),
	// whose bytes r yields; r is also an io.Seeker, for a retry. Create
	// calls it in order, from one goroutine other than its caller's, and
	// stops at its first error. Parts stored before a failure are the
	// caller's to remove.
	PutPart(ctx context.Context, p Part, r io.ReadSeeker) error
}

// Create bundles size bytes of src: a tar stream of one regular file named
// opts.ImageName, gzipped (in parallel over the cores), encrypted with
// AES-128-CBC under a fresh random key and IV, and cut into parts handed to
// parts as each is made. It computes each part's SHA-1 and the tar
// stream's as it goes, and returns the signed manifest, whose key and IV
// are encrypted to opts.EC2Cert (and opts.UserCert). Memory stays at a few
// parts and gzip's blocks, whatever the size. src yielding fewer than size
// bytes is an error (io.ErrUnexpectedEOF); what follows them is not read.
func Create(ctx context.Context, src io.Reader, size int64, opts Options, parts PartSink) (*Manifest, error) {
	if err := checkOptions(&opts, size); err != nil {
		return nil, err
	}
	key, iv, err := newKey(opts.Rand)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key) // a 16-byte key never fails

	split := newSplitter(ctx, opts.ImageName, opts.PartSize, parts)
	enc := &cbcWriter{w: split, mode: cipher.NewCBCEncrypter(block, iv), buf: make([]byte, 0, cbcBuffer)}
	gz, _ := pgzip.NewWriterLevel(enc, pgzip.DefaultCompression) // the level is valid
	digest := sha1.New()
	stream := &countWriter{w: io.MultiWriter(digest, gz)}

	err = writeTar(ctx, stream, src, size, opts)
	if cerr := gz.Close(); err == nil { // always: it ends pgzip's goroutines
		err = cerr
	}
	if err == nil {
		err = enc.Close()
	}
	partList, serr := split.close(err)
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}

	m := &Manifest{
		Bundler:      opts.Bundler,
		Architecture: opts.Architecture, BlockDeviceMapping: sortedMappings(opts.BlockDeviceMapping),
		KernelID: opts.KernelID, RamdiskID: opts.RamdiskID, ProductCodes: opts.ProductCodes,
		Name: opts.ImageName, User: opts.User, Type: opts.Type, KernelName: opts.KernelName,
		AncestorAMIIDs: opts.AncestorAMIIDs,
		Digest:         digest.Sum(nil), Size: size, Parts: partList,
	}
	for _, p := range partList {
		m.BundledSize += p.Size
	}
	if err := m.SetEC2Key(key, iv, opts.EC2Cert); err != nil {
		return nil, err
	}
	if err := m.SetUserKey(key, iv, opts.UserCert); err != nil {
		return nil, err
	}
	if err := m.Sign(opts.Signer); err != nil {
		return nil, err
	}
	return m, nil
}

func checkOptions(o *Options, size int64) error {
	switch {
	case size < 0:
		return fmt.Errorf("bundle: negative image size %d", size)
	case o.ImageName == "" || o.ImageName != path.Base(o.ImageName) || o.ImageName == "..":
		return fmt.Errorf("bundle: image name %q must be a plain file name", o.ImageName)
	case o.User == "" || o.Architecture == "":
		return errors.New("bundle: the user and the architecture are required")
	case o.EC2Cert == nil || o.Signer == nil:
		return errors.New("bundle: the EC2 certificate and a signer are required")
	case o.PartSize < 0 || o.PartSize > MaxPartSize:
		return fmt.Errorf("bundle: part size %d is not within 1 byte and %d", o.PartSize, int64(MaxPartSize))
	}
	if o.Type == "" {
		o.Type = TypeMachine
	}
	switch o.Type {
	case TypeMachine, TypeRamdisk:
	case TypeKernel:
		if o.KernelName == "" {
			return errors.New("bundle: a kernel image needs its kernel name")
		}
	default:
		return fmt.Errorf("bundle: image type %q", o.Type)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Bundler == (Bundler{}) {
		o.Bundler = Bundler{Name: "openami", Version: "1", Release: "0"}
	}
	if o.ModTime.IsZero() {
		o.ModTime = time.Now()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return nil
}

// sortedMappings returns the mappings sorted by virtual name, as the AMI
// tools write them (bdm.keys.sort).
func sortedMappings(ms []Mapping) []Mapping {
	out := append([]Mapping(nil), ms...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Virtual < out[j].Virtual })
	return out
}

// writeTar writes the tar stream: one regular file, owner and group 0 as
// the AMI tools' `tar --owner 0 --group 0`, GNU format (tar's default),
// padded to a whole record.
func writeTar(ctx context.Context, w *countWriter, src io.Reader, size int64, opts Options) error {
	tw := tar.NewWriter(w)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: opts.ImageName, Size: size, Mode: 0o644,
		ModTime: opts.ModTime.Truncate(time.Second), Format: tar.FormatGNU,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle: tar header: %w", err)
	}
	n, err := io.Copy(tw, io.LimitReader(ctxReader{ctx, src}, size))
	if err != nil {
		return fmt.Errorf("bundle: reading the image: %w", err)
	}
	if n < size {
		return fmt.Errorf("bundle: the image ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: tar: %w", err)
	}
	if pad := (tarRecord - w.n%tarRecord) % tarRecord; pad > 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return nil
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// countWriter counts what it passes on.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// cbcBuffer is how much plaintext cbcWriter gathers before encrypting.
const cbcBuffer = 256 << 10

// cbcWriter encrypts with AES-CBC what is written to it, and on Close pads
// the end as PKCS#7 does (1 to 16 bytes, each the count), as `openssl enc`
// does.
type cbcWriter struct {
	w    io.Writer
	mode cipher.BlockMode
	buf  []byte
}

func (c *cbcWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf, p = c.buf[:len(c.buf)+k], p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(len(c.buf)); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush encrypts and writes the first n bytes of buf (whole blocks) and
// keeps the rest.
func (c *cbcWriter) flush(n int) error {
	n -= n % aes.BlockSize
	c.mode.CryptBlocks(c.buf[:n], c.buf[:n])
	if _, err := c.w.Write(c.buf[:n]); err != nil {
		return err
	}
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	return nil
}

func (c *cbcWriter) Close() error {
	pad := aes.BlockSize - len(c.buf)%aes.BlockSize
	c.buf = append(c.buf, bytes.Repeat([]byte{byte(pad)}, pad)...)
	return c.flush(len(c.buf))
}

// splitter cuts what is written to it into parts and hands each full one
// to a goroutine that digests it and puts it to the sink, so that the
// stream goes on while a part is stored: two part buffers in all.
type splitter struct {
	ctx      context.Context
	name     string
	size     int
	buf      []byte
	jobs     chan []byte
	free     chan []byte
	done     chan struct{} // closed when the goroutine ends
	err      error         // the goroutine's, read after done
	parts    []Part
	canceled context.CancelFunc
}

func newSplitter(ctx context.Context, name string, size int64, sink PartSink) *splitter {
	ctx, cancel := context.WithCancel(ctx)
	s := &splitter{ctx: ctx, name: name, size: int(size), jobs: make(chan []byte, 1),
		free: make(chan []byte, 2), done: make(chan struct{}), canceled: cancel}
	s.free <- nil // two buffers, made when first needed
	s.free <- nil
	go s.run(sink)
	return s
}

func (s *splitter) run(sink PartSink) {
	defer close(s.done)
	for b := range s.jobs {
		sum := sha1.Sum(b)
		p := Part{Index: len(s.parts), Filename: PartName(s.name, len(s.parts)), Digest: sum[:], Size: int64(len(b))}
		if err := sink.PutPart(s.ctx, p, bytes.NewReader(b)); err != nil {
			s.err = fmt.Errorf("bundle: storing %s: %w", p.Filename, err)
			s.canceled()
			return // done tells the writer
		}
		s.parts = append(s.parts, p)
		s.free <- b[:0]
	}
}

func (s *splitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.buf == nil {
			select {
			case b := <-s.free:
				s.buf = b[:0:cap(b)]
				if s.buf == nil {
					// Whole, once (what is never written is never paged
					// in); past 64 MiB, grown as the part fills.
					s.buf = make([]byte, 0, min(s.size, 64<<20))
				}
			case <-s.done:
				return 0, s.err
			}
		}
		k := min(len(p), s.size-len(s.buf))
		s.buf, p = append(s.buf, p[:k]...), p[k:]
		if len(s.buf) == s.size {
			if err := s.send(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// send hands the current buffer to the goroutine.
func (s *splitter) send() error {
	select {
	case s.jobs <- s.buf:
		s.buf = nil
		return nil
	case <-s.done:
		return s.err
	}
}

// close sends the last part unless failed, waits for the goroutine, and
// returns the parts stored.
func (s *splitter) close(failed error) ([]Part, error) {
	defer s.canceled()
	var err error
	if failed == nil && len(s.buf) > 0 {
		err = s.send()
	}
	if failed != nil {
		s.canceled()
	}
	close(s.jobs)
	<-s.done
	if err == nil {
		err = s.err
	}
	return s.parts, err
}
