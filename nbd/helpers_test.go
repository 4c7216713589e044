package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// memExport is an in-memory Export that records what it is asked to do.
type memExport struct {
	ro    bool
	err   error // returned by every call but Size and ReadOnly when set
	quiet bool  // do not record ops, for benchmarks

	mu      sync.Mutex
	data    []byte
	writes  int      // completed writes, trims and zeroings
	flushes []int    // value of writes at each Flush
	ops     []string // every call, for assertions
	gates   map[int64]chan struct{}
	entered chan string // if set, receives each gated op as it starts waiting
	closed  int
}

func newMemExport(size int) *memExport {
	return &memExport{data: make([]byte, size), gates: map[int64]chan struct{}{}}
}

// gate makes operations at off wait until the returned function is called
// (or their context ends).
func (m *memExport) gate(off int64) (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.gates[off] = ch
	m.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (m *memExport) enter(ctx context.Context, op string, off, n int64) error {
	m.mu.Lock()
	if !m.quiet {
		m.ops = append(m.ops, fmt.Sprintf("%s %d %d", op, off, n))
	}
	gate := m.gates[off]
	entered := m.entered
	m.mu.Unlock()
	if gate != nil {
		if entered != nil {
			entered <- op
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return m.err
}

func (m *memExport) Size() int64    { return int64(len(m.data)) }
func (m *memExport) ReadOnly() bool { return m.ro }

func (m *memExport) ReadAt(ctx context.Context, p []byte, off int64) error {
	if err := m.enter(ctx, "read", off, int64(len(p))); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(p, m.data[off:])
	return nil
}

func (m *memExport) WriteAt(ctx context.Context, p []byte, off int64) error {
	if err := m.enter(ctx, "write", off, int64(len(p))); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.data[off:], p)
	m.writes++
	return nil
}

func (m *memExport) Flush(ctx context.Context) error {
	if err := m.enter(ctx, "flush", 0, 0); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushes = append(m.flushes, m.writes)
	return nil
}

func (m *memExport) Trim(ctx context.Context, off, n int64) error {
	if err := m.enter(ctx, "trim", off, n); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	return nil
}

func (m *memExport) WriteZeroes(ctx context.Context, off, n int64) error {
	if err := m.enter(ctx, "zero", off, n); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.data[off : off+n])
	m.writes++
	return nil
}

func (m *memExport) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed++
	return nil
}

// snapshot returns a copy of what the export recorded.
func (m *memExport) snapshot() (ops []string, flushes []int, closed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ops), slices.Clone(m.flushes), m.closed
}

// bytes returns a copy of n bytes of the export's data at off.
func (m *memExport) bytes(off, n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.data[off : off+n])
}

// resolverFor serves the given exports by name.
func resolverFor(exports map[string]Export) Resolver {
	return func(ctx context.Context, name string) (Export, error) {
		if e, ok := exports[name]; ok {
			return e, nil
		}
		return nil, errors.New("no such export")
	}
}

// testLogger logs to the test at Debug level, so failures show the server's view.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// startServer serves exports on a unix socket in a temporary directory and
// returns the socket path. The server is closed when the test ends.
func startServer(t testing.TB, exports map[string]Export) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nbd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(resolverFor(exports), testLogger(t))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, path
}

// testClient is a minimal NBD client that reports protocol surprises as
// test failures.
type testClient struct {
	t     testing.TB
	nc    net.Conn
	br    *bufio.Reader
	reads map[uint64]int // handle → length of pending reads
}

func dial(t testing.TB, path string) *testClient {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &testClient{t: t, nc: nc, br: bufio.NewReader(nc), reads: map[uint64]int{}}
}

func (c *testClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testClient) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// expectEOF checks that the server closed the connection.
func (c *testClient) expectEOF() {
	c.t.Helper()
	if b, err := c.br.ReadByte(); err == nil {
		c.t.Fatalf("read %#x, want the connection closed", b)
	}
}

// hello reads the server's greeting, checks it and sends client flags.
func (c *testClient) hello(flags uint32) {
	c.t.Helper()
	b := c.read(18)
	if binary.BigEndian.Uint64(b) != nbdMagic || binary.BigEndian.Uint64(b[8:]) != optMagic {
		c.t.Fatalf("bad greeting % x", b)
	}
	if f := binary.BigEndian.Uint16(b[16:]); f != flagFixedNewstyle|flagNoZeroes {
		c.t.Fatalf("handshake flags %#x", f)
	}
	c.write(binary.BigEndian.AppendUint32(nil, flags))
}

func (c *testClient) sendOpt(opt uint32, data []byte) {
	c.t.Helper()
	c.sendOptLen(opt, uint32(len(data)), data)
}

// sendOptLen sends an option header claiming n bytes of data, then data.
func (c *testClient) sendOptLen(opt, n uint32, data []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint64(nil, optMagic)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, n)
	c.write(append(b, data...))
}

type optReply struct {
	opt, typ uint32
	data     []byte
}

func (c *testClient) optReply() optReply {
	c.t.Helper()
	h := c.read(20)
	if m := binary.BigEndian.Uint64(h); m != repMagic {
		c.t.Fatalf("option reply magic %#x", m)
	}
	r := optReply{opt: binary.BigEndian.Uint32(h[8:]), typ: binary.BigEndian.Uint32(h[12:])}
	r.data = c.read(int(binary.BigEndian.Uint32(h[16:])))
	return r
}

// expectOptReply reads one reply and checks its option and type.
func (c *testClient) expectOptReply(opt, typ uint32) optReply {
	c.t.Helper()
	r := c.optReply()
	if r.opt != opt || r.typ != typ {
		c.t.Fatalf("reply to option %d: got option %d type %#x (%q), want type %#x", opt, r.opt, r.typ, r.data, typ)
	}
	return r
}

func infoRequest(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

type exportInfo struct {
	size                   uint64
	flags                  uint16
	minBlock, pref, maxBlk uint32
}

// info sends NBD_OPT_INFO or NBD_OPT_GO for name and reads a successful
// reply.
func (c *testClient) info(opt uint32, name string) exportInfo {
	c.t.Helper()
	c.sendOpt(opt, infoRequest(name, infoBlockSize))
	var info exportInfo
	for {
		r := c.optReply()
		if r.opt != opt {
			c.t.Fatalf("reply to option %d for option %d", opt, r.opt)
		}
		switch r.typ {
		case repAck:
			if info.flags == 0 || info.minBlock == 0 {
				c.t.Fatalf("ack without export or block size info: %+v", info)
			}
			return info
		case repInfo:
			switch binary.BigEndian.Uint16(r.data) {
			case infoExport:
				info.size = binary.BigEndian.Uint64(r.data[2:])
				info.flags = binary.BigEndian.Uint16(r.data[10:])
			case infoBlockSize:
				info.minBlock = binary.BigEndian.Uint32(r.data[2:])
				info.pref = binary.BigEndian.Uint32(r.data[6:])
				info.maxBlk = binary.BigEndian.Uint32(r.data[10:])
			}
		default:
			c.t.Fatalf("option %d: reply %#x %q", opt, r.typ, r.data)
		}
	}
}

// open connects, negotiates and enters transmission on export name.
func open(t testing.TB, path, name string) (*testClient, exportInfo) {
	t.Helper()
	c := dial(t, path)
	c.hello(flagCFixedNewstyle | flagCNoZeroes)
	return c, c.info(optGo, name)
}

// send sends one request; payload follows the header as is.
func (c *testClient) send(typ, flags uint16, handle, off uint64, length uint32, payload []byte) {
	c.t.Helper()
	b := make([]byte, requestLen, requestLen+len(payload))
	binary.BigEndian.PutUint32(b[0:], requestMagic)
	binary.BigEndian.PutUint16(b[4:], flags)
	binary.BigEndian.PutUint16(b[6:], typ)
	binary.BigEndian.PutUint64(b[8:], handle)
	binary.BigEndian.PutUint64(b[16:], off)
	binary.BigEndian.PutUint32(b[24:], length)
	if typ == cmdRead {
		c.reads[handle] = int(length)
	}
	c.write(append(b, payload...))
}

// recv reads one simple reply, with its data if it answers a read.
func (c *testClient) recv() (handle uint64, errno uint32, data []byte) {
	c.t.Helper()
	h := c.read(replyLen)
	if m := binary.BigEndian.Uint32(h); m != simpleReplyMagic {
		c.t.Fatalf("reply magic %#x", m)
	}
	errno, handle = binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:])
	n, isRead := c.reads[handle]
	delete(c.reads, handle)
	if isRead && errno == 0 {
		data = c.read(n)
	}
	return handle, errno, data
}

// do sends one request and returns the error value and data of its reply.
func (c *testClient) do(typ, flags uint16, off uint64, length uint32, payload []byte) (uint32, []byte) {
	c.t.Helper()
	c.send(typ, flags, 1, off, length, payload)
	h, errno, data := c.recv()
	if h != 1 {
		c.t.Fatalf("reply for handle %d, want 1", h)
	}
	return errno, data
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
