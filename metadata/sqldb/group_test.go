package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
)

// TestGroupCommit runs many concurrent Update calls on SQLite, where they
// are committed in groups, and checks that each one's outcome is its own:
// a function that fails leaves nothing, its neighbours in the group keep
// their writes, and each function sees the writes of those committed
// before it.
func TestGroupCommit(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx metadata.Tx) error { return tx.Settings().Put("counter", []byte("0")) }); err != nil {
		t.Fatal(err)
	}
	const n = 200
	errFail := errors.New("planned failure")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(tx metadata.Tx) error {
				// Every call increments the counter: a lost update or a
				// failed call's increment kept would show in the total.
				v, err := tx.Settings().Get("counter")
				if err != nil {
					return err
				}
				var c int
				fmt.Sscan(string(v), &c)
				if err := tx.Settings().Put("counter", []byte(fmt.Sprint(c+1))); err != nil {
					return err
				}
				if err := tx.Settings().Put(fmt.Sprintf("k%03d", i), []byte("v")); err != nil {
					return err
				}
				if i%3 == 0 {
					return errFail
				}
				return nil
			})
		})
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		switch {
		case i%3 == 0 && !errors.Is(err, errFail):
			t.Errorf("call %d: got %v, want its own error", i, err)
		case i%3 != 0 && err != nil:
			t.Errorf("call %d: %v", i, err)
		case i%3 != 0:
			want++
		}
	}
	err = s.View(ctx, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil {
			return err
		}
		if string(v) != fmt.Sprint(want) {
			t.Errorf("counter = %s, want %d", v, want)
		}
		for i := range n {
			_, err := tx.Settings().Get(fmt.Sprintf("k%03d", i))
			if kept := err == nil; kept != (i%3 != 0) {
				t.Errorf("write of call %d kept = %v (err %v)", i, kept, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitPanic checks that a function that panics in a group
// panics in its caller's goroutine, and that the other functions of its
// group are still committed.
func TestGroupCommitPanic(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	panicked := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			defer func() { panicked[i] = recover() != nil }()
			errs[i] = s.Update(ctx, func(tx metadata.Tx) error {
				if err := tx.Settings().Put(fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
					return err
				}
				if i%10 == 5 {
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	err = s.View(ctx, func(tx metadata.Tx) error {
		for i := range n {
			if panicked[i] != (i%10 == 5) {
				t.Errorf("call %d: panicked = %v", i, panicked[i])
			}
			if i%10 != 5 && errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
			}
			_, err := tx.Settings().Get(fmt.Sprintf("k%02d", i))
			if kept := err == nil; kept != (i%10 != 5) {
				t.Errorf("write of call %d kept = %v (err %v)", i, kept, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitCancelled checks that a call whose context is cancelled
// fails with the context's error and commits nothing, while the calls
// around it succeed.
func TestGroupCommitCancelled(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errs[i] = s.Update(ctx, func(tx metadata.Tx) error {
				if i%4 == 0 {
					cancel()
				}
				return tx.Settings().Put(fmt.Sprintf("k%02d", i), []byte("v"))
			})
		})
	}
	wg.Wait()
	err = s.View(context.Background(), func(tx metadata.Tx) error {
		for i := range n {
			_, gerr := tx.Settings().Get(fmt.Sprintf("k%02d", i))
			kept := gerr == nil
			if i%4 == 0 {
				if !errors.Is(errs[i], context.Canceled) || kept {
					t.Errorf("cancelled call %d: err %v, write kept %v", i, errs[i], kept)
				}
			} else if errs[i] != nil || !kept {
				t.Errorf("call %d: err %v, write kept %v", i, errs[i], kept)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpdateAfterClose checks that Update on a closed store fails rather
// than waiting forever.
func TestUpdateAfterClose(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Update(context.Background(), func(tx metadata.Tx) error { return nil }); err == nil {
		t.Error("Update on a closed store succeeded")
	}
}
