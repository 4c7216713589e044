package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openami/openami/internal/testenv"
)

// TestWakeups: a listener of a topic is woken by a Notify of it (through
// another Wakeups, as another node's), not by another topic's; and once
// when it starts listening, for what it may have missed.
func TestWakeups(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listener, sender := NewWakeups(dsn), NewWakeups(dsn)
	defer sender.Close()
	woken := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.Listen(ctx, "h-1", func() { woken <- struct{}{} }, func(err error) { t.Log(err) })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-woken:
		case <-time.After(30 * time.Second):
			t.Fatalf("no wake-up %s", what)
		}
	}
	wait("when listening starts")
	if err := sender.Notify(ctx, "h-2"); err != nil {
		t.Fatal(err)
	}
	if err := sender.Notify(ctx, "h-1"); err != nil {
		t.Fatal(err)
	}
	wait("for h-1")
	// Notifications arrive in order: h-2's, sent first, woke nobody.
	select {
	case <-woken:
		t.Error("woken twice: by another topic's notification")
	default:
	}

	// The listener's connection cut (its backend terminated): it
	// connects again, wakes once for what it may have missed, and hears
	// the next notification.
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var cut int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND query = 'LISTEN `+wakeChannel+`' AND pid <> pg_backend_pid()`).Scan(&cut); err != nil || cut != 1 {
		t.Fatalf("cut %d listeners: %v", cut, err)
	}
	wait("after the cut")
	if err := sender.Notify(ctx, "h-1"); err != nil {
		t.Fatal(err)
	}
	wait("for h-1 after the cut")
	cancel()
	<-done
}
