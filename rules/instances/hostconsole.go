package instances

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Console output across nodes (docs/HOSTS.md). A VM's serial console is
// its host's; so that any node answers GetConsoleOutput, a host posts the
// last consoleTail bytes of each of its VMs' consoles to the metadata
// store (a setting per instance) on each pass of its worker, when they
// changed, as EC2 posts an instance's console output some time after it
// was written. A node that is not the instance's host answers with what
// was posted last; the host itself reads its runtime.

// consoleTail is how much of a console is posted: the most recent 64 KiB,
// what GetConsoleOutput returns on EC2.
const consoleTail = 64 << 10

// consoleKey names the setting that holds an instance's posted console.
func consoleKey(region, id string) string { return "console/" + region + "/" + id }

// healthKey names the setting that holds an instance's posted health.
func healthKey(region, id string) string { return "health/" + region + "/" + id }

// encodeHealth and decodeHealth are a posted health's form: its status,
// when it began to fail (Unix milliseconds) and why, one a line.
func encodeHealth(h openami.Health) []byte {
	var since int64
	if !h.Since.IsZero() {
		since = h.Since.UnixMilli()
	}
	return []byte(strconv.Itoa(int(h.Status)) + "\n" + strconv.FormatInt(since, 10) + "\n" + h.Reason)
}

func decodeHealth(b []byte) (openami.Health, bool) {
	parts := strings.SplitN(string(b), "\n", 3)
	if len(parts) != 3 {
		return openami.Health{}, false
	}
	st, err1 := strconv.Atoi(parts[0])
	ms, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return openami.Health{}, false
	}
	h := openami.Health{Status: openami.HealthStatus(st), Reason: parts[2]}
	if ms != 0 {
		h.Since = time.UnixMilli(ms).UTC()
	}
	return h, true
}

// posted remembers the digest of what a host last posted per instance.
type posted struct {
	mu  sync.Mutex
	sum map[string][32]byte
}

// changed reports whether out differs from what was last posted for id,
// and remembers it as posted.
func (p *posted) changed(id string, out []byte) bool {
	sum := sha256.Sum256(out)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sum == nil {
		p.sum = map[string][32]byte{}
	}
	if p.sum[id] == sum {
		return false
	}
	p.sum[id] = sum
	return true
}

// forget drops what was remembered of id.
func (p *posted) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sum, id)
}

// postConsoles posts the consoles of the VMs this host runs that changed
// since they were last posted. A node that is no host posts nothing: it
// answers for its own instances from its runtime.
func (s *Machines) postConsoles(ctx context.Context) error {
	if _, ok := s.Host(); !ok {
		return nil
	}
	checker, _ := s.runtime.(openami.HealthChecker)
	for _, vm := range s.hosts.vms.list() {
		if checker != nil {
			if err := s.postHealth(ctx, vm, checker.Health(vm)); err != nil {
				return err
			}
		}
		out, err := s.runtime.ConsoleOutput(ctx, vm)
		if err != nil || len(out) == 0 {
			continue // nothing yet, or no longer: the next pass sees
		}
		if len(out) > consoleTail {
			out = out[len(out)-consoleTail:]
		}
		if !s.hosts.console.changed(vm.ID, out) {
			continue
		}
		err = s.store.Update(ctx, func(tx metadata.Tx) error {
			if err := s.checkFence(tx); err != nil {
				return err
			}
			return tx.Settings().Put(consoleKey(vm.Region, vm.ID), out)
		})
		if err != nil {
			s.hosts.console.forget(vm.ID)
			return err
		}
	}
	return nil
}

// postHealth posts a VM's health when it changed since it was last
// posted.
func (s *Machines) postHealth(ctx context.Context, vm openami.Instance, h openami.Health) error {
	b := encodeHealth(h)
	if !s.hosts.health.changed(vm.ID, b) {
		return nil
	}
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if err := s.checkFence(tx); err != nil {
			return err
		}
		return tx.Settings().Put(healthKey(vm.Region, vm.ID), b)
	})
	if err != nil {
		s.hosts.health.forget(vm.ID)
	}
	return err
}

// postedHealth returns the health a host posted for an instance, and
// whether it posted any.
func postedHealth(tx metadata.Tx, i openami.Instance) (openami.Health, bool, error) {
	b, err := tx.Settings().Get(healthKey(i.Region, i.ID))
	if errors.Is(err, openami.ErrNotFound) {
		return openami.Health{}, false, nil
	}
	if err != nil {
		return openami.Health{}, false, err
	}
	h, ok := decodeHealth(b)
	return h, ok, nil
}

// postedConsole returns the console output a host posted for an
// instance; nil when none was.
func postedConsole(tx metadata.Tx, i openami.Instance) ([]byte, error) {
	out, err := tx.Settings().Get(consoleKey(i.Region, i.ID))
	if errors.Is(err, openami.ErrNotFound) {
		return nil, nil
	}
	return out, err
}

// rebootAsked reboots, in a job, the VM of a running instance whose
// reboot another node was asked for, then clears the mark (fenced: a
// host declared dead meanwhile leaves it for the instance's new life).
func (s *Machines) rebootAsked(ctx context.Context, i openami.Instance) {
	s.vmJobs.run(i.ID, func() {
		if err := s.runtime.Reboot(ctx, i); err != nil {
			if ctx.Err() == nil {
				s.log().Error("reboot asked through another node", "instance", i.ID, "error", err)
			}
			return
		}
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			if err := s.checkFence(tx); err != nil {
				return err
			}
			cur, err := tx.Instances().Get(i.Region, i.ID)
			if errors.Is(err, openami.ErrNotFound) || err == nil && !cur.RebootAsked {
				return nil
			}
			if err != nil {
				return err
			}
			cur.RebootAsked = false
			return tx.Instances().Update(cur)
		})
		if err != nil && ctx.Err() == nil {
			s.log().Error("reboot asked through another node", "instance", i.ID, "error", err)
		}
	})
}
