package qemu

import "syscall"

// sysProcAttr puts QEMU in a process group of its own (a Ctrl-C at
// openami's terminal reaches openami, which shuts the VMs down in order)
// and has the kernel kill it when the openami thread that started it
// ends (see startTied).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
