package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
	"github.com/openami/openami/metadata/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// nodes opens n stores (n nodes: each its own pool) on one PostgreSQL
// database.
func nodes(t *testing.T, n int) []metadata.Store {
	t.Helper()
	dsn := testenv.Postgres(t)
	var out []metadata.Store
	for range n {
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

// TestRunOnce: of many runners racing for one task, on several nodes,
// exactly one runs it at a time, and every one that ran it saw the
// counter as the last left it (no two ever overlapped).
func TestRunOnce(t *testing.T) {
	stores := nodes(t, 3)
	var (
		wg      sync.WaitGroup
		running atomic.Int32
		ran     atomic.Int32
	)
	for i := range 12 {
		r := lease.New(lease.Config{Store: stores[i%3], Holder: "node-" + string(rune('a'+i)), TTL: 10 * time.Second})
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := r.Run(context.Background(), "copy/snap-1", func(ctx context.Context) error {
				if running.Add(1) != 1 {
					t.Error("two runners hold the lease at once")
				}
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if ok {
				ran.Add(1)
			}
		}()
	}
	wg.Wait()
	if ran.Load() < 1 {
		t.Fatal("no runner ran the task")
	}
}

// TestRenewKeepsLease: work that runs longer than the TTL keeps its lease
// (the runner renews it), and another node cannot take it meanwhile.
func TestRenewKeepsLease(t *testing.T) {
	stores := nodes(t, 2)
	// Long enough that renewals get through on a loaded machine: a lease
	// lost to a slow renewal is correct behaviour, but not this test's.
	const ttl = 2 * time.Second
	a := lease.New(lease.Config{Store: stores[0], Holder: "node-a", TTL: ttl})
	b := lease.New(lease.Config{Store: stores[1], Holder: "node-b", TTL: ttl})
	ok, err := a.Run(context.Background(), "fill/vol-1", func(ctx context.Context) error {
		for range 3 { // about 3 TTLs
			time.Sleep(ttl)
			if ok, err := b.Run(context.Background(), "fill/vol-1", func(context.Context) error { return nil }); err != nil || ok {
				t.Errorf("node-b's Run while node-a holds the lease: %v, %v", ok, err)
			}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	})
	if !ok || err != nil {
		t.Fatalf("node-a's Run: %v, %v", ok, err)
	}
	// Released: node-b takes it at once.
	if ok, err := b.Run(context.Background(), "fill/vol-1", func(context.Context) error { return nil }); !ok || err != nil {
		t.Errorf("node-b's Run after the release: %v, %v", ok, err)
	}
}

// TestCutOffHolderStops: a holder whose connection to the database is
// cut stops (its work context is cancelled, with the lost error) before
// another node can take the lease; the work it then tries to commit is
// refused, and the new holder's goes through.
func TestCutOffHolderStops(t *testing.T) {
	stores := nodes(t, 2)
	// Long enough that the margin (TTL/10) outlasts a loaded machine's
	// scheduling delays.
	const ttl = 4 * time.Second
	a := lease.New(lease.Config{Store: stores[0], Holder: "node-a", TTL: ttl})
	b := lease.New(lease.Config{Store: stores[1], Holder: "node-b", TTL: ttl})

	started := make(chan context.Context)
	aDone := make(chan error)
	go func() {
		_, err := a.Run(context.Background(), "export/t-1", func(ctx context.Context) error {
			started <- ctx
			<-ctx.Done()
			return context.Cause(ctx)
		})
		aDone <- err
	}()
	aCtx := <-started
	held, _ := lease.Held(aCtx)
	stores[0].Close() // node-a is cut off: no renewals, no release

	var tookOver bool
	for !tookOver {
		var err error
		tookOver, err = b.Run(context.Background(), "export/t-1", func(ctx context.Context) error {
			if aCtx.Err() == nil {
				t.Error("node-b took the lease while node-a still acted on it")
			}
			l, _ := lease.Held(ctx)
			if l.Epoch != held.Epoch+1 {
				t.Errorf("node-b's epoch %d, want %d", l.Epoch, held.Epoch+1)
			}
			return stores[1].Update(ctx, func(tx metadata.Tx) error { return tx.Settings().Put("done-by", []byte("node-b")) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if !tookOver {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := <-aDone; !lease.Lost(err) {
		t.Errorf("node-a's Run: %v, want the lost error", err)
	}
	// node-a's stale tenure, seen through a live connection, is fenced.
	err := stores[1].Update(lease.WithHeld(context.Background(), held), func(tx metadata.Tx) error {
		return tx.Settings().Put("done-by", []byte("node-a"))
	})
	if !lease.Lost(err) {
		t.Errorf("a stale holder's Update: %v, want the lost error", err)
	}
	var v []byte
	stores[1].View(context.Background(), func(tx metadata.Tx) error {
		var err error
		v, err = tx.Settings().Get("done-by")
		return err
	})
	if string(v) != "node-b" {
		t.Errorf("done-by = %q, want node-b", v)
	}
}

// TestRunFnError: Run returns fn's error, and releases the lease.
func TestRunFnError(t *testing.T) {
	stores := nodes(t, 1)
	r := lease.New(lease.Config{Store: stores[0], Holder: "node-a", TTL: time.Minute})
	boom := errors.New("boom")
	if ok, err := r.Run(context.Background(), "t", func(context.Context) error { return boom }); !ok || !errors.Is(err, boom) {
		t.Fatalf("Run: %v, %v", ok, err)
	}
	var l openami.Lease
	stores[0].View(context.Background(), func(tx metadata.Tx) error {
		var err error
		l, err = tx.Leases().Get("t")
		return err
	})
	if l.Holder != "" {
		t.Errorf("lease after Run: %+v, want released", l)
	}
}
