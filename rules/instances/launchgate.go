package instances

import (
	"context"
	"sync"
)

// launchGate orders this node's placing transactions (RunInstances,
// StartInstances) one after another.
//
// Every placing transaction reads what every other one writes: the
// hosts' load (the live instances placed on them), the public addresses
// held, the subnet's private addresses. Under SERIALIZABLE (PostgreSQL)
// two of them running at once conflict and one is run again; with a
// dozen at once on one node, some ran out of the store's retries and
// failed with InternalError (BenchmarkNodes). A counter row per host
// would not help: two transactions updating one row conflict the same
// way. Holding the gate, a node runs one placing transaction at a time
// (a few milliseconds each), so its own launches never conflict; only
// launches through different nodes still race, and the store's retries
// (backoff up to 100 ms, 30 attempts) settle those few. SQLite runs one
// writer at a time anyway.
type launchGate struct {
	once sync.Once
	slot chan struct{}
}

// do runs fn holding the gate; it gives up waiting for the gate, with
// ctx's error, when ctx ends first (a client gone away).
func (g *launchGate) do(ctx context.Context, fn func() error) error {
	g.once.Do(func() { g.slot = make(chan struct{}, 1) })
	select {
	case g.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slot }()
	return fn()
}
