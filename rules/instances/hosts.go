package instances

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// Compute hosts (docs/HOSTS.md). A node started as a host registers
// itself (RegisterHost) and renews its heartbeat (HeartbeatHost); from
// then on its worker runs only the instances placed on it, and every
// write a runtime job of it commits is fenced: it checks, in the same
// transaction, that the node still holds the host's lease (host/ID) at
// the epoch it registered with. A node that is no host runs the instances placed on
// none (HostID ""), as a single openami did before hosts: while no host
// is registered RunInstances places nothing, so the single-node default
// is unchanged.

// HostID derives a host's id from its node's id: h- and 17 hex digits, so
// that a node restarted on the same data directory is the same host.
func HostID(node string) string { return ids.Derived("h", "host", node) }

// self is this node's registration as a host: its id and the tenure of
// its lease it registered with.
type self struct {
	id    string
	lease openami.Lease
}

// hostLease names a host's lease (metadata/lease): its heartbeat is the
// lease's renewal, its death the lease's expiry by the database's clock.
func hostLease(id string) string { return "host/" + id }

// hostsIn returns, in the caller's transaction, every host with its
// lease's tenure: Epoch and Expires from the lease, and Lost when the
// lease was broken (released by a node that took over its instances).
func hostsIn(tx metadata.Tx) ([]openami.Host, error) {
	hosts, err := tx.Hosts().List()
	if err != nil || len(hosts) == 0 {
		return hosts, err
	}
	ls, err := lease.ListIn(tx, "host/")
	if err != nil {
		return nil, err
	}
	byName := map[string]openami.Lease{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	for k, h := range hosts {
		l := byName[hostLease(h.ID)]
		hosts[k].Epoch, hosts[k].Expires, hosts[k].Lost = l.Epoch, l.Expires, l.Holder == ""
	}
	return hosts, nil
}

// wallNow is what a host's lease expiry, a time of the database's clock,
// is compared with where only a view is needed (placement, status
// checks, listings): this node's clock. What must be exact (taking over a
// dead host's instances) is decided by the database (lease.BreakIn).
func wallNow() time.Time { return time.Now() }

// hostVMs are the instances whose VMs this node's runtime started and
// has not stopped or terminated since: what a host that lost its lease
// looks through to kill the VMs of instances no longer its own.
type hostVMs struct {
	mu  sync.Mutex
	vms map[string]openami.Instance
}

func (v *hostVMs) add(i openami.Instance) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.vms == nil {
		v.vms = map[string]openami.Instance{}
	}
	v.vms[i.ID] = i
}

func (v *hostVMs) remove(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.vms, id)
}

func (v *hostVMs) list() []openami.Instance {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]openami.Instance, 0, len(v.vms))
	for _, i := range v.vms {
		out = append(out, i)
	}
	return out
}

// hostState is what Machines keep of this node as a host.
type hostState struct {
	self atomic.Pointer[self]
	vms  hostVMs
	// suspended is set while this host cannot tell that its heartbeat
	// still holds (SuspendHost).
	suspended atomic.Bool
	// console and health are what this host last posted of its VMs'
	// consoles and health (hostconsole.go).
	console, health posted
}

// SuspendHost stops (on) or resumes (off) this host's acting on its
// instances: suspended, its worker starts, stops and watches none of
// them, though the VMs it runs go on. The service suspends a host whose
// heartbeat it could not renew for nearly its lifetime (cut off from
// the store), so that it stops acting before another node may declare
// it dead, and resumes it once a renewal succeeds.
func (s *Machines) SuspendHost(on bool) { s.hosts.suspended.Store(on) }

// Host returns this node's host id, and whether it is a host.
func (s *Machines) Host() (string, bool) {
	if me := s.hosts.self.Load(); me != nil {
		return me.id, true
	}
	return "", false
}

// RuntimeName is the name of the runtime that runs this node's instances.
func (s *Machines) RuntimeName() string { return s.runtime.Name() }

// runsHere reports whether this node's runtime runs the instance: one
// placed on this node's host, or, on a node that is no host, one placed
// on none.
func (s *Machines) runsHere(i openami.Instance) bool {
	me := s.hosts.self.Load()
	if me == nil {
		return i.HostID == ""
	}
	return i.HostID == me.id && !s.hosts.suspended.Load()
}

// errFenced is the refusal of a host's write under an epoch it no longer
// holds.
func errFenced(id string) error {
	return openami.ReasonErrorf(openami.IncorrectState, openami.ResourceHost, openami.ReasonFenced,
		"The host '%s' was declared dead by another node: its work no longer commits.", id)
}

// IsFenced reports whether err is a host's write refused because another
// node declared the host dead.
func IsFenced(err error) bool {
	var e *openami.Error
	return errors.As(err, &e) && e.Reason == openami.ReasonFenced
}

// checkFence fails, in the caller's transaction, unless this node is no
// host or it still holds its host's lease at the epoch it registered
// with, unexpired by the database's clock. A runtime job of a host calls it in every
// transaction that records what its VM did, so that a host that comes
// back after another node took over its instances commits nothing.
func (s *Machines) checkFence(tx metadata.Tx) error {
	me := s.hosts.self.Load()
	if me == nil {
		return nil
	}
	held, err := lease.HeldIn(tx, me.lease)
	if err != nil {
		return err
	}
	if !held {
		return errFenced(me.id)
	}
	return nil
}

// RegisterHost records this node as the compute host h (its ID, Node,
// Address, capacity, accelerator, runtime and zones; the rest is
// filled in), with a heartbeat that lapses after ttl unless
// HeartbeatHost renews it, and returns the record. Registering takes the
// host's lease, host/ID (InUse while another node holds it): its epoch
// increases unless this node held it the moment before (a restart within
// the ttl keeps it), and instances still placed on the host are its own
// again. A host that was draining stays draining. Before
// returning, it kills the VMs this process's runtime still runs for
// instances no longer its own (a host back after being declared dead).
func (s *Machines) RegisterHost(ctx context.Context, h openami.Host, ttl time.Duration) (openami.Host, error) {
	if h.ID == "" {
		h.ID = HostID(h.Node)
	}
	var held openami.Lease
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		l, ok, err := lease.AcquireIn(tx, hostLease(h.ID), h.Node, ttl)
		if err != nil {
			return err
		}
		if !ok {
			return openami.Errorf(openami.InUse, openami.ResourceHost, "The host '%s' is held by the node '%s' until %s.", h.ID, l.Holder, l.Expires.UTC().Format(time.RFC3339))
		}
		cur, err := tx.Hosts().Get(h.ID)
		switch {
		case errors.Is(err, openami.ErrNotFound):
			h.State = openami.HostActive
		case err != nil:
			return err
		default:
			h.State = cur.State
		}
		h.Epoch, h.Expires, h.Lost, h.Registered = l.Epoch, l.Expires, false, s.now().UTC()
		held = l
		return tx.Hosts().Put(h)
	})
	if err != nil {
		return openami.Host{}, err
	}
	s.hosts.self.Store(&self{id: h.ID, lease: held})
	s.killForeignVMs(ctx)
	s.kick()
	return h, nil
}

// HeartbeatHost renews this node's host heartbeat for ttl. It fails with
// a fenced error (IsFenced) when another node declared the host dead
// since it registered (the caller registers again, which kills the VMs
// of the instances that moved), and with the store's error when it
// cannot reach the store.
func (s *Machines) HeartbeatHost(ctx context.Context, ttl time.Duration) error {
	me := s.hosts.self.Load()
	if me == nil {
		return nil
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		ok, err := lease.RenewIn(tx, me.lease, ttl)
		if err != nil {
			return err
		}
		if !ok {
			return errFenced(me.id)
		}
		return nil
	})
}

// killForeignVMs terminates the VMs this node's runtime started for
// instances that are no longer its own: moved to another host, or
// stopped or terminated without it while it was declared dead. Their
// records are not touched: they are no longer this host's to write.
func (s *Machines) killForeignVMs(ctx context.Context) {
	for _, vm := range s.hosts.vms.list() {
		cur, err := s.instanceNow(ctx, vm.Region, vm.ID)
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			s.log().Warn("fencing: read instance", "instance", vm.ID, "error", err)
			continue
		}
		live := err == nil && cur.State != openami.InstanceStopped && cur.State != openami.InstanceTerminated
		if live && s.runsHere(cur) {
			continue
		}
		s.log().Warn("fencing: killing the VM of an instance no longer this host's", "instance", vm.ID)
		if err := s.runtime.Terminate(ctx, vm); err != nil {
			s.log().Error("fencing: kill VM", "instance", vm.ID, "error", err)
			continue
		}
		s.hosts.vms.remove(vm.ID)
	}
}

// Hosts returns every compute host, in id order.
func (s *Machines) Hosts(ctx context.Context) ([]openami.Host, error) {
	var list []openami.Host
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		list, err = hostsIn(tx)
		return err
	})
	return list, err
}

// DrainHost stops placing new instances (and restarted ones) on a host;
// its instances keep running. NotFound if there is no such host.
func (s *Machines) DrainHost(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		h, err := tx.Hosts().Get(id)
		if err != nil {
			return err
		}
		h.State = openami.HostDraining
		return tx.Hosts().Put(h)
	})
}

// RemoveHost forgets a host that runs no instance: InUse while any
// instance that is not stopped or terminated is placed on it (drain it
// and stop or terminate them first); NotFound if there is no such host.
// A removed host that is still running registers again when it
// restarts.
func (s *Machines) RemoveHost(ctx context.Context, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		if _, err := tx.Hosts().Get(id); err != nil {
			return err
		}
		load, err := s.hostLoads(tx)
		if err != nil {
			return err
		}
		if n := load[id].instances; n > 0 {
			return openami.Errorf(openami.InUse, openami.ResourceHost, "The host '%s' still runs %d instance(s).", id, n)
		}
		return tx.Hosts().Delete(id)
	})
}

// hostLoad is what the instances placed on a host use of it.
type hostLoad struct {
	instances int
	vcpus     int
	memoryMiB int64
	storeGiB  int64
}

// occupying are the states in which an instance counts against its
// host's capacity.
var occupying = []openami.InstanceState{openami.InstancePending, openami.InstanceRunning,
	openami.InstanceStopping, openami.InstanceShuttingDown}

// hostLoads returns, in the caller's transaction, what the instances of
// every served region use of each host. It reads every live instance:
// fine for the thousands a few hosts run (docs/HOSTS.md says what a
// bigger cluster needs).
func (s *Machines) hostLoads(tx metadata.Tx) (map[string]hostLoad, error) {
	loads := map[string]hostLoad{}
	for _, r := range s.regions {
		list, err := tx.Instances().List(r.Name, metadata.InstanceQuery{States: occupying})
		if err != nil {
			return nil, err
		}
		for _, i := range list {
			if i.HostID == "" {
				continue
			}
			l := loads[i.HostID]
			l.instances++
			if it, ok := LookupInstanceType(i.InstanceType); ok {
				l.vcpus += it.VCPUs
				l.memoryMiB += it.MemoryMiB
				l.storeGiB += it.InstanceStore.TotalGB()
			}
			loads[i.HostID] = l
		}
	}
	return loads, nil
}

// place picks, in the caller's transaction, hosts for up to most
// instances of type it in zone, spread: each goes to the host with the
// most vCPUs left, on active, alive hosts that serve the zone and have
// room for it. With no host registered at all it returns most empty ids
// (one node runs everything, as before hosts). Fewer than least fit:
// LimitExceeded (EC2's InsufficientInstanceCapacity).
func (s *Machines) place(tx metadata.Tx, zone string, it InstanceType, least, most int) ([]string, error) {
	hosts, err := hostsIn(tx)
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return make([]string, most), nil
	}
	loads, err := s.hostLoads(tx)
	if err != nil {
		return nil, err
	}
	now := wallNow()
	hosts = slices.DeleteFunc(hosts, func(h openami.Host) bool {
		return h.State != openami.HostActive || !h.Alive(now) || !h.ServesZone(zone)
	})
	fits := func(h openami.Host) bool {
		l := loads[h.ID]
		return l.vcpus+it.VCPUs <= h.VCPUs && l.memoryMiB+it.MemoryMiB <= h.MemoryMiB &&
			l.storeGiB+it.InstanceStore.TotalGB() <= h.InstanceStoreGiB
	}
	var out []string
	for len(out) < most {
		best := -1
		for k, h := range hosts {
			if !fits(h) {
				continue
			}
			if best < 0 || h.VCPUs-loads[h.ID].vcpus > hosts[best].VCPUs-loads[hosts[best].ID].vcpus {
				best = k
			}
		}
		if best < 0 {
			break
		}
		id := hosts[best].ID
		l := loads[id]
		l.instances++
		l.vcpus += it.VCPUs
		l.memoryMiB += it.MemoryMiB
		l.storeGiB += it.InstanceStore.TotalGB()
		loads[id] = l
		out = append(out, id)
	}
	if len(out) < least {
		return nil, openami.ReasonErrorf(openami.LimitExceeded, openami.ResourceHost, openami.ReasonHostCapacity,
			"We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", it.Name, zone)
	}
	return out, nil
}
