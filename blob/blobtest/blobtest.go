// Package blobtest is the conformance suite of blob.Store: every
// implementation runs the same tests, so that they keep the same promises
// (atomic, exact-size Puts; NotFound for a missing key; key order in List).
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
//	}
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// Run runs the conformance suite as subtests of t. newStore must return a
// new, empty store each time it is called, and release it when its test
// ends (t.Cleanup). Run reports every broken promise as a test failure; it
// returns nothing.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"ExactSize", testExactSize},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"Stat", testStat},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentKeys", testConcurrentKeys},
		{"Cancel", testCancel},
		{"Batch", testBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// payload returns n bytes that differ with seed, and are not compressible,
// so that a store cannot pass by storing something smaller.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

func checkContent(t *testing.T, s blob.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key); !bytes.Equal(got, want) {
		t.Errorf("Get(%q) = %d bytes (%s), want %d bytes (%s)", key, len(got), head(got), len(want), head(want))
	}
}

func checkNotFound(t *testing.T, s blob.Store, key string) {
	t.Helper()
	ctx := context.Background()
	if rc, err := s.Get(ctx, key); !errors.Is(err, openami.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(%q) error = %v, want NotFound", key, err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Stat(%q) error = %v, want NotFound", key, err)
	}
}

func head(b []byte) string {
	if len(b) > 8 {
		b = b[:8]
	}
	return fmt.Sprintf("%x…", b)
}

func listAll(t *testing.T, s blob.Store, prefix string) []blob.Info {
	t.Helper()
	var infos []blob.Info
	if err := s.List(context.Background(), prefix, func(i blob.Info) error {
		infos = append(infos, i)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

func testRoundTrip(t *testing.T, s blob.Store) {
	for i, n := range []int{0, 1, 5, 600 * kib, 8 * mib, 9 * mib} {
		key := fmt.Sprintf("roundtrip/%d", n)
		data := payload(uint64(i), n)
		put(t, s, key, data)
		checkContent(t, s, key, data)
		info, err := s.Stat(context.Background(), key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		if info.Key != key || info.Size != int64(n) {
			t.Errorf("Stat(%q) = %+v, want key %q and size %d", key, info, key, n)
		}
	}
	// Every character keys may use, and segments that are almost "." or
	// "..".
	for _, key := range []string{"az09._-/x_y.z-0", "dots/.a/..b/c./d../.../..."} {
		put(t, s, key, []byte(key))
		checkContent(t, s, key, []byte(key))
	}
}

// shortReader yields its data and then fails the way a dropped upload
// does, or ends early if err is nil.
type shortReader struct {
	r   io.Reader
	err error
}

func (s *shortReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF && s.err != nil {
		err = s.err
	}
	return n, err
}

// Seek rewinds the reader, to try the same bytes again.
func (s *shortReader) Seek(off int64, whence int) (int64, error) {
	return s.r.(io.Seeker).Seek(off, whence)
}

func testExactSize(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, n := range []int{5, 600 * kib, 9 * mib} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			key := fmt.Sprintf("exact/%d", n)
			old := payload(1, n)
			put(t, s, key, old)
			data := payload(2, n)

			cases := []struct {
				name string
				r    io.Reader
				size int64
			}{
				{"short", bytes.NewReader(data[:n-1]), int64(n)},
				{"long", bytes.NewReader(data), int64(n - 1)},
				{"empty", bytes.NewReader(nil), int64(n)},
				{"nonempty for zero", bytes.NewReader(data), 0},
				{"read error", &shortReader{bytes.NewReader(data[:n/2]), errors.New("connection reset")}, int64(n)},
			}
			for _, c := range cases {
				if err := s.Put(ctx, key, c.r, c.size); err == nil {
					t.Errorf("%s: Put of a reader that does not hold %d bytes succeeded", c.name, c.size)
				}
				checkContent(t, s, key, old)

				fresh := key + "-" + strings.ReplaceAll(c.name, " ", "-")
				c.r.(io.Seeker).Seek(0, io.SeekStart)
				if err := s.Put(ctx, fresh, c.r, c.size); err == nil {
					t.Errorf("%s: Put of a new key with a reader that does not hold %d bytes succeeded", c.name, c.size)
				}
				checkNotFound(t, s, fresh)
			}
			if infos := listAll(t, s, key); len(infos) != 1 || infos[0].Key != key || infos[0].Size != int64(n) {
				t.Errorf("after failed Puts, List = %+v, want only %s of %d bytes", infos, key, n)
			}
		})
	}
}

func testReplace(t *testing.T, s blob.Store) {
	put(t, s, "replace/k", payload(1, 600*kib))
	put(t, s, "replace/k", []byte("shorter"))
	checkContent(t, s, "replace/k", []byte("shorter"))
	info, err := s.Stat(context.Background(), "replace/k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 7 {
		t.Errorf("Stat size after replace = %d, want 7", info.Size)
	}
	put(t, s, "replace/k", nil)
	checkContent(t, s, "replace/k", nil)
	if infos := listAll(t, s, ""); len(infos) != 1 {
		t.Errorf("List after replacing one key thrice = %+v, want one blob", infos)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	checkNotFound(t, s, "missing")
	checkNotFound(t, s, "missing/deeper/still")
	put(t, s, "dir/blob", []byte("x"))
	// A key that is only a "directory" of other keys is no blob, and a
	// blob is not a directory.
	checkNotFound(t, s, "dir")
	checkNotFound(t, s, "dir/blob/below")
	checkNotFound(t, s, "dir/blo")
	err := s.Delete(context.Background(), "dir")
	if err != nil {
		t.Errorf("Delete of a key that is only a prefix: %v", err)
	}
	checkContent(t, s, "dir/blob", []byte("x"))
}

func testStat(t *testing.T, s blob.Store) {
	// Stores may keep whole seconds (S3's Last-Modified does), and the
	// server's clock is not the test's.
	const slack = 2 * time.Second
	before := time.Now()
	put(t, s, "stat/a", payload(3, 1234))
	after := time.Now()
	info, err := s.Stat(context.Background(), "stat/a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "stat/a" || info.Size != 1234 {
		t.Errorf("Stat = %+v, want key stat/a and size 1234", info)
	}
	if info.ModTime.Before(before.Add(-slack)) || info.ModTime.After(after.Add(slack)) {
		t.Errorf("Stat ModTime = %v, want between %v and %v", info.ModTime, before, after)
	}
	listed := listAll(t, s, "stat/a")
	if len(listed) != 1 || listed[0].Key != info.Key || listed[0].Size != info.Size ||
		listed[0].ModTime.Sub(info.ModTime).Abs() > slack {
		t.Errorf("List = %+v, want [%+v]", listed, info)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if err := s.Delete(ctx, "del/never"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	put(t, s, "del/a", []byte("a"))
	put(t, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatal(err)
	}
	checkNotFound(t, s, "del/a")
	checkContent(t, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if infos := listAll(t, s, "del/"); len(infos) != 1 || infos[0].Key != "del/b" {
		t.Errorf("List after Delete = %+v, want del/b only", infos)
	}
	// A deleted key can be put again.
	put(t, s, "del/a", []byte("again"))
	checkContent(t, s, "del/a", []byte("again"))
}

// listKeys are stored in a shuffled order. They include keys that sort
// between a "directory" and its contents: "a-c" and "a.d" come before
// "a/b" because '-' and '.' sort before '/', and "a0" comes after.
var listKeys = []string{
	"chunks/00/00aa",
	"chunks/00/00ab",
	"chunks/0a-z",
	"chunks/0a/0a11",
	"chunks/0a/0a12",
	"chunks/ff/ff00",
	"nodes/..x",
	"nodes/.hidden",
	"nodes/a-c",
	"nodes/a.d",
	"nodes/a/b",
	"nodes/a/c/d",
	"nodes/a0",
	"nodes/a_",
	"top",
}

func testList(t *testing.T, s blob.Store) {
	keys := slices.Clone(listKeys)
	if !slices.IsSorted(keys) {
		t.Fatal("listKeys is not sorted")
	}
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	size := map[string]int64{}
	for i, k := range keys {
		put(t, s, k, payload(uint64(i), i*10))
		size[k] = int64(i * 10)
	}

	prefixes := []string{
		"", "c", "chunks", "chunks/", "chunks/0", "chunks/0a", "chunks/0a/", "chunks/0a/0a1",
		"chunks/00/00aa", "chunks/1", "nodes/a", "nodes/a/", "nodes/a/c", "nodes/a/c/d",
		"nodes/a/c/d/", "nodes/a.", "nodes/a_", "nope", "t", "top", "top/", "top/x", ".",
		"nodes/.", "nodes/..",
	}
	for _, p := range prefixes {
		var want []string
		for _, k := range listKeys {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		var got []string
		for _, info := range listAll(t, s, p) {
			got = append(got, info.Key)
			if info.Size != size[info.Key] {
				t.Errorf("List(%q): %s has size %d, want %d", p, info.Key, info.Size, size[info.Key])
			}
			if info.ModTime.IsZero() {
				t.Errorf("List(%q): %s has no ModTime", p, info.Key)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", p, got, want)
		}
	}
}

func testListStops(t *testing.T, s blob.Store) {
	for _, k := range listKeys {
		put(t, s, k, []byte(k))
	}
	stop := errors.New("stop here")
	for _, after := range []int{1, 3, len(listKeys)} {
		var seen []string
		err := s.List(context.Background(), "", func(i blob.Info) error {
			seen = append(seen, i.Key)
			if len(seen) == after {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("List with fn failing at call %d returned %v, want fn's error", after, err)
		}
		if !slices.Equal(seen, listKeys[:after]) {
			t.Errorf("List with fn failing at call %d called fn for %q, want %q", after, seen, listKeys[:after])
		}
	}
}

// InvalidKeys are keys that every Store must refuse. The directory store
// would read or write outside its root with some of them.
var InvalidKeys = []string{
	"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "../a", "a/..", "a/../b",
	"../../etc/passwd", "A", "a/B", "a b", "a\x00b", "a\\b", "é", "a~", "a:b", "a*", "a\n",
	strings.Repeat("a", blob.MaxKeyLen+1), strings.Repeat("a", blob.MaxSegmentLen+1),
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	isInvalid := func(op, key string, err error) {
		t.Helper()
		if !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("%s(%q) error = %v, want InvalidParameter", op, key, err)
		}
	}
	for _, k := range InvalidKeys {
		isInvalid("Put", k, s.Put(ctx, k, strings.NewReader("x"), 1))
		rc, err := s.Get(ctx, k)
		if err == nil {
			rc.Close()
		}
		isInvalid("Get", k, err)
		_, err = s.Stat(ctx, k)
		isInvalid("Stat", k, err)
		isInvalid("Delete", k, s.Delete(ctx, k))
	}
	for _, p := range []string{"/", "/a", "a//", "A", "./", "../", "a/../", "a\\", "é"} {
		isInvalid("List", p, s.List(ctx, p, func(blob.Info) error { return nil }))
	}
	if infos := listAll(t, s, ""); len(infos) != 0 {
		t.Errorf("after refused Puts, List = %+v, want nothing", infos)
	}
}

func testConcurrentSameKey(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const writers, rounds, n = 8, 4, 600 * kib
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = payload(uint64(100+i), n)
	}
	same := payload(99, n)

	// Writers race to put the same key, some with identical content and
	// some with their own; readers must only ever see one whole version.
	var (
		mu       sync.Mutex
		failures []error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
	}
	var writing, reading sync.WaitGroup
	done := make(chan struct{})
	for i := range writers {
		writing.Go(func() {
			for range rounds {
				if err := s.Put(ctx, "same/identical", bytes.NewReader(same), n); err != nil {
					fail(err)
				}
				if err := s.Put(ctx, "same/different", bytes.NewReader(contents[i]), n); err != nil {
					fail(err)
				}
			}
		})
	}
	for range 2 {
		reading.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, key := range []string{"same/identical", "same/different"} {
					rc, err := s.Get(ctx, key)
					if errors.Is(err, openami.ErrNotFound) {
						continue
					}
					if err != nil {
						fail(fmt.Errorf("Get during Puts: %w", err))
						continue
					}
					b, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						fail(fmt.Errorf("Get during Puts: read: %w", err))
						continue
					}
					if !bytes.Equal(b, same) && !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(b, c) }) {
						fail(fmt.Errorf("Get(%s) during Puts returned %d bytes (%s) that no writer put", key, len(b), head(b)))
					}
				}
			}
		})
	}
	writing.Wait()
	close(done)
	reading.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	checkContent(t, s, "same/identical", same)
	b := get(t, s, "same/different")
	if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(b, c) }) {
		t.Errorf("after concurrent Puts, same/different holds %d bytes (%s) that no writer put", len(b), head(b))
	}
	if infos := listAll(t, s, ""); len(infos) != 2 {
		t.Errorf("after concurrent Puts of two keys, List = %+v", infos)
	}
}

func testConcurrentKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const workers, each = 32, 16
	key := func(w, i int) string { return fmt.Sprintf("many/%02x/%04d", (w*each+i)%256, w*each+i) }
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				data := payload(uint64(w*each+i), 1+(w*each+i)%5000)
				if err := s.Put(ctx, key(w, i), bytes.NewReader(data), int64(len(data))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for w := range workers {
		for i := range each {
			want = append(want, key(w, i))
			checkContent(t, s, key(w, i), payload(uint64(w*each+i), 1+(w*each+i)%5000))
		}
	}
	slices.Sort(want)
	var got []string
	for _, info := range listAll(t, s, "many/") {
		got = append(got, info.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List after %d concurrent Puts returned %d keys, want %d in order", len(want), len(got), len(want))
	}
}

// endless yields zeros forever, a little at a time (about 4 MiB/s), like a
// slow upload.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	p = p[:min(len(p), 4*kib)]
	clear(p)
	return len(p), nil
}

func testCancel(t *testing.T, s blob.Store) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	isCanceled := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", op, err)
		}
	}
	isCanceled("Put", s.Put(canceled, "cancel/a", strings.NewReader("a"), 1))
	checkNotFound(t, s, "cancel/a")
	put(t, s, "cancel/b", []byte("b"))
	rc, err := s.Get(canceled, "cancel/b")
	if err == nil {
		// A store may hand out a reader before it looks at the context,
		// but the reader must not deliver the blob then.
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	isCanceled("Get", err)
	_, err = s.Stat(canceled, "cancel/b")
	isCanceled("Stat", err)
	isCanceled("List", s.List(canceled, "", func(blob.Info) error { return nil }))

	// A Put fed by an endless reader returns soon after its context ends,
	// and stores nothing. Sizes below and above 8 MiB take different
	// paths in some stores.
	for _, size := range []int64{5 * mib, 1 << 30} {
		ctx, cancel := context.WithCancel(context.Background())
		key := fmt.Sprintf("cancel/endless-%d", size)
		errc := make(chan error, 1)
		go func() { errc <- s.Put(ctx, key, endless{}, size) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		select {
		case err := <-errc:
			isCanceled("Put of an endless reader", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("Put of %d bytes still running 10s after its context was canceled", size)
		}
		checkNotFound(t, s, key)
	}
}

// testBatch checks blob.NewBatch: a committed batch's blobs read back, an
// aborted batch's are never seen, and a bad Put fails alone.
func testBatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	b := blob.NewBatch(s)
	want := map[string][]byte{}
	for i := range 5 {
		key := fmt.Sprintf("batch/%02x/k%d", i, i)
		want[key] = payload(uint64(100+i), 3*kib+i)
		if err := b.Put(ctx, key, bytes.NewReader(want[key]), int64(len(want[key]))); err != nil {
			t.Fatalf("batch Put %s: %v", key, err)
		}
	}
	if err := b.Put(ctx, "batch/short", bytes.NewReader(make([]byte, 10)), 11); openami.ClassOf(err) != openami.InvalidParameter {
		t.Fatalf("batch Put of a short reader: %v, want InvalidParameter", err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for key, data := range want {
		checkContent(t, s, key, data)
	}
	checkNotFound(t, s, "batch/short")
	if err := b.Commit(ctx); err != nil {
		t.Fatalf("Commit of an empty batch: %v", err)
	}

	// Aborted: nothing is seen, not even by List.
	b = blob.NewBatch(s)
	if _, ok := s.(blob.Batcher); ok {
		if err := b.Put(ctx, "batch/aborted", bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatalf("batch Put: %v", err)
		}
		b.Abort()
		checkNotFound(t, s, "batch/aborted")
	}
	if got := listAll(t, s, "batch/"); len(got) != len(want) {
		t.Fatalf("List after the batches: %d blobs, want %d: %v", len(got), len(want), got)
	}
}
