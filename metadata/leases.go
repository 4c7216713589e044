package metadata

import (
	"time"

	"github.com/openami/openami"
)

// Leases records the leases under which nodes do durable work
// (openami.Lease, docs/LEASES.md). Every time it reads or writes is the
// database's clock, not the caller's, so that nodes whose clocks differ
// agree on when a lease expires (on SQLite, one process's, the local
// clock).
type Leases interface {
	// Acquire takes the lease name for holder for ttl, if it is free (never
	// taken, released or expired) or holder already holds it, and returns
	// it and true. It returns the lease as it stands and false if another
	// holder holds it. The epoch increases unless holder held the lease
	// the moment before; the first epoch is 1.
	Acquire(name, holder string, ttl time.Duration) (openami.Lease, bool, error)
	// Renew extends holder's tenure of name at epoch to ttl from now, and
	// reports false (changing nothing) if holder no longer holds it at
	// that epoch or it has expired.
	Renew(name, holder string, epoch int64, ttl time.Duration) (bool, error)
	// Release ends holder's tenure of name at epoch, so that another may
	// take it at once: the lease keeps its epoch, has no holder and
	// expires now. A lease no longer held at that epoch is left alone (not
	// an error).
	Release(name, holder string, epoch int64) error
	// Purge removes the leases released more than releasedFor ago and
	// returns how many. A purged name starts again at epoch 1, so
	// releasedFor must be far longer than any holder may be paused
	// (a stale tenure at epoch 1 of the same holder would be fenced no
	// more).
	Purge(releasedFor time.Duration) (int, error)
	// Held reports whether holder holds name at epoch and it has not
	// expired. A store's Update checks it for the lease in its context;
	// it is for read-write transactions only, since it keeps the lease's
	// row from changing until the transaction ends where the database
	// needs a lock for that (PostgreSQL).
	Held(name, holder string, epoch int64) (bool, error)
	// Get returns the lease name. NotFound if it was never taken.
	Get(name string) (openami.Lease, error)
	// List returns the leases whose names start with prefix, by name.
	List(prefix string) ([]openami.Lease, error)
}
