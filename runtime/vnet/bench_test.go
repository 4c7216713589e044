package vnet

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/openami/openami"
)

// transferSize is what each benchmark iteration sends: the size of
// issue 14's scp measure.
const transferSize = 256 << 20

// resetPeakRSS starts a new peak RSS (VmHWM) for this process (Linux:
// clear_refs 5), so that a benchmark reports its own.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB returns this process's VmHWM in MB, 0 if unknown.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// sink accepts connections and counts what each reads until EOF, then
// closes it; done gets the byte count.
func sink(ln net.Listener, done chan<- int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			done <- n
		}()
	}
}

// send writes transferSize bytes to addr and waits for the receiver to
// have read them all.
func send(b *testing.B, addr string, done <-chan int64) {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0x5a}, 256<<10)
	for sent := 0; sent < transferSize; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if n := <-done; n != transferSize {
		b.Fatalf("received %d bytes, want %d", n, transferSize)
	}
	c.Close()
}

// BenchmarkIngress sends 256 MiB from the host to a TCP listener of the
// guest's stack through the public address's forward: host socket →
// network stack → framed stream (as to QEMU) → guest stack.
func BenchmarkIngress(b *testing.B) {
	public := freePublicIP(b)
	port := freePort(b, public)
	rule := openami.FirewallRule{Protocol: openami.ProtocolTCP, FromPort: port, ToPort: port, Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	_, conn, _ := testNetwork(b, openami.Firewall{Ingress: []openami.FirewallRule{rule}}, func(c *Config) { c.Network.PublicIP = public })
	g := guestStack(b, conn)
	ln, err := gonet.ListenTCP(g, tcpip.FullAddress{NIC: 1, Port: uint16(port)}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go sink(ln, done)
	addr := netip.AddrPortFrom(public, uint16(port)).String()
	b.SetBytes(transferSize)
	resetPeakRSS()
	b.ResetTimer()
	for range b.N {
		send(b, addr, done)
	}
	b.StopTimer()
	b.ReportMetric(peakRSSMB(), "peakRSS-MB")
}

// BenchmarkLoopback is the baseline: the same transfer over a plain
// loopback TCP connection.
func BenchmarkLoopback(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go sink(ln, done)
	b.SetBytes(transferSize)
	resetPeakRSS()
	b.ResetTimer()
	for range b.N {
		send(b, ln.Addr().String(), done)
	}
	b.StopTimer()
	b.ReportMetric(peakRSSMB(), "peakRSS-MB")
}
