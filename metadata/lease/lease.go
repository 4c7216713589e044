// Package lease runs work under the leases of the metadata store
// (metadata.Leases, openami.Lease), so that of several openami nodes on
// one database exactly one does each durable task, and another takes it
// over when the holder dies (docs/LEASES.md).
//
// A Runner takes a lease, runs the work in a context that carries the
// lease and is cancelled when the lease is lost, renews the lease every
// TTL/3 while the work runs, and releases it when the work returns.
//
// Fencing: a store's Update run with a context that carries a lease
// (WithHeld; a Runner's work context does) checks, in the same
// transaction, that the lease is still held at its epoch, and fails with
// an IncorrectState error of openami.ReasonLeaseLost otherwise, changing
// nothing. The rules packages need no change to be fenced: they pass
// their context on to Update as they always do.
//
// Clocks: the database decides when a lease expires (its own clock). The
// holder's view of its lease ends earlier: at the local monotonic time
// when its last successful acquire or renew started, plus the TTL, minus
// a margin. The database's expiry is at least the TTL after that
// start (the statement ran after it), so a node cut off from the
// database cancels its work before another node can take the lease.
package lease

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type heldKey struct{}

// WithHeld returns a context that carries l: metadata transactions run
// with it commit only while l is held at l.Epoch.
func WithHeld(ctx context.Context, l openami.Lease) context.Context {
	return context.WithValue(ctx, heldKey{}, l)
}

// Held returns the lease ctx carries, if any.
func Held(ctx context.Context) (openami.Lease, bool) {
	l, ok := ctx.Value(heldKey{}).(openami.Lease)
	return l, ok
}

// Without returns a context with ctx's values and deadline but no held
// lease: for a transaction that must commit whatever became of the lease
// (recording that work failed, say).
func Without(ctx context.Context) context.Context {
	return context.WithValue(ctx, heldKey{}, nil)
}

// LostError returns the error of work whose lease l is no longer held.
func LostError(l openami.Lease) error {
	return openami.ReasonErrorf(openami.IncorrectState, "", openami.ReasonLeaseLost,
		"The lease %s (epoch %d) is no longer held by %s", l.Name, l.Epoch, l.Holder)
}

// Lost reports whether err is, or wraps, a lost lease's error.
func Lost(err error) bool { return openami.ReasonOf(err) == openami.ReasonLeaseLost }

// Fence returns fn preceded, in its transaction, by the check that the
// lease ctx carries is still held; fn itself if ctx carries none. Stores
// wrap the functions Update runs with it.
func Fence(ctx context.Context, fn func(metadata.Tx) error) func(metadata.Tx) error {
	l, ok := Held(ctx)
	if !ok {
		return fn
	}
	return func(tx metadata.Tx) error {
		held, err := tx.Leases().Held(l.Name, l.Holder, l.Epoch)
		if err != nil {
			return fmt.Errorf("lease %s: %w", l.Name, err)
		}
		if !held {
			return LostError(l)
		}
		return fn(tx)
	}
}

// DefaultTTL is a lease's time to live when Config.TTL is 0: long
// enough that a renewal every DefaultTTL/3 survives a slow database for
// a while, short enough that a dead node's tasks move on within about
// half a minute.
const DefaultTTL = 30 * time.Second

// Config is what a Runner is built from; Store and Holder are required.
type Config struct {
	Store metadata.Store
	// Holder names this node in the leases it takes.
	Holder string
	// TTL is how long a lease lives without renewal (0: DefaultTTL). It
	// is renewed every TTL/3.
	TTL time.Duration
	// Log receives renewals that fail (nil: discarded).
	Log *slog.Logger
}

// Runner runs work under leases for one holder.
type Runner struct {
	store  metadata.Store
	holder string
	ttl    time.Duration
	margin time.Duration
	log    *slog.Logger

	mu sync.Mutex
	// running holds a channel for each name this runner is running work
	// under, closed when that work ends: the database would let this
	// holder take its own lease again, so the runner keeps its own runs
	// of one name apart.
	running map[string]chan struct{}
}

// New returns a Runner.
func New(cfg Config) *Runner {
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The margin covers the rates of the two clocks differing, and the
	// time between the local deadline passing and the work noticing.
	return &Runner{store: cfg.Store, holder: cfg.Holder, ttl: ttl, margin: ttl / 10, log: log,
		running: map[string]chan struct{}{}}
}

// Holder returns the name this runner holds leases under.
func (r *Runner) Holder() string { return r.holder }

// TTL returns the leases' time to live.
func (r *Runner) TTL() time.Duration { return r.ttl }

// Run takes the lease name and runs fn under it, in a context that
// carries the lease (so that fn's transactions are fenced) and that is
// cancelled, with a cause that Lost recognises, when the lease is lost:
// a renewal finds it taken, or its local deadline passes without a
// successful renewal. It renews the lease every TTL/3 and releases it
// when fn returns (unless lost). It returns false, with no error, if
// another holder holds the lease; otherwise true and fn's error (the
// lease's lost error in its place if fn returned nil after losing it).
// Run fails without running fn if the lease cannot be read or taken.
// A Run of a name this runner already runs work under waits for that
// work to end first (or for ctx to end: then it returns ctx's error).
func (r *Runner) Run(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	for {
		r.mu.Lock()
		busy, ok := r.running[name]
		if !ok {
			mine := make(chan struct{})
			r.running[name] = mine
			r.mu.Unlock()
			defer func() {
				r.mu.Lock()
				delete(r.running, name)
				r.mu.Unlock()
				close(mine)
			}()
			break
		}
		r.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return false, fmt.Errorf("lease %s: %w", name, ctx.Err())
		}
	}
	start := time.Now()
	var (
		l  openami.Lease
		ok bool
	)
	err := r.store.Update(Without(ctx), func(tx metadata.Tx) error {
		var err error
		l, ok, err = tx.Leases().Acquire(name, r.holder, r.ttl)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease %s: acquire: %w", name, err)
	}
	if !ok {
		return false, nil
	}
	work, cancel := context.WithCancelCause(WithHeld(ctx, l))
	defer cancel(nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.keep(work, l, start, cancel, stop)
	}()
	ferr := fn(work)
	close(stop)
	<-done
	lost := Lost(context.Cause(work))
	if !lost {
		rctx, rcancel := context.WithTimeout(Without(context.WithoutCancel(ctx)), r.ttl)
		defer rcancel()
		if err := r.store.Update(rctx, func(tx metadata.Tx) error {
			return tx.Leases().Release(l.Name, l.Holder, l.Epoch)
		}); err != nil {
			r.log.Warn("lease release", "lease", name, "error", err) // it expires anyway
		}
	}
	if ferr == nil && lost {
		ferr = LostError(l)
	}
	return true, ferr
}

// keep renews l every TTL/3 until stop closes, and cancels the work with
// the lease's lost error when a renewal finds the lease gone or its local
// deadline (the last good renewal's start + TTL - margin) passes first.
func (r *Runner) keep(work context.Context, l openami.Lease, start time.Time, cancel context.CancelCauseFunc, stop <-chan struct{}) {
	deadline := start.Add(r.ttl - r.margin)
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	tick := time.NewTicker(r.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-expire.C:
			cancel(LostError(l))
			return
		case <-tick.C:
		}
		begun := time.Now()
		rctx, rcancel := context.WithDeadline(Without(context.WithoutCancel(work)), deadline)
		var ok bool
		err := r.store.Update(rctx, func(tx metadata.Tx) error {
			var err error
			ok, err = tx.Leases().Renew(l.Name, l.Holder, l.Epoch, r.ttl)
			return err
		})
		rcancel()
		switch {
		case err != nil:
			// Try again at the next tick while the local deadline allows.
			r.log.Warn("lease renewal", "lease", l.Name, "error", err)
		case !ok:
			cancel(LostError(l))
			return
		default:
			deadline = begun.Add(r.ttl - r.margin)
			expire.Reset(time.Until(deadline))
		}
	}
}
