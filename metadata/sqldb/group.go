package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/openami/openami/metadata"
)

// Group commit. On a database with one writer (SQLite), read-write
// transactions run one at a time, and each commit waits for the database
// to sync its log to disk. Under load, writers queue for the write
// connection, and every one of them pays for its own sync in turn: the
// queue drains at one fsync per request, whatever the function costs.
//
// With the dialect's GroupCommit, Update hands its function to the
// Store's committer goroutine instead. The committer takes every function
// that is waiting (up to maxGroup), runs them one after the other in one
// transaction, each inside its own savepoint, and commits once. A function
// that returns an error is rolled back to its savepoint, alone; the others
// keep their writes. Every caller gets its answer only after the commit,
// so an acknowledged write is exactly as durable as before: it is on disk
// (synchronous=FULL) before Update returns.
//
// Functions run in the order they arrived, each seeing the writes of those
// before it, which is the serial order they would have had one
// transaction each. If anything goes wrong at the level of the shared
// transaction — a savepoint or the commit fails, a statement's error
// voids the transaction (SQLite rolls it back on an interrupt, a full disk
// or an I/O error), or a function panics — the whole group is rolled back
// and every function not yet answered runs again in a transaction of its
// own, as Update runs it without GroupCommit. That is why fn may run more
// than once, which metadata.Store allows.

// maxGroup bounds how many functions share one transaction, so that one
// commit does not wait for an unbounded run of functions.
const maxGroup = 64

// savepoint names the savepoint each function of a group runs in.
const savepoint = "openami_group"

// group is the queue of Update calls waiting for the committer.
type group struct {
	reqs     chan *writeReq // unbuffered: a send succeeds only when the committer takes it
	stopping chan struct{}
	stopped  chan struct{}
	once     sync.Once
}

// writeReq is one Update call.
type writeReq struct {
	ctx  context.Context
	fn   func(metadata.Tx) error
	done chan writeResult // buffered, one answer
}

// writeResult is the answer to a writeReq: fn's error, or the value it
// panicked with, to panic with again in the caller's goroutine.
type writeResult struct {
	err      error
	panicked bool
	panicVal any
}

func newGroup() *group {
	return &group{reqs: make(chan *writeReq), stopping: make(chan struct{}), stopped: make(chan struct{})}
}

var errClosed = errors.New("sqldb: update: store is closed")

// update queues fn for the committer and waits for its answer. It waits
// for the answer even if ctx is cancelled meanwhile, since fn may be
// running; a cancelled ctx makes fn's statements fail, and fn is not
// started at all if ctx is done when its turn comes.
func (g *group) update(ctx context.Context, fn func(metadata.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case g.reqs <- r:
	case <-g.stopping:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("sqldb: begin transaction: %w", ctx.Err())
	}
	res := <-r.done
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

// stop stops the committer and waits for it to finish its group. Update
// calls not yet taken fail with errClosed.
func (g *group) stop() {
	g.once.Do(func() { close(g.stopping) })
	<-g.stopped
}

// commitGroups is the committer: it runs until the group is stopped.
func (s *Store) commitGroups() {
	g := s.group
	defer close(g.stopped)
	for {
		var first *writeReq
		select {
		case first = <-g.reqs:
		case <-g.stopping:
			return
		}
		batch := []*writeReq{first}
	more:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitGroup(batch)
	}
}

// commitGroup runs a group of functions and answers each caller.
func (s *Store) commitGroup(batch []*writeReq) {
	if len(batch) == 1 {
		s.commitAlone(batch[0])
		return
	}
	results := make([]writeResult, len(batch))
	n, ok := s.runGroup(batch, results)
	if ok {
		for i, r := range batch {
			r.done <- results[i]
		}
		return
	}
	// The group's transaction is void: answer a function that panicked
	// (it must not run again), and run the others alone.
	for i, r := range batch {
		if i < n && results[i].panicked {
			r.done <- results[i]
			continue
		}
		s.commitAlone(r)
	}
}

// commitAlone runs one function in a transaction of its own and answers
// its caller.
func (s *Store) commitAlone(r *writeReq) {
	var res writeResult
	func() {
		defer func() {
			if v := recover(); v != nil {
				res = writeResult{panicked: true, panicVal: v}
			}
		}()
		res.err = s.update(r.ctx, r.fn)
	}()
	r.done <- res
}

// runGroup runs the functions of batch in one transaction, each in a
// savepoint, and commits it, filling in results. ok is false if the
// transaction failed as a whole and was rolled back; then n is the number
// of functions that ran, the last of which may have panicked.
func (s *Store) runGroup(batch []*writeReq, results []writeResult) (n int, ok bool) {
	// The transaction outlives any one caller's context: each function's
	// statements run under its own (see tx.ctx).
	bg := context.Background()
	sqltx, err := s.write.BeginTx(bg, &s.d.WriteTx)
	if err != nil {
		return 0, false
	}
	defer func() {
		if !ok {
			sqltx.Rollback()
		}
	}()
	for i, r := range batch {
		n = i + 1
		if err := r.ctx.Err(); err != nil {
			results[i].err = fmt.Errorf("sqldb: begin transaction: %w", err)
			continue
		}
		if _, err := sqltx.ExecContext(bg, "SAVEPOINT "+savepoint); err != nil {
			return n, false
		}
		ferr, lost, res := s.runSaved(sqltx, r)
		if res.panicked {
			results[i] = res
			return n, false
		}
		if lost != nil {
			return n, false
		}
		if ferr != nil {
			if _, err := sqltx.ExecContext(bg, "ROLLBACK TO "+savepoint); err != nil {
				return n, false
			}
		}
		// RELEASE also checks that the transaction is still open: a
		// statement error that rolled back the whole transaction makes it
		// fail, so the group is run again.
		if _, err := sqltx.ExecContext(bg, "RELEASE "+savepoint); err != nil {
			return n, false
		}
		results[i].err = ferr
	}
	if err := sqltx.Commit(); err != nil {
		return n, false
	}
	return n, true
}

// runSaved runs one function of a group in sqltx, catching a panic.
func (s *Store) runSaved(sqltx *sql.Tx, r *writeReq) (ferr, lost error, res writeResult) {
	t := &tx{ctx: r.ctx, d: s.d, q: s.q, s: s, db: s.write, tx: sqltx}
	defer func() {
		t.done = true
		if v := recover(); v != nil {
			res = writeResult{panicked: true, panicVal: v}
		}
	}()
	ferr = r.fn(t)
	t.done = true
	return ferr, t.lost, res
}
