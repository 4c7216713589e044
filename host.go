package openami

import "time"

// ResourceHost is a compute host (docs/HOSTS.md).
const ResourceHost ResourceType = "host"

// HostState is what the operator allows of a compute host.
type HostState string

// The states of a host. Whether it is alive is not a state: it is its
// heartbeat (Host.Alive).
const (
	// HostActive: new instances may be placed on it.
	HostActive HostState = "active"
	// HostDraining: it keeps running its instances, but no new one (or
	// restarted one) is placed on it.
	HostDraining HostState = "draining"
)

// Host is a compute host: an openami node that runs instances' VMs
// (docs/HOSTS.md). It registers itself when it starts, and keeps its
// record alive with a heartbeat; a host whose heartbeat lapses is dead,
// and its instances are handled without it.
type Host struct {
	// ID is h- and 17 hex digits, derived from the node's id so that a
	// node restarted on the same data directory is the same host.
	ID string
	// Node is the id of the openami node that is the host.
	Node string
	// Address is where the other nodes reach it (host:port of its
	// endpoint).
	Address string
	// VCPUs, MemoryMiB and InstanceStoreGiB are its capacity: what the
	// instances placed on it may add up to.
	VCPUs            int
	MemoryMiB        int64
	InstanceStoreGiB int64
	// Accelerator is how its runtime runs VMs (kvm, hvf, tcg, none).
	Accelerator string
	// Runtime is its runtime's name (qemu, none).
	Runtime string
	// Zones are the availability zones it serves, by name; empty means
	// every zone of every region the node serves.
	Zones []string
	State HostState
	// Epoch, Expires and Lost are its lease's (host/ID, metadata/lease),
	// filled in when hosts are read: its heartbeat is the lease's
	// renewal. Epoch increases each time another node takes the lease
	// (or the host takes it again after losing it): work the host does
	// commits only while it holds the lease at the epoch it registered
	// with (fencing).
	Epoch int64
	// Expires is when its heartbeat lapses unless renewed, by the
	// database's clock.
	Expires time.Time
	// Lost is set once another node declared the host dead (its
	// heartbeat lapsed) and broke its lease to take over its instances;
	// registering again clears it.
	Lost bool
	// Registered is when it last registered.
	Registered time.Time
}

// Alive reports whether the host's heartbeat has not lapsed at now and
// no node has declared it dead.
func (h Host) Alive(now time.Time) bool { return !h.Lost && now.Before(h.Expires) }

// ServesZone reports whether instances of the zone may be placed on the
// host.
func (h Host) ServesZone(zone string) bool {
	if len(h.Zones) == 0 {
		return true
	}
	for _, z := range h.Zones {
		if z == zone {
			return true
		}
	}
	return false
}
