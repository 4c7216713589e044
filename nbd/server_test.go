package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	const size = 1 << 20
	disk, ro := newMemExport(size), newMemExport(size)
	ro.ro = true
	_, path := startServer(t, map[string]Export{"disk": disk, "ro": ro})
	rw := uint16(flagHasFlags | flagSendFlush | flagSendFUA | flagSendTrim | flagSendWriteZeroes)

	// checkServes checks that the connection is in transmission on disk.
	checkServes := func(t *testing.T, c *testClient) {
		t.Helper()
		if errno, _ := c.do(cmdRead, 0, 0, 512, nil); errno != 0 {
			t.Fatalf("read after handshake: errno %d", errno)
		}
	}

	tests := []struct {
		name string
		run  func(t *testing.T, c *testClient)
	}{
		{"go", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle | flagCNoZeroes)
			got := c.info(optGo, "disk")
			want := exportInfo{size: size, flags: rw, minBlock: 1, pref: 4096, maxBlk: 32 << 20}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			checkServes(t, c)
		}},
		{"go read-only", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			if got := c.info(optGo, "ro"); got.flags != rw|flagReadOnly {
				t.Fatalf("flags %#x", got.flags)
			}
		}},
		{"go without info requests", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optGo, infoRequest("disk"))
			c.expectOptReply(optGo, repInfo)
			c.expectOptReply(optGo, repInfo)
			c.expectOptReply(optGo, repAck)
			checkServes(t, c)
		}},
		{"go unknown export then known", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optGo, infoRequest("vol-nope", infoBlockSize))
			c.expectOptReply(optGo, repErrUnknown)
			c.info(optGo, "disk")
			checkServes(t, c)
		}},
		{"info then go", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			closed := ro.closedCount()
			if got := c.info(optInfo, "ro"); got.size != size {
				t.Fatalf("info size %d", got.size)
			}
			if ro.closedCount() != closed+1 {
				t.Fatal("export not closed after NBD_OPT_INFO")
			}
			c.info(optGo, "disk")
			checkServes(t, c)
		}},
		{"info unknown export", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optInfo, infoRequest("vol-nope"))
			c.expectOptReply(optInfo, repErrUnknown)
		}},
		{"malformed info requests", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			bad := [][]byte{
				nil,
				{0, 0, 0},
				binary.BigEndian.AppendUint32(nil, 100), // name longer than the data
				append(infoRequest("disk", 3), 0),       // trailing byte
				infoRequest("disk", 3)[:10],             // missing info request
			}
			for _, data := range bad {
				c.sendOpt(optGo, data)
				c.expectOptReply(optGo, repErrInvalid)
			}
			c.info(optGo, "disk")
		}},
		{"name too long", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optGo, infoRequest(string(make([]byte, maxNameLen+1))))
			c.expectOptReply(optGo, repErrInvalid)
		}},
		{"list refused", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optList, nil)
			c.expectOptReply(optList, repErrPolicy)
			c.info(optGo, "disk")
		}},
		{"unsupported options", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			for _, opt := range []uint32{8 /* STRUCTURED_REPLY */, 5 /* STARTTLS */, 10, 0, 0xffffffff} {
				c.sendOpt(opt, []byte("ignored"))
				c.expectOptReply(opt, repErrUnsup)
			}
			c.info(optGo, "disk")
		}},
		{"option too long is skipped", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optGo, make([]byte, maxOptionLen+1))
			c.expectOptReply(optGo, repErrTooBig)
			c.info(optGo, "disk")
			checkServes(t, c)
		}},
		{"absurd option length closes", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOptLen(optGo, maxOptionSkip+1, nil)
			c.expectEOF()
		}},
		{"bad option magic closes", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.write(make([]byte, optHeaderLen))
			c.expectEOF()
		}},
		{"unknown client flags close", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle | 1<<2)
			c.expectEOF()
		}},
		{"abort", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle)
			c.sendOpt(optAbort, nil)
			c.expectOptReply(optAbort, repAck)
			c.expectEOF()
		}},
		{"export name without zeroes", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle | flagCNoZeroes)
			c.sendOpt(optExportName, []byte("disk"))
			b := c.read(10)
			if binary.BigEndian.Uint64(b) != size || binary.BigEndian.Uint16(b[8:]) != rw {
				t.Fatalf("export name reply % x", b)
			}
			checkServes(t, c)
		}},
		{"export name with zeroes", func(t *testing.T, c *testClient) {
			c.hello(0) // not even fixed newstyle: an old client
			c.sendOpt(optExportName, []byte("ro"))
			b := c.read(10 + zeroPaddingLen)
			if binary.BigEndian.Uint64(b) != size || binary.BigEndian.Uint16(b[8:]) != rw|flagReadOnly {
				t.Fatalf("export name reply % x", b[:10])
			}
			if !bytes.Equal(b[10:], make([]byte, zeroPaddingLen)) {
				t.Fatal("padding is not zeroes")
			}
			checkServes(t, c)
		}},
		{"export name unknown closes", func(t *testing.T, c *testClient) {
			c.hello(flagCFixedNewstyle | flagCNoZeroes)
			c.sendOpt(optExportName, []byte("vol-nope"))
			c.expectEOF()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, dial(t, path)) })
	}
}

func (m *memExport) closedCount() int {
	_, _, closed := m.snapshot()
	return closed
}

func TestCommands(t *testing.T) {
	const size = 40 << 20 // larger than a request, to tell oversize from out of range
	const (
		ok  = 0
		big = maxBlockSize + 1
	)
	tests := []struct {
		name      string
		ro        bool
		exportErr error
		typ       uint16
		flags     uint16
		off       uint64
		length    uint32
		payload   []byte
		want      uint32
		wantOps   []string // nil: do not check
	}{
		{name: "read", typ: cmdRead, off: 4096, length: 8192, want: ok, wantOps: []string{"read 4096 8192"}},
		{name: "read to the end", typ: cmdRead, off: size - 512, length: 512, want: ok},
		{name: "read with FUA", typ: cmdRead, flags: cmdFlagFUA, length: 512, want: ok, wantOps: []string{"read 0 512"}},
		{name: "read empty", typ: cmdRead, off: 10, want: ok, wantOps: []string{}},
		{name: "read past the end", typ: cmdRead, off: size - 512, length: 1024, want: errnoInval, wantOps: []string{}},
		{name: "read offset past the end", typ: cmdRead, off: size + 1, want: errnoInval, wantOps: []string{}},
		{name: "read offset overflow", typ: cmdRead, off: 1<<64 - 1, length: 2, want: errnoInval, wantOps: []string{}},
		{name: "read oversize", typ: cmdRead, length: big, want: errnoInval, wantOps: []string{}},
		{name: "read maximum", typ: cmdRead, length: maxBlockSize, want: ok},
		{name: "read with NO_HOLE", typ: cmdRead, flags: cmdFlagNoHole, length: 512, want: errnoInval, wantOps: []string{}},
		{name: "read with unknown flag", typ: cmdRead, flags: 1 << 9, length: 512, want: errnoInval, wantOps: []string{}},
		{name: "write", typ: cmdWrite, off: 512, length: 1024, payload: pattern(1024, 1), want: ok, wantOps: []string{"write 512 1024"}},
		{name: "write FUA", typ: cmdWrite, flags: cmdFlagFUA, length: 512, payload: pattern(512, 2), want: ok, wantOps: []string{"write 0 512", "flush 0 0"}},
		{name: "write empty", typ: cmdWrite, want: ok, wantOps: []string{}},
		{name: "write past the end", typ: cmdWrite, off: size - 1, length: 2, payload: []byte{1, 2}, want: errnoNoSpc, wantOps: []string{}},
		{name: "write oversize", typ: cmdWrite, length: big, payload: make([]byte, big), want: errnoInval, wantOps: []string{}},
		{name: "write with NO_HOLE", typ: cmdWrite, flags: cmdFlagNoHole, length: 1, payload: []byte{1}, want: errnoInval, wantOps: []string{}},
		{name: "write read-only", ro: true, typ: cmdWrite, length: 4, payload: []byte{1, 2, 3, 4}, want: errnoPerm, wantOps: []string{}},
		{name: "flush", typ: cmdFlush, want: ok, wantOps: []string{"flush 0 0"}},
		{name: "flush FUA", typ: cmdFlush, flags: cmdFlagFUA, want: ok, wantOps: []string{"flush 0 0"}},
		{name: "flush with NO_HOLE", typ: cmdFlush, flags: cmdFlagNoHole, want: errnoInval, wantOps: []string{}},
		{name: "flush read-only", ro: true, typ: cmdFlush, want: ok},
		{name: "trim", typ: cmdTrim, off: 4096, length: 4096, want: ok, wantOps: []string{"trim 4096 4096"}},
		{name: "trim larger than a request", typ: cmdTrim, length: size, want: ok, wantOps: []string{fmt.Sprintf("trim 0 %d", size)}},
		{name: "trim FUA", typ: cmdTrim, flags: cmdFlagFUA, length: 512, want: ok, wantOps: []string{"trim 0 512", "flush 0 0"}},
		{name: "trim past the end", typ: cmdTrim, off: size, length: 1, want: errnoInval, wantOps: []string{}},
		{name: "trim read-only", ro: true, typ: cmdTrim, length: 512, want: errnoPerm, wantOps: []string{}},
		{name: "zeroes", typ: cmdWriteZeroes, off: 1024, length: 2048, want: ok, wantOps: []string{"zero 1024 2048"}},
		{name: "zeroes NO_HOLE FUA", typ: cmdWriteZeroes, flags: cmdFlagNoHole | cmdFlagFUA, length: 512, want: ok, wantOps: []string{"zero 0 512", "flush 0 0"}},
		{name: "zeroes fast zero", typ: cmdWriteZeroes, flags: 1 << 4, length: 512, want: errnoInval, wantOps: []string{}},
		{name: "zeroes past the end", typ: cmdWriteZeroes, off: size - 1, length: 2, want: errnoNoSpc, wantOps: []string{}},
		{name: "zeroes oversize", typ: cmdWriteZeroes, length: big, want: errnoInval, wantOps: []string{}},
		{name: "zeroes read-only", ro: true, typ: cmdWriteZeroes, length: 512, want: errnoPerm, wantOps: []string{}},
		{name: "cache", typ: 5, length: 512, want: errnoInval, wantOps: []string{}},
		{name: "block status", typ: 7, length: 512, want: errnoInval, wantOps: []string{}},
		{name: "unknown command", typ: 0xffff, want: errnoInval, wantOps: []string{}},
		{name: "read export error", exportErr: errors.New("disk on fire"), typ: cmdRead, length: 512, want: errnoIO},
		{name: "write export error", exportErr: os.ErrDeadlineExceeded, typ: cmdWrite, length: 1, payload: []byte{1}, want: errnoIO},
		{name: "write no space", exportErr: fmt.Errorf("quota: %w", ErrNoSpace), typ: cmdWrite, length: 1, payload: []byte{1}, want: errnoNoSpc},
		{name: "zeroes read-only error", exportErr: fmt.Errorf("snapshot: %w", ErrReadOnly), typ: cmdWriteZeroes, length: 1, want: errnoPerm},
		{name: "flush export error", exportErr: errors.New("fsync"), typ: cmdFlush, want: errnoIO},
	}
	base := pattern(size, 9)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newMemExport(size)
			copy(e.data, base)
			e.ro, e.err = tt.ro, tt.exportErr
			_, path := startServer(t, map[string]Export{"disk": e})
			c, _ := open(t, path, "disk")

			errno, data := c.do(tt.typ, tt.flags, tt.off, tt.length, tt.payload)
			if errno != tt.want {
				t.Fatalf("errno %d, want %d", errno, tt.want)
			}
			ops, _, _ := e.snapshot()
			if tt.wantOps != nil && !slices.Equal(ops, tt.wantOps) {
				t.Fatalf("export calls %q, want %q", ops, tt.wantOps)
			}
			if tt.typ == cmdRead && errno == 0 && !bytes.Equal(data, base[tt.off:tt.off+uint64(tt.length)]) {
				t.Fatal("read returned the wrong data")
			}
			if tt.typ == cmdWrite && errno == 0 {
				if !bytes.Equal(e.bytes(int(tt.off), int(tt.length)), tt.payload) {
					t.Fatal("write did not reach the export")
				}
			}
			// The connection is still in sync: a refused write's payload
			// was consumed, and the next request works.
			if errno, _ := c.do(cmdRead, 0, 0, 512, nil); tt.exportErr == nil && errno != 0 {
				t.Fatalf("read after the request: errno %d", errno)
			}
			c.send(cmdDisc, 0, 2, 0, 0, nil)
			c.expectEOF()
		})
	}
}

func TestZeroesAndWritesReachExport(t *testing.T) {
	e := newMemExport(1 << 20)
	copy(e.data, pattern(1<<20, 3))
	_, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")
	if errno, _ := c.do(cmdWriteZeroes, 0, 4096, 8192, nil); errno != 0 {
		t.Fatalf("zeroes: errno %d", errno)
	}
	_, data := c.do(cmdRead, 0, 0, 16384, nil)
	want := pattern(1<<20, 3)[:16384]
	clear(want[4096 : 4096+8192])
	if !bytes.Equal(data, want) {
		t.Fatal("zeroes not read back")
	}
}

func TestBadRequestMagicCloses(t *testing.T) {
	_, path := startServer(t, map[string]Export{"disk": newMemExport(4096)})
	c, _ := open(t, path, "disk")
	c.write(make([]byte, requestLen))
	c.expectEOF()
}

func TestPipelinedOutOfOrder(t *testing.T) {
	e := newMemExport(1 << 20)
	copy(e.data, pattern(1<<20, 5))
	release := e.gate(0)
	_, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")

	// The first read blocks in the export; the ones after it must still
	// be answered, proving requests run concurrently.
	c.send(cmdRead, 0, 1, 0, 4096, nil)
	for h := uint64(2); h <= 20; h++ {
		c.send(cmdRead, 0, h, h*4096, 4096, nil)
	}
	seen := map[uint64]bool{}
	for range 19 {
		h, errno, data := c.recv()
		if h == 1 || errno != 0 || seen[h] {
			t.Fatalf("reply handle %d errno %d (seen before: %v)", h, errno, seen[h])
		}
		if !bytes.Equal(data, pattern(1<<20, 5)[h*4096:(h+1)*4096]) {
			t.Fatalf("handle %d: wrong data", h)
		}
		seen[h] = true
	}
	release()
	if h, errno, data := c.recv(); h != 1 || errno != 0 || !bytes.Equal(data, pattern(1<<20, 5)[:4096]) {
		t.Fatalf("last reply: handle %d errno %d", h, errno)
	}
}

func TestFlushWaitsForEarlierWrites(t *testing.T) {
	e := newMemExport(1 << 20)
	release := e.gate(0)
	_, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")

	c.send(cmdWrite, 0, 1, 0, 512, pattern(512, 1))
	c.send(cmdFlush, 0, 2, 0, 0, nil)
	// Nothing may be answered while the write is blocked.
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("reply while the write is blocked: %v", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	release()
	for _, want := range []uint64{1, 2} {
		if h, errno, _ := c.recv(); h != want || errno != 0 {
			t.Fatalf("reply handle %d errno %d, want handle %d", h, errno, want)
		}
	}
	if _, flushes, _ := e.snapshot(); !slices.Equal(flushes, []int{1}) {
		t.Fatalf("flush saw %v writes, want [1]", flushes)
	}
}

func TestDiscWaitsForRequestsInFlight(t *testing.T) {
	e := newMemExport(1 << 20)
	release := e.gate(4096)
	_, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")

	c.send(cmdWrite, 0, 1, 4096, 512, pattern(512, 1))
	c.send(cmdDisc, 0, 2, 0, 0, nil)
	time.AfterFunc(50*time.Millisecond, release)
	if h, errno, _ := c.recv(); h != 1 || errno != 0 {
		t.Fatalf("reply handle %d errno %d", h, errno)
	}
	c.expectEOF()
	if !bytes.Equal(e.bytes(4096, 512), pattern(512, 1)) {
		t.Fatal("write in flight at NBD_CMD_DISC was lost")
	}
}

func TestExportClosedWhenConnectionEnds(t *testing.T) {
	e := newMemExport(4096)
	srv, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")
	c.send(cmdDisc, 0, 1, 0, 0, nil)
	c.expectEOF()
	srv.Close() // waits for the handler, which closes the export
	if n := e.closedCount(); n != 1 {
		t.Fatalf("export closed %d times, want 1", n)
	}
}

func TestCloseCancelsSlowExport(t *testing.T) {
	e := newMemExport(1 << 20)
	e.gate(0) // never released: only cancellation ends the read
	e.entered = make(chan string, 1)
	srv, path := startServer(t, map[string]Export{"disk": e})
	c, _ := open(t, path, "disk")
	c.send(cmdRead, 0, 1, 0, 512, nil)
	<-e.entered

	// A second connection still negotiating must not hold Close up either.
	c2 := dial(t, path)
	c2.hello(flagCFixedNewstyle)

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// The cancelled read may be answered with NBD_ESHUTDOWN before the
	// connection closes.
	if b, err := c.br.Peek(replyLen); err == nil {
		if _, errno, _ := c.recv(); errno != errnoShut {
			t.Fatalf("cancelled read: errno %d, want ESHUTDOWN % x", errno, b)
		}
	}
	c.expectEOF()
	c2.expectEOF()
	if n := e.closedCount(); n != 1 {
		t.Fatalf("export closed %d times, want 1", n)
	}
}

func TestServeAfterClose(t *testing.T) {
	srv := New(resolverFor(nil), nil)
	srv.Close()
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("listener left open: %v", err)
	}
}

func TestServeReturnsWhenListenerCloses(t *testing.T) {
	srv := New(resolverFor(nil), nil)
	defer srv.Close()
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, func() { l.Close() })
	if err := srv.Serve(l); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestSeveralListeners(t *testing.T) {
	e := newMemExport(4096)
	srv := New(resolverFor(map[string]Export{"disk": e}), testLogger(t))
	dir := t.TempDir()
	served := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		l, err := net.Listen("unix", dir+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		go func() { served <- srv.Serve(l) }()
	}
	for _, name := range []string{"a", "b"} {
		c, _ := open(t, dir+"/"+name, "disk")
		if errno, _ := c.do(cmdRead, 0, 0, 512, nil); errno != 0 {
			t.Fatalf("listener %s: errno %d", name, errno)
		}
	}
	srv.Close()
	for range 2 {
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	}
}

func TestResolverGetsConnectionContext(t *testing.T) {
	var got context.Context
	srv := New(func(ctx context.Context, name string) (Export, error) {
		got = ctx
		return newMemExport(4096), nil
	}, nil)
	path := t.TempDir() + "/s"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	c, _ := open(t, path, "any")
	c.send(cmdDisc, 0, 1, 0, 0, nil)
	c.expectEOF()
	srv.Close()
	if got == nil || got.Err() == nil {
		t.Fatal("resolver context not cancelled after the connection ended")
	}
}
