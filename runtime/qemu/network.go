package qemu

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/runtime/bridge"
	"github.com/openami/openami/runtime/vnet"
)

// guestNetwork is one VM's network, of either mode.
type guestNetwork interface {
	// Update applies the instance's network as it now is.
	Update(openami.InstanceNetwork) error
	// Done is closed when the network has ended by itself (never, for
	// a tap: it ends with Close).
	Done() <-chan struct{}
	Close() error
}

// vnetNetwork is a VM's rootless network.
type vnetNetwork struct{ *vnet.Network }

func (n vnetNetwork) Update(in openami.InstanceNetwork) error { n.Network.Update(in); return nil }

// tapNetwork is a VM's tap on its VPC's bridge.
type tapNetwork struct{ *bridge.Attachment }

func (tapNetwork) Done() <-chan struct{} { return nil }

// startNetwork builds the VM's network and returns the file QEMU
// inherits as its NIC's back end: in the rootless mode, one end of a
// stream socket pair whose other end is the VM's own network
// (runtime/vnet; `-netdev stream,addr.type=fd`); in the bridge mode, the
// VM's tap on its VPC's bridge (runtime/bridge; `-netdev tap,fd=`). A
// goroutine asks for the instance's network every NetworkRefresh until
// release, so that rules authorized or revoked, and changes of the
// groups' members, take effect on the running VM.
func (r *Runtime) startNetwork(inst openami.Instance, v *vm, in openami.InstanceNetwork) (*os.File, error) {
	if r.bridges != nil {
		mac := inst.MacAddress
		if mac == "" {
			mac = "02:00:00:00:00:01"
		}
		a, err := r.bridges.Attach(inst.ID, inst.VpcID, mac, in, r.cfg.IMDS(inst))
		if err != nil {
			return nil, err
		}
		v.net = tapNetwork{a}
		r.refreshNetwork(inst, v)
		return a.Tap(), nil
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the VM's network socket: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "vnet")
	theirs := os.NewFile(uintptr(fds[1]), "qemu-net")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("the VM's network socket: %w", err)
	}
	vc := vnet.Config{
		Conn: conn, Network: in, IMDS: r.cfg.IMDS(inst), Restrict: r.cfg.RestrictNetwork,
		BindDenied: r.logBindDenied, Log: r.cfg.Log.With("instance", inst.ID),
	}
	if r.cfg.GatewayToHost {
		vc.HostLoopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	n, err := vnet.New(vc)
	if err != nil {
		conn.Close()
		theirs.Close()
		return nil, err
	}
	v.net = vnetNetwork{n}
	r.refreshNetwork(inst, v)
	return theirs, nil
}

// refreshNetwork asks for the instance's network every NetworkRefresh
// and applies it, until release.
func (r *Runtime) refreshNetwork(inst openami.Instance, v *vm) {
	n := v.net
	ctx, cancel := context.WithCancel(context.Background())
	v.stopNet, v.netDone = cancel, make(chan struct{})
	go func() {
		defer close(v.netDone)
		t := time.NewTicker(r.cfg.NetworkRefresh)
		defer t.Stop()
		said := "" // the failure last logged: a lasting one is said once
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.Done():
				return
			case <-t.C:
			}
			in, err := r.cfg.Network(ctx, inst)
			if err != nil {
				if ctx.Err() == nil && err.Error() != said {
					said = err.Error()
					r.cfg.Log.Warn("cannot refresh the instance's network; its rules stay as they were", "instance", inst.ID, "err", err)
				}
				continue
			}
			if err := n.Update(in); err != nil {
				if err.Error() != said {
					said = err.Error()
					r.cfg.Log.Warn("cannot apply the instance's network; its rules stay as they were", "instance", inst.ID, "err", err)
				}
				continue
			}
			said = ""
		}
	}()
}

// logBindDenied says, once per runtime, that public ports below the
// unprivileged range cannot be listened on, and how to allow it.
func (r *Runtime) logBindDenied(port int, err error) {
	if r.bindDenied.CompareAndSwap(false, true) {
		r.cfg.Log.Warn("cannot listen on a public port below net.ipv4.ip_unprivileged_port_start without privilege; "+
			"instances' ports below it (22, 80, 443, …) are not forwarded. Allow it with "+
			"`sysctl net.ipv4.ip_unprivileged_port_start=0` or `setcap cap_net_bind_service=+ep $(which openami)` (docs/NETWORK.md)",
			"port", port, "err", err)
	}
}
