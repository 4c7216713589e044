package openami

import "time"

// Lease is a named, time-limited claim on a piece of work, kept in the
// metadata store so that, of several openami nodes on one database,
// exactly one does each durable task (docs/LEASES.md).
//
// Name names the work ("copy/snap-…", "gc/us-east-1"); Holder names the
// node that holds it (service.Config.NodeID). Epoch counts the holders:
// it increases every time the lease is taken by a holder that did not
// hold it the moment before (a new node, or the same one after a release
// or an expiry), so that (Name, Epoch) names one tenure. Expires is when
// the tenure ends unless renewed, by the database's clock; a lease past
// it may be taken by anyone. A released lease has no Holder.
//
// Work done under a lease is fenced: a metadata transaction run with the
// lease in its context (metadata/lease.WithHeld) commits only while the
// lease is still held at that epoch, and fails otherwise with an
// IncorrectState error of ReasonLeaseLost.
type Lease struct {
	Name    string
	Holder  string
	Epoch   int64
	Expires time.Time
}
