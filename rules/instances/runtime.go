package instances

import (
	"context"

	"github.com/openami/openami"
)

// NoneRuntime runs no guest: instances move through their states as EC2's
// do, and their volumes are real, but nothing boots from them. It is the
// runtime of Machines unless they are given another (Config.Runtime,
// UseRuntime).
type NoneRuntime struct{}

// Name returns "none".
func (NoneRuntime) Name() string { return "none" }

// Start does nothing.
func (NoneRuntime) Start(context.Context, openami.Instance) error { return nil }

// Stop does nothing.
func (NoneRuntime) Stop(context.Context, openami.Instance, bool) error { return nil }

// Reboot does nothing.
func (NoneRuntime) Reboot(context.Context, openami.Instance) error { return nil }

// Terminate does nothing.
func (NoneRuntime) Terminate(context.Context, openami.Instance) error { return nil }

// ConsoleOutput returns nothing: no guest ever wrote to a console.
func (NoneRuntime) ConsoleOutput(context.Context, openami.Instance) ([]byte, error) { return nil, nil }
