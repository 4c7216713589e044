package qemu

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/runtime/vnet"
)

// startNetwork builds the VM's network (runtime/vnet) on one end of a
// stream socket pair and returns the other end, for QEMU to inherit as
// its NIC's back end (`-netdev stream,addr.type=fd`). A goroutine asks
// for the instance's network every NetworkRefresh until release, so that
// rules authorized or revoked take effect on the running VM.
func (r *Runtime) startNetwork(inst openami.Instance, v *vm, in openami.InstanceNetwork) (*os.File, error) {
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
	n, err := vnet.New(vnet.Config{
		Conn: conn, Network: in, IMDS: r.cfg.IMDS(inst), Restrict: r.cfg.RestrictNetwork,
		BindDenied: r.logBindDenied, Log: r.cfg.Log.With("instance", inst.ID),
	})
	if err != nil {
		conn.Close()
		theirs.Close()
		return nil, err
	}
	v.net = n
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
			said = ""
			n.Update(in)
		}
	}()
	return theirs, nil
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
