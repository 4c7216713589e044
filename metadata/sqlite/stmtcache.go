package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
)

// The SQLite driver parses and plans a statement every time it runs one
// given as text (a quarter of a small DescribeImages' time went there),
// while a statement it has prepared runs again at once. cachingConnector
// gives every connection a cache of prepared statements keyed by their
// text, so that the queries the store builds (a handful of shapes, with
// placeholders for every value) are parsed once per connection, whatever
// path they take through database/sql. PostgreSQL's driver keeps such a
// cache itself.

// stmtCacheSize bounds the statements kept per connection. The store's
// queries have far fewer shapes; a list of n ids is its own shape, so a
// client could make many, and the ones past the bound are simply not kept.
const stmtCacheSize = 256

type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// conn is what the SQLite driver's connections implement beyond
// driver.Conn, all of which database/sql uses.
type conn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

func newCachingConn(c driver.Conn) (*cachingConn, error) {
	cc, ok := c.(conn)
	if !ok {
		c.Close()
		return nil, errors.New("sqlite: driver connection lacks an interface the statement cache needs")
	}
	return &cachingConn{conn: cc, stmts: map[string]*cachedStmt{}}, nil
}

// cachingConn is used by one goroutine at a time, as database/sql does
// with every driver connection, so it needs no lock.
type cachingConn struct {
	conn
	stmts map[string]*cachedStmt
}

// A cachedStmt is busy while rows it returned are open: running it again
// then would reset them, so another statement runs instead.
type cachedStmt struct {
	st interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool
}

// stmt returns the cached statement for query, preparing and keeping it
// if there is room, or nil when the caller must run query uncached.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if len(c.stmts) >= stmtCacheSize {
		return nil, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{}
	var ok bool
	if s.st, ok = st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}); !ok {
		st.Close()
		return nil, nil
	}
	c.stmts[query] = s
	return s, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.conn.ExecContext(ctx, query, args)
	}
	return s.st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.conn.QueryContext(ctx, query, args)
	}
	rows, err := s.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s}, nil
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.st.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.conn.Close())
	return errors.Join(errs...)
}

type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	if r.s == nil {
		return nil
	}
	err := r.Rows.Close()
	r.s.busy = false
	r.s = nil
	return err
}
