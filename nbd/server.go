package nbd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Export is one block device the server serves.
//
// Methods are called concurrently, up to 16 at a time per connection, with
// the connection's context: it is cancelled when the connection ends or the
// server closes, and Server.Close waits for calls in progress, so
// implementations must return promptly once it is done. Offsets and lengths
// are always within [0, Size()] and lengths at most 32 MiB (Trim excepted).
// An error from a method is sent to the client as NBD_EIO, or as NBD_ENOSPC
// or NBD_EPERM if it wraps ErrNoSpace or ErrReadOnly.
//
// If the Export also implements io.Closer, the server calls Close once it
// is done with it: when the connection that opened it ends (after every
// call has returned), or when an NBD_OPT_INFO that resolved it has been
// answered (before the final NBD_REP_ACK).
type Export interface {
	// Size returns the size in bytes; it must not change while a client
	// is connected.
	Size() int64
	// ReadOnly reports whether the server must refuse writes, trims and
	// zeroing (with NBD_EPERM) without calling the export.
	ReadOnly() bool
	// ReadAt fills all of p from offset off, or returns an error.
	ReadAt(ctx context.Context, p []byte, off int64) error
	// WriteAt writes all of p at offset off, or returns an error.
	WriteAt(ctx context.Context, p []byte, off int64) error
	// Flush makes every write that has completed so far durable, or
	// returns an error.
	Flush(ctx context.Context) error
	// Trim tells the export that the range is no longer needed; it may be
	// a no-op. It returns an error only if it could not honour the hint.
	Trim(ctx context.Context, off, length int64) error
	// WriteZeroes makes the range read back as zeroes, or returns an error.
	WriteZeroes(ctx context.Context, off, length int64) error
}

// Resolver finds the export a client names; an error means no such export
// (or not allowed). The client only learns that the export is unknown.
type Resolver func(ctx context.Context, name string) (Export, error)

var (
	// ErrNoSpace is wrapped by Export errors that the client should see
	// as NBD_ENOSPC (no space left on the device).
	ErrNoSpace = errors.New("nbd: no space left")
	// ErrReadOnly is wrapped by Export errors that the client should see
	// as NBD_EPERM (the export refuses writes).
	ErrReadOnly = errors.New("nbd: export is read-only")
	// ErrServerClosed is returned by Serve once Close has been called.
	ErrServerClosed = errors.New("nbd: server closed")
)

// Server serves exports over the NBD protocol to any number of listeners
// and connections. Its zero value is not usable: create it with New.
type Server struct {
	resolve Resolver
	log     *slog.Logger
	ctx     context.Context // parent of every connection's context
	cancel  context.CancelFunc
	nextID  atomic.Uint64

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	handlers  sync.WaitGroup // one per connection in conns
}

// New returns a server that resolves export names with resolve and logs to
// log (nothing is logged if log is nil). It never fails.
func New(resolve Resolver, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		resolve:   resolve,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
}

// Serve accepts connections on l and serves each in its own goroutines. It
// may run for several listeners at once. It closes l and returns when l
// fails or is closed (the Accept error, wrapping net.ErrClosed in the
// latter case) or when Close is called (ErrServerClosed). It retries
// transient Accept errors such as running out of file descriptors.
func (s *Server) Serve(l net.Listener) error {
	if !s.addListener(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.removeListener(l)
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err == nil {
			delay = 0
			s.startConn(nc)
			continue
		}
		if s.isClosed() {
			return ErrServerClosed
		}
		if !isTransient(err) {
			return err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		s.log.Warn("nbd: accept failed; retrying", "err", err, "delay", delay)
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			return ErrServerClosed
		}
	}
}

// isTransient reports whether an Accept error is worth retrying: resource
// exhaustion passes, and a connection reset before accept only affects
// that connection.
func isTransient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Close stops every Serve, cancels the context of every connection, closes
// them, and waits for their handlers to return (which includes Export calls
// in progress, hence the cancellation first). It returns the first error
// from closing a listener, if any; calling it again only waits.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		s.cancel()
		for l := range s.listeners {
			if e := l.Close(); e != nil && !errors.Is(e, net.ErrClosed) && err == nil {
				err = e
			}
		}
		for nc := range s.conns {
			nc.Close()
		}
	}
	s.mu.Unlock()
	s.handlers.Wait()
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) addListener(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) removeListener(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	l.Close()
}

// startConn registers nc and serves it in a new goroutine, unless the server
// is closed. Registration and handlers.Add happen under mu so that Close
// either sees the connection or the connection sees closed.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.handlers.Add(1)
	go s.serveConn(nc)
}

// serveConn runs one connection to its end and unregisters it.
func (s *Server) serveConn(nc net.Conn) {
	defer s.handlers.Done()
	c := newConn(s, nc)
	c.log.Debug("nbd: connection opened", "remote", nc.RemoteAddr())
	err := c.run()
	c.close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	if err != nil && !isHangup(err) {
		c.log.Warn("nbd: connection failed", "err", err)
	}
	c.log.Debug("nbd: connection closed", "err", err)
}

// isHangup reports whether err just means the client or the server went
// away, which is not worth a warning.
func isHangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.Canceled)
}

// conn is the state of one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader // only the reading goroutine uses it
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	// Set by the handshake, fixed during transmission.
	noZeroes bool
	export   Export
	size     uint64
	readOnly bool

	reqHdr [requestLen]byte // reading goroutine only
	writes sync.WaitGroup   // writes, trims and zeroings in flight

	wmu    sync.Mutex // serializes replies
	repHdr [replyLen]byte
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{
		srv:    s,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, 32<<10),
		ctx:    ctx,
		cancel: cancel,
		log:    s.log.With("conn", s.nextID.Add(1)),
	}
}

// run negotiates an export and serves it until the client disconnects. It
// returns nil on a clean NBD_OPT_ABORT or NBD_CMD_DISC.
func (c *conn) run() error {
	export, err := c.handshake()
	if export == nil {
		return err
	}
	c.export = export
	c.size = uint64(export.Size())
	c.readOnly = export.ReadOnly()
	return c.transmit()
}

// close releases the connection and its export.
func (c *conn) close() {
	c.cancel()
	c.nc.Close()
	if c.export != nil {
		c.closeExport(c.export)
	}
}

// closeExport closes e if it wants to be closed.
func (c *conn) closeExport(e Export) {
	if cl, ok := e.(io.Closer); ok {
		if err := cl.Close(); err != nil {
			c.log.Warn("nbd: closing export", "err", err)
		}
	}
}
