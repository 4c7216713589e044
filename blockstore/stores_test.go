package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// memBlobs is an in-memory blob.Store with the contract's semantics: it
// copies what it is given (Put's buffer is reused by Chunks), refuses a
// reader that yields the wrong number of bytes, and lists in key order.
type memBlobs struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func newMemBlobs() *memBlobs { return &memBlobs{m: make(map[string][]byte)} }

func notFound(key string) error {
	return openami.Errorf(openami.NotFound, "", "blob %q not found", key)
}

func (s *memBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("put %q: read %d bytes, want %d", key, n, size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = buf.Bytes()
	s.puts++
	return nil
}

func (s *memBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		return nil, notFound(key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memBlobs) Stat(ctx context.Context, key string) (blob.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[key]
	if !ok {
		return blob.Info{}, notFound(key)
	}
	return blob.Info{Key: key, Size: int64(len(b)), ModTime: time.Unix(0, 0)}, nil
}

func (s *memBlobs) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memBlobs) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	s.mu.Lock()
	var infos []blob.Info
	for k, b := range s.m {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, blob.Info{Key: k, Size: int64(len(b))})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// raw returns the stored bytes of key, for tests that damage them.
func (s *memBlobs) raw(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// discardBlobs stores nothing: every Stat is NotFound and every Put is
// drained and dropped, so benchmarks measure Chunks, not a store.
type discardBlobs struct{}

func (discardBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return nil, notFound(key)
}
func (discardBlobs) Stat(ctx context.Context, key string) (blob.Info, error) {
	return blob.Info{}, notFound(key)
}
func (discardBlobs) Delete(ctx context.Context, key string) error { return nil }
func (discardBlobs) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	return nil
}

// memNodes is an in-memory NodeStore that counts what is written to it.
type memNodes struct {
	mu       sync.Mutex
	m        map[openami.Digest][]byte
	gets     int
	puts     int   // PutNode calls
	newNodes int   // PutNode calls that added a node
	newBytes int64 // bytes of the nodes added
}

func newMemNodes() *memNodes { return &memNodes{m: make(map[openami.Digest][]byte)} }

func (s *memNodes) GetNode(h openami.Digest) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	b, ok := s.m[h]
	if !ok {
		return nil, openami.Errorf(openami.NotFound, "", "node %s not found", h)
	}
	return b, nil
}

func (s *memNodes) PutNode(h openami.Digest, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if _, ok := s.m[h]; !ok {
		s.m[h] = data
		s.newNodes++
		s.newBytes += int64(len(data))
	}
	return nil
}

func (s *memNodes) resetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets, s.puts, s.newNodes, s.newBytes = 0, 0, 0, 0
}
