package exports

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/openami/openami"
)

// The stored-image object (docs/STORE.md): the magic line, the header
// (big-endian uint32 length, then JSON), then, for each snapshot in the
// header's order, its Blocks records — big-endian uint64 index, the
// block's 32-byte name, big-endian uint32 length, and the chunk's frame as
// the block store keeps it (compressed; sealed under the snapshot's data
// key if it is encrypted) — and last the SHA-256 of everything before it.
const storeMagic = "OPENAMI-STORE-1\n"

// storeHeader is the stored image and its snapshots.
type storeHeader struct {
	Image     storedImage
	Snapshots []storedSnapshot
}

// storedImage is what a restore registers again.
type storedImage struct {
	ID                  string
	Region              string
	OwnerID             string
	Name                string
	Description         string `json:",omitempty"`
	Architecture        string
	VirtualizationType  string
	RootDeviceName      string
	BootMode            string `json:",omitempty"`
	TpmSupport          string `json:",omitempty"`
	ImdsSupport         string `json:",omitempty"`
	SriovNetSupport     string `json:",omitempty"`
	EnaSupport          bool   `json:",omitempty"`
	BlockDeviceMappings []openami.BlockDeviceMapping
}

// storedSnapshot is one of the image's snapshots.
type storedSnapshot struct {
	ID         string
	VolumeSize int64  // GiB
	Encrypted  bool   `json:",omitempty"`
	KmsKeyID   string `json:",omitempty"` // the key's ARN
	Blocks     int64  // how many block records follow for it
}

// maxStoreHeader bounds the header a restore reads.
const maxStoreHeader = 1 << 20

// storeWriter writes a stored-image object, hashing as it goes.
type storeWriter struct {
	w   io.Writer
	sum hash.Hash
}

func newStoreWriter(w io.Writer, h storeHeader) (*storeWriter, error) {
	s := &storeWriter{sum: sha256.New()}
	s.w = io.MultiWriter(w, s.sum)
	doc, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(doc)))
	for _, b := range [][]byte{[]byte(storeMagic), n[:], doc} {
		if _, err := s.w.Write(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *storeWriter) block(index int64, d openami.Digest, frame []byte) error {
	var h [8 + 32 + 4]byte
	binary.BigEndian.PutUint64(h[0:], uint64(index))
	copy(h[8:], d[:])
	binary.BigEndian.PutUint32(h[40:], uint32(len(frame)))
	if _, err := s.w.Write(h[:]); err != nil {
		return err
	}
	_, err := s.w.Write(frame)
	return err
}

// close writes the trailing SHA-256.
func (s *storeWriter) close() error {
	_, err := s.w.Write(s.sum.Sum(nil))
	return err
}

// errBadStore is wrapped by the errors of an object that is not a stored
// image, or a damaged one.
var errBadStore = errors.New("not an openami stored image, or a damaged one")

// storeReader reads a stored-image object.
type storeReader struct {
	r      *bufio.Reader
	sum    hash.Hash
	header storeHeader
	frame  []byte
}

func newStoreReader(r io.Reader) (*storeReader, error) {
	s := &storeReader{sum: sha256.New()}
	s.r = bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(storeMagic)+4)
	if err := s.read(magic); err != nil || string(magic[:len(storeMagic)]) != storeMagic {
		return nil, fmt.Errorf("%w: no header", errBadStore)
	}
	n := binary.BigEndian.Uint32(magic[len(storeMagic):])
	if n > maxStoreHeader {
		return nil, fmt.Errorf("%w: header of %d bytes", errBadStore, n)
	}
	doc := make([]byte, n)
	if err := s.read(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadStore, err)
	}
	if err := json.Unmarshal(doc, &s.header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errBadStore, err)
	}
	return s, nil
}

// read reads exactly len(p) bytes, and hashes them.
func (s *storeReader) read(p []byte) error {
	if _, err := io.ReadFull(s.r, p); err != nil {
		return err
	}
	s.sum.Write(p)
	return nil
}

// next reads the next block record; frame is reused.
func (s *storeReader) next() (index int64, d openami.Digest, frame []byte, err error) {
	var h [8 + 32 + 4]byte
	if err := s.read(h[:]); err != nil {
		return 0, d, nil, fmt.Errorf("%w: %v", errBadStore, err)
	}
	index = int64(binary.BigEndian.Uint64(h[0:]))
	copy(d[:], h[8:40])
	n := binary.BigEndian.Uint32(h[40:])
	if n > 2*openami.BlockSize {
		return 0, d, nil, fmt.Errorf("%w: a frame of %d bytes", errBadStore, n)
	}
	if cap(s.frame) < int(n) {
		s.frame = make([]byte, n)
	}
	s.frame = s.frame[:n]
	if err := s.read(s.frame); err != nil {
		return 0, d, nil, fmt.Errorf("%w: %v", errBadStore, err)
	}
	return index, d, s.frame, nil
}

// close checks the trailing SHA-256 against what was read.
func (s *storeReader) close() error {
	want := s.sum.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(s.r, got); err != nil || string(got) != string(want) {
		return fmt.Errorf("%w: its checksum does not match", errBadStore)
	}
	return nil
}
