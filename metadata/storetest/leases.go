package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// acquire runs Leases.Acquire in a transaction of its own.
func acquire(t *testing.T, s metadata.Store, name, holder string, ttl time.Duration) (openami.Lease, bool) {
	t.Helper()
	var (
		l  openami.Lease
		ok bool
	)
	update(t, s, func(tx metadata.Tx) error {
		var err error
		l, ok, err = tx.Leases().Acquire(name, holder, ttl)
		return err
	})
	return l, ok
}

// acquireWhenFree retries Acquire until holder takes the lease (it waits
// for another's tenure to expire; it asserts nothing about how long).
func acquireWhenFree(t *testing.T, s metadata.Store, name, holder string, ttl time.Duration) openami.Lease {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if l, ok := acquire(t, s, name, holder, ttl); ok {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never took lease %s", holder, name)
	return openami.Lease{}
}

func testLeasesHolders(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Leases().Get("copy/snap-1")
		return err
	})
	wantClass(t, err, openami.NotFound, "")

	a, ok := acquire(t, s, "copy/snap-1", "node-a", time.Minute)
	if !ok || a.Holder != "node-a" || a.Epoch != 1 {
		t.Fatalf("first Acquire: %+v %v, want node-a's at epoch 1", a, ok)
	}
	if cur, ok := acquire(t, s, "copy/snap-1", "node-b", time.Minute); ok || cur.Holder != "node-a" || cur.Epoch != 1 {
		t.Fatalf("Acquire of a held lease: %+v %v, want node-a's lease and false", cur, ok)
	}
	if again, ok := acquire(t, s, "copy/snap-1", "node-a", time.Minute); !ok || again.Epoch != 1 {
		t.Fatalf("the holder's Acquire again: %+v %v, want the same epoch", again, ok)
	}
	renew := func(holder string, epoch int64) bool {
		var ok bool
		update(t, s, func(tx metadata.Tx) error {
			var err error
			ok, err = tx.Leases().Renew("copy/snap-1", holder, epoch, time.Minute)
			return err
		})
		return ok
	}
	if !renew("node-a", 1) {
		t.Error("the holder's Renew failed")
	}
	if renew("node-b", 1) || renew("node-a", 2) {
		t.Error("Renew by another holder, or at another epoch, succeeded")
	}
	// Release by another holder or at another epoch changes nothing.
	update(t, s, func(tx metadata.Tx) error { return tx.Leases().Release("copy/snap-1", "node-b", 1) })
	update(t, s, func(tx metadata.Tx) error { return tx.Leases().Release("copy/snap-1", "node-a", 7) })
	if _, ok := acquire(t, s, "copy/snap-1", "node-b", time.Minute); ok {
		t.Fatal("another took a lease after a release that was not the holder's")
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Leases().Release("copy/snap-1", "node-a", 1) })
	b, ok := acquire(t, s, "copy/snap-1", "node-b", time.Minute)
	if !ok || b.Holder != "node-b" || b.Epoch != 2 {
		t.Fatalf("Acquire after release: %+v %v, want node-b's at epoch 2", b, ok)
	}
	if renew("node-a", 1) {
		t.Error("the old holder renewed a lease taken over")
	}
	// The same holder after its own release starts a new epoch.
	update(t, s, func(tx metadata.Tx) error { return tx.Leases().Release("copy/snap-1", "node-b", 2) })
	if b3, ok := acquire(t, s, "copy/snap-1", "node-b", time.Minute); !ok || b3.Epoch != 3 {
		t.Fatalf("Acquire after the holder's own release: %+v %v, want epoch 3", b3, ok)
	}

	acquire(t, s, "copy/snap-2", "node-a", time.Minute)
	acquire(t, s, "gc/r1", "node-a", time.Minute)
	var list []openami.Lease
	view(t, s, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Leases().List("copy/")
		return err
	})
	if len(list) != 2 || list[0].Name != "copy/snap-1" || list[1].Name != "copy/snap-2" {
		t.Errorf("List(copy/): %+v", list)
	}
}

// testLeasesExpiry: another takes a lease only once it has expired by
// the database's clock, at a new epoch; the old holder can then neither
// renew it nor commit under it.
func testLeasesExpiry(t *testing.T, s metadata.Store) {
	const ttl = 50 * time.Millisecond
	a, _ := acquire(t, s, "fill/vol-1", "node-a", ttl)
	b := acquireWhenFree(t, s, "fill/vol-1", "node-b", time.Minute)
	if took := b.Expires.Add(-time.Minute); took.Before(a.Expires) {
		t.Errorf("node-b took the lease at %v, before node-a's tenure ended at %v", took, a.Expires)
	}
	if b.Epoch != a.Epoch+1 {
		t.Errorf("epoch after takeover %d, want %d", b.Epoch, a.Epoch+1)
	}
	var held bool
	update(t, s, func(tx metadata.Tx) error {
		var err error
		held, err = tx.Leases().Held("fill/vol-1", "node-a", a.Epoch)
		return err
	})
	if held {
		t.Error("the old tenure is still held")
	}
}

// testLeasesFence: an Update whose context carries a lease commits while
// the lease is held and fails with the lost error, changing nothing,
// once it is not.
func testLeasesFence(t *testing.T, s metadata.Store) {
	const ttl = 50 * time.Millisecond
	a, _ := acquire(t, s, "export/t-1", "node-a", time.Minute)
	ctx := lease.WithHeld(context.Background(), a)
	if err := s.Update(ctx, func(tx metadata.Tx) error { return tx.Settings().Put("k", []byte("a1")) }); err != nil {
		t.Fatalf("fenced Update while held: %v", err)
	}
	// node-a's tenure ends; node-b takes over.
	update(t, s, func(tx metadata.Tx) error {
		_, err := tx.Leases().Renew("export/t-1", "node-a", a.Epoch, ttl)
		return err
	})
	acquireWhenFree(t, s, "export/t-1", "node-b", time.Minute)
	err := s.Update(ctx, func(tx metadata.Tx) error { return tx.Settings().Put("k", []byte("a2")) })
	if !lease.Lost(err) {
		t.Fatalf("fenced Update after a takeover: %v, want the lost error", err)
	}
	var v []byte
	view(t, s, func(tx metadata.Tx) error {
		var err error
		v, err = tx.Settings().Get("k")
		return err
	})
	equal(t, "the setting after a fenced Update failed", v, []byte("a1"))
	// Without the lease the same write goes through.
	if err := s.Update(lease.Without(ctx), func(tx metadata.Tx) error { return tx.Settings().Put("k", []byte("a3")) }); err != nil {
		t.Errorf("Update without the lease: %v", err)
	}
}

// testLeasesRace: of many holders racing for one lease, exactly one
// holds it.
func testLeasesRace(t *testing.T, s metadata.Store) {
	const n = 12
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("node-%d", i)
			var ok bool
			err := s.Update(context.Background(), func(tx metadata.Tx) error {
				var err error
				_, ok, err = tx.Leases().Acquire("gc/r1", holder, time.Minute)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				won = append(won, holder)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Acquire: %v", errs)
	}
	if len(won) != 1 {
		t.Fatalf("holders that took the lease: %q, want exactly one", won)
	}
	var l openami.Lease
	view(t, s, func(tx metadata.Tx) error {
		var err error
		l, err = tx.Leases().Get("gc/r1")
		return err
	})
	if l.Holder != won[0] || l.Epoch != 1 {
		t.Errorf("lease after the race: %+v, want %s's at epoch 1", l, won[0])
	}
}

// testLeasesPurge: Purge removes released leases once released for long
// enough, never held ones; a purged name starts again at epoch 1.
func testLeasesPurge(t *testing.T, s metadata.Store) {
	a, _ := acquire(t, s, "import/t-1", "node-a", time.Minute)
	acquire(t, s, "import/t-2", "node-a", time.Minute)
	update(t, s, func(tx metadata.Tx) error { return tx.Leases().Release("import/t-1", "node-a", a.Epoch) })
	purge := func(d time.Duration) int {
		var n int
		update(t, s, func(tx metadata.Tx) error {
			var err error
			n, err = tx.Leases().Purge(d)
			return err
		})
		return n
	}
	if n := purge(time.Hour); n != 0 {
		t.Fatalf("Purge(1h) right after a release removed %d", n)
	}
	removed := 0
	for i := 0; removed == 0 && i < 1000; i++ {
		time.Sleep(2 * time.Millisecond) // the database's clock moves on
		removed = purge(0)
	}
	if removed != 1 {
		t.Fatalf("Purge(0) removed %d, want the released lease", removed)
	}
	var list []openami.Lease
	view(t, s, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Leases().List("import/")
		return err
	})
	if len(list) != 1 || list[0].Name != "import/t-2" {
		t.Errorf("leases after Purge: %+v, want the held one", list)
	}
	if again, ok := acquire(t, s, "import/t-1", "node-b", time.Minute); !ok || again.Epoch != 1 {
		t.Errorf("Acquire of a purged name: %+v %v, want epoch 1", again, ok)
	}
}
