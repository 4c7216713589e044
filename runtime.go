package openami

import (
	"context"
	"time"
)

// Runtime runs instances. The service's background worker calls it for
// instances in transition, never inside a metadata transaction and never
// on the worker's own pass: each call runs in a job of its own, one at a
// time per instance, so a slow stop holds up nothing else. Start is
// called for pending instances, Stop for stopping ones, Terminate for
// shutting-down ones; CreateImage without NoReboot calls Stop and Start
// around its snapshots; RebootInstances calls Reboot. Each returns once
// the VM has reached the new state or failed to, except Start, which
// returns once the VM runs, without waiting for its guest to boot. Start
// of an instance whose VM already runs, and Stop or Terminate of one
// without a VM, succeed and do nothing. An error leaves the instance where
// it was, to be tried again on a later pass, except for Start, whose
// failure terminates the instance with a StateReason, as EC2 does with an
// instance that cannot launch.
type Runtime interface {
	// Name is what `serve --runtime` calls the runtime.
	Name() string
	Start(ctx context.Context, inst Instance) error
	// Stop shuts the VM down (cleanly unless force) and returns once it
	// has stopped; its volumes stay.
	Stop(ctx context.Context, inst Instance, force bool) error
	Reboot(ctx context.Context, inst Instance) error
	// Terminate stops the VM for good and releases whatever the runtime
	// holds for it. It is called for instances the runtime may never have
	// started, and must then succeed.
	Terminate(ctx context.Context, inst Instance) error
	// ConsoleOutput returns what the instance wrote to its serial
	// console, the most recent last.
	ConsoleOutput(ctx context.Context, inst Instance) ([]byte, error)
}

// VMState is what a Watcher runtime knows of a running instance's VM.
type VMState int

const (
	// VMRunning: the VM runs (or is being started or stopped).
	VMRunning VMState = iota
	// VMAbsent: the runtime has no VM for the instance, because openami
	// restarted since it was started. The worker boots it again.
	VMAbsent
	// VMPoweredOff: the guest powered its VM off by itself. The worker
	// moves the instance to stopping, or to shutting-down when its
	// InstanceInitiatedShutdownBehavior is terminate.
	VMPoweredOff
)

// Watcher is an optional capability of a Runtime whose VMs can end
// without being asked (a guest's poweroff, an openami restart). The
// worker asks it about every running instance on each pass.
type Watcher interface {
	VMState(inst Instance) VMState
}

// HealthStatus is the outcome of an instance status check.
type HealthStatus int

const (
	// HealthOK: the guest came up.
	HealthOK HealthStatus = iota
	// HealthInitializing: the guest has not come up yet, and still may.
	HealthInitializing
	// HealthImpaired: the guest did not come up in time, or its VM
	// stopped, panicked or died.
	HealthImpaired
)

// Health is what a runtime knows of a running instance's guest: EC2's
// instance status check (DescribeInstanceStatus).
type Health struct {
	Status HealthStatus
	// Reason says why the check fails (HealthImpaired only).
	Reason string
	// Since is when the check began to fail (HealthImpaired only).
	Since time.Time
}

// HealthChecker is an optional capability of a Runtime that can tell
// whether a running instance's guest came up. Runtimes without it report
// every running instance healthy.
type HealthChecker interface {
	Health(inst Instance) Health
}
