package localdisk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// digestOf returns a test digest: hex of a short name.
func digestOf(name string) string {
	const hexdigits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(name))
	for _, c := range []byte(name) {
		b = append(b, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(b)
}

// fillWith fills base name with data, held.
func fillWith(t testing.TB, bs *Bases, name string, data []byte) *Base {
	t.Helper()
	b, err := bs.Fill(context.Background(), digestOf(name), int64(len(data)), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// randomBytes returns n pseudo-random bytes from seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fakeClock makes bs's uses happen one second apart, in call order.
func fakeClock(bs *Bases) {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bs.now = func() time.Time { t = t.Add(time.Second); return t }
}

// cached lists which of names have a base file in dir's cache.
func cached(dir string, names ...string) []string {
	var got []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, "bundle-cache", digestOf(n)+".img")); err == nil {
			got = append(got, n)
		}
	}
	return got
}

func equal(a, b []string) bool { return slices.Equal(a, b) }

// countWaits counts the Fills of bs that find a fill under way and wait.
func countWaits(bs *Bases) func() int {
	var mu sync.Mutex
	n := 0
	bs.onWait = func() { mu.Lock(); n++; mu.Unlock() }
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// waitFor polls cond until it holds.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func TestBasesFillGet(t *testing.T) {
	dir := t.TempDir()
	bs, err := NewBases(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bs.Get(digestOf("a")); ok {
		t.Fatal("hit in an empty cache")
	}
	data := randomBytes(1, 300<<10+17)
	h := fillWith(t, bs, "a", data)
	if h.Digest() != digestOf("a") || h.Size() != int64(len(data)) || bs.Bytes() != int64(len(data)) {
		t.Fatalf("digest %s size %d bytes %d", h.Digest(), h.Size(), bs.Bytes())
	}
	got, err := os.ReadFile(h.path())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("base file differs (%v)", err)
	}
	h.Release()
	h.Release() // a second release does nothing
	g, ok := bs.Get(digestOf("a"))
	if !ok || g.Size() != int64(len(data)) {
		t.Fatalf("Get after Fill: %v", ok)
	}
	g.Release()
	// A Fill of a cached digest returns it without filling.
	h, err = bs.Fill(context.Background(), digestOf("a"), int64(len(data)), func(io.Writer) error {
		t.Error("filled a cached base")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Release()

	// Restarted, the cache finds its base again.
	bs, err = NewBases(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := bs.Get(digestOf("a")); !ok || g.Size() != int64(len(data)) || bs.Bytes() != int64(len(data)) {
		t.Fatalf("after restart: %v", ok)
	}
	for _, d := range []string{"", "ABC", "../x", "a/b", "zz", string(make([]byte, 129))} {
		if _, err := bs.Fill(context.Background(), d, 1, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("Fill(%q) succeeded", d)
		}
	}
}

func TestBasesSparse(t *testing.T) {
	dir := t.TempDir()
	bs, _ := NewBases(dir, 1<<30)
	data := make([]byte, 8<<20)
	copy(data[3<<20:], "not zero")
	h, err := bs.Fill(context.Background(), digestOf("z"), int64(len(data)), func(w io.Writer) error {
		// Odd-sized writes cross the zero runs' alignment.
		for off := 0; off < len(data); off += 1000 {
			if _, err := w.Write(data[off:min(off+1000, len(data))]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	got, _ := os.ReadFile(h.path())
	if !bytes.Equal(got, data) {
		t.Fatal("sparse base reads back wrong")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(h.path(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 1<<20 {
		t.Fatalf("an 8 MiB base of zeros but 8 bytes takes %d bytes", st.Blocks*512)
	}
}

func TestBasesEvictLRU(t *testing.T) {
	dir := t.TempDir()
	bs, _ := NewBases(dir, 3<<20)
	fakeClock(bs)
	mib := make([]byte, 1<<20)
	for _, n := range []string{"a", "b", "c"} {
		fillWith(t, bs, n, mib).Release()
	}
	g, _ := bs.Get(digestOf("a")) // a is now the most recently used
	g.Release()
	fillWith(t, bs, "d", mib).Release()
	if got := cached(dir, "a", "b", "c", "d"); !equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("after d: %v, want b (least recently used) evicted", got)
	}
	// c, the least recently used, is held: the next victim is d.
	c, _ := bs.Get(digestOf("c"))
	g, _ = bs.Get(digestOf("a"))
	g.Release()
	fillWith(t, bs, "e", mib).Release()
	if got := cached(dir, "a", "c", "d", "e"); !equal(got, []string{"a", "c", "e"}) {
		t.Fatalf("after e: %v, want d evicted (c is held)", got)
	}
	// Everything held: the bound is exceeded rather than a base in use
	// evicted; released, the cache shrinks to its bound.
	a, _ := bs.Get(digestOf("a"))
	e, _ := bs.Get(digestOf("e"))
	f := fillWith(t, bs, "f", mib)
	if got := cached(dir, "a", "c", "e", "f"); len(got) != 4 || bs.Bytes() != 4<<20 {
		t.Fatalf("all held: %v, %d bytes", got, bs.Bytes())
	}
	a.Release()
	if got := cached(dir, "a", "c", "e", "f"); !equal(got, []string{"c", "e", "f"}) || bs.Bytes() != 3<<20 {
		t.Fatalf("a released: %v, %d bytes", got, bs.Bytes())
	}
	c.Release()
	e.Release()
	f.Release()

	// The order survives a restart (the files' modification times): e was
	// used before f, c before e.
	bs, _ = NewBases(dir, 2<<20)
	if got := cached(dir, "c", "e", "f"); !equal(got, []string{"e", "f"}) {
		t.Fatalf("restarted with a smaller bound: %v, want c evicted", got)
	}
	// A bound of 0 keeps a base only while it is used.
	bs, _ = NewBases(dir, 0)
	if got := cached(dir, "e", "f"); len(got) != 0 || bs.Bytes() != 0 {
		t.Fatalf("bound 0: %v", got)
	}
}

func TestBasesPinnedByOverlays(t *testing.T) {
	dir := t.TempDir()
	bs, _ := NewBases(dir, 1<<20)
	ds := New(dir)
	a := fillWith(t, bs, "a", make([]byte, 1<<20))
	o, err := ds.OpenOverlay("i-1", "root", a, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	a.Release()
	fillWith(t, bs, "b", make([]byte, 1<<20)).Release()
	if got := cached(dir, "a", "b"); !equal(got, []string{"a"}) {
		t.Fatalf("%v: want a kept (an overlay is over it), b evicted", got)
	}
	// After a restart, the overlay still pins a.
	bs, _ = NewBases(dir, 0)
	if got := cached(dir, "a"); len(got) != 1 {
		t.Fatal("restart evicted a base an overlay is over")
	}
	if err := ds.Remove("i-1"); err != nil {
		t.Fatal(err)
	}
	fillWith(t, bs, "c", nil).Release()
	if got := cached(dir, "a", "c"); !equal(got, []string{"c"}) {
		t.Fatalf("after Remove: %v, want a evicted", got)
	}
}

func TestBasesSingleFlight(t *testing.T) {
	bs, _ := NewBases(t.TempDir(), 1<<30)
	waits := countWaits(bs)
	data := randomBytes(2, 100<<10)
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	fill := func(w io.Writer) error {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		_, err := w.Write(data)
		return err
	}
	var wg sync.WaitGroup
	results := make([]*Base, 4)
	for i := range results {
		wg.Go(func() {
			h, err := bs.Fill(context.Background(), digestOf("s"), int64(len(data)), fill)
			if err != nil {
				t.Error(err)
			}
			results[i] = h
		})
	}
	// Every Fill but the one filling waits on the flight.
	waitFor(func() bool { return waits() == len(results)-1 })
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Fatalf("fill ran %d times", calls)
	}
	for _, h := range results {
		if h == nil || h.Size() != int64(len(data)) {
			t.Fatal("a Fill got no base")
		}
		h.Release()
	}

	// A failed fill's error is shared with whoever waited on it, and the
	// next Fill tries again.
	started, fail := make(chan struct{}), make(chan struct{})
	boom := errors.New("boom")
	errs := make(chan error, 1)
	go func() {
		_, err := bs.Fill(context.Background(), digestOf("f"), 10, func(io.Writer) error {
			close(started)
			<-fail
			return boom
		})
		errs <- err
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		_, err := bs.Fill(context.Background(), digestOf("f"), 10, func(io.Writer) error {
			t.Error("the second Fill filled while the first was under way")
			return nil
		})
		waiter <- err
	}()
	waitFor(func() bool { return waits() == len(results) })
	close(fail)
	if err := <-errs; !errors.Is(err, boom) {
		t.Fatalf("first: %v", err)
	}
	if err := <-waiter; !errors.Is(err, boom) {
		t.Fatalf("waiter: %v", err)
	}
	h := fillWith(t, bs, "f", []byte("0123456789"))
	h.Release()

	// A waiter whose context ends stops waiting.
	hold := make(chan struct{})
	filled := make(chan error)
	go func() {
		h, err := bs.Fill(context.Background(), digestOf("g"), 0, func(io.Writer) error { <-hold; return nil })
		if err == nil {
			h.Release()
		}
		filled <- err
	}()
	waitFor(func() bool {
		bs.mu.Lock()
		defer bs.mu.Unlock()
		return bs.flights[digestOf("g")] != nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bs.Fill(ctx, digestOf("g"), 0, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(hold)
	if err := <-filled; err != nil {
		t.Fatal(err)
	}
}

func TestBasesFailedFillLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	bs, _ := NewBases(dir, 1<<30)
	ctx := context.Background()
	tmp := filepath.Join(dir, "bundle-cache", "tmp")
	for name, fill := range map[string]func(io.Writer) error{
		"error": func(w io.Writer) error { w.Write([]byte("half")); return errors.New("decrypt failed") },
		"short": func(w io.Writer) error { _, err := w.Write([]byte("half")); return err },
		"long":  func(w io.Writer) error { _, err := w.Write(make([]byte, 9)); return err },
	} {
		if h, err := bs.Fill(ctx, digestOf(name), 8, fill); err == nil {
			h.Release()
			t.Errorf("%s: Fill succeeded", name)
		}
		if got := cached(dir, name); len(got) != 0 {
			t.Errorf("%s: a base was published", name)
		}
		if _, ok := bs.Get(digestOf(name)); ok {
			t.Errorf("%s: Get hits", name)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 || bs.Bytes() != 0 {
		t.Fatalf("temporaries left: %v, %d bytes", left, bs.Bytes())
	}

	// A crash mid-fill leaves a temporary: the next start deletes it and
	// publishes nothing.
	if err := os.WriteFile(filepath.Join(tmp, digestOf("x")+".0123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	bs, err := NewBases(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("after restart: %v", left)
	}
	if _, ok := bs.Get(digestOf("x")); ok || bs.Bytes() != 0 {
		t.Fatal("a crashed fill's base is cached")
	}
}
