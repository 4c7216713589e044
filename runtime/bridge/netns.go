package bridge

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// newNetns returns a new network namespace, held by the handle (it lives
// while the handle is open, and no longer: a crash takes it and
// everything in it away), with its loopback up and IPv4 forwarding on.
func newNetns() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := onThread(func() error {
		var err error
		ns, err = netns.New() // this thread is in it now; onThread switches back
		return err
	})
	if err != nil {
		return netns.None(), fmt.Errorf("bridge: a network namespace: %w", err)
	}
	return ns, nil
}

// inNetns runs f on a thread in network namespace ns: sockets f opens,
// links it makes, /proc/sys/net files it writes and processes it starts
// (the child inherits the thread's namespaces) are that namespace's.
func inNetns(ns netns.NsHandle, f func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("bridge: enter a VPC's network namespace: %w", err)
		}
		return f()
	})
}

// errStuck is onThread's failure to return its thread to the host's
// namespace.
var errStuck = errors.New("bridge: cannot return a thread to the host's network namespace")

// onThread runs f on a goroutine of its own, locked to its thread, and
// puts the thread back in this process's network namespace after; if it
// cannot, the thread is never unlocked, and ends with that goroutine
// (no other goroutine ever runs in the wrong namespace).
func onThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- fmt.Errorf("bridge: this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		ferr := f()
		if err := netns.Set(orig); err != nil {
			done <- errors.Join(ferr, errStuck)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
