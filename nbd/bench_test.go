package nbd

import (
	"encoding/binary"
	"io"
	"testing"
)

// benchPipeline pushes b.N requests of size n through one connection, depth
// at a time, like a sequential copy does. The client side reuses its
// buffers, so allocations reported are the server's.
func benchPipeline(b *testing.B, typ uint16, n int) {
	const depth = 8
	e := newMemExport(64 << 20)
	e.quiet = true
	_, path := startServer(b, map[string]Export{"disk": e})
	c, _ := open(b, path, "disk")
	c.t = b

	req := make([]byte, requestLen+n)
	if typ != cmdWrite {
		req = req[:requestLen]
	}
	rep := make([]byte, replyLen+n)
	if typ != cmdRead {
		rep = rep[:replyLen]
	}
	send := func(i int) {
		binary.BigEndian.PutUint32(req[0:], requestMagic)
		binary.BigEndian.PutUint16(req[6:], typ)
		binary.BigEndian.PutUint64(req[16:], uint64(i*n)%(64<<20))
		binary.BigEndian.PutUint32(req[24:], uint32(n))
		if _, err := c.nc.Write(req); err != nil {
			b.Fatal(err)
		}
	}
	recv := func() {
		if _, err := io.ReadFull(c.br, rep); err != nil {
			b.Fatal(err)
		}
		if binary.BigEndian.Uint32(rep[4:]) != 0 {
			b.Fatal("request failed")
		}
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i >= depth {
			recv()
		}
		send(i)
	}
	for range min(b.N, depth) {
		recv()
	}
}

func BenchmarkRead4K(b *testing.B)  { benchPipeline(b, cmdRead, 4<<10) }
func BenchmarkRead1M(b *testing.B)  { benchPipeline(b, cmdRead, 1<<20) }
func BenchmarkWrite1M(b *testing.B) { benchPipeline(b, cmdWrite, 1<<20) }
