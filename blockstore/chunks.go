package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// ErrCorrupt is the class of data that failed verification: a chunk whose
// frame does not parse or whose plaintext does not hash to its name, or a
// block-map node that does not decode or does not hash to its name. Such
// errors are *openami.Error values of class Internal that wrap ErrCorrupt,
// so test for them with errors.Is(err, ErrCorrupt).
var ErrCorrupt = errors.New("corrupt data")

// corruptf returns an Internal error that wraps ErrCorrupt.
func corruptf(format string, args ...any) error {
	return &openami.Error{Class: openami.Internal, Message: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// The chunk frame; doc.go describes it.
const (
	frameMagic      = "OACK"
	frameVersion    = 1
	kindRaw         = 0
	kindZstd        = 1
	frameHeaderSize = 12
	// maxFrameSize is the largest frame Put writes: a raw block, since Put
	// keeps the compressed form only when it is smaller.
	maxFrameSize = frameHeaderSize + openami.BlockSize
	// maxStoredSize is the largest blob a chunk may be: a raw block
	// sealed, with the sealed frame's own header and GCM's tag.
	maxStoredSize = maxFrameSize + sealedOverhead
	// frameBufSize leaves room past maxFrameSize for zstd's worst case (raw
	// zstd blocks of 128 KiB, 3 bytes of header each, and a frame header),
	// so that compressing incompressible data never reallocates, and so
	// that Get can tell a blob of exactly maxStoredSize from a longer one.
	frameBufSize = maxFrameSize + 4096
)

// zeroBlock is an all-zero block, to compare with.
var zeroBlock [openami.BlockSize]byte

// zeroBlockSum is the SHA-256 of an all-zero block. Callers that hash
// every block themselves may hold it instead of ZeroDigest; Get and
// PutVerified treat the two alike, since both name the zero block.
var zeroBlockSum = openami.Digest(sha256.Sum256(zeroBlock[:]))

// isZeroBlock reports whether data is all zeros. bytes.Equal is a memcmp
// that stops at the first difference, so a data block costs almost
// nothing and a zero block costs a pass at memory speed.
func isZeroBlock(data []byte) bool { return bytes.Equal(data, zeroBlock[:]) }

// Pools. Chunks are a fixed 512 KiB, so Put and Get reuse their buffers
// and codecs instead of allocating 512 KiB (and zstd's tables) per call.
// Each pooled codec has concurrency 1: it starts no goroutines, so the
// pool may drop it without Close.
var (
	framePool = sync.Pool{New: func() any { b := make([]byte, 0, frameBufSize); return &b }}
	plainPool = sync.Pool{New: func() any { b := make([]byte, openami.BlockSize); return &b }}

	encoderPool = sync.Pool{New: func() any {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			// SHA-256 of the plaintext already checks every read;
			// zstd's own checksum would only cost time and 4 bytes.
			zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(openami.BlockSize))
		if err != nil {
			panic("blockstore: zstd encoder options: " + err.Error()) // constant options: a programming error
		}
		return e
	}}
	decoderPool = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			// A hostile or damaged frame may claim any size: decode
			// into the caller's block and never past it.
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(openami.BlockSize),
			zstd.WithDecoderMaxWindow(openami.BlockSize))
		if err != nil {
			panic("blockstore: zstd decoder options: " + err.Error())
		}
		return d
	}}
)

// encodeFrame appends the frame of block data to dst[:0] and returns it.
// dst should have capacity frameBufSize, so that nothing reallocates.
func encodeFrame(dst, data []byte) []byte {
	var h [frameHeaderSize]byte
	copy(h[:], frameMagic)
	h[4] = frameVersion
	h[5] = kindZstd
	putLen(h[8:], len(data))
	dst = append(dst[:0], h[:]...)

	enc := encoderPool.Get().(*zstd.Encoder)
	dst = enc.EncodeAll(data, dst)
	encoderPool.Put(enc)
	if len(dst)-frameHeaderSize < len(data) {
		return dst
	}
	// Incompressible: store it raw, so reading it costs a copy, not a
	// decompression.
	dst = dst[:frameHeaderSize]
	dst[5] = kindRaw
	return append(dst, data...)
}

// putLen writes a frame's plaintext length.
func putLen(b []byte, n int) { binary.BigEndian.PutUint32(b, uint32(n)) }

// frameKind checks the header of a stored frame whose plaintext must be
// want bytes long, and returns its kind.
func frameKind(frame []byte, want int) (byte, error) {
	if len(frame) < frameHeaderSize {
		return 0, corruptf("chunk frame of %d bytes is shorter than its header", len(frame))
	}
	if string(frame[:4]) != frameMagic {
		return 0, corruptf("chunk frame has bad magic %q", frame[:4])
	}
	if frame[4] != frameVersion {
		return 0, corruptf("chunk frame has unknown version %d", frame[4])
	}
	if frame[6] != 0 || frame[7] != 0 {
		return 0, corruptf("chunk frame has non-zero reserved bytes")
	}
	if n := binary.BigEndian.Uint32(frame[8:]); uint64(n) != uint64(want) {
		return 0, corruptf("chunk frame declares %d bytes of plaintext, want %d", n, want)
	}
	switch k := frame[5]; k {
	case kindRaw, kindZstd, kindSealed:
		return k, nil
	default:
		return 0, corruptf("chunk frame has unknown kind %d", k)
	}
}

// decodeFrame decodes a plain (raw or zstd) frame into dst, which must be
// exactly as long as the plaintext the frame declares. It checks the
// frame's structure, not the plaintext's hash.
func decodeFrame(frame, dst []byte) error {
	kind, err := frameKind(frame, len(dst))
	if err != nil {
		return err
	}
	payload := frame[frameHeaderSize:]
	switch kind {
	case kindRaw:
		if len(payload) != len(dst) {
			return corruptf("raw chunk frame holds %d bytes, want %d", len(payload), len(dst))
		}
		copy(dst, payload)
		return nil
	case kindZstd:
		dec := decoderPool.Get().(*zstd.Decoder)
		out, err := dec.DecodeAll(payload, dst[:0:len(dst)])
		decoderPool.Put(dec)
		if err != nil {
			return &openami.Error{Class: openami.Internal, Message: "chunk frame does not decompress",
				Err: fmt.Errorf("%w: %w", err, ErrCorrupt)}
		}
		// The cap limit makes DecodeAll write into dst or fail; check
		// that it did, rather than trust it.
		if len(out) != len(dst) || &out[0] != &dst[0] {
			return corruptf("zstd chunk frame holds %d bytes, want %d", len(out), len(dst))
		}
		return nil
	default:
		return corruptf("chunk frame of kind %d is not a plain frame", kind)
	}
}

// DecodeChunk decodes frame, the stored form of the chunk named d, into
// dst, which must be openami.BlockSize bytes long (InvalidParameter
// otherwise), and checks the plaintext against d: its SHA-256 for a plain
// chunk (k nil), its name under k for an encrypted one. A frame that does
// not parse, decrypt or match d is an error for which errors.Is(err,
// ErrCorrupt) holds, and so is a plain frame where k expects an encrypted
// one; an encrypted frame without k is an error wrapping ErrSealed. dst is
// zeroed on any error, so a caller that ignores it still never sees
// unverified data.
func DecodeChunk(k *DataKey, d openami.Digest, frame, dst []byte) error {
	if len(dst) != openami.BlockSize {
		return openami.Errorf(openami.InvalidParameter, "", "blockstore: chunk buffer is %d bytes, want %d", len(dst), openami.BlockSize)
	}
	if err := decodeChunk(k, d, frame, dst); err != nil {
		clear(dst)
		return fmt.Errorf("blockstore: decode chunk %s: %w", d, err)
	}
	return nil
}

func decodeChunk(k *DataKey, d openami.Digest, frame, dst []byte) error {
	kind, err := frameKind(frame, len(dst))
	if err != nil {
		return err
	}
	switch {
	case kind == kindSealed && k == nil:
		return &openami.Error{Class: openami.Internal, Message: "chunk is encrypted", Err: ErrSealed}
	case kind == kindSealed:
		sb := framePool.Get().(*[]byte)
		defer framePool.Put(sb)
		return k.openFrame(d, frame, (*sb)[:0:frameBufSize], dst)
	case k != nil:
		return corruptf("chunk is stored in plaintext where an encrypted chunk was expected")
	}
	if err := decodeFrame(frame, dst); err != nil {
		return err
	}
	if openami.Digest(sha256.Sum256(dst)) != d {
		return corruptf("plaintext does not hash to the chunk's name")
	}
	return nil
}

// ChunkKey returns the blob key of the chunk named d:
// "chunks/<first 2 hex digits>/<64 hex digits>". The two-digit fan-out
// keeps directories of the dir blob store to a few thousand entries per
// million chunks.
func ChunkKey(d openami.Digest) string {
	h := d.String()
	return "chunks/" + h[:2] + "/" + h
}

const chunkPrefix = "chunks/"

// parseChunkKey returns the digest a key names, or false if the key is not
// exactly what ChunkKey makes.
func parseChunkKey(key string) (openami.Digest, bool) {
	rest, ok := strings.CutPrefix(key, chunkPrefix)
	if !ok || len(rest) != 2+1+64 || rest[2] != '/' || rest[:2] != rest[3:5] {
		return openami.Digest{}, false
	}
	d, err := openami.ParseDigest(rest[3:])
	if err != nil || d.String() != rest[3:] { // lowercase only, as ChunkKey writes
		return openami.Digest{}, false
	}
	return d, true
}

// Chunks stores chunks in a blob store. It is safe for concurrent use.
type Chunks struct {
	b blob.Store
}

// NewChunks returns a chunk store over b, which holds chunks under
// "chunks/".
func NewChunks(b blob.Store) *Chunks { return &Chunks{b: b} }

func checkBlock(data []byte) error {
	if len(data) != openami.BlockSize {
		return openami.Errorf(openami.InvalidParameter, "", "blockstore: chunk data is %d bytes, want %d", len(data), openami.BlockSize)
	}
	return nil
}

// Put stores data, one block of exactly openami.BlockSize bytes (a short
// final block is zero-padded by the caller; InvalidParameter otherwise),
// encrypted under k unless k is nil, and returns its name (the SHA-256 of
// data, or its name under k), the size of its stored frame and whether
// this call wrote it. A block that is already stored is not written again:
// stored is then the existing blob's size and wrote is false. An all-zero
// block is never stored, encrypted or not: Put returns ZeroDigest, 0,
// false.
//
// Before writing, Put decodes (and decrypts) the frame it made and
// compares the result with data, so a compressor or cipher fault can never
// store a chunk that reads back wrong. Errors from the blob store are
// wrapped and keep their class.
func (c *Chunks) Put(ctx context.Context, k *DataKey, data []byte) (d openami.Digest, stored int64, wrote bool, err error) {
	return c.putNamed(ctx, k, data, c.b.Put)
}

// putFunc is a blob store's Put, or a blob batch's.
type putFunc = func(ctx context.Context, key string, r io.Reader, size int64) error

func (c *Chunks) putNamed(ctx context.Context, k *DataKey, data []byte, store putFunc) (d openami.Digest, stored int64, wrote bool, err error) {
	if err := checkBlock(data); err != nil {
		return d, 0, false, err
	}
	if isZeroBlock(data) {
		return openami.ZeroDigest, 0, false, nil
	}
	if k != nil {
		d = k.Name(data)
	} else {
		d = sha256.Sum256(data)
	}
	stored, wrote, err = c.put(ctx, k, d, data, store)
	return d, stored, wrote, err
}

// PutVerified is Put for a caller that has already computed d, the name of
// data (its SHA-256, or its name under k): it skips computing it again.
// The caller vouches for d; a wrong d stores a chunk that Get will refuse
// as corrupt. The frame is still decoded and compared with data before it
// is written. If data is all zeros, nothing is stored and d must be
// ZeroDigest, the SHA-256 of the zero block or its name under k
// (InvalidParameter otherwise).
func (c *Chunks) PutVerified(ctx context.Context, k *DataKey, d openami.Digest, data []byte) (stored int64, wrote bool, err error) {
	return c.putVerified(ctx, k, d, data, c.b.Put)
}

func (c *Chunks) putVerified(ctx context.Context, k *DataKey, d openami.Digest, data []byte, store putFunc) (stored int64, wrote bool, err error) {
	if err := checkBlock(data); err != nil {
		return 0, false, err
	}
	zeroName := d.IsZero() || d == zeroBlockSum
	if isZeroBlock(data) {
		if !zeroName && (k == nil || d != k.Name(data)) {
			return 0, false, openami.Errorf(openami.InvalidParameter, "", "blockstore: digest %s does not name the block given", d)
		}
		return 0, false, nil
	}
	if zeroName || k != nil && k.Name(data) != d {
		// Under a key, reads trust GCM's tag over the name, so a wrong
		// name would poison it for good: it is checked here, at the
		// cost of one HMAC.
		return 0, false, openami.Errorf(openami.InvalidParameter, "", "blockstore: digest %s does not name the block given", d)
	}
	return c.put(ctx, k, d, data, store)
}

// put stores data under d, unless its blob exists, through store (the
// blob store's Put, or a batch's).
func (c *Chunks) put(ctx context.Context, k *DataKey, d openami.Digest, data []byte, store putFunc) (int64, bool, error) {
	key := ChunkKey(d)
	// Stat first: most blocks of most images are already stored, and a
	// Stat is cheaper than compressing and uploading 512 KiB.
	info, err := c.b.Stat(ctx, key)
	if err == nil {
		return info.Size, false, nil
	}
	if !errors.Is(err, openami.ErrNotFound) {
		return 0, false, fmt.Errorf("blockstore: put chunk %s: %w", d, err)
	}

	fb := framePool.Get().(*[]byte)
	defer framePool.Put(fb)
	var frame []byte
	if k == nil {
		frame = encodeFrame(*fb, data)
	} else {
		ib := framePool.Get().(*[]byte)
		frame = k.sealFrame(*fb, *ib, d, data)
		framePool.Put(ib)
	}
	*fb = frame[:0]

	// Verify before commit. Comparing the decoded block with data byte for
	// byte implies that it matches d (d names data), at the cost of a
	// memcmp instead of a second hash.
	pb := plainPool.Get().(*[]byte)
	if k == nil {
		err = decodeFrame(frame, *pb)
	} else {
		sb := framePool.Get().(*[]byte)
		inner, oerr := k.aead.Open((*sb)[:0], d[:k.aead.NonceSize()], frame[frameHeaderSize:], sealedAD(frame[:frameHeaderSize], d))
		if err = oerr; err == nil {
			err = decodeFrame(inner, *pb)
		}
		framePool.Put(sb)
	}
	same := err == nil && bytes.Equal(*pb, data)
	plainPool.Put(pb)
	if !same {
		return 0, false, &openami.Error{Class: openami.Internal,
			Message: fmt.Sprintf("blockstore: put chunk %s: its frame does not decode to the block", d), Err: err}
	}

	if err := store(ctx, key, bytes.NewReader(frame), int64(len(frame))); err != nil {
		return 0, false, fmt.Errorf("blockstore: put chunk %s: %w", d, err)
	}
	return int64(len(frame)), true, nil
}

// Get reads the chunk named d into dst, which must be openami.BlockSize
// bytes long (InvalidParameter otherwise), decrypting it with k for an
// encrypted chunk. It decompresses the chunk and checks it against d
// (DecodeChunk). A missing chunk is NotFound; a corrupt one (a bad frame,
// a wrong length, a failed decryption, a name that does not match) is an
// error for which errors.Is(err, ErrCorrupt) holds, an encrypted one read
// without k one for which errors.Is(err, ErrSealed) holds, and dst is then
// zeroed rather than left holding unverified data. ZeroDigest (and the
// SHA-256 of the zero block) fill dst with zeros without any I/O.
func (c *Chunks) Get(ctx context.Context, k *DataKey, d openami.Digest, dst []byte) error {
	if len(dst) != openami.BlockSize {
		return openami.Errorf(openami.InvalidParameter, "", "blockstore: chunk buffer is %d bytes, want %d", len(dst), openami.BlockSize)
	}
	if d.IsZero() || d == zeroBlockSum {
		clear(dst)
		return nil
	}
	r, err := c.b.Get(ctx, ChunkKey(d))
	if err != nil {
		return fmt.Errorf("blockstore: get chunk %s: %w", d, err)
	}
	defer r.Close()

	fb := framePool.Get().(*[]byte)
	defer framePool.Put(fb)
	// Read one byte more than the largest valid frame, so that an
	// oversized blob is refused instead of silently truncated.
	buf := (*fb)[:maxStoredSize+1]
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		clear(dst)
		return fmt.Errorf("blockstore: get chunk %s: %w", d, corruptf("blob is longer than %d bytes", maxStoredSize))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		return fmt.Errorf("blockstore: get chunk %s: %w", d, err)
	}
	return DecodeChunk(k, d, buf[:n], dst)
}

// Has reports whether the chunk's blob is stored. It returns an error only
// when the blob store cannot tell.
func (c *Chunks) Has(ctx context.Context, d openami.Digest) (bool, error) {
	_, err := c.b.Stat(ctx, ChunkKey(d))
	if errors.Is(err, openami.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blockstore: stat chunk %s: %w", d, err)
	}
	return true, nil
}

// Delete removes the chunk named d. Deleting a missing chunk, or
// ZeroDigest, is not an error. Only garbage collection, which knows that
// no block map refers to d, should call it.
func (c *Chunks) Delete(ctx context.Context, d openami.Digest) error {
	if d.IsZero() {
		return nil
	}
	if err := c.b.Delete(ctx, ChunkKey(d)); err != nil {
		return fmt.Errorf("blockstore: delete chunk %s: %w", d, err)
	}
	return nil
}

// List calls fn for every stored chunk, in key order (which is digest
// order), with its digest and blob info, and stops at fn's first error,
// which it returns unwrapped. Keys under "chunks/" that ChunkKey would not
// make are skipped, so stray files never reach garbage collection.
func (c *Chunks) List(ctx context.Context, fn func(d openami.Digest, info blob.Info) error) error {
	var fnErr error
	err := c.b.List(ctx, chunkPrefix, func(info blob.Info) error {
		d, ok := parseChunkKey(info.Key)
		if !ok {
			return nil
		}
		if err := fn(d, info); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("blockstore: list chunks: %w", err)
	}
	return nil
}
