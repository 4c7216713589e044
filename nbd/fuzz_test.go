package nbd

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzConn plays input as the whole client side of one connection against
// a fresh server, and fails if the server does not finish once the client
// hangs up. Panics in the server's goroutines crash the fuzzer by
// themselves. The timeouts add up to less than the fuzzer's 10 s limit per
// input, so that a hang is reported here rather than as a dead worker.
func fuzzConn(t *testing.T, input []byte) {
	e := newMemExport(1 << 20)
	ro := newMemExport(4096)
	ro.ro = true
	srv := New(resolverFor(map[string]Export{"disk": e, "ro": ro}), nil)
	defer srv.Close()
	client, server := net.Pipe()
	srv.startConn(server)
	go io.Copy(io.Discard, client) // the server's replies

	// The server reads everything it is sent or hangs up: a write that
	// stalls means it stopped reading without closing.
	client.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err := client.Write(input)
	client.Close()
	if err != nil && !isHangup(err) {
		t.Fatalf("server stopped reading: %v", err)
	}
	done := make(chan struct{})
	go func() { srv.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("server did not finish after the client hung up")
	}
}

// clientHello is what a client sends before its first option.
func clientHello() []byte {
	return binary.BigEndian.AppendUint32(nil, flagCFixedNewstyle|flagCNoZeroes)
}

func appendOpt(b []byte, opt uint32, data []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, optMagic)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func appendRequest(b []byte, typ, flags uint16, handle, off uint64, length uint32, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, requestMagic)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, handle)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, payload...)
}

// goDisk is a complete negotiation ending in transmission on "disk".
func goDisk() []byte {
	return appendOpt(clientHello(), optGo, infoRequest("disk", infoBlockSize))
}

func FuzzHandshake(f *testing.F) {
	f.Add([]byte{})
	f.Add(clientHello())
	f.Add(goDisk())
	f.Add(appendOpt(clientHello(), optExportName, []byte("ro")))
	f.Add(appendOpt(clientHello(), optExportName, []byte("nope")))
	f.Add(appendOpt(appendOpt(clientHello(), optList, nil), optAbort, nil))
	f.Add(appendOpt(appendOpt(clientHello(), optInfo, infoRequest("ro", 0, 1, 2, 3)), optGo, infoRequest("nope")))
	f.Add(appendOpt(clientHello(), optGo, []byte{0, 0, 0, 9, 'd'}))
	f.Add(appendOpt(clientHello(), 8, nil))
	b := appendOpt(clientHello(), 42, nil)
	binary.BigEndian.PutUint32(b[len(b)-4:], maxOptionLen+1) // claims more data than sent
	f.Add(b)
	f.Fuzz(fuzzConn)
}

func FuzzRequests(f *testing.F) {
	var seq []byte
	seq = appendRequest(seq, cmdWrite, cmdFlagFUA, 1, 0, 8, []byte("abcdefgh"))
	seq = appendRequest(seq, cmdRead, 0, 2, 0, 8, nil)
	seq = appendRequest(seq, cmdFlush, 0, 3, 0, 0, nil)
	seq = appendRequest(seq, cmdTrim, 0, 4, 512, 512, nil)
	seq = appendRequest(seq, cmdWriteZeroes, cmdFlagNoHole, 5, 0, 4096, nil)
	f.Add(seq)
	f.Add(appendRequest(seq, cmdDisc, 0, 6, 0, 0, nil))
	f.Add(appendRequest(nil, cmdRead, 0, 1, 1<<20-1, 2, nil))
	f.Add(appendRequest(nil, cmdWrite, 0, 1, 0, maxBlockSize+1, []byte("short")))
	f.Add(appendRequest(nil, cmdWrite, 0, 1, 1<<20, 4, []byte("past")))
	f.Add(appendRequest(nil, 99, 0xffff, 1, 1<<63, 1<<31, nil))
	f.Add([]byte{0x25, 0x60, 0x95})
	f.Fuzz(func(t *testing.T, requests []byte) {
		fuzzConn(t, append(goDisk(), requests...))
	})
}
