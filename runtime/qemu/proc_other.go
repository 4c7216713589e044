//go:build !linux

package qemu

import "syscall"

// sysProcAttr puts QEMU in a process group of its own. Without Linux's
// parent-death signal, a VM outlives an openami that is killed; the next
// openami kills it at start (killLeftovers).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
