package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// wakeChannel is the PostgreSQL notification channel of wake-ups.
const wakeChannel = "openami_wake"

// Wakeups carries wake-up calls between the openami nodes of one
// PostgreSQL database, with LISTEN/NOTIFY on one channel: a node that
// places an instance on a compute host, or asks it to stop, reboot or
// flush, notifies the host's topic (its id), and the host's node, which
// listens for it, looks at its instances at once instead of at its next
// pass. Delivery is best effort: a notification sent while a listener is
// disconnected is lost, which costs only the listener's pass period.
//
// A Wakeups holds two connections of its own, outside the store's pool:
// one that sends (opened at the first Notify, opened again after a
// failure) and one per Listen.
type Wakeups struct {
	dsn string

	mu   sync.Mutex
	conn *pgx.Conn // the sending connection; nil until needed
}

// NewWakeups returns Wakeups over the database dsn names. It connects
// only when used.
func NewWakeups(dsn string) *Wakeups { return &Wakeups{dsn: dsn} }

// Notify wakes whoever listens for topic. A failed send closes the
// sending connection; the next Notify opens another.
func (w *Wakeups) Notify(ctx context.Context, topic string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		c, err := pgx.Connect(ctx, w.dsn)
		if err != nil {
			return fmt.Errorf("postgres: wake-ups: connect: %w", err)
		}
		w.conn = c
	}
	if _, err := w.conn.Exec(ctx, "SELECT pg_notify($1, $2)", wakeChannel, topic); err != nil {
		w.conn.Close(context.Background())
		w.conn = nil
		return fmt.Errorf("postgres: wake-ups: notify %s: %w", topic, err)
	}
	return nil
}

// listenRetry is how long Listen waits before connecting again after its
// connection failed.
const listenRetry = time.Second

// Listen calls on for each wake-up of topic until ctx is done, on a
// connection of its own; it connects again (after listenRetry) whenever
// the connection fails, and calls on once each time it is listening
// again, since wake-ups may have been missed meanwhile. failed, when not
// nil, is told of each failure.
func (w *Wakeups) Listen(ctx context.Context, topic string, on func(), failed func(error)) {
	for ctx.Err() == nil {
		err := w.listen(ctx, topic, on)
		if ctx.Err() != nil {
			return
		}
		if failed != nil {
			failed(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

// listen is one connection of Listen: it returns when the connection
// fails or ctx is done.
func (w *Wakeups) listen(ctx context.Context, topic string, on func()) error {
	c, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		return fmt.Errorf("postgres: wake-ups: connect: %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		return fmt.Errorf("postgres: wake-ups: listen: %w", err)
	}
	on() // anything sent while this node was not listening
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("postgres: wake-ups: wait: %w", err)
		}
		if n.Payload == topic {
			on()
		}
	}
}

// Close closes the sending connection. Listen stops with its context.
func (w *Wakeups) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close(context.Background())
	w.conn = nil
	return err
}
