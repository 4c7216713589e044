package service

import (
	"context"
	"fmt"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// DefaultHostTTL is how long a compute host's heartbeat lasts unless
// renewed (serve's --host-ttl): it renews every third of it, and the
// other nodes take over its instances once it lapses (docs/HOSTS.md).
const DefaultHostTTL = 15 * time.Second

// HostConfig makes a node a compute host (docs/HOSTS.md): what it
// registers, and how often it beats.
type HostConfig struct {
	// Node is the node's id, from which the host's id derives and under
	// which it holds the host's lease; empty means the service's
	// (NodeID), so that a restarted node is the same host.
	Node string
	// Address is where the other nodes reach this one (host:port).
	Address string
	// VCPUs, MemoryMiB and InstanceStoreGiB are what instances placed on
	// the host may add up to.
	VCPUs            int
	MemoryMiB        int64
	InstanceStoreGiB int64
	// Accelerator is how the runtime runs VMs (kvm, tcg, none).
	Accelerator string
	// Zones are the availability zones the host serves (empty: all).
	Zones []string
	// TTL is the heartbeat's lifetime; 0 means DefaultHostTTL.
	TTL time.Duration
}

// RegisterHost makes this node the compute host cfg describes, named
// after its node, and keeps its heartbeat going until Close: from then on
// the worker runs the instances placed on it, and only those. Call it
// after UseRuntime and before Start. A heartbeat refused because another
// node declared the host dead registers it again (which kills the VMs of
// the instances that moved); one that cannot reach the store is retried
// at the next beat.
func (s *Service) RegisterHost(ctx context.Context, cfg HostConfig) (openami.Host, error) {
	if cfg.Node == "" {
		cfg.Node = s.NodeID()
	}
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = DefaultHostTTL
	}
	want := openami.Host{Node: cfg.Node, Address: cfg.Address, VCPUs: cfg.VCPUs, MemoryMiB: cfg.MemoryMiB,
		InstanceStoreGiB: cfg.InstanceStoreGiB, Accelerator: cfg.Accelerator, Zones: cfg.Zones,
		Runtime: s.instances.RuntimeName()}
	start := time.Now()
	h, err := s.instances.RegisterHost(ctx, want, ttl)
	if err != nil {
		return openami.Host{}, fmt.Errorf("service: register host: %w", err)
	}
	c := s.completions
	c.wg.Add(1)
	go s.heartbeat(h.ID, want, ttl, start)
	return h, nil
}

// hostMargin is how long before its heartbeat lapses, by its own clock, a
// host that could not renew it stops acting: a fraction of the ttl, so
// that it has stopped before any other node's clock sees the heartbeat
// lapse, clock drift and a slow transaction included.
func hostMargin(ttl time.Duration) time.Duration { return ttl / 5 }

// heartbeat renews the host's heartbeat every third of ttl until Close.
// Its own view of the heartbeat ends at (when its last successful renewal
// started) + ttl − margin, on the local monotonic clock: then it suspends
// the host's work on its instances (instances.Machines.SuspendHost),
// until a renewal succeeds again.
func (s *Service) heartbeat(id string, want openami.Host, ttl time.Duration, last time.Time) {
	c := s.completions
	defer c.wg.Done()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	held := time.NewTimer(time.Until(last.Add(ttl - hostMargin(ttl))))
	defer held.Stop()
	for {
		select {
		case <-c.context().Done():
			return
		case <-held.C:
			_, log := c.background()
			log.Error("host heartbeat not renewed in time: this host stops acting on its instances until it is", "host", id)
			s.instances.SuspendHost(true)
			continue
		case <-t.C:
		}
		ctx, log := c.background()
		began := time.Now()
		err := s.instances.HeartbeatHost(ctx, ttl)
		if instances.IsFenced(err) {
			log.Warn("this host was declared dead by another node: registering again", "host", id)
			_, err = s.instances.RegisterHost(ctx, want, ttl)
		}
		if err == nil {
			s.instances.SuspendHost(false)
			held.Reset(time.Until(began.Add(ttl - hostMargin(ttl))))
		} else if ctx.Err() == nil {
			log.Error("host heartbeat", "host", id, "error", err)
		}
		// Every beat is also a look for dead hosts' instances.
		c.kick()
	}
}
