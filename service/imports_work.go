package service

import (
	"context"
	"time"

	"github.com/openami/openami/metadata/lease"
)

// The import tasks' worker: rules/imports records and runs a task
// (imports.Imports.Run); the service runs the active ones,
// Config.ImportWorkers at a time (one by default: that bounds the disk
// space and CPU the conversions take), in the context Close cancels,
// when ImportImage or ImportSnapshot kicks it and once a minute or lease
// TTL, whichever is shorter (a restart resumes what the last run left
// active), each under its lease (leases.go): of several nodes one runs a
// task, and another takes over a dead node's within a TTL of its lease's
// expiry. A task another node runs is not tried again until the next
// tick.

// importsLoop runs until Close.
func (s *Service) importsLoop() {
	c := s.completions
	ctx := c.context()
	regions := make([]string, len(s.regions))
	for i, r := range s.regions {
		regions[i] = r.Name
	}
	// At least once per lease TTL, to take over a dead node's tasks.
	t := time.NewTicker(min(time.Minute, s.leases.TTL()))
	defer t.Stop()
	for {
		pending, err := s.imports.Pending(ctx, regions)
		if err != nil && ctx.Err() == nil {
			c.log.Error("import tasks", "error", err)
		}
		for _, task := range pending {
			select { // a free slot (Config.ImportWorkers)
			case s.importSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer func() { <-s.importSlots }()
				// Run returns at once for a task already running here; the
				// lease keeps it to one node.
				ran, err := s.leases.Run(ctx, importLease(task.ID), func(ctx context.Context) error {
					return s.imports.Run(ctx, task.Region, task.ID)
				})
				if err != nil && ctx.Err() == nil && !lease.Lost(err) {
					c.log.Error("import task", "task", task.ID, "error", err)
				}
				if ran {
					s.kickImports() // look again: tasks may have waited
				} // else another node runs it: the ticker looks again
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.importKicks:
		case <-t.C:
		}
	}
}

// kickImports asks the import worker to look for tasks now; it never
// blocks.
func (s *Service) kickImports() {
	select {
	case s.importKicks <- struct{}{}:
	default:
	}
}
