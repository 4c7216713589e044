package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// completer finishes snapshots in the background: it builds the block
// maps of snapshots whose CompleteSnapshot was accepted, and turns pending
// snapshots past their deadline to error. Its state is the metadata store
// itself (Snapshot.Completing, Snapshot.Deadline), so after a restart Start
// finds and finishes whatever a crash interrupted.
type completer struct {
	s     *Service
	kicks chan struct{}
	mu    sync.Mutex
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

func newCompleter(s *Service) *completer {
	return &completer{s: s, kicks: make(chan struct{}, 1)}
}

// kick asks the completer to look for work now.
func (c *completer) kick(id, region string) {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

// sweepInterval is how often the completer looks for expired snapshots
// even when nothing kicks it.
const sweepInterval = 30 * time.Second

// Start runs the service's background work until ctx ends or Close is
// called: finishing completed snapshots (including those a crash left
// half-done) and expiring abandoned ones. log receives what fails.
func (s *Service) Start(ctx context.Context, log *slog.Logger) {
	c := s.completions
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return
	}
	ctx, c.stop = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			if err := c.pass(ctx); err != nil && ctx.Err() == nil {
				log.Error("snapshot completion", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-c.kicks:
			case <-t.C:
			}
		}
	}()
	c.kick("", "")
}

// Close stops the background work and waits for it.
func (s *Service) Close() {
	c := s.completions
	c.mu.Lock()
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
		c.wg.Wait()
	}
}

// pass finishes every completing snapshot and expires overdue ones.
func (c *completer) pass(ctx context.Context) error {
	var pending []openami.Snapshot
	err := c.s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		pending, err = tx.Snapshots().Pending()
		return err
	})
	if err != nil {
		return err
	}
	now := c.s.nowUTC()
	for _, snap := range pending {
		switch {
		case snap.Completing:
			err = c.s.finishSnapshot(ctx, snap.Region, snap.ID)
		case now.After(snap.Deadline):
			err = c.s.expireSnapshot(ctx, snap.Region, snap.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// expireSnapshot turns a pending snapshot whose deadline passed without
// CompleteSnapshot to error, and drops its written blocks.
func (s *Service) expireSnapshot(ctx context.Context, region, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		snap, err := tx.Snapshots().Get(region, id)
		if err != nil || snap.State != openami.SnapshotPending || snap.Completing || !s.nowUTC().After(snap.Deadline) {
			return nil
		}
		snap.State = openami.SnapshotError
		snap.StateReason = "The snapshot was not completed before its timeout."
		if err := tx.Snapshots().DeleteBlocks(id); err != nil {
			return err
		}
		return tx.Snapshots().Update(snap)
	})
}
