package bridge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/openami/openami/runtime/dhcp"
)

// Each VPC's bridge has two services of openami's own, in the VPC's
// namespace: a DHCP server that hands each instance its private address
// (static leases by MAC, runtime/dhcp's answer), and the metadata
// service at 169.254.169.254, which answers each instance only about
// itself (by the connection's source address on that bridge).

// serve starts the bridge's DHCP server and metadata service, each on a
// socket bound to the bridge (SO_BINDTODEVICE), so that what they receive
// came in through it. It runs in the VPC's namespace, where the sockets
// are opened (and stay).
func (h *Host) serve(v *vpcBridge) error {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, v.name); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if network == "udp4" {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ":67")
	if err != nil {
		return fmt.Errorf("bridge: DHCP server on %s: %w", v.name, err)
	}
	v.dhcp = pc.(*net.UDPConn)
	ln, err := lc.Listen(context.Background(), "tcp4", ":0")
	if err != nil {
		return fmt.Errorf("bridge: metadata service on %s: %w", v.name, err)
	}
	v.imdsLn = ln
	v.imdsPort = ln.Addr().(*net.TCPAddr).Port
	v.imds = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { v.serveIMDS(w, r) }),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second,
	}
	v.wg.Go(func() { v.imds.Serve(ln) })
	v.wg.Go(func() { h.serveDHCP(v) })
	return nil
}

// serveIMDS hands a guest's request to its own instance's metadata
// service: the instance whose private address, on this bridge, the
// connection comes from. Any other source gets nothing.
func (v *vpcBridge) serveIMDS(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		if a := v.member(ap.Addr()); a != nil && a.imds != nil {
			a.imds.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "", http.StatusForbidden)
}

// serveDHCP answers DHCP requests on the bridge by the client's MAC
// address, broadcast on the bridge: the client has no address yet.
func (h *Host) serveDHCP(v *vpcBridge) {
	buf := make([]byte, 1500)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcp.ClientPort}
	for {
		n, _, err := v.dhcp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || req.OpCode != dhcpv4.OpcodeBootRequest {
			continue
		}
		a := v.memberByMAC(req.ClientHWAddr)
		if a == nil {
			continue
		}
		reply := dhcp.ReplyTo(req, a.lease(h.upstream.IsValid()))
		if reply == nil {
			continue
		}
		if _, err := v.dhcp.WriteToUDP(reply.ToBytes(), bcast); err != nil {
			h.cfg.Log.Warn("DHCP reply", "bridge", v.name, "instance", a.id, "err", err)
		}
	}
}

// lease is the instance's DHCP lease.
func (a *Attachment) lease(resolver bool) dhcp.Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := dhcp.Lease{
		Addr: a.in.PrivateIP, Subnet: a.in.Subnet, Router: a.in.Subnet.Addr().Next(),
		Hostname: a.in.Hostname, Domain: a.in.Domain, MTU: mtu,
	}
	if resolver {
		l.DNS = a.in.VPC.Addr().Next().Next()
	}
	return l
}
