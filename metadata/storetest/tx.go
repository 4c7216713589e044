package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func testRollback(t *testing.T, s metadata.Store) {
	errBoom := errors.New("boom")
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		if err := tx.Accounts().Create(account(acct1, "alice")); err != nil {
			return err
		}
		if err := tx.Settings().Put("k", []byte("v")); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if _, err := tx.Accounts().Get(acct1); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update returned %v, want the function's error unchanged", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Accounts().Get(acct1); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("account created in a rolled back transaction: Get returned %v", err)
		}
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("setting put in a rolled back transaction: Get returned %v", err)
		}
		return nil
	})
}

// testContinueAfterDuplicate checks that a documented failure leaves the
// transaction usable: a function may handle Duplicate and carry on.
func testContinueAfterDuplicate(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Accounts().Create(account(acct1, "alice")) })
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Accounts().Create(account(acct1, "alice")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate: %v", err)
		}
		if err := tx.KeyPairs().Create(keyPair(region1, acct1, "key-1", "k")); err != nil {
			return err
		}
		if err := tx.KeyPairs().Create(keyPair(region1, acct1, "key-2", "k")); !errors.Is(err, openami.ErrDuplicate) {
			t.Errorf("Create of a duplicate key pair: %v", err)
		}
		if err := tx.Accounts().CreateKey(openami.AccessKey{ID: "AKIA", AccountID: acct2, SealedSecret: []byte("x")}); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("CreateKey for a missing account: %v", err)
		}
		if err := tx.KeyPairs().Delete(region1, acct1, "key-none"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Delete of a missing key pair: %v", err)
		}
		return tx.Settings().Put("after", []byte("yes"))
	})
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("after")
		if err != nil {
			return err
		}
		equal(t, "setting put after handled failures", v, []byte("yes"))
		return nil
	})
}

func testViewReadOnly(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		return tx.Settings().Put("k", []byte("v"))
	})
	if err == nil {
		t.Error("Put inside View succeeded")
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Put inside View was kept: Get returned %v", err)
		}
		return nil
	})
}

func testViewIsolation(t *testing.T, s metadata.Store) {
	written := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx metadata.Tx) error {
			if err := tx.Settings().Put("k", []byte("v")); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if v, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("View saw an uncommitted write: %q, %v", v, err)
		}
		return nil
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("k")
		if err != nil {
			return err
		}
		equal(t, "Get after commit", v, []byte("v"))
		return nil
	})
}

func testConcurrentUpdates(t *testing.T, s metadata.Store) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.Update(context.Background(), func(tx metadata.Tx) error {
				v, err := tx.Settings().Get("counter")
				if err != nil && !errors.Is(err, openami.ErrNotFound) {
					return err
				}
				c := 0
				if err == nil {
					fmt.Sscan(string(v), &c)
				}
				return tx.Settings().Put("counter", []byte(fmt.Sprint(c+1)))
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Update: %v", err)
		}
	}
	view(t, s, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil {
			return err
		}
		equal(t, "counter", string(v), fmt.Sprint(n))
		return nil
	})
}

func testCanceled(t *testing.T, s metadata.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx metadata.Tx) error {
		ran = true
		return tx.Settings().Put("k", []byte("v"))
	})
	if err == nil {
		t.Fatal("Update with a canceled context succeeded")
	}
	if ran && !errors.Is(err, context.Canceled) {
		t.Logf("Update with a canceled context: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("k"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Update with a canceled context was kept: %v", err)
		}
		return nil
	})
}

func testTimestamps(t *testing.T, s metadata.Store) {
	times := []time.Time{
		t0,
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 1, time.FixedZone("Y", -8*3600)),
		time.Now(), // with a monotonic reading, which must not matter
	}
	update(t, s, func(tx metadata.Tx) error {
		for i, at := range times {
			id := fmt.Sprintf("%012d", i)
			a := account(id, id)
			a.CreatedAt = at
			if err := tx.Accounts().Create(a); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Accounts().List()
		if err != nil {
			return err
		}
		for i, a := range list {
			if !a.CreatedAt.Equal(times[i]) {
				t.Errorf("time %d: got %v, want %v", i, a.CreatedAt, times[i])
			}
			if a.CreatedAt.Location() != time.UTC {
				t.Errorf("time %d: location %v, want UTC", i, a.CreatedAt.Location())
			}
		}
		return nil
	})
}

// testViewSerial checks that ViewSerial sees committed writes, rolls back
// nothing, and returns fn's error unchanged.
func testViewSerial(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("serial", []byte("1")) })
	var got []byte
	err := s.ViewSerial(context.Background(), func(tx metadata.Tx) error {
		var err error
		got, err = tx.Settings().Get("serial")
		return err
	})
	if err != nil || string(got) != "1" {
		t.Fatalf("ViewSerial read %q, %v", got, err)
	}
	sentinel := errors.New("mine")
	if err := s.ViewSerial(context.Background(), func(metadata.Tx) error { return sentinel }); err != sentinel {
		t.Fatalf("ViewSerial returned %v, want fn's error", err)
	}
}
