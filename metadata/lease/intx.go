package lease

import (
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// The functions below work on leases inside a caller's transaction, for
// work whose lease is a record of the same transaction rather than a
// Runner's: a compute host's lease (rules/instances, docs/HOSTS.md),
// taken when it registers, renewed by its heartbeat, and broken by the
// node that takes over a dead host's instances, each in one transaction
// with the host's records. This package owns the Leases role
// (records_test.go); the rules call these instead.

// AcquireIn is metadata.Leases.Acquire in tx.
func AcquireIn(tx metadata.Tx, name, holder string, ttl time.Duration) (openami.Lease, bool, error) {
	return tx.Leases().Acquire(name, holder, ttl)
}

// RenewIn is metadata.Leases.Renew of l for ttl, in tx.
func RenewIn(tx metadata.Tx, l openami.Lease, ttl time.Duration) (bool, error) {
	return tx.Leases().Renew(l.Name, l.Holder, l.Epoch, ttl)
}

// HeldIn reports, in tx (read-write), whether l is still held at its
// epoch and unexpired.
func HeldIn(tx metadata.Tx, l openami.Lease) (bool, error) {
	return tx.Leases().Held(l.Name, l.Holder, l.Epoch)
}

// GetIn is metadata.Leases.Get in tx.
func GetIn(tx metadata.Tx, name string) (openami.Lease, error) {
	return tx.Leases().Get(name)
}

// ListIn is metadata.Leases.List in tx.
func ListIn(tx metadata.Tx, prefix string) ([]openami.Lease, error) {
	return tx.Leases().List(prefix)
}

// BreakIn ends, in tx, the tenure of a lease that has expired by the
// database's clock: breaker takes it and releases it at once, so that
// its epoch increases (the old holder's work no longer commits, and its
// renewals fail) and it is free. It reports false, changing nothing,
// when the lease is still held. Callers break a lease they read as held
// by someone: a free one would be taken and released all the same.
func BreakIn(tx metadata.Tx, name, breaker string) (bool, error) {
	l, ok, err := tx.Leases().Acquire(name, breaker, time.Second)
	if err != nil || !ok {
		return false, err
	}
	return true, tx.Leases().Release(name, breaker, l.Epoch)
}
